"""The nightly flow: what `claimpulse run` calls and the `claimpulse-nightly` deployment runs.

Incremental by design: on an empty warehouse it processes everything; afterwards it reads
what changed since the watermarks and restates exactly the dates those changes touch.
With `reconcile=True` (flows/reconcile.py, `claimpulse run --reconcile`, weekly) it also
compares every source id with the warehouse, so rows deleted from the source disappear.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from claimpulse import identity, pipeline, quality
from claimpulse.datadocs import run_links
from claimpulse.extract import open_source
from claimpulse.preflight import lock_timeout, one_line, preflight
from claimpulse.summary import quarantined_total, run_markdown
from claimpulse.warehouse import Warehouse
from tasks.chunks import chunk_results, chunk_workers, process_chunk
from tasks.extract import plan_changes, prepare_chunks
from tasks.load import begin_load, finish_load, write_chunk
from tasks.publish import publish


def today_name(prefix: str) -> str:
    return f"{prefix}-{dt.datetime.now(dt.UTC).astimezone().date().isoformat()}"


def new_run_id() -> str:
    return str(flow_run.id) if flow_run.id else uuid.uuid4().hex


def headline_of(wh: Warehouse, dates: list) -> pd.Series | None:
    if not dates:
        return None
    with wh.transaction() as conn:
        df = wh.read_table(conn, "daily_service_metrics",
                           "WHERE metric_date = (SELECT max(metric_date) FROM "
                           f"{wh.table('daily_service_metrics')}) AND product_line = 'ALL' "
                           "AND channel = 'ALL' AND region = 'ALL'")
    return df.iloc[0] if len(df) else None


def worse_counts(wh: Warehouse, alerts: pd.DataFrame | None) -> dict[str, int | None]:
    """After the commit: send each new speed-quality alert as a Prefect event, and count what
    got worse for the summary (overdue clocks only when the warehouse has clock tables)."""
    quality.emit_alert_events(alerts)
    return {"new_alerts": 0 if alerts is None else len(alerts),
            "overdue_clocks": quality.overdue_clocks(wh)}


@contextmanager
def locked_run(wh: Warehouse, run: dict, label: str, key: bytes | None = None,
               resume: str | None = None) -> Iterator[Warehouse]:
    """The warehouse lock for one run, and the warehouse the run writes (write-audit-publish).

    Yields a DuckDB warehouse's working copy (PostgreSQL: `wh` itself, whose transactions
    publish), with the schema at head and, with `key`, the key's fingerprint checked (or
    recorded) before anything is written. Leaving the block publishes the run: DuckDB audits
    the copy and swaps it in atomically, so BI readers holding the file keep reading and see
    the run once they reconnect. A failure inside is recorded in pipeline_runs (and published)
    before the lock is let go. A run that cannot get the lock (WarehouseLocked) records
    nothing: the holder's run is fine. `resume`: a backfill's key (see Warehouse.publishing)."""
    with wh.run_lock(label, lock_timeout()), wh.publishing(run["run_id"], resume) as work:
        try:
            work.ensure_schema()
            if key is not None:
                status = identity.verify_or_record(work, key, run["run_id"])
                if status == "adopted":
                    run.setdefault("warnings", []).append(
                        "the warehouse had no pseudonym key fingerprint: it adopted this run's key")
            yield work
        except Exception as exc:
            pipeline.record_failure(work, run, one_line(exc))
            raise


def warehouse_keys(wh: Warehouse) -> dict[str, pd.DataFrame]:
    """Ids the warehouse holds, to notice rows deleted from the source."""
    with wh.transaction() as conn:
        return {
            "claims": wh.read_sql(conn, f"SELECT claim_id AS key, claim_id FROM {wh.table('fact_claim_service')}"),
            "surveys": wh.read_sql(conn, f"SELECT response_id AS key, claim_id FROM {wh.table('fact_survey_response')}"),
            "complaints": wh.read_sql(conn, f"SELECT complaint_id AS key, claim_id FROM {wh.table('fact_complaint')}"),
        }


@flow(name="claimpulse-nightly", flow_run_name=lambda: today_name("nightly"),
      persist_result=False, validate_parameters=True)
def nightly(source_url: str | None = None, warehouse_url: str | None = None,
            config_path: str | None = None, as_of: dt.date | None = None,
            reconcile: bool = False, workers: int = 1, dask_address: str | None = None) -> dict:
    """Incremental run: changed rows since the watermarks → restated dates, in one transaction.

    `as_of`: the local date running service clocks are judged on (default: the business
    timezone's date at the run's start). `reconcile`: also find rows deleted from the source
    (a scan of every source id; the weekly reconcile deployment). `workers`: claim chunks
    validated and computed in parallel processes (a run bigger than one chunk); `dask_address`:
    on that Dask cluster instead (tasks/chunks.py). One process writes, whatever the workers."""
    logger = get_run_logger()
    flow_name = "reconcile" if reconcile else "nightly"
    run = {"run_id": new_run_id(), "flow": flow_name, "started_at": pd.Timestamp.now(tz="UTC")}
    ready = preflight(flow_name, source_url, warehouse_url, config_path, run["run_id"], run["started_at"])
    settings, key, wh = ready.settings, ready.key, ready.wh
    run["as_of"] = as_of or run["started_at"].tz_convert(settings.tz).date()
    source = open_source(ready.source_url, settings.source_encodings())
    warnings: set[str] = set()
    logger.info("source %s → warehouse %s", source.describe(), wh.describe())
    with locked_run(wh, run, f"{flow_name} run {run['run_id']}", key) as work:  # write ...
        watermarks = work.watermarks()
        plan = plan_changes(source, settings, watermarks,
                            warehouse_keys(work) if watermarks and reconcile else None)
        logger.info("%s run: %s claim(s) to rebuild; changed rows %s", plan.mode,
                    "all" if plan.touched is None else len(plan.touched), plan.reasons())
        # workers (if any) start while the flow spills the source
        with chunk_workers(pipeline.chunk_count(plan, workers), workers, dask_address) as runner:
            chunks = prepare_chunks(source, settings, plan, workers)
            try:
                with work.transaction() as conn:
                    state = begin_load(work, conn, plan, run)
                    done = chunk_results(chunks, settings=settings, key=key, run_time=run["started_at"],
                                         partition=plan.mode, run_name=str(run["run_id"]),
                                         workers=workers, process=process_chunk, runner=runner)
                    workers_seen: set[str] = set()
                    for i, chunk in enumerate(done):
                        workers_seen.add(chunk.worker)
                        write_chunk(work, conn, state, chunk)
                        warnings.update(f"{t}: extra source column(s) ignored: {', '.join(cols)}"
                                        for t, cols in chunk.extra_columns.items())
                        if chunks.n > 1:
                            logger.info("chunk %d/%d written (by %s: %s)", i + 1, chunks.n, chunk.worker,
                                        ", ".join(f"{k} {v:.1f} s" for k, v in chunk.seconds.items()))
                            del chunk
                            pipeline.release_memory()
                    result = finish_load(work, conn, settings, plan, state, run)
            finally:
                chunks.cleanup()
    # ... audit, publish (leaving locked_run). Reads go to the published warehouse, read-only.
    reader = wh.reader()
    links = run_links(reader, settings, logger)
    headline = headline_of(reader, result.dates)
    worse = worse_counts(reader, result.alerts)
    counts = pipeline.combine_counts(state.counts)
    quarantine = pd.concat(state.quarantine, ignore_index=True)
    warnings.update(run.get("warnings", []))
    md = run_markdown(run, counts, quarantine, result.dates, plan.reasons(),
                      headline, plan.mode, sorted(warnings), links=links, worse=worse)
    publish(md, run["flow"])
    logger.info("restated %d date(s); wrote %s", len(result.dates), result.written)
    return {"run_id": run["run_id"], "mode": plan.mode, "dates": [d.isoformat() for d in result.dates],
            "as_of": run["as_of"].isoformat(), "written": result.written,
            "counts": counts.to_dict("records"), "quarantined": quarantined_total(counts),
            "links": links, "warnings": sorted(warnings), "summary": md,
            "chunks": chunks.n, "chunk_workers": sorted(workers_seen), **worse}
