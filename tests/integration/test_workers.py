"""Chunks on a task runner (tasks/chunks.py): worker processes and a Dask cluster validate and
compute the claim buckets; one process writes. What they write must be exactly what one
process writes, and the work must really have left the flow's process."""
from __future__ import annotations

import os
import pickle
import re
import socket

import duckdb
import pandas as pd
import pytest

from ..helpers.sources import Source
from ..helpers.warehouses import query_file
from .test_incremental import assert_same_warehouse, backfill, open_quarantine

pytestmark = pytest.mark.slow


def nightly(source, wh_path, **kw):
    from flows.nightly import nightly as flow

    return flow(source_url=source, warehouse_url=f"duckdb:///{wh_path}", **kw)


def dq_results(wh_path) -> pd.DataFrame:
    return query_file(wh_path, "SELECT source_table, expectation, success, evaluated_rows, unexpected_rows "
                               "FROM claimpulse.dq_validation_results ORDER BY ALL")


@pytest.fixture(scope="module")
def twin_source(tmp_path_factory):
    """600 claims, with a response id duplicated across two claims (so across two chunks)."""
    src = Source(tmp_path_factory.mktemp("src") / "s.sqlite", n_claims=600, days=30, seed=31)
    s = src.frames["surveys"]
    twin = s.iloc[[0]].copy()
    twin["claim_id"] = s["claim_id"].iloc[-1]
    src.frames["surveys"] = pd.concat([s, twin], ignore_index=True)
    src.save()
    return src


KEY = "test-key-for-workers-0123456789abcdef"


@pytest.fixture(scope="module")
def one_process(harness, twin_source, tmp_path_factory):
    """The reference: the whole source as one chunk in the flow's own process."""
    out = tmp_path_factory.mktemp("one")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLAIMPULSE_PSEUDONYM_KEY", KEY)
        mp.setenv("CLAIMPULSE_DOCS_DIR", str(out / "docs"))
        mp.setenv("CLAIMPULSE_REPORT_PATH", str(out / "report.html"))
        result = nightly(twin_source.url, out / "one.duckdb", as_of=pd.Timestamp("2026-11-30").date())
    assert result["chunks"] == 1 and result["chunk_workers"] == [f"{socket.gethostname()}:{os.getpid()}"]
    return out / "one.duckdb"


@pytest.mark.parametrize("runner", ["processes", "dask"])
def test_parallel_chunks_write_exactly_what_one_process_writes(
        harness, twin_source, one_process, tmp_path, monkeypatch, runner):
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("CLAIMPULSE_CHUNK_CLAIMS", "250")       # 600 claims: 3 chunks, 4 for 2 workers
    wh = tmp_path / "many.duckdb"
    as_of = pd.Timestamp("2026-11-30").date()
    if runner == "processes":
        result = nightly(twin_source.url, wh, as_of=as_of, workers=2)
    else:
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            result = nightly(twin_source.url, wh, as_of=as_of, workers=2,
                             dask_address=cluster.scheduler_address)
    assert result["chunks"] == 4
    pids = {int(w.rsplit(":", 1)[1]) for w in result["chunk_workers"]}
    assert os.getpid() not in pids and len(pids) == 2, result["chunk_workers"]   # two other processes
    assert_same_warehouse(one_process, wh)
    pd.testing.assert_frame_equal(open_quarantine(one_process), open_quarantine(wh))
    # the workers stored their results; one GX build at the end made every page and the index
    assert_docs_pages(tmp_path / "_docs", 4)
    q = open_quarantine(wh)
    assert (q["reasons"].str.contains("response_id_not_unique") & (q["source_table"] == "surveys")).sum() == 2
    pd.testing.assert_frame_equal(dq_results(one_process), dq_results(wh))


def assert_docs_pages(docs, chunks: int) -> None:
    """GX's index lists one validation page per chunk and source table, and each page exists."""
    index = (docs / "index.html").read_text(encoding="utf-8")
    pages = set(re.findall(r'validations/[a-z_]+/[^"]+?\.html', index))
    assert len(pages) == chunks * 5, sorted(pages)
    assert all((docs / p).is_file() for p in pages), sorted(p for p in pages if not (docs / p).is_file())


def test_chunks_in_the_flows_process_build_their_data_docs_once(
        harness, twin_source, one_process, tmp_path, monkeypatch):
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("CLAIMPULSE_CHUNK_CLAIMS", "250")       # 600 claims: 3 chunks
    monkeypatch.setenv("CLAIMPULSE_DOCS_DIR", str(tmp_path / "docs"))
    wh = tmp_path / "serial.duckdb"
    result = nightly(twin_source.url, wh, as_of=pd.Timestamp("2026-11-30").date())
    assert result["chunks"] == 3 and result["chunk_workers"] == [f"{socket.gethostname()}:{os.getpid()}"]
    assert_same_warehouse(one_process, wh)
    assert_docs_pages(tmp_path / "docs", 3)


def test_a_parallel_backfill_equals_a_serial_one(harness, twin_source, one_process, tmp_path, monkeypatch):
    """The backfill's expensive stages run on the workers too; its cross-chunk duplicate is
    quarantined as when it read everything at once."""
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", KEY)
    con = duckdb.connect(str(one_process), read_only=True)
    lo, hi = con.execute("SELECT min(metric_date), max(metric_date) FROM claimpulse.daily_service_metrics").fetchone()
    con.close()
    serial = tmp_path / "serial.duckdb"
    one = backfill(twin_source.url, serial, lo, hi, workers=1)
    assert one["chunks"] == 1
    monkeypatch.setenv("CLAIMPULSE_CHUNK_CLAIMS", "250")
    parallel = tmp_path / "parallel.duckdb"
    two = backfill(twin_source.url, parallel, lo, hi, workers=2)
    assert two["chunks"] == 4 and len(two["chunk_workers"]) == 2
    assert two["written"] == one["written"] and two["quarantined"] == one["quarantined"]
    assert_same_warehouse(serial, parallel)
    pd.testing.assert_frame_equal(open_quarantine(serial), open_quarantine(parallel))
    pd.testing.assert_frame_equal(dq_results(serial), dq_results(parallel))


@pytest.fixture
def spilled(twin_source, monkeypatch):
    """The twin source planned in full and spilled for two workers (removed afterwards)."""
    from claimpulse import pipeline
    from claimpulse.config import load_config
    from claimpulse.extract import open_source

    monkeypatch.setenv("CLAIMPULSE_CHUNK_CLAIMS", "250")
    settings = load_config(None)
    source = open_source(twin_source.url)
    chunks = pipeline.Chunks(source, settings, pipeline.plan_changes(source, settings, {}), workers=2)
    yield chunks
    chunks.cleanup()


def test_chunks_travel_to_a_worker_and_read_the_same_rows(twin_source, spilled):
    """A worker gets the Chunks pickled: the source goes as its URL, the buckets as their folder."""
    from claimpulse import pipeline

    chunks = spilled
    assert chunks.n == 4                               # 3 rounded up to whole rounds of 2
    copy = pickle.loads(pickle.dumps(chunks))
    assert copy.source.engine is not chunks.source.engine
    for i in range(chunks.n):
        mine, theirs = chunks.read(i), copy.read(i)
        for t in mine:
            pd.testing.assert_frame_equal(mine[t].typed, theirs[t].typed)
    # every claim in exactly one chunk
    claims = pd.concat([chunks.read(i)["claims"].typed["claim_id"] for i in range(chunks.n)])
    assert claims.is_unique and len(claims) == len(twin_source.frames["claims"])
    assert pipeline.Chunks(chunks.source, chunks.settings, chunks.plan, workers=1).n == 3


def test_a_parked_result_comes_back_identical_and_leaves_no_file(spilled):
    """A worker's facts travel back as Arrow files in the spill folder, not pickled: what the
    writer reads back must equal what the worker computed, column for column and dtype for
    dtype, and the files must be gone once read."""
    from claimpulse import pipeline

    chunks = spilled
    res = pipeline.process_chunk(chunks, 1, chunks.settings, KEY.encode(),
                                 pd.Timestamp("2026-11-30", tz="UTC"), "full")
    before = {f: getattr(res.outputs, f).copy() for f in ("fact", "surveys", "complaints", "events")}
    assert len(before["fact"]) and len(before["surveys"]) and len(before["events"])
    res.outputs.complaints = res.outputs.complaints.iloc[:0]     # an empty frame travels too
    before["complaints"] = before["complaints"].iloc[:0]
    parked = pipeline.park_result(res, chunks.result_folder(1))
    assert parked.outputs.fact is None and len(pickle.dumps(parked)) < 200_000
    files = sorted(p.name for p in chunks.result_folder(1).iterdir())
    assert files == ["complaints.arrow", "events.arrow", "fact.arrow", "surveys.arrow"]
    back = pipeline.unpark_result(pickle.loads(pickle.dumps(parked)))
    for name, frame in before.items():
        pd.testing.assert_frame_equal(getattr(back.outputs, name), frame, check_exact=True)
    assert not list(chunks.result_folder(1).iterdir())
    assert pipeline.unpark_result(back) is back                   # not parked: as it is
    pipeline.park_result(back, chunks.result_folder(0))
    chunks.cleanup()
    assert not chunks.result_folder(0).exists()                   # cleanup takes what is left
