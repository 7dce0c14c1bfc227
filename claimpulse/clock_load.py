"""Service clocks in a run: fact_claim_event, fact_claim_clock, daily_clock_attainment and
clock_watchlist, written inside the run's one transaction (CLOCKS.md, WAREHOUSE.md).

The clock engine (claimpulse.clocks.evaluate_clocks) is pure; this module feeds it from the
warehouse and writes what it returns:

- `fact_claim_event` keeps every accepted event (no personal data), written with the other
  facts of the claims a run rebuilds. Clocks of claims that did not change are then
  re-evaluated from the warehouse alone, without reading the source again.
- `recompute_clocks` runs once per load, after the facts: it evaluates the clocks of the
  rebuilt claims AND of every claim with a clock that has not stopped (running, paused,
  overdue) or is indeterminate (a calendar package upgrade or an override can settle it),
  because time passes even when no row changes; when the as-of date moved forward, also of
  claims with an event, report, complaint or resolution dated after the previous as-of date
  (what was "in the future" then counts now). An as-of date earlier than the last run's, or a
  full run, re-evaluates every claim.
- Only clock rows whose values changed are rewritten; `as_of_date` of the others is moved to
  the run's as-of date. `daily_clock_attainment` is restated (SQL model) for every end_date
  of a stopped clock that was removed, changed or added, and `clock_watchlist` is replaced
  whole (SQL model) whenever any clock row changed or the as-of date moved.

The work is vectorised over batches of claims (the chunk size of a run) and stays off the
per-chunk path of the source: it reads back only the columns the engine needs.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from .config import Settings
from .dictionary import TABLES, columns
from .models import insert_model
from .warehouse import Warehouse, to_json

EVENT_COLUMNS = ("event_id", "claim_id", "event_type", "occurred_at", "actor_role")
# what the engine reads of an event (actor_role is kept in the warehouse, not counted on)
ENGINE_EVENT_COLUMNS = ("event_id", "claim_id", "event_type", "occurred_at")
CLAIM_COLUMNS = ("claim_id", "product_line", "channel", "region", "team", "complexity", "outcome",
                 "denial_reason", "reported_at")
COMPLAINT_COLUMNS = ("complaint_id", "claim_id", "received_at", "resolved_at", "source")
NOT_STOPPED = ("running", "paused", "overdue")
# The widest offsets from UTC (UTC+14, UTC-12): a local date D starts no earlier than
# D 00:00 UTC - 14 h, whichever timezone a clock counts in.
EARLIEST_OFFSET = pd.Timedelta(hours=14)
_SEP = "\x1f"


# ----------------------------------------------------------------------------- as-of date

def default_as_of(started_at: pd.Timestamp, timezone: str) -> dt.date:
    """The business-timezone local date of the run's start (CLOCKS.md)."""
    return pd.Timestamp(started_at).tz_convert(timezone).date()


def run_fields(run: dict, written: dict[str, int]) -> dict:
    """The pipeline_runs columns of the clocks: as-of date, calendar package versions, rows."""
    from .clocks import calendar_versions

    return {"as_of_date": run.get("as_of"), "calendar_versions": to_json(calendar_versions()),
            "clock_rows_written": written.get("fact_claim_clock", 0)}


# ----------------------------------------------------------------------------- events

def event_rows(accepted_events: pd.DataFrame) -> pd.DataFrame:
    """The fact_claim_event rows of a chunk's accepted claim_events."""
    return accepted_events.loc[:, list(EVENT_COLUMNS)].reset_index(drop=True)


def delete_events(wh: Warehouse, conn, claims_rel: str | None) -> None:
    """Drop the events of the claims a run rebuilds (all of them when claims_rel is None)."""
    if claims_rel is None:
        conn.exec_driver_sql(f"DELETE FROM {wh.table('fact_claim_event')}")
    else:
        wh.delete_in(conn, "fact_claim_event", "claim_id", claims_rel)


def write_events(wh: Warehouse, conn, events: pd.DataFrame | None, meta: dict) -> int:
    if events is None or events.empty:
        return 0
    return wh.insert_frame(conn, "fact_claim_event", events.reset_index(drop=True).assign(**meta))


# ----------------------------------------------------------------------------- which claims

def previous_as_of(wh: Warehouse, conn) -> dt.date | None:
    """The as-of date the warehouse's clocks were last judged on (None: never)."""
    df = wh.read_sql(conn, f"SELECT max(as_of_date) AS d FROM {wh.table('fact_claim_clock')}")
    d = df["d"].iloc[0] if len(df) else None
    if d is None or pd.isna(d):
        df = wh.read_sql(conn, f"SELECT max(as_of_date) AS d FROM {wh.table('pipeline_runs')} "
                               f"WHERE status = 'succeeded'")
        d = df["d"].iloc[0] if len(df) else None
    return None if d is None or pd.isna(d) else pd.Timestamp(d).date()


def clock_claims(wh: Warehouse, conn, claim_ids, as_of: dt.date,
                 prev: dt.date | None) -> tuple[list, bool]:
    """(claim ids whose clocks this run evaluates, whether that is every claim); `prev` is the
    as-of date of the last run."""
    f, e, c, k = (wh.table(t) for t in ("fact_claim_service", "fact_claim_event", "fact_complaint",
                                        "fact_claim_clock"))
    if claim_ids is None or prev is None or as_of < prev:
        ids = wh.read_sql(conn, f"SELECT claim_id FROM {f} UNION SELECT claim_id FROM {k}")
        return _sorted_ids(ids["claim_id"]), True
    rel = wh.stage_keys(conn, "clock_changed", list(claim_ids))
    parts = [f"SELECT k AS claim_id FROM {rel}",
             f"SELECT claim_id FROM {k} WHERE stopped_at IS NULL OR status = 'indeterminate'"]
    params = {}
    if as_of > prev:
        params["cut"] = (pd.Timestamp(prev + dt.timedelta(days=1), tz="UTC") - EARLIEST_OFFSET).to_pydatetime()
        parts += [f"SELECT claim_id FROM {e} WHERE occurred_at >= :cut",
                  f"SELECT claim_id FROM {f} WHERE reported_at >= :cut",
                  f"SELECT claim_id FROM {c} WHERE received_at >= :cut OR resolved_at >= :cut"]
    ids = wh.read_sql(conn, " UNION ".join(parts), params or None)
    return _sorted_ids(ids["claim_id"]), False


def _sorted_ids(s: pd.Series) -> list[str]:
    """Distinct non-null ids as text, sorted, by Arrow (sorted() over 1M pandas strings costs
    most of a second; UTF-8 byte order is code point order, the same as sorted())."""
    arr = pa.array(s.dropna().astype(str).to_numpy(dtype=object), type=pa.large_string())
    arr = pc.unique(arr)
    return arr.take(pc.sort_indices(arr)).to_pylist()


# ----------------------------------------------------------------------------- inputs

def _text(s: pd.Series) -> pd.Series:
    return s.astype("string")


def _utc(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True)


def _read_frame(wh: Warehouse, conn, sql: str) -> pd.DataFrame:
    """Rows of `sql`. On DuckDB through Arrow, text as Arrow-backed "string": at 1M claims the
    5.8M events as Python string objects cost seconds and about a gigabyte."""
    if wh.dialect != "duckdb":
        return wh.read_sql(conn, sql)
    table = conn.connection.driver_connection.sql(sql).to_arrow_table()
    text = pd.StringDtype("pyarrow")
    return table.to_pandas(types_mapper={pa.string(): text, pa.large_string(): text}.get)


def read_inputs(wh: Warehouse, conn, rel: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The engine's claims, events and complaints of the claims in `rel`, from the warehouse."""
    def read(table: str, cols: tuple[str, ...]) -> pd.DataFrame:
        df = _read_frame(wh, conn, f"SELECT {', '.join(cols)} FROM {wh.table(table)} "
                                   f"WHERE claim_id IN (SELECT k FROM {rel})")
        kinds = {c.name: c.type for c in TABLES[table].columns}
        for col in cols:
            if kinds[col] == "timestamptz":
                df[col] = _utc(df[col])
        return df

    return (read("fact_claim_service", CLAIM_COLUMNS), read("fact_claim_event", ENGINE_EVENT_COLUMNS),
            read("fact_complaint", COMPLAINT_COLUMNS))


# ----------------------------------------------------------------------------- diff

_COMPARED = [c for c in columns("fact_claim_clock") if c not in ("as_of_date", "loaded_at", "run_id")]
_NULL = np.iinfo(np.int64).min


def _as_int64(s: pd.Series, kind: str) -> np.ndarray:
    """One compared column as int64 (nulls a sentinel): dates as days, instants as
    microseconds, text hashed. The same for a row read back from either warehouse and for
    the engine's frame, whatever their dtypes."""
    if kind == "text":
        values = s.to_numpy(dtype=object, na_value=None)
        return pd.util.hash_array(values.astype(object), categorize=True).view(np.int64)
    if kind == "timestamptz":
        t = pd.to_datetime(s, utc=True)
        return np.where(t.isna(), _NULL, t.dt.tz_localize(None).to_numpy("datetime64[us]").view(np.int64))
    if kind == "date":
        d = pd.to_datetime(s.astype(object) if s.dtype == object else s)
        return np.where(d.isna(), _NULL, d.to_numpy("datetime64[D]").view(np.int64))
    return pd.to_numeric(s).astype("Int64").fillna(_NULL).to_numpy(np.int64)


def _row_ids(df: pd.DataFrame) -> np.ndarray:
    """A 64-bit id per clock row over its key and values (not as_of_date, loaded_at, run_id):
    equal ids mean the same clock with the same values."""
    kinds = {c.name: c.type for c in TABLES["fact_claim_clock"].columns}
    if df.empty:
        return np.zeros(0, dtype=np.uint64)
    cols = pd.DataFrame({c: _as_int64(df[c], kinds[c]) for c in _COMPARED})
    return pd.util.hash_pandas_object(cols, index=False).to_numpy()


def _keys(df: pd.DataFrame) -> pd.Series:
    return df["clock_id"].astype(str) + _SEP + df["subject_id"].astype(str)


def _stopped_dates(df: pd.DataFrame) -> set[dt.date]:
    d = df.loc[df["stopped_at"].notna().to_numpy(), "end_date"].dropna()
    return {pd.Timestamp(x).date() for x in pd.unique(d)}


# ----------------------------------------------------------------------------- the run's step

def _write_clocks(wh: Warehouse, conn, frame: pd.DataFrame) -> int:
    """Append clock rows to fact_claim_clock. On DuckDB as one Arrow table: the engine's
    columns are Arrow already, and DuckDB scans Arrow strings several times faster than a
    pandas frame's (measured at 1M claims: 3.4 s -> under 1 s)."""
    if wh.dialect != "duckdb":
        return wh.insert_frame(conn, "fact_claim_clock", frame)
    from .warehouse import WarehouseError
    from .warehouse.base import first_line

    raw = conn.connection.driver_connection
    physical = wh.physical_columns(raw, "fact_claim_clock")
    table = pa.Table.from_pandas(frame.reindex(columns=physical), preserve_index=False)
    try:
        raw.from_arrow(table).insert_into(wh.table("fact_claim_clock"))
    except Exception as exc:  # duckdb.Error, raised by the raw connection
        raise WarehouseError(f"warehouse {wh.describe()} rejected the write to fact_claim_clock: "
                             f"{first_line(exc)}") from exc
    return len(frame)


def claims_per_batch() -> int:
    from .pipeline import chunk_claims

    return chunk_claims()


def recompute_clocks(wh: Warehouse, conn, settings: Settings, claim_ids, as_of: dt.date,
                     meta: dict) -> dict[str, int]:
    """Evaluate, diff and write the clocks of `claim_ids` (None: every claim) and of every clock
    that has not stopped; restate daily_clock_attainment and replace clock_watchlist."""
    from .clocks import evaluate_clocks

    prev = previous_as_of(wh, conn)
    ids, everything = clock_claims(wh, conn, claim_ids, as_of, prev)
    k = wh.table("fact_claim_clock")
    dates: set[dt.date] = set()
    changed = inserted = 0
    step = claims_per_batch()
    # an empty fact_claim_clock (a first run) has nothing to compare: no read-back per batch
    stored = not wh.read_sql(conn, f"SELECT 1 AS x FROM {k} LIMIT 1").empty
    for i in range(0, len(ids), step):
        rel = wh.stage_keys(conn, "clock_claims", ids[i:i + step])
        claims, events, complaints = read_inputs(wh, conn, rel)
        new = evaluate_clocks(claims, events, complaints, settings.clock_config, settings.timezone, as_of)
        old = wh.read_table(conn, "fact_claim_clock", f"WHERE claim_id IN (SELECT k FROM {rel})") \
            if stored else new.iloc[:0]
        if len(old):  # only clocks whose values changed are rewritten
            new_id, old_id = _row_ids(new), _row_ids(old)
            gone, fresh = old[~np.isin(old_id, new_id)], new[~np.isin(new_id, old_id)]
        else:
            gone, fresh = old, new
        if len(gone):
            grel = wh.stage_keys(conn, "clock_gone", _keys(gone).tolist())
            conn.exec_driver_sql(f"DELETE FROM {k} WHERE (clock_id || chr(31) || subject_id) "
                                 f"IN (SELECT k FROM {grel})")
        # reset_index: DuckDB scans an Arrow-backed frame with its index as an extra column
        inserted += _write_clocks(wh, conn, fresh.reset_index(drop=True).assign(**meta)) if len(fresh) else 0
        changed += len(gone) + len(fresh)
        if not everything:  # (every date is restated anyway)
            dates |= _stopped_dates(gone) | _stopped_dates(fresh)
    # Rows that did not change still carry the run's as-of date (CLOCKS.md: every row does).
    conn.execute(sa.text(f"UPDATE {k} SET as_of_date = :a WHERE as_of_date IS NULL OR as_of_date <> :a"),
                 {"a": as_of})
    out = {"fact_claim_clock": inserted}
    out["daily_clock_attainment"] = restate_attainment(wh, conn, None if everything else sorted(dates), meta)
    if changed or everything or prev != as_of:
        conn.exec_driver_sql(f"DELETE FROM {wh.table('clock_watchlist')}")
        out["clock_watchlist"] = insert_model(wh, conn, "clock_watchlist", meta)
    else:
        out["clock_watchlist"] = 0
    return out


def restate_attainment(wh: Warehouse, conn, dates: list[dt.date] | None, meta: dict) -> int:
    """Replace daily_clock_attainment for `dates` (None: every date) from fact_claim_clock."""
    t = wh.table("daily_clock_attainment")
    if dates is None:
        conn.exec_driver_sql(f"DELETE FROM {t}")
        all_dates = wh.read_sql(conn, f"SELECT DISTINCT end_date AS d FROM {wh.table('fact_claim_clock')} "
                                      f"WHERE stopped_at IS NOT NULL AND end_date IS NOT NULL")
        dates = [pd.Timestamp(d).date() for d in all_dates["d"]]
    if not dates:
        return 0
    rel = wh.stage_keys(conn, "clock_dates", dates)
    wh.delete_in(conn, "daily_clock_attainment", "metric_date", rel)
    return insert_model(wh, conn, "daily_clock_attainment", meta, dates=rel)
