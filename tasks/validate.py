"""Validation task: Great Expectations checkpoints + cross-table rules (claimpulse.validate)."""
from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from claimpulse import validate as v


@task(name="validate", cache_policy=NO_CACHE, persist_result=False)
def validate(reads, settings, run_time, partition, run_name=None):
    """`run_name` (the ClaimPulse run id) names the run in the Data Docs the checkpoints build."""
    return v.validate_sources(
        {t: r.typed for t, r in reads.items()},
        {t: r.raw for t, r in reads.items()},
        {t: r.failures for t, r in reads.items()},
        settings, run_time, partition, run_name=run_name,
    )
