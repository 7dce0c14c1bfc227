"""The nightly flow: what `claimpulse run` calls and the `claimpulse-nightly` deployment runs.

Incremental by design: on an empty warehouse it processes everything; afterwards it reads
what changed since the watermarks and restates exactly the dates those changes touch.
"""
from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from claimpulse import pipeline, quality
from claimpulse.config import load_config, resolve_source, resolve_warehouse
from claimpulse.datadocs import run_links
from claimpulse.extract import open_source
from claimpulse.pseudonym import pseudonym_key
from claimpulse.summary import run_markdown
from claimpulse.warehouse import Warehouse
from tasks.compute import compute
from tasks.extract import plan_changes, prepare_chunks, read_chunk
from tasks.load import begin_load, finish_load, write_chunk
from tasks.publish import publish
from tasks.validate import validate


def _today_name(prefix: str) -> str:
    return f"{prefix}-{dt.datetime.now(dt.UTC).astimezone().date().isoformat()}"


def _run_id() -> str:
    return str(flow_run.id) if flow_run.id else uuid.uuid4().hex


def lock_timeout() -> float:
    """Seconds a run waits for another run on the same warehouse ($CLAIMPULSE_LOCK_TIMEOUT, 0)."""
    return float(os.environ.get("CLAIMPULSE_LOCK_TIMEOUT", "0") or 0)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
def locked_run(wh: Warehouse, run: dict, label: str) -> Iterator[None]:
    """The warehouse lock for one run. A failure inside is recorded in pipeline_runs before the
    lock is let go, so a run waiting for the lock never finds the warehouse still in use. A run
    that cannot get the lock (WarehouseLocked) records nothing: the holder's run is fine."""
    with wh.run_lock(label, lock_timeout()):
        try:
            yield
        except Exception as exc:
            pipeline.record_failure(wh, run, one_line(exc))
            raise


def warehouse_keys(wh: Warehouse) -> dict[str, pd.DataFrame]:
    """Ids the warehouse holds, to notice rows deleted from the source."""
    with wh.transaction() as conn:
        return {
            "claims": wh.read_sql(conn, f"SELECT claim_id AS key, claim_id FROM {wh.table('fact_claim_service')}"),
            "surveys": wh.read_sql(conn, f"SELECT response_id AS key, claim_id FROM {wh.table('fact_survey_response')}"),
            "complaints": wh.read_sql(conn, f"SELECT complaint_id AS key, claim_id FROM {wh.table('fact_complaint')}"),
        }


@flow(name="claimpulse-nightly", flow_run_name=lambda: _today_name("nightly"),
      persist_result=False, validate_parameters=True)
def nightly(source_url: str | None = None, warehouse_url: str | None = None,
            config_path: str | None = None, as_of: dt.date | None = None) -> dict:
    """Incremental run: changed rows since the watermarks → restated dates, in one transaction.

    `as_of`: the local date service clocks are judged on (default: the business-timezone
    date of the run's start)."""
    logger = get_run_logger()
    settings = load_config(config_path)
    source_url, is_demo = resolve_source(source_url)
    key = pseudonym_key(allow_demo=is_demo)
    wh = Warehouse(resolve_warehouse(warehouse_url), settings.schema)
    run = {"run_id": _run_id(), "flow": "nightly", "started_at": pd.Timestamp.now(tz="UTC")}
    run["as_of"] = as_of or run["started_at"].tz_convert(settings.timezone).date()
    source = open_source(source_url, settings.source_encoding)
    warnings: set[str] = set()
    gx_parts: list[dict] = []  # the GX validation results of each chunk, for the Data Docs
    logger.info("source %s → warehouse %s", source.describe(), wh.describe())
    with locked_run(wh, run, f"nightly run {run['run_id']}"):
        wh.ensure_schema()
        watermarks = wh.watermarks()
        plan = plan_changes(source, settings, watermarks, warehouse_keys(wh) if watermarks else None)
        logger.info("%s run: %s claim(s) to rebuild; changed rows %s", plan.mode,
                    "all" if plan.touched is None else len(plan.touched), plan.reasons())
        chunks = prepare_chunks(source, settings, plan)
        try:
            with wh.transaction() as conn:
                state = begin_load(wh, conn, plan, run)
                for i in range(chunks.n):
                    reads = read_chunk(chunks, i)
                    outcome = validate(reads, settings, run["started_at"], plan.mode,
                                       run_name=str(run["run_id"]))
                    gx_parts.append(outcome.gx_results)
                    outputs = compute(outcome.accepted, settings, key)
                    write_chunk(wh, conn, state, outputs, outcome, reads)
                    warnings.update(f"{t}: extra source column(s) ignored: {', '.join(r.extra_columns)}"
                                    for t, r in reads.items() if r.extra_columns)
                    if chunks.n > 1:
                        logger.info("chunk %d/%d written", i + 1, chunks.n)
                        del reads, outcome, outputs
                        pipeline.release_memory()
                result = finish_load(wh, conn, settings, plan, state, run)
        finally:
            chunks.cleanup()
        # Read the warehouse back while still holding the lock: a run waiting for it must
        # not find the DuckDB file still open here ("Could not set lock on file").
        links = run_links(wh, settings, str(run["run_id"]), gx_parts, logger)
        headline = headline_of(wh, result.dates)
        worse = worse_counts(wh, result.alerts)
    counts = pipeline._combine_counts(state.counts)
    quarantine = pd.concat(state.quarantine, ignore_index=True)
    md = run_markdown(run, counts, quarantine, result.dates, plan.reasons(),
                      headline, plan.mode, sorted(warnings), links=links, worse=worse)
    publish(md, "nightly")
    logger.info("restated %d date(s); wrote %s", len(result.dates), result.written)
    return {"run_id": run["run_id"], "mode": plan.mode, "dates": [d.isoformat() for d in result.dates],
            "written": result.written, "counts": counts.to_dict("records"), "summary": md,
            **worse}
