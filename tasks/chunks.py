"""Chunk tasks: each claim bucket read, validated and computed (claimpulse.pipeline.process_chunk)
in this process or on a Prefect task runner, and handed back, in order, to the one writer.

    workers=1                 chunk after chunk in the flow's process (no start-up cost)
    workers=N                 Prefect's ProcessPoolTaskRunner: N processes on this machine
    dask_address=ADDR         prefect-dask's DaskTaskRunner on an existing Dask cluster

Validation and the fact computation are CPU-bound pandas and GX work: threads would share one
interpreter lock, so parallel chunks run in processes. Each worker reads its own bucket from
the spill folder and leaves the chunk's facts there as Arrow files (pipeline.park_result):
only their paths and the bookkeeping travel back through the pool. The flow's process reads
them and writes every chunk inside the run's single transaction. On a runner the flow's
process never imports GX: the workers validate, and one last task on a worker prunes and
builds the run's Data Docs.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner
from prefect.tasks import exponential_backoff

from claimpulse import pipeline, validate
from claimpulse.extract import SourceUnreachable


def _retry_if_source_dropped(task, run, state) -> bool:
    """A dropped source connection heals on retry (the chunk is read again from scratch);
    a contract or validation error, or a bug, would only fail three more times."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError, SourceUnreachable,
                            ConnectionError, TimeoutError))


@task(name="process-chunk", retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=2),
      retry_condition_fn=_retry_if_source_dropped, cache_policy=NO_CACHE, persist_result=False,
      task_run_name="process-chunk-{i}")
def process_chunk(chunks, i, settings, key, run_time, partition, run_name=None, prune_docs=True,
                  docs_later=False, park=False):
    res = pipeline.process_chunk(chunks, i, settings, key, run_time, partition, run_name, prune_docs,
                                 docs_later)
    # on a runner: the facts go back as Arrow files in the spill folder, not pickled (see park_result)
    return pipeline.park_result(res, chunks.result_folder(i)) if park else res


@task(name="build-data-docs", cache_policy=NO_CACHE, persist_result=False)
def run_data_docs(run_name: str | None) -> None:
    """After a parallel run's last chunk, on a worker (which has GX open already; the flow's
    process then never imports it): keep the newest runs' results only, then build the run's
    Data Docs pages, its suites' pages and the index, once."""
    validate.prepare_data_docs(run_name)
    validate.build_run_data_docs(run_name)


@task(name="warm-worker", cache_policy=NO_CACHE, persist_result=False)
def warm_worker(freeze: bool = False) -> str:
    """Import the pipeline and open the GX project in a worker while the flow spills the
    source (one core's work): the first chunks then start at once. Never fails: a worker
    that cannot validate says so in its first chunk.

    `freeze`: a pool process of this run only (not a shared Dask worker) sets what it has
    loaded aside from the garbage collector for its lifetime (see pipeline.frozen_heap)."""
    try:
        validate.open_gx_project()
    except Exception as exc:  # noqa: BLE001 - reported by the chunk tasks instead
        return f"not warmed: {exc}"
    if freeze:
        pipeline.freeze_live_objects()
    return pipeline.worker_id()


@contextmanager
def chunk_workers(n_chunks: int, workers: int = 1,
                  dask_address: str | None = None) -> Iterator[TaskRunner | None]:
    """The task runner a run's `n_chunks` chunks go to (None: the flow's own process), entered
    before the spill so its worker processes start and warm up while the flow reads the
    source. Pass it to chunk_results."""
    runner = task_runner(workers, dask_address) if n_chunks > 1 else None
    if runner is None:
        yield None
        return
    with _api_for_workers(), runner:
        for _ in range(workers):
            runner.submit(warm_worker, {"freeze": not dask_address})
        yield runner


def task_runner(workers: int = 1, dask_address: str | None = None) -> TaskRunner | None:
    """The runner parallel chunks go to; None: one by one in this process."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    return ProcessPoolTaskRunner(max_workers=workers) if workers > 1 else None


@contextmanager
def _api_for_workers() -> Iterator[None]:
    """Point worker processes at this flow's Prefect API. Without PREFECT_API_URL the flow
    runs on a temporary server that only this process knows of: each worker would otherwise
    start its own (about 10 s each) and record its task runs there."""
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL, temporary_settings

    ctx = FlowRunContext.get()
    if PREFECT_API_URL.value() or ctx is None or ctx.client is None:
        yield
        return
    with temporary_settings({PREFECT_API_URL: str(ctx.client.api_url).rstrip("/")}):
        yield


def chunk_results(chunks: pipeline.Chunks, *, settings, key: bytes, run_time, partition: str,
                  run_name: str | None = None, workers: int = 1, process: Callable = process_chunk,
                  runner: TaskRunner | None = None) -> Iterator[pipeline.ChunkResult]:
    """Every chunk's ChunkResult, in chunk order (the writer's order does not depend on which
    worker finished first, so a parallel run writes exactly what a serial one does).

    On a runner at most `workers + 1` chunks are in flight: finished results wait in this
    process for the writer, so the bound keeps memory at a few chunks, not the whole run.
    `process`: the task (the flows pass their own name for it, which tests may re-option).
    `runner`: the one chunk_workers started (None: chunk after chunk in this process)."""
    # each chunk stores its GX results; the run's Data Docs are built once, after the last
    params = {"settings": settings, "key": key, "run_time": run_time, "partition": partition,
              "run_name": run_name, "docs_later": True}
    if runner is None:
        if chunks.n > 1:
            validate.open_gx_project()   # before the freeze: GX's objects live as long as we do
        with pipeline.frozen_heap(chunks.n > 1):
            for i in range(chunks.n):
                yield process(chunks=chunks, i=i, **params)
        validate.build_run_data_docs(run_name)
        return
    in_flight = max(workers, 2) + 1
    pending: deque = deque()
    nxt = 0
    with pipeline.frozen_heap():   # the writer's release_memory after each chunk
        while nxt < chunks.n or pending:
            while nxt < chunks.n and len(pending) < in_flight:
                pending.append(runner.submit(process, {"chunks": chunks, "i": nxt, **params,
                                                       "prune_docs": False, "park": True}))
                nxt += 1
            yield pipeline.unpark_result(pending.popleft().result())
    # one task, after every chunk stored its results: one prune (two workers must never prune
    # together) and one build
    runner.submit(run_data_docs, {"run_name": run_name}).result()
