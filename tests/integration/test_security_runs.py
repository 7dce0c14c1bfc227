"""Security through real runs: data values never become SQL, secrets in URLs never reach
logs, errors, artifacts or Prefect's records, and personal fields are masked in the quarantine.
Identifiers and URL masking on their own: tests/unit/test_security.py.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json

import pandas as pd
import pytest

from ..conftest import GOLDEN
from ..helpers.runs import copy_folder, finish, nightly_state, one_line_error, snapshot, start_cli

SECRET = "s3cretpw"


# ----------------------------------------------------------------------------- data as data

INJECT = {
    "A": "A'); DROP TABLE claims; --",
    "B": '"; DELETE FROM claimpulse.fact_claim_service; --',
    "C": "C\\'; SELECT 1; /*",
}


def injected_golden(dst):
    """The golden source with SQL-looking ids, texts and a quarantined survey."""
    copy_folder(GOLDEN, dst)
    for t in ("claims", "claim_events", "surveys", "complaints", "customer_costs"):
        df = pd.read_csv(dst / f"{t}.csv", dtype=str, keep_default_na=False)
        df["claim_id"] = df["claim_id"].replace(INJECT)
        key = df.columns[0]
        if t != "claims":
            df[key] = df[key] + "'); DROP TABLE " + t + "; --"
        if t == "claims":
            df["team"] = df["team"].where(df["claim_id"] != INJECT["A"], "T'; TRUNCATE pipeline_state; --")
        if t == "complaints":
            df["category"] = "'); DROP TABLE fact_complaint; --"
        if t == "surveys":
            bad = df.iloc[[0]].assign(response_id="S9\"); DELETE FROM claimpulse.dq_quarantine; --",
                                      csat="9")
            df = pd.concat([df, bad], ignore_index=True)
        df.to_csv(dst / f"{t}.csv", index=False)
    return dst


def metrics_of(snap):
    df = snap["daily_service_metrics"].drop(columns=["loaded_at", "run_id"])
    return df.sort_values(["metric_date", "product_line", "channel", "region"]).reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.usefixtures("password_runs")   # (started now, so that their retry waits overlap this)
def test_sql_looking_values_flow_through_runs_as_data(harness, tmp_path, pseudonym_env):
    plain_wh, wh = tmp_path / "plain.duckdb", tmp_path / "inj.duckdb"
    assert nightly_state(GOLDEN, plain_wh).is_completed()
    src = injected_golden(tmp_path / "src")
    state = nightly_state(src, wh)
    assert state.is_completed(), state
    snap = snapshot(wh)
    assert set(snap) == set(snapshot(plain_wh))                  # every table still there
    fact = snap["fact_claim_service"]
    assert set(INJECT.values()) <= set(fact["claim_id"])
    assert "T'; TRUNCATE pipeline_state; --" in set(fact["team"])
    assert len(snap["pipeline_state"]) == 5
    assert set(snap["fact_complaint"]["category"]) == {"'); DROP TABLE fact_complaint; --"}
    pd.testing.assert_frame_equal(metrics_of(snap).drop(columns=[]), metrics_of(snapshot(plain_wh)),
                                  check_dtype=False)
    q = snap["dq_quarantine"]
    assert q["source_key"].tolist() == ["S9\"); DELETE FROM claimpulse.dq_quarantine; --"]

    # An incremental run touching those claims (staged keys, deletes by claim, the quarantine
    # release): the ids stay data there too.
    surveys = pd.read_csv(src / "surveys.csv", dtype=str, keep_default_na=False)
    surveys.loc[surveys["csat"] == "9", ["csat", "updated_at"]] = ["4", "2026-03-20T10:00:00+08:00"]
    new = surveys.iloc[[1]].assign(response_id="S10'; --", updated_at="2026-03-20T11:00:00+08:00")
    pd.concat([surveys, new]).to_csv(src / "surveys.csv", index=False)
    state = nightly_state(src, wh)
    assert state.is_completed(), state
    assert state.result()["mode"] == "incremental"
    snap2 = snapshot(wh)
    q2 = snap2["dq_quarantine"]
    assert len(q2) == 1 and q2["released_at"].notna().all()
    responses = set(snap2["fact_survey_response"]["response_id"])
    assert {"S9\"); DELETE FROM claimpulse.dq_quarantine; --", "S10'; --"} <= responses
    assert len(responses) == 5
    assert sorted(snap2["fact_claim_service"]["claim_id"]) == sorted(fact["claim_id"])
    runs = snap2["pipeline_runs"]
    assert runs["status"].tolist() == ["succeeded", "succeeded"]


# ----------------------------------------------------------------------------- secrets


@pytest.fixture(scope="module")
def since(harness) -> dt.datetime:
    """When this module began to run flows on the session's Prefect harness, which also holds
    the runs of the modules before it: this module's runs are the ones created after this."""
    return dt.datetime.now(dt.timezone.utc)


def _prefect_records(since: dt.datetime) -> str:
    """Flow-run parameters, logs and artifacts the harness's Prefect server holds for the flow
    runs of this module (created after `since`), as text."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterFlowRunId,
                                                FlowRunFilter, FlowRunFilterExpectedStartTime,
                                                LogFilter, LogFilterFlowRunId)

    async def every(read, **filters) -> list:   # page by page: the server returns 200 at most
        out = []
        while batch := await read(**filters, limit=200, offset=len(out)):
            out += batch
            if len(batch) < 200:
                break
        return out

    async def read():
        async with get_client() as client:
            runs = await every(client.read_flow_runs, flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(after_=since)))
            ids = [r.id for r in runs]
            logs = await every(client.read_logs,
                               log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)))
            arts = await every(client.read_artifacts, artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=ids)))
            return runs, logs, arts

    runs, logs, arts = asyncio.run(read())
    assert runs, "the CLI runs reported to the harness server"
    parts = [json.dumps(r.parameters, default=str) for r in runs]
    parts += [f"{r.name} {r.state.message if r.state else ''}" for r in runs]
    parts += [log.message for log in logs]
    parts += [str(a.data) for a in arts]
    return "\n".join(parts)


@pytest.fixture(scope="module")
def password_runs(since, api_env, tmp_path_factory):
    """Three failing CLI runs with a password in a URL, started early: the unreachable source
    spends ~14 s in Prefect's retry backoff, which overlaps the tests that follow."""
    d = tmp_path_factory.mktemp("pw")
    procs = {name: start_cli(*args, env=api_env, out_dir=d, name=name) for name, args in {
        "source": ["run", "--source", f"postgresql://u:{SECRET}@127.0.0.1:1/x",
                   "--warehouse", f"duckdb:///{d}/w.duckdb"],
        "warehouse": ["run", "--source", GOLDEN, "--warehouse",
                      f"postgresql://u:{SECRET}@127.0.0.1:1/wh?sslmode=disable"],
        "query": ["run", "--source", f"postgresql://u@127.0.0.1:1/x?password={SECRET}",
                  "--warehouse", f"duckdb:///{d}/w2.duckdb"],
    }.items()}
    cache: dict = {}

    def results():
        if not cache:
            cache.update({name: finish(p) for name, p in procs.items()})
        return cache, d

    yield results
    results()   # never leave them running


@pytest.mark.slow
def test_passwords_never_reach_output_errors_or_prefect(password_runs, since):
    procs, d = password_runs()
    for name, p in procs.items():
        err = one_line_error(p)
        assert SECRET not in p.stdout and SECRET not in p.stderr, name
        assert "***" in err, (name, err)
    # an unreachable source: retried by Prefect, then one clear line
    assert "source postgresql://u:***@127.0.0.1:1/x cannot be reached" in procs["source"].stderr
    assert "Retry 3/3" in procs["source"].stdout
    assert "warehouse postgresql+psycopg://u:***@127.0.0.1:1/wh" in procs["warehouse"].stderr
    # the failure row in the warehouse, and everything Prefect recorded (parameters, logs, states)
    snap = snapshot(d / "w.duckdb")
    runs = snap["pipeline_runs"]
    assert runs["status"].tolist() == ["failed"] and SECRET not in runs["error"].iloc[0]
    assert "u:***@127.0.0.1" in runs["error"].iloc[0]
    for t in ("fact_claim_service", "daily_service_metrics", "dq_quarantine", "pipeline_state"):
        assert len(snap[t]) == 0, t                                               # nothing else
    records = _prefect_records(since)
    assert str(GOLDEN) in records            # the flow parameters are among the records read
    assert SECRET not in records


# ----------------------------------------------------------------------------- personal data


@pytest.mark.slow
def test_personal_fields_are_masked_in_the_quarantine(harness, tmp_path, pseudonym_env):
    src = copy_folder(GOLDEN, tmp_path / "src")
    claims = pd.read_csv(src / "claims.csv", dtype=str, keep_default_na=False)
    claims.loc[claims["claim_id"] == "A", "product_line"] = "marine"        # quarantines A
    claims.to_csv(src / "claims.csv", index=False)
    surveys = pd.read_csv(src / "surveys.csv", dtype=str, keep_default_na=False)
    surveys.loc[surveys["response_id"] == "S2", "csat"] = "9"              # quarantines S2
    surveys.to_csv(src / "surveys.csv", index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("personal_columns: [policy_id, team]\n", encoding="utf-8")
    wh = tmp_path / "w.duckdb"
    assert nightly_state(src, wh, config=cfg).is_completed()

    snap = snapshot(wh)
    q = snap["dq_quarantine"].set_index("source_key")
    a = json.loads(q.loc["A", "row_data"])
    assert a["customer_id"] == "***" and a["policy_id"] == "***" and a["team"] == "***"
    assert a["product_line"] == "marine" and a["region"] == "BJ"      # the rest as it was
    s1 = json.loads(q.loc["S1", "row_data"])                          # held with its claim
    s2 = json.loads(q.loc["S2", "row_data"])
    assert s1["comment"] == "***" and s2["comment"] == "***" and s2["csat"] == "9"

    # nothing personal anywhere in the warehouse, in clear
    text = "\n".join(df.astype(str).to_csv() for df in snap.values())
    for value in claims["customer_id"].tolist() + ["很满意", "太慢了"]:
        assert value not in text, value
    assert '"policy_id":"P1"' not in text
