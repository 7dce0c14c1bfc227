"""Load tasks: one warehouse transaction for the whole run, written chunk by chunk
(claimpulse.pipeline.begin_load / write_chunk / finish_load)."""
from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from claimpulse import pipeline


@task(name="load-begin", cache_policy=NO_CACHE, persist_result=False)
def begin_load(wh, conn, plan, run):
    return pipeline.begin_load(wh, conn, plan, run)


@task(name="load-chunk", cache_policy=NO_CACHE, persist_result=False)
def write_chunk(wh, conn, state, chunk):
    pipeline.write_chunk_result(wh, conn, state, chunk)


@task(name="load-finish", cache_policy=NO_CACHE, persist_result=False)
def finish_load(wh, conn, settings, plan, state, run):
    return pipeline.finish_load(wh, conn, settings, plan, state, run)
