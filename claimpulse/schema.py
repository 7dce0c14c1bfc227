"""The source contract (SOURCE.md) as data: tables, columns, kinds, keys.

Every stage agrees on these names. After extraction (`claimpulse.extract.coerce_table`)
a frame of table T has exactly the columns of `SOURCE_TABLES[T].columns`, with dtypes:

- text      -> pandas string dtype ("string"), missing = <NA>
- decimal   -> float64, missing = NaN
- integer   -> nullable "Int64"
- timestamp -> datetime64[us, UTC] (any unit is accepted downstream), missing = NaT

and the same index as the raw frame it came from, which ties a typed row back to its raw
values for the quarantine.
"""
from __future__ import annotations

from dataclasses import dataclass

TEXT, DECIMAL, INTEGER, TIMESTAMP = "text", "decimal", "integer", "timestamp"


@dataclass(frozen=True)
class SourceTable:
    name: str
    key: str                      # the row's id column (unique)
    columns: dict[str, str]       # column -> kind, in contract order
    required: tuple[str, ...]     # columns that must be present in the source (table-level error)
    personal: tuple[str, ...] = ()  # never reach the warehouse in clear
    claim_column: str = "claim_id"
    date_column: str | None = None  # the timestamp whose local date is the row's cohort date

    @property
    def kinds(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for col, kind in self.columns.items():
            out.setdefault(kind, []).append(col)
        return out


CLAIMS = SourceTable(
    name="claims",
    key="claim_id",
    columns={
        "claim_id": TEXT, "policy_id": TEXT, "customer_id": TEXT, "product_line": TEXT,
        "channel": TEXT, "region": TEXT, "team": TEXT, "complexity": TEXT,
        "claimed_amount": DECIMAL, "paid_amount": DECIMAL, "currency": TEXT, "outcome": TEXT,
        "denial_reason": TEXT, "reported_at": TIMESTAMP, "updated_at": TIMESTAMP,
    },
    required=("claim_id", "policy_id", "customer_id", "product_line", "channel", "region",
              "complexity", "claimed_amount", "paid_amount", "currency", "outcome",
              "denial_reason", "reported_at", "updated_at"),
    personal=("customer_id",),
    date_column="reported_at",
)

CLAIM_EVENTS = SourceTable(
    name="claim_events",
    key="event_id",
    columns={
        "event_id": TEXT, "claim_id": TEXT, "event_type": TEXT, "occurred_at": TIMESTAMP,
        "actor_role": TEXT, "updated_at": TIMESTAMP,
    },
    required=("event_id", "claim_id", "event_type", "occurred_at", "actor_role", "updated_at"),
    date_column="occurred_at",
)

SURVEYS = SourceTable(
    name="surveys",
    key="response_id",
    columns={
        "response_id": TEXT, "claim_id": TEXT, "responded_at": TIMESTAMP, "csat": INTEGER,
        "nps": INTEGER, "effort": INTEGER, "comment": TEXT, "updated_at": TIMESTAMP,
    },
    # `comment` is optional: we never use it, and a source without it loses nothing.
    required=("response_id", "claim_id", "responded_at", "csat", "nps", "effort", "updated_at"),
    personal=("comment",),
    date_column="responded_at",
)

COMPLAINTS = SourceTable(
    name="complaints",
    key="complaint_id",
    columns={
        "complaint_id": TEXT, "claim_id": TEXT, "received_at": TIMESTAMP, "source": TEXT,
        "category": TEXT, "resolved_at": TIMESTAMP, "updated_at": TIMESTAMP,
    },
    required=("complaint_id", "claim_id", "received_at", "source", "updated_at"),
    date_column="received_at",
)

CUSTOMER_COSTS = SourceTable(
    name="customer_costs",
    key="cost_id",
    columns={
        "cost_id": TEXT, "claim_id": TEXT, "cost_type": TEXT, "incurred_at": TIMESTAMP,
        "quantity": DECIMAL, "amount": DECIMAL, "currency": TEXT, "updated_at": TIMESTAMP,
    },
    required=("cost_id", "claim_id", "cost_type", "incurred_at", "quantity", "amount",
              "currency", "updated_at"),
    date_column="incurred_at",
)

SOURCE_TABLES: dict[str, SourceTable] = {
    t.name: t for t in (CLAIMS, CLAIM_EVENTS, SURVEYS, COMPLAINTS, CUSTOMER_COSTS)
}
TABLE_ORDER = tuple(SOURCE_TABLES)

EVENT_TYPES = ("accepted", "documents_requested", "documents_complete", "investigation_started",
               "investigation_completed", "decided", "paid", "closed", "reopened",
               # optional (CLOCKS.md): service clocks use them; a source without them is valid
               "acknowledged", "settlement_agreed", "denial_notice_sent", "advance_paid")
ACTOR_ROLES = ("intake", "handler", "investigator", "approver", "system")
COMPLEXITIES = ("simple", "complex")
OUTCOMES = ("paid", "partial", "denied", "withdrawn")
DECIDED_OUTCOMES = ("paid", "partial", "denied")
DENIAL_REASONS = ("non_disclosure", "fraud", "not_covered", "other")
COMPLAINT_SOURCES = ("customer", "regulator")
COST_TYPES = ("travel", "evidence_fee", "lost_work_time")

# Dimensions of daily_service_metrics / daily_standard_attainment and the rolled-up marker.
DIMENSIONS = ("product_line", "channel", "region")
ALL = "ALL"
# The five grouping sets of METRICS.md, in output order.
GROUPING_SETS: tuple[tuple[str, ...], ...] = (
    (), ("product_line",), ("channel",), ("region",), ("product_line", "channel", "region"),
)
