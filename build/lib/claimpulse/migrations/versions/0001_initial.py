"""Initial warehouse: every table of claimpulse.dictionary.TABLES, with comments.

Revision ID: 0001
Revises: none

The DDL is generated from `dictionary.metadata(schema)`: names, types (numeric for money,
double precision for rates, date, timestamptz) and the COMMENT of every table and column.
Tables that already exist are kept (a warehouse created before migrations is adopted as is).
"""
from __future__ import annotations

from alembic import context, op

from claimpulse.dictionary import metadata
from claimpulse.migrations import VERSION_TABLE

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = context.config.attributes["schema"]
    metadata(schema).create_all(op.get_bind(), checkfirst=True)
    # Alembic's own version table gets comments too: every table in the schema carries one.
    version = f'"{schema}"."{VERSION_TABLE}"'
    op.execute(f"COMMENT ON TABLE {version} IS 'Schema migration revision of this warehouse "
               f"(Alembic); advanced by claimpulse runs, never by hand'")
    op.execute(f"COMMENT ON COLUMN {version}.version_num IS "
               f"'Current revision (claimpulse/migrations/versions)'")


def downgrade() -> None:
    schema = context.config.attributes["schema"]
    metadata(schema).drop_all(op.get_bind(), checkfirst=True)
