"""Service clocks: fact_claim_event, fact_claim_clock, daily_clock_attainment, clock_watchlist,
and pipeline_runs.as_of_date / calendar_versions / clock_rows_written.

Revision ID: 0003
Revises: 0004 (quality, merged first; the lead re-chains the revisions)

An existing warehouse is upgraded in place: the four tables are created (with the comments
of claimpulse.dictionary) and the three pipeline_runs columns appended; nothing is dropped.

The watermarks are reset (pipeline_state emptied). Clocks are counted from a claim's events,
which until now were folded into fact_claim_service and never kept; this migration cannot
read them from the source. With no watermarks, the next `claimpulse run` is a full run: it
rebuilds every claim from the source, fills fact_claim_event and evaluates every clock. Its
metrics equal the old ones (a full run equals the incremental history by construction); it
only takes as long as a first run. On a fresh warehouse 0001 has already built every table
and there is nothing to reset.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from claimpulse.dictionary import SQL_TYPES, TABLES, metadata

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NEW_TABLES = ("fact_claim_event", "fact_claim_clock", "daily_clock_attainment", "clock_watchlist")
NEW_RUN_COLUMNS = ("as_of_date", "calendar_versions", "clock_rows_written")


def upgrade() -> None:
    schema = context.config.attributes["schema"]
    bind = op.get_bind()
    insp = sa.inspect(bind)
    existing = set(insp.get_table_names(schema=schema))
    md = metadata(schema)
    created = [t for t in NEW_TABLES if t not in existing]
    for name in created:
        md.tables[f"{schema}.{name}"].create(bind)
    # information_schema, not the inspector: duckdb_engine cannot reflect columns
    have = {r[0] for r in bind.execute(sa.text(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = :s "
        "AND table_name = 'pipeline_runs'"), {"s": schema})}
    docs = {c.name: c for c in TABLES["pipeline_runs"].columns}
    for name in NEW_RUN_COLUMNS:
        if name not in have:
            c = docs[name]
            op.add_column("pipeline_runs", sa.Column(name, SQL_TYPES[c.type](), nullable=True,
                                                     comment=c.doc), schema=schema)
    if "fact_claim_event" in created:
        # An upgraded warehouse has claims but not their events: force a full rebuild.
        op.execute(f'DELETE FROM "{schema}"."pipeline_state"')


def downgrade() -> None:
    schema = context.config.attributes["schema"]
    for name in NEW_RUN_COLUMNS:
        op.drop_column("pipeline_runs", name, schema=schema)
    for name in reversed(NEW_TABLES):
        op.drop_table(name, schema=schema)
