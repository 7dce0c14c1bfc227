"""Incremental runs, late and corrected rows, restatement, backfills — against full recomputes.

Property-style: from generated data, random batches of corrections are applied to the
source; after each batch an incremental run must leave the warehouse equal to a full
recompute from scratch on the same source, for every output table.
"""
from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from claimpulse import backfill as bf

from ..helpers.sources import Source
from ..helpers.warehouses import query_file

pytestmark = pytest.mark.slow

OUTPUTS = {
    "fact_claim_service": "claim_id",
    "fact_survey_response": "response_id",
    "fact_complaint": "complaint_id",
    "daily_service_metrics": "metric_date, product_line, channel, region",
    "daily_standard_attainment": "metric_date, standard_id, product_line, channel, region",
    "daily_quality_metrics": "metric_date, customer_group, team",
    # service clocks (issue 10): re-evaluated every run, restated by end date
    "fact_claim_event": "event_id",
    "fact_claim_clock": "clock_id, subject_id",
    "daily_clock_attainment": "metric_date, clock_id, product_line, channel, region",
    "clock_watchlist": "clock_id, subject_id",
}


def snapshot(wh_path, table: str, where: str = "") -> pd.DataFrame:
    return query_file(wh_path, f"SELECT * EXCLUDE (loaded_at, run_id) FROM claimpulse.{table} {where} "
                               f"ORDER BY {OUTPUTS[table]}")


def open_quarantine(wh_path) -> pd.DataFrame:
    return query_file(wh_path, "SELECT source_table, source_key, reasons FROM claimpulse.dq_quarantine "
                               "WHERE released_at IS NULL ORDER BY ALL")


def assert_same_warehouse(a, b, tables=OUTPUTS, where=""):
    for t in tables:
        left, right = snapshot(a, t, where), snapshot(b, t, where)
        assert len(left) == len(right), f"{t}: {len(left)} vs {len(right)} rows"
        pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-9, atol=1e-9, obj=t)


def run(source, wh_path, reconcile=False):
    from flows.nightly import nightly
    from flows.reconcile import reconcile as reconcile_flow

    return (reconcile_flow if reconcile else nightly)(source_url=source, warehouse_url=f"duckdb:///{wh_path}")


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_equals_full_recompute_after_random_corrections(harness, tmp_path, pseudonym_env, seed):
    rng = np.random.default_rng(seed)
    src = Source(tmp_path / "source.sqlite", seed=seed)
    wh = tmp_path / "incremental.duckdb"
    first = run(src.url, wh)
    assert first["mode"] == "full"
    pending_fix = None
    kinds = ["move_milestone", "late_survey", "new_claim", "delete_then_correct",
             "cost_after_closure", "change_dimension", "hard_delete_complaint"]
    for batch in range(3):
        batch_kinds = rng.choice(kinds, size=4, replace=True)
        for kind in batch_kinds:
            getattr(src, kind)(rng)
        if pending_fix:
            pending_fix()
            pending_fix = None
        if batch == 0:
            pending_fix = src.break_then_fix(rng)
        src.save()
        result = run(src.url, wh)
        assert result["mode"] == "incremental" and result["dates"], "a correction must restate dates"
        if "hard_delete_complaint" in batch_kinds:
            # a nightly run reads what changed: a hard delete is the reconciliation's to find
            assert run(src.url, wh, reconcile=True)["mode"] == "reconcile"
        fresh = tmp_path / f"full_{batch}.duckdb"
        run(src.url, fresh)
        assert_same_warehouse(wh, fresh)
        pd.testing.assert_frame_equal(open_quarantine(wh), open_quarantine(fresh))
    # the claim broken in batch 0 and fixed in batch 1 was released from the quarantine
    con = duckdb.connect(str(wh), read_only=True)
    released = con.execute("SELECT count(*) FROM claimpulse.dq_quarantine WHERE released_at IS NOT NULL "
                           "AND reasons LIKE '%product_line_not_allowed%'").fetchone()[0]
    con.close()
    assert released >= 1


def test_rerun_without_changes_is_byte_identical(harness, tmp_path, pseudonym_env):
    src = Source(tmp_path / "s.sqlite", n_claims=300, seed=9)
    wh = tmp_path / "w.duckdb"
    run(src.url, wh)
    con = duckdb.connect(str(wh), read_only=True)
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema='claimpulse' AND table_name <> 'pipeline_runs'").fetchall()]

    def dump():
        c = duckdb.connect(str(wh), read_only=True)
        try:
            return {t: c.execute(f"SELECT * FROM claimpulse.{t} ORDER BY ALL").df() for t in tables}
        finally:
            c.close()

    con.close()
    before = dump()
    again = run(src.url, wh)
    assert again["dates"] == [] and again["mode"] == "incremental"
    after = dump()
    for t in tables:  # nothing at all changed: not even loaded_at or run_id
        pd.testing.assert_frame_equal(before[t], after[t], obj=t)


def test_late_survey_restates_exactly_its_date(harness, tmp_path, pseudonym_env):
    rng = np.random.default_rng(3)
    src = Source(tmp_path / "s.sqlite", n_claims=300, seed=4)
    wh = tmp_path / "w.duckdb"
    run(src.url, wh)
    src.late_survey(rng)
    src.save()
    late = src.frames["surveys"].iloc[-1]
    claim = late["claim_id"]
    result = run(src.url, wh)
    expected = {pd.Timestamp(late["responded_at"]).tz_convert("Asia/Shanghai").date().isoformat()}
    # the claim's own dates are recomputed too (its survey_* measures changed)
    fact = snapshot(wh, "fact_claim_service", f"WHERE claim_id = '{claim}'")
    expected.add(str(fact["closed_date"].iloc[0])[:10])
    surveys = snapshot(wh, "fact_survey_response", f"WHERE claim_id = '{claim}'")
    expected.update(str(d)[:10] for d in surveys["response_date"])
    assert set(result["dates"]) == expected


def backfill(source, wh_path, start, end, **kw):
    from flows.backfill import backfill as flow

    return flow(start=start, end=end, source_url=source, warehouse_url=f"duckdb:///{wh_path}", **kw)


def test_backfill_equals_full_run_for_its_dates_and_resumes(harness, tmp_path, pseudonym_env, monkeypatch):
    src = Source(tmp_path / "s.sqlite", n_claims=400, days=30, seed=12)
    full = tmp_path / "full.duckdb"
    run(src.url, full)
    con = duckdb.connect(str(full), read_only=True)
    lo, hi = con.execute("SELECT min(metric_date), max(metric_date) FROM claimpulse.daily_service_metrics").fetchone()
    con.close()
    start, end = lo + dt.timedelta(days=5), lo + dt.timedelta(days=14)
    where = f"WHERE metric_date BETWEEN DATE '{start}' AND DATE '{end}'"
    metric_tables = ("daily_service_metrics", "daily_standard_attainment", "daily_quality_metrics")

    # interrupted after 4 partitions ...
    wh = tmp_path / "bf.duckdb"
    real, calls = bf.write_partition, {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] > 4:
            raise RuntimeError("worker lost")
        return real(*a, **k)

    monkeypatch.setattr(bf, "write_partition", flaky)
    with pytest.raises(Exception, match="worker lost"):
        backfill(src.url, wh, start, end, workers=2)
    monkeypatch.setattr(bf, "write_partition", real)
    assert len(bf.committed_partitions(__import__("claimpulse.warehouse", fromlist=["Warehouse"]).Warehouse(
        f"duckdb:///{wh}"), bf.backfill_key(start, end))) == 4
    # ... resumes with only the missing partitions, and ends equal to the full run
    result = backfill(src.url, wh, start, end, workers=2)
    assert len(result["computed"]) == 10 - 4
    assert_same_warehouse(wh, full, metric_tables, where)
    assert_same_warehouse(wh, full, ("fact_claim_service",),
                          f"WHERE closed_date BETWEEN DATE '{start}' AND DATE '{end}'")
    # a finished backfill forgets its partitions, so the next one recomputes everything
    again = backfill(src.url, wh, start, end, workers=1)
    assert len(again["computed"]) == 10
    assert_same_warehouse(wh, full, metric_tables, where)


def test_backfill_on_a_local_dask_cluster(harness, tmp_path, pseudonym_env):
    from distributed import LocalCluster

    src = Source(tmp_path / "s.sqlite", n_claims=200, days=20, seed=21)
    full = tmp_path / "full.duckdb"
    run(src.url, full)
    con = duckdb.connect(str(full), read_only=True)
    lo, hi = con.execute("SELECT min(metric_date), max(metric_date) FROM claimpulse.daily_service_metrics").fetchone()
    con.close()
    wh = tmp_path / "dask.duckdb"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        result = backfill(src.url, wh, lo, hi, dask_address=cluster.scheduler_address)
    assert len(result["computed"]) == (hi - lo).days + 1
    assert_same_warehouse(wh, full, ("daily_service_metrics", "daily_standard_attainment",
                                     "daily_quality_metrics"))


def test_chunked_run_equals_a_single_chunk_run(harness, tmp_path, pseudonym_env, monkeypatch):
    src = Source(tmp_path / "s.sqlite", n_claims=600, days=30, seed=31)
    # a response id duplicated across two claims, which will sit in different chunks
    s = src.frames["surveys"]
    twin = s.iloc[[0]].copy()
    twin["claim_id"] = s["claim_id"].iloc[-1]
    src.frames["surveys"] = pd.concat([s, twin], ignore_index=True)
    src.save()
    one = tmp_path / "one.duckdb"
    run(src.url, one)
    monkeypatch.setenv("CLAIMPULSE_CHUNK_CLAIMS", "150")
    many = tmp_path / "many.duckdb"
    result = run(src.url, many)
    assert_same_warehouse(one, many)
    pd.testing.assert_frame_equal(open_quarantine(one), open_quarantine(many))
    q = open_quarantine(many)
    assert (q["reasons"].str.contains("response_id_not_unique") & (q["source_table"] == "surveys")).sum() == 2
    counts = {r["source_table"]: r for r in result["counts"]}
    assert counts["surveys"]["rows_read"] == len(src.frames["surveys"])
    con1, con2 = (duckdb.connect(str(p), read_only=True) for p in (one, many))
    q1 = "SELECT source_table, expectation, success, evaluated_rows, unexpected_rows FROM claimpulse.dq_validation_results ORDER BY ALL"
    r1, r2 = con1.execute(q1).df(), con2.execute(q1).df()
    cols = [c for c in con1.execute("SELECT * FROM claimpulse.pipeline_runs").df().columns if c.endswith(("_read", "_accepted", "_quarantined", "_written"))]
    p1 = con1.execute("SELECT * FROM claimpulse.pipeline_runs").df()[cols]
    p2 = con2.execute("SELECT * FROM claimpulse.pipeline_runs").df()[cols]
    con1.close(); con2.close()
    pd.testing.assert_frame_equal(r1, r2)
    pd.testing.assert_frame_equal(p1, p2)


def _aged_source(path, **kw) -> Source:
    """A Source whose rows were last updated long ago but one per table (just now, so that the
    watermarks are recent): a later change is all a nightly run should have to read."""
    src = Source(path, **kw)
    for frame in src.frames.values():
        frame["updated_at"] = "2026-01-01T00:00:00+08:00"
        if len(frame):
            frame.loc[frame.index[-1], "updated_at"] = src.stamp()
    src.save()
    return src


def _count_source_reads(monkeypatch) -> list[dict]:
    from claimpulse.extract import SqlSource

    reads, real = [], SqlSource.read

    def counting(self, table, columns=None, claim_ids=None, null_claim=False, keys=None, changed_since=None):
        out = real(self, table, columns, claim_ids, null_claim, keys, changed_since)
        reads.append({"table": table.name, "rows": len(out), "changed_since": changed_since is not None,
                      "keys": keys is not None, "claims": claim_ids is not None or null_claim})
        return out

    monkeypatch.setattr(SqlSource, "read", counting)
    return reads


def test_nightly_reads_only_what_changed(harness, tmp_path, pseudonym_env, monkeypatch):
    rng = np.random.default_rng(3)
    src = _aged_source(tmp_path / "s.sqlite", n_claims=300, days=30, seed=3)
    wh = tmp_path / "w.duckdb"
    run(src.url, wh)
    source_rows = sum(len(f) for f in src.frames.values())
    src.change_dimension(rng)
    src.late_survey(rng)
    src.save()

    reads = _count_source_reads(monkeypatch)
    result = run(src.url, wh)
    assert result["mode"] == "incremental"
    # the change scan asks the source only for rows updated since (a day before) the watermark:
    # the row that set it and the ones that changed
    scanned = {r["table"]: r["rows"] for r in reads if r["changed_since"]}
    assert scanned == {"claims": 2, "claim_events": 1, "surveys": 2, "complaints": 1, "customer_costs": 1}
    # every read is filtered (by updated_at, id or claim); none reads a whole table
    assert all(r["changed_since"] or r["keys"] or r["claims"] for r in reads), reads
    assert sum(r["rows"] for r in reads) < 0.05 * source_rows
    fresh = tmp_path / "fresh.duckdb"
    run(src.url, fresh)
    assert_same_warehouse(wh, fresh)


def test_an_id_duplicated_by_a_changed_row_quarantines_every_copy(harness, tmp_path, pseudonym_env):
    src = _aged_source(tmp_path / "s.sqlite", n_claims=200, days=20, seed=4)
    wh = tmp_path / "w.duckdb"
    run(src.url, wh)
    ev = src.frames["claim_events"]
    claims = ev["claim_id"].dropna().unique()
    victim = ev[ev["claim_id"] == claims[0]].iloc[0]          # an unchanged row of one claim ...
    copy = ev[ev["claim_id"] == claims[1]].iloc[[0]].copy()   # ... and a new row of another claim
    copy["event_id"], copy["updated_at"] = victim["event_id"], src.stamp()  # with the same id
    src.frames["claim_events"] = pd.concat([ev, copy], ignore_index=True)
    src.save()

    run(src.url, wh)
    q = open_quarantine(wh)
    dup = q[(q["source_table"] == "claim_events") & (q["source_key"] == victim["event_id"])]
    assert len(dup) == 2 and dup["reasons"].str.contains("event_id_not_unique").all()
    fresh = tmp_path / "fresh.duckdb"
    run(src.url, fresh)
    assert_same_warehouse(wh, fresh)
    pd.testing.assert_frame_equal(open_quarantine(wh), open_quarantine(fresh))


def test_a_deleted_claim_leaves_after_run_reconcile_not_after_a_nightly_run(harness, tmp_path, pseudonym_env):
    from typer.testing import CliRunner

    from claimpulse.cli import app

    src = Source(tmp_path / "s.sqlite", n_claims=200, days=20, seed=6)
    wh = tmp_path / "w.duckdb"
    cli = CliRunner()

    def claimpulse_run(*flags):
        res = cli.invoke(app, ["run", "--source", src.url, "--warehouse", f"duckdb:///{wh}", *flags])
        assert res.exit_code == 0, res.output
        return res.output

    def has_claim(claim) -> bool:
        return len(snapshot(wh, "fact_claim_service", f"WHERE claim_id = '{claim}'")) == 1

    claimpulse_run()
    gone = src.closed_claims()[0]
    assert has_claim(gone)
    for name, frame in src.frames.items():  # the claim and all its rows leave the source
        src.frames[name] = frame[frame["claim_id"] != gone].reset_index(drop=True)
    src.save()

    assert "(incremental)" in claimpulse_run()
    assert has_claim(gone)  # a nightly run reads what changed; a delete is not a change it sees
    assert "(reconcile)" in claimpulse_run("--reconcile")
    assert not has_claim(gone)
    fresh = tmp_path / "fresh.duckdb"
    run(src.url, fresh)
    assert_same_warehouse(wh, fresh)
