"""prefect.yaml against a real `prefect server` and a real `process` worker on loopback.

The server is the session fixture `server` of tests/conftest.py (shared with test_quality_runs)."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import duckdb
import pytest

from claimpulse import demo

from ..conftest import REPO

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def prefect(env, *args, timeout=300, check=True):
    p = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=REPO, capture_output=True,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"prefect {' '.join(args)}: {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def api(env, path, body=None):
    req = urllib.request.Request(env["PREFECT_API_URL"] + path, method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_deploy_all_and_a_worker_runs_nightly_and_backfill(server, tmp_path):
    """Registered from the repository root and run by a worker started there, neither with
    CLAIMPULSE_HOME: the deployment remembers its checkout."""
    src = f"sqlite:///{tmp_path}/claims.sqlite"
    demo.write_demo(src, n_claims=500, days=20, seed=2)
    wh = tmp_path / "warehouse.duckdb"
    env = {**server, "CLAIMPULSE_SOURCE_URL": src,
           "CLAIMPULSE_WAREHOUSE_URL": f"duckdb:///{wh}", "CLAIMPULSE_PSEUDONYM_KEY": "deploy-test"}
    env.pop("CLAIMPULSE_HOME", None)

    prefect(env, "work-pool", "create", "claimpulse-process", "--type", "process")
    prefect(env, "--no-prompt", "deploy", "--all")

    deps = {d["name"]: d for d in api(env, "/deployments/filter", {})}
    assert set(deps) >= {"nightly", "backfill"}
    for d in deps.values():  # the pull step holds the folder deploy ran in, not a variable
        assert d["pull_steps"] == [{"claimpulse.deploy.set_home": {"directory": str(REPO)}}], d["pull_steps"]
    sched = deps["nightly"]["schedules"][0]["schedule"]
    assert sched["cron"] == "0 2 * * *" and sched["timezone"] == "Asia/Shanghai"
    assert deps["nightly"]["work_pool_name"] == "claimpulse-process"
    # typed parameters: the UI renders a form from this schema
    props = deps["backfill"]["parameter_openapi_schema"]["properties"]
    assert props["start"]["format"] == "date" and props["end"]["format"] == "date"
    assert "start" in deps["backfill"]["parameter_openapi_schema"]["required"]

    prefect(env, "deployment", "run", "claimpulse-nightly/nightly")
    prefect(env, "worker", "start", "--pool", "claimpulse-process", "--run-once", timeout=600)
    runs = api(env, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deps["nightly"]["id"]]}}})
    done = [r for r in runs if r["state_type"] == "COMPLETED"]
    assert done, [(r["name"], r["state_type"]) for r in runs]
    assert done[0]["name"].startswith("nightly-")

    con = duckdb.connect(str(wh), read_only=True)
    lo, hi, n = con.execute("SELECT min(metric_date), max(metric_date), count(*) "
                            "FROM claimpulse.daily_service_metrics").fetchone()
    con.close()
    assert n > 0

    prefect(env, "deployment", "run", "claimpulse-backfill/backfill",
            "-p", f"start={hi}", "-p", f"end={hi}")
    prefect(env, "worker", "start", "--pool", "claimpulse-process", "--run-once", timeout=600)
    runs = api(env, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deps["backfill"]["id"]]}}})
    assert [r["name"] for r in runs if r["state_type"] == "COMPLETED"] == [f"backfill-{hi}..{hi}"]
    con = duckdb.connect(str(wh), read_only=True)
    flows = [r[0] for r in con.execute("SELECT flow FROM claimpulse.pipeline_runs ORDER BY started_at").fetchall()]
    con.close()
    assert flows == ["nightly", "backfill"]


def test_wrong_claimpulse_home_is_an_error_naming_it(tmp_path, monkeypatch):
    """The pull step: CLAIMPULSE_HOME overrides the recorded folder; a folder without the
    flows is an error naming the folder and the variable (not a FileNotFoundError later)."""
    from claimpulse.deploy import CheckoutNotFound, set_home

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLAIMPULSE_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(CheckoutNotFound) as err:
        set_home(str(REPO))
    msg = str(err.value)
    assert str(tmp_path / "nowhere") in msg and "CLAIMPULSE_HOME" in msg and "\n" not in msg
    monkeypatch.delenv("CLAIMPULSE_HOME")
    with pytest.raises(CheckoutNotFound, match=str(tmp_path / "gone")):
        set_home(str(tmp_path / "gone"))
    assert set_home(str(REPO)) == {"directory": str(REPO)}
    assert Path.cwd() == REPO
    monkeypatch.setenv("CLAIMPULSE_HOME", str(REPO))
    assert set_home(str(tmp_path / "gone")) == {"directory": str(REPO)}
