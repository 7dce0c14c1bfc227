"""The clock engine (CLOCKS.md "Counting"): claims, events, complaints -> fact_claim_clock rows.

Pure and vectorised. Timestamps are int64 UTC microseconds, local dates int64 days since
1970-01-01 in the clock's own timezone. Per clock (a handful) and per pause index (a few)
there is a loop; over claims there is none:

- events are sorted once by (claim, occurred_at, event_id as text);
- the start is the claim's first event of a type (first rows per claim in the sorted
  order), the stop the first listed event at or after it, pauses a small state machine
  solved by collapsing runs of the same token;
- counting uses each calendar's cumulative count array C over days: counted days in
  (start, D] are C[D] - C[start] minus each pause's share, and the due date is a
  searchsorted on C for the target shifted by the pauses met on the way.

A date a calendar does not cover never counts as working in the lower count; the first
uncovered date the count needs (`u`) bounds the due date from below, and the status is
`indeterminate` only when the answer depends on it (u before end_date).
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from claimpulse.clocks.calendars import CalendarDays, build_calendar
from claimpulse.clocks.models import ClockConfig, ClockDef, active_clocks, named_regions
from claimpulse.extract import positions_in

__all__ = ["CLOCK_STATUSES", "FACT_CLOCK_COLUMNS", "evaluate_clocks"]

CLOCK_STATUSES = ("met", "breached", "overdue", "paused", "running", "indeterminate")
FACT_CLOCK_COLUMNS: tuple[str, ...] = (
    "clock_id", "subject", "subject_id", "claim_id", "product_line", "channel", "region", "team",
    "started_at", "stopped_at", "start_date", "end_date", "due_date", "limit_n", "unit",
    "calendar", "timezone", "paused_days", "elapsed_days", "days_to_due", "status", "as_of_date",
)
_DIMS = ("product_line", "channel", "region", "team")
_NAT = np.iinfo(np.int64).min          # missing timestamp / day
_US_PER_DAY = 86_400 * 1_000_000
_FAR = np.iinfo(np.int64).max // 4     # "no pause here" / "never" on the day axis
_STATUS = {s: i for i, s in enumerate(CLOCK_STATUSES)}


# --------------------------------------------------------------------------- small helpers

def _utc_us(s: pd.Series | None, n: int) -> np.ndarray:
    """A timestamp column -> int64 UTC microseconds (missing = _NAT)."""
    if s is None:
        return np.full(n, _NAT, dtype=np.int64)
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        s = pd.to_datetime(s, utc=True)
    naive = s.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("us")
    return naive.to_numpy().view(np.int64).copy()


def _local_day(us: np.ndarray, tz: str) -> np.ndarray:
    """UTC microseconds -> local date in `tz` as days since 1970-01-01 (missing stays _NAT)."""
    ok = us != _NAT
    out = np.full(len(us), _NAT, dtype=np.int64)
    if ok.any():
        idx = pd.DatetimeIndex(us[ok].view("datetime64[us]")).tz_localize("UTC").tz_convert(tz)
        out[ok] = idx.tz_localize(None).to_numpy().astype("datetime64[D]").view(np.int64)
    return out


def _local_day_where(us: np.ndarray, valid: np.ndarray, tz: str, fill: int) -> np.ndarray:
    """_local_day of the `valid` entries of a 2-D array; `fill` elsewhere."""
    out = np.full(us.shape, fill, dtype=np.int64)
    out[valid] = _local_day(us[valid], tz)
    return out


def _cutoff_us(as_of: dt.date, tz: str) -> int:
    """First instant after the as-of date in `tz`: anything at or after it is ignored."""
    nxt = pd.Timestamp(as_of + dt.timedelta(days=1)).tz_localize(tz).tz_convert("UTC")
    return int(nxt.as_unit("us").value)


def _first_per_group(groups: np.ndarray) -> np.ndarray:
    """Positions of the first row of each run of equal values in a sorted array."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])


def _value_mask(values: pd.Series, allowed: list) -> np.ndarray:
    """values in `allowed`; a None in `allowed` matches a null value."""
    keys = [v for v in allowed if v is not None]
    mask = positions_in(values.astype("string"), pd.Index(keys, dtype="object")) >= 0 if keys \
        else np.zeros(len(values), dtype=bool)
    if any(v is None for v in allowed):
        mask |= values.isna().to_numpy()
    return mask


# --------------------------------------------------------------------------- events

class _Events:
    """The claim events sorted once by (claim, occurred_at, event_id as text)."""

    def __init__(self, events: pd.DataFrame, claim_ids: pd.Index):
        code = positions_in(events["claim_id"], claim_ids) if len(events) else np.zeros(0, np.int64)
        occ = _utc_us(events["occurred_at"], len(events)) if len(events) else np.zeros(0, np.int64)
        keep = (code >= 0) & (occ != _NAT)
        types = events["event_type"].astype("string").to_numpy(dtype=object, na_value=None)[keep] \
            if len(events) else np.zeros(0, object)
        eid = events["event_id"].astype("string").to_numpy(dtype=object, na_value="")[keep] \
            if len(events) else np.zeros(0, object)
        code, occ = code[keep], occ[keep]
        order = np.lexsort((occ, code))
        code, occ, types, eid = code[order], occ[order], types[order], eid[order]
        # ties in (claim, occurred_at) are broken by event_id as text; only tied rows are re-sorted
        same = (code[1:] == code[:-1]) & (occ[1:] == occ[:-1])
        if same.any():
            tied = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
            perm = np.lexsort((eid[tied].astype(str), occ[tied], code[tied]))
            for a in (code, occ, types, eid):
                a[tied] = a[tied][perm]
        self.code, self.occ, self.eid = code, occ, eid
        self.n_claims = len(claim_ids)
        uniq, inv = np.unique(types.astype(str), return_inverse=True) if len(types) else (np.zeros(0, str), np.zeros(0, np.int64))
        self.type_code = {t: i for i, t in enumerate(uniq.tolist())}
        self.tcode = inv.astype(np.int64)
        self._first: dict[str, np.ndarray] = {}

    def positions(self, types) -> np.ndarray:
        """Positions (in sorted order) of the events of the given types."""
        codes = [self.type_code[t] for t in types if t in self.type_code]
        if not codes:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(np.isin(self.tcode, codes))

    def first_of(self, event_type: str) -> np.ndarray:
        """Per claim: occurred_at of its first event of `event_type` (_NAT when none)."""
        if event_type not in self._first:
            out = np.full(self.n_claims, _NAT, dtype=np.int64)
            pos = self.positions([event_type])
            first = pos[_first_per_group(self.code[pos])]
            out[self.code[first]] = self.occ[first]
            self._first[event_type] = out
        return self._first[event_type]


# --------------------------------------------------------------------------- one clock

def _subjects(clock: ClockDef, regions: list[str] | None, named: frozenset[str],
              claims: pd.DataFrame, complaints: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The clock's subjects (claims, or complaints with their claim's columns) it applies to,
    and each one's claim position (-1 when the complained claim is unknown)."""
    claims = claims.reset_index(drop=True)
    if clock.subject == "claim":
        rows = claims
        pos = np.arange(len(claims), dtype=np.int64)
        subject_id = claims["claim_id"]
    else:
        complaints = complaints.reset_index(drop=True)
        pos = positions_in(complaints["claim_id"], pd.Index(claims["claim_id"])) if len(complaints) \
            else np.zeros(0, np.int64)
        # the complained claim's columns (all null when the claim is unknown)
        rows = claims.reindex(pos).reset_index(drop=True)
        rows["claim_id"] = complaints["claim_id"].astype("string")
        for c in ("received_at", "resolved_at"):
            rows[c] = complaints[c] if c in complaints else pd.NaT
        subject_id = complaints["complaint_id"]
    mask = np.ones(len(rows), dtype=bool)
    region = rows["region"] if "region" in rows else pd.Series([None] * len(rows), dtype="string")
    if regions is not None:
        mask &= _value_mask(region, list(regions))
    elif clock.pack is not None and named:
        mask &= ~_value_mask(region, sorted(named))  # `all`: every region no other entry names
    for col, allowed in clock.applies_to.items():
        mask &= _value_mask(rows[col], allowed)
    for col, excluded in clock.excludes.items():
        mask &= ~_value_mask(rows[col], excluded)
    sel = np.flatnonzero(mask)
    out = rows.iloc[sel].reset_index(drop=True)
    out["subject_id"] = subject_id.astype("string").to_numpy()[sel]
    return out, pos[sel]


def _pauses(clock: ClockDef, ev: _Events, claim_pos: np.ndarray, limit_us: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Pause starts and ends (UTC us; end _FAR = still open) per row, shape (rows, K).

    Walks each claim's pause events before its limit (the stop, or the as-of cutoff) in
    time order: a `from` opens a pause when none is open, the next `until` closes it, at
    most `max_pauses` open. Tokens alternate once runs of the same token collapse to their
    first and a leading `until` is dropped, so no row-by-row walk is needed.
    """
    rows = len(claim_pos)
    empty = np.zeros((rows, 0), dtype=np.int64)
    if clock.pause is None or rows == 0:
        return empty, empty
    row_of_claim = np.full(ev.n_claims, -1, dtype=np.int64)
    row_of_claim[claim_pos] = np.arange(rows)
    pos = ev.positions([clock.pause.from_, clock.pause.until])
    row = row_of_claim[ev.code[pos]]
    pos, row = pos[row >= 0], row[row >= 0]
    keep = ev.occ[pos] <= limit_us[row]
    pos, row = pos[keep], row[keep]
    is_from = ev.tcode[pos] == ev.type_code[clock.pause.from_]
    # collapse runs of the same token within a row, then drop a leading `until`
    new_row = np.r_[True, row[1:] != row[:-1]] if len(row) else np.zeros(0, bool)
    changed = new_row | np.r_[True, is_from[1:] != is_from[:-1]] if len(row) else new_row
    pos, row, is_from, new_row = pos[changed], row[changed], is_from[changed], new_row[changed]
    lead_until = new_row & ~is_from
    pos, row, is_from = pos[~lead_until], row[~lead_until], is_from[~lead_until]
    if len(pos) == 0:
        return empty, empty
    # k-th pause of its row: rank of each `from` within the row
    starts = _first_per_group(row)
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(row)]))
    k = (np.arange(len(row)) - run_start) // 2     # tokens alternate from, until, from, ...
    if clock.pause.max_pauses is not None:
        keep = k < clock.pause.max_pauses
        pos, row, is_from, k = pos[keep], row[keep], is_from[keep], k[keep]
    K = int(k.max()) + 1 if len(k) else 0
    p0 = np.full((rows, K), _FAR, dtype=np.int64)
    p1 = np.full((rows, K), _FAR, dtype=np.int64)
    p0[row[is_from], k[is_from]] = ev.occ[pos[is_from]]
    p1[row[~is_from], k[~is_from]] = ev.occ[pos[~is_from]]
    return p0, p1


def _clock_rows(clock: ClockDef, regions: list[str] | None, named: frozenset[str],
                claims: pd.DataFrame, complaints: pd.DataFrame, ev: _Events,
                as_of: dt.date) -> dict | None:
    """Start, stop and pauses of one clock (local days), before any counting."""
    tz = clock.timezone
    cutoff = _cutoff_us(as_of, tz)
    subj, claim_pos = _subjects(clock, regions, named, claims, complaints)
    n = len(subj)

    def at(values: np.ndarray) -> np.ndarray:  # per subject, ignoring anything after as-of
        out = np.where(claim_pos >= 0, values[np.where(claim_pos >= 0, claim_pos, 0)], _NAT) \
            if len(values) else np.full(n, _NAT, dtype=np.int64)
        return np.where(out < cutoff, out, _NAT)

    if clock.start.field is not None:
        start = _utc_us(subj[clock.start.field], n)
        start = np.where(start < cutoff, start, _NAT)
    else:
        start = at(ev.first_of(clock.start.event))
        if clock.start.fallback is not None:
            start = np.where(start == _NAT, at(ev.first_of(clock.start.fallback)), start)
    started = start != _NAT
    subj, claim_pos, start = subj[started].reset_index(drop=True), claim_pos[started], start[started]
    n = len(subj)

    if clock.stop.field is not None:
        stop_ts = _utc_us(subj[clock.stop.field], n)
        stop_ts = np.where(stop_ts < cutoff, stop_ts, _NAT)
        before = (stop_ts != _NAT) & (stop_ts < start)
        stop = np.where(before, _NAT, stop_ts)
    else:
        row_of_claim = np.full(ev.n_claims, -1, dtype=np.int64)
        row_of_claim[claim_pos[claim_pos >= 0]] = np.flatnonzero(claim_pos >= 0)
        pos = ev.positions(clock.stop.events)
        row = row_of_claim[ev.code[pos]]
        pos, row = pos[row >= 0], row[row >= 0]
        occ = ev.occ[pos]
        in_time = occ < cutoff
        after = in_time & (occ >= start[row])
        stop = np.full(n, _NAT, dtype=np.int64)
        first = _first_per_group(row[after])
        stop[row[after][first]] = occ[after][first]
        before = np.zeros(n, dtype=bool)
        before[row[in_time & ~after]] = True
        before &= stop == _NAT
    # a stop recorded before its start stops the clock at the start (met, elapsed 0)
    stop = np.where(before, start, stop)
    stopped = stop != _NAT
    p0, p1 = _pauses(clock, ev, claim_pos, np.where(stopped, stop, cutoff - 1))

    start_day = _local_day(start, tz)
    stop_day = _local_day(stop, tz)
    as_of_day = int(np.datetime64(as_of, "D").astype(np.int64))
    end_day = np.where(stopped, stop_day, as_of_day)
    a = _local_day_where(p0, p0 != _FAR, tz, _FAR)
    b = _local_day_where(p1, p1 != _FAR, tz, _FAR)
    is_open = (p0 != _FAR) & (p1 == _FAR)
    # a pause only excludes candidate days: clip it to (start_day, ...)
    a = np.where(p0 == _FAR, _FAR, np.maximum(a, start_day[:, None]))
    b = np.where(p0 == _FAR, _FAR, np.where(is_open, _FAR, np.maximum(b, start_day[:, None])))
    return dict(subj=subj, start=start, stop=stop, stopped=stopped, start_day=start_day,
                end_day=end_day, a=a, b=b, is_open=is_open, as_of_day=as_of_day)


def _due_search(cum: np.ndarray, s: np.ndarray, n: int, a: np.ndarray, b: np.ndarray,
                is_open: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First day index D > s where counted days reach n (-1 when never in range), and
    whether an open pause blocked it. `cum` is the cumulative count per day index (with a
    final sentinel entry for "beyond the range"); pauses are (a, b] in day indexes."""
    L = len(cum) - 1
    target = cum[s] + n
    due = np.full(len(s), -1, dtype=np.int64)
    done = np.zeros(len(s), dtype=bool)
    blocked = np.zeros(len(s), dtype=bool)
    for k in range(a.shape[1]):
        d = np.searchsorted(cum[:L], target, side="left")
        reached = ~done & (d <= a[:, k])                     # before pause k opens
        due[reached] = d[reached]
        done |= reached
        opened = ~done & is_open[:, k]
        blocked |= opened
        done |= opened
        shift = ~done
        ak, bk = np.minimum(a[shift, k], L), np.minimum(b[shift, k], L)
        target[shift] += cum[bk] - cum[ak]
    d = np.searchsorted(cum[:L], target, side="left")
    rest = ~done
    due[rest] = d[rest]
    due[due >= L] = -1
    return due, blocked


def _count(cum: np.ndarray, s: np.ndarray, e: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counted days in (s, e] outside the pauses (a, b]."""
    L = len(cum) - 1
    out = cum[e] - cum[s]
    for k in range(a.shape[1]):
        lo, hi = np.minimum(np.minimum(a[:, k], L), e), np.minimum(np.minimum(b[:, k], L), e)
        out -= cum[hi] - cum[lo]
    return out


def _evaluate(clock: ClockDef, r: dict, cal: CalendarDays | None, first_day: int, L: int) -> pd.DataFrame:
    """Counting and status for one clock's rows (CLOCKS.md "Counting" 2-7)."""
    n = clock.limit.n
    s = r["start_day"] - first_day
    e = r["end_day"] - first_day
    as_of = r["as_of_day"] - first_day
    a = np.where(r["a"] == _FAR, _FAR, r["a"] - first_day)
    b = np.where(r["b"] == _FAR, _FAR, r["b"] - first_day)
    is_open = r["is_open"]
    rows = len(s)
    days = np.arange(1, L + 2, dtype=np.int64)  # calendar days: every day counts (+ sentinel)
    no_u = np.full(rows, _FAR, dtype=np.int64)

    paused_days = _count(days, s, e, a, b)
    paused_days = (e - s) - paused_days
    if clock.limit.unit == "business":
        work = np.r_[np.cumsum(cal.working), cal.working.sum()]
        unc = np.r_[np.cumsum(~cal.covered), (~cal.covered).sum() + 1]  # beyond range: unknown
        elapsed = _count(work, s, e, a, b)
        due, blocked = _due_search(work, s, n, a, b, is_open)
        u, _ = _due_search(unc, s, 1, a, b, is_open)
        u = np.where(u < 0, _FAR, u)
        elapsed_known = u > e
        unknown = ((due >= 0) & (u < due)) | ((due < 0) & ~blocked)
        unknown |= blocked & (u < _FAR)
        due = np.where(unknown, -1, due)
        u = np.where(unknown, u, _FAR)
    else:
        elapsed = _count(days, s, e, a, b)
        elapsed_known = np.ones(rows, dtype=bool)
        due, blocked = _due_search(days, s, n, a, b, is_open)
        u = no_u.copy()
        unknown = (due < 0) & ~blocked
        if clock.roll_forward:
            # next day at or after i that is working or uncovered (L: none in range)
            stop_here = cal.working | ~cal.covered
            nxt = np.where(stop_here, np.arange(L + 1)[:L], L)
            nxt = np.r_[np.minimum.accumulate(nxt[::-1])[::-1], L]
            has = due >= 0
            j = np.where(has, nxt[np.where(has, due, 0)], -1)
            unknown_roll = has & ((j >= L) | ~np.r_[cal.covered, False][np.where(j >= 0, j, L)])
            u = np.where(unknown_roll, np.minimum(j, L), u)
            due = np.where(unknown_roll, -1, j)
            unknown = unknown | unknown_roll
        u = np.where(unknown & (u == _FAR), L, u)
        unknown = unknown & (u < _FAR)

    stopped = r["stopped"]
    known = due >= 0
    status = np.full(rows, _STATUS["running"], dtype=np.int8)
    late = known & (e > due)
    status[stopped & late] = _STATUS["breached"]
    status[stopped & ~late] = _STATUS["met"]
    open_now = is_open.any(axis=1) if is_open.shape[1] else np.zeros(rows, bool)
    status[~stopped & open_now] = _STATUS["paused"]
    status[~stopped & known & (as_of > due)] = _STATUS["overdue"]
    status[unknown & (u < e)] = _STATUS["indeterminate"]

    subj = r["subj"]
    text = lambda c: subj[c].astype("string").to_numpy(dtype=object, na_value=None) if c in subj \
        else np.full(rows, None, dtype=object)
    return {
        "clock_id": np.full(rows, clock.id, dtype=object),
        "subject": np.full(rows, clock.subject, dtype=object),
        "subject_id": text("subject_id"),
        "claim_id": text("claim_id"),
        **{c: text(c) for c in _DIMS},
        "started_at": r["start"],
        "stopped_at": np.where(stopped, r["stop"], _NAT),
        "start_date": r["start_day"],
        "end_date": r["end_day"],
        "due_date": np.where(known, due + first_day, _NAT),
        "limit_n": np.full(rows, n, dtype=np.int64),
        "unit": np.full(rows, clock.limit.unit, dtype=object),
        "calendar": np.full(rows, clock.calendar, dtype=object),
        "timezone": np.full(rows, clock.timezone, dtype=object),
        "paused_days": paused_days,
        "elapsed_days": np.where(elapsed_known, elapsed, _NAT),
        "days_to_due": np.where(known, due - e, _NAT),
        "status": status,
    }


_TS_COLS = ("started_at", "stopped_at")
_DATE_COLS = ("start_date", "end_date", "due_date")
_INT_COLS = ("limit_n", "paused_days", "elapsed_days", "days_to_due")


def _typed(cols: dict[str, np.ndarray], as_of: dt.date) -> pd.DataFrame:
    """fact_claim_clock dtypes: text "string", timestamps datetime64[us, UTC], dates
    date32[pyarrow] (datetime.date values), counts Int64; nulls where the arrays hold _NAT."""
    out: dict[str, object] = {}
    rows = len(cols["status"])
    for col in FACT_CLOCK_COLUMNS:
        if col == "as_of_date":
            arr = pa.array(np.full(rows, np.datetime64(as_of, "D")), type=pa.date32())
            out[col] = pd.arrays.ArrowExtensionArray(arr)
            continue
        v = cols[col]
        if col in _TS_COLS:
            out[col] = pd.DatetimeIndex(v.view("datetime64[us]")).tz_localize("UTC")
        elif col in _DATE_COLS:
            arr = pa.array(np.where(v == _NAT, 0, v).astype(np.int32), type=pa.int32(),
                           mask=v == _NAT).cast(pa.date32())
            out[col] = pd.arrays.ArrowExtensionArray(arr)
        elif col in _INT_COLS:
            out[col] = pd.arrays.IntegerArray(np.where(v == _NAT, 0, v), v == _NAT)
        elif col == "status":
            out[col] = pd.Categorical.from_codes(v, CLOCK_STATUSES).astype(object)
        else:
            out[col] = v
    frame = pd.DataFrame(out)
    for col in FACT_CLOCK_COLUMNS:
        if col not in _TS_COLS + _DATE_COLS + _INT_COLS + ("as_of_date",):
            frame[col] = frame[col].astype("string")
    return frame


def evaluate_clocks(claims: pd.DataFrame, events: pd.DataFrame, complaints: pd.DataFrame,
                    cfg: ClockConfig, business_tz: str, as_of: dt.date) -> pd.DataFrame:
    """fact_claim_clock as of `as_of`: one row per started clock, columns FACT_CLOCK_COLUMNS,
    in clock order.

    `claims`: accepted claims (claim_id, product_line, channel, region, team, complexity,
    outcome, denial_reason, reported_at, ...); `events`: claim_id, event_id, event_type,
    occurred_at; `complaints`: complaint_id, claim_id, received_at, resolved_at. Timestamps
    tz-aware. Dates come back as date32 (pyarrow) columns, counts as Int64. Rows come
    clock by clock (in `active_clocks` order), subjects in input order (no sort: the
    warehouse does not need one and sorting millions of ids is not free).
    """
    clocks = active_clocks(cfg, business_tz)
    named = named_regions(cfg)
    claim_ids = pd.Index(claims["claim_id"].astype("string")) if len(claims) else pd.Index([], dtype="string")
    ev = _Events(events, claim_ids)
    prepared = [(c, _clock_rows(c, regions, named, claims, complaints, ev, as_of))
                for c, regions in clocks]
    as_of_day = int(np.datetime64(as_of, "D").astype(np.int64))
    starts = [int(r["start_day"].min()) for _, r in prepared if len(r["start_day"])]
    first_day = min(starts + [as_of_day]) - 1
    ends = [int(r["end_day"].max()) for _, r in prepared if len(r["end_day"])]
    max_n = max([c.limit.n for c, _ in prepared] + [1])
    # room after the last end date to reach any limit (due dates lie after every closed pause)
    last_day = max(ends + [as_of_day]) + 2 * max_n + 60
    L = last_day - first_day + 1
    first, last = (np.datetime64(first_day, "D").astype(dt.date), np.datetime64(last_day, "D").astype(dt.date))
    calendars: dict[str, CalendarDays] = {}
    parts = []
    for clock, r in prepared:
        if len(r["start_day"]) == 0:
            continue
        cal = None
        if clock.calendar is not None:
            if clock.calendar not in calendars:
                calendars[clock.calendar] = build_calendar(
                    clock.calendar, first, last, cfg.calendar_overrides.get(clock.calendar))
            cal = calendars[clock.calendar]
        parts.append(_evaluate(clock, r, cal, first_day, L))
    cols = {c: np.concatenate([p[c] for p in parts]) if parts else
            np.zeros(0, dtype=np.int8 if c == "status" else np.int64 if c in _TS_COLS + _DATE_COLS + _INT_COLS else object)
            for c in FACT_CLOCK_COLUMNS if c != "as_of_date"}
    return _typed(cols, as_of)
