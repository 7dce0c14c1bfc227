"""claimpulse.metrics on small hand-built frames; every expected number is worked out here."""
from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest

from claimpulse.config import default_settings
from claimpulse.metrics import (
    ATTAINMENT_COLUMNS, DAILY_COLUMNS, FACT_COLUMNS, build_fact, daily_service_metrics,
    daily_standard_attainment, local_date,
)
from claimpulse.schema import ALL

from ..helpers.metric_frames import KEY, SH, frame

NY = default_settings(timezone="America/New_York")


def source(claims=(), events=(), surveys=(), complaints=(), costs=()) -> dict[str, pd.DataFrame]:
    return {"claims": frame("claims", list(claims)), "events": frame("claim_events", list(events)),
            "surveys": frame("surveys", list(surveys)), "complaints": frame("complaints", list(complaints)),
            "costs": frame("customer_costs", list(costs))}


def fact_of(src, settings=SH) -> pd.DataFrame:
    return build_fact(src["claims"], src["events"], src["surveys"], src["complaints"],
                      src["costs"], settings, KEY)


def daily_of(src, settings=SH, dates=None):
    fact = fact_of(src, settings)
    return daily_service_metrics(fact, src["surveys"], src["complaints"], settings, dates=dates)


def row(daily, date, pl=ALL, ch=ALL, rg=ALL) -> pd.Series:
    sel = daily[(daily["metric_date"] == date) & (daily["product_line"] == pl)
                & (daily["channel"] == ch) & (daily["region"] == rg)]
    assert len(sel) == 1, (date, pl, ch, rg, len(sel))
    return sel.iloc[0]


def ev(claim, kind, at):
    return {"claim_id": claim, "event_type": kind, "occurred_at": at}


def closed_claim(cid, close_at="2026-03-04T04:00:00Z", **claim):
    """A claim reported 2026-03-01 00:00 UTC and closed at `close_at` (12:00 +08 on 03-04)."""
    return {"claim_id": cid, **claim}, [ev(cid, "closed", close_at)]


# --------------------------------------------------------------------------------------
# local dates
# --------------------------------------------------------------------------------------
def test_local_date_converts_before_taking_the_date():
    ts = pd.Series(pd.to_datetime(["2026-03-04T17:00:00Z", None, "2026-03-05T03:30:00Z"], utc=True),
                   index=[10, 11, 12])
    sh = local_date(ts, SH.tz)
    assert list(sh.index) == [10, 11, 12]
    assert sh[10] == dt.date(2026, 3, 5) and sh[11] is None and sh[12] == dt.date(2026, 3, 5)
    ny = local_date(ts, "America/New_York")
    assert ny[10] == dt.date(2026, 3, 4) and ny[12] == dt.date(2026, 3, 4)
    # nanosecond input and a DST change (US DST starts 2026-03-08 07:00 UTC)
    dst = pd.Series(pd.to_datetime(["2026-03-08T04:30:00Z", "2026-03-09T04:30:00Z"], utc=True)).dt.as_unit("ns")
    assert list(local_date(dst, NY.tz)) == [dt.date(2026, 3, 7), dt.date(2026, 3, 9)]


def test_timezone_day_boundary_new_york():
    # closes 2026-03-05 03:30 UTC = 03-04 22:30 EST; survey and complaint at the same instant
    claims, events = closed_claim("A", close_at="2026-03-05T03:30:00Z")
    src = source([claims], events,
                 surveys=[{"claim_id": "A", "responded_at": "2026-03-05T03:30:00Z", "csat": 5}],
                 complaints=[{"claim_id": "A", "received_at": "2026-03-05T04:59:59Z"}])
    fact = fact_of(src, NY)
    assert fact.at[0, "closed_date"] == dt.date(2026, 3, 4)
    d = daily_service_metrics(fact, src["surveys"], src["complaints"], NY)
    assert set(d["metric_date"]) == {dt.date(2026, 3, 4)}
    r = row(d, dt.date(2026, 3, 4))
    assert (r.closed_claims, r.survey_responses, r.complaints_received) == (1, 1, 1)
    # the same source in Shanghai is all on 03-05 (11:30 / 12:59 +08)
    d_sh = daily_of(src, SH)
    assert set(d_sh["metric_date"]) == {dt.date(2026, 3, 5)}
    # one second later the complaint is on 03-05 in New York (00:00:00 EST)
    src2 = dict(src, complaints=frame("complaints", [{"claim_id": "A", "received_at": "2026-03-05T05:00:00Z"}]))
    d2 = daily_service_metrics(fact, src2["surveys"], src2["complaints"], NY)
    assert row(d2, dt.date(2026, 3, 5)).complaints_received == 1
    assert row(d2, dt.date(2026, 3, 4)).complaints_received == 0


# --------------------------------------------------------------------------------------
# build_fact
# --------------------------------------------------------------------------------------
def test_fact_lags_and_first_milestones():
    src = source(
        [{"claim_id": "A", "reported_at": "2026-03-01T00:00:00Z"}],
        [ev("A", "accepted", "2026-03-01T01:30:00Z"), ev("A", "accepted", "2026-03-01T00:45:00Z"),
         ev("A", "documents_complete", "2026-03-02T00:00:00Z"),
         ev("A", "decided", "2026-03-03T12:00:00Z"), ev("A", "paid", "2026-03-04T00:00:00Z"),
         ev("A", "paid", "2026-03-09T00:00:00Z"),
         ev("A", "closed", "2026-03-05T06:00:00Z"), ev("A", "investigation_started", "2026-03-01T02:00:00Z")],
    )
    f = fact_of(src)
    assert list(f.columns) == list(FACT_COLUMNS)
    r = f.iloc[0]
    assert r.accepted_at == pd.Timestamp("2026-03-01T00:45:00Z")
    assert r.paid_at == pd.Timestamp("2026-03-04T00:00:00Z")
    assert r.report_to_accept_hours == pytest.approx(0.75, rel=1e-12)
    assert r.report_to_decision_days == pytest.approx(2.5, rel=1e-12)
    assert r.decision_to_payment_days == pytest.approx(0.5, rel=1e-12)
    assert r.report_to_close_days == pytest.approx(4.25, rel=1e-12)
    assert r.closed_date == dt.date(2026, 3, 5)  # 14:00 +08
    assert r.last_closed_at == r.closed_at and not r.is_open and r.reopened_count == 0
    # a claim with no events at all
    g = fact_of(source([{"claim_id": "Z"}])).iloc[0]
    assert g.is_open and pd.isna(g.closed_at) and g.closed_date is None
    assert np.isnan(g.report_to_accept_hours) and np.isnan(g.report_to_close_days)
    assert g.reopened_count == 0 and g.complaints == 0 and not g.reopened_within_30d
    assert g.customer_cost_total == 0.0 and g.trips == 0.0


def test_reopened_exactly_30_days_vs_one_second_more():
    close = "2026-03-01T00:00:00Z"
    src = source(
        [{"claim_id": c} for c in ("EXACT", "LATE", "SAME", "BEFORE")],
        [ev("EXACT", "closed", close), ev("EXACT", "reopened", "2026-03-31T00:00:00Z"),
         ev("LATE", "closed", close), ev("LATE", "reopened", "2026-03-31T00:00:01Z"),
         ev("SAME", "closed", close), ev("SAME", "reopened", close),
         ev("BEFORE", "reopened", "2026-02-28T00:00:00Z"), ev("BEFORE", "closed", close)],
    )
    f = fact_of(src).set_index("claim_id")
    assert f["reopened_within_30d"].to_dict() == {"EXACT": True, "LATE": False, "SAME": False, "BEFORE": False}
    assert f["reopened_count"].to_dict() == {"EXACT": 1, "LATE": 1, "SAME": 1, "BEFORE": 1}
    assert f["reopened_within_30d"].dtype == bool and f["reopened_count"].dtype == "int64"


def test_is_open_after_reopen():
    src = source(
        [{"claim_id": c} for c in ("REOPENED", "RECLOSED", "CLOSED", "NEVER")],
        [ev("REOPENED", "closed", "2026-03-02T00:00:00Z"), ev("REOPENED", "reopened", "2026-03-03T00:00:00Z"),
         ev("RECLOSED", "closed", "2026-03-02T00:00:00Z"), ev("RECLOSED", "reopened", "2026-03-03T00:00:00Z"),
         ev("RECLOSED", "closed", "2026-03-04T00:00:00Z"), ev("RECLOSED", "reopened", "2026-03-05T00:00:00Z"),
         ev("RECLOSED", "closed", "2026-03-06T00:00:00Z"),
         ev("CLOSED", "closed", "2026-03-02T00:00:00Z"),
         ev("NEVER", "accepted", "2026-03-02T00:00:00Z")],
    )
    f = fact_of(src).set_index("claim_id")
    assert f["is_open"].to_dict() == {"REOPENED": True, "RECLOSED": False, "CLOSED": False, "NEVER": True}
    assert f.at["RECLOSED", "reopened_count"] == 2
    assert f.at["RECLOSED", "closed_at"] == pd.Timestamp("2026-03-02T00:00:00Z")
    assert f.at["RECLOSED", "last_closed_at"] == pd.Timestamp("2026-03-06T00:00:00Z")
    # a reopened claim keeps its closed_date: it is in the closed cohort of its first close
    assert f.at["REOPENED", "closed_date"] == dt.date(2026, 3, 2)
    assert f["is_open"].dtype == bool


def test_costs_from_quantity_times_configured_rates():
    settings = default_settings(rates={"travel_per_trip": 25, "lost_work_per_hour": 12.5})
    src = source(
        [{"claim_id": "A"}, {"claim_id": "B"}],
        costs=[
            {"claim_id": "A", "cost_type": "travel", "quantity": 3},                   # 3 × 25 = 75
            {"claim_id": "A", "cost_type": "travel", "quantity": 2, "amount": 40},     # amount wins
            {"claim_id": "A", "cost_type": "lost_work_time", "quantity": 2.5},         # 2.5 × 12.5
            {"claim_id": "A", "cost_type": "lost_work_time", "quantity": 1, "amount": 7},
            {"claim_id": "A", "cost_type": "evidence_fee", "amount": 10},
            {"claim_id": "A", "cost_type": "evidence_fee", "quantity": 2, "amount": 4.5},
            {"claim_id": "B", "cost_type": "lost_work_time", "quantity": 8},           # 8 × 12.5
        ],
    )
    f = fact_of(src, settings).set_index("claim_id")
    assert f.at["A", "customer_cost_travel"] == pytest.approx(115.0)
    assert f.at["A", "customer_cost_lost_work"] == pytest.approx(31.25 + 7)
    assert f.at["A", "customer_cost_evidence"] == pytest.approx(14.5)
    assert f.at["A", "customer_cost_total"] == pytest.approx(115 + 38.25 + 14.5)
    assert f.at["A", "trips"] == pytest.approx(5.0) and f.at["A", "lost_work_hours"] == pytest.approx(3.5)
    assert (f.at["B", "customer_cost_travel"], f.at["B", "customer_cost_evidence"]) == (0.0, 0.0)
    assert f.at["B", "customer_cost_lost_work"] == pytest.approx(100.0)
    assert (f.at["B", "trips"], f.at["B", "lost_work_hours"]) == (0.0, 8.0)
    # the default rates give different numbers: the rates really are read from settings
    assert fact_of(src, SH).set_index("claim_id").at["A", "customer_cost_travel"] == pytest.approx(220.0)


def test_latest_survey_choice():
    src = source(
        [{"claim_id": c} for c in ("LATER", "TIE_UPD", "TIE_ID", "TIE_ID2", "NULL_LATEST", "NONE")],
        surveys=[
            # later responded_at wins, even though updated earlier
            {"claim_id": "LATER", "response_id": "r1", "responded_at": "2026-03-02T00:00:00Z",
             "updated_at": "2026-03-10T00:00:00Z", "csat": 1, "nps": 0, "effort": 1},
            {"claim_id": "LATER", "response_id": "r2", "responded_at": "2026-03-03T00:00:00Z",
             "updated_at": "2026-03-03T00:00:00Z", "csat": 5, "nps": 10, "effort": 7},
            # same responded_at: later updated_at wins
            {"claim_id": "TIE_UPD", "response_id": "z", "responded_at": "2026-03-03T00:00:00Z",
             "updated_at": "2026-03-04T00:00:00Z", "csat": 2, "nps": 2, "effort": 2},
            {"claim_id": "TIE_UPD", "response_id": "a", "responded_at": "2026-03-03T00:00:00Z",
             "updated_at": "2026-03-05T00:00:00Z", "csat": 3, "nps": 3, "effort": 3},
            # same responded_at and updated_at: greater response_id wins
            {"claim_id": "TIE_ID", "response_id": "b", "responded_at": "2026-03-03T00:00:00Z", "csat": 4},
            {"claim_id": "TIE_ID", "response_id": "a", "responded_at": "2026-03-03T00:00:00Z", "csat": 1},
            {"claim_id": "TIE_ID2", "response_id": "a", "responded_at": "2026-03-03T00:00:00Z", "csat": 1},
            {"claim_id": "TIE_ID2", "response_id": "b", "responded_at": "2026-03-03T00:00:00Z", "csat": 4},
            # the latest response has no csat: null, not the earlier answer
            {"claim_id": "NULL_LATEST", "responded_at": "2026-03-02T00:00:00Z", "csat": 5, "nps": 9},
            {"claim_id": "NULL_LATEST", "responded_at": "2026-03-04T00:00:00Z", "nps": 6, "effort": 4},
        ],
    )
    f = fact_of(src).set_index("claim_id")
    assert (f.at["LATER", "survey_csat"], f.at["LATER", "survey_nps"], f.at["LATER", "survey_effort"]) == (5, 10, 7)
    assert f.at["TIE_UPD", "survey_csat"] == 3
    assert f.at["TIE_ID", "survey_csat"] == 4 and f.at["TIE_ID2", "survey_csat"] == 4
    assert pd.isna(f.at["NULL_LATEST", "survey_csat"]) and f.at["NULL_LATEST", "survey_nps"] == 6
    assert pd.isna(f.at["NONE", "survey_csat"]) and pd.isna(f.at["NONE", "survey_nps"])
    assert f["survey_csat"].dtype == "Int64" and f["survey_effort"].dtype == "Int64"
    # source_updated_at: the newest updated_at over the claim and its rows
    assert f.at["LATER", "source_updated_at"] == pd.Timestamp("2026-03-10T00:00:00Z")
    assert f.at["NONE", "source_updated_at"] == pd.Timestamp("2026-03-01T00:00:00Z")


def test_fact_keeps_claim_order_ignores_orphans_and_extra_columns():
    src = source([{"claim_id": "B"}, {"claim_id": "A"}],
                 [ev("A", "closed", "2026-03-02T00:00:00Z"), ev("X", "closed", "2026-03-02T00:00:00Z")],
                 complaints=[{"claim_id": "A", "received_at": "2026-03-03T00:00:00Z"},
                             {"claim_id": "A", "received_at": "2026-03-04T00:00:00Z"}])
    claims = src["claims"].assign(extra=1)
    claims.index = [7, 3]
    f = build_fact(claims, src["events"], src["surveys"], src["complaints"], src["costs"], SH, KEY)
    assert list(f["claim_id"]) == ["B", "A"] and list(f.index) == [0, 1]
    assert list(f["complaints"]) == [0, 2] and f["complaints"].dtype == "int64"
    assert list(f["is_open"]) == [True, False]
    assert "extra" not in f.columns and "customer_id" not in f.columns
    assert f["customer_key"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert f.at[1, "customer_key"] != f.at[0, "customer_key"]


# --------------------------------------------------------------------------------------
# daily_service_metrics
# --------------------------------------------------------------------------------------
def test_percentiles_interpolate_linearly():
    hours = [1, 2, 4, 10]  # p50: rank 1.5 -> 3; p90: rank 2.7 -> 4 + 0.7 × 6 = 8.2
    claims, events, costs = [], [], []
    for i, h in enumerate(hours):
        cid = f"C{i}"
        claims.append({"claim_id": cid})
        events += [ev(cid, "accepted", pd.Timestamp("2026-03-01T00:00:00Z") + pd.Timedelta(hours=h)),
                   ev(cid, "closed", pd.Timestamp("2026-03-04T00:00:00Z") + pd.Timedelta(hours=h))]
    costs = [{"claim_id": "C0", "cost_type": "evidence_fee", "amount": 30},
             {"claim_id": "C1", "cost_type": "evidence_fee", "amount": 10}]  # others: 0, 0
    d = daily_of(source(claims, events, costs=costs))
    r = row(d, dt.date(2026, 3, 4))
    assert r.closed_claims == 4
    assert r.report_to_accept_hours_p50 == pytest.approx(3.0)
    assert r.report_to_accept_hours_p90 == pytest.approx(8.2)
    # report_to_close days: 3 + h/24 -> mean 3 + 17/96, p50 3 + 3/24, p90 3 + 8.2/24
    assert r.report_to_close_days_mean == pytest.approx(3 + 17 / 96)
    assert r.report_to_close_days_p50 == pytest.approx(3 + 3 / 24)
    assert r.report_to_close_days_p90 == pytest.approx(3 + 8.2 / 24)
    assert np.isnan(r.report_to_decision_days_p50)  # never decided: no values -> null
    # costs per claim 30, 10, 0, 0: mean 10, median 5 (no-cost claims count as 0)
    assert r.customer_cost_per_claim_mean == pytest.approx(10.0)
    assert r.customer_cost_per_claim_p50 == pytest.approx(5.0)
    assert np.isnan(r.customer_cost_to_payout_ratio)  # nothing paid
    assert r.decided_claims == 0 and np.isnan(r.paid_rate) and np.isnan(r.denial_rate)
    assert r.reopen_rate_30d == 0.0
    # cross-check with numpy's default (linear) method
    assert r.report_to_accept_hours_p90 == pytest.approx(np.quantile(hours, 0.9))


def test_rates_and_survey_metrics():
    claims = [
        {"claim_id": "P", "outcome": "paid", "paid_amount": 100},
        {"claim_id": "Q", "outcome": "partial", "paid_amount": 60},
        {"claim_id": "D", "outcome": "denied", "denial_reason": "fraud"},
        {"claim_id": "W", "outcome": "withdrawn"},
    ]
    events = [ev(c["claim_id"], "closed", "2026-03-04T04:00:00Z") for c in claims]
    events.append(ev("P", "reopened", "2026-03-10T00:00:00Z"))
    costs = [{"claim_id": "P", "cost_type": "travel", "quantity": 1}]  # 60 at default rates
    surveys = [  # responded 2026-03-06 +08
        {"claim_id": "P", "responded_at": "2026-03-06T01:00:00Z", "csat": 5, "nps": 10, "effort": 7},
        {"claim_id": "Q", "responded_at": "2026-03-06T01:00:00Z", "csat": 3, "nps": 8, "effort": 4},
        {"claim_id": "D", "responded_at": "2026-03-06T01:00:00Z", "csat": 1, "nps": 3},
        {"claim_id": "W", "responded_at": "2026-03-06T01:00:00Z", "nps": 9},
        {"claim_id": "GONE", "responded_at": "2026-03-06T01:00:00Z", "csat": 1, "nps": 0},  # not in fact
    ]
    complaints = [{"claim_id": "D", "received_at": "2026-03-06T01:00:00Z", "source": "regulator"},
                  {"claim_id": "D", "received_at": "2026-03-06T02:00:00Z", "source": "customer"}]
    d = daily_of(source(claims, events, surveys, complaints, costs))
    r = row(d, dt.date(2026, 3, 4))
    assert (r.closed_claims, r.decided_claims) == (4, 3)
    assert r.paid_rate == pytest.approx(2 / 3) and r.denial_rate == pytest.approx(1 / 3)
    assert r.reopen_rate_30d == pytest.approx(0.25)
    assert r.paid_amount_total == pytest.approx(160.0)
    assert r.customer_cost_to_payout_ratio == pytest.approx(60 / 160)
    assert r.trips_per_claim_mean == pytest.approx(0.25)
    s = row(d, dt.date(2026, 3, 6))
    assert s.survey_responses == 4 and s.closed_claims == 0
    assert s.csat_mean == pytest.approx(3.0)                      # 5, 3, 1
    assert s.csat_satisfied_rate == pytest.approx(1 / 3)
    assert s.nps == pytest.approx(100 * (2 - 1) / 4)              # 10, 9 vs 3; 8 passive
    assert s.effort_mean == pytest.approx(5.5)
    assert (s.complaints_received, s.regulator_complaints) == (2, 1)
    assert row(d, dt.date(2026, 3, 6), pl="auto", ch="app", rg="BJ").nps == pytest.approx(25.0)


def test_empty_inputs_give_empty_outputs_with_columns():
    src = source()
    f = fact_of(src)
    assert list(f.columns) == list(FACT_COLUMNS) and len(f) == 0
    assert f["reopened_count"].dtype == "int64" and f["is_open"].dtype == bool
    d = daily_service_metrics(f, src["surveys"], src["complaints"], SH)
    assert list(d.columns) == list(DAILY_COLUMNS) and len(d) == 0
    assert d["closed_claims"].dtype == "int64" and d["nps"].dtype == "float64"
    a = daily_standard_attainment(f, SH)
    assert list(a.columns) == list(ATTAINMENT_COLUMNS) and len(a) == 0
    a0 = daily_standard_attainment(f, default_settings(standards=[]))
    assert list(a0.columns) == list(ATTAINMENT_COLUMNS) and len(a0) == 0


def test_null_claim_costs_count_as_zero():
    # a fact read back from elsewhere may carry nulls: a claim without costs still counts as 0
    claims = [closed_claim(c) for c in ("A", "B")]
    src = source([c for c, _ in claims], [e for _, es in claims for e in es],
                 costs=[{"claim_id": "A", "cost_type": "evidence_fee", "amount": 30}])
    fact = fact_of(src)
    fact.loc[fact["claim_id"] == "B", ["customer_cost_total", "trips", "lost_work_hours"]] = np.nan
    r = row(daily_service_metrics(fact, src["surveys"], src["complaints"], SH), dt.date(2026, 3, 4))
    assert r.customer_cost_per_claim_mean == pytest.approx(15.0)
    assert r.customer_cost_per_claim_p50 == pytest.approx(15.0)
    assert r.customer_cost_total == pytest.approx(30.0)
    assert r.trips_per_claim_mean == 0.0 and r.lost_work_hours_mean == 0.0


def test_date_with_only_complaints():
    src = source([{"claim_id": "A", "region": "SH"}],
                 complaints=[{"claim_id": "A", "received_at": "2026-03-05T01:00:00Z", "source": "regulator"}])
    d = daily_of(src)
    assert len(d) == 5  # one row per grouping set
    r = row(d, dt.date(2026, 3, 5), rg="SH")
    assert (r.complaints_received, r.regulator_complaints) == (1, 1)
    for col in ("closed_claims", "decided_claims", "paid_amount_total", "customer_cost_travel",
                "customer_cost_evidence", "customer_cost_lost_work", "customer_cost_total", "survey_responses"):
        assert r[col] == 0, col
    for col in ("reopen_rate_30d", "customer_cost_per_claim_mean", "customer_cost_per_claim_p50",
                "trips_per_claim_mean", "lost_work_hours_mean", "report_to_close_days_mean",
                "report_to_accept_hours_p50", "paid_rate", "csat_mean", "nps", "effort_mean",
                "customer_cost_to_payout_ratio"):
        assert np.isnan(r[col]), col
    assert daily_standard_attainment(fact_of(src), SH).empty  # no closed claim, no standard rows


def _mixed_source():
    lines, channels, regions = ("auto", "health"), ("app", "web"), ("BJ", "SH", "GD")
    claims, events, costs, surveys, complaints = [], [], [], [], []
    for i, (pl, ch, rg) in enumerate(list(itertools.product(lines, channels, regions)) * 2):
        cid = f"K{i}"
        day = 4 + i % 3
        claims.append({"claim_id": cid, "product_line": pl, "channel": ch, "region": rg,
                       "outcome": ("paid", "denied", "withdrawn")[i % 3], "paid_amount": 10.0 * i if i % 3 == 0 else None,
                       "complexity": ("simple", "complex")[i % 2]})
        events += [ev(cid, "accepted", f"2026-03-01T0{i % 9}:00:00Z"),
                   ev(cid, "decided", f"2026-03-02T{i % 24:02d}:00:00Z"),
                   ev(cid, "closed", f"2026-03-0{day}T0{i % 7}:00:00Z")]
        if i % 3 == 0:
            events.append(ev(cid, "paid", f"2026-03-03T{i % 24:02d}:00:00Z"))
        if i % 4 == 0:
            events.append(ev(cid, "reopened", f"2026-03-1{i % 10}T00:00:00Z"))
        costs.append({"claim_id": cid, "cost_type": "travel", "quantity": i % 4})
        surveys.append({"claim_id": cid, "responded_at": f"2026-03-0{day + 1}T02:00:00Z",
                        "csat": 1 + i % 5, "nps": i % 11, "effort": 1 + i % 7})
        if i % 5 == 0:
            complaints.append({"claim_id": cid, "received_at": f"2026-03-0{day}T02:00:00Z",
                               "source": ("customer", "regulator")[i % 2]})
    return source(claims, events, surveys, complaints, costs)


def test_grouping_set_rollups():
    d = daily_of(_mixed_source())
    sums = ["closed_claims", "decided_claims", "paid_amount_total", "customer_cost_travel",
            "customer_cost_total", "survey_responses", "complaints_received", "regulator_complaints"]
    finest = d[(d.product_line != ALL) & (d.channel != ALL) & (d.region != ALL)]
    assert len(finest) > 0
    for dims in (("product_line",), ("channel",), ("region",), ()):
        rolled = set(("product_line", "channel", "region")) - set(dims)
        level = d[(d[list(rolled)] == ALL).all(axis=1) & (d[list(dims)] != ALL).all(axis=1)] if dims else \
            d[(d[["product_line", "channel", "region"]] == ALL).all(axis=1)]
        expect = finest.groupby(["metric_date", *dims])[sums].sum()
        got = level.set_index(["metric_date", *dims])[sums].sort_index()
        assert len(got) == len(expect), dims
        pd.testing.assert_frame_equal(got, expect.sort_index(), check_dtype=False, check_exact=False)
    # no mixed rows: every row is one of the five grouping sets
    pattern = (d[["product_line", "channel", "region"]] == ALL).apply(tuple, axis=1)
    assert set(pattern) == {(True, True, True), (False, True, True), (True, False, True),
                            (True, True, False), (False, False, False)}
    # a percentile of the whole is not a sum of parts: ALL must be recomputed, check one by hand
    f = fact_of(_mixed_source())
    day = f[f["closed_date"] == dt.date(2026, 3, 4)]
    r = row(d, dt.date(2026, 3, 4))
    assert r.report_to_accept_hours_p90 == pytest.approx(np.quantile(day["report_to_accept_hours"], 0.9))
    assert r.customer_cost_per_claim_p50 == pytest.approx(np.quantile(day["customer_cost_total"], 0.5))
    # sorted by the key
    keys = list(zip(d.metric_date, d.product_line, d.channel, d.region))
    assert keys == sorted(keys)


def test_dates_filter():
    src = _mixed_source()
    full = daily_of(src)
    wanted = [dt.date(2026, 3, 5), dt.date(2026, 3, 7)]
    part = daily_of(src, dates=wanted)
    assert set(part["metric_date"]) == set(wanted)
    pd.testing.assert_frame_equal(part, full[full["metric_date"].isin(wanted)].reset_index(drop=True))
    # 03-07 has responses only (closes are 03-04..03-06, responses a day later)
    r = row(part, dt.date(2026, 3, 7))
    assert r.closed_claims == 0 and r.survey_responses > 0
    assert daily_of(src, dates=[]).empty
    assert daily_of(src, dates=[dt.date(2030, 1, 1)]).empty
    fact = fact_of(src)
    att = daily_standard_attainment(fact, SH, dates=[dt.date(2026, 3, 5)])
    assert set(att["metric_date"]) == {dt.date(2026, 3, 5)}
    full_att = daily_standard_attainment(fact, SH)
    pd.testing.assert_frame_equal(
        att, full_att[full_att["metric_date"] == dt.date(2026, 3, 5)].reset_index(drop=True))


# --------------------------------------------------------------------------------------
# daily_standard_attainment
# --------------------------------------------------------------------------------------
def test_standards_with_applies_to_lists():
    settings = default_settings(standards=[
        {"id": "close_2d", "measure": "report_to_close_days", "max": 2, "target_rate": 0.5,
         "applies_to": {"product_line": ["auto", "health"], "channel": "app"}},
        {"id": "trips_1", "measure": "trips", "max": 1, "target_rate": 0.9},
    ])
    claims = [  # all reported 2026-03-01 00:00 UTC
        {"claim_id": "A", "product_line": "auto", "channel": "app"},     # 1.5 d: eligible, met
        {"claim_id": "H", "product_line": "health", "channel": "app"},   # 2.0 d: met (<=)
        {"claim_id": "L", "product_line": "life", "channel": "app"},     # not applicable
        {"claim_id": "W", "product_line": "auto", "channel": "web"},     # not applicable
        {"claim_id": "S", "product_line": "health", "channel": "app"},   # 2.5 d: not met
    ]
    close = {"A": "2026-03-02T12:00:00Z", "H": "2026-03-03T00:00:00Z", "L": "2026-03-02T00:00:00Z",
             "W": "2026-03-02T00:00:00Z", "S": "2026-03-03T12:00:00Z"}
    # all close on 2026-03-02 or 03-03 UTC, i.e. 03-02 / 03-03 +08 (00:00 +08 = 16:00 UTC prev.)
    events = [ev(c, "closed", t) for c, t in close.items()]
    costs = [{"claim_id": "S", "cost_type": "travel", "quantity": 2}]
    src = source(claims, events, costs=costs)
    fact = fact_of(src, settings)
    a = daily_standard_attainment(fact, settings)
    assert list(a.columns) == list(ATTAINMENT_COLUMNS)

    def get(date, std, pl=ALL, ch=ALL, rg=ALL):
        sel = a[(a.metric_date == date) & (a.standard_id == std) & (a.product_line == pl)
                & (a.channel == ch) & (a.region == rg)]
        assert len(sel) == 1
        return sel.iloc[0]

    d2, d3 = dt.date(2026, 3, 2), dt.date(2026, 3, 3)
    r = get(d2, "close_2d")  # A, L, W closed on 03-02: only A applies
    assert (r.eligible_claims, r.met_claims, r.attainment_rate, r.meets_target) == (1, 1, 1.0, True)
    r = get(d3, "close_2d")  # H met, S not
    assert (r.eligible_claims, r.met_claims, r.attainment_rate) == (2, 1, 0.5)
    assert r.meets_target is True or r.meets_target == True  # noqa: E712 (0.5 >= 0.5)
    assert r.measure == "report_to_close_days" and r.max_value == 2.0 and r.target_rate == 0.5
    r = get(d2, "close_2d", pl="life")
    assert (r.eligible_claims, r.met_claims) == (0, 0) and np.isnan(r.attainment_rate)
    assert r.meets_target is pd.NA
    r = get(d2, "close_2d", ch="web")
    assert r.eligible_claims == 0
    # trips: every closed claim is eligible (trips is 0 when none); S has 2 trips > 1
    r = get(d3, "trips_1")
    assert (r.eligible_claims, r.met_claims, r.attainment_rate) == (2, 1, 0.5)
    assert r.meets_target == False  # noqa: E712
    r = get(d2, "trips_1")
    assert (r.eligible_claims, r.met_claims, bool(r.meets_target)) == (3, 3, True)
    # one row per standard for each date × combination with a closed claim
    d = daily_service_metrics(fact, src["surveys"], src["complaints"], settings)
    assert len(a) == 2 * (d["closed_claims"] > 0).sum()
    assert a["meets_target"].dtype == "boolean"
    keys = list(zip(a.metric_date, a.standard_id, a.product_line, a.channel, a.region))
    assert keys == sorted(keys)


def test_standard_values_are_quoted_not_pasted_into_the_model():
    # A configured value is data: a quote in it matches that exact team name, and cannot
    # end the literal and change the model's SQL.
    team = "O'Neil'); DROP TABLE fact_claim_service; --"
    settings = default_settings(standards=[
        {"id": "close_2d", "measure": "report_to_close_days", "max": 2.5, "target_rate": 0.5,
         "applies_to": {"team": [team, "T9"]}},
    ])
    claims = [{"claim_id": "Q", "team": team}, {"claim_id": "T", "team": "T1"}]
    events = [ev("Q", "closed", "2026-03-02T12:00:00Z"), ev("T", "closed", "2026-03-02T12:00:00Z")]
    src = source(claims, events)
    a = daily_standard_attainment(fact_of(src, settings), settings)
    r = a[(a.product_line == ALL) & (a.channel == ALL) & (a.region == ALL)].iloc[0]
    assert (r.standard_id, r.eligible_claims, r.met_claims, r.max_value) == ("close_2d", 1, 1, 2.5)
    from claimpulse import models

    assert models.literal(team) == "'O''Neil''); DROP TABLE fact_claim_service; --'"
    with pytest.raises(ValueError):
        models.literal(float("inf"))
