"""The backfill flow: `claimpulse backfill` and the `claimpulse-backfill` deployment.

Reads the claims that can touch start..end, validates and computes them once (chunk by chunk,
in `workers` processes or on a Dask cluster with dask_address, like the nightly run; see
tasks/chunks.py), then computes the date partitions in parallel (threads, or the Dask
cluster) and writes each in its own transaction from this process: one writer.
"""
from __future__ import annotations

import datetime as dt
import time

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from claimpulse import backfill as bf
from claimpulse.datadocs import run_links
from claimpulse.extract import open_source
from claimpulse.preflight import preflight
from claimpulse.summary import quarantined_total, range_headline, run_markdown
from claimpulse.warehouse import Warehouse
from flows.nightly import locked_run, new_run_id, worse_counts
from claimpulse.pipeline import chunk_count, combine_chunks
from tasks.chunks import chunk_results, chunk_workers, process_chunk
from tasks.extract import prepare_chunks
from tasks.publish import publish


@task(name="plan-backfill", retries=3, retry_delay_seconds=[2, 8, 30], cache_policy=NO_CACHE,
      persist_result=False)
def plan_backfill(source, settings, start, end):
    return bf.plan_backfill(source, settings, start, end)


@task(name="compute-partition", cache_policy=NO_CACHE, persist_result=False,
      task_run_name="compute-{part.date}")
def compute_partition(part):
    return bf.compute_partition(part)


@flow(name="claimpulse-backfill-partitions", persist_result=False, validate_parameters=False,
      flow_run_name="partitions-{key}")
def compute_and_write(parts: list, settings, warehouse_url: str, key: str, run_id: str) -> dict:
    """Slice partitions on this flow's task runner; write each as it completes (its metrics
    run in the warehouse inside its transaction).

    Takes the warehouse URL, not a Warehouse: flow parameters travel with the task context
    to Dask workers, and an engine cannot be pickled.
    """
    logger = get_run_logger()
    wh = Warehouse(warehouse_url, settings.schema)
    futures = [compute_partition.submit(p) for p in parts]
    done, rows, t0 = 0, 0, time.monotonic()
    written = {"fact_claim_service": 0, "fact_survey_response": 0, "fact_complaint": 0,
               "daily_service_metrics": 0, "daily_standard_attainment": 0, "daily_quality_metrics": 0}
    for fut in as_completed(futures):
        res = fut.result()
        for t, n in bf.write_partition(wh, res, key, run_id, settings).items():
            written[t] = written.get(t, 0) + n
        done += 1
        rows += res.rows
        rate = rows / max(time.monotonic() - t0, 1e-9)
        logger.info("partition %s committed: %d/%d partitions, %.0f rows/s", res.date, done, len(parts), rate)
    return written


def _runner(workers: int, dask_address: str | None):
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    return ThreadPoolTaskRunner(max_workers=max(1, workers))


@flow(name="claimpulse-backfill", flow_run_name="backfill-{start}..{end}", persist_result=False,
      validate_parameters=True)
def backfill(start: dt.date, end: dt.date, source_url: str | None = None,
             warehouse_url: str | None = None, config_path: str | None = None,
             workers: int = 1, dask_address: str | None = None, as_of: dt.date | None = None) -> dict:
    """Recompute the local dates start..end (inclusive) from the source, whatever the watermarks.

    `as_of`: the local date service clocks are judged on (default: the run's start date)."""
    logger = get_run_logger()
    dates = bf.date_range(start, end)
    run = {"run_id": new_run_id(), "flow": "backfill", "started_at": pd.Timestamp.now(tz="UTC")}
    ready = preflight("backfill", source_url, warehouse_url, config_path, run["run_id"], run["started_at"])
    settings, key, wh = ready.settings, ready.key, ready.wh
    run["as_of"] = as_of or run["started_at"].tz_convert(settings.timezone).date()
    bkey = bf.backfill_key(start, end)
    source = open_source(ready.source_url, settings.source_encodings())
    warnings: list[str] = []
    # write (a working copy of DuckDB, resumed after a killed backfill of this range) ...
    with locked_run(wh, run, f"backfill {bkey} run {run['run_id']}", key, resume=bkey) as work:
        already = bf.committed_partitions(work, bkey)
        todo = [d for d in dates if d not in already]
        if already:
            logger.info("resuming backfill %s: %d of %d partitions already committed",
                        bkey, len(already & set(dates)), len(dates))
        plan = plan_backfill(source, settings, start, end)
        logger.info("backfill %s: %d claim(s) can touch the range", bkey, len(plan.touched))
        if not len(plan.touched):
            warnings.append(f"no source data in {bkey}: no claim was reported, closed, surveyed "
                            f"or complained about in the range")
            logger.warning(warnings[-1])
        # the expensive stages (read, validate, compute) chunk by chunk on the same workers
        with chunk_workers(chunk_count(plan, workers), workers, dask_address) as runner:
            chunks = prepare_chunks(source, settings, plan, workers)   # workers warm meanwhile
            try:
                outcome = combine_chunks(list(chunk_results(
                    chunks, settings=settings, key=key, run_time=run["started_at"], partition=bkey,
                    run_name=str(run["run_id"]), workers=workers, process=process_chunk,
                    runner=runner)))
            finally:
                chunks.cleanup()
        outputs = outcome.outputs
        parts = bf.slice_partitions(outputs, settings, todo)
        written = compute_and_write.with_options(task_runner=_runner(workers, dask_address))(
            parts, settings, work.url, bkey, run["run_id"])
        alerts = bf.finish_backfill(work, plan, bkey, outcome.quarantine, outcome.results,
                                    outcome.counts, outcome.read_keys, run, dates, written, settings)
    # ... audit, publish (leaving locked_run). Reads go to the published warehouse, read-only.
    reader = wh.reader()
    links = run_links(reader, settings, logger)
    worse = worse_counts(reader, alerts)
    headline = range_headline(outputs.fact, outputs.surveys, outputs.complaints, settings, start, end)
    warnings += run.get("warnings", [])
    why = (f"backfill of {bkey} requested: {len(dates)} partition(s), {len(todo)} computed"
           + (f", {len(dates) - len(todo)} already committed by an earlier attempt" if len(todo) < len(dates) else ""))
    md = run_markdown(run, outcome.counts, outcome.quarantine, dates, {}, headline,
                      f"backfill {bkey}", warnings, links=links, why=why, worse=worse)
    publish(md, "backfill")
    return {"run_id": run["run_id"], "mode": "backfill", "dates": [d.isoformat() for d in dates],
            "computed": [d.isoformat() for d in todo], "written": written,
            "quarantined": quarantined_total(outcome.counts), "links": links,
            "warnings": warnings, "summary": md, "chunks": chunks.n,
            "chunk_workers": outcome.worker.split(","), **worse}
