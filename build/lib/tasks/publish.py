"""Publish the run's markdown summary as a Prefect artifact."""
from __future__ import annotations

import re

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE


@task(name="publish-summary", cache_policy=NO_CACHE, persist_result=False)
def publish(markdown: str, flow: str) -> None:
    key = re.sub(r"[^a-z0-9-]", "-", f"claimpulse-{flow}".lower())
    create_markdown_artifact(markdown=markdown, key=key, description=f"ClaimPulse {flow} run summary")
