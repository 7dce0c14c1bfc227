"""Extract: read the five source tables and coerce them to the typed contract of schema.py.

A *source* is a SQLAlchemy URL (any database SQLAlchemy reaches) or a folder of CSV or
Parquet files (`claims*.csv`, `claims*.parquet`, ...). Reading keeps the raw values
(`raw`), coercion produces the typed frame (`typed`, same index) and lists every value
that could not be cast (`failures`: row, reason) — a row-level problem for the quarantine.
A missing table or required column, or a column whose values mostly cannot be cast, is a
table-level `SourceError` naming table, column and an example.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


import numpy as np
import pandas as pd
import sqlalchemy as sa

from .schema import DECIMAL, INTEGER, TEXT, TIMESTAMP, SourceTable

log = logging.getLogger(__name__)

# A column fails the whole table when more than this share of its non-null values cannot
# be cast (and there are enough values to judge): that is schema drift, not a bad row.
MOSTLY_UNCASTABLE_SHARE = 0.5
MOSTLY_UNCASTABLE_MIN_VALUES = 20
# Claims per `WHERE claim_id IN (...)` query when re-reading touched claims.
CLAIM_BATCH = 30_000

_YEAR_LAST = r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}(?!\d)"
_OFFSET_SUFFIX = re.compile(r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


class SourceError(RuntimeError):
    """A source table cannot be read as a whole (fails the run; the warehouse is untouched)."""


class SourceUnreachable(RuntimeError):
    """The source database cannot be reached (or dropped the connection). Unlike a
    `SourceError` this may heal: the extract tasks retry it with backoff before the run fails."""


# Query parameters that carry a password (libpq and most drivers accept `?password=`).
_SECRET_PARAMS = ("password", "passwd", "pwd", "sslpassword")


def mask_url(url: str) -> str:
    """A URL safe for logs and errors: the password (also one in the query) replaced by ***."""
    try:
        u = sa.engine.make_url(url)
        secret = {k: "***" for k in u.query if k.lower() in _SECRET_PARAMS}
        if secret:
            u = u.update_query_dict(secret)
        return u.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")
    except Exception:  # not a SQLAlchemy URL (a folder path): nothing secret in it
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", str(url))


def url_secrets(url: str) -> list[str]:
    """The secret strings of a URL (its password, password query parameters), to scrub."""
    try:
        u = sa.engine.make_url(url)
    except Exception:
        return []
    out = [str(u.password)] if u.password else []
    for k, v in u.query.items():
        if k.lower() in _SECRET_PARAMS:
            out += [v] if isinstance(v, str) else list(v)
    return [x for x in out if x]


def is_url(source: str) -> bool:
    return "://" in str(source) and not str(source).startswith("file://")


# --------------------------------------------------------------------------- reading


@dataclass
class TableRead:
    """What was read of one table: raw values, typed values, per-value cast failures."""

    table: str
    raw: pd.DataFrame
    typed: pd.DataFrame
    failures: pd.DataFrame  # columns: row (index label), reason
    extra_columns: list[str] = field(default_factory=list)


class SqlSource:
    """Tables of a database reached through SQLAlchemy."""

    def __init__(self, url: str, engine: sa.Engine | None = None):
        self.url = url
        self.engine = engine or sa.create_engine(url, pool_pre_ping=True)
        self._columns: dict[str, dict[str, str]] = {}
        self._types: dict[str, dict[str, sa.types.TypeEngine]] = {}

    def describe(self) -> str:
        return mask_url(self.url)

    # An engine does not pickle: a worker process (claimpulse.pipeline.Chunks) opens its own.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "engine"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.engine = sa.create_engine(self.url, pool_pre_ping=True)

    def unreachable(self, exc: sa.exc.DBAPIError) -> SourceUnreachable:
        lines = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
        detail = " ".join(lines[0].split()) if lines else type(exc).__name__
        for secret in url_secrets(self.url):
            detail = detail.replace(secret, "***")
        return SourceUnreachable(f"source {self.describe()} cannot be reached or read: {detail}")

    def columns(self, table: SourceTable) -> dict[str, str]:
        """Lower-cased column name -> name as the source spells it."""
        try:
            return self._columns_of(table)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise self.unreachable(exc) from exc

    def _columns_of(self, table: SourceTable) -> dict[str, str]:
        if table.name not in self._columns:
            insp = sa.inspect(self.engine)
            names = {n.lower(): n for n in insp.get_table_names()}
            if table.name not in names:
                raise SourceError(f"source table {table.name!r} not found in {self.describe()}")
            cols = insp.get_columns(names[table.name])
            self._columns[table.name] = {c["name"].lower(): c["name"] for c in cols}
            self._columns[table.name]["__table__"] = names[table.name]
            self._types[table.name] = {c["name"].lower(): c["type"] for c in cols}
        return self._columns[table.name]

    def read(self, table: SourceTable, columns: Sequence[str] | None = None,
             claim_ids: Sequence[str] | None = None, null_claim: bool = False,
             keys: Sequence[str] | None = None, changed_since: pd.Timestamp | None = None) -> pd.DataFrame:
        """Raw rows of `table`: all, or those of `claim_ids` / with a null claim_id, or those
        whose id is in `keys`, or those that may have changed after `changed_since`."""
        cols = self.columns(table)
        wanted = [c for c in (columns or [c for c in cols if c != "__table__"]) if c in cols]
        from . import fastread  # Arrow reads of SQLite files; any doubt falls back to pandas

        path = fastread.sqlite_path(self.url) if fastread.available() else None
        if keys is not None or changed_since is not None:
            return self._read_where(table, cols, wanted, keys, changed_since)
        if path is not None and wanted:
            try:
                return fastread.read_sql_table(
                    path, cols["__table__"], [(cols[c], c) for c in wanted],
                    cols.get(table.claim_column), claim_ids, null_claim, CLAIM_BATCH)
            except Exception as exc:  # noqa: BLE001 - the pandas path below is the reference
                log.debug("%s: fast read not used (%s)", table.name, exc)
        t = sa.table(cols["__table__"], *[sa.column(cols[c]) for c in wanted])
        base = sa.select(*[t.c[cols[c]].label(c) for c in wanted])
        claim_col = t.c[cols[table.claim_column]] if table.claim_column in cols else None
        queries = []
        if claim_ids is None and not null_claim:
            queries.append(base)
        if claim_ids is not None and claim_col is not None:
            ids = list(claim_ids)
            for i in range(0, len(ids), CLAIM_BATCH):
                queries.append(base.where(claim_col.in_(ids[i:i + CLAIM_BATCH])))
        if null_claim and claim_col is not None:
            queries.append(base.where(claim_col.is_(None)))
        frames = self._run_queries(queries)
        if not frames:
            return pd.DataFrame(columns=wanted)
        out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        return out.reset_index(drop=True)

    def _run_queries(self, queries: list) -> list[pd.DataFrame]:
        """Each query's rows as a frame, on one connection; an unreachable source is one error."""
        try:
            with self.engine.connect() as conn:
                return [pd.read_sql_query(q, conn, coerce_float=True) for q in queries]
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise self.unreachable(exc) from exc

    def _read_where(self, table: SourceTable, cols: dict[str, str], wanted: list[str],
                    keys: Sequence[str] | None, changed_since: pd.Timestamp | None) -> pd.DataFrame:
        """The keyed and changed-since reads: few rows, so the plain SQLAlchemy path."""
        t = sa.table(cols["__table__"], *[sa.column(cols[c]) for c in wanted])
        base = sa.select(*[t.c[cols[c]].label(c) for c in wanted])
        queries = []
        if keys is not None:
            key_col = sa.column(cols[table.key])
            ids = [k for k in dict.fromkeys(keys) if k is not None and not pd.isna(k)]
            for i in range(0, len(ids), CLAIM_BATCH):
                queries.append(base.where(key_col.in_(ids[i:i + CLAIM_BATCH])))
        else:
            where = changed_since_filter(self.engine.dialect.name, sa.column(cols["updated_at"]),
                                         self._types.get(table.name, {}).get("updated_at"),
                                         changed_since) if "updated_at" in cols else None
            queries.append(base if where is None else base.where(where))
        frames = self._run_queries(queries)
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in wanted})
        out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        return out.reset_index(drop=True)


def changed_since_filter(dialect: str, column: sa.ColumnElement, column_type: sa.types.TypeEngine | None,
                         since: pd.Timestamp) -> sa.ColumnElement | None:
    """A WHERE clause keeping every row whose updated_at may be after `since` (a superset: the
    caller compares parsed values exactly), or None when the source cannot filter safely.

    The bound is a day before `since`: a naive or offset value is within 14 hours of UTC. Rows
    without a value, or whose text is not date-shaped, always pass: they cannot be placed, so
    every nightly run re-reads them. SQLite has no timestamp type: its values are text.
    """
    bound = pd.Timestamp(since).tz_convert("UTC") - pd.Timedelta(days=1)
    if dialect != "sqlite" and isinstance(column_type, (sa.DateTime, sa.Date)):
        return sa.or_(column.is_(None), column >= bound.tz_localize(None).to_pydatetime())
    if dialect == "sqlite" or isinstance(column_type, (sa.String, sa.types.NullType)):
        # ISO text sorts as time: its first ten characters are its (local) date.
        return sa.or_(column.is_(None), column >= bound.strftime("%Y-%m-%d"),
                      sa.not_(column.like("____-__-__%")))
    return None  # numbers or unknown types: no filter the source can apply safely


class FolderSource:
    """A folder holding `<table>*.csv` or `<table>*.parquet` files (one or many per table)."""

    def __init__(self, path: str, encoding: str | dict[str, str] = "utf-8"):
        self.path = Path(str(path).removeprefix("file://"))
        # one encoding for every table, or {table: encoding} (config `source_encoding`)
        self.encoding = encoding
        if not self.path.is_dir():
            raise SourceError(f"source folder not found: {self.path}")

    def describe(self) -> str:
        return str(self.path)

    def files(self, table: SourceTable) -> list[str]:
        """The table's files, sorted: `<table>.csv`, `<table>_2026-03-01.csv`, `<table>-b.parquet`
        ... (names and extensions matched case-insensitively, as Windows exports spell them).
        Empty (0-byte) files hold no rows and are skipped with a warning."""
        files = []
        for ext in ("csv", "parquet"):
            for f in sorted(self.path.iterdir()):
                name = f.name.lower()
                if not (f.is_file() and name.startswith(table.name) and name.endswith(f".{ext}")):
                    continue
                stem = name[len(table.name):]
                # `claims*.csv` must not pick up another table that shares the prefix.
                if not (stem[:1] in (".", "_", "-") or stem[:1].isdigit()):
                    continue
                if f.stat().st_size == 0:
                    log.warning("%s: skipping empty file %s", table.name, f)
                    continue
                files.append(str(f))
        return files

    def encoding_of(self, table: SourceTable) -> str:
        enc = self.encoding
        return enc if isinstance(enc, str) else enc.get(table.name, enc.get("default", "utf-8"))

    def read_file(self, f: str, table: SourceTable, header_only: bool = False,
                   columns: Sequence[str] | None = None) -> pd.DataFrame:
        encoding = self.encoding_of(table)
        wanted = None if columns is None else {str(c).lower() for c in columns}
        usecols = None if wanted is None else (
            lambda c: str(c).strip().lstrip("\ufeff").strip().lower() in wanted)
        try:
            if f.lower().endswith(".parquet"):
                import pyarrow.parquet as pq

                if header_only:
                    df = pd.DataFrame(columns=pq.read_schema(f).names)
                else:
                    names = pq.read_schema(f).names
                    df = pd.read_parquet(f, columns=None if usecols is None else [n for n in names if usecols(n)])
            else:
                # Everything as text: coercion decides types, so a bad value is a bad row.
                df = pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""],
                                 encoding=encoding, encoding_errors="strict",
                                 nrows=0 if header_only else None, usecols=usecols)
        except UnicodeDecodeError as exc:
            raise SourceError(f"{table.name}: file {f} is not {encoding} ({exc.reason}); "
                              f"set source_encoding in the config") from None
        except Exception as exc:  # unreadable file: a table-level problem
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise SourceError(f"{table.name}: cannot read {f}: {detail}") from None
        df.columns = [str(c).strip().lstrip("\ufeff").strip().lower() for c in df.columns]
        return df

    def columns(self, table: SourceTable) -> dict[str, str]:
        """Columns of the table's files (their union). Every file must have the required
        columns: one file of many without one is a table-level error naming that file."""
        files = self.files(table)
        if not files:
            raise SourceError(f"source table {table.name!r} not found: no {table.name}*.csv or "
                              f"{table.name}*.parquet in {self.path}")
        headers = {f: list(self.read_file(f, table, header_only=True).columns) for f in files}
        union: dict[str, str] = {}
        for cols in headers.values():
            union.update({c: c for c in cols})
        for f, cols in headers.items():
            missing = [c for c in table.required if c in union and c not in cols]
            if missing:
                raise SourceError(f"{table.name}: missing required column {missing[0]!r} in file "
                                  f"{f} (other {table.name} files have it)")
        return union

    def read(self, table: SourceTable, columns: Sequence[str] | None = None,
             claim_ids: Sequence[str] | None = None, null_claim: bool = False,
             keys: Sequence[str] | None = None, changed_since: pd.Timestamp | None = None) -> pd.DataFrame:
        """Rows of `table`'s files, filtered as SqlSource.read filters. Files have no index: a
        keyed or changed-since read still reads every file, but only the columns it needs
        (plus the filter's), and keeps only the matching rows."""
        files = self.files(table)
        if not files:
            self.columns(table)  # raises the clear error
        need = None if columns is None else list(dict.fromkeys(
            [*columns, *([table.key] if keys is not None else []),
             *(["updated_at"] if changed_since is not None else [])]))
        frames = [self.read_file(f, table, columns=need) for f in files]
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        if keys is not None:
            df = df[isin_mask(as_text(df[table.key]), list(keys))]
        if changed_since is not None and "updated_at" in df.columns:
            maybe = _may_be_after(df["updated_at"], changed_since)
            if maybe is not None:
                df = df[maybe.to_numpy()]
        if columns is not None:
            df = df[[c for c in columns if c in df.columns]]
        if claim_ids is not None or null_claim:
            claim = df[table.claim_column].astype("string").str.strip()
            mask = pd.Series(False, index=df.index)
            if claim_ids is not None:
                mask |= isin_mask(claim, list(claim_ids))
            if null_claim:
                mask |= claim.isna() | (claim == "")
            df = df[mask]
        return df.reset_index(drop=True)


def open_source(source: str, encoding: str | dict[str, str] = "utf-8") -> SqlSource | FolderSource:
    return SqlSource(source) if is_url(source) else FolderSource(source, encoding)


# --------------------------------------------------------------------------- coercion


def as_text(s: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(s):
        # Integer-valued ids read as floats (NULLs in an int column) must not gain ".0".
        as_int = s.dropna()
        if (as_int == np.floor(as_int)).all():
            s = s.astype("Int64")
    out = s.astype("string").str.strip()
    return out.mask(out == "")


def _to_number(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """float64 values and a mask of non-null inputs that are not numbers."""
    if pd.api.types.is_bool_dtype(s):
        s = s.astype("float64")
    if pd.api.types.is_numeric_dtype(s):
        out = s.astype("float64")
        return out, pd.Series(False, index=s.index)
    text = s.astype("string").str.strip()
    text = text.mask(text == "")
    # Excel exports write thousands separators ("12,345.60"); strip them only where the
    # grouping is well-formed, so "1,5" stays a bad value rather than becoming 15.
    grouped = text.str.match(_THOUSANDS.pattern).fillna(False).astype(bool)
    text = text.where(~grouped, text.str.replace(",", "", regex=False))
    out = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = text.notna() & out.isna()
    # inf is not an amount
    inf = np.isinf(out.fillna(0))
    out = out.mask(inf)
    return out, (bad | inf)


def to_timestamp(s: pd.Series, source_tz: str) -> tuple[pd.Series, pd.Series]:
    """UTC timestamps and a mask of non-null inputs that are not timestamps.

    Aware values keep their instant; naive values (and date-only values, at midnight)
    are read in `source_tz`.
    """
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC"), pd.Series(False, index=s.index)
    if pd.api.types.is_datetime64_dtype(s):
        return _localize(s, source_tz), pd.Series(False, index=s.index)
    fast = _fast_iso_timestamps(s, source_tz)
    if fast is not None:
        return fast, pd.Series(False, index=s.index)
    text = s.astype("string").str.strip()
    text = text.mask(text == "")
    # Excel-style "2026/11/25 08:30" -> ISO-ish; the ISO parser below takes the rest.
    text = text.str.replace(r"^(\d{4})/(\d{1,2})/(\d{1,2})", r"\1-\2-\3", regex=True)
    text = text.str.replace(r"^(\d{4})-(\d)-", r"\1-0\2-", regex=True)
    text = text.str.replace(r"^(\d{4}-\d{2})-(\d)(?!\d)", r"\1-0\2", regex=True)
    has_offset = text.str.contains(_OFFSET_SUFFIX.pattern, regex=True).fillna(False).astype(bool)
    # A bare date like 2026-03-04 must not read "-03" ... as an offset.
    date_only = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False).astype(bool)
    has_offset &= ~date_only
    # Year-last numeric dates ("03/04/2026", "04.03.26") do not say which field is the day:
    # the fallback parser would read 03/04 month-first but 25/11 day-first, silently mixing
    # the two in one column. They are not read (the row is quarantined as <col>_invalid).
    year_last = text.str.match(_YEAR_LAST).fillna(False).astype(bool)
    has_offset &= ~year_last
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us, UTC]")
    aware = text[has_offset]
    if len(aware):
        parsed = pd.to_datetime(aware, utc=True, errors="coerce", format="ISO8601")
        retry = parsed.isna()
        if retry.any():
            parsed[retry] = pd.to_datetime(aware[retry], utc=True, errors="coerce", format="mixed")
        out[has_offset] = parsed.astype("datetime64[us, UTC]")
    naive = text[~has_offset & ~year_last & text.notna()]
    if len(naive):
        parsed = pd.to_datetime(naive, errors="coerce", format="ISO8601")
        retry = parsed.isna()
        if retry.any():
            parsed[retry] = pd.to_datetime(naive[retry], errors="coerce", format="mixed")
        out[naive.index] = _localize(parsed, source_tz).astype("datetime64[us, UTC]")
    bad = text.notna() & out.isna()
    return out, bad


_ISO_AWARE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
_ISO_NAIVE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$"


def _fast_iso_timestamps(s: pd.Series, source_tz: str) -> pd.Series | None:
    """The common case in one Arrow pass: every value plain ISO 8601, all with an offset or
    all naive. Anything else (Excel dates, blanks, mixed forms) returns None and takes the
    general path below, which gives the same instants for these values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow_text(s)
    if arr is None:
        return None
    nonnull = int(len(arr) - arr.null_count)
    if nonnull == 0:
        return None
    # Test the form the first value has first: one regex pass over the column in the common case.
    first = arr.drop_null()[0].as_py()
    forms = ("aware", "naive") if re.match(_ISO_AWARE, first) else ("naive", "aware")
    try:
        out = None
        for form in forms:
            if pc.sum(pc.match_substring_regex(arr, _ISO_AWARE if form == "aware" else _ISO_NAIVE)).as_py() != nonnull:
                continue
            if form == "aware":
                # Arrow parses "+08:00"/"Z"; normalize the separator it wants.
                out = pc.cast(pc.replace_substring(arr, " ", "T"), pa.timestamp("us", tz="UTC"))
            else:
                naive = pc.cast(pc.replace_substring(arr, " ", "T"), pa.timestamp("us"))
                # earliest = the DST instant of a repeated hour, latest = shift past a skipped
                # one, as _localize does.
                out = pc.assume_timezone(naive, source_tz, ambiguous="earliest", nonexistent="latest")
            break
        if out is None:
            return None
    except pa.ArrowException:
        return None
    # .array: to_pandas() has its own 0..n-1 index, which must not be aligned to s.index
    result = pd.Series(out.to_pandas().array, index=s.index)
    return result.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def _arrow_text(s: pd.Series):
    """`s` as an Arrow string array: zero-copy for Arrow-backed text (the fast SQLite read),
    converted otherwise; None when it holds anything but text."""
    import pyarrow as pa

    if pd.api.types.is_string_dtype(s.dtype) and hasattr(s.array, "__arrow_array__"):
        arr = pa.array(s.array)
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return arr
    try:
        return pa.array(s.astype(object).where(s.notna(), None), type=pa.string(), from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return None


def _localize(s: pd.Series, tz: str) -> pd.Series:
    # Ambiguous wall times (the repeated DST hour) read as the first (DST) instant;
    # non-existent ones (the skipped hour) shift forward: a source clock cannot be wrong.
    s = pd.to_datetime(s)
    return s.dt.tz_localize(tz, ambiguous=np.ones(len(s), dtype=bool),
                            nonexistent="shift_forward").dt.tz_convert("UTC")


def _to_integer(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    num, bad = _to_number(s)
    # Fractions and values beyond int64 (1e300) are bad values, not a crash.
    frac = num.notna() & ((num != np.floor(num.fillna(0))) | (num.abs() >= 2.0 ** 62))
    num = num.mask(frac)
    return num.astype("Int64"), bad | frac


def coerce_table(raw: pd.DataFrame, table: SourceTable, source_tz: str) -> TableRead:
    """Typed frame of `table` from its raw read; see the module docstring."""
    missing = [c for c in table.required if c not in raw.columns]
    if missing:
        raise SourceError(f"{table.name}: missing required column {missing[0]!r}"
                          + (f" (and {', '.join(missing[1:])})" if len(missing) > 1 else ""))
    extra = [c for c in raw.columns if c not in table.columns]
    typed: dict[str, pd.Series] = {}
    failures = []
    for col, kind in table.columns.items():
        if col not in raw.columns:  # an optional column the source does not have
            s = pd.Series(pd.NA, index=raw.index, dtype="object")
        else:
            s = raw[col]
        if kind == TEXT:
            typed[col] = as_text(s)
            continue
        if kind == DECIMAL:
            values, bad = _to_number(s)
        elif kind == INTEGER:
            values, bad = _to_integer(s)
        elif kind == TIMESTAMP:
            values, bad = to_timestamp(s, source_tz)
        else:  # pragma: no cover - schema.py defines only these kinds
            raise AssertionError(kind)
        typed[col] = values
        if bad.any():
            nonnull = int(s.notna().sum())
            nbad = int(bad.sum())
            if nonnull >= MOSTLY_UNCASTABLE_MIN_VALUES and nbad > MOSTLY_UNCASTABLE_SHARE * nonnull:
                example = s[bad].iloc[0]
                raise SourceError(f"{table.name}.{col}: {nbad} of {nonnull} values cannot be read "
                                  f"as {kind} (e.g. {str(example)[:60]!r})")
            failures.append(pd.DataFrame({"row": raw.index[bad.to_numpy()],
                                          "reason": f"{col}_invalid"}))
    typed_df = pd.DataFrame(typed, index=raw.index)
    fail_df = (pd.concat(failures, ignore_index=True) if failures
               else pd.DataFrame({"row": pd.Series(dtype="int64"), "reason": pd.Series(dtype="string")}))
    if extra:
        log.warning("%s: ignoring extra source column(s): %s", table.name, ", ".join(extra))
    return TableRead(table.name, raw, typed_df, fail_df, extra)


def check_columns(source, table: SourceTable) -> None:
    """Table-level contract check, before any row is read: required columns present."""
    cols = source.columns(table)
    missing = [c for c in table.required if c not in cols]
    if missing:
        raise SourceError(f"{table.name}: missing required column {missing[0]!r}"
                          + (f" (and {', '.join(missing[1:])})" if len(missing) > 1 else ""))


def read_table(source, table: SourceTable, source_tz: str, **filters) -> TableRead:
    check_columns(source, table)
    raw = source.read(table, **filters)
    return coerce_table(raw, table, source_tz)


def empty_raw(table: SourceTable) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in table.columns})


@dataclass
class ChangeScan:
    """The narrow change scan of one table."""
    keys: pd.DataFrame | None  # key, claim_id of every source row (a reconciliation's full scan;
                               # None for a nightly scan, which reads only what changed)
    changed: pd.DataFrame      # key, claim_id, updated_at (UTC) of every row that may be newer
                               # than `since` (all rows without it); the caller compares exactly


def scan_changes(source, table: SourceTable, source_tz: str, since: pd.Timestamp | None = None,
                 every_key: bool = False) -> ChangeScan:
    """Key, claim_id and updated_at of `table`'s rows that may have changed after `since`.

    The filter runs in the source (SqlSource: a WHERE on updated_at; a folder: after a read of
    these columns), so a nightly scan costs what changed, not the table. With `every_key` (a
    reconciliation) every row's key and claim_id are read as well, to find deletes. Only the
    timestamps that can be after `since` are parsed (see _may_be_after).
    """
    cols = [table.key, table.claim_column, "updated_at"] if table.key != table.claim_column \
        else [table.key, "updated_at"]
    check_columns(source, table)
    pushed = since is not None and pd.notna(since) and not every_key
    raw = source.read(table, columns=cols, changed_since=since) if pushed else source.read(table, columns=cols)
    keys = pd.DataFrame({
        "key": as_text(raw[table.key]),
        "claim_id": as_text(raw[table.claim_column]),
    })
    upd = raw["updated_at"]
    maybe = _may_be_after(upd, since) if since is not None and pd.notna(since) else None
    if maybe is not None:
        upd = upd[maybe]
    changed = keys.loc[upd.index] if maybe is not None else keys.copy()
    changed["updated_at"], _ = to_timestamp(upd, source_tz)
    return ChangeScan(None if pushed else keys, changed)


def copies_of(source, table: SourceTable, keys: Iterable) -> pd.DataFrame:
    """key, claim_id of every source row whose id is one of `keys` (a keyed lookup: the other
    copies of a changed row's id, wherever they are)."""
    keys = [k for k in pd.unique(pd.Series(list(keys), dtype="object").dropna())]
    if not keys:
        return pd.DataFrame({"key": pd.Series(dtype="string"), "claim_id": pd.Series(dtype="string")})
    cols = [table.key, table.claim_column] if table.key != table.claim_column else [table.key]
    raw = source.read(table, columns=cols, keys=keys)
    return pd.DataFrame({"key": as_text(raw[table.key]), "claim_id": as_text(raw[table.claim_column])})


_ISO_DATE_PREFIX = r"^\d{4}-\d{2}-\d{2}"


def _may_be_after(s: pd.Series, since: pd.Timestamp) -> pd.Series | None:
    """Rows whose text `updated_at` can be later than `since`, decided on the text alone.

    An ISO value's first ten characters are its local date, and any offset is within 14 h of
    UTC, so a value dated before (since - 1 day, UTC) is earlier than `since` whatever its
    zone. Everything else (null, Excel forms, junk) stays in and is parsed. None: not text.
    """
    import pyarrow.compute as pc

    if not pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        return None
    arr = _arrow_text(s)
    if arr is None:
        return None
    bound = (pd.Timestamp(since).tz_convert("UTC") - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    iso = pc.match_substring_regex(arr, _ISO_DATE_PREFIX)
    recent = pc.greater_equal(pc.utf8_slice_codeunits(arr, 0, 10), bound)
    maybe = pc.fill_null(pc.or_(pc.invert(iso), recent), True)
    return pd.Series(maybe.to_numpy(zero_copy_only=False), index=s.index)


def positions_in(values: pd.Series, keys: pd.Index | Iterable) -> np.ndarray:
    """For each value, its position in `keys` (distinct, no nulls); -1 where null or absent.
    pyarrow's index_in hashes the keys once in C (pandas' isin on pyarrow-backed strings
    builds its lookup set in a Python loop)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = pd.Index(keys)
    if len(values) == 0 or len(keys) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    try:
        arr = pa.array(values, from_pandas=True)
        value_set = pa.array(keys, from_pandas=True)
        if value_set.type != arr.type:
            value_set = value_set.cast(arr.type)
        pos = pc.index_in(arr, value_set=value_set, skip_nulls=True)
        return pos.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    except (pa.ArrowException, TypeError, ValueError):
        values = pd.Series(values)
        pos = keys.get_indexer(values).astype(np.int64)
        pos[values.isna().to_numpy()] = -1
        return pos


def isin_mask(series: pd.Series, values) -> np.ndarray:
    """`series.isin(values)` as a bool array, nulls False (Arrow's is_in: see positions_in)."""
    keys = pd.Series(values, dtype="object" if not len(values) else None).dropna().unique()
    return positions_in(series, keys) >= 0


def duplicated_keys(keys: pd.Series) -> pd.Index:
    """Ids occurring more than once (nulls aside), counted in DuckDB: pandas' duplicated()
    on millions of Arrow strings is several times slower."""
    import duckdb

    frame = pd.DataFrame({"k": keys})
    with duckdb.connect() as con:
        con.register("ids", frame)
        dup = con.execute("SELECT k FROM ids WHERE k IS NOT NULL GROUP BY k HAVING count(*) > 1").df()["k"]
    return pd.Index(dup.astype("object"), dtype="object")


def count_rows(source, table: SourceTable) -> int:
    """Rows in a source table (a full run sizes its chunks by it)."""
    check_columns(source, table)
    if isinstance(source, SqlSource):
        cols = source.columns(table)
        try:
            with source.engine.connect() as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(
                    sa.table(cols["__table__"]))).scalar_one())
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise source.unreachable(exc) from exc
    return len(source.read(table, columns=[table.key]))


