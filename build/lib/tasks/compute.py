"""Compute task: the claim-, response- and complaint-grain facts (claimpulse.pipeline.compute)."""
from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from claimpulse import pipeline


@task(name="compute-facts", cache_policy=NO_CACHE, persist_result=False)
def compute(accepted, settings, key):
    return pipeline.compute(accepted, settings, key)
