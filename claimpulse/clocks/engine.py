"""The clock engine (CLOCKS.md "Counting"): claims, events, complaints -> fact_claim_clock rows.

Pure and vectorised. Timestamps are int64 UTC microseconds, local dates int64 days since
1970-01-01 in the clock's own timezone. Per clock (a handful) and per pause index (a few)
there is a loop; over claims there is none:

- events become arrays once (claim position, UTC microseconds, type code), keeping only
  the types some clock uses; nothing is sorted globally;
- the start is the claim's first event of a type (a per-claim minimum), the stop the
  earliest listed event at or after it; pauses, the only place order matters, sort just the
  pause events by (claim, time, event_id as text) and solve the open/close state machine by
  collapsing runs of the same token;
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
_MAX = np.iinfo(np.int64).max
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
    # a zone whose clocks skip midnight starts the day at the first instant that exists
    nxt = pd.Timestamp(as_of + dt.timedelta(days=1)).tz_localize(
        tz, nonexistent="shift_forward", ambiguous=True).tz_convert("UTC")
    return int(nxt.as_unit("ns").value) // 1000


def _min_per_row(n: int, row: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row 0..n-1 the smallest of its values (_NAT when it has none)."""
    out = np.full(n, _MAX, dtype=np.int64)
    np.minimum.at(out, row, values)
    out[out == _MAX] = _NAT
    return out


def _large_string(values: pd.Series) -> pa.Array:
    arr = pa.array(values.astype("string"), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string())


class _Table:
    """One input frame, with its columns converted once and cached: timestamps as UTC
    microseconds, text columns as Arrow and as factorised codes (for cheap filters)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame.reset_index(drop=True)
        self.n = len(self.frame)
        self._us: dict[str, np.ndarray] = {}
        self._arrow: dict[str, pa.Array] = {}
        self._codes: dict[str, tuple[np.ndarray, list]] = {}

    def us(self, col: str) -> np.ndarray:
        if col not in self._us:
            self._us[col] = _utc_us(self.frame[col] if col in self.frame else None, self.n)
        return self._us[col]

    def arrow(self, col: str) -> pa.Array:
        if col not in self._arrow:
            s = self.frame[col] if col in self.frame else pd.Series([None] * self.n, dtype="string")
            self._arrow[col] = _large_string(s)
        return self._arrow[col]

    def codes(self, col: str) -> tuple[np.ndarray, list]:
        if col not in self._codes:
            s = self.frame[col] if col in self.frame else pd.Series([None] * self.n, dtype="string")
            codes, uniques = pd.factorize(s.astype("string"))
            self._codes[col] = (codes.astype(np.int64), list(uniques))
        return self._codes[col]

    def value_mask(self, col: str, allowed: list, rows: np.ndarray | None = None) -> np.ndarray:
        """Column value in `allowed` (None in it matches null) for `rows` (None: every row;
        -1: no row, read as null)."""
        codes, uniques = self.codes(col)
        wanted = {v for v in allowed if v is not None}
        lut = np.array([u in wanted for u in uniques] + [any(v is None for v in allowed)], dtype=bool)
        if rows is not None:
            codes = np.where(rows >= 0, codes[np.where(rows >= 0, rows, 0)], -1) if self.n \
                else np.full(len(rows), -1, dtype=np.int64)
        return lut[codes]  # code -1 (null) picks the last entry


# --------------------------------------------------------------------------- events

class _Events:
    """The claim events as arrays: claim position, UTC microseconds, type code. Nothing is
    sorted globally: first events are per-claim minima; only pause events get sorted."""

    def __init__(self, events: pd.DataFrame, claims: _Table, used_types: set[str]):
        events = events.reset_index(drop=True)
        n = len(events)
        types = sorted(used_types)
        # type codes of the types clocks use (-1: a type no clock looks at, never kept)
        tcode = positions_in(events["event_type"], pd.Index(types, dtype="object")) if n and types \
            else np.full(n, -1, dtype=np.int64)
        keep = np.flatnonzero(tcode >= 0)
        if len(keep) > 0.9 * n:   # hashing every id beats gathering most of the strings first
            code = positions_in(events["claim_id"], pd.Index(claims.frame["claim_id"]))[keep] \
                if claims.n else np.full(len(keep), -1, dtype=np.int64)
        else:
            sub = events["claim_id"].iloc[keep]
            code = positions_in(sub, pd.Index(claims.frame["claim_id"])) if len(sub) and claims.n \
                else np.full(len(keep), -1, dtype=np.int64)
        occ = _utc_us(events["occurred_at"], n)[keep] if n else np.zeros(0, np.int64)
        ok = (code >= 0) & (occ != _NAT)
        self.src = keep[ok].astype(np.int32)             # row in `events`, for event_id ties
        self.event_id = events["event_id"] if n else pd.Series([], dtype="string")
        # narrow ints: 8M events cost 17 bytes each here, not 32
        self.code, self.occ, self.tcode = code[ok].astype(np.int32), occ[ok], tcode[keep][ok].astype(np.int8)
        self.type_code = {t: i for i, t in enumerate(types)}
        self.n_claims = claims.n
        self._pos: dict[str, np.ndarray] = {}
        self._first: dict[str, np.ndarray] = {}

    def positions(self, types) -> np.ndarray:
        """Positions of the events of the given types (ascending)."""
        parts = []
        for t in dict.fromkeys(types):
            if t not in self._pos:
                c = self.type_code.get(t)
                self._pos[t] = np.flatnonzero(self.tcode == c) if c is not None else np.zeros(0, np.int64)
            parts.append(self._pos[t])
        return np.sort(np.concatenate(parts)) if len(parts) > 1 else parts[0]

    def first_of(self, event_type: str) -> np.ndarray:
        """Per claim: occurred_at of its first event of `event_type` (_NAT when none)."""
        if event_type not in self._first:
            pos = self.positions([event_type])
            self._first[event_type] = _min_per_row(self.n_claims, self.code[pos], self.occ[pos])
        return self._first[event_type]

    def time_order(self, pos: np.ndarray, row: np.ndarray) -> np.ndarray:
        """Permutation of `pos` sorting it by (row, occurred_at, event_id as text)."""
        occ = self.occ[pos]
        order = np.lexsort((occ, row))
        r, o = row[order], occ[order]
        same = (r[1:] == r[:-1]) & (o[1:] == o[:-1])
        if same.any():  # ties in time are broken by event_id as text; only tied rows re-sorted
            tied = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
            eid = self.event_id.iloc[self.src[pos[order[tied]]]].astype(str).to_numpy()
            perm = np.lexsort((eid, o[tied], r[tied]))
            order[tied] = order[tied][perm]
        return order


# --------------------------------------------------------------------------- one clock

def _subjects(clock: ClockDef, regions: list[str] | None, named: frozenset[str],
              claims: _Table, complaints: _Table, complaint_claim: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the clock's subjects it applies to: (subject row, claim row or -1).

    A complaint clock filters on, and takes the dimensions of, the complained claim."""
    if clock.subject == "claim":
        subj = np.arange(claims.n, dtype=np.int64)
        claim_row, rows = subj, None        # the claim itself: no gather needed
    else:
        subj = np.arange(complaints.n, dtype=np.int64)
        claim_row = rows = complaint_claim
    mask = np.ones(len(subj), dtype=bool)
    if regions is not None:
        mask &= claims.value_mask("region", list(regions), rows)
    elif clock.pack is not None and named:
        mask &= ~claims.value_mask("region", sorted(named), rows)  # `all`: the unnamed regions
    for col, allowed in clock.applies_to.items():
        mask &= claims.value_mask(col, allowed, rows)
    for col, excluded in clock.excludes.items():
        mask &= ~claims.value_mask(col, excluded, rows)
    return subj[mask], claim_row[mask]


def _pauses(clock: ClockDef, ev: _Events, claim_row: np.ndarray, limit_us: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Pause starts and ends (UTC us; end _FAR = still open) per row, shape (rows, K).

    Walks each claim's pause events up to its limit (the stop, or the as-of cutoff) in
    time order: a `from` opens a pause when none is open, the next `until` closes it, at
    most `max_pauses` open. Once runs of the same token collapse to their first and a
    leading `until` is dropped, tokens alternate from/until, so no row-by-row walk is needed.
    """
    rows = len(claim_row)
    empty = np.zeros((rows, 0), dtype=np.int64)
    if clock.pause is None or rows == 0:
        return empty, empty
    row_of_claim = np.full(ev.n_claims, -1, dtype=np.int64)
    row_of_claim[claim_row] = np.arange(rows)
    pos = ev.positions([clock.pause.from_, clock.pause.until])
    row = row_of_claim[ev.code[pos]]
    keep = row >= 0
    pos, row = pos[keep], row[keep]
    keep = ev.occ[pos] <= limit_us[row]
    pos, row = pos[keep], row[keep]
    order = ev.time_order(pos, row)
    pos, row = pos[order], row[order]
    if len(pos) == 0:
        return empty, empty
    is_from = ev.tcode[pos] == ev.type_code[clock.pause.from_]
    new_row = np.r_[True, row[1:] != row[:-1]]
    changed = new_row | np.r_[True, is_from[1:] != is_from[:-1]]
    pos, row, is_from, new_row = pos[changed], row[changed], is_from[changed], new_row[changed]
    lead_until = new_row & ~is_from
    pos, row, is_from, new_row = pos[~lead_until], row[~lead_until], is_from[~lead_until], new_row[~lead_until]
    if len(pos) == 0:
        return empty, empty
    new_row = np.r_[True, row[1:] != row[:-1]]
    starts = np.flatnonzero(new_row)
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
                claims: _Table, complaints: _Table, complaint_claim: np.ndarray, ev: _Events,
                as_of: dt.date) -> dict:
    """Start, stop and pauses of one clock (local days), before any counting."""
    tz = clock.timezone
    cutoff = _cutoff_us(as_of, tz)
    subj, claim_row = _subjects(clock, regions, named, claims, complaints, complaint_claim)
    table = claims if clock.subject == "claim" else complaints

    def per_claim(values: np.ndarray) -> np.ndarray:
        return np.where(claim_row >= 0, values[np.where(claim_row >= 0, claim_row, 0)], _NAT) \
            if len(values) else np.full(len(subj), _NAT, dtype=np.int64)

    if clock.start.field is not None:
        start = table.us(clock.start.field)[subj]
    else:
        start = per_claim(ev.first_of(clock.start.event))
        if clock.start.fallback is not None:
            fallback = per_claim(ev.first_of(clock.start.fallback))
            start = np.where((start == _NAT) | (start >= cutoff), fallback, start)
    start = np.where(start < cutoff, start, _NAT)   # started after the as-of date: not yet
    started = start != _NAT
    subj, claim_row, start = subj[started], claim_row[started], start[started]
    n = len(subj)

    if clock.stop.field is not None:
        stop = table.us(clock.stop.field)[subj]
        stop = np.where(stop < cutoff, stop, _NAT)
        before = (stop != _NAT) & (stop < start)
        stop = np.where(before, _NAT, stop)
    else:
        row_of_claim = np.full(ev.n_claims, -1, dtype=np.int64)
        row_of_claim[claim_row] = np.arange(n)
        pos = ev.positions(clock.stop.events)
        row = row_of_claim[ev.code[pos]]
        keep = row >= 0
        pos, row = pos[keep], row[keep]
        occ = ev.occ[pos]
        in_time = occ < cutoff
        after = in_time & (occ >= start[row])
        stop = _min_per_row(n, row[after], occ[after])
        before = np.zeros(n, dtype=bool)
        before[row[in_time & ~after]] = True
        before &= stop == _NAT
    # a stop recorded before its start stops the clock at the start (met, elapsed 0)
    stop = np.where(before, start, stop)
    stopped = stop != _NAT
    p0, p1 = _pauses(clock, ev, claim_row, np.where(stopped, stop, cutoff - 1))

    start_day = _local_day(start, tz)
    as_of_day = int(np.datetime64(as_of, "D").astype(np.int64))
    end_day = np.where(stopped, _local_day(stop, tz), as_of_day)
    a = _local_day_where(p0, p0 != _FAR, tz, _FAR)
    b = _local_day_where(p1, p1 != _FAR, tz, _FAR)
    is_open = (p0 != _FAR) & (p1 == _FAR)
    # a pause only excludes candidate days: clip it to (start_day, ...)
    a = np.where(p0 == _FAR, _FAR, np.maximum(a, start_day[:, None]))
    b = np.where((p0 == _FAR) | is_open, _FAR, np.maximum(b, start_day[:, None]))
    return dict(subj=subj, claim_row=claim_row, start=start, stop=stop, stopped=stopped,
                start_day=start_day, end_day=end_day, a=a, b=b, is_open=is_open,
                as_of_day=as_of_day)


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


def _evaluate(clock: ClockDef, r: dict, cal: CalendarDays | None, first_day: int, L: int) -> dict:
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

    return {
        "subj": r["subj"], "claim_row": r["claim_row"],
        "started_at": r["start"],
        "stopped_at": np.where(stopped, r["stop"], _NAT),
        "start_date": r["start_day"],
        "end_date": r["end_day"],
        "due_date": np.where(known, due + first_day, _NAT),
        "limit_n": np.full(rows, n, dtype=np.int64),
        "paused_days": paused_days,
        "elapsed_days": np.where(elapsed_known, elapsed, _NAT),
        "days_to_due": np.where(known, due - e, _NAT),
        "status": status,
    }


_TS_COLS = ("started_at", "stopped_at")
_DATE_COLS = ("start_date", "end_date", "due_date")
_INT_COLS = ("limit_n", "paused_days", "elapsed_days", "days_to_due")
_PER_CLOCK = ("clock_id", "subject", "unit", "calendar", "timezone")


def _text_from_codes(codes: np.ndarray, vocab: list[str | None]) -> pa.Array:
    """A large_string array of vocab[code] (code -1 or a None entry: null): an Arrow take
    from the small vocabulary, much cheaper than building Python strings."""
    return pa.array(vocab, type=pa.large_string()).take(pa.array(codes, mask=codes < 0))


def _strings(chunks: list[pa.Array]) -> pd.arrays.ArrowStringArray:
    arr = pa.chunked_array(chunks, type=pa.large_string())
    return pd.arrays.ArrowStringArray(arr)


def _assemble(parts: list[tuple[ClockDef, dict]], claims: _Table, complaints: _Table,
              as_of: dt.date) -> pd.DataFrame:
    """The fact_claim_clock frame: text "string" (built in Arrow, not from Python strings),
    timestamps datetime64[us, UTC], dates date32[pyarrow] (datetime.date values), counts
    Int64; nulls where the arrays hold _NAT."""
    rows = sum(len(p["status"]) for _, p in parts)
    out: dict[str, object] = {}
    for col in ("subject_id", "claim_id"):
        chunks = []
        for clock, p in parts:
            if clock.subject == "claim":
                src, idx = claims.arrow("claim_id"), p["subj"]
            else:
                src = complaints.arrow("complaint_id" if col == "subject_id" else "claim_id")
                idx = p["subj"]
            chunks.append(src.take(pa.array(idx)).cast(pa.large_string()))
        out[col] = _strings(chunks)
    claim_rows = np.concatenate([p["claim_row"] for _, p in parts]) if parts else np.zeros(0, np.int64)
    for col in _DIMS:  # low-cardinality: gathered as codes, turned into text once
        codes, uniques = claims.codes(col)
        c = np.where(claim_rows >= 0, codes[np.where(claim_rows >= 0, claim_rows, 0)], -1) \
            if claims.n else np.full(len(claim_rows), -1, dtype=np.int64)
        out[col] = _strings([_text_from_codes(c, [str(u) for u in uniques])])
    lengths = [len(p["status"]) for _, p in parts]
    which = np.repeat(np.arange(len(parts), dtype=np.int64), lengths)
    for col in _PER_CLOCK:  # one value per clock
        values = [c.id if col == "clock_id" else c.limit.unit if col == "unit" else getattr(c, col)
                  for c, _ in parts]
        out[col] = _strings([_text_from_codes(which, values)])
    cat = lambda c, dtype: np.concatenate([p[c] for _, p in parts]) if parts else np.zeros(0, dtype)  # noqa: E731
    for col in _TS_COLS:
        out[col] = pd.DatetimeIndex(cat(col, np.int64).view("datetime64[us]")).tz_localize("UTC")
    for col in _DATE_COLS:
        v = cat(col, np.int64)
        arr = pa.array(np.where(v == _NAT, 0, v).astype(np.int32), type=pa.int32(), mask=v == _NAT)
        out[col] = pd.arrays.ArrowExtensionArray(arr.cast(pa.date32()))
    for col in _INT_COLS:
        v = cat(col, np.int64)
        out[col] = pd.arrays.IntegerArray(np.where(v == _NAT, 0, v), v == _NAT)
    out["status"] = _strings([_text_from_codes(cat("status", np.int8).astype(np.int64), list(CLOCK_STATUSES))])
    as_of_arr = pa.array(np.full(rows, np.datetime64(as_of, "D")), type=pa.date32())
    out["as_of_date"] = pd.arrays.ArrowExtensionArray(as_of_arr)
    return pd.DataFrame({c: out[c] for c in FACT_CLOCK_COLUMNS})


def evaluate_clocks(claims: pd.DataFrame, events: pd.DataFrame, complaints: pd.DataFrame,
                    cfg: ClockConfig, business_tz: str, as_of: dt.date) -> pd.DataFrame:
    """fact_claim_clock as of `as_of`: one row per started clock, columns FACT_CLOCK_COLUMNS.

    `claims`: accepted claims (claim_id, product_line, channel, region, team, complexity,
    outcome, denial_reason, reported_at, ...); `events`: claim_id, event_id, event_type,
    occurred_at; `complaints`: complaint_id, claim_id, received_at, resolved_at. Timestamps
    tz-aware. Dates come back as date32 (pyarrow) columns, counts as Int64. Rows come
    clock by clock (in `active_clocks` order), subjects in input order (no sort: the
    warehouse does not need one and sorting millions of ids is not free).
    """
    clocks = active_clocks(cfg, business_tz)
    named = named_regions(cfg)
    claims_t, complaints_t = _Table(claims), _Table(complaints)
    complaint_claim = positions_in(complaints_t.frame["claim_id"], pd.Index(claims_t.frame["claim_id"])) \
        if complaints_t.n and claims_t.n else np.full(complaints_t.n, -1, dtype=np.int64)
    used = {t for c, _ in clocks for t in (c.start.event, c.start.fallback, *(c.stop.events or ()),
                                           *((c.pause.from_, c.pause.until) if c.pause else ())) if t}
    ev = _Events(events, claims_t, used)
    prepared = [(c, _clock_rows(c, regions, named, claims_t, complaints_t, complaint_claim, ev, as_of))
                for c, regions in clocks]
    as_of_day = int(np.datetime64(as_of, "D").astype(np.int64))
    starts = [int(r["start_day"].min()) for _, r in prepared if len(r["start_day"])]
    first_day = min(starts + [as_of_day]) - 1
    ends = [int(r["end_day"].max()) for _, r in prepared if len(r["end_day"])]
    max_n = max([c.limit.n for c, _ in prepared] + [1])
    # room after the last end date to reach any limit (due dates lie after every closed pause)
    last_day = max(ends + [as_of_day]) + 2 * max_n + 60
    L = last_day - first_day + 1
    first = np.datetime64(first_day, "D").astype(dt.date)
    last = np.datetime64(last_day, "D").astype(dt.date)
    calendars: dict[str, CalendarDays] = {}
    parts = []
    for clock, r in prepared:
        if len(r["start_day"]) == 0:
            continue
        cal = None
        if clock.calendar is not None and (clock.limit.unit == "business" or clock.roll_forward):
            if clock.calendar not in calendars:
                calendars[clock.calendar] = build_calendar(
                    clock.calendar, first, last, cfg.calendar_overrides.get(clock.calendar))
            cal = calendars[clock.calendar]
        parts.append((clock, _evaluate(clock, r, cal, first_day, L)))
    return _assemble(parts, claims_t, complaints_t, as_of)
