"""dim_date: the pure calendar builder and its refresh from the warehouse's data span."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from claimpulse.dictionary import columns
from claimpulse.dim_date import build_dim_date, refresh_dim_date
from claimpulse.warehouse import Warehouse


def test_build_dim_date_iso_calendar_across_a_year_end():
    d = build_dim_date(dt.date(2020, 12, 27), dt.date(2021, 1, 4))
    assert list(d.columns) == columns("dim_date")
    assert len(d) == 9 and d["date"].tolist()[0] == dt.date(2020, 12, 27)
    first = d.iloc[0]  # Sunday of ISO week 52 of 2020
    assert (first.weekday, first.weekday_name, first.iso_year, first.iso_week, bool(first.is_weekend)) == \
        (7, "Sunday", 2020, 52, True)
    jan1 = d[d["date"] == dt.date(2021, 1, 1)].iloc[0]  # a Friday still in ISO 2020-W53
    assert (jan1.weekday, jan1.weekday_name, jan1.iso_year, jan1.iso_week) == (5, "Friday", 2020, 53)
    assert (jan1.year, jan1.month, jan1.month_name, jan1.quarter, bool(jan1.is_weekend)) == \
        (2021, 1, "January", 1, False)
    last = d.iloc[-1]  # Monday 2021-01-04 opens ISO 2021-W01
    assert (last.weekday, last.iso_year, last.iso_week) == (1, 2021, 1)
    assert d[d["date"] == dt.date(2020, 12, 31)].iloc[0].quarter == 4
    assert d["weekday"].dtype == "int64" and d["is_weekend"].dtype == bool


def test_build_dim_date_one_day_and_empty():
    one = build_dim_date(dt.date(2026, 3, 4), dt.date(2026, 3, 4))
    assert len(one) == 1 and one.iloc[0].weekday_name == "Wednesday"
    for start, end in ((None, None), (dt.date(2026, 3, 4), None), (dt.date(2026, 3, 5), dt.date(2026, 3, 4))):
        empty = build_dim_date(start, end)
        assert empty.empty and list(empty.columns) == columns("dim_date")


def test_refresh_dim_date_in_the_callers_transaction(tmp_path):
    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    wh.ensure_schema()
    with wh.transaction() as conn:
        assert refresh_dim_date(wh, conn) == 0  # empty warehouse: empty calendar
        wh.insert_frame(conn, "daily_service_metrics", pd.DataFrame({
            "metric_date": [dt.date(2026, 3, 4), dt.date(2026, 3, 6)], "product_line": "ALL",
            "channel": "ALL", "region": "ALL"}))
        wh.insert_frame(conn, "fact_claim_service", pd.DataFrame({
            "claim_id": ["A", "B"], "closed_date": [dt.date(2026, 3, 8), None],
            # 2026-02-27 17:00 UTC is 2026-02-28 in Shanghai, but still 02-27 in UTC
            "reported_at": pd.to_datetime(["2026-02-27T17:00:00Z", "2026-03-01T00:00:00Z"], utc=True)}))
        assert refresh_dim_date(wh, conn, "Asia/Shanghai") == 9  # 02-28 .. 03-08
        dates = wh.read_table(conn, "dim_date")["date"].tolist()
        assert dates[0] == dt.date(2026, 2, 28) and dates[-1] == dt.date(2026, 3, 8)
        assert refresh_dim_date(wh, conn, "UTC") == 10  # 02-27 .. 03-08: rebuilt, not appended
        assert len(wh.read_table(conn, "dim_date")) == 10
