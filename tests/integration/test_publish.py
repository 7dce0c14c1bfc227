"""BI readers of the embedded warehouse: write-audit-publish (claimpulse/warehouse/publish.py).

A BI tool is played by another process holding the DuckDB file open read-only. Runs must
succeed meanwhile, the reader must keep its (old, whole) data until it reconnects and then see
the new run; a killed run must leave the published file as it was; a failed run must leave its
`failed` row.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import duckdb
import pandas as pd
import pytest

from claimpulse import demo
from claimpulse.warehouse import Warehouse, WarehouseError

SCHEMA = "claimpulse"

READER = textwrap.dedent("""
    import sys, duckdb
    def counts(con):
        return "%d %d" % con.execute(
            "SELECT (SELECT count(*) FROM claimpulse.pipeline_runs), "
            "(SELECT count(*) FROM claimpulse.fact_claim_service)").fetchone()
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("open", counts(con), flush=True)
    sys.stdin.readline()                      # the test says: a run has finished meanwhile
    print("held", counts(con), flush=True)    # the same connection, held all along
    con.close()
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("reconnected", counts(con), flush=True)
    sys.stdin.readline()
""")


class BIReader:
    """Another process holding the warehouse file open read-only, as a BI tool does."""

    def __init__(self, path):
        self.p = subprocess.Popen([sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.opened = self._line("open")

    def _line(self, tag: str) -> tuple[int, int]:
        line = self.p.stdout.readline().split()
        assert line and line[0] == tag, (line, self.p.stderr.read() if self.p.poll() is not None else "")
        return int(line[1]), int(line[2])

    def after_run(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(runs, claims) on the held connection, then after reconnecting."""
        self.p.stdin.write("\n")
        self.p.stdin.flush()
        held = self._line("held")
        again = self._line("reconnected")
        self.p.stdin.write("\n")
        self.p.stdin.flush()
        assert self.p.wait(timeout=60) == 0, self.p.stderr.read()
        return held, again

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def runs(path) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT run_id, status, error FROM {SCHEMA}.pipeline_runs ORDER BY started_at").df()
    finally:
        con.close()


def stray_files(path) -> list[str]:
    """Working copies (and write-ahead logs) beside the warehouse file."""
    return sorted(p.name for p in path.parent.iterdir()
                  if p.name.startswith(f".{path.name}") or p.name == f"{path.name}.wal")


def add_run(w: Warehouse, run_id: str, status: str = "succeeded") -> None:
    with w.transaction() as conn:
        w.insert_frame(conn, "pipeline_runs", pd.DataFrame([{
            "run_id": run_id, "flow": "test", "status": status,
            "started_at": pd.Timestamp.now(tz="UTC"), "finished_at": pd.Timestamp.now(tz="UTC")}]))


# ------------------------------------------------------------------ the flows, with a BI reader


@pytest.fixture
def source(tmp_path):
    url = f"sqlite:///{tmp_path}/src.sqlite"
    demo.write_frames(url, demo.generate(n_claims=300, days=30, seed=3))
    return url


@pytest.mark.slow
def test_a_run_succeeds_while_a_bi_reader_holds_the_file_and_is_seen_after_reconnecting(
        harness, pseudonym_env, source, tmp_path):
    from flows.nightly import nightly

    folder = tmp_path / "wh"
    path = folder / "w.duckdb"
    nightly(source_url=source, warehouse_url=f"duckdb:///{path}")
    # the source changes: 40 claims are gone, so the next run writes fewer facts
    import sqlite3

    con = sqlite3.connect(source.removeprefix("sqlite:///"))
    con.execute("DELETE FROM claims WHERE rowid <= 40")
    con.commit()
    con.close()
    reader = BIReader(path)
    try:
        runs_before, claims_before = reader.opened
        assert runs_before == 1 and claims_before > 200
        # a reconciling run (deletes are its job), while the reader holds the file: no "Could not set lock"
        result = nightly(source_url=source, warehouse_url=f"duckdb:///{path}", reconcile=True)
        held, again = reader.after_run()
    finally:
        reader.close()
    assert result["dates"]
    assert held == (1, claims_before)               # the held connection: the old run, whole
    con = duckdb.connect(str(path), read_only=True)
    claims_now = con.execute(f"SELECT count(*) FROM {SCHEMA}.fact_claim_service").fetchone()[0]
    con.close()
    assert claims_before - 40 <= claims_now < claims_before   # (a deleted claim may have been quarantined)
    assert again == (2, claims_now)                 # reconnected: the new run
    assert runs(path)["status"].tolist() == ["succeeded", "succeeded"]
    assert stray_files(path) == []                  # no working copy left behind


@pytest.mark.slow
def test_a_failed_run_with_a_bi_reader_leaves_its_failed_row_and_nothing_else(
        harness, pseudonym_env, source, tmp_path, monkeypatch):
    import flows.nightly as nightly_mod

    path = tmp_path / "w.duckdb"
    nightly_mod.nightly(source_url=source, warehouse_url=f"duckdb:///{path}")
    con = duckdb.connect(str(path), read_only=True)
    facts_before = con.execute(f"SELECT * FROM {SCHEMA}.fact_claim_service ORDER BY claim_id").df()
    con.close()
    import sqlite3

    con = sqlite3.connect(source.removeprefix("sqlite:///"))
    con.execute("UPDATE claims SET region = 'XJ', updated_at = '2031-01-01T00:00:00+08:00' WHERE rowid <= 30")
    con.commit()
    con.close()

    def broken_compute(*a, **k):
        raise RuntimeError("compute node lost")

    from claimpulse import pipeline

    # compute runs inside the chunk task (in-process with one worker)
    monkeypatch.setattr(pipeline, "compute", broken_compute)
    reader = BIReader(path)
    try:
        with pytest.raises(RuntimeError, match="compute node lost"):
            nightly_mod.nightly(source_url=source, warehouse_url=f"duckdb:///{path}")
        held, again = reader.after_run()
    finally:
        reader.close()
    assert held[0] == 1 and again[0] == 2           # the failed row is published
    r = runs(path)
    assert r["status"].tolist() == ["succeeded", "failed"]
    assert "compute node lost" in r["error"].iloc[1]
    con = duckdb.connect(str(path), read_only=True)
    facts_after = con.execute(f"SELECT * FROM {SCHEMA}.fact_claim_service ORDER BY claim_id").df()
    con.close()
    pd.testing.assert_frame_equal(facts_after, facts_before)   # the load rolled back entirely
    assert stray_files(path) == []


# ------------------------------------------------------------------ the warehouse, directly


KILLED = textwrap.dedent("""
    import os, signal, sys
    import pandas as pd
    from claimpulse.warehouse import Warehouse
    url, resume = sys.argv[1], sys.argv[2] or None
    wh = Warehouse(url)
    with wh.run_lock("killed run"), wh.publishing("killed", resume) as w:
        w.ensure_schema()
        with w.transaction() as conn:   # committed in the working copy, as a backfill partition is
            w.insert_frame(conn, "pipeline_runs", pd.DataFrame([{
                "run_id": "partition-of-killed", "flow": "test", "status": "succeeded",
                "started_at": pd.Timestamp.now(tz="UTC")}]))
        os.kill(os.getpid(), signal.SIGKILL)   # before publishing
""")


def kill_during_run(path, resume: str = "") -> None:
    p = subprocess.run([sys.executable, "-c", KILLED, f"duckdb:///{path}", resume],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr


def published(path) -> Warehouse:
    wh = Warehouse(f"duckdb:///{path}")
    with wh.run_lock("test"), wh.publishing("first") as w:
        w.ensure_schema()
        add_run(w, "first")
    return wh


def test_a_killed_run_leaves_the_published_file_unchanged_and_its_copy_is_swept(tmp_path):
    path = tmp_path / "w.duckdb"
    wh = published(path)
    before = path.read_bytes()
    kill_during_run(path)
    assert path.read_bytes() == before                       # not a byte changed
    assert runs(path)["run_id"].tolist() == ["first"]
    assert stray_files(path) and all(n.startswith(".w.duckdb.run.work") for n in stray_files(path))
    # the next run sweeps the killed run's working copy and publishes normally
    with wh.run_lock("next"), wh.publishing("next") as w:
        assert runs_in(w) == ["first"]                      # a fresh copy, not the killed one
        add_run(w, "next")
    assert runs(path)["run_id"].tolist() == ["first", "next"]
    assert stray_files(path) == []


def runs_in(w: Warehouse) -> list[str]:
    with w.transaction() as conn:
        return w.read_sql(conn, f"SELECT run_id FROM {w.table('pipeline_runs')} ORDER BY started_at")["run_id"].tolist()


def test_a_killed_backfill_resumes_from_its_working_copy_unless_the_warehouse_moved_on(tmp_path):
    path = tmp_path / "w.duckdb"
    wh = published(path)
    kill_during_run(path, resume="2026-01-01..2026-01-31")
    assert runs(path)["run_id"].tolist() == ["first"]
    # the same backfill again: its committed partition survived the kill
    with wh.run_lock("again"), wh.publishing("again", resume="2026-01-01..2026-01-31") as w:
        assert runs_in(w) == ["first", "partition-of-killed"]
        add_run(w, "again")
    assert runs(path)["run_id"].tolist() == ["first", "partition-of-killed", "again"]
    assert stray_files(path) == []

    # killed again, but another run publishes before the backfill comes back: its copy is
    # stale (made from an older file), so it is swept, not resumed
    kill_during_run(path, resume="2026-01-01..2026-01-31")
    with wh.run_lock("nightly"), wh.publishing("nightly") as w:
        add_run(w, "nightly")
    with wh.run_lock("again"), wh.publishing("again2", resume="2026-01-01..2026-01-31") as w:
        assert runs_in(w) == ["first", "partition-of-killed", "again", "nightly"]
        add_run(w, "again2")
    assert stray_files(path) == []


def test_a_working_copy_that_fails_its_audit_is_not_published(tmp_path):
    path = tmp_path / "w.duckdb"
    wh = published(path)
    before = path.read_bytes()
    with pytest.raises(WarehouseError, match=r"failed its audit \(no pipeline_runs row for run forgot\); "
                                             r"the published warehouse is unchanged"):
        with wh.run_lock("forgetful"), wh.publishing("forgot") as w:
            add_run(w, "someone-else")          # writes, but not its own run row
    assert path.read_bytes() == before
    assert stray_files(path) == []


def test_no_disk_space_for_the_working_copy_is_a_one_line_error(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from claimpulse.warehouse import publish

    path = tmp_path / "w.duckdb"
    wh = published(path)
    before = path.read_bytes()
    monkeypatch.setattr(publish.shutil, "disk_usage", lambda p: SimpleNamespace(total=10**6, used=10**6 - 1000, free=1000))
    with pytest.raises(WarehouseError) as info:
        with wh.run_lock("full disk"), wh.publishing("full") as w:
            add_run(w, "full")
    msg = str(info.value)
    assert "\n" not in msg and "not enough disk space for the run's working copy" in msg and str(path) in msg
    assert path.read_bytes() == before and stray_files(path) == []


def test_read_only_reader_reads_while_another_process_holds_the_file(tmp_path):
    path = tmp_path / "w.duckdb"
    wh = published(path)
    reader = BIReader(path)
    try:
        with wh.reader().transaction() as conn:    # our own reads: read-only, never blocked
            assert wh.reader().read_table(conn, "pipeline_runs")["run_id"].tolist() == ["first"]
        with pytest.raises(WarehouseError, match="read-only"):
            with wh.reader().publishing("x"):
                pass
    finally:
        reader.close()


@pytest.mark.postgres
def test_server_warehouses_publish_through_their_transactions(pg_target):
    wh = pg_target.warehouse()
    with wh.publishing("any") as w:
        assert w is wh and wh.reader() is wh
    assert type(wh).__name__ == "PostgresWarehouse" and isinstance(wh, Warehouse)


def test_a_file_held_read_write_elsewhere_fails_the_run_at_once_and_changes_nothing(tmp_path):
    path = tmp_path / "w.duckdb"
    wh = published(path)
    before = path.read_bytes()
    writer = subprocess.Popen([sys.executable, "-c", "import sys, duckdb; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); sys.stdin.readline()", str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        with pytest.raises(WarehouseError, match=r"cannot read it to make the run's working copy \(is it open "
                                                 r"read-write elsewhere\? open BI tools read-only\): .*lock"):
            with wh.run_lock("run"), wh.publishing("blocked") as w:
                add_run(w, "blocked")
    finally:
        writer.kill()
        writer.wait()
    assert path.read_bytes() == before and stray_files(path) == []
