"""The HTML report: a small warehouse built in code, the page checked as text and in Chromium."""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from claimpulse.dictionary import metadata
from claimpulse.report import (
    NO_DATA, ReportData, ageing_bands, build_report, clock_attainment_chart, close_days_chart,
    cost_by_type_frame, cost_payout_frame, docs_links, fmt_value, load_report_data, nice_ticks,
    quarantine_chart, quarantine_reason_counts, render_report_html, weekly_clock_attainment,
)
from claimpulse.warehouse import Warehouse

from ..conftest import REPO

CI = os.environ.get("CI", "").lower() == "true"
DATES = [dt.date(2024, 3, d) for d in (1, 2, 3, 5)]
P90 = [10.0, 11.5, 9.25, 12.34]          # the latest p90 is 12.34 days -> "12.3"
TS = pd.Timestamp("2024-03-06 01:00", tz="UTC")


def _daily() -> pd.DataFrame:
    n = len(DATES)
    all_rows = pd.DataFrame({
        "metric_date": DATES, "product_line": "ALL", "channel": "ALL", "region": "ALL",
        "closed_claims": [40, 35, 52, 47],
        "report_to_close_days_p50": [4.0, 4.5, 3.75, 5.1],
        "report_to_close_days_p90": P90,
        "report_to_close_days_mean": [5.0, 5.5, 4.8, 6.0],
        "paid_rate": [0.9, 0.88, 0.91, 0.875],
        "denial_rate": [0.1, 0.12, 0.09, 0.125],
        "reopen_rate_30d": [0.0, 0.02, 0.01, 0.0],
        "csat_mean": [4.1, np.nan, 3.9, 4.25],     # a date without responses: skipped
        "nps": [20.0, np.nan, -5.0, 31.5],
        "survey_responses": [10, 0, 12, 8],
        "paid_amount_total": [100000.0, 90000.0, 120000.0, 110000.0],
        "customer_cost_total": [5000.0, 4500.0, 6000.0, 5500.0],
        "customer_cost_per_claim_mean": [125.0, 128.57, 115.38, 117.02],
        "complaints_received": [1, 0, 2, 3],
        "regulator_complaints": [0, 0, 1, 0],
        "loaded_at": TS, "run_id": "r1",
    })
    by_product = pd.DataFrame({
        "metric_date": DATES * 2, "product_line": ["auto"] * n + ["<b>home</b>"] * n,
        "channel": "ALL", "region": "ALL", "closed_claims": [20] * (2 * n),
        "paid_amount_total": [50000.0] * n + [0.0, 0.0, 10000.0, 10000.0],
        "customer_cost_total": [1000.0] * n + [500.0] * n,
        "loaded_at": TS, "run_id": "r1",
    })
    # a by-channel row: product_line ALL but channel not ALL -> not in the cost/payout chart
    by_channel = pd.DataFrame({
        "metric_date": DATES[:1], "product_line": ["ALL"], "channel": ["app"], "region": ["ALL"],
        "closed_claims": [7], "paid_amount_total": [1.0], "customer_cost_total": [999.0],
    })
    return pd.concat([all_rows, by_product, by_channel], ignore_index=True)


def _attainment() -> pd.DataFrame:
    rows = []
    for sid, measure, mx, target, rates in (
            ("decide_30d", "report_to_decision_days", 30.0, 1.0, [1.0, 0.95, 0.9, 0.875]),
            ("pay_10d", "decision_to_payment_days", 10.0, 0.95, [0.97, None, 0.99, 0.96])):
        for d, r in zip(DATES, rates):
            rows.append({"metric_date": d, "standard_id": sid, "product_line": "ALL", "channel": "ALL",
                         "region": "ALL", "measure": measure, "max_value": mx, "eligible_claims": 40,
                         "met_claims": None if r is None else round(40 * r), "attainment_rate": r,
                         "target_rate": target, "meets_target": None if r is None else r >= target})
    return pd.DataFrame(rows)


def _facts() -> pd.DataFrame:
    return pd.DataFrame({
        "claim_id": ["c1", "c2", "c3", "c4"],
        "product_line": ["auto", "auto", "<b>home</b>", "auto"],
        "team": ["A", "A", "B", None],
        "is_open": [False, False, False, True],
        "reported_at": pd.to_datetime(["2024-02-20 08:00", "2024-02-21 09:00", "2024-02-21 10:00",
                                       "2024-03-05 06:00"]).tz_localize("UTC"),
        "closed_at": pd.to_datetime(["2024-03-01 08:00", "2024-03-02 08:00", "2024-03-05 08:00",
                                     None]).tz_localize("UTC"),
        "closed_date": [DATES[0], DATES[1], DATES[3], None],
        "customer_cost_travel": [60.0, 120.0, None, 500.0],
        "customer_cost_evidence": [20.0, 0.0, 30.0, 500.0],
        "customer_cost_lost_work": [100.0, 50.0, 0.0, 500.0],
        "paid_amount": [1000.0, 2000.0, 500.0, None],
        "loaded_at": TS, "run_id": "r1",
    })


def _quarantine() -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": "r1",
        "source_table": ["surveys", "surveys", "claims", "claims"],
        "source_key": ["s1", "s2", "k1", "k2"],
        "reasons": ["csat_out_of_range;orphan_claim", "csat_out_of_range", "milestone_order",
                    "released_reason_code"],
        "quarantined_at": TS,
        "released_at": [pd.NaT, pd.NaT, pd.NaT, TS],   # the last one was released
    })


# A warehouse from before the clocks and quality upgrades: the fixture drops what they added.
UPGRADE_TABLES = ("fact_claim_clock", "clock_watchlist", "daily_clock_attainment",
                  "daily_quality_metrics", "speed_quality_alerts")
UPGRADE_FACT_COLUMNS = ("customer_group", "document_requests", "ask_once_met", "touches",
                        "handoffs", "first_time_right")


def _fill(w: Warehouse) -> Warehouse:
    w.ensure_schema()
    with w.transaction() as conn:
        w.insert_frame(conn, "daily_service_metrics", _daily())
        w.insert_frame(conn, "daily_standard_attainment", _attainment())
        w.insert_frame(conn, "fact_claim_service", _facts())
        w.insert_frame(conn, "dq_quarantine", _quarantine())
        for table in UPGRADE_TABLES:
            conn.exec_driver_sql(f"DROP TABLE {w.table(table)}")
        for col in UPGRADE_FACT_COLUMNS:
            conn.exec_driver_sql(f"ALTER TABLE {w.table('fact_claim_service')} DROP COLUMN {col}")
    return w


@pytest.fixture
def wh(tmp_path) -> Warehouse:
    return _fill(Warehouse(f"duckdb:///{tmp_path}/w.duckdb", "claimpulse"))


@pytest.fixture
def report(wh, tmp_path) -> Path:
    return build_report(wh, tmp_path / "out" / "report.html", title="Test <report>")


def _assert_self_contained(page: str) -> None:
    low = page.lower()
    assert "<script src" not in low and "<link" not in low and "<img" not in low
    assert "http://" not in low and "https://" not in low
    assert "@import" not in low and "url(" not in low


# --------------------------------------------------------------------------- page as text

# the six charts of the overview, the six of "backlog, volume and complaints"
OLD_WAREHOUSE_CHARTS = 12


def test_report_is_self_contained_with_its_charts(report):
    assert report.exists()
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    _assert_self_contained(page)
    assert page.count("<svg") == OLD_WAREHOUSE_CHARTS
    assert page.count("</svg>") == OLD_WAREHOUSE_CHARTS
    # every chart of the tables this warehouse has shows data; the newer sections say what is missing
    assert 'class="empty"' not in page
    assert "no service clocks yet (it lacks table daily_clock_attainment)" in page
    assert "no customer groups yet (it lacks column fact_claim_service.customer_group)" in page
    assert "<title>Test &lt;report&gt;</title>" in page


def test_report_numbers(report):
    page = report.read_text(encoding="utf-8")
    # the data span, totals and latest-date headline
    assert "2024-03-01" in page and "2024-03-05" in page
    assert "174" in page                              # closed claims over all dates: 40+35+52+47
    assert "12.3 d" in page                           # headline p90 of the latest date
    assert re.search(r'class="endlabel"[^>]*>12\.3<', page)   # p90 line end label
    assert re.search(r'class="endlabel"[^>]*>87\.5%<', page)  # decide_30d attainment, latest
    assert "+31.5" in page and "4.25" in page          # NPS and CSAT of the latest date
    assert "2024-03-05: 12.3 days" in page             # a point's hover text


def test_report_quarantine_reasons_split_and_open_only(report):
    page = report.read_text(encoding="utf-8")
    for code in ("csat_out_of_range", "orphan_claim", "milestone_order"):
        assert code in page
    assert "csat_out_of_range;orphan_claim" not in page
    assert "released_reason_code" not in page


def test_report_escapes_text(report):
    page = report.read_text(encoding="utf-8")
    assert "<b>home</b>" not in page
    assert "&lt;b&gt;home&lt;/b&gt;" in page


def test_load_report_data_aggregates(wh):
    data = load_report_data(wh)
    assert list(data.daily["metric_date"]) == DATES
    assert set(data.daily["product_line"]) == {"ALL"}
    cp = data.cost_payout.set_index("product_line")
    assert set(cp.index) == {"auto", "<b>home</b>"}    # no ALL, no by-channel row
    assert cp.loc["auto", "customer_cost_total"] == pytest.approx(4000.0)
    assert cp.loc["auto", "paid_amount_total"] == pytest.approx(200000.0)
    cost = data.cost_by_type.set_index("product_line")
    assert cost.loc["auto", "claims"] == 2                # the open claim c4 is not closed
    assert cost.loc["auto", "travel"] == pytest.approx(90.0)
    assert cost.loc["<b>home</b>", "travel"] == pytest.approx(0.0)   # no cost counts as 0
    q = quarantine_reason_counts(data.quarantine)
    assert q.set_index(["reason", "source_table"])["rows"].to_dict() == {
        ("csat_out_of_range", "surveys"): 2, ("orphan_claim", "surveys"): 1,
        ("milestone_order", "claims"): 1}
    assert int(data.claims["claims"].sum()) == 4


# --------------------------------------------------------------------------- empty warehouses

def test_empty_warehouse_renders_no_data(tmp_path):
    w = Warehouse(f"duckdb:///{tmp_path}/empty.duckdb", "claimpulse")
    w.ensure_schema()
    out = build_report(w, tmp_path / "empty.html")
    page = out.read_text(encoding="utf-8")
    _assert_self_contained(page)
    # A warehouse at the newest revision has the clock and quality tables too (empty).
    assert page.count("<svg") == OLD_WAREHOUSE_CHARTS + 5
    assert page.count(NO_DATA) >= OLD_WAREHOUSE_CHARTS


def test_warehouse_without_tables_renders(tmp_path):
    w = Warehouse(f"duckdb:///{tmp_path}/new.duckdb", "claimpulse")   # never set up
    page = build_report(w, tmp_path / "new.html").read_text(encoding="utf-8")
    assert page.count("<svg") == OLD_WAREHOUSE_CHARTS and NO_DATA in page
    assert "run the pipeline first" in page


def test_render_empty_frames_directly():
    page = render_report_html(ReportData(), generated_at=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    assert page.count("<svg") == OLD_WAREHOUSE_CHARTS and NO_DATA in page
    assert "2024-01-01 00:00 UTC" in page


# --------------------------------------------------------------------------- pure helpers

def test_quarantine_reason_counts_vectorized():
    q = pd.DataFrame({"source_table": ["a", "a", "b", None],
                      "reasons": ["x;y", "x", "x; y ", None], "rows": [3, 2, 1, 4]})
    got = quarantine_reason_counts(q)
    assert got.to_dict("records") == [
        {"reason": "x", "source_table": "a", "rows": 5},
        {"reason": "(no reason)", "source_table": "(unknown)", "rows": 4},
        {"reason": "y", "source_table": "a", "rows": 3},
        {"reason": "x", "source_table": "b", "rows": 1},
        {"reason": "y", "source_table": "b", "rows": 1},
    ]
    assert quarantine_reason_counts(q.iloc[:0]).empty
    assert NO_DATA in quarantine_chart(q.iloc[:0])


def test_cost_frames():
    cost = pd.DataFrame({"product_line": ["a", "b"], "claims": [1, 3], "travel": [10.0, 20.0],
                         "evidence": [0.0, 4.0], "lost_work": [2.0, np.nan]})
    df = cost_by_type_frame(cost)
    assert df["product_line"].tolist() == ["b", "a", "all lines"]
    overall = df.iloc[-1]
    assert overall["travel"] == pytest.approx(17.5) and overall["claims"] == 4
    assert overall["total"] == pytest.approx((12.0 + 3 * 24.0) / 4)

    sums = pd.DataFrame({"product_line": ["a", "b", "c"], "customer_cost_total": [10.0, 5.0, 1.0],
                         "paid_amount_total": [100.0, 0.0, 50.0]})
    frame, total = cost_payout_frame(sums)
    assert frame["product_line"].tolist() == ["a", "c", "b"]
    assert frame["ratio"].iloc[0] == pytest.approx(0.1) and np.isnan(frame["ratio"].iloc[2])
    assert total == pytest.approx(16.0 / 150.0)


def test_line_chart_skips_nulls_and_labels_last_point():
    frame = pd.DataFrame({"metric_date": DATES, "report_to_close_days_p50": [1.0, np.nan, 2.0, 3.0],
                          "report_to_close_days_p90": [5.0, 6.0, 7.0, 1234.5]})
    svg = close_days_chart(frame)
    assert svg.startswith("<svg") and svg.count("<svg") == 1
    assert ">1,234.5<" in svg                   # thousands separator in the end label
    assert svg.count("<path") == 2
    assert NO_DATA in close_days_chart(frame.iloc[:0])


def test_formatting_helpers():
    assert fmt_value(None, "days") == "–" and fmt_value(float("nan"), "pct") == "–"
    assert fmt_value(0.8756, "pct") == "87.6%"
    assert fmt_value(1234567.891, "money") == "1,234,568"
    assert fmt_value(12.345, "money") == "12.35"
    assert fmt_value(-5, "nps") == "\u22125.0"
    ticks = nice_ticks(0.75, 1.0)
    assert ticks[0] == pytest.approx(0.75) and ticks[-1] == pytest.approx(1.0)
    assert list(nice_ticks(0, 23)) == [0, 5, 10, 15, 20, 25]


# --------------------------------------------------------------------------- headless Chromium

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


class _SvgChildren(HTMLParser):
    """Counts the elements inside each top-level <svg> of a DOM dump."""

    VOID = {"meta", "link", "br", "img", "input", "hr", "area", "base", "col", "embed", "source",
            "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.svgs: list[int] = []
        self.depth = 0   # depth inside the current svg; 0 = outside

    def handle_starttag(self, tag, attrs):
        if tag == "svg" and self.depth == 0:
            self.svgs.append(0)
            self.depth = 1
        elif self.depth:
            self.svgs[-1] += 1
            if tag not in self.VOID:
                self.depth += 1

    def handle_startendtag(self, tag, attrs):
        if self.depth:
            self.svgs[-1] += 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.slow
@pytest.mark.parametrize("which, charts", [("report", OLD_WAREHOUSE_CHARTS),
                                           ("upgraded_report", OLD_WAREHOUSE_CHARTS + 5)])
def test_report_in_headless_chromium(which, charts, request, tmp_path):
    report = request.getfixturevalue(which)
    exe = _chromium()
    if exe is None:
        if CI:
            pytest.fail("chromium not found under CI=true: apt-get install chromium")
        pytest.skip("chromium not found: apt-get install chromium")
    base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    url = report.resolve().as_uri()
    shot = tmp_path / "shot.png"
    r1 = subprocess.run(base + [f"--screenshot={shot}", "--window-size=1280,2400", url],
                        capture_output=True, text=True, timeout=180)
    assert r1.returncode == 0, r1.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000
    assert _png_size(shot) == (1280, 2400)

    r2 = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert r2.returncode == 0, r2.stderr[-2000:]
    parser = _SvgChildren()
    parser.feed(r2.stdout)
    assert len(parser.svgs) == charts, parser.svgs
    assert all(n > 10 for n in parser.svgs), parser.svgs
    for err in (r1.stderr, r2.stderr):   # console messages, with --enable-logging=stderr
        bad = re.findall(r".*(?:Uncaught|ERROR:CONSOLE|WARNING:CONSOLE).*", err)
        assert not bad, bad


# --------------------------------------------------------------------------- an upgraded warehouse
# The upgrade adds the clock and quality tables (from the dictionary, as migrations 0003 and
# 0004 do) and the quality columns of fact_claim_service.

AS_OF = pd.Timestamp("2024-03-05 12:00", tz="UTC")   # the latest close (c3) = the data's "now"
NEW_FACT_COLUMNS = ("customer_group VARCHAR(40)", "document_requests INTEGER", "ask_once_met BOOLEAN",
                    "touches INTEGER", "handoffs INTEGER", "first_time_right BOOLEAN")


def _ts(*stamps):
    return pd.to_datetime(list(stamps), format="ISO8601").tz_localize("UTC")


def _quality_facts() -> pd.DataFrame:
    """Closed claims in the 28-date window (c1, c2, c3, c10), one before it (c11), open ones."""
    ids = ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11"]
    closed = [True, True, True, False, False, False, False, False, False, True, True]
    closed_at = _ts("2024-03-01 08:00", "2024-03-02 08:00", "2024-03-05 12:00", None, None, None, None,
                    "2023-11-20 08:00", None, "2024-03-03 08:00", "2023-12-01 08:00")
    return pd.DataFrame({
        "claim_id": ids,
        "product_line": "auto", "channel": ["app", "app", "web", "app", "web", "app", "web", "app", "web",
                                            "web", "app"],
        "region": ["north", "north", "south", "north", "south", "north", "south", "north", "south",
                   "south", "north"],
        "team": ["A", "A", "B", "B", "A", "A", None, "B", "A", None, "A"],
        "reported_at": _ts("2024-02-26 08:00", "2024-02-21 08:00", "2024-02-28 12:00",
                           "2024-03-05 00:00",      # c4 open, 0.5 days old -> under 7 days
                           "2024-02-20 12:00",      # c5 open, exactly 14 days -> 14-29 days
                           "2024-01-05 12:00",      # c6 open, 60 days -> 60-89 days
                           "2024-03-04 18:00",      # c7 open, 0.75 days, no team -> under 7 days
                           "2023-11-01 12:00",      # c8 closed then reopened: open, 125 days -> 90+
                           "2024-02-20 12:00:01",   # c9 open, 13.99999 days -> 7-13 days
                           "2024-02-29 08:00", "2023-11-01 08:00"),
        "closed_at": closed_at, "last_closed_at": closed_at,
        "closed_date": [None if pd.isna(t) else t.date() for t in closed_at],
        "is_open": [not c for c in closed[:7]] + [True, True, False, False],
        "report_to_close_days": [4.0, 10.0, 6.0, None, None, None, None, None, None, 3.0, 30.0],
        "reopened_within_30d": [False, False, True, None, None, None, None, None, None, False, False],
        "complaints": [0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 5],
        "survey_csat": [5.0, 1.0, 4.0, None, None, None, None, None, None, None, 1.0],
        "customer_cost_total": [180.0, 170.0, 30.0, None, None, None, None, None, None, 12.0, 999.0],
        "customer_group": ["normal_payout", "fraud", "normal_payout", "undecided", "undecided", "undecided",
                           "undecided", "normal_payout", "undecided", "other_denial", "fraud"],
        "document_requests": [1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 3],
        "first_time_right": [True, False, False, False, False, False, False, False, False, True, False],
        "loaded_at": TS, "run_id": "r2",
    })


# types both DuckDB and PostgreSQL read
TEXT, FLOAT, TSTZ = "VARCHAR(200)", "DOUBLE PRECISION", "TIMESTAMP WITH TIME ZONE"
CLOCK_COLS = (f"clock_id {TEXT}, subject {TEXT}, subject_id {TEXT}, claim_id {TEXT}, product_line {TEXT}, "
              f"channel {TEXT}, region {TEXT}, team {TEXT}, started_at {TSTZ}, stopped_at {TSTZ}, "
              f"start_date DATE, end_date DATE, due_date DATE, limit_n INTEGER, unit {TEXT}, "
              f"calendar {TEXT}, timezone {TEXT}, paused_days INTEGER, elapsed_days INTEGER, "
              f"days_to_due INTEGER, status {TEXT}, as_of_date DATE")


def _watchlist() -> pd.DataFrame:
    return pd.DataFrame({
        "clock_id": ["cn_art23_decide_30d", "tx_542_055_ack_15d", "cn_art23_pay_10d", "cn_complaint_15d"],
        "subject": ["claim", "claim", "claim", "complaint"],
        "subject_id": ["c4", "c7", "c5", "k1"], "claim_id": ["c4", "c7", "c5", "c6"],
        "team": ["B", None, "A", "A"], "region": ["north", "south", "south", "north"],
        "status": ["overdue", "running", "running", "paused"],
        "due_date": [dt.date(2024, 3, 1), dt.date(2024, 3, 7), dt.date(2024, 3, 20), dt.date(2024, 3, 6)],
        "days_to_due": [-4, 2, 15, 1],
        "as_of_date": dt.date(2024, 3, 5),
    })


def _clock_attainment() -> pd.DataFrame:
    rows = [  # (date, clock, region, stopped, met)
        (dt.date(2024, 2, 26), "cn_art23_decide_30d", "ALL", 4, 3),
        (dt.date(2024, 2, 28), "cn_art23_decide_30d", "ALL", 4, 4),   # week of 26 Feb: 7 of 8
        (dt.date(2024, 3, 4), "cn_art23_decide_30d", "ALL", 2, 1),    # week of 4 Mar: 1 of 2
        (dt.date(2024, 3, 4), "cn_art23_decide_30d", "north", 100, 0),  # not an ALL row: ignored
        (dt.date(2024, 3, 5), "tx_542_055_ack_15d", "ALL", 5, 5),
    ]
    df = pd.DataFrame(rows, columns=["metric_date", "clock_id", "region", "stopped_clocks", "met_clocks"])
    df["product_line"] = "ALL"
    df["channel"] = "ALL"
    df["breached_clocks"] = df["stopped_clocks"] - df["met_clocks"]
    df["indeterminate_clocks"] = 0
    df["attainment_rate"] = df["met_clocks"] / df["stopped_clocks"]
    return df


def _alerts() -> pd.DataFrame:
    return pd.DataFrame({
        "window_end": [dt.date(2024, 2, 4), dt.date(2023, 12, 1)],   # B's is older than 28 days
        "dimension": ["team", "team"], "value": ["A", "B"],
        "cycle_p50_before": [8.0, 9.0], "cycle_p50_after": [6.0, 7.0],
        "measure": ["complaint_rate", "reopen_rate_30d"],
        "rate_before": [0.10, 0.01], "rate_after": [0.15, 0.05],
        "claims_before": [40, 31], "claims_after": [42, 33], "raised_at": TS,
    })


def _upgrade(wh: Warehouse) -> Warehouse:
    """`wh` after the clocks and quality upgrades: the dictionary's tables, rows by to_sql."""
    s = wh.schema
    new_tables = {
        "fact_claim_clock": CLOCK_COLS,
        "clock_watchlist": CLOCK_COLS,
        "daily_clock_attainment": (
            f"metric_date DATE, clock_id {TEXT}, product_line {TEXT}, channel {TEXT}, region {TEXT}, "
            "stopped_clocks INTEGER, met_clocks INTEGER, breached_clocks INTEGER, indeterminate_clocks INTEGER, "
            f"attainment_rate {FLOAT}, elapsed_days_p50 {FLOAT}, elapsed_days_p90 {FLOAT}, loaded_at {TSTZ}, "
            f"run_id {TEXT}"),
        "daily_quality_metrics": (
            f"metric_date DATE, customer_group {TEXT}, team {TEXT}, closed_claims INTEGER, "
            f"report_to_close_days_p50 {FLOAT}, complaint_rate {FLOAT}, loaded_at {TSTZ}, run_id {TEXT}"),
        "speed_quality_alerts": (
            f"window_end DATE, dimension {TEXT}, value {TEXT}, cycle_p50_before {FLOAT}, cycle_p50_after {FLOAT}, "
            f"measure {TEXT}, rate_before {FLOAT}, rate_after {FLOAT}, claims_before INTEGER, "
            f"claims_after INTEGER, raised_at {TSTZ}"),
    }
    rows = {"fact_claim_service": _quality_facts(), "clock_watchlist": _watchlist(),
            "daily_clock_attainment": _clock_attainment(), "speed_quality_alerts": _alerts()}
    md = metadata(s)
    with wh.transaction() as conn:
        for col in NEW_FACT_COLUMNS:
            conn.exec_driver_sql(f"ALTER TABLE {s}.fact_claim_service ADD COLUMN {col}")
        conn.exec_driver_sql(f"DELETE FROM {s}.fact_claim_service")
        for table in new_tables:
            md.tables[f"{s}.{table}"].create(conn)
        for table, frame in rows.items():
            frame.to_sql(table, conn, schema=s, if_exists="append", index=False)
    return wh


@pytest.fixture
def upgraded(wh) -> Warehouse:
    return _upgrade(wh)


@pytest.fixture
def upgraded_report(upgraded, tmp_path) -> Path:
    return build_report(upgraded, tmp_path / "up" / "report.html")


@pytest.fixture
def upgraded_page(upgraded_report) -> str:
    return upgraded_report.read_text(encoding="utf-8")


def _table(page: str, table_id: str) -> list[list[str]]:
    """Rows of the <table id=...> of the page as cell texts (tags stripped)."""
    m = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert m, f"no table {table_id}"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", m.group(1), re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)]
            for r in rows]


def test_watchlist_lists_overdue_and_due_soon_per_team(upgraded_page):
    rows = _table(upgraded_page, "watch-rows")
    assert rows[0] == ["clock", "claim", "subject", "team", "status", "due date", "days to due"]
    # most urgent first; the one due in 15 days is not on the list
    assert rows[1] == ["cn_art23_decide_30d overdue", "c4", "c4", "B", "overdue", "2024-03-01", "-4"]
    assert [r[1] for r in rows[1:]] == ["c4", "c6", "c7"]
    assert rows[3][:4] == ["tx_542_055_ack_15d due soon", "c7", "c7", "UNASSIGNED"]
    assert "c5" not in {r[1] for r in rows[1:]}
    per_team = {r[0]: r[1:] for r in _table(upgraded_page, "watch-teams")}
    assert per_team["team"] == ["overdue", "running", "paused", "total"]
    assert per_team["B"] == ["1", "0", "0", "1"]
    assert per_team["A"] == ["0", "0", "1", "1"]            # c5's running clock is 15 days away
    assert per_team["UNASSIGNED"] == ["0", "1", "0", "1"]
    assert "Watchlist as of 2024-03-05" in upgraded_page


def test_clock_attainment_weekly_from_all_rows(upgraded):
    data = load_report_data(upgraded)
    wk = weekly_clock_attainment(data.clock_attainment)
    got = {(r.clock_id, str(r.week)): r.attainment_rate for r in wk.itertuples()}
    assert got == {("cn_art23_decide_30d", "2024-02-26"): pytest.approx(7 / 8),
                   ("cn_art23_decide_30d", "2024-03-04"): pytest.approx(0.5),
                   ("tx_542_055_ack_15d", "2024-03-04"): pytest.approx(1.0)}
    svg = clock_attainment_chart(data.clock_attainment, {"cn_art23_decide_30d": "复杂案件30日内核定"})
    assert "cn_art23_decide_30d · 复杂案件30日内核定 — 80.0% of 10" in svg   # 8 of 10 over both weeks
    assert "2024-02-26: 87.5%" in svg                                    # a week's hover value
    assert svg.count('class="panel-title"') == 2


def test_team_with_alert_is_highlighted(upgraded_page):
    m = re.search(r'<table id="scorecard">.*?</table>', upgraded_page, re.S).group(0)
    highlighted = re.findall(r'<tr class="alert"><td>(\w+)', m)
    assert highlighted == ["A"]                       # B's alert is older than 28 days
    card = {r[0]: r[1:] for r in _table(upgraded_page, "scorecard")}
    assert card["A speed–quality alert"] == ["2", "7.0", "0.0%", "50.0%", "50.0%", "50.0%", "3.00"]
    assert card["B"] == ["1", "6.0", "100.0%", "0.0%", "–", "0.0%", "4.00"]
    assert card["UNASSIGNED"][:2] == ["1", "3.0"]
    alerts = _table(upgraded_page, "alert-rows")
    assert len(alerts) == 2                           # header + A's alert only
    assert alerts[1] == ["2024-02-04", "team", "A", "8.0", "6.0", "Complaint rate (claims with a complaint)",
                         "10.0%", "15.0%", "40", "42"]


def test_customer_groups_side_by_side(upgraded_page):
    groups = {r[0]: r[1:] for r in _table(upgraded_page, "groups")}
    # closed claims, close p50 (days), complaint rate, complaints, CSAT, customer cost
    assert groups["Normal payout (paid, partial)"] == ["2", "5.0", "0.0%", "0", "4.50", "105.00"]
    assert groups["Denied: fraud"] == ["1", "10.0", "100.0%", "2", "1.00", "170.00"]   # c11 is before the window
    assert groups["Denied: not covered or other"] == ["1", "3.0", "0.0%", "0", "–", "12.00"]
    assert "Undecided" not in groups                 # open claims are in no row
    assert "latest 28 closed dates (2024-02-07 to 2024-03-05)" in upgraded_page


def test_ageing_bands_count_open_claims(warehouse_target, tmp_path):
    """On DuckDB and PostgreSQL alike (the new reads are plain SQL that runs on both)."""
    upgraded = _upgrade(_fill(warehouse_target.warehouse()))
    data = load_report_data(upgraded)
    assert data.ages_as_of == AS_OF
    bands = ageing_bands(data.open_ages).set_index("band")["claims"].to_dict()
    assert bands == {"under 7 days": 2, "7–13 days": 1, "14–29 days": 1, "30–59 days": 0,
                     "60–89 days": 1, "90 days or more": 1}
    # the rest of the new sections give the same page on both backends
    page = build_report(upgraded, tmp_path / "r.html").read_text(encoding="utf-8")
    assert [r[1] for r in _table(page, "watch-rows")[1:]] == ["c4", "c6", "c7"]
    assert _table(page, "groups")[2] == ["Denied: fraud", "1", "10.0", "100.0%", "2", "1.00", "170.00"]
    assert re.findall(r'<tr class="alert"><td>(\w+)', page) == ["A"]
    assert _table(page, "scorecard")[2] == ["B", "1", "6.0", "100.0%", "0.0%", "–", "0.0%", "4.00"]


def test_gap_charts_numbers(upgraded, upgraded_page):
    data = load_report_data(upgraded, timezone="Asia/Shanghai")
    reported = dict(zip(data.reported["reported_date"].astype(str), data.reported["claims"]))
    # 2024-03-04 18:00 UTC and 2024-03-05 00:00 UTC are both 5 March in Shanghai
    assert reported["2024-03-05"] == 2 and "2024-03-04" not in reported
    assert sum(reported.values()) == 11
    cost = data.cost_by_dim.set_index(["dimension", "value"])
    # c8 (closed once, reopened) has a closed_date and no cost rows: it counts, as 0
    assert cost.loc[("region", "north"), "cost_mean"] == pytest.approx((180 + 170 + 0 + 999) / 4)
    assert cost.loc[("team", "A"), "claims"] == 3
    assert cost.loc[("team", "UNASSIGNED"), "cost_mean"] == pytest.approx(12.0)   # c10, no team
    for fig in ("chart-ageing", "chart-reported", "chart-complaints", "chart-cost-region",
                "chart-cost-channel", "chart-cost-team"):
        assert f'id="{fig}"' in upgraded_page
    assert "Complaints received per week" in upgraded_page
    # weekly sums by Monday: 1 March (Fri) + 2 + 3 March = 1 + 0 + 2; 5 March (Tue) = 3
    assert "complaints received · 2024-02-26: 3<" in upgraded_page
    assert "complaints received · 2024-03-04: 3<" in upgraded_page


def test_upgraded_report_is_self_contained(upgraded_page):
    _assert_self_contained(upgraded_page)
    assert upgraded_page.count("<svg") == OLD_WAREHOUSE_CHARTS + 1 + 4   # clocks + 4 customer-group panels
    assert "it lacks" not in upgraded_page                               # every section found its table
    links = re.findall(r'(?:src|href)="([^"]*)"', upgraded_page)
    assert links and all(u.startswith("#") for u in links), links       # in-page anchors only
    assert "METRICS.md" not in upgraded_page and "../shared" not in upgraded_page


def test_footer_links_docs_relative_inside_the_repository(tmp_path):
    root = REPO
    assert docs_links(root / "data" / "report.html") == {
        "docs/metrics.md": "../docs/metrics.md", "docs/source-contract.md": "../docs/source-contract.md",
        "docs/operations.md": "../docs/operations.md"}
    assert docs_links(tmp_path / "report.html") is None   # elsewhere: named in words
    page = render_report_html(ReportData(), links=docs_links(root / "data" / "report.html"))
    assert '<a href="../docs/metrics.md">docs/metrics.md</a>' in page
    assert "docs/operations.md (runs, backfills and recovery) in the ClaimPulse repository" in \
        render_report_html(ReportData())
