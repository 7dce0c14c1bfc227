"""The pseudonym key fingerprint: table warehouse_identity (not granted to BI readers).

Revision ID: 0002
Revises: 0001

A fresh warehouse already has the table (0001 builds every table of the current
dictionary), so this creates it only where it is missing. The row itself is written by the
first run with a key (claimpulse.identity), not here: a migration does not know the key.
"""
from __future__ import annotations

from alembic import context, op

from claimpulse.dictionary import metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "warehouse_identity"


def upgrade() -> None:
    schema = context.config.attributes["schema"]
    metadata(schema).tables[f"{schema}.{TABLE}"].create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    schema = context.config.attributes["schema"]
    metadata(schema).tables[f"{schema}.{TABLE}"].drop(op.get_bind(), checkfirst=True)
