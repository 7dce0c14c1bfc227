"""Typed source frames built in code for the validation tests: the good rows of every table
(tests/unit/test_validate.py changes one at a time), a run of claimpulse.validate over them,
and a fixture with one row of nearly every kind of fault (`_many_faults`, also the input that
tests/expected/record_validate.py recorded)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from claimpulse import validate as V
from claimpulse.config import default_settings
from claimpulse.schema import DECIMAL, INTEGER, SOURCE_TABLES, TABLE_ORDER, TEXT, TIMESTAMP

RUN_TIME = pd.Timestamp("2024-03-01 12:00", tz="UTC")
SETTINGS = default_settings()


def ts(s: str | None) -> pd.Timestamp:
    return pd.NaT if s is None else pd.Timestamp(s, tz="UTC")


# ---------------------------------------------------------------------------------------------
# Good frames. Index labels are deliberately not 0..n-1 so positions and labels differ.
# ---------------------------------------------------------------------------------------------
GOOD_ROWS: dict[str, list[dict]] = {
    "claims": [
        dict(claim_id="C1", policy_id="P1", customer_id="CU1", product_line="auto", channel="app",
             region="SH", team="T1", complexity="simple", claimed_amount=1000.0, paid_amount=900.0,
             currency="CNY", outcome="paid", denial_reason=None, reported_at=ts("2024-01-01 09:00"),
             updated_at=ts("2024-01-20")),
        dict(claim_id="C2", policy_id="P2", customer_id="CU2", product_line="health", channel="web",
             region="BJ", team=None, complexity="complex", claimed_amount=0.0, paid_amount=None,
             currency="CNY", outcome=None, denial_reason=None, reported_at=ts("2024-02-01 09:00"),
             updated_at=ts("2024-02-02")),
        dict(claim_id="C3", policy_id="P3", customer_id="CU3", product_line="life", channel="agent",
             region="GD", team="T2", complexity="complex", claimed_amount=5000.0, paid_amount=None,
             currency="CNY", outcome="denied", denial_reason="fraud",
             reported_at=ts("2024-01-05 10:00"), updated_at=ts("2024-01-30")),
    ],
    "claim_events": [
        dict(event_id="E1", claim_id="C1", event_type="accepted", occurred_at=ts("2024-01-01 10:00"),
             actor_role="intake", updated_at=ts("2024-01-01 10:00")),
        dict(event_id="E2", claim_id="C1", event_type="decided", occurred_at=ts("2024-01-05"),
             actor_role="approver", updated_at=ts("2024-01-05")),
        dict(event_id="E3", claim_id="C1", event_type="paid", occurred_at=ts("2024-01-08"),
             actor_role="system", updated_at=ts("2024-01-08")),
        dict(event_id="E4", claim_id="C1", event_type="closed", occurred_at=ts("2024-01-08"),
             actor_role="handler", updated_at=ts("2024-01-08")),
        dict(event_id="E5", claim_id="C2", event_type="accepted", occurred_at=ts("2024-02-01 09:00"),
             actor_role="intake", updated_at=ts("2024-02-01 09:00")),
        dict(event_id="E6", claim_id="C3", event_type="accepted", occurred_at=ts("2024-01-05 11:00"),
             actor_role="intake", updated_at=ts("2024-01-05 11:00")),
        dict(event_id="E7", claim_id="C3", event_type="decided", occurred_at=ts("2024-01-25"),
             actor_role="approver", updated_at=ts("2024-01-25")),
        dict(event_id="E8", claim_id="C3", event_type="closed", occurred_at=ts("2024-01-26"),
             actor_role="system", updated_at=ts("2024-01-26")),
    ],
    "surveys": [
        dict(response_id="S1", claim_id="C1", responded_at=ts("2024-01-10"), csat=5, nps=10,
             effort=7, comment="call me on 138-0000-0000", updated_at=ts("2024-01-10")),
        dict(response_id="S2", claim_id="C3", responded_at=ts("2024-01-28"), csat=1, nps=0,
             effort=1, comment=None, updated_at=ts("2024-01-28")),
        dict(response_id="S3", claim_id="C2", responded_at=ts("2024-02-05"), csat=None, nps=None,
             effort=None, comment="ok", updated_at=ts("2024-02-05")),
    ],
    "complaints": [
        dict(complaint_id="K1", claim_id="C1", received_at=ts("2024-01-03"), source="customer",
             category="slow", resolved_at=ts("2024-01-04"), updated_at=ts("2024-01-04")),
        dict(complaint_id="K2", claim_id="C2", received_at=ts("2024-02-03"), source="regulator",
             category=None, resolved_at=None, updated_at=ts("2024-02-03")),
        dict(complaint_id="K3", claim_id="C3", received_at=ts("2024-01-27"), source="customer",
             category="denied", resolved_at=ts("2024-01-27"), updated_at=ts("2024-01-27")),
    ],
    "customer_costs": [
        dict(cost_id="X1", claim_id="C1", cost_type="travel", incurred_at=ts("2024-01-02"),
             quantity=2.0, amount=None, currency=None, updated_at=ts("2024-01-02")),
        dict(cost_id="X2", claim_id="C1", cost_type="evidence_fee", incurred_at=ts("2024-01-02"),
             quantity=None, amount=30.0, currency="CNY", updated_at=ts("2024-01-02")),
        dict(cost_id="X3", claim_id="C3", cost_type="lost_work_time", incurred_at=ts("2024-01-06"),
             quantity=3.5, amount=0.0, currency="CNY", updated_at=ts("2024-01-06")),
    ],
}
# Index label of the i-th good row of each table.
OFFSET = {t: 100 * (i + 1) for i, t in enumerate(TABLE_ORDER)}  # claims 100.., events 200..


def label(table: str, i: int) -> int:
    return OFFSET[table] + i


def typed_frame(table: str, rows: list[dict], labels: list | None = None) -> pd.DataFrame:
    """A frame typed exactly as schema.py describes (string / float64 / Int64 / UTC timestamps)."""
    spec = SOURCE_TABLES[table]
    data = {}
    for col, kind in spec.columns.items():
        values = [r.get(col) for r in rows]
        if kind == TEXT:
            data[col] = pd.array(values, dtype="string")
        elif kind == DECIMAL:
            data[col] = pd.array([np.nan if v is None else v for v in values], dtype="float64")
        elif kind == INTEGER:
            data[col] = pd.array(values, dtype="Int64")
        elif kind == TIMESTAMP:
            data[col] = pd.Series(pd.to_datetime(
                [pd.NaT if v is None else v for v in values], utc=True)).astype(
                "datetime64[us, UTC]").array
    if labels is None:
        labels = [label(table, i) for i in range(len(rows))]
    return pd.DataFrame(data, index=pd.Index(labels))


def good_typed() -> dict[str, pd.DataFrame]:
    return {t: typed_frame(t, [dict(r) for r in GOOD_ROWS[t]]) for t in TABLE_ORDER}


def raw_of(typed: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Stand-in raw frames: what a CSV reader would give (objects / ISO text), same index."""
    out = {}
    for t, df in typed.items():
        raw = df.astype(object).where(df.notna(), None)
        for col, kind in SOURCE_TABLES[t].columns.items():
            if kind == TIMESTAMP:
                raw[col] = [None if pd.isna(v) else v.strftime("%Y-%m-%d %H:%M:%S")
                            for v in df[col]]
        out[t] = raw
    return out


def run(typed: dict[str, pd.DataFrame], *, raw=None, failures=None, settings=SETTINGS,
        run_time=RUN_TIME, partition="2024-03-01") -> V.ValidationOutcome:
    return V.validate_sources(typed, raw if raw is not None else raw_of(typed), failures or {},
                              settings, run_time, partition)


def with_change(table: str, i: int, **changes) -> dict[str, pd.DataFrame]:
    """Good frames with row i of `table` changed."""
    rows = {t: [dict(r) for r in GOOD_ROWS[t]] for t in TABLE_ORDER}
    rows[table][i].update(changes)
    return {t: typed_frame(t, rows[t]) for t in TABLE_ORDER}


def with_rows(table: str, *extra: dict) -> dict[str, pd.DataFrame]:
    """Good frames plus extra rows appended to `table` (labels continue the table's numbering)."""
    rows = {t: [dict(r) for r in GOOD_ROWS[t]] for t in TABLE_ORDER}
    rows[table].extend(extra)
    return {t: typed_frame(t, rows[t]) for t in TABLE_ORDER}


def reasons_by_row(out: V.ValidationOutcome, table: str) -> dict:
    q = out.quarantine[out.quarantine["source_table"] == table]
    return {row: set(r.split(";")) for row, r in zip(q["row"], q["reasons"])}


def assert_consistent(out: V.ValidationOutcome, typed: dict[str, pd.DataFrame]) -> None:
    for t in TABLE_ORDER:
        q_rows = set(out.quarantine.loc[out.quarantine["source_table"] == t, "row"])
        acc_rows = set(out.accepted[t].index)
        assert q_rows.isdisjoint(acc_rows)
        assert q_rows | acc_rows == set(typed[t].index)
        c = out.counts.set_index("source_table").loc[t]
        assert (c.rows_read, c.rows_accepted, c.rows_quarantined) == (
            len(typed[t]), len(acc_rows), len(q_rows))


def _many_faults() -> dict[str, pd.DataFrame]:
    """Good frames plus one row of nearly every kind of fault, in every table."""
    rows = {t: [dict(r) for r in GOOD_ROWS[t]] for t in TABLE_ORDER}
    c, e, s, k, x = (GOOD_ROWS[t] for t in TABLE_ORDER)
    rows["claims"] += [
        {**c[1], "claim_id": "C4", "product_line": "marine", "outcome": "denied"},
        {**c[1], "claim_id": "C5", "channel": None, "claimed_amount": -1.0, "outcome": "lost",
         "denial_reason": "fraud"},
        {**c[1], "claim_id": "C1", "region": "ALL"},           # duplicate id
        {**c[1], "claim_id": None, "currency": "USD"},
        {**c[0], "claim_id": "C6", "reported_at": ts("2024-01-09")},  # after its events
    ]
    rows["claim_events"] += [
        {**e[0], "event_id": "E9", "claim_id": "C6", "occurred_at": ts("2024-01-02")},
        {**e[1], "event_id": "E10", "claim_id": "C6", "occurred_at": ts("2024-01-10")},
        {**e[1], "event_id": "E1", "event_type": "teleported", "actor_role": None},
        {**e[1], "event_id": "E11", "claim_id": "C99", "occurred_at": ts("2030-01-01")},
        {**e[1], "event_id": "E12", "claim_id": "C4", "occurred_at": None},
    ]
    rows["surveys"] += [{**s[0], "response_id": "S4", "csat": 9, "nps": -1, "effort": None},
                        {**s[1], "response_id": "S1", "claim_id": "C5"}]
    rows["complaints"] += [{**k[0], "complaint_id": "K4", "resolved_at": ts("2024-01-02"),
                            "source": "press"}]
    rows["customer_costs"] += [
        {**x[1], "cost_id": "X4", "amount": None, "currency": None},
        {**x[0], "cost_id": "X5", "quantity": None, "cost_type": None, "claim_id": "C5"},
        {**x[2], "cost_id": "X6", "amount": -3.0, "currency": "EUR"},
    ]
    return {t: typed_frame(t, rows[t]) for t in TABLE_ORDER}
