"""Metric labels for people: one definition shared by the HTML report and the run summary.

`LABELS[column]` is the label of a warehouse metric column and the kind of its unit
(`count`, `days`, `hours`, `pct`, `score`, `nps`, `money`), which decides how it is
formatted. `label(column)` is the label alone; `label_with_unit(column)` adds the unit
where it is not obvious (days, hours), for places without a unit column (the run summary).
"""
from __future__ import annotations

from typing import NamedTuple

__all__ = ["Label", "LABELS", "CUSTOMER_GROUPS", "CLOCK_STATUSES", "label", "label_with_unit", "kind"]


class Label(NamedTuple):
    text: str
    kind: str


LABELS: dict[str, Label] = {
    # daily_service_metrics
    "closed_claims": Label("Closed claims", "count"),
    "report_to_accept_hours_p50": Label("Report → acceptance, median", "hours"),
    "report_to_decision_days_p50": Label("Report → decision, median", "days"),
    "report_to_decision_days_p90": Label("Report → decision, p90", "days"),
    "decision_to_payment_days_p50": Label("Decision → payment, median", "days"),
    "decision_to_payment_days_p90": Label("Decision → payment, p90", "days"),
    "report_to_close_days_mean": Label("Report → close, mean", "days"),
    "report_to_close_days_p50": Label("Report → close, median", "days"),
    "report_to_close_days_p90": Label("Report → close, p90", "days"),
    "paid_rate": Label("Paid rate (of decided)", "pct"),
    "denial_rate": Label("Denial rate (of decided)", "pct"),
    "reopen_rate_30d": Label("Reopened within 30 days", "pct"),
    "paid_amount_total": Label("Paid amount", "money"),
    "customer_cost_per_claim_mean": Label("Customer cost per claim, mean", "money"),
    "customer_cost_to_payout_ratio": Label("Customer cost / payout", "pct"),
    "survey_responses": Label("Survey responses", "count"),
    "csat_mean": Label("CSAT mean (1–5)", "score"),
    "csat_satisfied_rate": Label("CSAT ≥ 4", "pct"),
    "nps": Label("NPS", "nps"),
    "effort_mean": Label("Effort mean (7 = very easy)", "score"),
    "complaints_received": Label("Complaints received", "count"),
    "regulator_complaints": Label("of which from the regulator", "count"),
    # daily_quality_metrics
    "complaints": Label("Complaints", "count"),
    "claims_with_complaint": Label("Claims with a complaint", "count"),
    "complaint_rate": Label("Complaint rate (claims with a complaint)", "pct"),
    "claims_with_request": Label("Claims with a document request", "count"),
    "re_request_rate": Label("Documents asked for twice or more", "pct"),
    "ask_once_rate": Label("Documents asked for once at most", "pct"),
    "first_time_right_rate": Label("First time right", "pct"),
    "touches_mean": Label("Touches per claim, mean", "number"),
    "handoffs_mean": Label("Handoffs per claim, mean", "number"),
    # daily_clock_attainment
    "attainment_rate": Label("Clock attainment (met / stopped)", "pct"),
    "stopped_clocks": Label("Stopped clocks", "count"),
    "met_clocks": Label("Met", "count"),
    "breached_clocks": Label("Breached", "count"),
    "indeterminate_clocks": Label("Indeterminate", "count"),
    "elapsed_days_p50": Label("Elapsed days, median", "days"),
    "elapsed_days_p90": Label("Elapsed days, p90", "days"),
}

_UNIT_WORDS = {"days": "days", "hours": "hours"}


def label(column: str) -> str:
    """The label of a metric column (the column name itself when it has none)."""
    found = LABELS.get(column)
    return found.text if found else column


def kind(column: str) -> str:
    found = LABELS.get(column)
    return found.kind if found else "number"


def label_with_unit(column: str) -> str:
    """The label with its unit in brackets where the unit is a time, e.g. 'Report → close, median (days)'."""
    unit = _UNIT_WORDS.get(kind(column))
    return f"{label(column)} ({unit})" if unit else label(column)


# customer_group values (docs/metrics.md), in reading order
CUSTOMER_GROUPS: dict[str, str] = {
    "normal_payout": "Normal payout (paid, partial)",
    "non_disclosure": "Denied: non-disclosure",
    "fraud": "Denied: fraud",
    "other_denial": "Denied: not covered or other",
    "withdrawn": "Withdrawn",
    "undecided": "Undecided",
}

# clock statuses of the watchlist, most urgent first
CLOCK_STATUSES: dict[str, str] = {
    "overdue": "overdue",
    "running": "running",
    "paused": "paused",
    "indeterminate": "indeterminate",
}
