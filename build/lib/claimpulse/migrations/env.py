"""Alembic environment: online only, on the connection (and transaction) the caller passes.

Run through `claimpulse.migrations.upgrade(conn, schema)` (what `Warehouse.ensure_schema`
does); `config.attributes` carries the connection and the warehouse schema.
"""
from __future__ import annotations

from alembic import context

from claimpulse.dictionary import metadata
from claimpulse.migrations import VERSION_TABLE

config = context.config
connection = config.attributes.get("connection")
schema = config.attributes.get("schema")
if connection is None or not schema:
    raise RuntimeError("run ClaimPulse migrations through claimpulse.migrations.upgrade(conn, schema) "
                       "(every `claimpulse run` does it), not the alembic command line")

context.configure(
    connection=connection,
    target_metadata=metadata(schema),
    version_table=VERSION_TABLE,
    version_table_schema=schema,
    transactional_ddl=True,
)

with context.begin_transaction():
    context.run_migrations()
