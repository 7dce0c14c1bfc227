"""Warehouse schema migrations (Alembic), run programmatically: no alembic.ini at run time.

`upgrade(conn, schema)` brings the warehouse schema to the newest revision inside the caller's
transaction (`Warehouse.ensure_schema` calls it on every run, under the run lock): a fresh
warehouse is created, one at an older revision is upgraded, one at head is left alone, and
one at a revision this release does not know (written by a newer ClaimPulse) is refused with
a message saying what to run. The version table is `<schema>.alembic_version`.

Revisions live in `versions/`; the DDL comes from `claimpulse.dictionary` (one source of truth
for names, types and comments). Writing a new revision: change the dictionary, then add
`versions/000N_<what>.py` with `down_revision` the previous head, using `op.add_column(...,
schema=schema)` etc. Because 0001 builds every table from the *current* dictionary, a later
revision must skip what already exists (check `sa.inspect(op.get_bind())`): a fresh warehouse
runs 0001 with the dictionary already holding the change.
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.ddl.postgresql import PostgresqlImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

SCRIPT_LOCATION = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"


class DuckDBImpl(PostgresqlImpl):
    """Alembic has no DuckDB dialect implementation; DuckDB's DDL is PostgreSQL's here."""

    __dialect__ = "duckdb"
    transactional_ddl = True


class SchemaVersionError(RuntimeError):
    """The warehouse is at a revision this release does not know."""


def config(conn: sa.Connection | None, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    cfg.attributes["connection"] = conn
    cfg.attributes["schema"] = schema
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(config(None, schema="unused"))


def head() -> str:
    return script_directory().get_current_head()


def current(conn: sa.Connection, schema: str) -> str | None:
    """The revision the warehouse schema is at (None: never migrated)."""
    ctx = MigrationContext.configure(conn, opts={"version_table_schema": schema,
                                                 "version_table": VERSION_TABLE})
    heads = ctx.get_current_heads()
    return heads[0] if heads else None


def upgrade(conn: sa.Connection, schema: str) -> tuple[str | None, str]:
    """Upgrade `schema` to head in the caller's transaction; returns (before, after)."""
    before = current(conn, schema)
    scripts = script_directory()
    newest = scripts.get_current_head()
    if before is not None:
        known = {s.revision for s in scripts.walk_revisions()}
        if before not in known:
            raise SchemaVersionError(
                f"warehouse schema {schema!r} is at revision {before!r}, which this ClaimPulse "
                f"does not know (its newest is {newest!r}): a newer ClaimPulse wrote it. Upgrade "
                f"ClaimPulse (pip install -U claimpulse, or deploy the release that migrated this "
                f"warehouse) and rerun; do not downgrade the warehouse by hand")
    if before != newest:
        command.upgrade(config(conn, schema), "head")
    return before, newest
