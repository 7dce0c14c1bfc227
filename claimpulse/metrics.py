"""METRICS.md as code: the claim-level fact and the daily aggregates.

Pure, vectorized functions (frames in, frames out, no I/O). Inputs are *accepted* typed
frames (see `claimpulse.schema`): text "string", decimals float64, integers "Int64",
timestamps tz-aware (any unit). Any of them may be empty; extra columns are ignored.

The heavy lifting runs in an in-process DuckDB over Arrow tables. Timestamps are handed to
DuckDB as *naive UTC* microsecond TIMESTAMPs (and local dates as DATEs computed in pandas),
so no result depends on DuckDB's session TimeZone or on ICU.

Public:
- `local_date(ts, tz)`: UTC timestamps -> local calendar dates (datetime.date / None).
- `build_fact(...)`: fact_claim_service, one row per claim.
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

from claimpulse.pseudonym import customer_keys
from claimpulse.schema import ALL, DECIDED_OUTCOMES, DIMENSIONS, GROUPING_SETS

__all__ = [
    "FACT_COLUMNS",
    "DAILY_COLUMNS",
    "ATTAINMENT_COLUMNS",
    "local_date",
    "build_fact",
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

DAILY_COLUMNS: tuple[str, ...] = (
    "metric_date", "product_line", "channel", "region",
    "closed_claims",
    "report_to_accept_hours_p50", "report_to_accept_hours_p90",
    "report_to_decision_days_p50", "report_to_decision_days_p90",
    "decision_to_payment_days_p50", "decision_to_payment_days_p90",
    "report_to_close_days_mean", "report_to_close_days_p50", "report_to_close_days_p90",
    "decided_claims", "paid_rate", "denial_rate", "reopen_rate_30d", "paid_amount_total",
    "customer_cost_travel", "customer_cost_evidence", "customer_cost_lost_work",
    "customer_cost_total", "customer_cost_per_claim_mean", "customer_cost_per_claim_p50",
    "trips_per_claim_mean", "lost_work_hours_mean", "customer_cost_to_payout_ratio",
    "survey_responses", "csat_mean", "csat_satisfied_rate", "nps", "effort_mean",
    "complaints_received", "regulator_complaints",
)
_DAILY_INT = ("closed_claims", "decided_claims", "survey_responses", "complaints_received",
              "regulator_complaints")

ATTAINMENT_COLUMNS: tuple[str, ...] = (
    "metric_date", "standard_id", "product_line", "channel", "region", "measure", "max_value",
    "eligible_claims", "met_claims", "attainment_rate", "target_rate", "meets_target",
)

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


def _wanted_days(dates: Iterable[Any] | None) -> np.ndarray | None:
    """The `dates=` argument as datetime64[D] (None = every date)."""
    if dates is None:
        return None
    vals = []
    for d in dates:
        if isinstance(d, _dt.datetime):
            d = d.date()
        elif not isinstance(d, _dt.date):
            d = pd.Timestamp(d).date()
        vals.append(d)
    return np.array(vals, dtype="datetime64[D]")


def _day_mask(days: np.ndarray, wanted: np.ndarray | None) -> np.ndarray:
    mask = ~np.isnat(days)
    if wanted is not None:
        mask &= np.isin(days, wanted)
    return mask


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


def _grouping_sets_sql(date_col: str) -> str:
    sets = []
    for gs in GROUPING_SETS:
        sets.append("(" + ", ".join((date_col,) + tuple(gs)) + ")")
    return ", ".join(sets)


def _dims_select() -> str:
    return ", ".join(
        f"CASE WHEN grouping({d}) = 1 THEN '{ALL}' ELSE {d} END AS {d}" for d in DIMENSIONS
    )


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
# daily_service_metrics
# --------------------------------------------------------------------------------------
def _closed_cohort(fact: pd.DataFrame, wanted: np.ndarray | None, extra: dict[str, tuple]) -> pa.Table:
    days = _days_of(fact["closed_date"])
    mask = _day_mask(days, wanted)
    sub = fact.loc[mask]
    cols: dict[str, tuple[Any, pa.DataType]] = {"d": (days[mask], pa.date32())}
    for dim in DIMENSIONS:
        cols[dim] = (_text(sub[dim]), pa.large_string())
    for name, (values, typ) in extra.items():
        cols[name] = (values(sub) if callable(values) else values, typ)
    return _arrow(cols)


def _dims_table(fact: pd.DataFrame) -> pa.Table:
    cols = {"claim_id": (_text(fact["claim_id"]), pa.large_string())}
    for dim in DIMENSIONS:
        cols[dim] = (_text(fact[dim]), pa.large_string())
    return _arrow(cols)


def _num(col: str):
    return lambda sub: sub[col].astype("float64").to_numpy()


def _bool(col: str):
    return lambda sub: sub[col].astype("boolean").fillna(False).astype(bool).to_numpy()


def daily_service_metrics(fact: pd.DataFrame, surveys: pd.DataFrame, complaints: pd.DataFrame,
                          settings, dates: Iterable[_dt.date] | None = None) -> pd.DataFrame:
    """daily_service_metrics (METRICS.md): one row per metric_date × grouping-set combination
    with any activity in the closed, response or complaint cohort. Columns DAILY_COLUMNS."""
    wanted = _wanted_days(dates)
    tz = settings.tz

    closed = _closed_cohort(fact, wanted, {
        **{name: (_num(name), pa.float64()) for name, *_ in _LAGS},
        "outcome": (lambda sub: _text(sub["outcome"]), pa.large_string()),
        "paid_amount": (_num("paid_amount"), pa.float64()),
        "reopened_within_30d": (_bool("reopened_within_30d"), pa.bool_()),
        **{col: (_num(col), pa.float64()) for col in (
            "customer_cost_travel", "customer_cost_evidence", "customer_cost_lost_work",
            "customer_cost_total", "trips", "lost_work_hours")},
    })

    s_days = _local_days(surveys["responded_at"], tz)
    s_mask = _day_mask(s_days, wanted)
    s_sub = surveys.loc[s_mask]
    sv = _arrow({
        "claim_id": (_text(s_sub["claim_id"]), pa.large_string()),
        "d": (s_days[s_mask], pa.date32()),
        "csat": (s_sub["csat"].astype("Int64"), pa.int64()),
        "nps": (s_sub["nps"].astype("Int64"), pa.int64()),
        "effort": (s_sub["effort"].astype("Int64"), pa.int64()),
    })
    q_days = _local_days(complaints["received_at"], tz)
    q_mask = _day_mask(q_days, wanted)
    q_sub = complaints.loc[q_mask]
    cp = _arrow({
        "claim_id": (_text(q_sub["claim_id"]), pa.large_string()),
        "d": (q_days[q_mask], pa.date32()),
        "source": (_text(q_sub["source"]), pa.large_string()),
    })
    dims = _dims_table(fact)

    decided = ", ".join(f"'{o}'" for o in DECIDED_OUTCOMES)
    keys = "metric_date, " + ", ".join(DIMENSIONS)
    fd_dims = ", ".join("fd." + d for d in DIMENSIONS)
    group = f"GROUP BY GROUPING SETS ({_grouping_sets_sql('d')})"
    # One aggregate per cohort (each over its own rows only), full-outer-combined on the key:
    # a row exists wherever any cohort has activity.
    sql = f"""
    WITH gc AS (
        SELECT d AS metric_date, {_dims_select()},
            count(*) AS closed_claims,
            quantile_cont(report_to_accept_hours, [0.5, 0.9]) AS acc_q,
            quantile_cont(report_to_decision_days, [0.5, 0.9]) AS dec_q,
            quantile_cont(decision_to_payment_days, [0.5, 0.9]) AS pay_q,
            avg(report_to_close_days) AS report_to_close_days_mean,
            quantile_cont(report_to_close_days, [0.5, 0.9]) AS clo_q,
            count_if(outcome IN ({decided})) AS decided_claims,
            count_if(outcome IN ('paid', 'partial')) AS n_paid,
            count_if(outcome = 'denied') AS n_denied,
            count_if(reopened_within_30d) AS n_reopened,
            coalesce(sum(paid_amount), 0.0) AS paid_amount_total,
            coalesce(sum(customer_cost_travel), 0.0) AS customer_cost_travel,
            coalesce(sum(customer_cost_evidence), 0.0) AS customer_cost_evidence,
            coalesce(sum(customer_cost_lost_work), 0.0) AS customer_cost_lost_work,
            coalesce(sum(customer_cost_total), 0.0) AS customer_cost_total,
            avg(coalesce(customer_cost_total, 0.0)) AS customer_cost_per_claim_mean,
            quantile_cont(coalesce(customer_cost_total, 0.0), 0.5) AS customer_cost_per_claim_p50,
            avg(coalesce(trips, 0.0)) AS trips_per_claim_mean,
            avg(coalesce(lost_work_hours, 0.0)) AS lost_work_hours_mean
        FROM closed {group}
    ),
    gs AS (
        SELECT d AS metric_date, {_dims_select()},
            count(*) AS survey_responses,
            avg(csat) AS csat_mean,
            count(csat) AS n_csat,
            count_if(csat >= 4) AS n_satisfied,
            count(nps) AS n_nps,
            count_if(nps >= 9) AS n_promoters,
            count_if(nps <= 6) AS n_detractors,
            avg(effort) AS effort_mean
        FROM (SELECT sv.d, {fd_dims}, sv.csat, sv.nps, sv.effort
              FROM sv JOIN fd ON sv.claim_id = fd.claim_id) {group}
    ),
    gq AS (
        SELECT d AS metric_date, {_dims_select()},
            count(*) AS complaints_received,
            count_if(source = 'regulator') AS regulator_complaints
        FROM (SELECT cp.d, {fd_dims}, cp.source
              FROM cp JOIN fd ON cp.claim_id = fd.claim_id) {group}
    ),
    g AS (
        SELECT * FROM gc
        FULL OUTER JOIN gs USING ({keys})
        FULL OUTER JOIN gq USING ({keys})
    )
    SELECT {keys},
        coalesce(closed_claims, 0) AS closed_claims,
        acc_q[1] AS report_to_accept_hours_p50, acc_q[2] AS report_to_accept_hours_p90,
        dec_q[1] AS report_to_decision_days_p50, dec_q[2] AS report_to_decision_days_p90,
        pay_q[1] AS decision_to_payment_days_p50, pay_q[2] AS decision_to_payment_days_p90,
        report_to_close_days_mean,
        clo_q[1] AS report_to_close_days_p50, clo_q[2] AS report_to_close_days_p90,
        coalesce(decided_claims, 0) AS decided_claims,
        CASE WHEN decided_claims > 0 THEN n_paid::DOUBLE / decided_claims END AS paid_rate,
        CASE WHEN decided_claims > 0 THEN n_denied::DOUBLE / decided_claims END AS denial_rate,
        CASE WHEN closed_claims > 0 THEN n_reopened::DOUBLE / closed_claims END AS reopen_rate_30d,
        coalesce(paid_amount_total, 0.0) AS paid_amount_total,
        coalesce(customer_cost_travel, 0.0) AS customer_cost_travel,
        coalesce(customer_cost_evidence, 0.0) AS customer_cost_evidence,
        coalesce(customer_cost_lost_work, 0.0) AS customer_cost_lost_work,
        coalesce(customer_cost_total, 0.0) AS customer_cost_total,
        customer_cost_per_claim_mean, customer_cost_per_claim_p50,
        trips_per_claim_mean, lost_work_hours_mean,
        CASE WHEN paid_amount_total <> 0 THEN customer_cost_total / paid_amount_total END
            AS customer_cost_to_payout_ratio,
        coalesce(survey_responses, 0) AS survey_responses,
        csat_mean,
        CASE WHEN n_csat > 0 THEN n_satisfied::DOUBLE / n_csat END AS csat_satisfied_rate,
        CASE WHEN n_nps > 0 THEN 100.0 * (n_promoters - n_detractors) / n_nps END AS nps,
        effort_mean,
        coalesce(complaints_received, 0) AS complaints_received,
        coalesce(regulator_complaints, 0) AS regulator_complaints
    FROM g
    ORDER BY {keys}
    """
    con = _connect()
    try:
        con.register("closed", closed)
        con.register("sv", sv)
        con.register("cp", cp)
        con.register("fd", dims)
        res = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    df = _to_pandas(res)
    for col in DAILY_COLUMNS[4:]:
        df[col] = df[col].astype("int64" if col in _DAILY_INT else "float64")
    df["metric_date"] = df["metric_date"].astype(object)
    return df[list(DAILY_COLUMNS)]


def _sort(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sort by the table key (code-point order for text, as DuckDB's ORDER BY), RangeIndex."""
    return df.sort_values(by, kind="stable", ignore_index=True) if len(df) else df.reset_index(drop=True)


# --------------------------------------------------------------------------------------
# daily_standard_attainment
# --------------------------------------------------------------------------------------
def _standard_flags(fact: pd.DataFrame, std) -> tuple[np.ndarray, np.ndarray]:
    measure = fact[std.measure].astype("float64").to_numpy()
    eligible = ~np.isnan(measure)
    for col, want in (std.applies_to or {}).items():
        values = [want] if isinstance(want, str) else list(want)
        eligible &= fact[col].astype("string").isin(values).fillna(False).to_numpy(dtype=bool)
    met = eligible & (np.where(eligible, measure, np.inf) <= float(std.max))
    return eligible, met


def daily_standard_attainment(fact: pd.DataFrame, settings,
                              dates: Iterable[_dt.date] | None = None) -> pd.DataFrame:
    """daily_standard_attainment (METRICS.md "Service standards"): for each standard, each
    metric_date × grouping-set combination with at least one closed claim."""
    standards = list(settings.standards)
    wanted = _wanted_days(dates)
    days = _days_of(fact["closed_date"])
    mask = _day_mask(days, wanted)
    sub = fact.loc[mask]
    cols: dict[str, tuple[Any, pa.DataType]] = {"d": (days[mask], pa.date32())}
    for dim in DIMENSIONS:
        cols[dim] = (_text(sub[dim]), pa.large_string())
    for i, std in enumerate(standards):
        eligible, met = _standard_flags(sub, std)
        cols[f"e{i}"] = (eligible, pa.bool_())
        cols[f"m{i}"] = (met, pa.bool_())
    tbl = _arrow(cols)

    counts = ", ".join(
        f"count(*) FILTER (WHERE e{i}) AS e{i}, count(*) FILTER (WHERE m{i}) AS m{i}"
        for i in range(len(standards))
    )
    sql = f"""
    SELECT d AS metric_date, {_dims_select()}{", " + counts if counts else ""}
    FROM t GROUP BY GROUPING SETS ({_grouping_sets_sql("d")})
    """
    con = _connect()
    try:
        con.register("t", tbl)
        g = _to_pandas(con.sql(sql).to_arrow_table())
    finally:
        con.close()

    parts = []
    for i, std in enumerate(standards):
        eligible = g[f"e{i}"].astype("int64").to_numpy()
        met = g[f"m{i}"].astype("int64").to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(eligible > 0, met / np.maximum(eligible, 1), np.nan)
        meets = pd.array(rate >= std.target_rate, dtype="boolean")
        meets[np.isnan(rate)] = pd.NA
        parts.append(pd.DataFrame({
            "metric_date": g["metric_date"].astype(object).to_numpy(),
            "standard_id": pd.array([std.id] * len(g), dtype="string"),
            **{dim: _text(g[dim]).array for dim in DIMENSIONS},
            "measure": pd.array([std.measure] * len(g), dtype="string"),
            "max_value": np.full(len(g), float(std.max)),
            "eligible_claims": eligible,
            "met_claims": met,
            "attainment_rate": rate.astype("float64"),
            "target_rate": np.full(len(g), float(std.target_rate)),
            "meets_target": meets,
        }))
    if parts:
        out = pd.concat(parts, ignore_index=True)
    else:
        out = _empty_attainment()
    out["metric_date"] = out["metric_date"].astype(object)
    return _sort(out[list(ATTAINMENT_COLUMNS)], ["metric_date", "standard_id", *DIMENSIONS])


def _empty_attainment() -> pd.DataFrame:
    return pd.DataFrame({
        "metric_date": pd.Series([], dtype=object),
        "standard_id": pd.Series([], dtype="string"),
        **{dim: pd.Series([], dtype="string") for dim in DIMENSIONS},
        "measure": pd.Series([], dtype="string"),
        "max_value": pd.Series([], dtype="float64"),
        "eligible_claims": pd.Series([], dtype="int64"),
        "met_claims": pd.Series([], dtype="int64"),
        "attainment_rate": pd.Series([], dtype="float64"),
        "target_rate": pd.Series([], dtype="float64"),
        "meets_target": pd.Series([], dtype="boolean"),
    })
