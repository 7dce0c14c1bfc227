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
               they touch before and after the change from the warehouse's own state, update
               the quarantine, the watermarks and pipeline_runs.

Because metric dates are always recomputed from the warehouse's complete accepted state, an
incremental run gives exactly what a full recompute would.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import metrics
from .config import Settings
from .dim_date import refresh_dim_date
from .extract import SourceError, TableRead, coerce_table, empty_raw, read_table, scan_changes
from .schema import SOURCE_TABLES, TABLE_ORDER
from .warehouse import Warehouse, to_json

log = logging.getLogger(__name__)

# Above this share of all claims an incremental run reads whole tables instead of
# `WHERE claim_id IN (...)` batches: one scan beats thousands of lookups.
FULL_READ_SHARE = 0.3


@dataclass
class RunPlan:
    mode: str                                   # "full" or "incremental"
    touched: pd.Index | None                    # claim ids to rebuild (None: all)
    read_null_claims: bool                      # re-read rows whose claim_id is null
    changed_rows: dict[str, int]                # per table: rows changed since the watermark
    watermark_before: dict[str, pd.Timestamp]
    watermark_after: dict[str, pd.Timestamp]
    total_claims: int = 0

    @property
    def is_empty(self) -> bool:
        return self.touched is not None and len(self.touched) == 0 and not self.read_null_claims

    def reasons(self) -> dict[str, int]:
        return {t: n for t, n in self.changed_rows.items() if n}


def plan_changes(source, settings: Settings, watermarks: dict[str, pd.Timestamp],
                 warehouse_keys: dict[str, pd.DataFrame] | None = None) -> RunPlan:
    """Decide which claims this run rebuilds (see module docstring)."""
    scans = {t.name: scan_changes(source, t, settings.source_timezone) for t in SOURCE_TABLES.values()}
    after = {}
    for name, scan in scans.items():
        wm = scan["updated_at"].max()
        before = watermarks.get(name)
        after[name] = max(x for x in (wm, before) if x is not None and pd.notna(x)) \
            if (pd.notna(wm) or before is not None) else None
    total = int(scans["claims"]["key"].nunique())
    if not watermarks:
        changed = {name: len(scan) for name, scan in scans.items()}
        return RunPlan("full", None, True, changed, {}, after, total)

    touched: set = set()
    changed_rows = {}
    read_null = False
    for name, scan in scans.items():
        wm = watermarks.get(name)
        upd = scan["updated_at"]
        # A row with no readable updated_at cannot be placed: re-read it every run.
        is_changed = upd.isna() if wm is None or pd.isna(wm) else (upd.isna() | (upd > wm))
        if wm is None:
            is_changed = pd.Series(True, index=scan.index)
        is_changed = is_changed.fillna(True).astype(bool)
        changed_rows[name] = int(is_changed.sum())
        if not is_changed.any():
            continue
        ch = scan[is_changed]
        touched.update(ch["claim_id"].dropna().tolist())
        read_null |= bool(ch["claim_id"].isna().any())
        # Duplicated ids: every copy's claim must be re-read, or a copy would slip through.
        dup = scan["key"].duplicated(keep=False) & scan["key"].isin(ch["key"].dropna())
        touched.update(scan.loc[dup, "claim_id"].dropna().tolist())
    # Hard deletes: claims / responses / complaints the warehouse has but the source lost.
    for table, keys in (warehouse_keys or {}).items():
        gone = keys[~keys["key"].isin(scans[table]["key"])]
        if len(gone):
            changed_rows[table] = changed_rows.get(table, 0) + int(len(gone))
            touched.update(gone["claim_id"].dropna().tolist())
    return RunPlan("incremental", pd.Index(sorted(touched), dtype="object"), read_null,
                   changed_rows, dict(watermarks), after, total)


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
            keep = claim.isin(plan.touched).fillna(False).astype(bool)
            if plan.read_null_claims:
                keep |= claim.isna()
            raw = r.raw[keep.to_numpy()].reset_index(drop=True)
            out[t.name] = coerce_table(raw, t, settings.source_timezone)
        else:
            out[t.name] = read_table(source, t, settings.source_timezone,
                                     claim_ids=list(plan.touched), null_claim=plan.read_null_claims)
    return out


@dataclass
class Outputs:
    fact: pd.DataFrame
    surveys: pd.DataFrame
    complaints: pd.DataFrame


def compute(accepted: dict[str, pd.DataFrame], settings: Settings, key: bytes) -> Outputs:
    """Row-level warehouse facts of the accepted rows (pure)."""
    fact = metrics.build_fact(accepted["claims"], accepted["claim_events"], accepted["surveys"],
                              accepted["complaints"], accepted["customer_costs"], settings, key)
    s = accepted["surveys"]
    surveys = pd.DataFrame({
        "response_id": s["response_id"], "claim_id": s["claim_id"],
        "responded_at": s["responded_at"],
        "response_date": metrics.local_date(s["responded_at"], settings.tz),
        "csat": s["csat"], "nps": s["nps"], "effort": s["effort"],
        "source_updated_at": s["updated_at"],
    })
    c = accepted["complaints"]
    complaints = pd.DataFrame({
        "complaint_id": c["complaint_id"], "claim_id": c["claim_id"],
        "received_at": c["received_at"],
        "received_date": metrics.local_date(c["received_at"], settings.tz),
        "source": c["source"], "category": c["category"], "resolved_at": c["resolved_at"],
        "source_updated_at": c["updated_at"],
    })
    return Outputs(fact.reset_index(drop=True), surveys.reset_index(drop=True),
                   complaints.reset_index(drop=True))


@dataclass
class LoadResult:
    dates: list[dt.date]
    written: dict[str, int] = field(default_factory=dict)


def _dates(*series: pd.Series) -> set[dt.date]:
    out: set[dt.date] = set()
    for s in series:
        out.update(d for d in pd.unique(s.dropna()) if d is not None)
    return {pd.Timestamp(d).date() if not isinstance(d, dt.date) else d for d in out}


def load(wh: Warehouse, settings: Settings, plan: RunPlan, outputs: Outputs, quarantine: pd.DataFrame,
         results: pd.DataFrame, counts: pd.DataFrame, run: dict, reads: dict[str, TableRead]) -> LoadResult:
    """Everything of one run in one transaction (see module docstring)."""
    now = pd.Timestamp.now(tz="UTC")
    meta = {"loaded_at": now, "run_id": run["run_id"]}
    with wh.transaction() as conn:
        full = plan.touched is None
        if full:
            old = wh.read_sql(conn, f"SELECT DISTINCT closed_date AS d FROM {wh.table('fact_claim_service')} "
                                    f"UNION SELECT DISTINCT response_date FROM {wh.table('fact_survey_response')} "
                                    f"UNION SELECT DISTINCT received_date FROM {wh.table('fact_complaint')}")
            for t in ("fact_claim_service", "fact_survey_response", "fact_complaint"):
                conn.exec_driver_sql(f"DELETE FROM {wh.table(t)}")
        else:
            rel = wh.stage_keys(conn, "touched", plan.touched)
            old = wh.read_sql(conn,
                              f"SELECT closed_date AS d FROM {wh.table('fact_claim_service')} WHERE claim_id IN (SELECT k FROM {rel}) "
                              f"UNION SELECT response_date FROM {wh.table('fact_survey_response')} WHERE claim_id IN (SELECT k FROM {rel}) "
                              f"UNION SELECT received_date FROM {wh.table('fact_complaint')} WHERE claim_id IN (SELECT k FROM {rel})")
            for t in ("fact_claim_service", "fact_survey_response", "fact_complaint"):
                wh.delete_in(conn, t, "claim_id", rel)
        written = {
            "fact_claim_service": wh.insert_frame(conn, "fact_claim_service", outputs.fact.assign(**meta)),
            "fact_survey_response": wh.insert_frame(conn, "fact_survey_response", outputs.surveys.assign(**meta)),
            "fact_complaint": wh.insert_frame(conn, "fact_complaint", outputs.complaints.assign(**meta)),
        }
        dates = sorted(_dates(old["d"], outputs.fact["closed_date"], outputs.surveys["response_date"],
                              outputs.complaints["received_date"]))
        written.update(recompute_dates(wh, conn, settings, dates, meta))
        _update_quarantine(wh, conn, plan, quarantine, reads, now, run["run_id"])
        # A run that read nothing validated nothing: it leaves only its pipeline_runs row.
        if len(results) and not plan.is_empty:
            wh.insert_frame(conn, "dq_validation_results",
                            results.assign(run_id=run["run_id"], validated_at=run["started_at"]))
        _write_watermarks(wh, conn, plan, run["run_id"], now)
        refresh_dim_date(wh, conn, settings.timezone)
        _write_run(wh, conn, plan, run, counts, written, dates, now)
    return LoadResult(dates, written)


def recompute_dates(wh: Warehouse, conn, settings: Settings, dates: list[dt.date], meta: dict) -> dict[str, int]:
    """Replace the metric rows of `dates` with a recompute from the warehouse's facts."""
    if not dates:
        return {"daily_service_metrics": 0, "daily_standard_attainment": 0}
    rel = wh.stage_keys(conn, "dates", dates)
    fact_t, surv_t, comp_t = (wh.table(t) for t in ("fact_claim_service", "fact_survey_response", "fact_complaint"))
    surveys = wh.read_table(conn, "fact_survey_response", f"WHERE response_date IN (SELECT k FROM {rel})")
    complaints = wh.read_table(conn, "fact_complaint", f"WHERE received_date IN (SELECT k FROM {rel})")
    # The closed cohort of those dates, plus the claims of their responses and complaints
    # (a response's dimensions are its claim's, whenever that claim closed).
    fact = wh.read_table(conn, "fact_claim_service",
                         f"WHERE closed_date IN (SELECT k FROM {rel}) OR claim_id IN "
                         f"(SELECT claim_id FROM {surv_t} WHERE response_date IN (SELECT k FROM {rel}) "
                         f"UNION SELECT claim_id FROM {comp_t} WHERE received_date IN (SELECT k FROM {rel}))")
    daily = metrics.daily_service_metrics(fact, surveys, complaints, settings, dates=dates)
    attain = metrics.daily_standard_attainment(fact, settings, dates=dates)
    for t in ("daily_service_metrics", "daily_standard_attainment"):
        wh.delete_in(conn, t, "metric_date", rel)
    return {
        "daily_service_metrics": wh.insert_frame(conn, "daily_service_metrics", daily.assign(**meta)),
        "daily_standard_attainment": wh.insert_frame(conn, "daily_standard_attainment", attain.assign(**meta)),
    }


def _update_quarantine(wh: Warehouse, conn, plan: RunPlan, quarantine: pd.DataFrame,
                       reads: dict[str, TableRead], now: pd.Timestamp, run_id: str) -> None:
    """Open quarantine rows of what this run re-read: superseded if still bad, else released."""
    q = wh.table("dq_quarantine")
    open_rows = wh.read_table(conn, "dq_quarantine", "WHERE released_at IS NULL")
    if plan.touched is None:
        candidates = pd.Series(True, index=open_rows.index)
    else:
        read_keys = pd.concat([
            pd.DataFrame({"source_table": name, "source_key": r.typed[SOURCE_TABLES[name].key]})
            for name, r in reads.items()], ignore_index=True)
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
                    + frame["source_key"].fillna("\x00")).tolist()
            rel = wh.stage_keys(conn, f"q_{action}", keys)
            match = (f"(run_id || chr(31) || source_table || chr(31) || COALESCE(source_key, chr(0))) "
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


def _write_run(wh: Warehouse, conn, plan: RunPlan, run: dict, counts: pd.DataFrame,
               written: dict[str, int], dates: list[dt.date], now) -> None:
    row = {
        "run_id": run["run_id"], "flow": run["flow"], "started_at": run["started_at"],
        "finished_at": now, "status": "succeeded", "error": None,
        "partitions": to_json([d.isoformat() for d in dates]),
        "watermark_before": to_json({k: v for k, v in plan.watermark_before.items()}),
        "watermark_after": to_json({k: v for k, v in plan.watermark_after.items()}),
        "metric_rows_written": written.get("daily_service_metrics", 0),
        "attainment_rows_written": written.get("daily_standard_attainment", 0),
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
