"""The nightly flow under Prefect's test harness: state, artifact, warehouse contents."""
from __future__ import annotations

import duckdb
import pytest

from ..conftest import GOLDEN

pytestmark = pytest.mark.slow


def test_nightly_flow_on_golden_source(harness, tmp_path, pseudonym_env):
    from prefect.client.orchestration import get_client

    from flows.nightly import nightly

    wh = tmp_path / "w.duckdb"
    state = nightly(source_url=str(GOLDEN), warehouse_url=f"duckdb:///{wh}", return_state=True)
    assert state.is_completed()
    result = state.result()
    assert result["mode"] == "full"
    assert result["dates"] == ["2026-03-04", "2026-03-05", "2026-03-06"]
    assert result["written"]["fact_claim_service"] == 5
    assert "| claims | 5 | 5 | 0 |" in result["summary"]

    con = duckdb.connect(str(wh), read_only=True)
    n = con.execute("SELECT count(*) FROM claimpulse.daily_service_metrics").fetchone()[0]
    run = con.execute("SELECT run_id, status FROM claimpulse.pipeline_runs").fetchall()
    con.close()
    assert n == 29  # every row of the golden expected_daily_service_metrics.csv
    assert run[0][1] == "succeeded"

    import asyncio

    async def artifacts():   # this run's: the session's harness holds other tests' runs too
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))

    arts = asyncio.run(artifacts())
    md = [a for a in arts if a.key == "claimpulse-nightly"]
    assert md and "Rows per source table" in md[0].data
    assert str(run[0][0]) == str(state.state_details.flow_run_id)


def test_failed_flow_records_the_reason_and_keeps_the_warehouse(harness, tmp_path, pseudonym_env):
    from flows.nightly import nightly

    wh = tmp_path / "w.duckdb"
    assert nightly(source_url=str(GOLDEN), warehouse_url=f"duckdb:///{wh}", return_state=True).is_completed()
    broken = tmp_path / "src"
    broken.mkdir()
    for f in GOLDEN.glob("*.csv"):
        (broken / f.name).write_text(f.read_text())
    text = (broken / "claims.csv").read_text().replace("reported_at", "reported_when")
    (broken / "claims.csv").write_text(text)
    state = nightly(source_url=str(broken), warehouse_url=f"duckdb:///{wh}", return_state=True)
    assert state.is_failed()
    con = duckdb.connect(str(wh), read_only=True)
    runs = con.execute("SELECT status, error FROM claimpulse.pipeline_runs ORDER BY started_at").fetchall()
    n = con.execute("SELECT count(*) FROM claimpulse.fact_claim_service").fetchone()[0]
    con.close()
    assert runs[-1][0] == "failed" and "claims: missing required column 'reported_at'" in runs[-1][1]
    assert n == 5
