"""The optional clock event types of CLOCKS.md pass validation; an unknown type still does not."""
from __future__ import annotations

from .test_validate import label, reasons_by_row, run, with_rows

NEW_TYPES = ("acknowledged", "settlement_agreed", "denial_notice_sent", "advance_paid")


def _event(i: int, event_type: str) -> dict:
    from .test_validate import ts

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
