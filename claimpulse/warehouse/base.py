"""The warehouse interface and what every backend shares.

`Warehouse(url, schema)` returns the backend class for the URL, chosen once (duckdb.py,
postgres.py; any other SQLAlchemy dialect gets this portable base). Everything a run writes goes
through one `transaction()`: readers see the old rows or the new ones, never a mix or a gap.
Identifiers are validated and quoted; data values are always bound, never spliced.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..dictionary import TABLES, columns, metadata
from ..extract import mask_url

log = logging.getLogger(__name__)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or rejected a write; nothing partial remains."""


class WarehouseLocked(WarehouseError):
    """Another run holds the warehouse."""


def quote_ident(name: str) -> str:
    if not _IDENT.fullmatch(name):  # fullmatch: `$` would let a trailing newline through
        raise WarehouseError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def normalize_url(url: str) -> str:
    # Plain postgresql:// URLs mean psycopg 3 here (SQLAlchemy's default is psycopg2).
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Warehouse:
    """One warehouse (URL + schema). `Warehouse(url, schema)` picks the backend class once.

    The methods here are the portable SQLAlchemy versions; a backend overrides what it does
    faster or differently (bulk load, key staging, reads, the run lock, publishing).
    """

    # URL prefixes a backend serves; set by each subclass (see __init_subclass__).
    url_prefixes: tuple[str, ...] = ()
    _backends: list[type[Warehouse]] = []

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.url_prefixes:
            Warehouse._backends.append(cls)

    def __new__(cls, url: str = "", *args, **kwargs):
        if cls is Warehouse:  # the factory: the class serving this URL, else the portable base
            norm = normalize_url(url)
            cls = next((b for b in Warehouse._backends if norm.startswith(b.url_prefixes)), Warehouse)
        return super().__new__(cls)

    def __init__(self, url: str, schema: str = "claimpulse"):
        self.url = normalize_url(url)
        self.schema = schema
        self.q_schema = quote_ident(schema)
        self.engine = self.create_engine()
        self.dialect = self.engine.dialect.name
        self.metadata = metadata(schema)

    def create_engine(self) -> sa.Engine:
        return sa.create_engine(self.url, poolclass=sa.pool.NullPool)

    def describe(self) -> str:
        return mask_url(self.url)

    def table(self, name: str) -> str:
        return f"{self.q_schema}.{quote_ident(name)}"

    # ------------------------------------------------------------------ runs: lock and publish

    @contextmanager
    def run_lock(self, holder: str, timeout_s: float = 0.0) -> Iterator[None]:
        """One ClaimPulse run per warehouse at a time, across processes and machines.

        A second run waits up to `timeout_s`, then fails (WarehouseLocked) naming the holder;
        it never interleaves its writes. The base has no lock; backends do (locks.py).
        """
        yield

    @contextmanager
    def publishing(self, run_id: str | None = None, resume: str | None = None) -> Iterator[Warehouse]:
        """Write-audit-publish of one run: yields the warehouse the run writes to.

        A server warehouse publishes through its transactions, so this yields `self`. The
        embedded DuckDB backend yields a working copy and swaps it in on the way out.
        """
        yield self

    def reader(self) -> Warehouse:
        """This warehouse for reads that must not block (or be blocked by) a run or BI tool."""
        return self

    # ------------------------------------------------------------------ schema

    def ensure_schema(self) -> tuple[str | None, str]:
        """Create the schema if missing, then `alembic upgrade head` (claimpulse/migrations).

        One transaction (PostgreSQL and DuckDB both have transactional DDL): a fresh warehouse
        gets every table, an older one is upgraded, one at head is untouched. A warehouse at a
        revision this release does not know fails with a message saying what to run.
        Returns (revision before, revision after).
        """
        from ..migrations import SchemaVersionError, upgrade

        try:
            with self.transaction() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {self.q_schema}")
                return upgrade(conn, self.schema)
        except SchemaVersionError as exc:
            raise WarehouseError(f"warehouse {self.describe()}: {exc}") from None

    def schema_revision(self) -> str | None:
        """The migration revision the warehouse schema is at (None: not created yet)."""
        from ..migrations import current

        with self.transaction() as conn:
            return current(conn, self.schema)

    def exists(self) -> bool:
        insp = sa.inspect(self.engine)
        return "pipeline_runs" in insp.get_table_names(schema=self.schema)

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:  # OperationalError included
            raise WarehouseError(f"warehouse {self.describe()}: {first_line(exc.orig or exc)}") from exc

    # ------------------------------------------------------------------ writes

    def insert_frame(self, conn: sa.Connection, table: str, df: pd.DataFrame) -> int:
        """Append `df` (columns in any order; missing ones null) to `table`."""
        frame = df.reindex(columns=columns(table))
        if frame.empty:
            return 0
        self.bulk_insert(conn, table, frame)
        return len(frame)

    def bulk_insert(self, conn: sa.Connection, table: str, frame: pd.DataFrame) -> None:
        """`frame` (exactly the dictionary's columns of `table`) into `table`: executemany,
        correct if not fast. Backends override it with their bulk path."""
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        conn.execute(self.metadata.tables[f"{self.schema}.{table}"].insert(), records)

    def stage_keys(self, conn: sa.Connection, name: str, values: Iterable) -> str:
        """A temporary one-column relation `k` holding `values`; returns its SQL name."""
        frame = pd.DataFrame({"k": pd.Series(list(values), dtype="object")})
        rel = quote_ident(f"_cp_keys_{name}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {rel}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE {rel} (k {key_sql_type(frame['k'])}){self.temp_table_suffix}")
        if len(frame):
            self.fill_keys(conn, rel, frame["k"])
        return rel

    # how a staged-keys temporary table ends (PostgreSQL: dropped at commit)
    temp_table_suffix = ""

    def fill_keys(self, conn: sa.Connection, rel: str, keys: pd.Series) -> None:
        conn.execute(sa.text(f"INSERT INTO {rel} (k) VALUES (:k)"), [{"k": v} for v in keys])

    def delete_in(self, conn: sa.Connection, table: str, column: str, keys_rel: str) -> int:
        res = conn.exec_driver_sql(
            f"DELETE FROM {self.table(table)} WHERE {quote_ident(column)} IN (SELECT k FROM {keys_rel})")
        return res.rowcount or 0

    # ------------------------------------------------------------------ reads

    def read_sql(self, conn: sa.Connection, sql: str, params: dict | None = None) -> pd.DataFrame:
        """Rows of `sql` as a frame; parameters are written `:name` on every backend."""
        return pd.read_sql_query(sa.text(sql), conn, params=params or {}, coerce_float=True)

    def read_table(self, conn: sa.Connection, table: str, where: str = "", params: dict | None = None
                   ) -> pd.DataFrame:
        """Rows of `table`; money columns as float64, timestamps UTC, dates as date objects."""
        exprs = []
        for c in TABLES[table].columns:
            q = quote_ident(c.name)
            exprs.append(f"CAST({q} AS DOUBLE PRECISION) AS {q}" if c.type == "money" else q)
        df = self.read_sql(conn, f"SELECT {', '.join(exprs)} FROM {self.table(table)} {where}", params)
        return normalize_frame(df, table)

    def watermarks(self) -> dict[str, pd.Timestamp]:
        if not self.exists():
            return {}
        with self.transaction() as conn:
            df = self.read_table(conn, "pipeline_state")
        return {r.source_table: pd.Timestamp(r.watermark) for r in df.itertuples() if pd.notna(r.watermark)}


def key_sql_type(values: pd.Series) -> str:
    """SQL type of staged keys: date for dates, timestamptz for instants, else text."""
    sample = values.dropna()
    if not len(sample):
        return "text"
    v = sample.iloc[0]
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return "timestamptz"
    if isinstance(v, dt.date):
        return "date"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return "bigint"
    return "text"


def normalize_frame(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Warehouse reads → the in-memory types the metric code expects."""
    doc = TABLES[table]
    for c in doc.columns:
        if c.name not in df.columns:
            continue
        s = df[c.name]
        if c.type == "timestamptz":
            s = pd.to_datetime(s, utc=True)
        elif c.type == "date":
            s = pd.to_datetime(s).dt.date.astype("object").where(s.notna(), None)
        elif c.type in ("money", "double"):
            s = pd.to_numeric(s, errors="coerce").astype("float64")
        elif c.type == "int":
            s = pd.to_numeric(s, errors="coerce").astype("Int64")
        elif c.type == "text":
            s = s.astype("string")
        elif c.type == "bool":
            s = s.astype("boolean")
        df[c.name] = s
    return df


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def to_json(value) -> str:
    def default(o):
        if isinstance(o, (pd.Timestamp,)):
            return o.isoformat()
        if isinstance(o, np.integer):
            return int(o)
        return str(o)

    return json.dumps(value, default=default, sort_keys=True)
