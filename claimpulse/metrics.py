"""METRICS.md as code: the claim-level fact and the daily aggregates.

Pure, vectorized functions (frames in, frames out, no I/O). Inputs are *accepted* typed
frames (see `claimpulse.schema`): text "string", decimals float64, integers "Int64",
timestamps tz-aware (any unit). Any of them may be empty; extra columns are ignored.

The heavy lifting runs in an in-process DuckDB over Arrow tables. Timestamps are handed to
DuckDB as *naive UTC* microsecond TIMESTAMPs (and local dates as DATEs computed in pandas),
so no result depends on DuckDB's session TimeZone or on ICU.

The daily aggregates are defined once, as the SQL models in claimpulse/models/ that the
warehouse runs; `daily_service_metrics` / `daily_standard_attainment` here run those same
models over frames (an in-process DuckDB), so tests exercise the model as pure logic.

Public:
- `local_date(ts, tz)`: UTC timestamps -> local calendar dates (datetime.date / None).
- `build_fact(...)`: fact_claim_service, one row per claim.
- `survey_facts(...)`, `complaint_facts(...)`: fact_survey_response / fact_complaint rows.
- `daily_service_metrics(...)`: daily_service_metrics over the five grouping sets.
- `daily_standard_attainment(...)`: daily_standard_attainment over the five grouping sets.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from claimpulse import models
from claimpulse.dictionary import TABLES, columns
from claimpulse.pseudonym import customer_keys

__all__ = [
    "FACT_COLUMNS",
    "DAILY_COLUMNS",
    "ATTAINMENT_COLUMNS",
    "local_date",
    "build_fact",
    "survey_facts",
    "complaint_facts",
    "daily_service_metrics",
    "daily_standard_attainment",
    "customer_group",
    "quality_measures",
    "CUSTOMER_GROUPS",
]

FACT_COLUMNS: tuple[str, ...] = (
    "claim_id", "customer_key", "product_line", "channel", "region", "team", "complexity",
    "outcome", "denial_reason", "claimed_amount", "paid_amount", "reported_at", "accepted_at",
    "documents_complete_at", "decided_at", "paid_at", "closed_at", "last_closed_at",
    "reopened_count", "is_open", "closed_date", "report_to_accept_hours",
    "report_to_decision_days", "decision_to_payment_days", "report_to_close_days",
    "reopened_within_30d", "customer_cost_travel", "customer_cost_evidence",
    "customer_cost_lost_work", "customer_cost_total", "trips", "lost_work_hours",
    "survey_csat", "survey_nps", "survey_effort", "complaints", "source_updated_at",
    # METRICS.md "Quality not traded for speed" (added by migration 0004: last, as in the table)
    "customer_group", "document_requests", "ask_once_met", "touches", "handoffs",
    "first_time_right",
)

# The metric tables' columns (without the load's loaded_at / run_id), from the data dictionary.
DAILY_COLUMNS: tuple[str, ...] = tuple(c for c in columns("daily_service_metrics")
                                       if c not in ("loaded_at", "run_id"))
ATTAINMENT_COLUMNS: tuple[str, ...] = tuple(c for c in columns("daily_standard_attainment")
                                            if c not in ("loaded_at", "run_id"))

_TEXT_COLUMNS = ("claim_id", "customer_key", "product_line", "channel", "region", "team",
                 "complexity", "outcome", "denial_reason")
_MILESTONES = ("accepted", "documents_complete", "decided", "paid", "closed")
_TS_COLUMNS = ("reported_at",) + tuple(f"{m}_at" for m in _MILESTONES) + ("last_closed_at",)
_LAGS = (  # name, start, end, seconds per unit
    ("report_to_accept_hours", "reported_at", "accepted_at", 3600),
    ("report_to_decision_days", "reported_at", "decided_at", 86400),
    ("decision_to_payment_days", "decided_at", "paid_at", 86400),
    ("report_to_close_days", "reported_at", "closed_at", 86400),
)
_REOPEN_WINDOW_US = 30 * 86400 * 1_000_000
_UTC = "UTC"


# --------------------------------------------------------------------------------------
# small vectorized helpers
# --------------------------------------------------------------------------------------
def _as_utc(ts: pd.Series) -> pd.Series:
    """Any timestamp series -> datetime64[us, UTC]. Naive values are read as UTC."""
    s = ts if isinstance(ts, pd.Series) else pd.Series(ts)
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        s = pd.to_datetime(s, utc=True)
    return s.dt.tz_convert(_UTC).dt.as_unit("us")


def _naive_utc(ts: pd.Series) -> np.ndarray:
    """UTC timestamps as naive datetime64[us] (NaT kept), the form DuckDB gets."""
    return _as_utc(ts).dt.tz_localize(None).to_numpy()


def _local_days(ts: pd.Series, tz: ZoneInfo | str) -> np.ndarray:
    """Local calendar date of each timestamp as datetime64[D] (NaT kept)."""
    local = _as_utc(ts).dt.tz_convert(tz).dt.tz_localize(None)
    return local.to_numpy().astype("datetime64[D]")


def local_date(ts: pd.Series, tz: ZoneInfo | str) -> pd.Series:
    """UTC timestamps -> their calendar date in `tz` (datetime.date objects; NaT -> None).

    The conversion to `tz` happens before the date is taken: 2026-03-04 17:00 UTC is
    2026-03-05 in Asia/Shanghai. Same index as `ts`; object dtype.
    """
    index = ts.index if isinstance(ts, pd.Series) else None
    days = _local_days(ts, tz)
    return pd.Series(days.astype(object), index=index, dtype=object, name=getattr(ts, "name", None))


def _days_of(dates: pd.Series) -> np.ndarray:
    """A date-like column (datetime.date objects, datetime64, Arrow dates) -> datetime64[D]."""
    s = dates if isinstance(dates, pd.Series) else pd.Series(dates)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)  # a tz-aware "date": keep its wall-clock date
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s.to_numpy().astype("datetime64[D]")
    try:
        arr = pa.array(s.to_numpy(dtype=object, na_value=None), type=pa.date32(), from_pandas=True)
        return arr.to_numpy(zero_copy_only=False).astype("datetime64[D]")
    except (pa.ArrowException, TypeError, ValueError):
        return pd.to_datetime(s).to_numpy().astype("datetime64[D]")


def _text(s: pd.Series) -> pd.Series:
    """As pandas "string" dtype (pd.NA for missing); a no-op for accepted frames."""
    return s if isinstance(s.dtype, pd.StringDtype) and s.dtype.na_value is pd.NA else s.astype("string")


def _arrow(columns: dict[str, tuple[Any, pa.DataType]]) -> pa.Table:
    """Build an Arrow table with explicit types (NaN/NaT/NA -> null)."""
    arrays, names = [], []
    for name, (values, typ) in columns.items():
        if isinstance(values, pd.Series):
            values = values.array if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) \
                else values.to_numpy()
        if isinstance(values, pd.arrays.ArrowStringArray) or (
                hasattr(values, "__arrow_array__") and not isinstance(values, np.ndarray)):
            arr = pa.array(values)
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            if arr.type != typ:
                arr = arr.cast(typ)
        else:
            arr = pa.array(values, type=typ, from_pandas=True)
        arrays.append(arr)
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def _to_pandas(tbl: pa.Table) -> pd.DataFrame:
    """DuckDB's Arrow result -> pandas: text as "string", integers as "Int64", dates as date objects."""
    def mapper(t: pa.DataType):
        if pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
            return pd.StringDtype()
        if pa.types.is_integer(t):
            return pd.Int64Dtype()
        return None

    return tbl.to_pandas(types_mapper=mapper, date_as_object=True)


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    try:  # belt and braces: DuckDB only ever sees naive UTC timestamps and plain DATEs
        con.execute("SET TimeZone = 'UTC'")
    except duckdb.Error:  # pragma: no cover - a build without ICU has no TimeZone setting
        pass
    return con


# --------------------------------------------------------------------------------------
# fact_claim_service
# --------------------------------------------------------------------------------------
def build_fact(claims: pd.DataFrame, events: pd.DataFrame, surveys: pd.DataFrame,
               complaints: pd.DataFrame, costs: pd.DataFrame, settings,
               pseudonym_key: bytes) -> pd.DataFrame:
    """fact_claim_service: one row per row of `claims`, in `claims` order (RangeIndex).

    Columns are FACT_COLUMNS. customer_id never leaves this function (only customer_key).
    """
    n = len(claims)
    c = _arrow({
        "rn": (np.arange(n, dtype=np.int64), pa.int64()),
        "claim_id": (_text(claims["claim_id"]), pa.large_string()),
        "reported_at": (_naive_utc(claims["reported_at"]), pa.timestamp("us")),
        "updated_at": (_naive_utc(claims["updated_at"]), pa.timestamp("us")),
    })
    ev = _arrow({
        "claim_id": (_text(events["claim_id"]), pa.large_string()),
        "event_id": (_text(events["event_id"]), pa.large_string()),
        "event_type": (_text(events["event_type"]), pa.large_string()),
        "actor_role": (_text(events["actor_role"]), pa.large_string()),
        "occurred_at": (_naive_utc(events["occurred_at"]), pa.timestamp("us")),
        "updated_at": (_naive_utc(events["updated_at"]), pa.timestamp("us")),
    })
    co = _arrow({
        "claim_id": (_text(costs["claim_id"]), pa.large_string()),
        "cost_type": (_text(costs["cost_type"]), pa.large_string()),
        "quantity": (costs["quantity"].astype("float64"), pa.float64()),
        "amount": (costs["amount"].astype("float64"), pa.float64()),
        "updated_at": (_naive_utc(costs["updated_at"]), pa.timestamp("us")),
    })
    sv = _arrow({
        "claim_id": (_text(surveys["claim_id"]), pa.large_string()),
        "response_id": (_text(surveys["response_id"]), pa.large_string()),
        "responded_at": (_naive_utc(surveys["responded_at"]), pa.timestamp("us")),
        "updated_at": (_naive_utc(surveys["updated_at"]), pa.timestamp("us")),
        "csat": (surveys["csat"].astype("Int64"), pa.int64()),
        "nps": (surveys["nps"].astype("Int64"), pa.int64()),
        "effort": (surveys["effort"].astype("Int64"), pa.int64()),
    })
    cp = _arrow({
        "claim_id": (_text(complaints["claim_id"]), pa.large_string()),
        "updated_at": (_naive_utc(complaints["updated_at"]), pa.timestamp("us")),
    })

    milestone_sql = ",\n".join(
        f"min(occurred_at) FILTER (WHERE event_type = '{m}') AS {m}_at" for m in _MILESTONES
    )
    lag_sql = ",\n".join(
        f"(epoch_us({end}) - epoch_us({start}))::DOUBLE / {secs * 1_000_000}.0 AS {name}"
        for name, start, end, secs in _LAGS
    )
    sql = f"""
    WITH e AS (
        SELECT claim_id,
               {milestone_sql},
               max(occurred_at) FILTER (WHERE event_type = 'closed') AS last_closed_at,
               max(occurred_at) FILTER (WHERE event_type = 'reopened') AS last_reopened_at,
               count(*) FILTER (WHERE event_type = 'reopened') AS reopened_count,
               count(*) FILTER (WHERE event_type = 'documents_requested') AS document_requests,
               max(updated_at) AS upd
        FROM ev GROUP BY claim_id
    ),
    -- touches and handoffs: the claim's non-system events in time order, ties by event_id
    -- (DuckDB compares text by code point: "compared as text").
    h AS (
        SELECT claim_id,
               count(*) AS touches,
               count(*) FILTER (WHERE prev_role IS NOT NULL AND actor_role <> prev_role) AS handoffs
        FROM (
            SELECT claim_id, actor_role,
                   lag(actor_role) OVER (PARTITION BY claim_id ORDER BY occurred_at, event_id) AS prev_role
            FROM ev WHERE actor_role <> 'system'
        ) GROUP BY claim_id
    ),
    r AS (
        SELECT e.claim_id,
               bool_or(ev.occurred_at > e.closed_at
                       AND epoch_us(ev.occurred_at) - epoch_us(e.closed_at) <= {_REOPEN_WINDOW_US})
                   AS reopened_within_30d
        FROM ev JOIN e ON ev.claim_id = e.claim_id
        WHERE ev.event_type = 'reopened' AND e.closed_at IS NOT NULL
        GROUP BY e.claim_id
    ),
    k AS (
        SELECT claim_id,
               sum(coalesce(amount, quantity * $travel_rate)) FILTER (WHERE cost_type = 'travel') AS travel,
               sum(amount) FILTER (WHERE cost_type = 'evidence_fee') AS evidence,
               sum(coalesce(amount, quantity * $lost_rate)) FILTER (WHERE cost_type = 'lost_work_time') AS lost_work,
               sum(quantity) FILTER (WHERE cost_type = 'travel') AS trips,
               sum(quantity) FILTER (WHERE cost_type = 'lost_work_time') AS lost_work_hours,
               max(updated_at) AS upd
        FROM co GROUP BY claim_id
    ),
    s AS (
        SELECT claim_id,
               arg_max(struct_pack(csat := csat, nps := nps, effort := effort),
                       struct_pack(r := responded_at, u := updated_at, i := response_id)) AS v,
               max(updated_at) AS upd
        FROM sv GROUP BY claim_id
    ),
    q AS (
        SELECT claim_id, count(*) AS n, max(updated_at) AS upd FROM cp GROUP BY claim_id
    ),
    j AS (
        SELECT c.rn, c.reported_at,
               e.accepted_at, e.documents_complete_at, e.decided_at, e.paid_at, e.closed_at,
               e.last_closed_at,
               coalesce(e.reopened_count, 0) AS reopened_count,
               (e.closed_at IS NULL OR coalesce(e.last_reopened_at > e.last_closed_at, false)) AS is_open,
               coalesce(r.reopened_within_30d, false) AS reopened_within_30d,
               coalesce(k.travel, 0.0) AS customer_cost_travel,
               coalesce(k.evidence, 0.0) AS customer_cost_evidence,
               coalesce(k.lost_work, 0.0) AS customer_cost_lost_work,
               coalesce(k.trips, 0.0) AS trips,
               coalesce(k.lost_work_hours, 0.0) AS lost_work_hours,
               s.v.csat AS survey_csat, s.v.nps AS survey_nps, s.v.effort AS survey_effort,
               coalesce(q.n, 0) AS complaints,
               coalesce(e.document_requests, 0) AS document_requests,
               coalesce(h.touches, 0) AS touches,
               coalesce(h.handoffs, 0) AS handoffs,
               greatest(c.updated_at, e.upd, k.upd, s.upd, q.upd) AS source_updated_at
        FROM c
        LEFT JOIN e USING (claim_id)
        LEFT JOIN r USING (claim_id)
        LEFT JOIN k USING (claim_id)
        LEFT JOIN s USING (claim_id)
        LEFT JOIN q USING (claim_id)
        LEFT JOIN h USING (claim_id)
    )
    SELECT *, {lag_sql},
           customer_cost_travel + customer_cost_evidence + customer_cost_lost_work AS customer_cost_total
    FROM j
    """
    con = _connect()
    try:
        for name, tbl in (("c", c), ("ev", ev), ("co", co), ("sv", sv), ("cp", cp)):
            con.register(name, tbl)
        res = con.sql(sql, params={
            "travel_rate": float(settings.rates.travel_per_trip),
            "lost_rate": float(settings.rates.lost_work_per_hour),
        }).to_arrow_table()
    finally:
        con.close()
    if res.num_rows != n:  # pragma: no cover - guarded by the left joins from `c`
        raise RuntimeError(f"build_fact: {res.num_rows} aggregate rows for {n} claims")
    # back to claims order with an O(n) permutation (cheaper than ORDER BY in the query)
    perm = np.empty(n, dtype=np.int64)
    perm[res.column("rn").to_numpy()] = np.arange(n, dtype=np.int64)
    for i, field in enumerate(res.schema):  # naive UTC -> tz-aware UTC: metadata only
        if pa.types.is_timestamp(field.type):
            res = res.set_column(i, field.name, res.column(i).cast(pa.timestamp("us", tz=_UTC)))
    agg = _to_pandas(res).take(perm)

    out: dict[str, Any] = {}
    out["claim_id"] = _text(claims["claim_id"]).array
    out["customer_key"] = _text(customer_keys(claims["customer_id"], pseudonym_key)).array
    for col in ("product_line", "channel", "region", "team", "complexity", "outcome",
                "denial_reason"):
        out[col] = _text(claims[col]).array
    for col in ("claimed_amount", "paid_amount"):
        out[col] = claims[col].astype("float64").to_numpy()
    out["reported_at"] = _as_utc(claims["reported_at"]).array
    for col in _TS_COLUMNS[1:]:
        out[col] = agg[col].array
    out["reopened_count"] = agg["reopened_count"].astype("int64").to_numpy()
    out["is_open"] = agg["is_open"].astype(bool).to_numpy()
    out["closed_date"] = local_date(agg["closed_at"], settings.tz).to_numpy()
    for name, *_ in _LAGS:
        out[name] = agg[name].astype("float64").to_numpy()
    out["reopened_within_30d"] = agg["reopened_within_30d"].astype(bool).to_numpy()
    for col in ("customer_cost_travel", "customer_cost_evidence", "customer_cost_lost_work",
                "customer_cost_total", "trips", "lost_work_hours"):
        out[col] = agg[col].astype("float64").to_numpy()
    for col in ("survey_csat", "survey_nps", "survey_effort"):
        out[col] = agg[col].astype("Int64").array
    out["complaints"] = agg["complaints"].astype("int64").to_numpy()
    out["source_updated_at"] = agg["source_updated_at"].array
    out.update(quality_measures(out["outcome"], out["denial_reason"], out["closed_at"],
                                out["is_open"], out["reopened_within_30d"], out["complaints"],
                                agg["document_requests"], agg["touches"], agg["handoffs"]))

    return pd.DataFrame(out, index=pd.RangeIndex(n))[list(FACT_COLUMNS)]


CUSTOMER_GROUPS = ("normal_payout", "non_disclosure", "fraud", "other_denial", "withdrawn",
                   "undecided")


def customer_group(outcome, denial_reason) -> pd.Series:
    """METRICS.md customer_group from the claim's outcome and denial_reason (vectorised).

    Denials split by reason because the seed's customers see a fraud denial, a
    non-disclosure denial and any other denial differently; null outcome = undecided.
    """
    o = pd.Series(pd.array(outcome, dtype="string"))
    r = pd.Series(pd.array(denial_reason, dtype="string"))
    denied = (o == "denied").fillna(False).to_numpy(dtype=bool)
    reason = r.fillna("").to_numpy(dtype=object)
    group = np.select(
        [o.isna().to_numpy(dtype=bool),
         o.isin(["paid", "partial"]).fillna(False).to_numpy(dtype=bool),
         (o == "withdrawn").fillna(False).to_numpy(dtype=bool),
         denied & (reason == "non_disclosure"),
         denied & (reason == "fraud"),
         denied],
        ["undecided", "normal_payout", "withdrawn", "non_disclosure", "fraud", "other_denial"],
        default=None)
    return pd.Series(pd.array(group, dtype="string"))


def quality_measures(outcome, denial_reason, closed_at, is_open, reopened_within_30d, complaints,
                     document_requests, touches, handoffs) -> dict[str, Any]:
    """The claim-level quality columns of fact_claim_service (METRICS.md), as arrays."""
    requests = np.asarray(pd.Series(document_requests).astype("int64"))
    ask_once = requests <= 1  # PRC Insurance Law Art. 22: ask for missing documents once
    closed = ~pd.isna(pd.Series(closed_at)).to_numpy()
    first_time_right = (closed & ~np.asarray(is_open, dtype=bool)
                        & ~np.asarray(reopened_within_30d, dtype=bool) & ask_once
                        & (np.asarray(complaints, dtype=np.int64) == 0))
    return {
        "customer_group": customer_group(outcome, denial_reason).array,
        "document_requests": requests,
        "ask_once_met": ask_once,
        "touches": np.asarray(pd.Series(touches).astype("int64")),
        "handoffs": np.asarray(pd.Series(handoffs).astype("int64")),
        "first_time_right": first_time_right,
    }


# --------------------------------------------------------------------------------------
# fact_survey_response / fact_complaint
# --------------------------------------------------------------------------------------
def survey_facts(surveys: pd.DataFrame, settings) -> pd.DataFrame:
    """fact_survey_response rows of accepted survey rows: the response with its local date."""
    s = surveys
    return pd.DataFrame({
        "response_id": s["response_id"], "claim_id": s["claim_id"],
        "responded_at": s["responded_at"],
        "response_date": local_date(s["responded_at"], settings.tz),
        "csat": s["csat"], "nps": s["nps"], "effort": s["effort"],
        "source_updated_at": s["updated_at"],
    }).reset_index(drop=True)


def complaint_facts(complaints: pd.DataFrame, settings) -> pd.DataFrame:
    """fact_complaint rows of accepted complaint rows: the complaint with its local date."""
    c = complaints
    return pd.DataFrame({
        "complaint_id": c["complaint_id"], "claim_id": c["claim_id"],
        "received_at": c["received_at"],
        "received_date": local_date(c["received_at"], settings.tz),
        "source": c["source"], "category": c["category"], "resolved_at": c["resolved_at"],
        "source_updated_at": c["updated_at"],
    }).reset_index(drop=True)


# --------------------------------------------------------------------------------------
# daily_service_metrics and daily_standard_attainment: the SQL models over frames
# --------------------------------------------------------------------------------------
_ARROW_TYPES = {"text": pa.large_string(), "money": pa.float64(), "double": pa.float64(),
                "int": pa.int64(), "bool": pa.bool_(), "date": pa.date32(),
                "timestamptz": pa.timestamp("us")}


def _warehouse_arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    """A frame as the warehouse table `table` holds it (the dictionary's columns the frame has),
    typed for DuckDB: timestamps as naive UTC, dates as DATE."""
    cols: dict[str, tuple[Any, pa.DataType]] = {}
    for c in TABLES[table].columns:
        if c.name not in frame:
            continue
        s = frame[c.name]
        if c.type == "text":
            values = _text(s)
        elif c.type in ("money", "double"):
            values = s.astype("float64").to_numpy()
        elif c.type == "int":
            values = s.astype("Int64")
        elif c.type == "bool":
            values = s.astype("boolean")
        elif c.type == "date":
            values = _days_of(s)
        else:
            values = _naive_utc(s)
        cols[c.name] = (values, _ARROW_TYPES[c.type])
    return _arrow(cols)


def _model_frame(table: str, result: pa.Table) -> pd.DataFrame:
    """A model's Arrow rows as a frame: the dictionary's dtypes (dates as date objects)."""
    df = _to_pandas(result)
    for c in TABLES[table].columns:
        if c.name not in df:
            continue
        if c.type == "int":
            df[c.name] = df[c.name].astype("int64")  # counts: never null in these models
        elif c.type in ("money", "double"):
            df[c.name] = df[c.name].astype("float64")
        elif c.type == "bool":
            df[c.name] = df[c.name].astype("boolean")
        elif c.type == "date":
            df[c.name] = df[c.name].astype(object)
    return df


def _dates_arg(dates: Iterable[Any] | None) -> list[_dt.date] | None:
    if dates is None:
        return None
    return [d.date() if isinstance(d, _dt.datetime) else d if isinstance(d, _dt.date)
            else pd.Timestamp(d).date() for d in dates]


def daily_service_metrics(fact: pd.DataFrame, surveys: pd.DataFrame, complaints: pd.DataFrame,
                          settings, dates: Iterable[_dt.date] | None = None) -> pd.DataFrame:
    """daily_service_metrics of in-memory frames: the model models/daily_service_metrics.sql
    run on an in-process DuckDB, exactly the SQL the warehouse runs.

    `fact` is fact_claim_service rows; `surveys` and `complaints` are accepted source rows or
    their fact rows (fact_survey_response / fact_complaint, which carry the local dates).
    Columns DAILY_COLUMNS, ordered by the table key."""
    if "response_date" not in surveys:
        surveys = survey_facts(surveys, settings)
    if "received_date" not in complaints:
        complaints = complaint_facts(complaints, settings)
    inputs = {
        "fact_claim_service": _warehouse_arrow("fact_claim_service", fact),
        "fact_survey_response": _warehouse_arrow("fact_survey_response", surveys),
        "fact_complaint": _warehouse_arrow("fact_complaint", complaints),
    }
    res = models.query_frames("daily_service_metrics", inputs, dates=_dates_arg(dates))
    return _model_frame("daily_service_metrics", res)[list(DAILY_COLUMNS)]


def daily_standard_attainment(fact: pd.DataFrame, settings,
                              dates: Iterable[_dt.date] | None = None) -> pd.DataFrame:
    """daily_standard_attainment of an in-memory fact frame: the model
    models/daily_standard_attainment.sql on an in-process DuckDB. Columns ATTAINMENT_COLUMNS."""
    res = models.query_frames("daily_standard_attainment",
                              {"fact_claim_service": _warehouse_arrow("fact_claim_service", fact)},
                              dates=_dates_arg(dates), standards=list(settings.standards))
    return _model_frame("daily_standard_attainment", res)[list(ATTAINMENT_COLUMNS)]
