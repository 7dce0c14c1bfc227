"""The quality tables through real runs: the nightly flow's alert count and summary, PostgreSQL
equal to DuckDB, migration 0004 on a warehouse with data, and the alert's Prefect event read
back from a real Prefect server."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command

from claimpulse import demo, migrations
from claimpulse.dictionary import QUALITY_FACT_COLUMNS, columns
from claimpulse.metrics import customer_group

from ..conftest import REPO
from ..helpers.warehouses import assert_same_table, make_target, read

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def alert_source(tmp_path_factory):
    """A demo claims system big enough for the guard: team GD-T1 speeds up while its claims
    come back (claimpulse.demo._speed_quality_shift)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('src')}/claims.sqlite"
    demo.write_demo(url, n_claims=6000, days=120, seed=3)
    return url


def nightly_on(target, source, folder):
    from flows.nightly import nightly

    return nightly(source_url=source, warehouse_url=target.url, config_path=target.config(folder))


def alerts_of(target) -> pd.DataFrame:
    return read(target, "speed_quality_alerts")


def test_nightly_raises_the_demo_alert_once_and_postgres_equals_duckdb(
        harness, alert_source, tmp_path, pseudonym_env):
    with make_target("duckdb", tmp_path) as duck, make_target("postgres", tmp_path) as pg:
        results = {t.backend: nightly_on(t, alert_source, tmp_path) for t in (duck, pg)}
        alerts = alerts_of(duck)
        got = set(zip(alerts["dimension"], alerts["value"], alerts["measure"]))
        assert ("team", "GD-T1", "reopen_rate_30d") in got
        for backend, result in results.items():
            assert result["new_alerts"] == len(alerts) >= 1, backend
            assert f"New speed-quality alerts (speed_quality_alerts): **{len(alerts)}**" in result["summary"]
            # the clock tables exist (issue 10): the run counts the overdue clocks it left
            target = duck if backend == "duckdb" else pg
            overdue = int((read(target, "fact_claim_clock")["status"] == "overdue").sum())
            assert result["overdue_clocks"] == overdue > 0, backend
            assert result["written"]["daily_quality_metrics"] > 0
        for table in ("fact_claim_service", "daily_quality_metrics"):
            assert_same_table(read(duck, table), read(pg, table), table)
        ignore = ["raised_at"]
        assert_same_table(alerts.drop(columns=ignore), alerts_of(pg).drop(columns=ignore),
                          "speed_quality_alerts")
        # a second run with no change raises nothing and rewrites nothing
        again = nightly_on(duck, alert_source, tmp_path)
        assert again["new_alerts"] == 0
        pd.testing.assert_frame_equal(alerts_of(duck), alerts)


# --------------------------------------------------------------------------- migration 0004
@pytest.mark.parametrize("backend", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_warehouse_at_0001_with_data_is_upgraded_and_the_next_run_fills_it(
        harness, backend, tmp_path, pseudonym_env):
    src = f"sqlite:///{tmp_path}/claims.sqlite"
    demo.write_demo(src, n_claims=600, days=40, seed=11)
    with make_target(backend, tmp_path / "old") as old, make_target(backend, tmp_path / "new") as new:
        (tmp_path / "old").mkdir(exist_ok=True)
        (tmp_path / "new").mkdir(exist_ok=True)
        nightly_on(old, src, tmp_path / "old")
        wh = old.warehouse()
        # Back to revision 0001 as an older ClaimPulse left it: no quality columns or tables.
        with wh.transaction() as conn:
            command.downgrade(migrations.config(conn, wh.schema), "0001")
        assert wh.schema_revision() == "0001"
        assert not set(columns("fact_claim_service")[-6:]) & set(_columns(wh, "fact_claim_service"))
        before = {t: _count(wh, t) for t in ("fact_claim_service", "daily_service_metrics",
                                             "pipeline_runs", "dq_validation_results", "pipeline_state")}
        assert before["pipeline_state"] == 5

        assert wh.ensure_schema() == ("0001", migrations.head())
        assert _columns(wh, "fact_claim_service") == columns("fact_claim_service")
        # nothing dropped; watermarks reset so the next run rebuilds every claim
        after = {t: _count(wh, t) for t in before}
        assert after == {**before, "pipeline_state": 0}
        with wh.transaction() as conn:
            fact = wh.read_table(conn, "fact_claim_service")
        assert list(fact["customer_group"]) == list(customer_group(fact["outcome"], fact["denial_reason"]))
        for col in [c.name for c in QUALITY_FACT_COLUMNS if c.name != "customer_group"]:
            assert fact[col].isna().all(), col     # needs the events: filled by the next run

        result = nightly_on(old, src, tmp_path / "old")
        assert result["mode"] == "full"
        nightly_on(new, src, tmp_path / "new")   # a fresh warehouse, for reference
        for table in ("fact_claim_service", "daily_quality_metrics", "daily_service_metrics",
                      "fact_survey_response", "fact_complaint"):
            assert_same_table(read(old, table), read(new, table), table)
        assert _count(wh, "pipeline_runs") == before["pipeline_runs"] + 1
        assert _count(wh, "daily_quality_metrics") > 0


def _columns(wh, table) -> list[str]:
    with wh.transaction() as conn:
        rows = conn.execute(sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s "
            "AND table_name = :t ORDER BY ordinal_position"), {"s": wh.schema, "t": table}).fetchall()
    return [r[0] for r in rows]


def _count(wh, table) -> int:
    with wh.transaction() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {wh.table(table)}").scalar())


# --------------------------------------------------------------------------- Prefect events
EMIT = """
import datetime as dt, pandas as pd
from prefect import flow
from claimpulse.quality import emit_alert_events

alert = pd.DataFrame([{"window_end": dt.date(2026, 5, 31), "dimension": "team", "value": "GD-T1",
    "cycle_p50_before": 6.5, "cycle_p50_after": 3.25, "measure": "reopen_rate_30d",
    "rate_before": 0.035, "rate_after": 0.18, "claims_before": 229, "claims_after": 275,
    "raised_at": pd.Timestamp.now(tz="UTC")}])

@flow
def nightly_like():
    return emit_alert_events(alert)

print("sent", nightly_like())
"""


def test_alert_event_reaches_a_real_prefect_server(server):
    p = subprocess.run([sys.executable, "-c", EMIT], env=server, cwd=REPO, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "sent 1" in p.stdout
    body = {"filter": {"event": {"name": ["claimpulse.speed_quality.alert"]},
                       "resource": {"id": ["claimpulse.team.GD-T1"]}}, "limit": 10}
    deadline = time.monotonic() + 60
    while True:   # the server persists events asynchronously
        req = urllib.request.Request(server["PREFECT_API_URL"] + "/events/filter", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            events = json.loads(r.read())["events"]
        if events or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(events) == 1
    ev = events[0]
    assert ev["event"] == "claimpulse.speed_quality.alert"
    assert ev["resource"]["prefect.resource.id"] == "claimpulse.team.GD-T1"
    assert ev["resource"]["claimpulse.dimension"] == "team"
    assert ev["payload"] == {"window_end": "2026-05-31", "dimension": "team", "value": "GD-T1",
                             "measure": "reopen_rate_30d", "cycle_p50_before": 6.5,
                             "cycle_p50_after": 3.25, "rate_before": 0.035, "rate_after": 0.18,
                             "claims_before": 229, "claims_after": 275}
    # emitted inside a flow run: the event names it as a related resource
    assert any(r.get("prefect.resource.role") == "flow-run" for r in ev.get("related", []))
