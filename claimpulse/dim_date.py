"""dim_date: the calendar BI tools join every local date column to.

`build_dim_date(start, end)` is pure (one row per date, inclusive). `refresh_dim_date(wh, conn)`
rebuilds the table inside the caller's transaction from the span of the data: the earliest
to the latest of daily_service_metrics.metric_date, fact_claim_service.closed_date and the
local date of fact_claim_service.reported_at. `pipeline.finish_load` calls it last, so dim_date
commits with the rows it describes.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd

from .dictionary import columns

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")


def build_dim_date(start: dt.date | None, end: dt.date | None) -> pd.DataFrame:
    """One row per date from `start` to `end` inclusive (empty when either is None or end < start).

    Names are English and fixed (no locale); weekday is ISO (1 = Monday).
    """
    cols = columns("dim_date")
    if start is None or end is None or pd.isna(start) or pd.isna(end) or end < start:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    iso = [d.isocalendar() for d in days]
    out = pd.DataFrame({
        "date": pd.Series(days, dtype="object"),
        "weekday": [i.weekday for i in iso],
        "weekday_name": [WEEKDAY_NAMES[i.weekday - 1] for i in iso],
        "iso_year": [i.year for i in iso],
        "iso_week": [i.week for i in iso],
        "month": [d.month for d in days],
        "month_name": [MONTH_NAMES[d.month - 1] for d in days],
        "quarter": [(d.month - 1) // 3 + 1 for d in days],
        "year": [d.year for d in days],
        "is_weekend": [i.weekday >= 6 for i in iso],
    })
    for c in ("weekday", "iso_year", "iso_week", "month", "quarter", "year"):
        out[c] = out[c].astype("int64")
    out["is_weekend"] = out["is_weekend"].astype(bool)
    return out[cols]


def _as_date(v) -> dt.date | None:
    if v is None or v is pd.NaT or (not isinstance(v, (dt.date, str)) and pd.isna(v)):
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    return pd.Timestamp(v).date()


def _local_date(v, tz: ZoneInfo) -> dt.date | None:
    if v is None or v is pd.NaT or (not isinstance(v, (dt.date, str)) and pd.isna(v)):
        return None
    ts = pd.Timestamp(v)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return ts.tz_convert(tz).date()


def data_span(wh, conn, timezone: str = "Asia/Shanghai") -> tuple[dt.date | None, dt.date | None]:
    """Earliest and latest local date of the warehouse's data (None, None when empty)."""
    tz = ZoneInfo(timezone)
    m = wh.read_sql(conn, f"SELECT min(metric_date) AS lo, max(metric_date) AS hi "
                          f"FROM {wh.table('daily_service_metrics')}")
    f = wh.read_sql(conn, f"SELECT min(closed_date) AS c_lo, max(closed_date) AS c_hi, "
                          f"min(reported_at) AS r_lo, max(reported_at) AS r_hi "
                          f"FROM {wh.table('fact_claim_service')}")
    candidates = [_as_date(m["lo"].iloc[0]), _as_date(m["hi"].iloc[0]),
                  _as_date(f["c_lo"].iloc[0]), _as_date(f["c_hi"].iloc[0]),
                  _local_date(f["r_lo"].iloc[0], tz), _local_date(f["r_hi"].iloc[0], tz)]
    dates = [d for d in candidates if d is not None]
    return (min(dates), max(dates)) if dates else (None, None)


def refresh_dim_date(wh, conn, timezone: str = "Asia/Shanghai") -> int:
    """Replace dim_date with the calendar of the data's span, in the caller's transaction.

    `timezone` is the business timezone (config `timezone`) that makes reported_at a local
    date. Returns the rows written.
    """
    start, end = data_span(wh, conn, timezone)
    conn.exec_driver_sql(f"DELETE FROM {wh.table('dim_date')}")
    return wh.insert_frame(conn, "dim_date", build_dim_date(start, end))
