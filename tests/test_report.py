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

from claimpulse.report import (
    NO_DATA, ReportData, ageing_bands, build_report, clock_attainment_chart, close_days_chart,
    cost_by_type_frame, cost_payout_frame, docs_links, fmt_value, load_report_data, nice_ticks,
    quarantine_chart, quarantine_reason_counts, render_report_html, weekly_clock_attainment,
)
from claimpulse.warehouse import Warehouse

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


@pytest.fixture
def wh(tmp_path) -> Warehouse:
    w = Warehouse(f"duckdb:///{tmp_path}/w.duckdb", "claimpulse")
    w.ensure_schema()
    with w.transaction() as conn:
        w.insert_frame(conn, "daily_service_metrics", _daily())
        w.insert_frame(conn, "daily_standard_attainment", _attainment())
        w.insert_frame(conn, "fact_claim_service", _facts())
        w.insert_frame(conn, "dq_quarantine", _quarantine())
    return w


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
    assert page.count("<svg") == OLD_WAREHOUSE_CHARTS
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
def test_report_in_headless_chromium(report, tmp_path):
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
    assert len(parser.svgs) == 6, parser.svgs
    assert all(n > 10 for n in parser.svgs), parser.svgs
    for err in (r1.stderr, r2.stderr):   # console messages, with --enable-logging=stderr
        bad = re.findall(r".*(?:Uncaught|ERROR:CONSOLE|WARNING:CONSOLE).*", err)
        assert not bad, bad
