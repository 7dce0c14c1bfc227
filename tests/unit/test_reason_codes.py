"""Every reason code of claimpulse.validate.REASON_CODES is produced by a crafted bad row: the
golden rows plus one crafted row per rule, as raw text frames (as a CSV folder gives them),
through extract.coerce_table and validate.validate_sources."""
from __future__ import annotations

import pandas as pd

from claimpulse.config import default_settings
from claimpulse.extract import coerce_table
from claimpulse.schema import SOURCE_TABLES
from claimpulse.validate import REASON_CODES, validate_sources

from ..conftest import GOLDEN

TABLES = tuple(SOURCE_TABLES)


def _row(base: pd.DataFrame, key: str, new_id, **changes) -> pd.DataFrame:
    row = base.iloc[[0]].copy()
    row[key] = new_id
    for col, value in changes.items():
        row[col] = value
    return row


def crafted_bad_sources() -> tuple[dict[str, pd.DataFrame], dict[str, set[str]]]:
    """Raw frames (text, as a CSV folder gives them) = the golden rows plus one crafted row per
    rule; and the reason each crafted row must carry, by (table, key)."""
    raw = {t: pd.read_csv(GOLDEN / f"{t}.csv", dtype=str, keep_default_na=False).replace("", None)
           for t in TABLES}
    expect: dict[tuple[str, str], str] = {}
    extra: dict[str, list[pd.DataFrame]] = {t: [] for t in TABLES}

    def add(table: str, new_id, code: str, base_key: str | None = None, **changes):
        base = raw[table]
        key = SOURCE_TABLES[table].key
        if base_key is not None:
            base = base[base[key] == base_key]
        extra[table].append(_row(base, key, new_id, **changes))
        if new_id is not None:
            expect[(table, new_id)] = code

    # claims: copies of claim A (paid, simple) with one thing wrong each
    for col in ("policy_id", "customer_id", "product_line", "channel", "region", "complexity",
                "claimed_amount", "currency", "reported_at", "updated_at"):
        add("claims", f"C_{col}_missing", f"{col}_missing", **{col: None})
    add("claims", None, "claim_id_missing")
    for col, bad in (("product_line", "marine"), ("channel", "fax"), ("complexity", "epic"),
                     ("currency", "USD"), ("outcome", "maybe"), ("region", "ALL"), ("team", "ALL")):
        add("claims", f"C_{col}_bad", f"{col}_not_allowed", **{col: bad})
    add("claims", "C_team_unassigned", "team_not_allowed", team="UNASSIGNED")
    add("claims", "C_dr_bad", "denial_reason_not_allowed", outcome="denied", denial_reason="bribe",
        paid_amount=None)
    add("claims", "C_dr_missing", "denial_reason_missing", outcome="denied", denial_reason=None,
        paid_amount=None)
    add("claims", "C_dr_nodenial", "denial_reason_without_denial", denial_reason="fraud")
    add("claims", "C_neg_claimed", "claimed_amount_out_of_range", claimed_amount="-5.00")
    add("claims", "C_neg_paid", "paid_amount_out_of_range", paid_amount="-1")
    for col, bad in (("claimed_amount", "12,34"), ("paid_amount", "lots"),
                     ("reported_at", "2026-02-30 10:00"), ("updated_at", "yesterday")):
        add("claims", f"C_{col}_invalid", f"{col}_invalid", **{col: bad})
    for _ in range(2):
        extra["claims"].append(_row(raw["claims"], "claim_id", "C_dup"))
    expect[("claims", "C_dup")] = "claim_id_not_unique"
    add("claims", "C_order", "milestone_order")           # its events break the order (below)

    ev = raw["claim_events"]
    ev_base = ev[ev["event_type"] == "accepted"].iloc[[0]]   # A1: accepted, intake

    def add_ev(new_id, code, **changes):
        row = _row(ev_base, "event_id", new_id, **{"event_type": "documents_requested", **changes})
        extra["claim_events"].append(row)
        if new_id is not None:
            expect[("claim_events", new_id)] = code

    add_ev(None, "event_id_missing")
    add_ev("E_claim_missing", "claim_id_missing", claim_id=None)
    add_ev("E_orphan", "orphan_claim", claim_id="NO_SUCH_CLAIM")
    add_ev("E_type_missing", "event_type_missing", event_type=None)
    add_ev("E_type_bad", "event_type_not_allowed", event_type="teleported")
    add_ev("E_role_missing", "actor_role_missing", actor_role=None)
    add_ev("E_role_bad", "actor_role_not_allowed", actor_role="ceo")
    add_ev("E_occ_missing", "occurred_at_missing", occurred_at=None)
    add_ev("E_occ_invalid", "occurred_at_invalid", occurred_at="2026-13-01 00:00")
    add_ev("E_future", "occurred_at_in_future", occurred_at="2999-01-01T00:00:00+08:00")
    add_ev("E_held", "claim_quarantined", claim_id="C_product_line_bad")
    for _ in range(2):
        add_ev("E_dup", "event_id_not_unique")
    add_ev("E_order_acc", "milestone_order", claim_id="C_order", event_type="accepted",
           occurred_at="2026-03-02T12:00:00+08:00")
    add_ev("E_order_dec", "milestone_order", claim_id="C_order", event_type="decided",
           occurred_at="2026-03-01T12:00:00+08:00")

    add("surveys", "S_held", "claim_quarantined", claim_id="C_channel_bad")
    add("surveys", "S_orphan", "orphan_claim", claim_id="NO_SUCH_CLAIM")
    add("surveys", None, "response_id_missing")
    add("surveys", "S_resp_missing", "responded_at_missing", responded_at=None)
    add("surveys", "S_resp_invalid", "responded_at_invalid", responded_at="soon")
    for col, bad, code in (("csat", "6", "out_of_range"), ("csat", "five", "invalid"),
                           ("nps", "11", "out_of_range"), ("nps", "9.5", "invalid"),
                           ("effort", "0", "out_of_range"), ("effort", "high", "invalid")):
        add("surveys", f"S_{col}_{code}", f"{col}_{code}", **{col: bad})
    for _ in range(2):
        extra["surveys"].append(_row(raw["surveys"], "response_id", "S_dup"))
    expect[("surveys", "S_dup")] = "response_id_not_unique"

    add("complaints", None, "complaint_id_missing")
    add("complaints", "Q_recv_missing", "received_at_missing", received_at=None)
    add("complaints", "Q_recv_invalid", "received_at_invalid", received_at="2026/02/31 09:00")
    add("complaints", "Q_src_missing", "source_missing", source=None)
    add("complaints", "Q_src_bad", "source_not_allowed", source="press")
    add("complaints", "Q_resolved_early", "resolved_before_received",
        resolved_at="2026-03-01T09:00:00+08:00")
    add("complaints", "Q_resolved_invalid", "resolved_at_invalid", resolved_at="n/a")
    for _ in range(2):
        extra["complaints"].append(_row(raw["complaints"], "complaint_id", "Q_dup"))
    expect[("complaints", "Q_dup")] = "complaint_id_not_unique"

    # costs: copies of K4 (travel with an amount)
    add("customer_costs", None, "cost_id_missing", base_key="K4")
    add("customer_costs", "K_type_missing", "cost_type_missing", base_key="K4", cost_type=None)
    add("customer_costs", "K_type_bad", "cost_type_not_allowed", base_key="K4", cost_type="bribe")
    add("customer_costs", "K_inc_missing", "incurred_at_missing", base_key="K4", incurred_at=None)
    add("customer_costs", "K_inc_invalid", "incurred_at_invalid", base_key="K4", incurred_at="2026-02-25 25:00")
    add("customer_costs", "K_qty_missing", "quantity_missing", base_key="K4", quantity=None)
    add("customer_costs", "K_qty_neg", "quantity_out_of_range", base_key="K4", quantity="-2")
    add("customer_costs", "K_qty_invalid", "quantity_invalid", base_key="K4", quantity="two")
    add("customer_costs", "K_amt_neg", "amount_out_of_range", base_key="K4", amount="-150.00")
    add("customer_costs", "K_amt_invalid", "amount_invalid", base_key="K4", amount="¥150")
    add("customer_costs", "K_cur_missing", "currency_missing", base_key="K4", currency=None)
    add("customer_costs", "K_cur_bad", "currency_not_allowed", base_key="K4", currency="EUR")
    add("customer_costs", "K_fee", "evidence_fee_without_amount", base_key="K4",
        cost_type="evidence_fee", amount=None, currency=None)
    for _ in range(2):
        extra["customer_costs"].append(_row(raw["customer_costs"], "cost_id", "K_dup"))
    expect[("customer_costs", "K_dup")] = "cost_id_not_unique"

    frames = {t: pd.concat([raw[t], *extra[t]], ignore_index=True) for t in TABLES}
    return frames, expect


def validate_raw(raw: dict[str, pd.DataFrame], settings=None, run_time="2026-04-01T00:00:00Z"):
    settings = settings or default_settings()
    reads = {t: coerce_table(raw[t], SOURCE_TABLES[t], settings.source_timezone) for t in TABLES}
    outcome = validate_sources({t: r.typed for t, r in reads.items()},
                               {t: r.raw for t, r in reads.items()},
                               {t: r.failures for t, r in reads.items()},
                               settings, pd.Timestamp(run_time), "test")
    return reads, outcome


def test_every_reason_code_is_produced_by_a_crafted_row():
    raw, expect = crafted_bad_sources()
    _, outcome = validate_raw(raw)
    q = outcome.quarantine
    produced = set(q["reasons"].str.split(";").explode())
    templates = {c for c in REASON_CODES if "<" in c}
    assert produced == set(REASON_CODES) - templates, (
        f"never produced: {sorted(set(REASON_CODES) - templates - produced)}; "
        f"unknown: {sorted(produced - set(REASON_CODES))}")
    # ... and each crafted row carries the reason it was crafted for
    by_key = q.groupby(["source_table", "source_key"])["reasons"].agg(";".join)
    for (table, key), code in expect.items():
        assert code in by_key.get((table, key), "").split(";"), (table, key, code, by_key.get((table, key)))
    # the golden rows stay clean
    for t in TABLES:
        golden_keys = set(pd.read_csv(GOLDEN / f"{t}.csv", dtype=str)[SOURCE_TABLES[t].key])
        assert not golden_keys & set(q.loc[q["source_table"] == t, "source_key"].dropna()), t
    counts = outcome.counts.set_index("source_table")
    for t in TABLES:
        assert counts.loc[t, "rows_read"] == len(raw[t])
        assert counts.loc[t, "rows_read"] == counts.loc[t, "rows_accepted"] + counts.loc[t, "rows_quarantined"]
        assert counts.loc[t, "rows_quarantined"] == (q["source_table"] == t).sum()

