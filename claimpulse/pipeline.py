"""The stages of a run, as plain functions the Prefect tasks wrap.

plan_changes   narrow scan (key, claim_id, updated_at) of every source table → the claims a
               run must rebuild: all of them on an empty warehouse, else those touched by a
               row changed since the watermarks (a survey, complaint, cost or event changes
               its claim), plus claims sharing a duplicated id with a changed row and claims
               deleted from the source.
extract        the full history of those claims, table by table, coerced to the typed contract.
validate       Great Expectations suites + cross-table rules → accepted rows and quarantine.
compute        fact_claim_service, fact_survey_response, fact_complaint for those claims.
load           ONE transaction: replace those claims' fact rows, recompute every metric date
               they touch before and after the change with the SQL models (claimpulse/models)
               run inside the warehouse over its own facts, re-evaluate their service clocks and
               every clock not stopped (claimpulse.clock_load), update the quarantine, the
               watermarks and pipeline_runs.

Because metric dates are always recomputed from the warehouse's complete accepted state, an
incremental run gives exactly what a full recompute would.
"""
from __future__ import annotations

import ctypes
import datetime as dt
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import clock_load, metrics, models, quality
from .config import Settings
from .dim_date import refresh_dim_date
from .extract import (TableRead, check_columns, coerce_table, copies_of, count_rows,
                      duplicated_keys, empty_raw, isin_mask, read_table, scan_changes)
from .schema import SOURCE_TABLES, TABLE_ORDER
from .warehouse import Warehouse, to_json

log = logging.getLogger(__name__)

# Above this share of all claims an incremental run reads whole tables instead of
# `WHERE claim_id IN (...)` batches: one scan beats thousands of lookups.
FULL_READ_SHARE = 0.3
# Claims per chunk of a large run (memory is bounded by one chunk; see Chunks).
CHUNK_CLAIMS = 100_000
# Metric dates recomputed per model statement: bounds each statement's work (and, on
# PostgreSQL, its sort memory) on a full run that restates every date.
DATES_PER_RECOMPUTE = 62


@dataclass
class RunPlan:
    mode: str                                   # "full", "incremental", "reconcile" or "backfill"
    touched: pd.Index | None                    # claim ids to rebuild (None: all)
    read_null_claims: bool                      # re-read rows whose claim_id is null
    changed_rows: dict[str, int]                # per table: rows changed since the watermark
    watermark_before: dict[str, pd.Timestamp]
    watermark_after: dict[str, pd.Timestamp]
    total_claims: int = 0
    # Ids that occur more than once anywhere in each source table: every copy is quarantined,
    # even when the copies land in different chunks of a run.
    dup_keys: dict[str, pd.Index] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return self.touched is not None and len(self.touched) == 0 and not self.read_null_claims

    def reasons(self) -> dict[str, int]:
        return {t: n for t, n in self.changed_rows.items() if n}


def plan_changes(source, settings: Settings, watermarks: dict[str, pd.Timestamp],
                 warehouse_keys: dict[str, pd.DataFrame] | None = None) -> RunPlan:
    """Decide which claims this run rebuilds (see module docstring).

    A nightly run (no `warehouse_keys`) asks the source only for rows whose updated_at may be
    after the watermarks (and rows without a readable one), then looks up the other copies of
    their ids by key: its cost follows the change, not the history. A reconciliation (the
    warehouse's ids given) scans every source key as well, to find rows deleted from the source.
    """
    if not watermarks:
        # Everything is rebuilt: no scan. The reads themselves give the new watermarks and
        # the row counts (write_chunk_result), and a spilled run finds its duplicated ids (Chunks).
        for t in SOURCE_TABLES.values():
            check_columns(source, t)
        return RunPlan("full", None, True, {}, {}, {}, count_rows(source, SOURCE_TABLES["claims"]))
    reconcile = warehouse_keys is not None
    scans = {t.name: scan_changes(source, t, settings.source_timezone, since=watermarks.get(t.name),
                                  every_key=reconcile)
             for t in SOURCE_TABLES.values()}
    after = {}
    for name, scan in scans.items():
        wm = scan.changed["updated_at"].max()
        before = watermarks.get(name)
        after[name] = max(x for x in (wm, before) if x is not None and pd.notna(x)) \
            if (pd.notna(wm) or before is not None) else None
    if reconcile:
        total = int(scans["claims"].keys["key"].nunique())
        dups = {name: duplicated_keys(scan.keys["key"]) for name, scan in scans.items()}
    else:
        total = count_rows(source, SOURCE_TABLES["claims"])
        dups = {}

    touched: set = set()
    changed_rows = {}
    read_null = False
    for name, scan in scans.items():
        wm = watermarks.get(name)
        upd = scan.changed["updated_at"]
        # A row with no readable updated_at cannot be placed: re-read it every run.
        is_changed = upd.isna() if wm is None or pd.isna(wm) else (upd.isna() | (upd > wm))
        if wm is None:
            is_changed = pd.Series(True, index=upd.index)
        is_changed = is_changed.fillna(True).astype(bool)
        changed_rows[name] = int(is_changed.sum())
        if not is_changed.any():
            continue
        ch = scan.changed[is_changed]
        touched.update(ch["claim_id"].dropna().tolist())
        read_null |= bool(ch["claim_id"].isna().any())
        # Duplicated ids: every copy's claim must be re-read, or a copy would slip through.
        changed_keys = pd.Index(ch["key"].dropna().unique())
        if reconcile:
            hit = dups[name].intersection(changed_keys)
            copies = scan.keys.loc[isin_mask(scan.keys["key"], hit)] if len(hit) else None
        else:  # the changed ids' other copies, by a keyed lookup
            copies = copies_of(source, SOURCE_TABLES[name], changed_keys)
            copies = copies[isin_mask(copies["key"], duplicated_keys(copies["key"]))]
        if copies is not None and len(copies):
            touched.update(copies["claim_id"].dropna().tolist())
            read_null |= bool(copies["claim_id"].isna().any())
    # Hard deletes (a reconciliation only): claims / responses / complaints the warehouse has
    # but the source lost.
    for table, keys in (warehouse_keys or {}).items():
        gone = keys[~isin_mask(keys["key"], scans[table].keys["key"])]
        if len(gone):
            changed_rows[table] = changed_rows.get(table, 0) + int(len(gone))
            touched.update(gone["claim_id"].dropna().tolist())
    return RunPlan("reconcile" if reconcile else "incremental", pd.Index(sorted(touched), dtype="object"),
                   read_null, changed_rows, dict(watermarks), after, total, dups)


def extract(source, settings: Settings, plan: RunPlan) -> dict[str, TableRead]:
    """Typed reads of the plan's claims (all rows on a full plan)."""
    out = {}
    full_read = plan.touched is None or len(plan.touched) > FULL_READ_SHARE * max(plan.total_claims, 1)
    for t in SOURCE_TABLES.values():
        if plan.touched is None:
            out[t.name] = read_table(source, t, settings.source_timezone)
            continue
        if plan.is_empty:
            out[t.name] = coerce_table(empty_raw(t), t, settings.source_timezone)
            continue
        if full_read:
            r = read_table(source, t, settings.source_timezone)
            claim = r.typed[t.claim_column]
            keep = pd.Series(isin_mask(claim, plan.touched), index=claim.index)
            if plan.read_null_claims:
                keep |= claim.isna()
            raw = r.raw[keep.to_numpy()].reset_index(drop=True)
            out[t.name] = coerce_table(raw, t, settings.source_timezone)
        else:
            out[t.name] = read_table(source, t, settings.source_timezone,
                                     claim_ids=list(plan.touched), null_claim=plan.read_null_claims)
    return out


def chunk_claims() -> int:
    """Claims per chunk ($CLAIMPULSE_CHUNK_CLAIMS): bounds a run's memory, whatever the history."""
    return max(1, int(os.environ.get("CLAIMPULSE_CHUNK_CLAIMS", "") or CHUNK_CLAIMS))


def release_memory() -> None:
    """After a chunk: collect its frames (GX keeps reference cycles) and hand freed heap back
    to the OS, so the next chunk reuses memory instead of adding to it (glibc keeps freed
    blocks otherwise; measured at 1M claims: about 300 MB less peak RSS)."""
    import gc

    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl): nothing to trim
            pass


@contextmanager
def frozen_heap(active: bool = True) -> Iterator[None]:
    """While a run works chunk after chunk: the objects alive at its start (modules, the GX
    project, the plan) are set aside from the garbage collector (gc.freeze), so each chunk's
    release_memory walks only what the chunk made. Measured at 1M claims: a collection takes
    0.15 s with GX loaded, 0.01 s frozen; twice per chunk in the flow's process. Unfrozen when
    the chunks are done, so nothing set aside stays uncollectable after the run."""
    if not active:
        yield
        return
    import gc

    freeze_live_objects()
    try:
        yield
    finally:
        gc.unfreeze()


def freeze_live_objects() -> None:
    """gc.freeze what is alive now (after collecting what is garbage): later collections skip
    it. For objects that live as long as the process or the block that unfreezes them."""
    import gc

    gc.collect()
    gc.freeze()


def note_source_duplicates(source, reads: dict[str, TableRead], plan: RunPlan) -> None:
    """A nightly plan scanned no keys: find which ids of the rows read also occur elsewhere in
    the source (keyed lookups of exactly those ids), so every copy is quarantined as a full
    run would."""
    for name, r in reads.items():
        t = SOURCE_TABLES[name]
        if r.typed.empty:
            continue
        copies = copies_of(source, t, r.typed[t.key].dropna().unique())
        found = duplicated_keys(copies["key"])
        if len(found):
            plan.dup_keys[name] = found.union(plan.dup_keys.get(name, pd.Index([], dtype="object")))


def _mark_global_duplicates(reads: dict[str, TableRead], plan: RunPlan) -> dict[str, TableRead]:
    """Add `<id>_not_unique` for ids duplicated elsewhere in the source (another chunk)."""
    for name, r in reads.items():
        dup = plan.dup_keys.get(name)
        if dup is None or not len(dup) or r.typed.empty:
            continue
        key = SOURCE_TABLES[name].key
        hit = isin_mask(r.typed[key], dup)
        if hit.any():
            extra = pd.DataFrame({"row": r.typed.index[hit], "reason": f"{key}_not_unique"})
            r.failures = pd.concat([r.failures, extra], ignore_index=True).drop_duplicates()
    return reads


def chunk_count(plan: RunPlan, workers: int = 1) -> int:
    """How many chunks a plan's claims make (known before anything is read or spilled)."""
    size = plan.total_claims if plan.touched is None else len(plan.touched)
    n = max(1, -(-size // chunk_claims()))
    if n > 1 and workers > 1:
        # whole rounds: no worker idles through the last one (6 chunks for 2 workers, not 5)
        n = -(-n // workers) * workers
    return n


class Chunks:
    """The plan's source rows as `n` chunks of whole claims (see claimpulse.buckets).

    Small plans are one in-memory chunk read directly; large ones are spilled to local disk
    in claim buckets, so memory is bounded by one chunk, not by the history. A Chunks pickles
    (the source travels as its URL): worker processes read their buckets themselves, so a
    chunk's raw rows never pass through the process that writes the warehouse.
    """

    def __init__(self, source, settings: Settings, plan: RunPlan, workers: int = 1):
        self.source, self.settings, self.plan = source, settings, plan
        self.n = chunk_count(plan, workers)
        self._buckets = None
        if self.n > 1:
            from .buckets import spill

            self._buckets = spill(source, self.n, plan.touched, plan.read_null_claims)
            # ids duplicated across chunks (on a full plan: anywhere, as the spill saw every id)
            for name, dup in self._buckets.dup_keys.items():
                plan.dup_keys[name] = dup.union(plan.dup_keys[name]) if name in plan.dup_keys else dup

    def read(self, i: int) -> dict[str, TableRead]:
        if self._buckets is None:
            reads = extract(self.source, self.settings, self.plan)
        else:
            reads = {t.name: coerce_table(self._buckets.read(t.name, i), t, self.settings.source_timezone)
                     for t in SOURCE_TABLES.values()}
        if self.plan.mode == "incremental":
            note_source_duplicates(self.source, reads, self.plan)
        return _mark_global_duplicates(reads, self.plan)

    def result_folder(self, i: int) -> Path:
        """Where chunk `i`'s worker parks its result (pipeline.park_result): inside the spill
        folder, so cleanup removes whatever a failed run left there."""
        if self._buckets is None:
            raise ValueError("a chunk that was not spilled is processed in the flow's process")
        return self._buckets.root / "results" / f"chunk-{i:04d}"

    def cleanup(self) -> None:
        if self._buckets is not None:
            self._buckets.cleanup()


def combine_chunks(results: list[ChunkResult]) -> ChunkResult:
    """Many chunks' results as one (a backfill keeps its facts to slice them by date)."""
    def cat(frames: list[pd.DataFrame | None]) -> pd.DataFrame | None:
        frames = [f for f in frames if f is not None]
        if not frames:
            return None
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    if len(results) == 1:
        return results[0]
    outputs = Outputs(*(cat([getattr(r.outputs, f) for r in results])
                        for f in ("fact", "surveys", "complaints", "events")))
    latest: dict = {}
    for r in results:
        for name, wm in r.latest.items():
            latest[name] = wm if name not in latest else max(latest[name], wm)
    return ChunkResult(
        outputs, cat([r.quarantine for r in results]),
        _combine_results([_unique_results_from_quarantine(r.results, r.quarantine) for r in results]),
        combine_counts([r.counts for r in results]), cat([r.read_keys for r in results]),
        {name: sum(r.rows_read.get(name, 0) for r in results) for name in SOURCE_TABLES}, latest,
        {name: cols for r in results for name, cols in r.extra_columns.items()},
        ",".join(sorted({r.worker for r in results})))


@dataclass
class Outputs:
    fact: pd.DataFrame
    surveys: pd.DataFrame
    complaints: pd.DataFrame
    events: pd.DataFrame | None = None   # fact_claim_event rows (service clocks)


def compute(accepted: dict[str, pd.DataFrame], settings: Settings, key: bytes) -> Outputs:
    """Row-level warehouse facts of the accepted rows (pure)."""
    fact = metrics.build_fact(accepted["claims"], accepted["claim_events"], accepted["surveys"],
                              accepted["complaints"], accepted["customer_costs"], settings, key)
    surveys = metrics.survey_facts(accepted["surveys"], settings)
    complaints = metrics.complaint_facts(accepted["complaints"], settings)
    return Outputs(fact.reset_index(drop=True), surveys.reset_index(drop=True),
                   complaints.reset_index(drop=True), clock_load.event_rows(accepted["claim_events"]))


@dataclass
class LoadResult:
    dates: list[dt.date]
    written: dict[str, int] = field(default_factory=dict)
    alerts: pd.DataFrame | None = None    # speed_quality_alerts raised by this run


def _dates(*series: pd.Series) -> set[dt.date]:
    out: set[dt.date] = set()
    for s in series:
        out.update(d for d in pd.unique(s.dropna()) if d is not None)
    return {pd.Timestamp(d).date() if not isinstance(d, dt.date) else d for d in out}


@dataclass
class LoadState:
    """What a run has written so far inside its one transaction."""
    meta: dict
    now: pd.Timestamp
    dates: set = field(default_factory=set)
    written: dict[str, int] = field(default_factory=lambda: {
        "fact_claim_service": 0, "fact_survey_response": 0, "fact_complaint": 0})
    quarantine: list = field(default_factory=list)
    results: list = field(default_factory=list)
    counts: list = field(default_factory=list)
    read_keys: list = field(default_factory=list)
    # A full run settles every open quarantine row anyway: it need not keep the ids it read
    # (millions of them), which would make memory grow with the history.
    keep_read_keys: bool = True
    # per source table: rows read and their latest updated_at (a full run's watermarks)
    rows_read: dict = field(default_factory=dict)
    latest: dict = field(default_factory=dict)


def begin_load(wh: Warehouse, conn, plan: RunPlan, run: dict) -> LoadState:
    """Inside the run's transaction: note the dates the plan's claims touch now, then drop
    their fact rows (the chunks write them anew)."""
    now = pd.Timestamp.now(tz="UTC")
    state = LoadState({"loaded_at": now, "run_id": run["run_id"]}, now, keep_read_keys=plan.touched is not None)
    if plan.touched is None:
        old = wh.read_sql(conn, f"SELECT DISTINCT closed_date AS d FROM {wh.table('fact_claim_service')} "
                                f"UNION SELECT DISTINCT response_date FROM {wh.table('fact_survey_response')} "
                                f"UNION SELECT DISTINCT received_date FROM {wh.table('fact_complaint')}")
        for t in ("fact_claim_service", "fact_survey_response", "fact_complaint"):
            conn.exec_driver_sql(f"DELETE FROM {wh.table(t)}")
        clock_load.delete_events(wh, conn, None)
    else:
        rel = wh.stage_keys(conn, "touched", plan.touched)
        old = wh.read_sql(conn,
                          f"SELECT closed_date AS d FROM {wh.table('fact_claim_service')} WHERE claim_id IN (SELECT k FROM {rel}) "
                          f"UNION SELECT response_date FROM {wh.table('fact_survey_response')} WHERE claim_id IN (SELECT k FROM {rel}) "
                          f"UNION SELECT received_date FROM {wh.table('fact_complaint')} WHERE claim_id IN (SELECT k FROM {rel})")
        for t in ("fact_claim_service", "fact_survey_response", "fact_complaint"):
            wh.delete_in(conn, t, "claim_id", rel)
        clock_load.delete_events(wh, conn, rel)
    state.dates |= _dates(old["d"])
    return state


@dataclass
class ChunkResult:
    """One chunk validated and computed: what the single writer needs of it. The raw, typed
    and accepted frames stay where the chunk was processed (a worker process, a Dask worker),
    so only facts, quarantine and bookkeeping travel back."""
    outputs: Outputs
    quarantine: pd.DataFrame
    results: pd.DataFrame
    counts: pd.DataFrame
    read_keys: pd.DataFrame | None          # (source_table, source_key) read; None on a full plan
    rows_read: dict[str, int]
    latest: dict[str, pd.Timestamp]         # per table: the latest updated_at read
    extra_columns: dict[str, list[str]]     # per table: source columns the contract ignores
    worker: str = ""                        # host:pid that processed it (logs, tests)
    seconds: dict = field(default_factory=dict)  # read / validate / compute wall seconds
    parked: dict = field(default_factory=dict)   # output frame -> Arrow file (park_result)


def chunk_result(reads: dict[str, TableRead], outcome, outputs: Outputs,
                 keep_read_keys: bool = True) -> ChunkResult:
    latest = {}
    for name, r in reads.items():
        wm = r.typed["updated_at"].max() if "updated_at" in r.typed and len(r.typed) else None
        if wm is not None and pd.notna(wm):
            latest[name] = wm
    return ChunkResult(outputs, outcome.quarantine, outcome.results, outcome.counts,
                       read_keys_of(reads) if keep_read_keys else None,
                       {name: len(r.raw) for name, r in reads.items()}, latest,
                       {name: list(r.extra_columns) for name, r in reads.items() if r.extra_columns},
                       worker_id())


# The frames of Outputs that a worker parks as Arrow files instead of pickling them back.
_PARKED = ("fact", "surveys", "complaints", "events")


def park_result(res: ChunkResult, folder: Path) -> ChunkResult:
    """`res` with its output frames written to Arrow IPC files in `folder` (beside the chunk's
    bucket, which the worker could read, so the flow's process can read them too) and only
    their paths left in it. Why: a chunk's facts and events are about 100 MB per 100k claims;
    pickled back through the process pool they cost about 1 s per chunk, in the worker and
    in the writer, against 0.1 s to write and read the Arrow file (their strings are already
    Arrow-backed). The flow's process takes them back with unpark_result."""
    import pyarrow as pa
    import pyarrow.feather as feather

    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str | None] = {}
    for name in _PARKED:
        frame = getattr(res.outputs, name)
        if frame is None:
            paths[name] = None
            continue
        path = folder / f"{name}.arrow"
        feather.write_feather(pa.Table.from_pandas(frame, preserve_index=False), path,
                              compression="uncompressed")
        paths[name] = str(path)
    res.outputs = Outputs(*(None for _ in _PARKED))
    res.parked = paths
    return res


def unpark_result(res: ChunkResult) -> ChunkResult:
    """The inverse of park_result, in the flow's process: frames read back (identical columns,
    dtypes and values) and their files deleted. A result that was never parked is returned
    as it is."""
    if not res.parked:
        return res
    import pyarrow.feather as feather

    frames = {}
    for name, path in res.parked.items():
        if path is None:
            frames[name] = None
            continue
        frames[name] = feather.read_table(path, memory_map=False).to_pandas()
        Path(path).unlink()
    res.outputs, res.parked = Outputs(**frames), {}
    return res


def worker_id() -> str:
    """host:pid of this process (which worker processed a chunk: logs and tests)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_chunk(chunks: Chunks, i: int, settings: Settings, key: bytes, run_time: pd.Timestamp,
                  partition: str, run_name: str | None = None, prune_docs: bool = True,
                  docs_later: bool = False) -> ChunkResult:
    """Read, validate and compute chunk `i` (pure apart from reading its bucket and, with a
    run name, adding its GX results to the Data Docs). Runs wherever the task runner puts it."""
    from .validate import validate_sources

    if chunks.n > 1:  # a worker's previous chunk: hand its memory back before reading this one
        release_memory()
    t0 = time.perf_counter()
    reads = chunks.read(i)
    t1 = time.perf_counter()
    outcome = validate_sources({t: r.typed for t, r in reads.items()},
                               {t: r.raw for t, r in reads.items()},
                               {t: r.failures for t, r in reads.items()},
                               settings, run_time, partition, run_name=run_name, prune_docs=prune_docs,
                               docs_later=docs_later)
    t2 = time.perf_counter()
    outputs = compute(outcome.accepted, settings, key)
    res = chunk_result(reads, outcome, outputs, keep_read_keys=chunks.plan.touched is not None)
    res.seconds = {"read": round(t1 - t0, 2), "validate": round(t2 - t1, 2),
                   "compute": round(time.perf_counter() - t2, 2)}
    return res


def write_chunk_result(wh: Warehouse, conn, state: LoadState, res: ChunkResult) -> None:
    """One chunk's facts into the open transaction; its bookkeeping kept for finish_load."""
    outputs = res.outputs
    for table, frame in (("fact_claim_service", outputs.fact), ("fact_survey_response", outputs.surveys),
                         ("fact_complaint", outputs.complaints)):
        state.written[table] += wh.insert_frame(conn, table, frame.assign(**state.meta))
    state.written["fact_claim_event"] = (state.written.get("fact_claim_event", 0)
                                         + clock_load.write_events(wh, conn, outputs.events, state.meta))
    state.dates |= _dates(outputs.fact["closed_date"], outputs.surveys["response_date"],
                          outputs.complaints["received_date"])
    state.quarantine.append(res.quarantine)
    state.results.append(_unique_results_from_quarantine(res.results, res.quarantine))
    state.counts.append(res.counts)
    if state.keep_read_keys and res.read_keys is not None:
        state.read_keys.append(res.read_keys)
    for name, n in res.rows_read.items():
        state.rows_read[name] = state.rows_read.get(name, 0) + n
    for name, wm in res.latest.items():
        prev = state.latest.get(name)
        state.latest[name] = wm if prev is None else max(prev, wm)


def write_chunk(wh: Warehouse, conn, state: LoadState, outputs: Outputs, quarantine: pd.DataFrame,
                results: pd.DataFrame, counts: pd.DataFrame, reads: dict[str, TableRead]) -> None:
    """write_chunk_result for a chunk processed stage by stage (bench/_stages.py times them)."""
    from types import SimpleNamespace

    outcome = SimpleNamespace(quarantine=quarantine, results=results, counts=counts)
    write_chunk_result(wh, conn, state, chunk_result(reads, outcome, outputs, state.keep_read_keys))


def read_keys_of(reads: dict[str, TableRead]) -> pd.DataFrame:
    """(source_table, source_key) of every row read: their open quarantine rows get settled."""
    return pd.concat([
        pd.DataFrame({"source_table": name, "source_key": r.typed[SOURCE_TABLES[name].key]})
        for name, r in reads.items()], ignore_index=True)


def _unique_results_from_quarantine(results: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    """GX sees one chunk; an id duplicated across chunks is caught by _mark_global_duplicates.
    Count the uniqueness expectation from the quarantine so its result tells the whole truth."""
    if results.empty:
        return results
    results = results.copy()
    for name, t in SOURCE_TABLES.items():
        code = f"{t.key}_not_unique"
        label = f"expect_column_values_to_be_unique({t.key})"
        hit = (results["source_table"] == name) & (results["expectation"] == label)
        if not hit.any():
            continue
        q = quarantine[quarantine["source_table"] == name] if len(quarantine) else quarantine
        n = int(q["reasons"].str.contains(rf"(?:^|;){code}(?:;|$)", regex=True).sum()) if len(q) else 0
        results.loc[hit, "unexpected_rows"] = n
        results.loc[hit, "success"] = n == 0
    return results


def _combine_results(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if len(parts) <= 1:
        return parts[0] if parts else pd.DataFrame()
    df = pd.concat(parts, ignore_index=True)
    return (df.groupby(["source_table", "partition", "expectation"], sort=False, dropna=False)
              .agg(success=("success", "all"), evaluated_rows=("evaluated_rows", "sum"),
                   unexpected_rows=("unexpected_rows", "sum")).reset_index())


def combine_counts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["source_table", "rows_read", "rows_accepted", "rows_quarantined"])
    return pd.concat(parts, ignore_index=True).groupby("source_table", sort=False).sum().reset_index()


def finish_load(wh: Warehouse, conn, settings: Settings, plan: RunPlan, state: LoadState,
                run: dict) -> LoadResult:
    """Recompute every touched date from the warehouse, then quarantine, DQ results,
    watermarks, dim_date and the run row — still inside the run's transaction."""
    if plan.mode == "full":  # it read everything: the reads are the change set
        plan.watermark_after = {t: state.latest.get(t) for t in SOURCE_TABLES}
        plan.changed_rows = {t: state.rows_read.get(t, 0) for t in SOURCE_TABLES}
    dates = sorted(state.dates)
    written = dict(state.written)
    for i in range(0, len(dates), DATES_PER_RECOMPUTE):
        for t, n in recompute_dates(wh, conn, settings, dates[i:i + DATES_PER_RECOMPUTE], state.meta).items():
            written[t] = written.get(t, 0) + n
    written.setdefault("daily_service_metrics", 0)
    written.setdefault("daily_standard_attainment", 0)
    written["daily_quality_metrics"] = sum(
        quality.recompute_quality_dates(wh, conn, dates[i:i + DATES_PER_RECOMPUTE], state.meta)["daily_quality_metrics"]
        for i in range(0, len(dates), DATES_PER_RECOMPUTE))
    alerts = quality.evaluate_guard(wh, conn, state.now) if dates else None
    # Service clocks: the rebuilt claims' and every clock not stopped (time passes).
    written.update(clock_load.recompute_clocks(wh, conn, settings, plan.touched, as_of_of(run, settings),
                                               state.meta))
    quarantine = (pd.concat(state.quarantine, ignore_index=True) if state.quarantine
                  else pd.DataFrame(columns=["source_table", "source_key", "claim_id", "reasons", "row_data"]))
    read_keys = (pd.concat(state.read_keys, ignore_index=True) if state.read_keys
                 else pd.DataFrame(columns=["source_table", "source_key"]))
    update_quarantine(wh, conn, plan, quarantine, read_keys, state.now, run["run_id"])
    results = _combine_results(state.results)
    # A run that read nothing validated nothing: it leaves only its pipeline_runs row.
    if len(results) and not plan.is_empty:
        wh.insert_frame(conn, "dq_validation_results",
                        results.assign(run_id=run["run_id"], validated_at=run["started_at"]))
    counts = combine_counts(state.counts)
    _write_watermarks(wh, conn, plan, run["run_id"], state.now)
    refresh_dim_date(wh, conn, settings.timezone)
    # finished_at is when the load ended (state.now is when it began)
    write_run(wh, conn, plan, run, counts, written, dates, pd.Timestamp.now(tz="UTC"))
    return LoadResult(dates, written, alerts)


def as_of_of(run: dict, settings: Settings) -> dt.date:
    """The run's as-of date (run["as_of"]); default: the local date of the run's start."""
    if run.get("as_of") is None:
        run["as_of"] = clock_load.default_as_of(run["started_at"], settings.timezone)
    return run["as_of"]


def recompute_dates(wh: Warehouse, conn, settings: Settings, dates: list[dt.date], meta: dict) -> dict[str, int]:
    """Replace the metric rows of `dates` with the SQL models run inside the warehouse over
    its facts (claimpulse/models): nothing is read back into this process."""
    if not dates:
        return {"daily_service_metrics": 0, "daily_standard_attainment": 0}
    rel = wh.stage_keys(conn, "dates", dates)
    for t in ("daily_service_metrics", "daily_standard_attainment"):
        wh.delete_in(conn, t, "metric_date", rel)
    return {
        "daily_service_metrics": models.insert_model(wh, conn, "daily_service_metrics", meta, dates=rel),
        "daily_standard_attainment": models.insert_model(wh, conn, "daily_standard_attainment", meta,
                                                         dates=rel, standards=list(settings.standards)),
    }


def update_quarantine(wh: Warehouse, conn, plan: RunPlan, quarantine: pd.DataFrame,
                       read_keys: pd.DataFrame, now: pd.Timestamp, run_id: str) -> None:
    """Open quarantine rows of what this run re-read: superseded if still bad, else released."""
    q = wh.table("dq_quarantine")
    open_rows = wh.read_table(conn, "dq_quarantine", "WHERE released_at IS NULL")
    if plan.touched is None:
        candidates = pd.Series(True, index=open_rows.index)
    else:
        by_key = pd.MultiIndex.from_frame(open_rows[["source_table", "source_key"]]).isin(
            pd.MultiIndex.from_frame(read_keys)) if len(open_rows) and len(read_keys) else np.zeros(len(open_rows), bool)
        candidates = (open_rows["claim_id"].isin(plan.touched).fillna(False).astype(bool)
                      | pd.Series(by_key, index=open_rows.index)
                      | (open_rows["claim_id"].isna() & plan.read_null_claims))
    cand = open_rows[candidates.to_numpy()] if len(open_rows) else open_rows
    new = quarantine.copy()
    if len(cand):
        # Keep when a row was first quarantined; the row itself is replaced by this version.
        first = cand.dropna(subset=["source_key"]).groupby(["source_table", "source_key"])["quarantined_at"].min()
        new = new.join(first.rename("first_quarantined_at"), on=["source_table", "source_key"])
        still_bad = pd.MultiIndex.from_frame(cand[["source_table", "source_key"]]).isin(
            pd.MultiIndex.from_frame(quarantine[["source_table", "source_key"]])) if len(quarantine) \
            else np.zeros(len(cand), bool)
        # Superseded rows are deleted (the new version carries the history on); the rest are
        # released: their latest version passed or left the source.
        sup_ids = cand[still_bad]
        rel_ids = cand[~still_bad]
        for frame, action in ((sup_ids, "delete"), (rel_ids, "release")):
            if frame.empty:
                continue
            keys = (frame["run_id"] + "\x1f" + frame["source_table"] + "\x1f"
                    + frame["source_key"].fillna("\x1e")).tolist()  # not \x00: PostgreSQL text has no NUL
            rel = wh.stage_keys(conn, f"q_{action}", keys)
            match = (f"(run_id || chr(31) || source_table || chr(31) || COALESCE(source_key, chr(30))) "
                     f"IN (SELECT k FROM {rel}) AND released_at IS NULL")
            if action == "delete":
                conn.exec_driver_sql(f"DELETE FROM {q} WHERE {match}")
            else:
                conn.exec_driver_sql(f"UPDATE {q} SET released_at = %s WHERE {match}"
                                     if wh.dialect == "postgresql" else
                                     f"UPDATE {q} SET released_at = ? WHERE {match}", (now.to_pydatetime(),))
    else:
        new["first_quarantined_at"] = pd.NaT
    if len(new):
        new["quarantined_at"] = new["first_quarantined_at"].fillna(now) if "first_quarantined_at" in new else now
        new["run_id"] = run_id
        new["released_at"] = pd.NaT
        wh.insert_frame(conn, "dq_quarantine", new)


def _write_watermarks(wh: Warehouse, conn, plan: RunPlan, run_id: str, now) -> None:
    """Advance the watermarks that moved (untouched ones keep their run_id and time)."""
    moved = [t for t, wm in plan.watermark_after.items()
             if wm is not None and pd.notna(wm) and plan.watermark_before.get(t) != wm]
    if not moved:
        return
    rows = pd.DataFrame({
        "source_table": moved,
        "watermark": pd.to_datetime([plan.watermark_after[t] for t in moved], utc=True),
        "run_id": run_id, "updated_at": now,
    })
    wh.delete_in(conn, "pipeline_state", "source_table", wh.stage_keys(conn, "wm", moved))
    wh.insert_frame(conn, "pipeline_state", rows)


def write_run(wh: Warehouse, conn, plan: RunPlan, run: dict, counts: pd.DataFrame,
               written: dict[str, int], dates: list[dt.date], now) -> None:
    row = {
        "run_id": run["run_id"], "flow": run["flow"], "started_at": run["started_at"],
        "finished_at": now, "status": "succeeded", "error": None,
        "partitions": to_json([d.isoformat() for d in dates]),
        "watermark_before": to_json({k: v for k, v in plan.watermark_before.items()}),
        "watermark_after": to_json({k: v for k, v in plan.watermark_after.items()}),
        "metric_rows_written": written.get("daily_service_metrics", 0),
        "attainment_rows_written": written.get("daily_standard_attainment", 0),
        **clock_load.run_fields(run, written),
    }
    fact_written = {"claims": written.get("fact_claim_service", 0),
                    "surveys": written.get("fact_survey_response", 0),
                    "complaints": written.get("fact_complaint", 0)}
    c = counts.set_index("source_table") if len(counts) else None
    for t in TABLE_ORDER:
        read = int(c.loc[t, "rows_read"]) if c is not None and t in c.index else 0
        acc = int(c.loc[t, "rows_accepted"]) if c is not None and t in c.index else 0
        qua = int(c.loc[t, "rows_quarantined"]) if c is not None and t in c.index else 0
        row |= {f"{t}_read": read, f"{t}_accepted": acc, f"{t}_quarantined": qua,
                # events and costs are folded into the claim facts: all accepted rows count
                f"{t}_written": fact_written.get(t, acc)}
    df = pd.DataFrame([row])
    for col in ("started_at", "finished_at"):
        df[col] = pd.to_datetime(df[col], utc=True)
    wh.insert_frame(conn, "pipeline_runs", df)


def record_failure(wh: Warehouse, run: dict, error: str) -> None:
    """Best effort: a failed run leaves one pipeline_runs row saying why (its own transaction)."""
    try:
        wh.ensure_schema()
        with wh.transaction() as conn:
            df = pd.DataFrame([{"run_id": run["run_id"], "flow": run["flow"], "started_at": run["started_at"],
                                "finished_at": pd.Timestamp.now(tz="UTC"), "status": "failed",
                                "error": error[:2000]}])
            df["started_at"] = pd.to_datetime(df["started_at"], utc=True)
            wh.insert_frame(conn, "pipeline_runs", df)
    except Exception as exc:  # the warehouse itself may be what failed
        log.warning("could not record the failed run in the warehouse: %s", exc)
