"""A realistic synthetic claims system: the five source tables of SOURCE.md.

`generate()` builds the tables as pandas frames (fully vectorized with numpy, seeded and
reproducible); `write_demo()` writes them into a SQLAlchemy URL (SQLite by default).

The model, in short (all times are drawn as integer seconds since the epoch, UTC):

* Claims are reported over the `days` days before `end` (local Asia/Shanghai midnight
  starting `end` is the *cutoff*: nothing in the source is later than it). Weekdays and
  office hours are busier; claim numbers follow report time.
* Each claim walks a lifecycle - accepted -> (documents requested/complete) ->
  (investigation for fraud suspects) -> decided -> paid -> closed (-> reopened -> closed)
  - with lognormal step times; complex claims are markedly slower. Milestones after the
  cutoff do not exist yet, so recent claims are still open (no outcome, no payment).
* Surveys, complaints and customer costs derive from the lifecycle: slower, denied,
  reopened claims get lower scores, more complaints and more cost for the customer.
* Service clocks (CLOCKS.md) get their optional events (`clock_event_slots`): receipts
  acknowledged, settlements agreed before some payments, denial notices (some late, a few
  never sent), advance payments on slow complex claims; second document requests and
  requests still outstanding come from the lifecycle itself. A few legacy claims from
  2003, open since a system migration, have clocks no calendar can judge (`add_legacy_claims`).
* With `bad_rows=True` a handful of rule-breaking rows is injected (drawn from a separate
  random stream, so the clean rows are identical with and without them); see
  `inject_bad_rows`. `BAD_ROW_KINDS` names them.

Timestamps are ISO-8601 strings with a +08:00 offset, except claim_events.occurred_at and
claim_events.updated_at, which are naive local (Asia/Shanghai) strings "YYYY-MM-DD HH:MM:SS",
as many core systems export them (SOURCE.md: naive timestamps are read in source_timezone).
Amounts are floats with 2 decimals.
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from claimpulse.schema import DECIMAL, INTEGER, SOURCE_TABLES, TABLE_ORDER

__all__ = ["generate", "write_demo", "write_frames", "cutoff_for", "BAD_ROW_KINDS",
           "DEFAULT_URL"]

DEFAULT_URL = "sqlite:///data/claims_demo.sqlite"

MINUTE, HOUR, DAY = 60, 3600, 86400
LOCAL_OFFSET = 8 * HOUR                       # Asia/Shanghai has no DST: UTC+08:00
LOCAL_TZ = dt.timezone(dt.timedelta(seconds=LOCAL_OFFSET))
CURRENCY = "CNY"

PRODUCT_LINES = ("auto", "property", "health", "life", "accident", "liability")
PRODUCT_P = (0.44, 0.12, 0.22, 0.05, 0.11, 0.06)
PRODUCT_CODE = ("AU", "PR", "HE", "LI", "AC", "LB")
# claimed amount: lognormal median (CNY) and sigma per product line; complex x2.5
AMOUNT_MEDIAN = (6_000.0, 15_000.0, 3_000.0, 100_000.0, 5_000.0, 30_000.0)
AMOUNT_SIGMA = (1.0, 1.2, 1.0, 0.8, 1.0, 1.2)
P_COMPLEX = (0.22, 0.35, 0.15, 0.45, 0.25, 0.45)          # -> ~25% overall
DECIDE_FACTOR = (1.0, 1.2, 0.8, 1.5, 1.0, 1.4)            # handling time multiplier
P_DOCS = (0.55, 0.70, 0.75, 0.80, 0.65, 0.70)             # documents requested (simple)

CHANNELS = ("app", "web", "phone", "agent", "branch")
CHANNEL_P = (0.38, 0.12, 0.22, 0.18, 0.10)
ACCEPT_MEDIAN_H = (1.5, 2.0, 0.5, 4.0, 1.0)               # report -> accepted, hours

REGIONS = ("GD", "JS", "ZJ", "SD", "SH", "BJ", "SC", "HB", "HN", "FJ", "HE", "CQ")
REGION_P = (0.15, 0.12, 0.11, 0.09, 0.09, 0.08, 0.08, 0.06, 0.06, 0.06, 0.05, 0.05)
REGION_ID_PREFIX = ("4401", "3201", "3301", "3701", "3101", "1101", "5101", "4201", "4301",
                    "3501", "1301", "5001")                # first 4 digits of the ID card
P_TEAM_NULL = 0.03

OUTCOME_CODES = ("paid", "partial", "denied", "withdrawn")
PAID, PARTIAL, DENIED, WITHDRAWN = range(4)
OUTCOME_P_NORMAL = (0.81, 0.15, 0.0, 0.04)               # denied added below (8%)
OUTCOME_P_FRAUD = (0.20, 0.15, 0.55, 0.10)
P_DENIED_NORMAL = 0.08
DENIAL_CODES = ("non_disclosure", "fraud", "not_covered", "other")
DENIAL_P_NORMAL = (0.30, 0.0, 0.50, 0.20)
DENIAL_P_FRAUD = (0.15, 0.80, 0.0, 0.05)

# event slots in lifecycle order (a claim's planned events are strictly increasing in time)
SLOTS = ("accepted", "documents_requested", "documents_requested", "documents_complete",
         "investigation_started", "investigation_completed", "decided", "paid", "closed",
         "reopened", "closed")
ROLE_CODES = ("intake", "handler", "investigator", "approver", "system")
# the optional events service clocks count from (CLOCKS.md), appended after SLOTS
CLOCK_SLOTS = ("acknowledged", "settlement_agreed", "denial_notice_sent", "advance_paid")
# Legacy claims migrated from a core system older than the CN calendar package's first
# year (2004): their statutory clocks cannot be judged (status `indeterminate`).
LEGACY_SHARE = 0.0005
LEGACY_YEAR = 2003

COMPLAINT_CATEGORIES = ("delay", "denial", "amount", "documents", "service", "communication")
COMMENTS_GOOD = ("很满意", "理赔很快，点赞", "服务态度好", "流程简单方便", "到账及时",
                 "客服耐心专业", "线上办理很方便")
COMMENTS_MID = ("还可以", "一般", "流程有点复杂", "希望进度更透明", "材料要求较多",
                "等待时间有点长")
COMMENTS_BAD = ("太慢了", "材料反复提交", "拒赔理由不合理", "赔付金额太少", "电话一直打不通",
                "跑了好几趟", "请尽快回电 13800138000", "投诉无人处理")

BAD_ROW_KINDS = (
    "product_line_not_allowed",   # claims.product_line outside the list
    "negative_claimed_amount",    # claims.claimed_amount < 0
    "milestone_order",            # decided event before accepted
    "duplicate_event_id",         # claim_events row delivered twice (same event_id)
    "csat_out_of_range",          # surveys.csat = 6
    "orphan_survey",              # surveys.claim_id of no claim
    "evidence_fee_without_amount",  # customer_costs evidence_fee with null amount
)
BAD_PRODUCT_LINES = ("marine", "travel", "cargo", "pet")


# ----------------------------------------------------------------------------- helpers

def cutoff_for(end: dt.date | dt.datetime | None = None, now: float | None = None) -> int:
    """Epoch seconds of the data's upper bound: local midnight starting `end`, never after now.

    `end` defaults to today's UTC date; its Asia/Shanghai midnight is always in the past.
    """
    if end is None:
        end = dt.datetime.now(dt.timezone.utc).date()
    elif isinstance(end, dt.datetime):
        end = end.date()
    midnight = dt.datetime(end.year, end.month, end.day, tzinfo=LOCAL_TZ)
    now = time.time() if now is None else now
    return int(min(midnight.timestamp(), np.floor(now)))


def _lognormal(rng: np.random.Generator, median, sigma, size: int) -> np.ndarray:
    return np.exp(np.log(median) + sigma * rng.standard_normal(size))


def _step(rng: np.random.Generator, median_s, sigma, size: int, floor: int = MINUTE) -> np.ndarray:
    """Lognormal durations in whole seconds, at least `floor` (keeps milestones strictly ordered)."""
    return np.maximum(np.rint(_lognormal(rng, median_s, sigma, size)), floor).astype(np.int64)


def _pick(rng: np.random.Generator, p, size: int) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum())


def _pick_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category index per row from a (rows x categories) probability matrix."""
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(probs))[:, None]
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def _ids(prefix: str, start: int, n: int, width: int) -> np.ndarray:
    if n == 0:
        return np.array([], dtype=object)
    nums = np.arange(start, start + n).astype(str)
    return np.char.add(prefix, np.char.zfill(nums, width)).astype(object)


def _ts(seconds: np.ndarray, naive: bool = False, mask: np.ndarray | None = None) -> np.ndarray:
    """Epoch seconds -> local ISO strings ('...+08:00', or naive 'YYYY-MM-DD HH:MM:SS')."""
    local = (np.asarray(seconds, dtype=np.int64) + LOCAL_OFFSET).astype("datetime64[s]")
    s = np.datetime_as_string(local, unit="s")
    s = np.char.replace(s, "T", " ") if naive else np.char.add(s, "+08:00")
    out = s.astype(object)
    if mask is not None:
        out[~mask] = None
    return out


def _take(values, codes: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=object)[codes]


def _money(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float), 2)


def _frame(table: str, data: dict) -> pd.DataFrame:
    cols = list(SOURCE_TABLES[table].columns)
    df = pd.DataFrame({c: data[c] for c in cols})
    for c, kind in SOURCE_TABLES[table].columns.items():
        if kind == INTEGER:
            df[c] = df[c].astype("Int64")
        elif kind == DECIMAL:
            df[c] = df[c].astype("float64")
    return df


def _customer_ids(rng: np.random.Generator, region: np.ndarray) -> np.ndarray:
    """18-digit resident-ID-like strings with a valid GB 11643 check digit (never 'X')."""
    n = len(region)
    prefix = np.asarray(REGION_ID_PREFIX)[region]
    district = np.char.zfill((rng.integers(1, 13, n)).astype(str), 2)
    born = (np.datetime64("1955-01-01") + rng.integers(0, 49 * 365, n)).astype("datetime64[D]")
    birth = np.char.replace(np.datetime_as_string(born, unit="D"), "-", "")
    seq = rng.integers(1, 990, n)
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    check_chars = np.array(list("10X98765432"))
    while True:
        body = np.char.add(np.char.add(np.char.add(prefix, district), birth),
                           np.char.zfill(seq.astype(str), 3))
        digits = np.frombuffer(body.astype("S17").tobytes(), dtype=np.uint8).reshape(n, 17) - 48
        mod = (digits.astype(np.int64) @ weights) % 11
        bad = mod == 2                                   # check digit would be 'X'
        if not bad.any():
            break
        seq = np.where(bad, seq + 1, seq)
    return np.char.add(body, check_chars[mod]).astype(object)


# ----------------------------------------------------------------------------- generate

def generate(n_claims: int = 20_000, days: int = 180, seed: int = 7, end: dt.date | None = None,
             bad_rows: bool = True) -> dict[str, pd.DataFrame]:
    """The five source tables (keys of `schema.SOURCE_TABLES`) of a synthetic claims system.

    Claims are reported over the `days` days before `end` (default: today's UTC date);
    nothing is dated after local midnight starting `end` (nor after now). Same arguments
    (and the same `end`) give identical frames.
    """
    if n_claims < 1 or days < 1:
        raise ValueError("n_claims and days must be positive")
    ss = np.random.SeedSequence(seed)
    # More streams for the speed-quality scenario and the clock events: spawn(4) keeps the
    # first two streams (the clean rows and the injected bad rows) exactly as spawn(2) made them.
    rng, bad_rng, shift_rng, clock_rng = (np.random.default_rng(s) for s in ss.spawn(4))
    cutoff = cutoff_for(end)
    start = cutoff - days * DAY
    # n_claims in all: the regular claims and the few legacy ones (add_legacy_claims)
    n_legacy = int(LEGACY_SHARE * n_claims)
    n = int(n_claims) - n_legacy

    # --- report time: busier on weekdays and office hours, mild growth over the window
    day_idx = np.arange(days)
    weekday = ((start + LOCAL_OFFSET) // DAY + day_idx + 3) % 7   # 1970-01-01 was a Thursday
    day_w = np.where(weekday == 5, 0.55, np.where(weekday == 6, 0.45, 1.0))
    day_w = day_w * (1 + 0.15 * day_idx / max(days - 1, 1))
    hour_w = np.array([0.4, 0.25, 0.15, 0.1, 0.1, 0.2, 0.6, 1.5, 3.5, 5.5, 6.0, 5.5,
                       4.0, 4.5, 5.5, 5.5, 5.0, 4.5, 3.5, 3.0, 2.8, 2.2, 1.5, 0.8])
    reported = (start + _pick(rng, day_w, n) * DAY + _pick(rng, hour_w, n) * HOUR
                + rng.integers(0, HOUR, n))
    reported = np.sort(np.minimum(reported, cutoff - 1))        # claim numbers follow time

    # --- customers (some with several claims), their region, and the claim's attributes
    n_cust = 3 * n                       # ~85% of claims from one-claim customers
    cust = rng.integers(0, n_cust, n)
    cust_region = _pick(rng, REGION_P, n_cust)
    cust_id = _customer_ids(rng, cust_region)
    region = cust_region[cust]
    product = _pick(rng, PRODUCT_P, n)
    channel_p = np.tile(np.asarray(CHANNEL_P), (n, 1))
    channel_p[product == 0, 3] *= 1.6                     # auto sells through agents
    channel_p[np.isin(product, (2, 4)), 0] *= 1.4         # health/accident via the app
    channel_p[product == 3, 4] *= 2.5                     # life at the branch
    channel = _pick_rows(rng, channel_p)
    complex_ = rng.random(n) < np.asarray(P_COMPLEX)[product]
    team_no = _pick(rng, (0.5, 0.3, 0.2), n) + 1
    team = np.char.add(np.char.add(np.asarray(REGIONS)[region], "-T"), team_no.astype(str))
    team = team.astype(object)
    team[rng.random(n) < P_TEAM_NULL] = None
    claimed = _lognormal(rng, np.asarray(AMOUNT_MEDIAN)[product], np.asarray(AMOUNT_SIGMA)[product], n)
    claimed = _money(np.clip(claimed * np.where(complex_, 2.5, 1.0), 50, 5_000_000))
    policy_id = np.char.add(np.char.add("P", np.asarray(PRODUCT_CODE)[product]),
                            np.char.zfill(cust.astype(str), 10)).astype(object)

    # --- fraud suspects and the final outcome (what the claim will become)
    fraud = rng.random(n) < (0.035 + 0.06 * complex_) * np.where(claimed > 50_000, 1.4, 1.0)
    p_normal = np.array(OUTCOME_P_NORMAL) * (1 - P_DENIED_NORMAL)
    p_normal[DENIED] = P_DENIED_NORMAL
    outcome = np.where(fraud, _pick(rng, OUTCOME_P_FRAUD, n), _pick(rng, p_normal, n))
    reason = np.where(fraud, _pick(rng, DENIAL_P_FRAUD, n), _pick(rng, DENIAL_P_NORMAL, n))
    pays = (outcome == PAID) | (outcome == PARTIAL)
    decides = outcome != WITHDRAWN

    # --- lifecycle times (seconds); each planned step strictly after the previous one
    accept_delay = _step(rng, np.asarray(ACCEPT_MEDIAN_H)[channel] * HOUR, 0.9, n)
    local = reported + LOCAL_OFFSET
    hour = (local % DAY) // HOUR
    off_hours = ((hour >= 20) | (hour < 8)) & (rng.random(n) < np.where(channel <= 1, 0.5, 0.9))
    morning = local - local % DAY + np.where(hour >= 20, DAY, 0) + int(8.5 * HOUR) - LOCAL_OFFSET
    accepted = np.where(off_hours, np.maximum(morning, reported) + _step(rng, 0.5 * HOUR, 0.8, n),
                        reported + accept_delay)
    cursor = accepted.copy()

    has_docs = rng.random(n) < np.where(complex_, 0.88, np.asarray(P_DOCS)[product])
    docs_req = cursor + _step(rng, 5 * HOUR, 1.0, n)
    docs_done = docs_req + _step(rng, np.where(complex_, 4.0, 2.0) * DAY, 0.9, n, floor=HOUR)
    has_docs_done = has_docs & ((outcome != WITHDRAWN) | (rng.random(n) < 0.3))
    # a follow-up request between the first request and completion (complex claims)
    has_docs_req2 = has_docs_done & complex_ & (rng.random(n) < 0.3)
    docs_req2 = docs_req + np.maximum((rng.uniform(0.2, 0.8, n) * (docs_done - docs_req)).astype(np.int64), 1)
    docs_req2 = np.minimum(docs_req2, docs_done - 1)
    cursor = np.where(has_docs_done, docs_done, np.where(has_docs, docs_req, cursor))

    inv_start = cursor + _step(rng, 1.0 * DAY, 0.6, n)
    inv_done = inv_start + _step(rng, 12.0 * DAY, 0.5, n)
    cursor = np.where(fraud, inv_done, cursor)

    decide_median = np.where(complex_, 6.5 * DAY, 1.2 * DAY) * np.asarray(DECIDE_FACTOR)[product]
    decided = cursor + _step(rng, decide_median, np.where(complex_, 0.75, 0.8), n)
    paid = decided + _step(rng, np.where(complex_, 1.3, 1.0) * DAY, 1.0, n)
    closed = np.where(pays, paid + _step(rng, 6 * HOUR, 0.8, n),
                      np.where(outcome == DENIED, decided + _step(rng, 1.5 * DAY, 0.8, n),
                               cursor + _step(rng, 4.0 * DAY, 0.9, n)))
    p_reopen = np.select([outcome == PARTIAL, outcome == DENIED, outcome == WITHDRAWN],
                         [0.06, 0.06, 0.01], 0.02)
    has_reopen = rng.random(n) < p_reopen
    reopened = closed + _step(rng, 8.0 * DAY, 0.9, n)
    closed2 = reopened + _step(rng, 6.0 * DAY, 0.8, n)
    (docs_req, docs_req2, docs_done, inv_start, inv_done, decided, paid, closed, reopened, closed2,
     has_reopen) = _speed_quality_shift(
        shift_rng, team, reported, cutoff, accepted,
        (docs_req, docs_req2, docs_done, inv_start, inv_done, decided, paid, closed, reopened, closed2),
        has_reopen)

    docs_done_role = np.where(rng.random(n) < 0.6, 4, 1)       # uploaded (system) or handler
    close_role = np.where(pays & ~complex_ & (rng.random(n) < 0.5), 4, 1)
    slot_time = (accepted, docs_req, docs_req2, docs_done, inv_start, inv_done, decided, paid,
                 closed, reopened, closed2)
    slot_plan = (np.ones(n, bool), has_docs, has_docs_req2, has_docs_done, fraud, fraud, decides,
                 pays, np.ones(n, bool), has_reopen, has_reopen)
    slot_role = (0, 1, 1, docs_done_role, 2, 2, 3, 4, close_role, 1, 1)
    c_time, c_plan, c_role = clock_event_slots(clock_rng, n, channel=channel, outcome=outcome,
                                               complex_=complex_, accepted=accepted,
                                               docs_done=docs_done, has_docs_done=has_docs_done,
                                               decided=decided, paid=paid)
    slot_time, slot_plan, slot_role = slot_time + c_time, slot_plan + c_plan, slot_role + c_role
    exists = [plan & (t <= cutoff) for plan, t in zip(slot_plan, slot_time)]

    # --- the claim row as the source holds it at the cutoff
    is_decided = exists[6]
    is_paid = exists[7]
    is_closed = exists[8]
    outcome_now = np.where(decides, np.where(is_decided, outcome, -1),
                           np.where(is_closed, outcome, -1))
    paid_amount = np.where(outcome == PAID, claimed,
                           _money(claimed * rng.uniform(0.3, 0.95, n)))
    paid_amount = np.where(is_paid, paid_amount, np.nan)
    updated = reported.copy()
    for t, e in zip(slot_time, exists):
        updated = np.where(e, np.maximum(updated, t), updated)

    outcome_txt = np.asarray(OUTCOME_CODES + (None,), dtype=object)[outcome_now]
    denial_txt = np.asarray(DENIAL_CODES, dtype=object)[reason]
    denial_txt = np.where(outcome_now == DENIED, denial_txt, None)
    claims = {
        "claim_id": _ids("CLM", 1, n, 8),
        "policy_id": policy_id,
        "customer_id": cust_id[cust],
        "product_line": _take(PRODUCT_LINES, product),
        "channel": _take(CHANNELS, channel),
        "region": _take(REGIONS, region),
        "team": team,
        "complexity": np.where(complex_, "complex", "simple").astype(object),
        "claimed_amount": claimed,
        "paid_amount": paid_amount,
        "currency": np.full(n, CURRENCY, dtype=object),
        "outcome": outcome_txt,
        "denial_reason": denial_txt,
        "reported_at": reported,
        "updated_at": updated,
    }

    # --- claim_events: concatenate the slots, ids in order of occurrence
    ev_claim = np.concatenate([np.flatnonzero(e) for e in exists])
    ev_slot = np.concatenate([np.full(e.sum(), k, dtype=np.int64) for k, e in enumerate(exists)])
    ev_time = np.concatenate([t[e] for t, e in zip(slot_time, exists)])
    ev_role = np.concatenate([(np.broadcast_to(r, n))[e] for r, e in zip(slot_role, exists)])
    order = np.lexsort((ev_slot, ev_claim, ev_time))
    ev_claim, ev_slot, ev_time, ev_role = ev_claim[order], ev_slot[order], ev_time[order], ev_role[order]
    m = len(ev_time)
    # a few events were corrected later (updated_at after occurred_at, never after the cutoff)
    ev_updated = ev_time.copy()
    fix = rng.random(m) < 0.003
    ev_updated[fix] = np.minimum(ev_time[fix] + _step(rng, 5 * DAY, 1.0, int(fix.sum())), cutoff)
    events = {
        "event_id": _ids("EVT", 1, m, 9),
        "claim_id": claims["claim_id"][ev_claim],
        "event_type": _take(SLOTS + CLOCK_SLOTS, ev_slot),
        "occurred_at": ev_time,
        "actor_role": _take(ROLE_CODES, ev_role),
        "updated_at": ev_updated,
    }

    # --- claim-level facts used by surveys, complaints and costs
    rtc_days = (closed - reported) / DAY                  # report -> first close (if closed)
    age_days = (cutoff - reported) / DAY
    slowness = np.where(is_closed, rtc_days, age_days)
    reopened_now = exists[9]

    # --- surveys: ~40% of closed claims answer, some weeks late
    answers = is_closed & (rng.random(n) < np.where(outcome == DENIED, 0.45, 0.40))
    late = rng.random(n) < 0.12
    responded = (closed + _step(rng, 1.2 * DAY, 1.0, n, floor=10 * MINUTE)
                 + np.where(late, rng.integers(14 * DAY, 42 * DAY, n), 0))
    answers &= responded <= cutoff
    sv = np.flatnonzero(answers)
    sv = sv[np.argsort(responded[sv], kind="stable")]
    k = len(sv)
    csat_shift, complaint_w = _customer_group_tone(outcome, reason)
    mu = (1.0 - 0.045 * np.minimum(rtc_days[sv], 60) + csat_shift[sv]
          - 0.7 * (outcome[sv] == PARTIAL) - 0.2 * (outcome[sv] == WITHDRAWN)
          - 0.6 * reopened_now[sv])
    z = mu + 0.9 * rng.standard_normal(k)
    csat = np.clip(np.rint(3.8 + 1.0 * z + 0.45 * rng.standard_normal(k)), 1, 5)
    nps = np.clip(np.rint(7.3 + 2.1 * z + 0.9 * rng.standard_normal(k)), 0, 10)
    effort = np.clip(np.rint(5.0 + 1.3 * z + 0.6 * rng.standard_normal(k)), 1, 7)
    csat[rng.random(k) < 0.03] = np.nan
    nps[rng.random(k) < 0.12] = np.nan
    effort[rng.random(k) < 0.08] = np.nan
    tone = np.where(np.isnan(csat), 1, np.where(csat >= 4, 0, np.where(csat == 3, 1, 2)))
    comment = np.full(k, None, dtype=object)
    for t, phrases in enumerate((COMMENTS_GOOD, COMMENTS_MID, COMMENTS_BAD)):
        sel = tone == t
        comment[sel] = _take(phrases, rng.integers(0, len(phrases), int(sel.sum())))
    comment[rng.random(k) < 0.55] = None
    surveys = {
        "response_id": _ids("SRV", 1, k, 8),
        "claim_id": claims["claim_id"][sv],
        "responded_at": responded[sv],
        "csat": csat, "nps": nps, "effort": effort,
        "comment": comment,
        "updated_at": responded[sv],
    }

    # --- complaints: ~3% of claims, concentrated on slow, denied, partial and reopened ones
    slow = slowness > 20
    w = (1 + complaint_w * (outcome_now == DENIED) + 2.5 * slow + 1.5 * (outcome_now == PARTIAL)
         + 3 * reopened_now + 0.5 * complex_)
    p_complaint = np.minimum(0.03 * w / w.mean(), 0.6)
    complains = rng.random(n) < p_complaint
    anchor = np.where(is_decided, decided, np.where(is_closed, closed,
                      reported + (rng.uniform(0.3, 1.0, n) * (cutoff - reported)).astype(np.int64)))
    received = anchor + _step(rng, 3 * DAY, 0.9, n)
    escalate = complains & (rng.random(n) < np.where(outcome_now == DENIED, 0.25, 0.08))
    received2 = received + _step(rng, 10 * DAY, 0.6, n)
    c_claim = np.concatenate([np.flatnonzero(complains), np.flatnonzero(escalate)])
    c_time = np.concatenate([received[complains], received2[escalate]])
    c_second = np.concatenate([np.zeros(complains.sum(), bool), np.ones(escalate.sum(), bool)])
    keep = c_time <= cutoff
    c_claim, c_time, c_second = c_claim[keep], c_time[keep], c_second[keep]
    order = np.argsort(c_time, kind="stable")
    c_claim, c_time, c_second = c_claim[order], c_time[order], c_second[order]
    kc = len(c_claim)
    regulator = c_second | (rng.random(kc) < 0.17)
    oc = outcome_now[c_claim]
    cat_p = np.tile(np.array([1.0, 0.0, 0.0, 0.6, 0.8, 0.6]), (kc, 1))
    cat_p[:, 0] += 4.0 * slow[c_claim]
    cat_p[:, 1] += 8.0 * (oc == DENIED)
    cat_p[:, 2] += 5.0 * (oc == PARTIAL)
    category = _pick_rows(rng, cat_p)
    resolved = c_time + _step(rng, np.where(regulator, 10.0, 6.0) * DAY, 0.6, kc, floor=HOUR)
    has_resolved = (resolved <= cutoff) & (rng.random(kc) >= 0.03)
    complaints = {
        "complaint_id": _ids("CMP", 1, kc, 7),
        "claim_id": claims["claim_id"][c_claim],
        "received_at": c_time,
        "source": np.where(regulator, "regulator", "customer").astype(object),
        "category": _take(COMPLAINT_CATEGORIES, category),
        "resolved_at": np.where(has_resolved, resolved, 0),
        "updated_at": np.where(has_resolved, resolved, c_time),
    }
    complaint_resolved = has_resolved

    # --- customer costs: trips, evidence fees and lost working time
    active_end = np.where(is_decided, decided, np.where(is_closed, closed, cutoff))
    span = np.maximum(active_end - accepted, MINUTE)
    in_person = np.isin(channel, (3, 4))
    lam = (0.25 + 0.9 * complex_ + 0.6 * in_person + 0.5 * has_docs
           + 0.03 * np.minimum(slowness, 60) + 0.8 * fraud)
    trips = rng.poisson(lam)
    travel = (trips > 0) & exists[0]
    travel_at = accepted + (rng.uniform(0.05, 0.9, n) * span).astype(np.int64)
    travel_amt = np.where(rng.random(n) < 0.4, _money(trips * np.rint(_lognormal(rng, 40, 0.5, n))), np.nan)

    evidence = exists[1] & (rng.random(n) < np.where(np.isin(product, (0, 2, 4)), 0.8, 0.6))
    ev_qty = 1 + rng.poisson(0.8 + 1.2 * complex_)
    ev_amt = _money(ev_qty * _lognormal(rng, 25, 0.8, n))
    ev_end = np.where(exists[3], docs_done, cutoff)
    ev_at = docs_req + (rng.uniform(0.1, 1.0, n) * np.maximum(ev_end - docs_req, MINUTE)).astype(np.int64)
    ev_at = np.minimum(ev_at, cutoff)
    ev_qty_out = np.where(rng.random(n) < 0.05, np.nan, ev_qty.astype(float))

    lost = exists[0] & (rng.random(n) < 0.3 + 0.3 * complex_ + 0.1 * (trips > 0))
    hours = np.rint(2 * _lognormal(rng, 1.5 + 1.0 * trips, 0.6, n) * (1 + complex_)) / 2
    hours = np.maximum(hours, 0.5)
    lost_amt = np.where(rng.random(n) < 0.3, _money(hours * _lognormal(rng, 45, 0.4, n)), np.nan)
    lost_at = accepted + (rng.uniform(0.0, 1.0, n) * span).astype(np.int64)

    parts = [(travel, 0, travel_at, trips.astype(float), travel_amt),
             (evidence, 1, ev_at, ev_qty_out, ev_amt),
             (lost, 2, lost_at, hours, lost_amt)]
    k_claim = np.concatenate([np.flatnonzero(sel) for sel, *_ in parts])
    k_type = np.concatenate([np.full(sel.sum(), t) for sel, t, *_ in parts])
    k_time = np.concatenate([np.minimum(at[sel], cutoff) for sel, _, at, *_ in parts])
    k_qty = np.concatenate([q[sel] for sel, _, _, q, _ in parts])
    k_amt = np.concatenate([a[sel] for sel, *_, a in parts])
    order = np.lexsort((k_type, k_claim, k_time))
    k_claim, k_type, k_time, k_qty, k_amt = (a[order] for a in (k_claim, k_type, k_time, k_qty, k_amt))
    costs = {
        "cost_id": _ids("CST", 1, len(k_claim), 8),
        "claim_id": claims["claim_id"][k_claim],
        "cost_type": _take(("travel", "evidence_fee", "lost_work_time"), k_type),
        "incurred_at": k_time,
        "quantity": k_qty,
        "amount": k_amt,
        "currency": None,   # set after injection (null when amount is null)
        "updated_at": k_time,
    }

    raw = {"claims": claims, "claim_events": events, "surveys": surveys,
           "complaints": complaints, "customer_costs": costs}
    injected = inject_bad_rows(bad_rng, raw, n) if bad_rows else {kind: 0 for kind in BAD_ROW_KINDS}
    add_legacy_claims(clock_rng, raw, n_legacy)

    # --- render: timestamps as strings, frames in contract column order
    c = raw["claims"]
    c["reported_at"] = _ts(c["reported_at"])
    c["updated_at"] = _ts(c["updated_at"])
    e = raw["claim_events"]
    e["occurred_at"] = _ts(e["occurred_at"], naive=True)
    e["updated_at"] = _ts(e["updated_at"], naive=True)
    s = raw["surveys"]
    s["responded_at"] = _ts(s["responded_at"])
    s["updated_at"] = _ts(s["updated_at"])
    q = raw["complaints"]
    q["received_at"] = _ts(q["received_at"])
    q["resolved_at"] = _ts(q["resolved_at"], mask=complaint_resolved)
    q["updated_at"] = _ts(q["updated_at"])
    k = raw["customer_costs"]
    k["currency"] = np.where(np.isnan(k["amount"]), None, CURRENCY).astype(object)
    k["incurred_at"] = _ts(k["incurred_at"])
    k["updated_at"] = _ts(k["updated_at"])
    frames = {t: _frame(t, raw[t]) for t in TABLE_ORDER}
    for df in frames.values():
        df.attrs["bad_rows"] = dict(injected)     # rows broken on purpose, by kind
    return frames


# The speed-quality scenario: one team speeds up by closing claims that come back. Its
# claims reported in the last SHIFT_DAYS before the cutoff move through every step after
# acceptance SHIFT_SPEED times as fast and are reopened far more often, so the guard (which
# compares the 28 closed dates ending 30 days before the latest close with the 28 before)
# raises an alert on `make run`'s default data.
SHIFT_TEAM = "GD-T1"
SHIFT_DAYS = 62
SHIFT_SPEED = 0.5
SHIFT_REOPEN_P = 0.15


def _speed_quality_shift(rng: np.random.Generator, team: np.ndarray, reported: np.ndarray,
                         cutoff: int, accepted: np.ndarray, times: tuple[np.ndarray, ...],
                         has_reopen: np.ndarray) -> tuple[np.ndarray, ...]:
    """`times` = the slot times after acceptance up to the second close, in lifecycle order
    (docs_req ... closed, reopened, closed2); the last two follow the compressed first close."""
    hit = (team == SHIFT_TEAM) & (reported >= cutoff - SHIFT_DAYS * DAY)
    *steps, closed, reopened, closed2 = times
    out = []
    # Compress the gap to acceptance; + k seconds keeps each claim's events strictly ordered
    # (a step is at least a minute long, so the result is never later than the original).
    for k, t in enumerate((*steps, closed), start=1):
        out.append(np.where(hit, accepted + ((t - accepted) * SHIFT_SPEED).astype(np.int64) + k, t))
    moved = out[-1] - closed
    extra = hit & (rng.random(len(hit)) < SHIFT_REOPEN_P)
    return (*out, reopened + moved, closed2 + moved, has_reopen | extra)


# Customer groups see a denial differently (the seed): a fraud denial hurts satisfaction and
# draws complaints most, a non-disclosure denial nearly as much, any other denial less.
DENIAL_CSAT_SHIFT = {"non_disclosure": -2.0, "fraud": -2.6, "not_covered": -1.3, "other": -1.4}
DENIAL_COMPLAINT_W = {"non_disclosure": 6.0, "fraud": 8.0, "not_covered": 3.5, "other": 4.0}


def _customer_group_tone(outcome: np.ndarray, reason: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per claim: the shift of its survey tone and its complaint weight when denied, by reason."""
    denied = outcome == DENIED
    csat = np.asarray([DENIAL_CSAT_SHIFT[c] for c in DENIAL_CODES])[reason]
    weight = np.asarray([DENIAL_COMPLAINT_W[c] for c in DENIAL_CODES])[reason]
    return np.where(denied, csat, 0.0), np.where(denied, weight, 0.0)


def clock_event_slots(rng: np.random.Generator, n: int, *, channel, outcome, complex_, accepted,
                      docs_done, has_docs_done, decided, paid) -> tuple[tuple, tuple, tuple]:
    """Times, plans and actor roles of the CLOCK_SLOTS events (epoch seconds, per claim).

    - acknowledged: an automatic receipt for 40% of app and web claims, about 2 h after acceptance;
    - settlement_agreed (达成赔偿协议): a quarter of paid claims, between decision and payment;
    - denial_notice_sent (拒赔通知书): most denials about a day after the decision (some more
      than 3 days late, 3% typed an hour before the decision), 5% never sent;
    - advance_paid (先予支付): half of the paid complex claims whose decision came more than
      30 days after the documents, 20-30 days after them.
    Slots planned after the cutoff do not exist yet (the caller's `exists`).
    """
    app_web = (channel == 0) | (channel == 1)
    ack_plan = app_web & (rng.random(n) < 0.4)
    ack = accepted + _step(rng, 2 * HOUR, 1.0, n)
    pays = (outcome == PAID) | (outcome == PARTIAL)
    settle_plan = pays & (rng.random(n) < 0.25)
    settle = decided + np.maximum((rng.uniform(0.2, 0.8, n) * (paid - decided)).astype(np.int64), 1)
    denied = outcome == DENIED
    notice_plan = denied & (rng.random(n) >= 0.05)
    notice = np.where(rng.random(n) < 0.03, decided - HOUR, decided + _step(rng, DAY, 0.9, n))
    slow = has_docs_done & complex_ & pays & (decided - docs_done > 30 * DAY)
    advance_plan = slow & (rng.random(n) < 0.5)
    advance = docs_done + rng.integers(20 * DAY, 30 * DAY, n)
    return ((ack, settle, notice, advance), (ack_plan, settle_plan, notice_plan, advance_plan),
            (4, 1, 1, 4))


def add_legacy_claims(rng: np.random.Generator, raw: dict[str, dict], k: int) -> None:
    """Append `k` open complex claims reported in LEGACY_YEAR, accepted and never decided (the
    backlog of a migrated core system), copying the other attributes of random claims. Their
    events come first, as the event ids follow time. Ids: LGC..., EVTL...."""
    if k <= 0:
        return
    claims, events = raw["claims"], raw["claim_events"]
    src = np.sort(rng.choice(len(claims["claim_id"]), size=k, replace=False))
    year0 = int(dt.datetime(LEGACY_YEAR, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    reported = np.sort(year0 + rng.integers(0, 300 * DAY, k))
    accepted = reported + _step(rng, 3 * HOUR, 0.8, k)
    legacy = {col: np.asarray(v)[src].copy() for col, v in claims.items()}
    legacy.update({
        "claim_id": _ids("LGC", 1, k, 7), "complexity": np.full(k, "complex", dtype=object),
        "outcome": np.full(k, None, dtype=object), "denial_reason": np.full(k, None, dtype=object),
        "paid_amount": np.full(k, np.nan), "reported_at": reported, "updated_at": accepted,
    })
    for col in claims:
        claims[col] = np.concatenate([np.asarray(claims[col]), legacy[col]])
    first = {"event_id": _ids("EVTL", 1, k, 6), "claim_id": legacy["claim_id"],
             "event_type": np.full(k, "accepted", dtype=object), "occurred_at": accepted,
             "actor_role": np.full(k, "intake", dtype=object), "updated_at": accepted}
    for col in events:
        events[col] = np.concatenate([first[col], np.asarray(events[col])])


def _count(rate: float, population: int) -> int:
    return min(population, max(1, int(round(rate * population)))) if population else 0


def inject_bad_rows(rng: np.random.Generator, raw: dict[str, dict], n: int) -> dict[str, int]:
    """Break a few rows in place (arrays of epoch seconds, before rendering). Returns counts.

    Rates: bad product_line 0.1% of claims, negative claimed_amount 0.05%, milestone order
    (decided before accepted) 0.05%, duplicated events 0.1% of events (appended copies),
    orphan surveys 0.1% of surveys, csat = 6 in 0.2%, evidence_fee without amount 0.5% of
    evidence fees; at least one of each whenever the table has rows to break. Overall about
    0.2% of the rows break a rule.
    """
    claims, events, surveys, costs = (raw[t] for t in ("claims", "claim_events", "surveys",
                                                       "customer_costs"))
    counts: dict[str, int] = {}

    # milestone order: the decided event moved between reported_at and accepted_at
    ev_claim_idx = np.char.lstrip(events["claim_id"].astype(str), "CLM").astype(np.int64) - 1
    etype = events["event_type"]
    dec_rows = np.flatnonzero(etype == "decided")
    acc_rows = np.flatnonzero(etype == "accepted")
    acc_time = np.zeros(n, np.int64)
    acc_time[ev_claim_idx[acc_rows]] = events["occurred_at"][acc_rows]
    k = min(_count(0.0005, n), len(dec_rows))
    chosen = rng.choice(dec_rows, size=k, replace=False) if k else np.array([], np.int64)
    cl = ev_claim_idx[chosen]
    rep = claims["reported_at"][cl]
    new_t = rep + (acc_time[cl] - rep) // 2
    events["occurred_at"][chosen] = new_t
    events["updated_at"][chosen] = np.maximum(events["updated_at"][chosen], new_t)
    counts["milestone_order"] = k
    taken = set(cl.tolist())

    # bad product lines and negative amounts on other claims
    free = np.setdiff1d(np.arange(n), np.fromiter(taken, np.int64, len(taken)))
    k1, k2 = _count(0.001, n), _count(0.0005, n)
    k1, k2 = min(k1, len(free)), min(k2, max(len(free) - k1, 0))
    pick = rng.choice(free, size=k1 + k2, replace=False)
    bad_pl, neg = pick[:k1], pick[k1:]
    claims["product_line"][bad_pl] = _take(BAD_PRODUCT_LINES, rng.integers(0, len(BAD_PRODUCT_LINES), k1))
    claims["claimed_amount"][neg] = -np.abs(claims["claimed_amount"][neg])
    counts["product_line_not_allowed"] = k1
    counts["negative_claimed_amount"] = k2

    # duplicated event ids: a few events delivered twice (appended copies)
    m = len(events["event_id"])
    k = _count(0.001, m)
    dup = np.sort(rng.choice(m, size=k, replace=False))
    for col in events:
        events[col] = np.concatenate([events[col], events[col][dup]])
    counts["duplicate_event_id"] = k

    # surveys: responses for claims that do not exist (copies of real answers) ...
    ks = len(surveys["response_id"])
    k = _count(0.001, ks) if ks else 1
    if ks:
        src = np.sort(rng.choice(ks, size=k, replace=False))
        extra = {col: surveys[col][src].copy() for col in surveys}
    else:  # no survey to copy: make one up
        t = np.array([claims["reported_at"].max()])
        extra = {"responded_at": t, "csat": np.array([3.0]), "nps": np.array([7.0]),
                 "effort": np.array([4.0]), "comment": np.array([None], object), "updated_at": t}
    extra["response_id"] = _ids("SRV", ks + 1, k, 8)
    orphan_no = n + 1000 * np.arange(1, k + 1)             # numbers no claim has
    extra["claim_id"] = np.char.add("CLM", np.char.zfill(orphan_no.astype(str), 8)).astype(object)
    for col in surveys:
        surveys[col] = np.concatenate([surveys[col], extra[col]])
    counts["orphan_survey"] = k
    # ... and csat 6 on a scale of 5 (on real responses only)
    k = _count(0.002, ks)
    if k:
        surveys["csat"][rng.choice(ks, size=k, replace=False)] = 6
    counts["csat_out_of_range"] = k

    # an evidence fee nobody recorded the amount of
    fee_rows = np.flatnonzero(costs["cost_type"] == "evidence_fee")
    k = _count(0.005, len(fee_rows))
    if k:
        costs["amount"][rng.choice(fee_rows, size=k, replace=False)] = np.nan
    counts["evidence_fee_without_amount"] = k
    return {kind: counts.get(kind, 0) for kind in BAD_ROW_KINDS}


# ----------------------------------------------------------------------------- write

def _sql_types(table: str) -> dict[str, sa.types.TypeEngine]:
    # Double, not Float: MariaDB makes FLOAT single precision (126102.62 -> 126103).
    kinds = {DECIMAL: sa.Double(), INTEGER: sa.Integer()}
    return {c: kinds.get(k, sa.Text()) for c, k in SOURCE_TABLES[table].columns.items()}


def index_source(conn: sa.Connection, tables: Iterable[str]) -> None:
    """The indexes a claims system has and ClaimPulse's nightly queries use: each table's id,
    its claim_id (re-reading a changed claim's history) and updated_at (rows changed since the
    watermark). Missing ones are created; existing ones are left alone."""
    meta, inspector = sa.MetaData(), sa.inspect(conn)
    for name in tables:
        spec, present = SOURCE_TABLES[name], {c["name"] for c in inspector.get_columns(name)}
        cols = [c for c in dict.fromkeys([spec.key, spec.claim_column, "updated_at"]) if c in present]
        t = sa.Table(name, meta, *[sa.Column(c, sa.Text()) for c in cols])
        for c in cols:
            # MySQL indexes a TEXT column by a prefix only
            sa.Index(f"ix_{name}_{c}", t.c[c], mysql_length=64).create(conn, checkfirst=True)


def write_frames(url: str, frames: dict[str, pd.DataFrame], chunksize: int = 200_000) -> dict[str, int]:
    """Replace the tables in `url` with `frames` in one transaction, indexed as a claims system
    is (index_source); rows written per table."""
    u = sa.engine.make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:" \
            and not u.database.startswith("file:"):
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(u)
    out: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            for table, df in frames.items():
                df.to_sql(table, conn, if_exists="replace", index=False, chunksize=chunksize,
                          method=None, dtype=_sql_types(table) if table in SOURCE_TABLES else None)
                out[table] = len(df)
            index_source(conn, [t for t in frames if t in SOURCE_TABLES])
    finally:
        engine.dispose()
    return out


def write_demo(url: str = DEFAULT_URL, n_claims: int = 20_000, days: int = 180, seed: int = 7,
               end: dt.date | None = None, bad_rows: bool = True) -> dict[str, int]:
    """Generate the demo claims system and write its five tables into `url` (replacing them).

    Returns the rows written per table. Parent folders of a SQLite file are created.
    """
    return write_frames(url, generate(n_claims=n_claims, days=days, seed=seed, end=end,
                                      bad_rows=bad_rows))


if __name__ == "__main__":  # python -m claimpulse.demo [URL] [N_CLAIMS]
    import sys

    t0 = time.perf_counter()
    rows = write_demo(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL,
                      int(sys.argv[2]) if len(sys.argv) > 2 else 20_000)
    print(rows, f"{time.perf_counter() - t0:.1f}s")
