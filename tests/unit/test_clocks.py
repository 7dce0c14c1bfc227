"""Service clocks (CLOCKS.md): each counting rule on its own over tiny frames, the calendars,
the clock config errors, and the hand-worked golden example (tests/golden-clocks)."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import yaml

from claimpulse.clocks import (
    CLOCK_STATUSES, FACT_CLOCK_COLUMNS, ClockConfig, active_clocks, build_calendar,
    calendar_versions, evaluate_clocks, load_pack,
)
from claimpulse.config import ConfigError, default_settings

from ..conftest import GOLDEN_CLOCKS, SPEC, load_typed_csv

SH = "Asia/Shanghai"
D = dt.date.fromisoformat


# ----------------------------------------------------------------------------- tiny frames

def claims(*rows: dict) -> pd.DataFrame:
    """Claims with defaults: a complex, undecided BJ claim reported 2026-09-01."""
    base = {"product_line": "auto", "channel": "app", "region": "BJ", "team": "T1",
            "complexity": "complex", "outcome": None, "denial_reason": None,
            "reported_at": "2026-09-01T09:00:00+08:00"}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    for c in frame.columns:
        frame[c] = pd.to_datetime(frame[c], utc=True, format="ISO8601") if c == "reported_at" \
            else frame[c].astype("string")
    return frame


def events(*rows: tuple) -> pd.DataFrame:
    """(claim_id, event_type, occurred_at[, event_id]) -> claim_events (event ids E1, E2, ...)."""
    out = pd.DataFrame([{"claim_id": r[0], "event_type": r[1], "occurred_at": r[2],
                         "event_id": r[3] if len(r) > 3 else f"E{i + 1}", "actor_role": "handler"}
                        for i, r in enumerate(rows)],
                       columns=["claim_id", "event_type", "occurred_at", "event_id", "actor_role"])
    for c in ("claim_id", "event_type", "event_id", "actor_role"):
        out[c] = out[c].astype("string")
    out["occurred_at"] = pd.to_datetime(out["occurred_at"], utc=True, format="ISO8601")
    return out


def complaints(*rows: tuple) -> pd.DataFrame:
    """(complaint_id, claim_id, received_at, resolved_at or None)."""
    out = pd.DataFrame(rows, columns=["complaint_id", "claim_id", "received_at", "resolved_at"])
    for c in ("complaint_id", "claim_id"):
        out[c] = out[c].astype("string")
    for c in ("received_at", "resolved_at"):
        out[c] = pd.to_datetime(out[c], utc=True, format="ISO8601")
    out["source"] = pd.Series(["customer"] * len(out), dtype="string")
    return out


NO_COMPLAINTS = complaints()

DECIDE = {"id": "t_decide", "start": {"event": "accepted"}, "stop": {"events": ["decided"]},
          "limit": {"n": 30, "unit": "calendar"}, "calendar": "CN", "roll_forward": True}
PAUSED = {**DECIDE, "pause": {"from": "documents_requested", "until": "documents_complete"}}


def run(claim_rows, event_rows, clocks=(), packs=(), as_of="2026-11-30", overrides=None,
        complaint_rows=NO_COMPLAINTS, **cfg) -> pd.DataFrame:
    config = ClockConfig(clock_packs=list(packs), clocks=list(clocks),
                         calendar_overrides=overrides or {}, **cfg)
    return evaluate_clocks(claim_rows, event_rows, complaint_rows, config, SH, D(as_of))


def one(frame: pd.DataFrame, clock_id: str | None = None, subject_id: str = "K") -> dict:
    rows = frame[frame["subject_id"] == subject_id]
    if clock_id is not None:
        rows = rows[rows["clock_id"] == clock_id]
    assert len(rows) == 1, rows
    r = rows.iloc[0].to_dict()
    return {k: (None if v is pd.NA or v is None or (not isinstance(v, str) and pd.isna(v)) else v)
            for k, v in r.items()}


def summary(r: dict) -> tuple:
    return (r["start_date"], r["end_date"], r["due_date"], r["paused_days"], r["elapsed_days"],
            r["days_to_due"], r["status"])


# ----------------------------------------------------------------------------- counting rules

def test_start_day_not_counted_and_columns():
    f = run(claims({"claim_id": "K"}),
            events(("K", "accepted", "2026-11-02T23:59:00+08:00"), ("K", "decided", "2026-11-03T00:01:00+08:00")),
            [DECIDE])
    assert list(f.columns) == list(FACT_CLOCK_COLUMNS)
    r = one(f)
    # decided two minutes later, but on the next date: one counted day
    assert summary(r) == (D("2026-11-02"), D("2026-11-03"), D("2026-12-02"), 0, 1, 29, "met")
    assert (r["clock_id"], r["subject"], r["limit_n"], r["unit"], r["calendar"], r["timezone"]) == \
        ("t_decide", "claim", 30, "calendar", "CN", SH)
    assert r["as_of_date"] == D("2026-11-30")
    assert r["started_at"] == pd.Timestamp("2026-11-02T15:59:00Z")
    assert r["stopped_at"] == pd.Timestamp("2026-11-02T16:01:00Z")
    assert str(f["elapsed_days"].dtype) == "Int64" and str(f["clock_id"].dtype) == "string"
    assert str(f["started_at"].dtype) == "datetime64[us, UTC]"


def test_pause_spanning_a_holiday():
    # accepted 09-25; documents asked 09-29, complete 10-09: (09-29, 10-09] is 10 dates, the
    # National Day holiday (10-01..10-07) among them; they do not count whether holiday or not
    f = run(claims({"claim_id": "K"}),
            events(("K", "accepted", "2026-09-25T10:00:00+08:00"),
                   ("K", "documents_requested", "2026-09-29T10:00:00+08:00"),
                   ("K", "documents_complete", "2026-10-09T10:00:00+08:00"),
                   ("K", "decided", "2026-11-05T10:00:00+08:00")),
            [PAUSED, {**PAUSED, "id": "t_decide_bd", "limit": {"n": 20, "unit": "business"},
                      "roll_forward": False}])
    # 4 days before the pause (09-26..09-29), 26 more from 10-10: due 11-04
    assert summary(one(f, "t_decide")) == (D("2026-09-25"), D("2026-11-05"), D("2026-11-04"), 10, 31, -1, "breached")
    # business days: 09-28, 09-29 (2) before; from 10-10 (调休 Saturday) on: 10-10, 10-12..16,
    # 10-19..23, 10-26..30, 11-02, 11-03 -> the 20th on 11-03; 22 counted by 11-05
    assert summary(one(f, "t_decide_bd")) == (D("2026-09-25"), D("2026-11-05"), D("2026-11-03"), 10, 22, -2, "breached")


@pytest.mark.parametrize("accepted, due", [
    ("2026-10-07", "2026-10-10"),   # 30... 3 days later is Sat 10-10, a 调休 working day: no roll
    ("2026-10-14", "2026-10-19"),   # Sat 10-17 is a rest day: rolls to Monday
    ("2026-09-28", "2026-10-08"),   # 10-01 lands in the National Day holiday: rolls past it
    ("2026-09-17", "2026-09-20"),   # Sun 09-20 is a 调休 working day
])
def test_roll_forward_onto_working_days(accepted, due):
    clock = {**DECIDE, "limit": {"n": 3, "unit": "calendar"}}
    f = run(claims({"claim_id": "K"}),
            events(("K", "accepted", f"{accepted}T10:00:00+08:00"), ("K", "decided", f"{due}T18:00:00+08:00")),
            [clock, {**clock, "id": "t_no_roll", "roll_forward": False}])
    r = one(f, "t_decide")
    assert (r["due_date"], r["status"], r["days_to_due"]) == (D(due), "met", 0)
    raw = D(accepted) + dt.timedelta(days=3)
    r = one(f, "t_no_roll")
    assert r["due_date"] == raw and r["status"] == ("met" if raw == D(due) else "breached")


@pytest.mark.parametrize("decided, paid, due, status", [
    # Thanksgiving (Thu 11-26) and the Friday after are Texas state holidays
    ("2026-11-24", "2026-12-03", "2026-12-03", "met"),
    ("2026-11-24", "2026-12-04", "2026-12-03", "breached"),
    # Cesar Chavez Day (03-31) and Good Friday (04-03) are optional in Texas: they count
    ("2026-03-30", "2026-04-06", "2026-04-06", "met"),
])
def test_business_days_across_texas_holidays(decided, paid, due, status):
    f = run(claims({"claim_id": "K", "region": "TX", "outcome": "paid",
                    "reported_at": f"{decided}T08:00:00-06:00"}),
            events(("K", "decided", f"{decided}T10:00:00-06:00"), ("K", "paid", f"{paid}T10:00:00-06:00")),
            packs=[{"pack": "US-TX", "regions": ["TX"]}], as_of="2026-12-31")
    r = one(f, "tx_542_057_pay_5bd")
    assert (r["due_date"], r["status"], r["unit"], r["calendar"]) == (D(due), status, "business", "US-TX")
    assert r["elapsed_days"] == (5 if status == "met" else 6)


def test_open_pause_and_stop_during_open_pause():
    ev = [("K", "accepted", "2026-11-02T10:00:00+08:00"),
          ("K", "documents_requested", "2026-11-03T15:00:00+08:00")]
    f = run(claims({"claim_id": "K"}), events(*ev), [PAUSED])
    # open: every date after 11-03 is excluded; no due date; paused
    assert summary(one(f)) == (D("2026-11-02"), D("2026-11-30"), None, 27, 1, None, "paused")
    # a stop while the pause is open: the count never reached 30, so the clock is met
    f = run(claims({"claim_id": "K"}), events(*ev, ("K", "decided", "2026-11-20T10:00:00+08:00")), [PAUSED])
    r = one(f)
    assert summary(r) == (D("2026-11-02"), D("2026-11-20"), None, 17, 1, None, "met")
    assert r["stopped_at"] == pd.Timestamp("2026-11-20T02:00:00Z")


def test_open_pause_after_the_limit_was_reached_is_overdue_not_paused():
    f = run(claims({"claim_id": "K"}),
            events(("K", "accepted", "2026-09-01T10:00:00+08:00"),
                   ("K", "documents_requested", "2026-10-20T10:00:00+08:00")), [PAUSED])
    assert summary(one(f)) == (D("2026-09-01"), D("2026-11-30"), D("2026-10-08"), 41, 49, -53, "overdue")


@pytest.mark.parametrize("max_pauses, due, paused, status", [
    (1, "2026-11-12", 4, "met"),     # the second request does not pause again (Art. 22)
    (2, None, 27, "met"),            # it would: the stop falls in an open pause
    (None, None, 27, "met"),         # unlimited
])
def test_max_pauses(max_pauses, due, paused, status):
    clock = {**PAUSED, "pause": {**PAUSED["pause"], "max_pauses": max_pauses}}
    f = run(claims({"claim_id": "K"}),
            events(("K", "accepted", "2026-10-09T10:00:00+08:00"),
                   ("K", "documents_requested", "2026-10-10T09:00:00+08:00"),
                   ("K", "documents_complete", "2026-10-14T16:00:00+08:00"),
                   ("K", "documents_requested", "2026-10-20T10:00:00+08:00"),
                   ("K", "decided", "2026-11-12T15:00:00+08:00")), [clock])
    r = one(f)
    assert (r["due_date"], r["paused_days"], r["status"]) == (None if due is None else D(due), paused, status)


def test_repeated_requests_and_stray_completions_pause_once_until_the_next_completion():
    # complete before any request is ignored; a second request while open is ignored
    f = run(claims({"claim_id": "K"}),
            events(("K", "accepted", "2026-10-12T10:00:00+08:00"),
                   ("K", "documents_complete", "2026-10-13T10:00:00+08:00"),
                   ("K", "documents_requested", "2026-10-14T10:00:00+08:00"),
                   ("K", "documents_requested", "2026-10-16T10:00:00+08:00"),
                   ("K", "documents_complete", "2026-10-19T10:00:00+08:00"),
                   ("K", "documents_complete", "2026-10-21T10:00:00+08:00"),
                   ("K", "decided", "2026-10-22T10:00:00+08:00")), [PAUSED])
    # (10-14, 10-19] paused: 10-13, 10-14 and 28 more from 10-20 -> due 11-16
    assert summary(one(f))[2:] == (D("2026-11-16"), 5, 5, 25, "met")


@pytest.mark.parametrize("ids, paused, status", [
    (("E2", "E3"), 0, "met"),       # requested (E2) then complete (E3): an empty pause
    (("E3", "E2"), 19, "met"),      # complete (E2) first is ignored, then requested opens a pause
])
def test_ties_in_time_are_broken_by_event_id(ids, paused, status):
    req, done = ids
    f = run(claims({"claim_id": "K"}),
            events(("K", "accepted", "2026-11-01T10:00:00+08:00", "E1"),
                   ("K", "documents_requested", "2026-11-02T10:00:00+08:00", req),
                   ("K", "documents_complete", "2026-11-02T10:00:00+08:00", done),
                   ("K", "decided", "2026-11-21T10:00:00+08:00", "E9")), [PAUSED])
    r = one(f)
    assert (r["paused_days"], r["status"]) == (paused, status)


def test_stop_recorded_before_its_start():
    f = run(claims({"claim_id": "K", "outcome": "denied"}),
            events(("K", "denial_notice_sent", "2026-11-12T14:00:00+08:00"),
                   ("K", "decided", "2026-11-12T15:00:00+08:00")),
            packs=[{"pack": "CN"}])
    r = one(f, "cn_art24_denial_notice_3d")
    assert summary(r) == (D("2026-11-12"), D("2026-11-12"), D("2026-11-16"), 0, 0, 4, "met")
    assert r["stopped_at"] == r["started_at"]
    # the same for a field stop: a complaint resolved before it was received
    f = run(claims({"claim_id": "K"}), events(), packs=[{"pack": "CN"}],
            complaint_rows=complaints(("Q", "K", "2026-11-10T10:00:00+08:00", "2026-11-09T10:00:00+08:00")))
    assert summary(one(f, "cn_complaint_15d", "Q"))[-3:] == (0, 15, "met")


def test_a_packs_own_time_zone_moves_an_event_across_midnight():
    # decided 23:30 in Chicago on 09-30 is 12:30 on 10-01 in Shanghai
    ev = events(("K", "decided", "2026-09-30T23:30:00-05:00"), ("K", "paid", "2026-10-02T10:00:00-05:00"))
    tx_local = {"id": "pay_chicago", "start": {"event": "decided"}, "stop": {"events": ["paid"]},
                "limit": {"n": 5, "unit": "calendar"}, "timezone": "America/Chicago"}
    business = {**tx_local, "id": "pay_business_tz", "timezone": None}
    f = run(claims({"claim_id": "K", "region": "TX", "outcome": "paid"}), ev, [tx_local, business],
            packs=[{"pack": "US-TX", "regions": ["TX"]}])
    assert one(f, "tx_542_057_pay_5bd")["start_date"] == D("2026-09-30")
    assert one(f, "pay_chicago")["start_date"] == D("2026-09-30")
    r = one(f, "pay_business_tz")   # a user clock without timezone: the business timezone
    assert (r["start_date"], r["timezone"]) == (D("2026-10-01"), SH)


def test_as_of_date_is_judged_in_the_clocks_own_time_zone():
    # 20:00 in Chicago on 11-30 is already 12-01 in Shanghai: as of 11-30 only Texas sees it
    ev = events(("K", "decided", "2026-11-20T10:00:00-06:00"), ("K", "paid", "2026-11-30T20:00:00-06:00"))
    base = {"start": {"event": "decided"}, "stop": {"events": ["paid"]}, "limit": {"n": 30, "unit": "calendar"}}
    f = run(claims({"claim_id": "K"}), ev,
            [{**base, "id": "chi", "timezone": "America/Chicago"}, {**base, "id": "sha"}])
    assert (one(f, "chi")["status"], one(f, "chi")["end_date"]) == ("met", D("2026-11-30"))
    assert (one(f, "sha")["status"], one(f, "sha")["stopped_at"]) == ("running", None)


def test_events_after_the_as_of_date_are_ignored():
    ev = events(("K", "accepted", "2026-10-01T10:00:00+08:00"),
                ("K", "documents_requested", "2026-10-05T10:00:00+08:00"),
                ("K", "documents_complete", "2026-12-01T09:00:00+08:00"),
                ("K", "decided", "2026-12-02T09:00:00+08:00"),
                ("L", "accepted", "2026-12-01T00:30:00+08:00"))
    cl = claims({"claim_id": "K"}, {"claim_id": "L"})
    f = run(cl, ev, [PAUSED])
    # as of 11-30: K's completion and decision have not happened; L has not started (no row)
    assert summary(one(f)) == (D("2026-10-01"), D("2026-11-30"), None, 56, 4, None, "paused")
    assert set(f["subject_id"]) == {"K"}
    f = run(cl, ev, [PAUSED], as_of="2026-12-02")
    # as of 12-02 the pause closed on 12-01 and the decision came on day 5
    assert summary(one(f))[1:] == (D("2026-12-02"), D("2026-12-28"), 57, 5, 26, "met")  # Sun 12-27 rolls
    assert one(f, subject_id="L")["status"] == "running"


def test_fallback_start_and_first_cycle_only():
    ev = events(("K", "decided", "2026-10-08T15:00:00+08:00"), ("K", "paid", "2026-10-09T10:00:00+08:00"),
                ("K", "reopened", "2026-10-20T10:00:00+08:00"), ("K", "decided", "2026-10-25T10:00:00+08:00"),
                ("K", "paid", "2026-11-25T10:00:00+08:00"),
                ("A", "settlement_agreed", "2026-10-05T10:00:00+08:00"), ("A", "decided", "2026-10-01T10:00:00+08:00"),
                ("A", "paid", "2026-10-20T10:00:00+08:00"))
    f = run(claims({"claim_id": "K", "outcome": "paid"}, {"claim_id": "A", "outcome": "partial"}), ev,
            packs=[{"pack": "CN"}])
    r = one(f, "cn_art23_pay_10d")        # no agreement: starts at the first decision
    assert summary(r) == (D("2026-10-08"), D("2026-10-09"), D("2026-10-19"), 0, 1, 10, "met")
    r = one(f, "cn_art23_pay_10d", "A")   # an agreement: starts there, not at the decision
    assert summary(r) == (D("2026-10-05"), D("2026-10-20"), D("2026-10-15"), 0, 15, -5, "breached")


@pytest.mark.parametrize("stopped, as_of, status, due, elapsed", [
    # raw due 2027-01-19 (30 days after 12-20) must roll on a CN 2027 calendar nobody published
    ("2026-12-28", "2027-03-01", "met", None, 8),          # stopped long before: cannot matter
    (None, "2026-12-31", "running", None, 11),             # not due before the uncovered date
    ("2027-02-10", "2027-03-01", "indeterminate", None, 52),   # met or breached depends on 2027
    (None, "2027-03-01", "indeterminate", None, 71),
])
def test_a_year_the_calendar_lacks(stopped, as_of, status, due, elapsed):
    ev = [("K", "accepted", "2026-12-20T10:00:00+08:00")]
    if stopped:
        ev.append(("K", "decided", f"{stopped}T10:00:00+08:00"))
    r = one(run(claims({"claim_id": "K"}), events(*ev), [DECIDE], as_of=as_of))
    assert (r["status"], r["due_date"], r["elapsed_days"]) == (status, due, elapsed)


@pytest.mark.parametrize("stopped, status, elapsed", [
    ("2026-12-30", "met", 2),              # 12-29, 12-30: counted in 2026, which is covered
    ("2027-01-15", "indeterminate", None),  # whether 2027's days are working decides it
])
def test_business_days_in_a_year_the_calendar_lacks(stopped, status, elapsed):
    clock = {**DECIDE, "limit": {"n": 5, "unit": "business"}, "roll_forward": False}
    ev = events(("K", "accepted", "2026-12-28T10:00:00+08:00"), ("K", "decided", f"{stopped}T10:00:00+08:00"))
    r = one(run(claims({"claim_id": "K"}), ev, [clock], as_of="2027-03-01"))
    assert (r["status"], r["due_date"], r["elapsed_days"]) == (status, None, elapsed)


def test_an_override_fixes_the_missing_year():
    override = {"CN": {"years": [2027], "holidays": ["2027-01-01", "2027-01-19"], "workdays": ["2027-01-23"]}}
    bd = {**DECIDE, "id": "t_bd", "limit": {"n": 5, "unit": "business"}, "roll_forward": False}
    ev = events(("K", "accepted", "2026-12-20T10:00:00+08:00"), ("K", "decided", "2027-02-10T10:00:00+08:00"),
                ("B", "accepted", "2026-12-28T10:00:00+08:00"), ("B", "decided", "2027-01-15T10:00:00+08:00"))
    f = run(claims({"claim_id": "K"}, {"claim_id": "B"}), ev, [DECIDE, bd], as_of="2027-03-01", overrides=override)
    # raw due 2027-01-19 is now a holiday: rolls to 01-20
    assert summary(one(f, "t_decide")) == (D("2026-12-20"), D("2027-02-10"), D("2027-01-20"), 0, 52, -21, "breached")
    # 12-29, 12-30, 12-31, (01-01 off) 01-04, 01-05 -> due 01-05; 13 working days to 01-15
    assert summary(one(f, "t_bd", "B")) == (D("2026-12-28"), D("2027-01-15"), D("2027-01-05"), 0, 13, -10, "breached")
    cal = build_calendar("CN", D("2027-01-18"), D("2027-01-24"), ClockConfig(calendar_overrides=override).calendar_overrides["CN"])
    assert cal.covered.all() and cal.working.tolist() == [True, False, True, True, True, False, False][:5] + [True, False]


def test_regions_and_packs():
    cl = claims({"claim_id": "BJ1", "region": "BJ"}, {"claim_id": "TX1", "region": "TX"},
                {"claim_id": "ZZ1", "region": "ZZ"}, {"claim_id": "NUL", "region": None})
    ev = events(*[(c, "accepted", "2026-11-01T10:00:00+08:00") for c in ("BJ1", "TX1", "ZZ1", "NUL")])
    user = {**DECIDE, "id": "mine", "regions": ["TX"]}
    every = {**DECIDE, "id": "everywhere"}
    f = run(cl, ev, [user, every], packs=[{"pack": "CN", "regions": "all"}, {"pack": "US-TX", "regions": ["TX"]}])
    by = f.groupby("clock_id")["subject_id"].apply(lambda s: sorted(s)).to_dict()
    # `all`: every region no other entry names (a null region too); TX only gets the TX pack
    assert by["cn_art23_decide_30d"] == ["BJ1", "NUL", "ZZ1"]
    assert by["mine"] == ["TX1"] and by["everywhere"] == ["BJ1", "NUL", "TX1", "ZZ1"]
    assert "tx_542_055_ack_15d" in by and by["tx_542_055_ack_15d"] == ["TX1"]
    f = run(cl, ev, packs=[{"pack": "CN"}], disabled_clocks=["cn_art23_decide_30d"])
    assert "cn_art23_decide_30d" not in set(f["clock_id"])


def test_applies_to_and_excludes_with_null():
    cl = claims({"claim_id": "P", "outcome": "paid"}, {"claim_id": "N", "outcome": None},
                {"claim_id": "D", "outcome": "denied"})
    ev = events(*[(c, "accepted", "2026-11-01T10:00:00+08:00") for c in "PND"])
    f = run(cl, ev, [{**DECIDE, "id": "a", "applies_to": {"outcome": ["paid", None]}},
                     {**DECIDE, "id": "x", "excludes": {"outcome": "denied"}},
                     {**DECIDE, "id": "s", "applies_to": {"outcome": "denied"}}])
    by = f.groupby("clock_id")["subject_id"].apply(lambda s: sorted(s)).to_dict()
    assert by == {"a": ["N", "P"], "x": ["N", "P"], "s": ["D"]}


def test_complaint_clock_takes_the_complained_claims_dimensions():
    f = run(claims({"claim_id": "K", "region": "SH", "team": "T9", "product_line": "life"}), events(),
            packs=[{"pack": "CN"}],
            complaint_rows=complaints(("Q1", "K", "2026-09-28T10:00:00+08:00", "2026-10-14T09:00:00+08:00"),
                                      ("Q2", "K", "2026-11-20T10:00:00+08:00", None)))
    r = one(f, "cn_complaint_15d", "Q1")
    assert (r["subject"], r["claim_id"], r["region"], r["team"], r["product_line"]) == ("complaint", "K", "SH", "T9", "life")
    assert summary(r) == (D("2026-09-28"), D("2026-10-14"), D("2026-10-13"), 0, 16, -1, "breached")
    assert summary(one(f, "cn_complaint_15d", "Q2"))[-1] == "running"


def test_statuses_and_empty_inputs():
    assert CLOCK_STATUSES == ("met", "breached", "overdue", "paused", "running", "indeterminate")
    f = run(claims({"claim_id": "K"}).iloc[:0], events(), packs=[{"pack": "CN"}])
    assert list(f.columns) == list(FACT_CLOCK_COLUMNS) and len(f) == 0


# ----------------------------------------------------------------------------- calendars

@pytest.mark.parametrize("calendar, day, working", [
    ("CN", "2026-10-10", True), ("CN", "2026-10-05", False), ("CN", "2026-09-20", True),
    ("CN", "2026-10-11", False),
    ("US-TX", "2026-11-27", False), ("US-TX", "2026-08-27", False), ("US-TX", "2026-04-03", True),
    ("US-TX", "2026-03-31", True), ("US-TX", "2026-07-03", True),    # observed shifts do not count
    ("US-CA", "2026-03-31", False), ("US-CA", "2026-07-03", False),
    ("UK-ENG", "2027-12-27", False), ("UK-ENG", "2027-12-28", False), ("UK-ENG", "2026-08-31", False),
    ("UK-ENG", "2026-08-28", True),
])
def test_calendars(calendar, day, working):
    cal = build_calendar(calendar, D(day), D(day))
    assert cal.covered.all() and bool(cal.working[0]) is working


def test_calendar_coverage_and_versions():
    cal = build_calendar("CN", D("2026-12-31"), D("2027-01-01"))
    assert cal.covered.tolist() == [True, False] and cal.working.tolist() == [True, False]
    v = calendar_versions()
    assert set(v) == {"chinesecalendar", "holidays"} and all(x[0].isdigit() for x in v.values())


# ----------------------------------------------------------------------------- config

def test_packs_are_versioned_data():
    ids = {p: [c.id for c in load_pack(p)] for p in ("CN", "US-TX", "US-CA", "UK")}
    assert ids["CN"] == ["cn_art23_decide_30d", "cn_art23_pay_10d", "cn_art24_denial_notice_3d",
                         "cn_art25_advance_60d", "cn_complaint_15d"]
    assert ids["US-TX"] == ["tx_542_055_ack_15d", "tx_542_056_decide_15bd", "tx_542_057_pay_5bd"]
    assert ids["US-CA"] == ["ca_2695_5e_ack_15d", "ca_2695_7b_decide_40d", "ca_2695_7h_pay_30d"]
    assert ids["UK"] == ["uk_disp_complaint_8w"]
    c = load_pack("CN")[0]
    assert c.pack == "CN" and c.pack_version and c.pause.max_pauses == 1 and c.timezone == SH
    active = active_clocks(ClockConfig(clock_packs=[{"pack": "UK", "regions": ["LDN"]}],
                                       clocks=[DECIDE]), "Europe/Berlin")
    assert [(c.id, r, c.timezone) for c, r in active] == [
        ("uk_disp_complaint_8w", ["LDN"], "Europe/London"), ("t_decide", None, "Europe/Berlin")]


def test_settings_carry_the_clock_config():
    s = default_settings(clocks=[DECIDE], calendar_overrides={"CN": {"years": [2027]}})
    assert [c.id for c in s.clock_config.clocks] == ["t_decide"]
    assert s.clock_config.calendar_overrides["CN"].years == [2027]


@pytest.mark.parametrize("overrides, names", [
    ({"clocks": [{**DECIDE, "start": {"event": "acceptd"}}]}, ["clocks.0.start.event", "acceptd"]),
    ({"clocks": [{**DECIDE, "stop": {"events": ["decided", "payed"]}}]}, ["clocks.0.stop.events", "payed"]),
    ({"clocks": [{**DECIDE, "calendar": "CN-HK"}]}, ["clocks.0.calendar", "CN-HK"]),
    ({"clocks": [{**DECIDE, "limit": {"n": 0, "unit": "calendar"}}]}, ["clocks.0.limit.n"]),
    ({"clocks": [{**DECIDE, "limit": {"n": -3, "unit": "business"}}]}, ["clocks.0.limit.n"]),
    ({"clocks": [{**DECIDE, "limit": {"n": 3, "unit": "weeks"}}]}, ["clocks.0.limit.unit"]),
    ({"clocks": [DECIDE, DECIDE]}, ["duplicate clock id", "t_decide"]),
    ({"clocks": [{**DECIDE, "id": "cn_art23_pay_10d"}]}, ["duplicate clock id", "cn_art23_pay_10d"]),
    ({"clocks": [{**DECIDE, "colour": "red"}]}, ["clocks.0.colour", "unknown key"]),
    ({"clocks": [{**DECIDE, "pause": {"from": "documents_requested", "untill": "x"}}]}, ["clocks.0.pause"]),
    ({"clock_packs": [{"pack": "FR", "regions": "all"}]}, ["clock_packs.0.pack", "FR"]),
    ({"clock_packs": [{"pack": "CN"}, {"pack": "CN", "regions": ["BJ"]}]}, ["listed twice", "CN"]),
    ({"calendar_overrides": {"MARS": {"years": [2027]}}}, ["calendar_overrides", "MARS"]),
    ({"disabled_clocks": ["cn_art99"]}, ["disabled_clocks", "cn_art99"]),
    ({"clocks": [{**DECIDE, "timezone": "Mars/Olympus"}]}, ["clocks.0.timezone", "Mars/Olympus"]),
    ({"clocks": [{**DECIDE, "applies_to": {"colour": "red"}}]}, ["clocks.0.applies_to", "colour"]),
    ({"clocks": [{**DECIDE, "calendar": None}]}, ["calendar is required"]),
])
def test_bad_clock_definitions_are_one_line_config_errors(overrides, names):
    with pytest.raises(ConfigError) as err:
        default_settings(**overrides)
    msg = str(err.value)
    assert "\n" not in msg
    for name in names:
        assert name in msg, msg


# ----------------------------------------------------------------------------- golden

def test_golden_clocks_copy_matches_spec():
    spec = SPEC / "golden-clocks"
    if not spec.is_dir():
        pytest.skip("../shared/spec/golden-clocks is not beside this checkout")
    assert sorted(f.name for f in spec.iterdir()) == sorted(f.name for f in GOLDEN_CLOCKS.iterdir())
    for f in spec.iterdir():
        assert (GOLDEN_CLOCKS / f.name).read_bytes() == f.read_bytes(), f.name


def _load(table: str) -> pd.DataFrame:
    return load_typed_csv(GOLDEN_CLOCKS, table)


def test_golden_fact_claim_clock():
    config = yaml.safe_load((GOLDEN_CLOCKS / "config.yaml").read_text(encoding="utf-8"))
    settings = default_settings(**config)
    got = evaluate_clocks(_load("claims"), _load("claim_events"), _load("complaints"),
                          settings.clock_config, settings.timezone, D("2026-11-30"))
    expected = pd.read_csv(GOLDEN_CLOCKS / "expected_fact_claim_clock.csv", dtype=str, keep_default_na=False)
    got = got.sort_values(["clock_id", "subject_id"]).reset_index(drop=True)
    assert len(got) == len(expected)
    as_text = got[list(expected.columns)].astype(object).map(lambda v: "" if v is None or v is pd.NA else str(v))
    pd.testing.assert_frame_equal(as_text, expected, check_dtype=False)
    # the columns the expected file leaves out are consistent with it
    assert (got["as_of_date"] == D("2026-11-30")).all()
    assert got.loc[got["clock_id"].str.startswith("tx_"), "timezone"].eq("America/Chicago").all()
    assert got.loc[got["status"].isin(["overdue", "paused"]), "stopped_at"].isna().all()
