"""The clock SQL models on DuckDB and PostgreSQL, from a few fact_claim_clock rows built here."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from claimpulse import clock_load

D = dt.date(2026, 10, 16)
AS_OF = dt.date(2026, 11, 30)
META = {"loaded_at": pd.Timestamp("2026-12-01", tz="UTC"), "run_id": "r1"}


def clock(subject_id, status, elapsed, region="BJ", end=D, stopped=True, due=None, clock_id="c30"):
    return {"clock_id": clock_id, "subject": "claim", "subject_id": subject_id, "claim_id": subject_id,
            "product_line": "auto", "channel": "app", "region": region, "team": "T1",
            "started_at": pd.Timestamp("2026-09-10", tz="UTC"),
            "stopped_at": pd.Timestamp(end, tz="UTC") if stopped else pd.NaT,
            "start_date": dt.date(2026, 9, 10), "end_date": end, "due_date": due, "limit_n": 30,
            "unit": "calendar", "calendar": "CN", "timezone": "Asia/Shanghai", "paused_days": 0,
            "elapsed_days": elapsed, "days_to_due": None, "status": status, "as_of_date": AS_OF}


ROWS = [clock("K1", "met", 30), clock("K2", "met", 20, region="SH"), clock("K3", "breached", 35),
        clock("K4", "indeterminate", 40), clock("K5", "met", 3, end=dt.date(2026, 10, 17)),
        clock("K6", "overdue", 41, end=AS_OF, stopped=False, due=dt.date(2026, 11, 19)),
        clock("K7", "indeterminate", 12, end=AS_OF, stopped=False),
        clock("K8", "met", 4, end=AS_OF, stopped=False, clock_id="c10")]  # a status the watchlist never lists


def test_attainment_and_watchlist_models(warehouse_target):
    wh = warehouse_target.warehouse()
    wh.ensure_schema()
    with wh.transaction() as conn:
        wh.insert_frame(conn, "fact_claim_clock", pd.DataFrame(ROWS).assign(**META))
        n = clock_load.restate_attainment(wh, conn, [D], META)
        att = wh.read_table(conn, "daily_clock_attainment")
        conn.exec_driver_sql(f"DELETE FROM {wh.table('clock_watchlist')}")
        from claimpulse.models import insert_model

        insert_model(wh, conn, "clock_watchlist", META)
        watch = wh.read_table(conn, "clock_watchlist")
    # only 10-16 was restated: five grouping sets, regions BJ and SH split two of them
    assert n == len(att) == 1 + 1 + 1 + 2 + 2
    assert set(att["metric_date"]) == {D}
    top = att[(att["product_line"] == "ALL") & (att["channel"] == "ALL") & (att["region"] == "ALL")].iloc[0]
    assert (top["stopped_clocks"], top["met_clocks"], top["breached_clocks"], top["indeterminate_clocks"]) \
        == (3, 2, 1, 1)
    assert top["attainment_rate"] == 2 / 3
    assert top["elapsed_days_p50"] == 30.0              # of 20, 30, 35 (not the indeterminate 40)
    assert abs(top["elapsed_days_p90"] - 34.0) < 1e-9   # 30 + 0.8 * (35 - 30)
    bj = att[(att["region"] == "BJ") & (att["product_line"] == "ALL")].iloc[0]
    assert (bj["stopped_clocks"], bj["attainment_rate"]) == (2, 0.5)
    # the watchlist: what has not stopped and is running, paused, overdue or indeterminate
    assert sorted(watch["subject_id"]) == ["K6", "K7"]
    assert set(watch["as_of_date"]) == {AS_OF} and set(watch["run_id"]) == {"r1"}
