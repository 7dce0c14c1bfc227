"""Extraction tasks: thin Prefect wrappers with retries (a source that drops the
connection mid-extract is retried with backoff before the run fails)."""
from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from claimpulse import pipeline
from claimpulse.extract import SourceError

# Table-level contract problems (a missing column) will not heal by retrying.
_retry_unless_contract = lambda task, run, state: not isinstance(  # noqa: E731
    state.result(raise_on_failure=False), SourceError)


@task(name="plan-changes", retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=2),
      retry_condition_fn=_retry_unless_contract, cache_policy=NO_CACHE, persist_result=False)
def plan_changes(source, settings, watermarks, warehouse_keys):
    return pipeline.plan_changes(source, settings, watermarks, warehouse_keys)


@task(name="extract", retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=2),
      retry_condition_fn=_retry_unless_contract, cache_policy=NO_CACHE, persist_result=False)
def extract(source, settings, plan):
    return pipeline.extract(source, settings, plan)


@task(name="prepare-chunks", retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=2),
      retry_condition_fn=_retry_unless_contract, cache_policy=NO_CACHE, persist_result=False)
def prepare_chunks(source, settings, plan, workers=1):
    """Large plans are spilled to local disk in claim buckets (bounded memory)."""
    return pipeline.Chunks(source, settings, plan, workers)
