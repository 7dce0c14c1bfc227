"""Warehouse I/O through SQLAlchemy: DuckDB (embedded default) or PostgreSQL (production).

Everything a run writes goes through one `Warehouse.transaction()`: readers see the old
rows or the new ones, never a mix or a gap, and a killed run leaves nothing behind.
Bulk paths: DuckDB inserts straight from the pandas frame (Arrow scan); PostgreSQL uses
COPY. Identifiers are validated and quoted; data values are always bound, never spliced.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa

from .dictionary import TABLES, columns, metadata
from .extract import mask_url

log = logging.getLogger(__name__)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")  # :name, as sqlalchemy.text() finds it
# Rows per CSV chunk written into one PostgreSQL COPY (bounds the memory of a bulk load).
COPY_BATCH_ROWS = 50_000


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or rejected a write; nothing partial remains."""


class WarehouseLocked(WarehouseError):
    """Another run holds the warehouse."""


def quote_ident(name: str) -> str:
    if not _IDENT.fullmatch(name):  # fullmatch: `$` would let a trailing newline through
        raise WarehouseError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def _prepare_duckdb_url(url: str) -> str:
    u = sa.engine.make_url(url)
    if u.database and u.database != ":memory:":
        parent = Path(u.database).expanduser().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. a file where a folder of the path should be
            raise WarehouseError(f"warehouse {mask_url(url)}: cannot create the folder {parent}: "
                                 f"{exc.strerror or exc}") from None
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
        waiting = False
        try:
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waiting and timeout_s > 0:
                        waiting = True
                        log.info("warehouse %s is busy: waiting up to %.0f s for another run's lock",
                                 self.describe(), timeout_s)
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
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:  # unreachable: say which warehouse, password masked
            raise WarehouseError(f"warehouse {self.describe()} cannot be reached: "
                                 f"{_first_line(exc.orig or exc)}") from exc
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

    def ensure_schema(self) -> tuple[str | None, str]:
        """Create the schema if missing, then `alembic upgrade head` (claimpulse/migrations).

        One transaction (PostgreSQL and DuckDB both have transactional DDL): a fresh warehouse
        gets every table, an older one is upgraded, one at head is untouched. A warehouse at a
        revision this release does not know fails with a message saying what to run.
        Returns (revision before, revision after).
        """
        from .migrations import SchemaVersionError, upgrade

        try:
            with self.transaction() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {self.q_schema}")
                return upgrade(conn, self.schema)
        except SchemaVersionError as exc:
            raise WarehouseError(f"warehouse {self.describe()}: {exc}") from None

    def schema_revision(self) -> str | None:
        """The migration revision the warehouse schema is at (None: not created yet)."""
        from .migrations import current

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
            try:
                # A relation over the frame, inserted by position in the table's own column
                # order. Not register()+INSERT: inside an open transaction DuckDB keeps every
                # registered view (and so its frame) alive until commit, and a chunked run's
                # memory would grow with each chunk it writes.
                physical = self._physical_columns(raw, table)
                raw.from_df(frame.reindex(columns=physical)).insert_into(self.table(table))
            except duckdb.Error as exc:  # the raw connection bypasses SQLAlchemy's wrapping
                raise WarehouseError(f"warehouse {self.describe()} rejected the write to {table}: "
                                     f"{_first_line(exc)}") from exc
        elif self.dialect == "postgresql":
            self._copy_postgres(conn, table, frame)
        else:  # any other SQLAlchemy dialect: executemany, correct if not fast
            records = frame.astype(object).where(frame.notna(), None).to_dict("records")
            conn.execute(self.metadata.tables[f"{self.schema}.{table}"].insert(), records)
        return len(frame)

    def _physical_columns(self, raw, table: str) -> list[str]:
        """`table`'s columns in the warehouse's order (migrations append, so it can differ
        from the dictionary's)."""
        rows = raw.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                           "AND table_name = ? ORDER BY ordinal_position", [self.schema, table]).fetchall()
        return [r[0] for r in rows]

    def _copy_postgres(self, conn: sa.Connection, table: str, frame: pd.DataFrame) -> None:
        """COPY ... FROM STDIN (FORMAT csv), the CSV written by Arrow in batches.

        Each column is first brought to the dictionary's type (so a float-valued int column
        is written as 5, not 5.0; timestamps as UTC instants; NaN/NaT/None as NULL). Arrow
        quotes every string, so "" is an empty string and an unquoted empty field is NULL.
        """
        cols = list(frame.columns)
        arrow = _to_arrow(frame, table)
        raw = conn.connection.driver_connection
        collist = ", ".join(quote_ident(c) for c in cols)
        opts = pacsv.WriteOptions(include_header=False, batch_size=COPY_BATCH_ROWS)
        with raw.cursor() as cur:
            with cur.copy(f"COPY {self.table(table)} ({collist}) FROM STDIN "
                          f"WITH (FORMAT csv, NULL '')") as copy:
                for batch in arrow.to_batches(max_chunksize=COPY_BATCH_ROWS):
                    buf = io.BytesIO()
                    pacsv.write_csv(batch, buf, opts)
                    copy.write(buf.getbuffer())

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
        # PostgreSQL (and any other server): a temporary table dropped at commit.
        rel = quote_ident(f"_cp_keys_{name}")
        ktype = _key_sql_type(frame["k"])
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {rel}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE {rel} (k {ktype})"
                             + (" ON COMMIT DROP" if self.dialect == "postgresql" else ""))
        if len(frame):
            if self.dialect == "postgresql":
                raw = conn.connection.driver_connection
                with raw.cursor() as cur:
                    with cur.copy(f"COPY {rel} (k) FROM STDIN") as copy:
                        for v in frame["k"]:
                            copy.write_row((None if v is None or v is pd.NA or v is pd.NaT else v,))
                if len(frame) > 1000:  # a planner estimate for the IN (SELECT k ...) joins
                    conn.exec_driver_sql(f"ANALYZE {rel}")
            else:
                conn.execute(sa.text(f"INSERT INTO {rel} (k) VALUES (:k)"),
                             [{"k": v} for v in frame["k"]])
        return rel

    def delete_in(self, conn: sa.Connection, table: str, column: str, keys_rel: str) -> int:
        res = conn.exec_driver_sql(
            f"DELETE FROM {self.table(table)} WHERE {quote_ident(column)} IN (SELECT k FROM {keys_rel})")
        return res.rowcount or 0

    # ------------------------------------------------------------------ reads

    def read_sql(self, conn: sa.Connection, sql: str, params: dict | None = None) -> pd.DataFrame:
        """Rows of `sql` as a frame; parameters are written `:name` on every backend."""
        if self.dialect == "duckdb":
            raw = conn.connection.driver_connection
            if params:  # DuckDB spells named parameters $name
                sql = _BIND.sub(lambda m: "$" + m.group(1), sql)
            # keep DECIMAL exact on the way in, float on the way out to the metric code
            return raw.execute(sql, params or {}).df() if params else raw.execute(sql).df()
        return pd.read_sql_query(sa.text(sql), conn, params=params or {}, coerce_float=True)

    def read_table(self, conn: sa.Connection, table: str, where: str = "", params: dict | None = None
                   ) -> pd.DataFrame:
        """Rows of `table`; money columns as float64, timestamps UTC, dates as date objects."""
        doc = TABLES[table]
        if self.dialect == "postgresql" and not params:
            return _normalize_frame(self._copy_out_postgres(conn, table, where), table)
        exprs = []
        for c in doc.columns:
            q = quote_ident(c.name)
            exprs.append(f"CAST({q} AS DOUBLE PRECISION) AS {q}" if c.type == "money" else q)
        df = self.read_sql(conn, f"SELECT {', '.join(exprs)} FROM {self.table(table)} {where}", params)
        return _normalize_frame(df, table)

    def _copy_out_postgres(self, conn: sa.Connection, table: str, where: str) -> pd.DataFrame:
        """COPY (SELECT ...) TO STDOUT as CSV, parsed by Arrow with the dictionary's types.

        Several times faster than row fetches for the large reads of a full run. Values travel
        in forms that need no server settings: instants as epoch microseconds, dates as days
        since 1970-01-01, booleans as 0/1, doubles with every digit (extra_float_digits = 3).
        COPY takes no bind parameters: reads with parameters use read_sql.
        """
        doc = TABLES[table]
        exprs, types = [], {}
        for c in doc.columns:
            q = quote_ident(c.name)
            if c.type == "money":
                e, t = f"CAST({q} AS DOUBLE PRECISION)", pa.float64()
            elif c.type == "timestamptz":
                e, t = f"CAST(EXTRACT(EPOCH FROM {q}) * 1000000 AS BIGINT)", pa.int64()
            elif c.type == "date":
                e, t = f"({q} - DATE '1970-01-01')", pa.int64()
            elif c.type == "bool":
                e, t = f"CAST({q} AS INTEGER)", pa.int64()
            elif c.type == "double":
                e, t = q, pa.float64()
            elif c.type == "int":
                e, t = q, pa.int64()
            else:
                e, t = q, pa.string()
            exprs.append(f"{e} AS {q}")
            types[c.name] = t
        conn.exec_driver_sql("SELECT set_config('extra_float_digits', '3', true)")
        buf = io.BytesIO()
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            with cur.copy(f"COPY (SELECT {', '.join(exprs)} FROM {self.table(table)} {where}) "
                          f"TO STDOUT WITH (FORMAT csv)") as copy:
                for chunk in copy:
                    buf.write(chunk)
        names = [c.name for c in doc.columns]
        if buf.tell() == 0:
            arrow = pa.table({n: pa.array([], type=types[n]) for n in names})
        else:
            buf.seek(0)
            arrow = pacsv.read_csv(
                buf, read_options=pacsv.ReadOptions(column_names=names),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types=types, null_values=[""], strings_can_be_null=True,
                    quoted_strings_can_be_null=False))
        df = arrow.to_pandas()
        for c in doc.columns:
            s = df[c.name]
            if c.type == "timestamptz":
                df[c.name] = pd.to_datetime(s, unit="us", utc=True)
            elif c.type == "date":  # days since 1970-01-01; _normalize_frame makes date objects
                df[c.name] = pd.to_datetime(s, unit="D")
            elif c.type == "bool":
                df[c.name] = pd.to_numeric(s).astype("Int64").astype("boolean")
        return df

    def watermarks(self) -> dict[str, pd.Timestamp]:
        if not self.exists():
            return {}
        with self.transaction() as conn:
            df = self.read_table(conn, "pipeline_state")
        return {r.source_table: pd.Timestamp(r.watermark) for r in df.itertuples() if pd.notna(r.watermark)}


def _key_sql_type(values: pd.Series) -> str:
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


def _to_arrow(frame: pd.DataFrame, table: str) -> pa.Table:
    """`frame` (columns of `table`) as an Arrow table typed by the data dictionary."""
    types = {c.name: c.type for c in TABLES[table].columns}
    arrays, names = [], []
    for name in frame.columns:
        s = frame[name]
        kind = types.get(name)
        if kind == "timestamptz":
            if not isinstance(s.dtype, pd.DatetimeTZDtype):
                # naive values are UTC instants (the pipeline keeps every timestamp in UTC)
                s = pd.to_datetime(s, utc=True, format="mixed") if s.dtype == object \
                    else pd.to_datetime(s, utc=True)
            arr = pa.array(s.dt.tz_convert("UTC"), type=pa.timestamp("us", tz="UTC"), from_pandas=True)
            # as text with an explicit +00: Arrow writes tz-aware timestamps ~20x slower
            arr = pc.binary_join_element_wise(arr.cast(pa.timestamp("us")).cast(pa.string()), "+00", "")
        elif kind == "date":
            if pd.api.types.is_datetime64_any_dtype(s.dtype):
                s = s.dt.date.astype(object).where(s.notna(), None)
            try:  # date objects and nulls: Arrow converts them directly
                arr = pa.array(s, type=pa.date32(), from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
                s = s.map(lambda v: None if v is None or pd.isna(v)
                          else (v.date() if isinstance(v, dt.datetime) else
                                dt.date.fromisoformat(v) if isinstance(v, str) else v))
                arr = pa.array(s, type=pa.date32(), from_pandas=True)
        elif kind == "int":
            arr = pa.array(pd.to_numeric(s, errors="raise").astype("Int64"), type=pa.int64(),
                           from_pandas=True)
        elif kind == "double":
            arr = pa.array(pd.to_numeric(s, errors="raise").astype("float64"), type=pa.float64(),
                           from_pandas=True)
        elif kind == "money":
            if s.dtype == object and s.map(lambda v: isinstance(v, decimal.Decimal)).any():
                # exact decimals stay exact: as text, which numeric parses without rounding
                arr = pa.array(s.map(lambda v: None if v is None or pd.isna(v) else str(v)),
                               type=pa.string(), from_pandas=True)
            else:
                arr = pa.array(pd.to_numeric(s, errors="raise").astype("float64"), type=pa.float64(),
                               from_pandas=True)
        elif kind == "bool":
            arr = pa.array(s.astype("boolean"), type=pa.bool_(), from_pandas=True)
        else:  # text (and anything unknown): strings, NULL for missing
            if not (pd.api.types.is_string_dtype(s.dtype) and s.dtype != object):
                s = s.map(lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v))
                          else str(v))
            arr = pa.array(s, type=pa.string(), from_pandas=True)
        arrays.append(arr)
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


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
