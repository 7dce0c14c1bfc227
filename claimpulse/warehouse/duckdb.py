"""DuckDB (the embedded default): Arrow-scan bulk inserts, a lock file, write-audit-publish.

BI tools open the database file read-only, sometimes for hours, and DuckDB lets no process
write a file that another process has open. So a run never writes the published file: it
writes a working copy next to it and swaps it in atomically (publish.py). Reads that must not
block a run, or be blocked by one, open the published file read-only (`reader()`).
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import duckdb
import pandas as pd
import sqlalchemy as sa

from ..extract import mask_url
from .base import Warehouse, WarehouseError, first_line, normalize_url
from .locks import file_lock
from .publish import write_audit_publish

_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")  # :name, as sqlalchemy.text() finds it


# DuckDB's buffer pool for the warehouse file. Its own default (80% of RAM) let it keep the
# whole file cached, which put a 1M-claim run at 2.3 GB; at 1 GB it evicts clean pages and
# spills to <file>.tmp, no slower at 1M (bench). Raise it for warehouses far larger than that.
MEMORY_LIMIT = "1GB"


def memory_limit() -> str | None:
    """$CLAIMPULSE_DUCKDB_MEMORY_LIMIT (a size such as 1GB, or `none` for DuckDB's own
    default), checked here so a typo is one clear error before anything runs."""
    value = os.environ.get("CLAIMPULSE_DUCKDB_MEMORY_LIMIT", "").strip() or MEMORY_LIMIT
    if value.lower() == "none":
        return None
    if not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", value, flags=re.IGNORECASE):
        raise WarehouseError(f"CLAIMPULSE_DUCKDB_MEMORY_LIMIT={value!r}: expected a size such as "
                             "512MB or 2GB, or none")
    return value


def database_path(url: str) -> Path | None:
    """The file of a duckdb:/// URL (None: in memory)."""
    db = sa.engine.make_url(url).database
    return Path(db).expanduser() if db and db != ":memory:" else None


class DuckDBWarehouse(Warehouse):
    url_prefixes = ("duckdb",)

    def __init__(self, url: str, schema: str = "claimpulse", *, read_only: bool = False,
                 published_url: str | None = None):
        """`read_only`: open the file read-only (BI-style reads; never blocks a run).
        `published_url`: this is a run's working copy of that warehouse (publish.py)."""
        self.read_only = read_only
        self.published_url = normalize_url(published_url) if published_url else None
        self.holds_run_lock = False   # set while run_lock() is held through this object
        self.path = database_path(normalize_url(url))
        self.memory_limit = memory_limit()
        if self.path is not None and not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # e.g. a file where a folder of the path should be
                raise WarehouseError(f"warehouse {mask_url(url)}: cannot create the folder "
                                     f"{self.path.parent}: {exc.strerror or exc}") from None
        super().__init__(url, schema)

    def create_engine(self) -> sa.Engine:
        args: dict = {"read_only": True} if self.read_only else {}
        if self.memory_limit is not None:
            args["config"] = {"memory_limit": self.memory_limit}
        return sa.create_engine(self.url, poolclass=sa.pool.NullPool, connect_args=args)

    def describe(self) -> str:
        # a working copy is named after the warehouse it will become: errors name the real file
        return mask_url(self.published_url or self.url)

    @property
    def published_path(self) -> Path | None:
        return database_path(self.published_url) if self.published_url else self.path

    # ------------------------------------------------------------------ runs: lock and publish

    @contextmanager
    def run_lock(self, holder: str, timeout_s: float = 0.0) -> Iterator[None]:
        if self.published_path is None:  # in memory: nothing to share
            yield
            return
        with file_lock(self.published_path, holder, timeout_s, self.describe()):
            self.holds_run_lock = True
            try:
                yield
            finally:
                self.holds_run_lock = False

    @contextmanager
    def publishing(self, run_id: str | None = None, resume: str | None = None) -> Iterator[Warehouse]:
        """Yields the run's working copy; on the way out audits it and swaps it in (publish.py).
        A working copy (or an in-memory database) is already private: it yields itself."""
        if self.published_url or self.path is None:
            yield self
            return
        if self.read_only:
            raise WarehouseError(f"warehouse {self.describe()} was opened read-only: a run cannot write it")
        # publishing happens under the run lock: the caller's (the flows take it first), else its own
        with (nullcontext() if self.holds_run_lock else self.run_lock(f"run {run_id}")), \
                write_audit_publish(self, run_id, resume) as work:
            yield work

    def working_copy(self, path: Path) -> DuckDBWarehouse:
        """A warehouse over the working copy `path` that will be published as this one."""
        url = sa.engine.make_url(self.url).set(database=str(path))  # keeps any ?options
        return DuckDBWarehouse(url.render_as_string(hide_password=False), self.schema,
                               published_url=self.url)

    def reader(self) -> Warehouse:
        if self.path is None or self.read_only:
            return self
        return DuckDBWarehouse(self.published_url or self.url, self.schema, read_only=True)

    # ------------------------------------------------------------------ writes

    def bulk_insert(self, conn: sa.Connection, table: str, frame: pd.DataFrame) -> None:
        raw = conn.connection.driver_connection
        try:
            # A relation over the frame, inserted by position in the table's own column order.
            # Not register()+INSERT: inside an open transaction DuckDB keeps every registered
            # view (and so its frame) alive until commit, and a chunked run's memory would grow
            # with each chunk it writes.
            physical = self.physical_columns(raw, table)
            raw.from_df(frame.reindex(columns=physical)).insert_into(self.table(table))
        except duckdb.Error as exc:  # the raw connection bypasses SQLAlchemy's wrapping
            raise WarehouseError(f"warehouse {self.describe()} rejected the write to {table}: "
                                 f"{first_line(exc)}") from exc

    def physical_columns(self, raw, table: str) -> list[str]:
        """`table`'s columns in the warehouse's order (migrations append, so it can differ
        from the dictionary's)."""
        rows = raw.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                           "AND table_name = ? ORDER BY ordinal_position", [self.schema, table]).fetchall()
        return [r[0] for r in rows]

    def stage_keys(self, conn: sa.Connection, name: str, values: Iterable) -> str:
        frame = pd.DataFrame({"k": pd.Series(list(values), dtype="object")})
        raw = conn.connection.driver_connection
        rel = f"_cp_keys_{name}"
        try:
            raw.unregister(rel)
        except Exception:
            pass
        raw.register(rel, frame.astype({"k": "string"}) if frame["k"].map(type).eq(str).all()
                     else frame)
        return rel

    # ------------------------------------------------------------------ reads

    def read_sql(self, conn: sa.Connection, sql: str, params: dict | None = None) -> pd.DataFrame:
        raw = conn.connection.driver_connection
        if params:  # DuckDB spells named parameters $name
            sql = _BIND.sub(lambda m: "$" + m.group(1), sql)
            return raw.execute(sql, params).df()
        # keep DECIMAL exact on the way in, float on the way out to the metric code
        return raw.execute(sql).df()
