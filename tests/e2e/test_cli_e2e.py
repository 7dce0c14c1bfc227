"""The installed command line end to end: demo-data, then run, into DuckDB files under tmp_path."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from claimpulse.dictionary import TABLES

from ..conftest import GOLDEN, REPO

CLI = str(Path(sys.executable).with_name("claimpulse"))
pytestmark = pytest.mark.slow


def cli(*args, env=None, cwd=None, check=True):
    full_env = {**os.environ, "CLAIMPULSE_PSEUDONYM_KEY": "e2e-key", **(env or {})}
    full_env.pop("CLAIMPULSE_SOURCE_URL", None)
    full_env.pop("CLAIMPULSE_WAREHOUSE_URL", None)
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=full_env, cwd=cwd or REPO,
                       timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"claimpulse {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("e2e")
    src = f"sqlite:///{d}/claims.sqlite"
    wh = d / "warehouse.duckdb"
    out = cli("demo-data", "--source", src, "--claims", "3000", "--days", "60", "--seed", "11")
    assert "claims 3,000" in out.stdout
    # (module scope: the autouse fixture that keeps outputs out of data/ has not run yet)
    run = cli("run", "--source", src, "--warehouse", f"duckdb:///{wh}",
              env={"CLAIMPULSE_DOCS_DIR": str(d / "docs"), "CLAIMPULSE_REPORT_PATH": str(d / "report.html")})
    return d, src, wh, run


def q(wh, sql):
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_every_warehouse_table_exists_and_is_filled(demo_run):
    _, _, wh, run = demo_run
    assert "restated" in run.stdout and run.stderr.strip() == ""
    for table in TABLES:
        n = q(wh, f"SELECT count(*) AS n FROM claimpulse.{table}")["n"][0]
        # backfill_partitions is empty unless a backfill is cut short; speed_quality_alerts needs
        # 30 closed claims per team in each of two 28-day windows, more than 3,000 claims over
        # 60 days give (test_quality_runs shows an alert on a larger demo)
        if table not in ("pipeline_state", "backfill_partitions", "speed_quality_alerts"):
            assert n > 0, table
    assert q(wh, "SELECT count(*) AS n FROM claimpulse.pipeline_state")["n"][0] == 5


def test_rows_reconcile_per_table(demo_run):
    _, src, wh, _ = demo_run
    runs = q(wh, "SELECT * FROM claimpulse.pipeline_runs")
    assert len(runs) == 1 and runs["status"][0] == "succeeded"
    import sqlalchemy as sa
    eng = sa.create_engine(src)
    for t in ("claims", "claim_events", "surveys", "complaints", "customer_costs"):
        with eng.connect() as c:
            n_source = c.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
        r = runs.iloc[0]
        assert r[f"{t}_read"] == n_source, t
        assert r[f"{t}_read"] == r[f"{t}_accepted"] + r[f"{t}_quarantined"], t
        nq = q(wh, f"SELECT count(*) AS n FROM claimpulse.dq_quarantine WHERE source_table = '{t}'")["n"][0]
        assert nq == r[f"{t}_quarantined"], t
    fact = q(wh, "SELECT count(*) AS n FROM claimpulse.fact_claim_service")["n"][0]
    assert fact == runs["claims_accepted"][0] == runs["claims_written"][0]
    # the demo injects bad rows, and they are quarantined, not lost
    assert runs["claims_quarantined"][0] > 0


def test_metrics_agree_with_the_fact_table(demo_run):
    _, _, wh, _ = demo_run
    check = q(wh, """
        SELECT m.metric_date, m.closed_claims, f.n, m.paid_amount_total, f.paid
        FROM claimpulse.daily_service_metrics m
        JOIN (SELECT closed_date, count(*) n, coalesce(sum(paid_amount), 0) paid
              FROM claimpulse.fact_claim_service WHERE closed_date IS NOT NULL GROUP BY 1) f
          ON f.closed_date = m.metric_date
        WHERE m.product_line = 'ALL' AND m.channel = 'ALL' AND m.region = 'ALL'""")
    assert len(check) > 30
    assert (check["closed_claims"] == check["n"]).all()
    assert ((check["paid_amount_total"].astype(float) - check["paid"].astype(float)).abs() < 1e-6).all()
    att = q(wh, "SELECT DISTINCT standard_id FROM claimpulse.daily_standard_attainment")
    assert set(att["standard_id"]) == {"internal_decision_30d", "internal_payment_10d"}


def test_no_personal_data_reaches_the_warehouse(demo_run):
    _, src, wh, _ = demo_run
    import sqlalchemy as sa
    with sa.create_engine(src).connect() as c:
        ids = set(c.exec_driver_sql("SELECT customer_id FROM claims").scalars())
        comments = {x for x in c.exec_driver_sql("SELECT comment FROM surveys").scalars() if x}
    con = duckdb.connect(str(wh), read_only=True)
    try:
        cols = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                           "WHERE table_schema = 'claimpulse'").fetchall()
        assert not [c for c in cols if c[1] in ("customer_id", "comment")]
        blob = []
        for table in {t for t, _ in cols}:
            blob.append(con.execute(f"SELECT * FROM claimpulse.{table}").df().astype(str).to_csv())
        text = "\n".join(blob)
    finally:
        con.close()
    leaked_ids = [i for i in ids if i in text]
    leaked_comments = [c for c in comments if len(c) > 3 and c in text]
    assert not leaked_ids and not leaked_comments


def test_rerun_changes_nothing_but_pipeline_runs(demo_run):
    _, src, wh, _ = demo_run
    before = q(wh, "SELECT * EXCLUDE (loaded_at, run_id) FROM claimpulse.daily_service_metrics ORDER BY ALL")
    p = cli("run", "--source", src, "--warehouse", f"duckdb:///{wh}")
    assert "restated 0 date(s)" in p.stdout
    after = q(wh, "SELECT * EXCLUDE (loaded_at, run_id) FROM claimpulse.daily_service_metrics ORDER BY ALL")
    pd.testing.assert_frame_equal(before, after)
    assert len(q(wh, "SELECT * FROM claimpulse.pipeline_runs")) == 2


def test_golden_folder_through_the_cli(tmp_path):
    wh = tmp_path / "g.duckdb"
    cli("run", "--source", str(GOLDEN), "--warehouse", f"duckdb:///{wh}")
    got = q(wh, "SELECT * FROM claimpulse.daily_service_metrics WHERE product_line='ALL' AND "
                "channel='ALL' AND region='ALL' ORDER BY metric_date")
    assert got["metric_date"].astype(str).tolist() == ["2026-03-04", "2026-03-05", "2026-03-06"]
    assert got["closed_claims"].tolist() == [3, 1, 0]
    assert abs(float(got["customer_cost_per_claim_mean"][0]) - 168.5) < 1e-9
    assert got["nps"][2] == 0


def test_missing_pseudonym_key_is_a_one_line_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CLAIMPULSE_PSEUDONYM_KEY"}
    p = subprocess.run([CLI, "run", "--source", str(GOLDEN), "--warehouse", f"duckdb:///{tmp_path}/w.duckdb"],
                       capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert p.returncode != 0
    assert p.stderr.strip().count("\n") == 0
    assert "CLAIMPULSE_PSEUDONYM_KEY" in p.stderr


def test_bad_config_is_a_one_line_error_naming_the_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("timezon: Asia/Shanghai\n")
    p = cli("run", "--source", str(GOLDEN), "--warehouse", f"duckdb:///{tmp_path}/w.duckdb",
            "--config", str(cfg), check=False)
    assert p.returncode != 0 and "timezon" in p.stderr and p.stderr.strip().count("\n") == 0


def test_closing_line_gives_quarantined_rows_and_the_report_and_docs_paths(demo_run):
    import re

    _, _, wh, run = demo_run
    runs = q(wh, "SELECT * FROM claimpulse.pipeline_runs ORDER BY started_at LIMIT 1")
    quarantined = sum(int(runs[f"{t}_quarantined"][0]) for t in
                      ("claims", "claim_events", "surveys", "complaints", "customer_costs"))
    last = [line for line in run.stdout.splitlines() if line.startswith("run ")][-1]
    assert f"; quarantined {quarantined:,} row(s)" in last
    d = demo_run[0]
    report = re.search(r"; Report ([^;\s]+)", last).group(1)
    docs = re.search(r"; Data Docs ([^;\s]+)", last).group(1)
    assert report == str(d / "report.html") and Path(report).is_file()
    assert docs.startswith(str(d / "docs")) and docs.endswith("index.html") and Path(docs).is_file()


def test_finished_at_is_when_the_load_ended(demo_run):
    _, _, wh, _ = demo_run
    r = q(wh, "SELECT r.started_at, r.finished_at, (SELECT max(loaded_at) FROM claimpulse.fact_claim_service) "
              "AS loaded_at FROM claimpulse.pipeline_runs r ORDER BY r.started_at LIMIT 1").iloc[0]
    # rows are stamped when the load begins; the run finishes after metrics, quarantine, etc.
    assert r["started_at"] < r["loaded_at"] < r["finished_at"]


def test_status_and_quarantine_commands(demo_run, tmp_path):
    import json

    _, _, wh, _ = demo_run
    # other tests of this module may run again on the same warehouse: the first run is the full one
    p = cli("status", "--warehouse", f"duckdb:///{wh}", "--limit", "10")
    lines = p.stdout.splitlines()
    assert "  nightly  full  succeeded  " in [x for x in lines if "  nightly  " in x][-1]
    assert "dates restated: " in p.stdout
    assert "rows read/accepted/quarantined/written: claims 3,000/" in p.stdout
    held = q(wh, "SELECT count(*) AS n FROM claimpulse.dq_quarantine WHERE released_at IS NULL")["n"][0]
    out = tmp_path / "held.csv"
    p = cli("quarantine", "--warehouse", f"duckdb:///{wh}", "--out", str(out))
    assert p.stdout.strip() == f"wrote {held:,} held row(s) to {out}"
    rows = pd.read_csv(out)
    assert len(rows) == held > 0
    keys = set().union(*(json.loads(r).keys() for r in rows["row_data"].dropna()))
    assert "customer_id" not in keys and "comment" not in keys and "claimed_amount" in keys
    codes = q(wh, "SELECT reasons FROM claimpulse.dq_quarantine WHERE released_at IS NULL "
                  "AND source_table = 'claims'")["reasons"].str.split(";").explode()
    code = codes.value_counts().index[0]
    p = cli("quarantine", "--warehouse", f"duckdb:///{wh}", "--table", "claims", "--reason", code,
            "--limit", "1000")
    lines = p.stdout.splitlines()
    assert lines[0] == f"{int((codes == code).sum()):,} held row(s)"
    assert all(x.startswith("claims  ") and code in x.split("  ")[3].split(";") for x in lines[1:])


def test_make_clean_removes_everything_make_run_made(tmp_path):
    """`make run` in a copy of the Makefile (the project's .venv), then `make clean`: the
    folder is as it was before."""
    import shutil

    work = tmp_path / "repo"
    work.mkdir()
    shutil.copy2(REPO / "Makefile", work / "Makefile")
    shutil.copy2(REPO / "pyproject.toml", work / "pyproject.toml")  # older than the venv's stamp
    (work / "data").mkdir()
    (work / "data" / ".gitkeep").write_text("")
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    venv = Path(sys.executable).parent.parent
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLAIMPULSE_DOCS_DIR", "CLAIMPULSE_REPORT_PATH", "CLAIMPULSE_PSEUDONYM_KEY",
                        "CLAIMPULSE_SOURCE_URL", "CLAIMPULSE_WAREHOUSE_URL")}
    p = subprocess.run(["make", "run", f"VENV={venv}", "DEMO_CLAIMS=300"], cwd=work, env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    made = sorted(p.relative_to(work) for p in work.rglob("*"))
    assert Path("data/warehouse.duckdb") in made and Path("data/report.html") in made
    assert Path("data/docs/index.html") in made and Path("data/claims_demo.sqlite") in made
    subprocess.run(["make", "clean", f"VENV={venv}"], cwd=work, check=True, capture_output=True)
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == before
