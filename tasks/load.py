"""Load task: one warehouse transaction for the whole run (claimpulse.pipeline.load)."""
from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from claimpulse import pipeline


@task(name="load-warehouse", cache_policy=NO_CACHE, persist_result=False)
def load(wh, settings, plan, outputs, outcome, run, reads):
    return pipeline.load(wh, settings, plan, outputs, outcome.quarantine, outcome.results,
                         outcome.counts, run, reads)
