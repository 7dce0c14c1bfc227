"""The optional clock event types of CLOCKS.md pass validation; an unknown type still does not."""
from __future__ import annotations

from ..helpers.validation_frames import label, reasons_by_row, run, with_rows

NEW_TYPES = ("acknowledged", "settlement_agreed", "denial_notice_sent", "advance_paid")


def _event(i: int, event_type: str) -> dict:
    from ..helpers.validation_frames import ts

    return dict(event_id=f"EX{i}", claim_id="C1", event_type=event_type,
                occurred_at=ts("2024-01-06"), actor_role="handler", updated_at=ts("2024-01-06"))


def test_clock_event_types_are_accepted_and_an_unknown_type_is_quarantined():
    rows = [_event(i, t) for i, t in enumerate(NEW_TYPES)] + [_event(9, "acknowledgd")]
    typed = with_rows("claim_events", *rows)
    out = run(typed)
    accepted = out.accepted["claim_events"]
    assert set(NEW_TYPES) <= set(accepted["event_type"])
    assert "acknowledgd" not in set(accepted["event_type"])
    bad = reasons_by_row(out, "claim_events")
    # the misspelt type is the only quarantined event, with exactly that reason
    assert bad == {label("claim_events", len(typed["claim_events"]) - 1): {"event_type_not_allowed"}}


def test_demo_data_shows_every_clock_status_with_the_default_config():
    """What `make run` puts in fact_claim_clock: met, breached, overdue, paused, running and
    indeterminate (the 2003 legacy claims), with the shipped config (CN pack everywhere)."""
    import datetime as dt

    import pandas as pd

    from claimpulse import demo
    from claimpulse.clocks import CLOCK_STATUSES, evaluate_clocks
    from claimpulse.config import load_config

    end = dt.date(2026, 11, 30)
    f = demo.generate(6_000, days=180, seed=7, end=end, bad_rows=False)
    claims = f["claims"].assign(reported_at=lambda d: pd.to_datetime(d["reported_at"], utc=True))
    events = f["claim_events"].assign(occurred_at=lambda d: pd.to_datetime(d["occurred_at"])
                                      .dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC"))
    complaints = f["complaints"].assign(received_at=lambda d: pd.to_datetime(d["received_at"], utc=True),
                                        resolved_at=lambda d: pd.to_datetime(d["resolved_at"], utc=True))
    s = load_config(None)
    out = evaluate_clocks(claims, events, complaints, s.clock_config, s.timezone, end)
    counts = out["status"].value_counts()
    assert set(counts.index) == set(CLOCK_STATUSES), counts.to_dict()
    legacy = out[out["claim_id"].str.startswith("LGC")]
    assert len(legacy) == 3 and (legacy["status"] == "indeterminate").all()
    # the optional events are there, some denial notices late
    types = set(f["claim_events"]["event_type"])
    assert {"acknowledged", "settlement_agreed", "denial_notice_sent", "advance_paid"} <= types
    notices = out[out["clock_id"] == "cn_art24_denial_notice_3d"]["status"].value_counts()
    assert notices["breached"] > 0 and notices["met"] > 5 * notices["breached"]


def test_run_as_of_must_be_a_date():
    from typer.testing import CliRunner

    from claimpulse.cli import app

    r = CliRunner().invoke(app, ["run", "--as-of", "2026-13-01"])
    assert r.exit_code == 1
    assert "claimpulse: error: --as-of must be a date YYYY-MM-DD" in r.output
