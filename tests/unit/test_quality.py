"""Quality not traded for speed (METRICS.md): claim measures, daily_quality_metrics, the guard.

The fixture is hand-worked: every expected number below is counted from the claims here.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from claimpulse import pipeline, quality
from claimpulse.dictionary import columns
from claimpulse.quality import speed_quality_alerts

from ..helpers.metric_frames import KEY, SH, frame

D = dt.date(2026, 3, 4)          # every closed claim of the fixture closes on this local date
REPORTED = "2026-03-01T00:00:00Z"
CLOSE = "2026-03-04T04:00:00Z"   # 12:00 +08 on 03-04: 3 days 4 hours after the report


def e(claim, kind, at, role, event_id=None):
    row = {"claim_id": claim, "event_type": kind, "occurred_at": at, "actor_role": role}
    if event_id:
        row["event_id"] = event_id
    return row


# claim -> (claim row, events). Each closed claim but the first-time-right ones fails
# first_time_right for exactly one reason; comments give touches / handoffs.
CLAIMS = {
    # normal_payout, T1: intake, handler, approver, (system), handler -> 4 touches, 3 handoffs
    "P1": ({"outcome": "paid", "paid_amount": 100.0}, [
        e("P1", "accepted", "2026-03-01T01:00:00Z", "intake"),
        e("P1", "documents_requested", "2026-03-01T02:00:00Z", "handler"),
        e("P1", "decided", "2026-03-01T03:00:00Z", "approver"),
        e("P1", "paid", "2026-03-02T00:00:00Z", "system"),
        e("P1", "closed", CLOSE, "handler")]),
    # normal_payout (partial), T1, documents asked for twice: fails ask_once only
    "P2": ({"outcome": "partial", "paid_amount": 50.0}, [
        e("P2", "accepted", "2026-03-01T01:00:00Z", "intake"),
        e("P2", "documents_requested", "2026-03-01T02:00:00Z", "handler"),
        e("P2", "documents_requested", "2026-03-02T02:00:00Z", "handler"),
        e("P2", "closed", "2026-03-04T10:00:00Z", "handler")]),
    # normal_payout, T1. A tie: E10 (investigator) and E9 (handler) at the same instant; as
    # text E10 < E9, so intake, investigator, handler, handler -> 2 handoffs (3 if the ids
    # were compared as numbers).
    "H": ({"outcome": "paid", "paid_amount": 100.0}, [
        e("H", "accepted", "2026-03-01T01:00:00Z", "intake", "E1"),
        e("H", "investigation_started", "2026-03-01T05:00:00Z", "investigator", "E10"),
        e("H", "decided", "2026-03-01T05:00:00Z", "handler", "E9"),
        e("H", "closed", "2026-03-03T16:00:00Z", "handler", "E11")]),
    # non_disclosure, T2, two complaints: fails "no complaint" only
    "N1": ({"outcome": "denied", "denial_reason": "non_disclosure", "team": "T2"}, [
        e("N1", "accepted", "2026-03-01T01:00:00Z", "intake"),
        e("N1", "closed", CLOSE, "approver")]),
    # fraud, no team, reopened 6 days after the close and closed again: fails reopened_within_30d
    "F1": ({"outcome": "denied", "denial_reason": "fraud", "team": None}, [
        e("F1", "accepted", "2026-03-01T01:00:00Z", "intake"),
        e("F1", "investigation_started", "2026-03-01T06:00:00Z", "investigator"),
        e("F1", "closed", CLOSE, "approver"),
        e("F1", "reopened", "2026-03-10T04:00:00Z", "handler"),
        e("F1", "closed", "2026-03-12T04:00:00Z", "handler")]),
    # other_denial (not_covered), T2, reopened 37 days after the close and still open: fails is_open
    "O1": ({"outcome": "denied", "denial_reason": "not_covered", "team": "T2"}, [
        e("O1", "accepted", "2026-03-01T01:00:00Z", "intake"),
        e("O1", "closed", CLOSE, "approver"),
        e("O1", "reopened", "2026-04-10T04:00:00Z", "handler")]),
    # withdrawn, T1, closed by the system: 0 touches, first time right
    "W1": ({"outcome": "withdrawn"}, [e("W1", "closed", CLOSE, "system")]),
    # undecided (no outcome) but closed, T2: 1 touch, first time right
    "U2": ({"outcome": None, "team": "T2"}, [e("U2", "closed", CLOSE, "handler")]),
    # undecided and never closed: fails "has a closed event"; in no daily row
    "U1": ({"outcome": None}, [e("U1", "accepted", "2026-03-01T01:00:00Z", "intake")]),
}
EXPECTED_FACT = {  # claim: customer_group, document_requests, ask_once_met, touches, handoffs, first_time_right
    "P1": ("normal_payout", 1, True, 4, 3, True),
    "P2": ("normal_payout", 2, False, 4, 1, False),
    "H": ("normal_payout", 0, True, 4, 2, True),
    "N1": ("non_disclosure", 0, True, 2, 1, False),
    "F1": ("fraud", 0, True, 5, 3, False),
    "O1": ("other_denial", 0, True, 3, 2, False),
    "W1": ("withdrawn", 0, True, 0, 0, True),
    "U2": ("undecided", 0, True, 1, 0, True),
    "U1": ("undecided", 0, True, 1, 0, False),
}


def accepted_frames() -> dict[str, pd.DataFrame]:
    claims = [{"claim_id": cid, "team": "T1", "reported_at": REPORTED, **row}
              for cid, (row, _) in CLAIMS.items()]
    events = [ev for _, evs in CLAIMS.values() for ev in evs]
    surveys = [  # P1: the later response counts; P2: a tie on responded_at, R9 > R10 as text
        {"claim_id": "P1", "response_id": "R1", "responded_at": "2026-03-05T00:00:00Z", "csat": 2},
        {"claim_id": "P1", "response_id": "R2", "responded_at": "2026-03-06T00:00:00Z", "csat": 5},
        {"claim_id": "P2", "response_id": "R10", "responded_at": "2026-03-05T00:00:00Z", "csat": 1},
        {"claim_id": "P2", "response_id": "R9", "responded_at": "2026-03-05T00:00:00Z", "csat": 3},
        {"claim_id": "N1", "response_id": "R3", "responded_at": "2026-03-05T00:00:00Z", "csat": None},
        {"claim_id": "W1", "response_id": "R4", "responded_at": "2026-03-05T00:00:00Z", "csat": 4},
    ]
    complaints = [{"claim_id": "N1", "received_at": "2026-03-05T00:00:00Z"},
                  {"claim_id": "N1", "received_at": "2026-04-20T00:00:00Z"}]
    costs = [{"claim_id": "P1", "cost_type": "evidence_fee", "quantity": 1, "amount": 30.0,
              "currency": "CNY"}]
    return {"claims": frame("claims", claims), "claim_events": frame("claim_events", events),
            "surveys": frame("surveys", surveys), "complaints": frame("complaints", complaints),
            "customer_costs": frame("customer_costs", costs)}


@pytest.fixture(scope="module")
def outputs() -> pipeline.Outputs:
    return pipeline.compute(accepted_frames(), SH, KEY)


def test_claim_level_quality_measures(outputs):
    f = outputs.fact.set_index("claim_id")
    got = {cid: (f.at[cid, "customer_group"], int(f.at[cid, "document_requests"]),
                 bool(f.at[cid, "ask_once_met"]), int(f.at[cid, "touches"]),
                 int(f.at[cid, "handoffs"]), bool(f.at[cid, "first_time_right"])) for cid in CLAIMS}
    assert got == EXPECTED_FACT
    # the reasons the failing claims fail, one each
    assert bool(f.at["O1", "is_open"]) and not bool(f.at["O1", "reopened_within_30d"])
    assert bool(f.at["F1", "reopened_within_30d"]) and not bool(f.at["F1", "is_open"])
    assert int(f.at["N1", "complaints"]) == 2
    assert pd.isna(f.at["U1", "closed_at"])


def test_handoff_ties_follow_event_id_as_text():
    frames = accepted_frames()
    ev = frames["claim_events"]
    # Swap the tied ids: now the handler event (E10) sorts before the investigator's (E9).
    ev.loc[ev["event_id"] == "E10", "event_id"] = "tmp"
    ev.loc[ev["event_id"] == "E9", "event_id"] = "E10"
    ev.loc[ev["event_id"] == "tmp", "event_id"] = "E9"
    fact = pipeline.compute(frames, SH, KEY).fact.set_index("claim_id")
    assert int(fact.at["H", "handoffs"]) == 3   # intake, handler, investigator, handler


# metric_date 2026-03-04, (customer_group, team) -> expected columns, counted by hand:
# closed claims P1 P2 H (normal_payout, T1), N1 (non_disclosure, T2), F1 (fraud, UNASSIGNED),
# O1 (other_denial, T2), W1 (withdrawn, T1), U2 (undecided, T2). Report-to-close days:
# 3 1/6 for all but P2 (3 5/12) and H (2 2/3).
RTC = {"P1": 19 / 6, "P2": 41 / 12, "H": 8 / 3, "N1": 19 / 6, "F1": 19 / 6, "O1": 19 / 6,
       "W1": 19 / 6, "U2": 19 / 6}
EXPECTED_DAILY = {
    # closed, reopen, with_complaint, complaints, complaint_rate, with_request, re_request,
    # ask_once, ftr, csat, cost, touches, handoffs
    ("ALL", "ALL"): (8, 1 / 8, 1, 2, 1 / 8, 2, 1 / 2, 7 / 8, 4 / 8, 4.0, 30 / 8, 23 / 8, 12 / 8),
    ("ALL", "T1"): (4, 0.0, 0, 0, 0.0, 2, 1 / 2, 3 / 4, 3 / 4, 4.0, 30 / 4, 12 / 4, 6 / 4),
    ("ALL", "T2"): (3, 0.0, 1, 2, 1 / 3, 0, None, 1.0, 1 / 3, None, 0.0, 6 / 3, 3 / 3),
    ("ALL", "UNASSIGNED"): (1, 1.0, 0, 0, 0.0, 0, None, 1.0, 0.0, None, 0.0, 5.0, 3.0),
    ("normal_payout", "ALL"): (3, 0.0, 0, 0, 0.0, 2, 1 / 2, 2 / 3, 2 / 3, 4.0, 10.0, 4.0, 2.0),
    ("normal_payout", "T1"): (3, 0.0, 0, 0, 0.0, 2, 1 / 2, 2 / 3, 2 / 3, 4.0, 10.0, 4.0, 2.0),
    ("non_disclosure", "ALL"): (1, 0.0, 1, 2, 1.0, 0, None, 1.0, 0.0, None, 0.0, 2.0, 1.0),
    ("non_disclosure", "T2"): (1, 0.0, 1, 2, 1.0, 0, None, 1.0, 0.0, None, 0.0, 2.0, 1.0),
    ("fraud", "ALL"): (1, 1.0, 0, 0, 0.0, 0, None, 1.0, 0.0, None, 0.0, 5.0, 3.0),
    ("fraud", "UNASSIGNED"): (1, 1.0, 0, 0, 0.0, 0, None, 1.0, 0.0, None, 0.0, 5.0, 3.0),
    ("other_denial", "ALL"): (1, 0.0, 0, 0, 0.0, 0, None, 1.0, 0.0, None, 0.0, 3.0, 2.0),
    ("other_denial", "T2"): (1, 0.0, 0, 0, 0.0, 0, None, 1.0, 0.0, None, 0.0, 3.0, 2.0),
    ("withdrawn", "ALL"): (1, 0.0, 0, 0, 0.0, 0, None, 1.0, 1.0, 4.0, 0.0, 0.0, 0.0),
    ("withdrawn", "T1"): (1, 0.0, 0, 0, 0.0, 0, None, 1.0, 1.0, 4.0, 0.0, 0.0, 0.0),
    ("undecided", "ALL"): (1, 0.0, 0, 0, 0.0, 0, None, 1.0, 1.0, None, 0.0, 1.0, 0.0),
    ("undecided", "T2"): (1, 0.0, 0, 0, 0.0, 0, None, 1.0, 1.0, None, 0.0, 1.0, 0.0),
}
MEMBERS = {("ALL", "ALL"): list(RTC), ("ALL", "T1"): ["P1", "P2", "H", "W1"],
           ("ALL", "T2"): ["N1", "O1", "U2"], ("normal_payout", "ALL"): ["P1", "P2", "H"],
           ("normal_payout", "T1"): ["P1", "P2", "H"]}
DAILY_VALUES = ("closed_claims", "reopen_rate_30d", "claims_with_complaint", "complaints",
                "complaint_rate", "claims_with_request", "re_request_rate", "ask_once_rate",
                "first_time_right_rate", "csat_mean", "customer_cost_per_claim_mean", "touches_mean",
                "handoffs_mean")


def load_fixture(wh, outputs, run_id="fixture") -> None:
    meta = {"loaded_at": pd.Timestamp("2026-03-20", tz="UTC"), "run_id": run_id}
    wh.ensure_schema()
    with wh.transaction() as conn:
        wh.insert_frame(conn, "fact_claim_service", outputs.fact.assign(**meta))
        wh.insert_frame(conn, "fact_survey_response", outputs.surveys.assign(**meta))
        wh.insert_frame(conn, "fact_complaint", outputs.complaints.assign(**meta))
        n = quality.recompute_quality_dates(wh, conn, [D, dt.date(2026, 3, 5)], meta)
    assert n == {"daily_quality_metrics": len(EXPECTED_DAILY)}


def test_daily_quality_metrics_match_the_hand_worked_fixture(warehouse_target, outputs):
    """The SQL model on DuckDB and on PostgreSQL gives the hand-worked numbers."""
    wh = warehouse_target.warehouse()
    load_fixture(wh, outputs)
    with wh.transaction() as conn:
        daily = wh.read_table(conn, "daily_quality_metrics")
    assert list(daily.columns) == columns("daily_quality_metrics")
    assert set(pd.to_datetime(daily["metric_date"]).dt.date) == {D}   # no row for an open claim
    got = {(r.customer_group, r.team): r for r in daily.itertuples()}
    assert set(got) == set(EXPECTED_DAILY)
    for key, want in EXPECTED_DAILY.items():
        r = got[key]
        for col, w in zip(DAILY_VALUES, want):
            v = getattr(r, col)
            if w is None:
                assert pd.isna(v), (key, col, v)
            else:
                assert v == pytest.approx(w, rel=1e-12, abs=1e-12), (key, col, v, w)
    for key, members in MEMBERS.items():
        values = [RTC[c] for c in members]
        assert got[key].report_to_close_days_p50 == pytest.approx(np.quantile(values, 0.5), rel=1e-12)
        assert got[key].report_to_close_days_p90 == pytest.approx(np.quantile(values, 0.9), rel=1e-12)
    assert got[("fraud", "UNASSIGNED")].report_to_close_days_p50 == pytest.approx(19 / 6)


def test_restating_a_date_replaces_its_rows(warehouse_target, outputs):
    wh = warehouse_target.warehouse()
    load_fixture(wh, outputs)
    meta = {"loaded_at": pd.Timestamp("2026-03-21", tz="UTC"), "run_id": "again"}
    with wh.transaction() as conn:
        conn.exec_driver_sql(f"DELETE FROM {wh.table('fact_claim_service')} WHERE claim_id = 'F1'")
        quality.recompute_quality_dates(wh, conn, [D], meta)
        daily = wh.read_table(conn, "daily_quality_metrics")
    assert set(daily["run_id"]) == {"again"}
    assert len(daily) == len(EXPECTED_DAILY) - 3   # fraud, fraud x UNASSIGNED, ALL x UNASSIGNED gone
    total = daily[(daily["customer_group"] == "ALL") & (daily["team"] == "ALL")].iloc[0]
    assert total.closed_claims == 7 and total.reopen_rate_30d == 0.0


# --------------------------------------------------------------------------- the guard
LATEST = dt.date(2026, 6, 30)            # window_end 05-31; after 05-04..05-31; before 04-06..05-03
BEFORE_DAY, AFTER_DAY, LATE_DAY = dt.date(2026, 4, 20), dt.date(2026, 5, 20), dt.date(2026, 6, 15)
NOW = pd.Timestamp("2026-07-01T02:00:00Z")


def claims(n, day, team="A", product_line="auto", rtc=10.0, reopened=0, complained=0,
           requests=None) -> pd.DataFrame:
    """n closed claims on `day`: the first `reopened` reopened, the first `complained` with a
    complaint; `requests` a list of document_requests per claim (default 0)."""
    return pd.DataFrame({
        "claim_id": [f"{team}-{product_line}-{day}-{i}-{rtc}" for i in range(n)],
        "team": pd.array([team] * n, dtype="string"),
        "product_line": [product_line] * n,
        "closed_date": [day] * n,
        "report_to_close_days": [rtc] * n,
        "reopened_within_30d": [i < reopened for i in range(n)],
        "complaints": [1 if i < complained else 0 for i in range(n)],
        "document_requests": requests if requests is not None else [0] * n,
    })


NO_HISTORY = pd.DataFrame(columns=["window_end", "dimension", "value", "measure"])


def alerts_of(*frames, history=NO_HISTORY, latest=LATEST):
    return speed_quality_alerts(pd.concat(frames, ignore_index=True), latest, history, NOW)


def test_windows():
    w = quality.guard_windows(LATEST)
    assert w == {"window_end": dt.date(2026, 5, 31), "after_start": dt.date(2026, 5, 4),
                 "before_end": dt.date(2026, 5, 3), "before_start": dt.date(2026, 4, 6)}


def test_exactly_ten_percent_and_exactly_two_points_raise_an_alert():
    # p50 0.3 -> 0.27: (0.3 - 0.27) / 0.3 is 0.0999999... in floating point; the reopen rate
    # 1/100 -> 3/100 rises by 0.019999... : both count as exactly at the threshold.
    got = alerts_of(claims(100, BEFORE_DAY, rtc=0.3, reopened=1),
                    claims(100, AFTER_DAY, rtc=0.27, reopened=3))
    team = got[got["dimension"] == "team"]
    assert len(team) == 1
    a = team.iloc[0]
    assert (a.window_end, a.value, a.measure) == (dt.date(2026, 5, 31), "A", "reopen_rate_30d")
    assert (a.cycle_p50_before, a.cycle_p50_after) == (0.3, 0.27)
    assert (a.rate_before, a.rate_after, a.claims_before, a.claims_after) == (0.01, 0.03, 100, 100)
    assert a.raised_at == NOW
    # the same claims make the same alert for their product line
    pl = got[got["dimension"] == "product_line"]
    assert list(pl["value"]) == ["auto"] and list(pl["measure"]) == ["reopen_rate_30d"]
    assert list(got.columns) == list(quality.ALERT_COLUMNS)


def test_just_below_either_threshold_raises_nothing():
    slower = alerts_of(claims(100, BEFORE_DAY, rtc=10.0, reopened=1),      # 9.9% faster
                       claims(100, AFTER_DAY, rtc=9.01, reopened=10))
    smaller_rise = alerts_of(claims(100, BEFORE_DAY, rtc=10.0, reopened=1),  # 1.9 points
                             claims(1000, AFTER_DAY, rtc=5.0, reopened=29))
    assert slower.empty and smaller_rise.empty


def test_29_claims_in_a_window_raise_nothing_30_do():
    big_change = dict(rtc=5.0, complained=10)
    assert alerts_of(claims(29, BEFORE_DAY), claims(100, AFTER_DAY, **big_change)).empty
    assert alerts_of(claims(100, BEFORE_DAY), claims(29, AFTER_DAY, **big_change)).empty
    got = alerts_of(claims(30, BEFORE_DAY), claims(30, AFTER_DAY, **big_change))
    assert set(zip(got["dimension"], got["measure"])) == {("team", "complaint_rate"),
                                                          ("product_line", "complaint_rate")}
    assert set(got["claims_before"]) == {30}


def test_claims_without_30_days_of_follow_up_do_not_count():
    base = [claims(50, BEFORE_DAY), claims(50, AFTER_DAY, rtc=10.0)]
    # 200 fast, reopened claims closed after window_end (06-15, less than 30 days before the
    # latest close): counted, they would make an alert on every measure.
    late = claims(200, LATE_DAY, rtc=1.0, reopened=200, complained=200)
    assert alerts_of(*base, late).empty
    # the same claims 20 days earlier (inside the after window) do raise alerts
    early = claims(200, AFTER_DAY, rtc=1.0, reopened=200, complained=200)
    got = alerts_of(*base, early)
    assert set(got["measure"]) == {"reopen_rate_30d", "complaint_rate"}
    assert set(got["claims_after"]) == {250}


def test_null_team_is_unassigned_and_null_rates_raise_nothing():
    before = claims(40, BEFORE_DAY, team=None, requests=[0] * 40)           # no request: rate null
    after = claims(40, AFTER_DAY, team=None, rtc=5.0, requests=[2] * 40)    # all re-requested
    got = alerts_of(before, after)
    assert got.empty
    before = claims(40, BEFORE_DAY, team=None, requests=[1] * 40)           # rate 0
    got = alerts_of(before, after)
    assert set(zip(got["dimension"], got["value"], got["measure"])) == {
        ("team", "UNASSIGNED", "re_request_rate"), ("product_line", "auto", "re_request_rate")}
    assert set(got["rate_after"]) == {1.0}


def test_an_alert_is_not_raised_again_within_28_days():
    data = (claims(100, BEFORE_DAY), claims(100, AFTER_DAY, rtc=5.0, reopened=20))
    first = alerts_of(*data)
    assert len(first) == 2        # team A and product line auto, reopen_rate_30d
    # the same window again (a rerun): nothing new
    assert alerts_of(*data, history=first).empty
    # a stored alert 28 days before this window_end still blocks; 29 days does not
    for gap, blocked in ((28, True), (29, False)):
        history = first.assign(window_end=dt.date(2026, 5, 31) - dt.timedelta(days=gap))
        again = alerts_of(*data, history=history)
        assert again.empty if blocked else len(again) == 2, gap
    # another measure of the same team is not blocked by it
    history = first.assign(measure="complaint_rate")
    assert len(alerts_of(*data, history=history)) == 2
    # a stored alert 28 days *after* (data moved back) blocks as well
    history = first.assign(window_end=dt.date(2026, 6, 28))
    assert alerts_of(*data, history=history).empty


def test_evaluate_guard_stores_alerts_once(warehouse_target):
    """In the warehouse: latest closed_date from fact_claim_service, history never rewritten."""
    wh = warehouse_target.warehouse()
    wh.ensure_schema()
    facts = pd.concat([claims(40, BEFORE_DAY), claims(40, AFTER_DAY, rtc=5.0, reopened=8),
                       claims(1, LATEST, team="B", rtc=1.0)], ignore_index=True)
    facts["closed_at"] = pd.to_datetime(facts["closed_date"].astype(str)).dt.tz_localize("UTC")
    with wh.transaction() as conn:
        wh.insert_frame(conn, "fact_claim_service", facts)
        first = quality.evaluate_guard(wh, conn, NOW)
    assert len(first) == 2
    with wh.transaction() as conn:
        assert quality.evaluate_guard(wh, conn, NOW + pd.Timedelta(days=1)).empty
        stored = wh.read_table(conn, "speed_quality_alerts")
    assert len(stored) == 2
    assert set(stored["measure"]) == {"reopen_rate_30d"}
    assert set(pd.to_datetime(stored["window_end"]).dt.date) == {dt.date(2026, 5, 31)}
    assert sorted(stored["rate_after"]) == [0.2, 0.2]
    assert all(pd.Timestamp(t) == NOW for t in stored["raised_at"])


def test_alert_event_names_the_resource_and_carries_the_numbers():
    a = alerts_of(claims(100, BEFORE_DAY), claims(100, AFTER_DAY, rtc=5.0, reopened=20))
    events = {ev["resource"]["prefect.resource.id"]: ev for ev in map(quality.alert_event, a.to_dict("records"))}
    assert set(events) == {"claimpulse.team.A", "claimpulse.product_line.auto"}
    ev = events["claimpulse.team.A"]
    assert ev["event"] == "claimpulse.speed_quality.alert"
    assert ev["payload"] == {"window_end": "2026-05-31", "dimension": "team", "value": "A",
                             "measure": "reopen_rate_30d", "cycle_p50_before": 10.0,
                             "cycle_p50_after": 5.0, "rate_before": 0.0, "rate_after": 0.2,
                             "claims_before": 100, "claims_after": 100}


def test_example_automation_is_a_valid_prefect_automation_on_the_alert_event():
    import yaml
    from prefect.events.schemas.automations import AutomationCore

    from ..conftest import REPO

    spec = yaml.safe_load((REPO / "automations" / "speed-quality-alert.yaml").read_text())
    automation = AutomationCore.model_validate(spec)
    assert automation.trigger.expect == {quality.EVENT_NAME}
    assert automation.actions[0].type == "send-notification"


def test_overdue_clocks_counted_only_when_clock_tables_exist(tmp_path):
    from claimpulse.warehouse import Warehouse

    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb", "claimpulse")
    wh.ensure_schema()
    assert quality.overdue_clocks(wh) == 0   # the clock tables exist, empty
    with wh.transaction() as conn:
        wh.insert_frame(conn, "fact_claim_clock", pd.DataFrame({
            "clock_id": "c", "subject": "claim", "subject_id": ["A", "B", "C"], "claim_id": ["A", "B", "C"],
            "status": ["overdue", "met", "overdue"]}))
    assert quality.overdue_clocks(wh) == 2
    with wh.transaction() as conn:   # a warehouse from before the clocks upgrade
        conn.exec_driver_sql(f"DROP TABLE {wh.table('fact_claim_clock')}")
    assert quality.overdue_clocks(wh) is None


def test_run_summary_says_what_got_worse():
    from claimpulse.summary import run_markdown

    counts = pd.DataFrame(columns=["source_table", "rows_read", "rows_accepted", "rows_quarantined"])
    quarantine = pd.DataFrame(columns=["source_table", "reasons"])
    md = run_markdown({"flow": "nightly", "run_id": "r"}, counts, quarantine, [], {}, None, "full",
                      worse={"new_alerts": 3, "overdue_clocks": None})
    assert "## What got worse" in md
    assert "- New speed-quality alerts (speed_quality_alerts): **3**" in md
    assert "Overdue" not in md
    md = run_markdown({"flow": "nightly", "run_id": "r"}, counts, quarantine, [], {}, None, "full",
                      worse={"new_alerts": 0, "overdue_clocks": 12})
    assert "**0**" in md and "- Overdue service clocks (fact_claim_clock): **12**" in md
