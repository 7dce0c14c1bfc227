"""Fast reads of SQLite source tables: Arrow columnar fetches through the ADBC SQLite driver.

`pandas.read_sql_query` over SQLAlchemy builds every cell as a Python object and then infers
dtypes (about 3 s per 100k claims rows, 7 s per 500k event rows); the ADBC driver fills Arrow
buffers in C and hands pandas the columns (10x faster, less memory). The result is the frame
the pandas path returns: same column labels, same row order (the same SQL text reaches
SQLite), same values and dtypes (text as pandas' default string dtype, REAL as float64,
INTEGER as int64 / float64 with NaN for NULLs).

SQLite is dynamically typed and the driver infers each column's Arrow type from the values
it sees; a column whose cells mix storage classes comes back as text with numbers printed
as "%e" (lossy) or fails with a type mismatch. Such reads are refused here (`FastReadUnsafe`)
and the caller falls back to the pandas path, which is the reference:

- a column of TEXT affinity (declared CHAR / CLOB / TEXT) only ever holds text or NULL (or a
  BLOB, which is refused): it is read as is;
- any other column that comes back as text is checked with one `typeof()` query: only when
  all its cells are text (or NULL) is the read accepted;
- binary (BLOB) cells are refused.

A column with no value in a result (every row NULL) is an object column of None, and an
empty result has object columns, as pandas builds them.

Public: `available()`, `sqlite_path(url)`, `read_sql_table(...)`, `fetch_arrow(...)`, `FastReadUnsafe`.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

try:  # optional: without it SqlSource keeps the pandas path
    import adbc_driver_sqlite.dbapi as _adbc
    import pyarrow as pa
except ImportError:  # pragma: no cover - the driver is a project dependency
    _adbc = None
    pa = None

__all__ = ["FastReadUnsafe", "available", "sqlite_path", "read_sql_table", "rowid_ranges", "fetch_arrow",
           "CLAIM_BATCH"]

# Claims per `WHERE claim_id IN (...)` query: the pandas path's batch (extract.CLAIM_BATCH),
# so the same queries return the rows in the same order. SQLite binds up to 32766 parameters.
CLAIM_BATCH = 30_000
# Rows per Arrow batch. The driver infers a column's type from the first batch it reads: a
# large batch sees more values (a column NULL in its first 1024 rows would otherwise be typed
# int64 and then fail on the first text value). Speed does not depend on it.
BATCH_ROWS = 1 << 20
# Set CLAIMPULSE_FASTREAD=0 to force the pandas path (benchmarks compare the two).
ENV_SWITCH = "CLAIMPULSE_FASTREAD"


class FastReadUnsafe(RuntimeError):
    """The fast path cannot promise the pandas path's values for this read: fall back."""


def available() -> bool:
    """The ADBC SQLite driver is importable and not switched off by $CLAIMPULSE_FASTREAD=0."""
    return _adbc is not None and os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def sqlite_path(url) -> str | None:
    """The file a `sqlite://` SQLAlchemy URL names (absolute), else None (not SQLite, an
    in-memory database, a `file:` URI database, or a file that does not exist)."""
    import sqlalchemy as sa

    try:
        u = sa.engine.make_url(str(url))
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL
        return None
    if u.get_backend_name() != "sqlite" or u.get_driver_name() not in ("pysqlite", "sqlite3", ""):
        return None
    db = u.database
    if not db or db == ":memory:" or db.startswith("file:") or u.query.get("uri"):
        return None
    path = Path(db).expanduser().resolve()
    return str(path) if path.is_file() else None


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _text_affinity(declared: str | None) -> bool:
    """SQLite's affinity rule 2: a declared type containing CHAR, CLOB or TEXT."""
    d = (declared or "").upper()
    return "INT" not in d and any(k in d for k in ("CHAR", "CLOB", "TEXT"))


def _connect(path: str):
    # Read-only: the source is never written. A URI so that odd characters in the path work.
    return _adbc.connect(Path(path).resolve().as_uri() + "?mode=ro")


def _fetch(cur, sql: str, params: Sequence | None = None) -> pa.Table:
    cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
    if params:
        cur.execute(sql, tuple(params))
    else:
        cur.execute(sql)
    return cur.fetch_arrow_table()


def read_sql_table(path: str, table: str, columns: Sequence[tuple[str, str]],
                   claim_column: str | None = None, claim_ids: Sequence[str] | None = None,
                   null_claim: bool = False, claim_batch: int = CLAIM_BATCH,
                   rowid_range: tuple[int, int] | None = None) -> pd.DataFrame:
    """Rows of `table` in the SQLite file `path`, as SqlSource.read's pandas path returns them.

    `columns`: (name as the source spells it, label of the output column) pairs, in order.
    `claim_column` (source spelling) with `claim_ids` reads only those claims' rows (batched
    `IN` lists) and with `null_claim` also the rows whose claim is NULL; with neither, the
    whole table (only rowids in [lo, hi) with `rowid_range`). Raises FastReadUnsafe (or the driver's error) when the caller must fall back.
    """
    if _adbc is None:
        raise FastReadUnsafe("adbc_driver_sqlite is not installed")
    labels = [label for _, label in columns]
    select = "SELECT " + ", ".join(f"{_quote(src)} AS {_quote(label)}" for src, label in columns) \
        + f" FROM {_quote(table)}"
    queries: list[tuple[str, tuple]] = []
    if claim_ids is None and not null_claim:
        queries.append((select, ()) if rowid_range is None
                       else (f"{select} WHERE rowid >= ? AND rowid < ?", tuple(int(x) for x in rowid_range)))
    if claim_ids is not None and claim_column is not None:
        ids = list(claim_ids)
        for i in range(0, len(ids), claim_batch):
            chunk = tuple(ids[i:i + claim_batch])
            queries.append((f"{select} WHERE {_quote(claim_column)} IN ({', '.join('?' * len(chunk))})",
                            chunk))
    if null_claim and claim_column is not None:
        queries.append((f"{select} WHERE {_quote(claim_column)} IS NULL", ()))
    if not queries:
        return pd.DataFrame(columns=labels)

    with _connect(path) as conn:
        cur = conn.cursor()
        try:
            cur.execute(f"PRAGMA table_info({_quote(table)})")
            declared = {str(r[1]).lower(): r[2] for r in cur.fetchall()}
            tables = [_fetch(cur, sql, params) for sql, params in queries]
            for i, (src, _) in enumerate(columns):
                _check_column(cur, table, src, i, declared.get(str(src).lower()), tables, queries)
        finally:
            cur.close()
    frames = [_to_pandas(t) for t in tables]
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return out.reset_index(drop=True)


def rowid_ranges(path: str, table: str, rows: int) -> list[tuple[int, int]]:
    """[lo, hi) rowid windows of about `rows` rows each covering `table` (a table WITHOUT ROWID
    raises: the caller falls back). Reading window by window bounds memory by one window."""
    with _connect(path) as conn:
        cur = conn.cursor()
        try:
            cur.execute(f"SELECT min(rowid), max(rowid) FROM {_quote(table)}")
            lo, hi = cur.fetchall()[0]
        finally:
            cur.close()
    if lo is None:
        return []
    return [(a, min(a + rows, hi + 1)) for a in range(int(lo), int(hi) + 1, rows)]


def _check_column(cur, table: str, src: str, i: int, declared: str | None,
                  tables: list[pa.Table], queries: list[tuple[str, tuple]]) -> None:
    types = {t.schema.field(i).type for t in tables}
    if any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in types):
        raise FastReadUnsafe(f"{table}.{src}: BLOB values")
    if not any(pa.types.is_string(t) or pa.types.is_large_string(t) for t in types):
        return  # numbers (or all NULL): exact
    if _text_affinity(declared):
        return  # a TEXT column stores numbers as text: no cell was printed by the driver
    # Any other affinity: a cell may be a number the driver printed as text. Accept only when
    # every cell the read covers is text or NULL.
    for (sql, params), tbl in zip(queries, tables):
        if tbl.num_rows == 0:
            continue
        where = sql.partition(" WHERE ")[2]
        check = (f"SELECT 1 FROM {_quote(table)} WHERE typeof({_quote(src)}) NOT IN ('text', 'null')"
                 + (f" AND ({where})" if where else "") + " LIMIT 1")
        cur.execute(check, params) if params else cur.execute(check)
        if cur.fetchall():
            raise FastReadUnsafe(f"{table}.{src}: mixes text and numbers")


def _to_pandas(tbl: pa.Table) -> pd.DataFrame:
    """pandas' read_sql_query dtypes: Arrow strings -> pandas' default string dtype, int64 with
    NULLs -> float64 with NaN (coerce_float), double -> float64; a column with no value at all
    (every row NULL, or no rows) -> object holding None."""
    if tbl.num_rows == 0:
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in tbl.column_names})
    empty = [i for i, col in enumerate(tbl.columns) if col.null_count == len(col)]
    for i in empty:  # the driver types such a column int64; pandas never saw a value
        tbl = tbl.set_column(i, tbl.field(i).name, pa.nulls(tbl.num_rows, pa.null()))
    df = tbl.to_pandas()
    for i in empty:
        df.isetitem(i, pd.Series([None] * len(df), dtype=object, index=df.index))
    return df


def fetch_arrow(path: str, sql: str, params: Sequence | None = None) -> pa.Table:
    """One query's result as an Arrow table (no pandas): for SQL over the source in DuckDB.
    The driver's type inference applies as is (see the module docstring)."""
    if _adbc is None:
        raise FastReadUnsafe("adbc_driver_sqlite is not installed")
    with _connect(path) as conn:
        cur = conn.cursor()
        try:
            return _fetch(cur, sql, params)
        finally:
            cur.close()
