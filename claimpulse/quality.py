"""Quality not traded for speed (METRICS.md): daily_quality_metrics and the speed-quality guard.

- `recompute_quality_dates(wh, conn, dates, meta)`: replace the daily_quality_metrics rows of
  `dates` with the SQL model claimpulse/models/daily_quality_metrics.sql, run in the warehouse
  inside the caller's transaction (called next to `pipeline.recompute_dates` by incremental
  runs and by each backfill partition, so it is restated exactly like daily_service_metrics).
- `speed_quality_alerts(facts, latest_closed_date, history, raised_at)`: the guard as a pure
  function over the closed claims of its two windows; `evaluate_guard(wh, conn, raised_at)`
  reads those claims and the stored alerts, and appends the new alerts (never rewriting old
  ones) inside the run's transaction.
- `emit_alert_events(alerts)`: one Prefect event per new alert, called after the commit, so an
  automation can notify the team (see README, "Speed-quality alerts").
- `overdue_clocks(wh)`: the count of overdue service clocks when the warehouse has clock
  tables, else None (for the run summary).
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .models import insert_model

log = logging.getLogger(__name__)

# The guard's rule (METRICS.md): reopens and complaints need time to happen, so only claims
# with FOLLOW_UP_DAYS of follow-up are judged; two windows of WINDOW_DAYS local dates.
FOLLOW_UP_DAYS = 30
WINDOW_DAYS = 28
MIN_CLAIMS = 30            # closed claims each window needs, per team / product line
SPEED_GAIN = 0.10          # p50 report-to-close improvement that counts as "faster"
RATE_RISE = 0.02           # rise of a quality rate that counts as "worse"
TOLERANCE = 1e-9           # exactly 10% / exactly 2 points raise an alert despite rounding
REPEAT_DAYS = 28           # no repeat for the same (dimension, value, measure) within this
GUARD_MEASURES = ("reopen_rate_30d", "complaint_rate", "re_request_rate")
DIMENSIONS = ("team", "product_line")
UNASSIGNED = "UNASSIGNED"
EVENT_NAME = "claimpulse.speed_quality.alert"

ALERT_COLUMNS = ("window_end", "dimension", "value", "cycle_p50_before", "cycle_p50_after",
                 "measure", "rate_before", "rate_after", "claims_before", "claims_after", "raised_at")
GUARD_FACT_COLUMNS = ("claim_id", "team", "product_line", "closed_date", "report_to_close_days",
                      "reopened_within_30d", "complaints", "document_requests")


# ------------------------------------------------------------------ daily_quality_metrics
def recompute_quality_dates(wh, conn: sa.Connection, dates: list[dt.date], meta: dict) -> dict[str, int]:
    """Replace the daily_quality_metrics rows of `dates` from the warehouse's facts."""
    if not dates:
        return {"daily_quality_metrics": 0}
    rel = wh.stage_keys(conn, "quality_dates", dates)
    wh.delete_in(conn, "daily_quality_metrics", "metric_date", rel)
    return {"daily_quality_metrics": insert_model(wh, conn, "daily_quality_metrics", meta, dates=rel)}


# ------------------------------------------------------------------ the guard (pure)
def guard_windows(latest_closed_date: dt.date) -> dict[str, dt.date]:
    """window_end and the first and last date of the before and after windows."""
    end = pd.Timestamp(latest_closed_date).date() - dt.timedelta(days=FOLLOW_UP_DAYS)
    after_start = end - dt.timedelta(days=WINDOW_DAYS - 1)
    before_end = after_start - dt.timedelta(days=1)
    return {"window_end": end, "after_start": after_start, "before_end": before_end,
            "before_start": before_end - dt.timedelta(days=WINDOW_DAYS - 1)}


def _window_stats(facts: pd.DataFrame, w: dict[str, dt.date]) -> pd.DataFrame:
    """Per (dimension, value, window): closed claims, report-to-close p50 and the three rates."""
    days = pd.to_datetime(pd.Series(facts["closed_date"]), errors="coerce").dt.date
    window = np.select(
        [(days >= w["before_start"]) & (days <= w["before_end"]),
         (days >= w["after_start"]) & (days <= w["window_end"])],
        ["before", "after"], default="")
    requests = pd.to_numeric(facts["document_requests"], errors="coerce")
    base = pd.DataFrame({
        "window": window,
        "cycle": pd.to_numeric(facts["report_to_close_days"], errors="coerce").astype("float64"),
        "reopened": facts["reopened_within_30d"].astype("boolean").fillna(False).astype(int),
        "complained": (pd.to_numeric(facts["complaints"], errors="coerce").fillna(0) > 0).astype(int),
        "requested": (requests.fillna(0) >= 1).astype(int),
        "re_requested": (requests.fillna(0) >= 2).astype(int),
    })
    base = base[base["window"] != ""]
    parts = []
    for dim in DIMENSIONS:  # two dimensions: a loop over a handful of groupings
        values = facts.loc[base.index, dim].astype("string")
        if dim == "team":
            values = values.fillna(UNASSIGNED)
        g = base.assign(dimension=dim, value=values).dropna(subset=["value"]).groupby(
            ["dimension", "value", "window"], sort=True)
        parts.append(g.agg(claims=("cycle", "size"), cycle_p50=("cycle", "median"),
                           reopened=("reopened", "sum"), complained=("complained", "sum"),
                           requested=("requested", "sum"), re_requested=("re_requested", "sum")))
    stats = pd.concat(parts) if parts else pd.DataFrame()
    if stats.empty:
        return stats
    claims = stats["claims"].astype("float64")
    stats["reopen_rate_30d"] = stats["reopened"] / claims
    stats["complaint_rate"] = stats["complained"] / claims
    stats["re_request_rate"] = (stats["re_requested"] / stats["requested"].astype("float64")).where(
        stats["requested"] > 0)  # no request in the window: the rate is null and raises nothing
    return stats


def speed_quality_alerts(facts: pd.DataFrame, latest_closed_date: dt.date | None,
                         history: pd.DataFrame, raised_at: pd.Timestamp) -> pd.DataFrame:
    """The new alerts of the guard (METRICS.md), columns ALERT_COLUMNS.

    `facts`: closed claims (GUARD_FACT_COLUMNS; any closed_date, those outside the two
    windows are ignored). `latest_closed_date`: the latest closed_date in the warehouse.
    `history`: stored alerts (at least window_end, dimension, value, measure).
    """
    if latest_closed_date is None or pd.isna(latest_closed_date) or facts.empty:
        return _empty_alerts()
    w = guard_windows(latest_closed_date)
    stats = _window_stats(facts, w)
    if stats.empty:
        return _empty_alerts()
    wide = stats.unstack("window")
    if "before" not in wide["claims"] or "after" not in wide["claims"]:
        return _empty_alerts()
    claims_b, claims_a = wide["claims"]["before"].fillna(0), wide["claims"]["after"].fillna(0)
    p50_b, p50_a = wide["cycle_p50"]["before"], wide["cycle_p50"]["after"]
    faster = ((claims_b >= MIN_CLAIMS) & (claims_a >= MIN_CLAIMS) & (p50_b > 0)
              & ((p50_b - p50_a) / p50_b >= SPEED_GAIN - TOLERANCE))
    rows = []
    for measure in GUARD_MEASURES:  # three measures
        before, after = wide[measure]["before"], wide[measure]["after"]
        worse = faster & before.notna() & after.notna() & (after - before >= RATE_RISE - TOLERANCE)
        hit = worse[worse].index
        rows.append(pd.DataFrame({
            "dimension": hit.get_level_values("dimension"),
            "value": hit.get_level_values("value"),
            "cycle_p50_before": p50_b.loc[hit].to_numpy(dtype="float64"),
            "cycle_p50_after": p50_a.loc[hit].to_numpy(dtype="float64"),
            "measure": measure,
            "rate_before": before.loc[hit].to_numpy(dtype="float64"),
            "rate_after": after.loc[hit].to_numpy(dtype="float64"),
            "claims_before": claims_b.loc[hit].to_numpy(dtype="int64"),
            "claims_after": claims_a.loc[hit].to_numpy(dtype="int64"),
        }))
    alerts = pd.concat(rows, ignore_index=True)
    alerts = alerts[~_repeated(alerts, w["window_end"], history)]
    alerts.insert(0, "window_end", w["window_end"])
    alerts["raised_at"] = pd.Timestamp(raised_at)
    return (alerts.sort_values(["dimension", "value", "measure"], ignore_index=True)
            [list(ALERT_COLUMNS)] if len(alerts) else _empty_alerts())


def _repeated(alerts: pd.DataFrame, window_end: dt.date, history: pd.DataFrame) -> np.ndarray:
    """True where a stored alert of the same (dimension, value, measure) has a window_end
    within REPEAT_DAYS of this one (the same window included): alerts are not raised twice."""
    if alerts.empty or history is None or history.empty:
        return np.zeros(len(alerts), dtype=bool)
    keys = ["dimension", "value", "measure"]
    hist = history[keys].astype(str).assign(
        gap=(pd.Timestamp(window_end) - pd.to_datetime(history["window_end"])).dt.days.abs())
    near = hist[hist["gap"] <= REPEAT_DAYS][keys].drop_duplicates()
    found = alerts[keys].astype(str).merge(near, on=keys, how="left", indicator=True)
    return (found["_merge"] == "both").to_numpy()


def _empty_alerts() -> pd.DataFrame:
    return pd.DataFrame({
        "window_end": pd.Series([], dtype=object),
        "dimension": pd.Series([], dtype="string"), "value": pd.Series([], dtype="string"),
        "cycle_p50_before": pd.Series([], dtype="float64"),
        "cycle_p50_after": pd.Series([], dtype="float64"),
        "measure": pd.Series([], dtype="string"),
        "rate_before": pd.Series([], dtype="float64"), "rate_after": pd.Series([], dtype="float64"),
        "claims_before": pd.Series([], dtype="int64"), "claims_after": pd.Series([], dtype="int64"),
        "raised_at": pd.Series([], dtype="datetime64[us, UTC]"),
    })


# ------------------------------------------------------------------ the guard (I/O)
def evaluate_guard(wh, conn: sa.Connection, raised_at: pd.Timestamp) -> pd.DataFrame:
    """Inside the run's transaction, after the facts are loaded: append and return the new alerts."""
    fact = wh.table("fact_claim_service")
    latest = wh.read_sql(conn, f"SELECT max(closed_date) AS d FROM {fact}")["d"].iloc[0]
    if latest is None or pd.isna(latest):
        return _empty_alerts()
    w = guard_windows(latest)
    cols = ", ".join(GUARD_FACT_COLUMNS)
    facts = wh.read_sql(conn, f"SELECT {cols} FROM {fact} WHERE closed_date BETWEEN "
                              f"DATE '{w['before_start'].isoformat()}' AND DATE '{w['window_end'].isoformat()}'")
    history = wh.read_table(conn, "speed_quality_alerts")
    alerts = speed_quality_alerts(facts, latest, history, raised_at)
    if len(alerts):
        wh.insert_frame(conn, "speed_quality_alerts", alerts)
    return alerts


def alert_event(row: dict[str, Any]) -> dict[str, Any]:
    """The Prefect event of one alert: name, resource and payload (the alert's numbers)."""
    dim, value = str(row["dimension"]), str(row["value"])
    return {
        "event": EVENT_NAME,
        "resource": {"prefect.resource.id": f"claimpulse.{dim}.{value}",
                     "prefect.resource.name": value, "claimpulse.dimension": dim},
        "payload": {
            "window_end": pd.Timestamp(row["window_end"]).date().isoformat(),
            "dimension": dim, "value": value, "measure": str(row["measure"]),
            "cycle_p50_before": float(row["cycle_p50_before"]),
            "cycle_p50_after": float(row["cycle_p50_after"]),
            "rate_before": float(row["rate_before"]), "rate_after": float(row["rate_after"]),
            "claims_before": int(row["claims_before"]), "claims_after": int(row["claims_after"]),
        },
    }


def emit_alert_events(alerts: pd.DataFrame) -> int:
    """One Prefect event per new alert (after the run committed); returns how many were sent.

    Emission never fails a run that has already committed: a failure is logged.
    """
    if alerts is None or alerts.empty:
        return 0
    from prefect.events import emit_event

    sent = 0
    for row in alerts.to_dict("records"):  # a handful of alerts per run
        try:
            if emit_event(**alert_event(row)) is not None:
                sent += 1
        except Exception as exc:  # pragma: no cover - the events client is best effort
            log.warning("could not emit the speed-quality alert event: %s", exc)
    return sent


# ------------------------------------------------------------------ run summary counts
def overdue_clocks(wh) -> int | None:
    """Overdue service clocks (fact_claim_clock, status overdue), or None without clock tables
    (or when they cannot be counted: the run has committed, a summary count must not fail it)."""
    try:
        return _overdue_clocks(wh)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not count overdue clocks: %s", exc)
        return None


def _overdue_clocks(wh) -> int | None:
    with wh.transaction() as conn:
        found = conn.execute(sa.text(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = :s "
            "AND table_name = 'fact_claim_clock'"), {"s": wh.schema}).scalar()
        if not found:
            return None
        return int(conn.exec_driver_sql(
            f"SELECT count(*) FROM {wh.table('fact_claim_clock')} WHERE status = 'overdue'").scalar())
