"""Warehouse I/O through SQLAlchemy: DuckDB (embedded default) or PostgreSQL (production).

Everything a run writes goes through one `Warehouse.transaction()`: readers see the old
rows or the new ones, never a mix or a gap, and a killed run leaves nothing behind.
Bulk paths: DuckDB inserts straight from the pandas frame (Arrow scan); PostgreSQL uses
COPY. Identifiers are validated and quoted; data values are always bound, never spliced.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .dictionary import TABLES, columns, metadata
from .extract import mask_url

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or rejected a write; nothing partial remains."""


class WarehouseLocked(WarehouseError):
    """Another run holds the warehouse."""


def quote_ident(name: str) -> str:
    if not _IDENT.match(name):
        raise WarehouseError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def _prepare_duckdb_url(url: str) -> str:
    u = sa.engine.make_url(url)
    if u.database and u.database != ":memory:":
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return url


def _normalize_url(url: str) -> str:
    # Plain postgresql:// URLs mean psycopg 3 here (SQLAlchemy's default is psycopg2).
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Warehouse:
    def __init__(self, url: str, schema: str = "claimpulse"):
        self.url = _normalize_url(url)
        self.schema = schema
        self.q_schema = quote_ident(schema)
        if self.url.startswith("duckdb"):
            _prepare_duckdb_url(self.url)
        self.engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        self.dialect = self.engine.dialect.name
        self.metadata = metadata(schema)

    def describe(self) -> str:
        return mask_url(self.url)

    def table(self, name: str) -> str:
        return f"{self.q_schema}.{quote_ident(name)}"

    # ------------------------------------------------------------------ locking

    @contextmanager
    def run_lock(self, holder: str, timeout_s: float = 0.0) -> Iterator[None]:
        """One ClaimPulse run per warehouse at a time, across processes and machines.

        DuckDB: an exclusive flock on a sidecar file next to the database. PostgreSQL: a
        session advisory lock keyed by schema. A second run waits up to `timeout_s`, then
        fails with a clear message naming the holder; it never interleaves its writes.
        """
        if self.dialect == "postgresql":
            with self._pg_lock(holder, timeout_s):
                yield
        elif self.dialect == "duckdb":
            with self._file_lock(holder, timeout_s):
                yield
        else:
            yield

    @contextmanager
    def _file_lock(self, holder: str, timeout_s: float) -> Iterator[None]:
        import fcntl
        import time

        db = sa.engine.make_url(self.url).database
        if not db or db == ":memory:":
            yield
            return
        path = Path(db).expanduser().with_suffix(Path(db).suffix + ".lock")
        fh = open(path, "a+")
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        fh.seek(0)
                        who = fh.read().strip() or "another process"
                        raise WarehouseLocked(
                            f"warehouse {self.describe()} is busy: another ClaimPulse run holds its "
                            f"lock ({who}); wait for it to finish, then rerun") from None
                    time.sleep(0.2)
            fh.seek(0)
            fh.truncate()
            fh.write(f"{holder}, pid {os.getpid()}")
            fh.flush()
            yield
        finally:
            try:
                fcntl.flock(fh, fcntl.LOCK_UN)
            finally:
                fh.close()

    @contextmanager
    def _pg_lock(self, holder: str, timeout_s: float) -> Iterator[None]:
        import time

        key = int.from_bytes(hashlib.sha256(f"claimpulse:{self.schema}".encode()).digest()[:8],
                             "big", signed=True)
        conn = self.engine.connect()
        try:
            deadline = time.monotonic() + timeout_s
            while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar():
                if time.monotonic() >= deadline:
                    raise WarehouseLocked(
                        f"warehouse {self.describe()} schema {self.schema} is busy: another "
                        f"ClaimPulse run holds its lock; wait for it to finish, then rerun")
                time.sleep(0.2)
            conn.commit()
            yield
        finally:
            try:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
                conn.commit()
            finally:
                conn.close()

    # ------------------------------------------------------------------ schema

    def ensure_schema(self) -> None:
        """Create the schema and any missing table (idempotent)."""
        with self.transaction() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {self.q_schema}")
            self.metadata.create_all(conn, checkfirst=True)

    def exists(self) -> bool:
        insp = sa.inspect(self.engine)
        return "pipeline_runs" in insp.get_table_names(schema=self.schema)

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise WarehouseError(f"warehouse {self.describe()}: {_first_line(exc.orig or exc)}") from exc
        except sa.exc.DBAPIError as exc:
            raise WarehouseError(f"warehouse {self.describe()}: {_first_line(exc.orig or exc)}") from exc

    # ------------------------------------------------------------------ writes

    def insert_frame(self, conn: sa.Connection, table: str, df: pd.DataFrame) -> int:
        """Append `df` (columns in any order; missing ones null) to `table`."""
        cols = columns(table)
        frame = df.reindex(columns=cols)
        if frame.empty:
            return 0
        if self.dialect == "duckdb":
            raw = conn.connection.driver_connection
            name = f"_cp_in_{uuid.uuid4().hex[:12]}"
            raw.register(name, frame)
            try:
                collist = ", ".join(quote_ident(c) for c in cols)
                raw.execute(f"INSERT INTO {self.table(table)} ({collist}) SELECT {collist} FROM {name}")
            finally:
                raw.unregister(name)
        elif self.dialect == "postgresql":
            self._copy_postgres(conn, table, frame)
        else:  # any other SQLAlchemy dialect: executemany, correct if not fast
            records = frame.astype(object).where(frame.notna(), None).to_dict("records")
            conn.execute(self.metadata.tables[f"{self.schema}.{table}"].insert(), records)
        return len(frame)

    def _copy_postgres(self, conn: sa.Connection, table: str, frame: pd.DataFrame) -> None:
        cols = list(frame.columns)
        out = frame.copy()
        for c in cols:
            s = out[c]
            if isinstance(s.dtype, pd.DatetimeTZDtype):
                out[c] = s.dt.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
        buf = io.StringIO()
        out.to_csv(buf, index=False, header=False, na_rep="\\N", sep="\t",
                   quoting=3, escapechar="\\", lineterminator="\n")
        raw = conn.connection.driver_connection
        collist = ", ".join(quote_ident(c) for c in cols)
        with raw.cursor() as cur:
            with cur.copy(f"COPY {self.table(table)} ({collist}) FROM STDIN") as copy:
                copy.write(buf.getvalue())

    def stage_keys(self, conn: sa.Connection, name: str, values: Iterable) -> str:
        """A temporary one-column relation `k` holding `values`; returns its SQL name."""
        frame = pd.DataFrame({"k": pd.Series(list(values), dtype="object")})
        if self.dialect == "duckdb":
            raw = conn.connection.driver_connection
            rel = f"_cp_keys_{name}"
            try:
                raw.unregister(rel)
            except Exception:
                pass
            raw.register(rel, frame.astype({"k": "string"}) if frame["k"].map(type).eq(str).all()
                         else frame)
            return rel
        rel = f"_cp_keys_{name}"
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {rel}")
        ktype = "date" if len(frame) and not isinstance(frame["k"].iloc[0], str) else "text"
        conn.exec_driver_sql(f"CREATE TEMP TABLE {rel} (k {ktype}) ON COMMIT DROP")
        if len(frame):
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:
                with cur.copy(f"COPY {rel} (k) FROM STDIN") as copy:
                    for v in frame["k"]:
                        copy.write_row((v,))
        return rel

    def delete_in(self, conn: sa.Connection, table: str, column: str, keys_rel: str) -> int:
        res = conn.exec_driver_sql(
            f"DELETE FROM {self.table(table)} WHERE {quote_ident(column)} IN (SELECT k FROM {keys_rel})")
        return res.rowcount or 0

    # ------------------------------------------------------------------ reads

    def read_sql(self, conn: sa.Connection, sql: str, params: dict | None = None) -> pd.DataFrame:
        if self.dialect == "duckdb":
            raw = conn.connection.driver_connection
            # keep DECIMAL exact on the way in, float on the way out to the metric code
            return raw.execute(sql, params or {}).df() if params else raw.execute(sql).df()
        return pd.read_sql_query(sa.text(sql), conn, params=params or {}, coerce_float=True)

    def read_table(self, conn: sa.Connection, table: str, where: str = "", params: dict | None = None
                   ) -> pd.DataFrame:
        """Rows of `table`; money columns as float64, timestamps UTC, dates as date objects."""
        doc = TABLES[table]
        exprs = []
        for c in doc.columns:
            q = quote_ident(c.name)
            exprs.append(f"CAST({q} AS DOUBLE PRECISION) AS {q}" if c.type == "money" else q)
        df = self.read_sql(conn, f"SELECT {', '.join(exprs)} FROM {self.table(table)} {where}", params)
        return _normalize_frame(df, table)

    def watermarks(self) -> dict[str, pd.Timestamp]:
        if not self.exists():
            return {}
        with self.transaction() as conn:
            df = self.read_table(conn, "pipeline_state")
        return {r.source_table: pd.Timestamp(r.watermark) for r in df.itertuples() if pd.notna(r.watermark)}


def _normalize_frame(df: pd.DataFrame, table: str) -> pd.DataFrame:
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


def _first_line(exc: BaseException) -> str:
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
