"""Backfill: recompute the local dates start..end from the source, partition by partition.

A partition is one local date D. It owns
- the fact_claim_service rows of claims whose closed_date is D (open claims: whose
  reported date is D),
- the fact_survey_response / fact_complaint rows whose local date is D,
- the daily_service_metrics / daily_standard_attainment rows of D,
and is replaced in its own transaction, which also records D in `backfill_partitions`.
A killed backfill therefore resumes: rerunning the same range skips the dates already
committed. When every partition has committed, one bookkeeping transaction updates the
quarantine, writes dq_validation_results and pipeline_runs, and forgets the partitions.

Watermarks are left alone: a backfill restates history, the nightly run still owns "what
changed". A partition's metrics are the SQL models (claimpulse/models) run inside the
warehouse, in the partition's transaction, after its facts are written. So that they read
the source as it is now, the partition also writes the current fact rows of the claims its
responses and complaints belong to (a response takes its claim's dimensions, whenever that
claim closed): the metrics of D then equal what a full run would produce for D.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import clock_load, metrics, quality
from .config import Settings
from .extract import as_text, check_columns, to_timestamp
from .pipeline import Outputs, RunPlan, update_quarantine, write_run, recompute_dates
from .schema import CLAIM_EVENTS, CLAIMS, COMPLAINTS, SOURCE_TABLES, SURVEYS
from .warehouse import Warehouse


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise ValueError(f"backfill range is empty: --end {end} is before --start {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def backfill_key(start: dt.date, end: dt.date) -> str:
    return f"{start.isoformat()}..{end.isoformat()}"


def _local(source, table, cols, settings: Settings) -> pd.DataFrame:
    raw = source.read(table, columns=cols)
    out = pd.DataFrame({"claim_id": as_text(raw[table.claim_column])})
    for c in cols:
        if c in ("claim_id",):
            continue
        if table.columns.get(c) == "timestamp":
            ts, _ = to_timestamp(raw[c], settings.source_timezone)
            out[c] = metrics.local_date(ts, settings.tz)
        else:
            out[c] = as_text(raw[c])
    return out


def plan_backfill(source, settings: Settings, start: dt.date, end: dt.date) -> RunPlan:
    """The claims a backfill of start..end must read: those that can own or explain a date
    in the range (closed or reported in it, or with a response or complaint in it)."""
    for t in SOURCE_TABLES.values():
        check_columns(source, t)
    lo, hi = start, end
    claims = _local(source, CLAIMS, ["claim_id", "reported_at"], settings)
    events = _local(source, CLAIM_EVENTS, ["claim_id", "event_type", "occurred_at"], settings)
    surveys = _local(source, SURVEYS, ["claim_id", "responded_at"], settings)
    complaints = _local(source, COMPLAINTS, ["claim_id", "received_at"], settings)

    def in_range(s: pd.Series) -> np.ndarray:
        d = pd.to_datetime(s, errors="coerce")
        return ((d >= pd.Timestamp(lo)) & (d <= pd.Timestamp(hi))).to_numpy()

    # Any closed event in range (not only the first): a superset is safe, a subset is not.
    closing = events[(events["event_type"] == "closed").fillna(False).to_numpy() & in_range(events["occurred_at"])]
    touched = set(closing["claim_id"].dropna())
    touched.update(claims.loc[in_range(claims["reported_at"]), "claim_id"].dropna())
    touched.update(surveys.loc[in_range(surveys["responded_at"]), "claim_id"].dropna())
    touched.update(complaints.loc[in_range(complaints["received_at"]), "claim_id"].dropna())
    return RunPlan("backfill", pd.Index(sorted(touched), dtype="object"), False, {}, {}, {},
                   int(claims["claim_id"].nunique()))


@dataclass
class Partition:
    date: dt.date
    fact: pd.DataFrame          # fact rows this partition owns
    surveys: pd.DataFrame       # response rows of this date
    complaints: pd.DataFrame    # complaint rows of this date
    cohort_fact: pd.DataFrame   # fact rows its metrics need (owned + claims of its responses/complaints)
    # responses of its owned claims on other dates: daily_quality_metrics' csat_mean needs each
    # closed claim's latest response in the warehouse, whichever partition owns that response
    claim_surveys: pd.DataFrame | None = None
    events: pd.DataFrame | None = None  # fact_claim_event rows of the claims it writes


def owner_date(fact: pd.DataFrame, settings: Settings) -> pd.Series:
    """The partition owning a fact row: its closed_date, else its reported date."""
    reported = metrics.local_date(fact["reported_at"], settings.tz)
    return fact["closed_date"].where(fact["closed_date"].notna(), reported)


def slice_partitions(outputs: Outputs, settings: Settings, dates: list[dt.date]) -> list[Partition]:
    """Cut the in-memory facts into per-date inputs (small frames: cheap to ship to workers)."""
    fact = outputs.fact
    owner = owner_date(fact, settings)
    wanted = set(dates)
    by_claim = fact.set_index("claim_id", drop=False)
    parts = []
    owned_groups = {d: g for d, g in fact.groupby(owner.to_numpy(), sort=False) if d in wanted}
    s_groups = {d: g for d, g in outputs.surveys.groupby("response_date", sort=False) if d in wanted}
    c_groups = {d: g for d, g in outputs.complaints.groupby("received_date", sort=False) if d in wanted}
    empty_f, empty_s, empty_c = fact.iloc[:0], outputs.surveys.iloc[:0], outputs.complaints.iloc[:0]
    # A claim's events go with the partition owning the claim (for its service clocks).
    events = outputs.events if outputs.events is not None else pd.DataFrame(columns=list(clock_load.EVENT_COLUMNS))
    ev_owner = events["claim_id"].map(pd.Series(owner.to_numpy(), index=fact["claim_id"].to_numpy()))
    e_groups = {d: g for d, g in events.groupby(ev_owner.to_numpy(), sort=False) if d in wanted} \
        if len(events) else {}
    # The cohort's other claims are rewritten with the partition (their fact rows are), so their
    # events are too: looked up by claim id on a sorted index, not scanned per date.
    events_by_claim = events.set_index("claim_id", drop=False).sort_index()
    for d in dates:
        owned = owned_groups.get(d, empty_f)
        s = s_groups.get(d, empty_s)
        c = c_groups.get(d, empty_c)
        extra_ids = pd.Index(s["claim_id"]).union(pd.Index(c["claim_id"]))
        extra = by_claim.loc[by_claim.index.intersection(extra_ids)].reset_index(drop=True)
        closed = fact[(fact["closed_date"] == d).to_numpy()] if len(fact) else empty_f
        cohort = pd.concat([closed, extra], ignore_index=True).drop_duplicates("claim_id")
        others = outputs.surveys[outputs.surveys["claim_id"].isin(owned["claim_id"]).to_numpy()
                                 & (outputs.surveys["response_date"] != d).to_numpy()]
        extra_events = events_by_claim.loc[events_by_claim.index.intersection(extra_ids)]
        part_events = pd.concat([e_groups.get(d, events.iloc[:0]), extra_events.reset_index(drop=True)],
                                ignore_index=True).drop_duplicates("event_id")
        parts.append(Partition(d, owned, s, c, cohort, others, part_events))
    return parts


@dataclass
class PartitionResult:
    date: dt.date
    fact: pd.DataFrame          # fact rows to write: the owned ones and the cohort's other claims
    surveys: pd.DataFrame
    complaints: pd.DataFrame
    claim_surveys: pd.DataFrame | None = None  # responses of its closed claims on other dates
    events: pd.DataFrame | None = None         # fact_claim_event rows of the claims in `fact`

    @property
    def rows(self) -> int:
        return len(self.fact) + len(self.surveys) + len(self.complaints)


def compute_partition(part: Partition) -> PartitionResult:
    """The rows one date writes (pure; runs on any worker): its own facts plus the current
    facts of the claims its metrics read. The metrics themselves run in the warehouse."""
    fact = pd.concat([part.fact, part.cohort_fact], ignore_index=True).drop_duplicates("claim_id")
    return PartitionResult(part.date, fact.reset_index(drop=True), part.surveys, part.complaints,
                           part.claim_surveys, part.events)


def committed_partitions(wh: Warehouse, key: str) -> set[dt.date]:
    with wh.transaction() as conn:
        df = wh.read_sql(conn, f"SELECT partition_date FROM {wh.table('backfill_partitions')} "
                               f"WHERE backfill_key = $key" if wh.dialect == "duckdb" else
                         f"SELECT partition_date FROM {wh.table('backfill_partitions')} "
                         f"WHERE backfill_key = :key", {"key": key})
    return {pd.Timestamp(d).date() for d in df["partition_date"]}


def write_partition(wh: Warehouse, res: PartitionResult, key: str, run_id: str,
                    settings: Settings) -> dict[str, int]:
    """Replace one date's rows, recompute its metrics in the warehouse, and record the date
    as committed, in one transaction. Returns rows written per table."""
    now = pd.Timestamp.now(tz="UTC")
    meta = {"loaded_at": now, "run_id": run_id}
    d = res.date
    with wh.transaction() as conn:
        drel = wh.stage_keys(conn, "pdate", [d])
        crel = wh.stage_keys(conn, "pclaims", res.fact["claim_id"].tolist())
        srel = wh.stage_keys(conn, "psurveys", res.surveys["response_id"].tolist())
        krel = wh.stage_keys(conn, "pcomplaints", res.complaints["complaint_id"].tolist())
        f, s, c = (wh.table(t) for t in ("fact_claim_service", "fact_survey_response", "fact_complaint"))
        # The date's old rows, and any stale copy of a row this date now writes (events with their claim).
        conn.exec_driver_sql(f"DELETE FROM {wh.table('fact_claim_event')} WHERE claim_id IN "
                             f"(SELECT claim_id FROM {f} WHERE claim_id IN (SELECT k FROM {crel}) OR "
                             f"closed_date IN (SELECT k FROM {drel}))")
        conn.exec_driver_sql(f"DELETE FROM {f} WHERE claim_id IN (SELECT k FROM {crel}) OR "
                             f"closed_date IN (SELECT k FROM {drel})")
        conn.exec_driver_sql(f"DELETE FROM {s} WHERE response_id IN (SELECT k FROM {srel}) OR "
                             f"response_date IN (SELECT k FROM {drel})")
        conn.exec_driver_sql(f"DELETE FROM {c} WHERE complaint_id IN (SELECT k FROM {krel}) OR "
                             f"received_date IN (SELECT k FROM {drel})")
        written = {
            "fact_claim_service": wh.insert_frame(conn, "fact_claim_service", res.fact.assign(**meta)),
            "fact_survey_response": wh.insert_frame(conn, "fact_survey_response", res.surveys.assign(**meta)),
            "fact_complaint": wh.insert_frame(conn, "fact_complaint", res.complaints.assign(**meta)),
        }
        clock_load.write_events(wh, conn, res.events, meta)
        if res.claim_surveys is not None and len(res.claim_surveys):
            orel = wh.stage_keys(conn, "pclaimsurveys", res.claim_surveys["response_id"].tolist())
            conn.exec_driver_sql(f"DELETE FROM {s} WHERE response_id IN (SELECT k FROM {orel})")
            written["fact_survey_response"] += wh.insert_frame(
                conn, "fact_survey_response", res.claim_surveys.assign(**meta))
        written |= recompute_dates(wh, conn, settings, [d], meta)
        written |= quality.recompute_quality_dates(wh, conn, [d], meta)
        wh.insert_frame(conn, "backfill_partitions", pd.DataFrame({
            "backfill_key": [key], "partition_date": [d], "run_id": [run_id], "committed_at": [now]}))
    return written


def finish_backfill(wh: Warehouse, plan: RunPlan, key: str, quarantine: pd.DataFrame,
                    results: pd.DataFrame, counts: pd.DataFrame, read_keys: pd.DataFrame, run: dict,
                    dates: list[dt.date], written: dict[str, int],
                    settings: Settings | None = None) -> pd.DataFrame:
    """Bookkeeping once every partition committed: service clocks (of the claims read and every
    clock not stopped), quarantine, DQ results, the speed-quality guard over the restated
    facts, the run row. Returns the alerts it raised."""
    from .pipeline import as_of_of

    now = pd.Timestamp.now(tz="UTC")
    with wh.transaction() as conn:
        if settings is not None:
            written.update(clock_load.recompute_clocks(wh, conn, settings, plan.touched, as_of_of(run, settings),
                                                       {"loaded_at": now, "run_id": run["run_id"]}))
        update_quarantine(wh, conn, plan, quarantine, read_keys, now, run["run_id"])
        if len(results):
            wh.insert_frame(conn, "dq_validation_results",
                            results.assign(run_id=run["run_id"], validated_at=run["started_at"]))
        conn.exec_driver_sql(f"DELETE FROM {wh.table('backfill_partitions')} WHERE backfill_key = "
                             + ("?" if wh.dialect == "duckdb" else "%s"), (key,))
        alerts = quality.evaluate_guard(wh, conn, now)
        write_run(wh, conn, plan, run, counts, written, dates, now)
    return alerts
