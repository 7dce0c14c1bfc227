"""Quality not traded for speed: six claim-level columns, daily_quality_metrics, speed_quality_alerts.

Revision ID: 0004
Revises: 0001 (the lead re-chains it after 0002 and 0003 when merging)

An existing warehouse is upgraded in place; nothing is dropped:

1. `fact_claim_service` gains customer_group, document_requests, ask_once_met, touches,
   handoffs and first_time_right (appended, with their comments from the dictionary).
2. `daily_quality_metrics` and `speed_quality_alerts` are created (empty).
3. customer_group is filled in SQL from outcome and denial_reason, the columns it derives from.
4. The other five need the claim events, which the warehouse does not keep. So the migration
   deletes the watermarks (`pipeline_state`): the next run then finds no watermark and
   rebuilds *every* claim from the source, in one transaction, like a first run. That fills
   the new columns, computes daily_quality_metrics for every closed date and evaluates the
   guard; every other table ends up as it was (a full recompute equals the incremental
   state). Until that run, the five columns are null on the existing rows.

On a fresh warehouse 0001 has already created everything from the current dictionary: this
revision then finds the columns present and does nothing.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from claimpulse.dictionary import QUALITY_FACT_COLUMNS, SQL_TYPES, metadata

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NEW_TABLES = ("daily_quality_metrics", "speed_quality_alerts")


def upgrade() -> None:
    schema = context.config.attributes["schema"]
    bind = op.get_bind()
    # information_schema, not sa.inspect().get_columns: duckdb_engine's version of the latter
    # queries pg_catalog tables DuckDB does not have.
    have = {r[0] for r in bind.execute(sa.text(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = :s AND table_name = 'fact_claim_service'"), {"s": schema})}
    missing = [c for c in QUALITY_FACT_COLUMNS if c.name not in have]
    for col in missing:
        op.add_column("fact_claim_service",
                      sa.Column(col.name, SQL_TYPES[col.type](), nullable=True, comment=col.doc),
                      schema=schema)
    md = metadata(schema)
    for name in NEW_TABLES:
        md.tables[f"{schema}.{name}"].create(bind, checkfirst=True)
    if not missing:
        return
    fact = f'"{schema}"."fact_claim_service"'
    if any(c.name == "customer_group" for c in missing):
        op.execute(f"""
            UPDATE {fact} SET customer_group = CASE
                WHEN outcome IS NULL THEN 'undecided'
                WHEN outcome IN ('paid', 'partial') THEN 'normal_payout'
                WHEN outcome = 'withdrawn' THEN 'withdrawn'
                WHEN outcome = 'denied' AND denial_reason = 'non_disclosure' THEN 'non_disclosure'
                WHEN outcome = 'denied' AND denial_reason = 'fraud' THEN 'fraud'
                WHEN outcome = 'denied' THEN 'other_denial'
            END""")
    # The rest needs the source: force the next run to rebuild every claim (see docstring).
    op.execute(f'DELETE FROM "{schema}"."pipeline_state"')


def downgrade() -> None:
    schema = context.config.attributes["schema"]
    for name in NEW_TABLES:
        op.drop_table(name, schema=schema)
    for col in reversed(QUALITY_FACT_COLUMNS):
        op.drop_column("fact_claim_service", col.name, schema=schema)
