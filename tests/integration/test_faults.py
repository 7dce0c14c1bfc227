"""Bad input, faults and concurrency: nothing lost, nothing half-written, every error clear.

- schema drift: an extra column is a warning in the run summary; a missing required column or
  a mostly-uncastable column fails the run with one line naming table, column and example, and
  the warehouse stays as it was (but for the `failed` row in pipeline_runs);
- SIGKILL at random points of `claimpulse run`; an unreachable source (Prefect retries, then a
  one-line failure); a connection dropped mid-extract (the retry succeeds); two runs on one
  warehouse at once; a warehouse that rejects the load.

Every reason code produced by a crafted bad row: tests/unit/test_reason_codes.py. The CLI and
snapshot helpers (`cli`, `start_cli`, `run_many`, `snapshot`, ...) are in tests/helpers/runs.py,
shared with tests/integration/test_security_runs.py and tests/e2e/test_file_sources_cli.py.
"""
from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from claimpulse.extract import SourceError
from claimpulse.schema import SOURCE_TABLES

from ..conftest import GOLDEN
from ..helpers.runs import (SCHEMA, cli, copy_db, copy_folder, finish, kill_group, nightly_state,
                            one_line_error, run_many, snapshot, start_cli)

# Columns that differ between two runs over the same data (when, and which run).
RUN_COLUMNS = {"loaded_at", "run_id", "quarantined_at", "released_at", "validated_at", "recorded_at",
               "started_at", "finished_at"}
TABLES = tuple(SOURCE_TABLES)
# Later than anything a demo source holds (its data ends at local midnight today, or now).
NOW = pd.Timestamp.now(tz="Asia/Shanghai").floor("s").isoformat()


# =============================================================================== helpers


def survivors(session_id: int) -> list[int]:
    """Processes still alive in the session of a killed `claimpulse` (start_new_session)."""
    import psutil

    out = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == session_id and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc.pid)
        except (ProcessLookupError, psutil.Error, PermissionError):
            continue
    return out


def without_failed_runs(snap: dict) -> dict:
    out = dict(snap)
    if "pipeline_runs" in out:
        runs = out["pipeline_runs"]
        out["pipeline_runs"] = runs[runs["status"] != "failed"].reset_index(drop=True)
    return out


def assert_same_warehouse(got: dict, want: dict, ignore: set[str] = frozenset(), what: str = "") -> None:
    assert sorted(got) == sorted(want), what
    for t in want:
        a, b = got[t], want[t]
        drop = [c for c in a.columns if c in ignore]
        a, b = a.drop(columns=drop), b.drop(columns=[c for c in b.columns if c in ignore])
        if drop:
            a = a.sort_values(list(a.columns)).reset_index(drop=True) if len(a.columns) else a
            b = b.sort_values(list(b.columns)).reset_index(drop=True) if len(b.columns) else b
        pd.testing.assert_frame_equal(_plain(a), _plain(b), check_dtype=False, obj=f"{what} {t}")


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Values only: a null is None whatever the dtype made of it (NaN, NA, NaT)."""
    return df.astype(object).where(df.notna(), None).reset_index(drop=True)


def assert_runs_reconcile(snap: dict) -> None:
    """pipeline_runs: for every succeeded run and source table, read = accepted + quarantined."""
    runs = snap["pipeline_runs"]
    runs = runs[runs["status"] == "succeeded"]
    assert len(runs)
    for t in TABLES:
        assert (runs[f"{t}_read"] == runs[f"{t}_accepted"] + runs[f"{t}_quarantined"]).all(), t


def failed_runs(snap: dict) -> pd.DataFrame:
    runs = snap["pipeline_runs"]
    return runs[runs["status"] == "failed"]


def demo_folder(dst: Path, n_claims: int = 300, seed: int = 5) -> Path:
    """A small demo claims system written as a CSV folder (one file per table)."""
    from claimpulse.demo import generate

    dst.mkdir(parents=True)
    for t, df in generate(n_claims=n_claims, days=60, seed=seed).items():
        df.to_csv(dst / f"{t}.csv", index=False)
    return dst


# =============================================================================== flows (Prefect harness)
# `harness` and `api_env` are fixtures of tests/conftest.py.


def flow_error(state) -> BaseException:
    assert state.is_failed(), state
    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("a failed state without an exception")


@pytest.fixture
def golden_wh(harness, tmp_path, pseudonym_env):
    """A warehouse after one successful run over the golden folder, and its snapshot."""
    wh = tmp_path / "golden.duckdb"
    assert nightly_state(GOLDEN, wh).is_completed()
    return wh, snapshot(wh)


def changed_golden(dst: Path) -> Path:
    """The golden folder one day later: a new survey and a corrected claim."""
    copy_folder(GOLDEN, dst)
    with open(dst / "surveys.csv", "a", encoding="utf-8") as f:
        f.write("S4,A,2026-03-07T10:00:00+08:00,3,7,4,,2026-03-07T10:00:00+08:00\n")
    claims = (dst / "claims.csv").read_text(encoding="utf-8")
    claims = claims.replace("B,P2,310101198506061234,auto,phone,SH,T2,complex,20000.00,,CNY,denied,fraud,"
                            "2026-02-20T10:00:00+08:00,2026-03-04T10:00:00+08:00",
                            "B,P2,310101198506061234,auto,phone,SH,T2,complex,20000.00,,CNY,denied,other,"
                            "2026-02-20T10:00:00+08:00,2026-03-20T10:00:00+08:00")
    assert "denied,other" in claims
    (dst / "claims.csv").write_text(claims, encoding="utf-8")
    return dst


@pytest.mark.slow
def test_extra_column_is_a_warning_in_the_run_summary(harness, tmp_path, pseudonym_env):
    src = copy_folder(GOLDEN, tmp_path / "src")
    for t in ("claims", "surveys"):
        df = pd.read_csv(src / f"{t}.csv", dtype=str, keep_default_na=False)
        df["legacy_flag"] = "x"
        df.to_csv(src / f"{t}.csv", index=False)
    state = nightly_state(src, tmp_path / "w.duckdb")
    assert state.is_completed()
    md = state.result()["summary"]
    warnings = md.split("## Warnings", 1)[1]
    assert "claims: extra source column(s) ignored: legacy_flag" in warnings
    assert "surveys: extra source column(s) ignored: legacy_flag" in warnings
    assert "| claims | 5 | 5 | 0 |" in md
    # the extra column does not reach the warehouse
    snap = snapshot(tmp_path / "w.duckdb")
    assert not any("legacy_flag" in df.columns for df in snap.values())


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["missing_column", "mostly_uncastable"])
def test_table_level_source_error_leaves_the_warehouse_as_it_was(golden_wh, tmp_path, kind):
    wh, before = golden_wh
    src = changed_golden(tmp_path / "src")
    ev = pd.read_csv(src / "claim_events.csv", dtype=str, keep_default_na=False)
    if kind == "missing_column":
        ev = ev.drop(columns=["actor_role"])
        pattern = "claim_events: missing required column 'actor_role'"
    else:
        ev.loc[2:, "occurred_at"] = "see attachment"     # 16 of 18 values
        ev = pd.concat([ev, ev.iloc[:4].assign(event_id=lambda d: d["event_id"] + "x")])  # >= 20 values
        ev["updated_at"] = "2026-03-20T00:00:00+08:00"    # every row changed: all re-read
        pattern = r"claim_events\.occurred_at: 18 of 22 values cannot be read as timestamp \(e\.g\. 'see attachment'\)"
    ev.to_csv(src / "claim_events.csv", index=False)
    exc = flow_error(nightly_state(src, wh))
    assert isinstance(exc, SourceError)
    import re
    assert re.search(pattern, str(exc)), str(exc)
    after = snapshot(wh)
    assert_same_warehouse(without_failed_runs(after), before, what=kind)
    failed = failed_runs(after)
    assert len(failed) == 1 and re.search(pattern, failed["error"].iloc[0])


class _CountCalls:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *a, **kw):
        self.calls += 1
        return self.fn(*a, **kw)


@pytest.fixture
def fast_retries(monkeypatch):
    """The flow's retrying tasks (extraction) with their retries but no waiting between them,
    and a count of the change-scan attempts."""
    import flows.nightly as nightly_mod
    from claimpulse import pipeline
    from prefect import Task

    retrying = {name: t for name, t in vars(nightly_mod).items() if isinstance(t, Task) and t.retries}
    assert "plan_changes" in retrying and all(t.retries == 3 for t in retrying.values())
    for name, t in retrying.items():
        monkeypatch.setattr(nightly_mod, name, t.with_options(retry_delay_seconds=0))
    counts = {"plan_changes": _CountCalls(pipeline.plan_changes)}
    monkeypatch.setattr(pipeline, "plan_changes", counts["plan_changes"])
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("source", ["postgresql://nobody@127.0.0.1:1/x", "sqlite:///{tmp}/no/such/dir/x.sqlite"])
def test_unreachable_source_is_retried_then_fails_cleanly(golden_wh, tmp_path, fast_retries, source):
    wh, before = golden_wh
    source = source.format(tmp=tmp_path)
    exc = flow_error(nightly_state(source, wh))
    assert fast_retries["plan_changes"].calls == 4        # 1 try + 3 retries, then it gave up
    text = " ".join(str(exc).split())
    assert "source" in text and "cannot be reached" in text, text
    after = snapshot(wh)
    assert_same_warehouse(without_failed_runs(after), before, what="unreachable")
    assert len(failed_runs(after)) == 1


class FlakySource:
    """A source whose connection drops once: `read` number `fail_on` raises OperationalError."""

    def __init__(self, inner, fail_on: int):
        self.inner, self.fail_on, self.calls, self.failed = inner, fail_on, 0, False

    def describe(self):
        return self.inner.describe()

    def columns(self, table):
        return self.inner.columns(table)

    def read(self, table, **kw):
        self.calls += 1
        if self.calls == self.fail_on:
            self.failed = True
            raise sa.exc.OperationalError(
                f"SELECT * FROM {table.name}", None,
                ConnectionResetError("server closed the connection unexpectedly"))
        return self.inner.read(table, **kw)


def comparable(snap: dict) -> dict:
    """A snapshot without what differs between runs (run ids, load times)."""
    out = {}
    for t, df in snap.items():
        df = df.drop(columns=[c for c in df.columns if c in RUN_COLUMNS
                              or (t == "pipeline_state" and c == "updated_at")])
        out[t] = df.sort_values(list(df.columns)).reset_index(drop=True) if len(df.columns) else df
    return out


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{d}/demo.sqlite"
    from claimpulse.demo import write_demo

    write_demo(url, n_claims=400, days=40, seed=21)
    return url


@pytest.mark.slow
# A first run plans by counting the claims (read 1), then extracts table by table (reads 2-6):
# 1 drops the connection while planning, 4 mid-extract.
@pytest.mark.parametrize("fail_on", [1, 4])
def test_connection_dropped_is_retried_and_the_result_equals_a_clean_run(
        harness, tmp_path, pseudonym_env, fast_retries, monkeypatch, small_demo, fail_on):
    import flows.nightly as nightly_mod
    from claimpulse.extract import open_source

    clean = tmp_path / "clean.duckdb"
    assert nightly_state(small_demo, clean).is_completed()
    scans_before = fast_retries["plan_changes"].calls
    flaky: list[FlakySource] = []

    def flaky_open(url, encoding="utf-8"):
        flaky.append(FlakySource(open_source(url, encoding), fail_on))
        return flaky[-1]

    monkeypatch.setattr(nightly_mod, "open_source", flaky_open)
    wh = tmp_path / "flaky.duckdb"
    state = nightly_state(small_demo, wh)
    assert state.is_completed(), state
    assert flaky[0].failed and flaky[0].calls > fail_on + 4     # it failed, then read on
    scans = fast_retries["plan_changes"].calls - scans_before
    assert scans == (2 if fail_on == 1 else 1)                 # planning retried only if it failed
    assert_same_warehouse(comparable(snapshot(wh)), comparable(snapshot(clean)), what="flaky vs clean")


@pytest.mark.slow
def test_warehouse_failing_mid_load_leaves_nothing_partial(golden_wh, tmp_path, monkeypatch):
    from claimpulse.warehouse import Warehouse, WarehouseError

    wh, before = golden_wh
    src = changed_golden(tmp_path / "src")
    real = Warehouse.insert_frame
    calls = []

    def failing_insert(self, conn, table, df):
        calls.append(table)
        if len(calls) == 3:   # two tables are written by now
            raise sa.exc.OperationalError(f"INSERT INTO {table}", None, OSError(28, "No space left on device"))
        return real(self, conn, table, df)

    monkeypatch.setattr(Warehouse, "insert_frame", failing_insert)
    exc = flow_error(nightly_state(src, wh))
    assert len(calls) >= 3 and "pipeline_runs" not in calls[:3]   # it failed mid-load
    assert isinstance(exc, WarehouseError)
    assert "No space left on device" in str(exc) and str(wh) in str(exc)
    after = snapshot(wh)
    assert_same_warehouse(without_failed_runs(after), before, what="failed load")
    assert len(failed_runs(after)) == 1


@pytest.mark.slow
def test_warehouse_constraint_rejecting_the_last_write_rolls_everything_back(golden_wh, tmp_path):
    """A real rejection by DuckDB at the very end of the load transaction (the pipeline_runs
    row, after every fact, metric, quarantine and watermark write): all of it rolls back."""
    from claimpulse.warehouse import WarehouseError

    wh, _ = golden_wh
    con = duckdb.connect(str(wh))
    con.execute(f"CREATE UNIQUE INDEX one_run_per_flow ON {SCHEMA}.pipeline_runs (flow)")
    con.close()
    before = snapshot(wh)
    exc = flow_error(nightly_state(changed_golden(tmp_path / "src"), wh))
    assert isinstance(exc, WarehouseError), repr(exc)
    assert "warehouse" in str(exc) and "pipeline_runs" in str(exc) and "Constraint" in str(exc)
    # the failed-run row cannot be written either (same constraint): nothing changed at all
    assert_same_warehouse(snapshot(wh), before, what="constraint")


# =============================================================================== the CLI


@pytest.fixture(scope="module")
def cli_base(tmp_path_factory, api_env):
    """A CSV demo folder and a warehouse after one successful CLI run over it."""
    d = tmp_path_factory.mktemp("clibase")
    src = demo_folder(d / "src", n_claims=300)
    wh = d / "base.duckdb"
    p = cli("run", "--source", src, "--warehouse", f"duckdb:///{wh}", env=api_env)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    return d, src, wh, snapshot(wh)


@pytest.mark.slow
def test_cli_bad_input_faults_are_one_line_errors_and_change_nothing(cli_base, tmp_path, api_env):
    d, base_src, base_wh, before = cli_base
    cases = {}

    def case(name, source, expect_ok=False):
        wh = copy_db(base_wh, tmp_path / f"{name}.duckdb")
        cases[name] = (["run", "--source", source, "--warehouse", f"duckdb:///{wh}"], wh, expect_ok)

    src = copy_folder(base_src, tmp_path / "extra")
    df = pd.read_csv(src / "surveys.csv", dtype=str, keep_default_na=False)
    df.insert(3, "Channel_Hint", "app")
    df["updated_at"] = NOW   # changed since the watermark: these rows are re-read
    df.to_csv(src / "surveys.csv", index=False)
    case("extra_column", src, expect_ok=True)

    src = copy_folder(base_src, tmp_path / "missing")
    df = pd.read_csv(src / "complaints.csv", dtype=str, keep_default_na=False).drop(columns=["received_at"])
    df.to_csv(src / "complaints.csv", index=False)
    case("missing_column", src)

    src = copy_folder(base_src, tmp_path / "uncastable")
    df = pd.read_csv(src / "claims.csv", dtype=str, keep_default_na=False)
    df.loc[df.index[len(df) // 5:], "claimed_amount"] = "CNY " + df["claimed_amount"]   # 80 %
    df["updated_at"] = NOW
    df.to_csv(src / "claims.csv", index=False)
    case("uncastable", src)

    # (an unreachable source through the CLI: test_security_runs.py, with a password in the URL)

    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the warehouse folder should be")
    cases["warehouse_path"] = (["run", "--source", base_src, "--warehouse",
                                f"duckdb:///{blocker}/w.duckdb"], None, False)

    procs = run_many({name: args for name, (args, _, _) in cases.items()}, env=api_env)
    errors = {}
    for name, (_, wh, ok) in cases.items():
        p = procs[name]
        if ok:
            assert p.returncode == 0, p.stderr + p.stdout[-3000:]
        else:
            errors[name] = one_line_error(p)
            after = snapshot(wh) if wh else {}
            if wh:
                assert_same_warehouse(without_failed_runs(after), before, what=name)
                assert len(failed_runs(after)) == 1, name

    # extra column: a warning in the logs, the run is fine, and the counts reconcile
    out = procs["extra_column"].stdout
    assert "surveys: ignoring extra source column(s): channel_hint" in out, out[-3000:]
    runs = snapshot(cases["extra_column"][1])["pipeline_runs"]
    last = runs.sort_values("started_at").iloc[-1]
    assert last["status"] == "succeeded" and last["surveys_read"] > 0
    for t in TABLES:
        assert last[f"{t}_read"] == last[f"{t}_accepted"] + last[f"{t}_quarantined"], t

    assert "complaints: missing required column 'received_at'" in errors["missing_column"]
    assert "claims.claimed_amount: 240 of 300 values cannot be read as decimal (e.g. 'CNY " \
        in errors["uncastable"]
    assert "not_a_dir" in errors["warehouse_path"] and "warehouse" in errors["warehouse_path"]


# =============================================================================== SIGKILL


BIG_CLAIMS = 20_000


@pytest.fixture(scope="module")
def big_sources(tmp_path_factory):
    """A 20k-claim demo source A, and B = A a week later (many claims changed, new rows)."""
    from claimpulse.demo import write_demo

    d = tmp_path_factory.mktemp("big")
    a, b = d / "a.sqlite", d / "b.sqlite"
    write_demo(f"sqlite:///{a}", n_claims=BIG_CLAIMS, days=120, seed=17)
    shutil.copy(a, b)
    con = sqlite3.connect(b)
    stamp = "2030-01-01T00:00:00+08:00"  # later than every watermark of A
    con.execute("UPDATE claims SET region = 'XJ', updated_at = ? WHERE rowid % 3 = 0", (stamp,))
    con.execute("UPDATE surveys SET csat = 1, updated_at = ? WHERE rowid % 4 = 0", (stamp,))
    con.execute("DELETE FROM complaints WHERE rowid % 5 = 0")
    con.execute("UPDATE customer_costs SET amount = 99.5, currency = 'CNY', updated_at = ? "
                "WHERE rowid % 7 = 0", (stamp,))
    con.commit()
    con.close()
    return d, f"sqlite:///{a}", f"sqlite:///{b}"


RESULT_TABLES = ("daily_service_metrics", "daily_standard_attainment", "fact_claim_service",
                 "fact_survey_response", "fact_complaint", "pipeline_state")


def result_tables(snap: dict) -> dict:
    c = comparable(snap)
    return {t: c[t] for t in RESULT_TABLES}


@pytest.fixture(scope="module")
def warehouse_a(big_sources, api_env, tmp_path_factory):
    """A warehouse after one successful CLI run over source A, and how long that run took."""
    _, src_a, _ = big_sources
    wh_a = tmp_path_factory.mktemp("wh_a") / "a.duckdb"
    t0 = time.monotonic()
    p = cli("run", "--source", src_a, "--warehouse", f"duckdb:///{wh_a}", env=api_env)
    duration = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    return wh_a, duration


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_the_last_good_state(big_sources, warehouse_a, tmp_path, api_env):
    d, src_a, src_b = big_sources
    # A successful run over A (its duration bounds the kill delays) ...
    wh_a, duration = warehouse_a
    state_a = snapshot(wh_a)
    # ... then, in the background, B run to completion on a copy, never interrupted: the reference
    wh_ref = copy_db(wh_a, tmp_path / "ref.duckdb")
    ref_proc = start_cli("run", "--source", src_b, "--warehouse", f"duckdb:///{wh_ref}",
                         env=api_env, out_dir=tmp_path, name="reference")

    # Meanwhile B again on another copy of A, SIGKILLed at random points (the whole process
    # group: were there a temporary Prefect server, it would go too).
    # These runs load in chunks of claims (spilled to local disk, one transaction): a kill can
    # land between chunks, and the recovery must equal the unchunked reference.
    wh = copy_db(wh_a, tmp_path / "killed.duckdb")
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    chunked = {**api_env, "CLAIMPULSE_CHUNK_CLAIMS": "4000", "TMPDIR": str(spill_dir)}
    rng = random.Random(20260301)
    delays = [rng.uniform(0.5, duration) for _ in range(3)]   # + one aimed at the load: 4 kills
    outcomes, committed_states = [], []
    for i, delay in enumerate(delays + ["load"]):
        proc = start_cli("run", "--source", src_b, "--warehouse", f"duckdb:///{wh}",
                         env=chunked, out_dir=tmp_path, name=f"kill{i}")
        if delay == "load":
            # one kill aimed at the load transaction: right after the compute task finished
            deadline = time.monotonic() + 300
            while proc.poll() is None and time.monotonic() < deadline:
                if "compute-facts" in (tmp_path / f"kill{i}.out").read_text():
                    break
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.5))
        else:
            time.sleep(delay)
        finished = proc.poll() is not None
        kill_group(proc)
        result = finish(proc)
        assert not survivors(proc.pid), f"kill {i}: processes of the killed run survive"
        now = snapshot(wh)
        committed = len(now["pipeline_runs"]) > len(state_a["pipeline_runs"])
        last_log = [ln for ln in result.stdout.splitlines() if " | " in ln][-1:] or ["(no log yet)"]
        outcomes.append((delay, finished, committed, last_log[0].split(" - ", 1)[-1][:60]))
        if committed:
            # the kill came after the load's commit (during the summary or the exit): the run
            # is complete in the warehouse, with its pipeline_runs row, and is the last good run
            assert len(now["pipeline_runs"]) == len(state_a["pipeline_runs"]) + 1
            committed_states.append(result_tables(now))   # compared with the reference below
            # back to A, so that the next kill interrupts the A -> B run again
            Path(f"{wh}.wal").unlink(missing_ok=True)
            copy_db(wh_a, wh)
            state_a = snapshot(wh)
        else:
            # exactly what the last successful run left: every table, every column (the kill
            # hit the working copy; the published file was never opened for writing)
            assert_same_warehouse(now, state_a, what=f"after kill {i} at {delay}")
            assert not Path(f"{wh}.wal").exists()
    print("kills (delay, process had finished, load had committed, last log line):", outcomes,
          "spill folders left by killed runs:", sorted(x.name for x in spill_dir.iterdir()))
    ref = finish(ref_proc)
    assert ref.returncode == 0, ref.stderr
    reference = result_tables(snapshot(wh_ref))
    assert len(reference["fact_claim_service"]) > 0.9 * BIG_CLAIMS
    for i, committed_state in enumerate(committed_states):
        assert_same_warehouse(committed_state, reference, what=f"committed run {i}")

    # An uninterrupted run now finishes the work: the same tables as the reference.
    p = cli("run", "--source", src_b, "--warehouse", f"duckdb:///{wh}", env=chunked)
    assert "chunk 2/3 written" in p.stdout
    assert p.returncode == 0, p.stderr
    # the killed runs' spill folders (raw source rows, personal data) were swept by it
    assert not list(spill_dir.glob("claimpulse-buckets-*")), sorted(x.name for x in spill_dir.iterdir())
    # ... and so were the working copies the killed runs were writing (write-audit-publish):
    # only the published file and its lock file are left
    assert sorted(x.name for x in wh.parent.iterdir() if x.name.startswith(f".{wh.name}")) == [], \
        sorted(x.name for x in wh.parent.iterdir())
    final = snapshot(wh)
    assert_same_warehouse(result_tables(final), reference, what="after recovery")
    runs = final["pipeline_runs"]
    assert runs["status"].tolist() == ["succeeded"] * len(runs)
    assert_runs_reconcile(final)
    assert (runs["claims_quarantined"] > 0).all()     # the demo's bad rows are counted, not lost
    assert len(runs) == 2, outcomes            # A's run and the recovery: no killed run's row


def test_spill_folders_of_dead_runs_are_swept_and_live_ones_kept(tmp_path):
    from claimpulse.buckets import OWNER_FILE, PREFIX, Buckets

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    folders = {name: tmp_path / f"{PREFIX}{name}" for name in ("dead", "live", "fresh", "old")}
    for d in folders.values():
        d.mkdir()
        (d / "claims").mkdir()
    (folders["dead"] / OWNER_FILE).write_text(gone.stdout.strip())
    (folders["live"] / OWNER_FILE).write_text(str(os.getpid()))
    two_days_ago = time.time() - 2 * 86400
    os.utime(folders["old"], (two_days_ago, two_days_ago))   # no owner file, long abandoned
    b = Buckets(2, root=tmp_path)
    try:
        left = sorted(x.name for x in tmp_path.iterdir())
        assert left == sorted([folders["live"].name, folders["fresh"].name, b.root.name])
        assert (b.root / OWNER_FILE).read_text() == str(os.getpid())
    finally:
        b.cleanup()
    assert not b.root.exists()


# =============================================================================== two runs at once


def assert_no_duplicates(snap: dict) -> None:
    fact = snap["fact_claim_service"]
    assert fact["claim_id"].is_unique
    for t, key in (("daily_service_metrics", ["metric_date", "product_line", "channel", "region"]),
                   ("daily_standard_attainment", ["metric_date", "standard_id", "product_line",
                                                  "channel", "region"]),
                   ("fact_survey_response", ["response_id"]), ("fact_complaint", ["complaint_id"])):
        assert not snap[t].duplicated(key).any(), t
    assert snap["pipeline_state"]["source_table"].is_unique


@pytest.mark.slow
def test_two_runs_on_one_warehouse(big_sources, warehouse_a, tmp_path, api_env):
    """Two runs of the changed source B on a copy of warehouse A, started at once."""
    _, _, src_b = big_sources
    wh_a, _ = warehouse_a
    # fail fast (the default): a run that finds the warehouse busy says so and writes nothing.
    # Runs are fast enough to miss each other when merely started together, so the overlap is
    # made certain: "one" waits (with a timeout) behind a lock the test holds, "two" comes
    # while it is still held and fails fast, then the lock is let go and "one" finishes.
    import fcntl

    wh = copy_db(wh_a, tmp_path / "busy.duckdb")
    out_dir = tmp_path / "busy"
    out_dir.mkdir()
    with open(f"{wh}.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        one = start_cli("run", "--source", src_b, "--warehouse", f"duckdb:///{wh}",
                        env={**api_env, "CLAIMPULSE_LOCK_TIMEOUT": "600"}, out_dir=out_dir, name="one")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and "waiting up to 600 s" not in (out_dir / "one.out").read_text():
            assert one.poll() is None, "run one ended while the lock was held"
            time.sleep(0.2)
        two = finish(start_cli("run", "--source", src_b, "--warehouse", f"duckdb:///{wh}",
                               env=api_env, out_dir=out_dir, name="two"))
        fcntl.flock(held, fcntl.LOCK_UN)
    procs = [finish(one), two]
    assert [p.returncode == 0 for p in procs] == [True, False], [(p.returncode, p.stderr) for p in procs]
    err = one_line_error(two)
    assert "is busy" in err and "another ClaimPulse run holds its lock" in err, err
    snap = snapshot(wh)
    assert_no_duplicates(snap)
    # the loser wrote nothing: A's run and the winner's
    assert snap["pipeline_runs"]["status"].tolist() == ["succeeded", "succeeded"]

    # wait: with CLAIMPULSE_LOCK_TIMEOUT the later one waits for the other, then both succeed
    # The test holds the lock while both start, so both must wait (however fast a run is),
    # and then one waits for the other.
    wh2 = copy_db(wh_a, tmp_path / "wait.duckdb")
    import fcntl

    with open(f"{wh2}.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        out_dir = tmp_path / "pair"
        out_dir.mkdir()
        waiting_env = {**api_env, "CLAIMPULSE_LOCK_TIMEOUT": "600"}
        started = [start_cli("run", "--source", src_b, "--warehouse", f"duckdb:///{wh2}",
                             env=waiting_env, out_dir=out_dir, name=n) for n in ("one", "two")]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not all(
                "waiting up to 600 s" in (out_dir / f"{n}.out").read_text() for n in ("one", "two")):
            assert all(p.poll() is None for p in started), "a run ended while the lock was held"
            time.sleep(0.2)
        fcntl.flock(held, fcntl.LOCK_UN)
    procs = [finish(p) for p in started]
    assert [p.returncode for p in procs] == [0, 0], [p.stderr for p in procs]
    assert all("is busy: waiting up to 600 s" in p.stdout for p in procs)
    assert sorted("restated 0 date(s)" in p.stdout for p in procs) == [False, True]
    snap2 = snapshot(wh2)
    assert_no_duplicates(snap2)
    assert_runs_reconcile(snap2)
    runs = snap2["pipeline_runs"].sort_values("started_at").iloc[1:]
    assert runs["status"].tolist() == ["succeeded"] * 2
    # they overlapped (both started before either finished): the lock serialised them
    assert runs["started_at"].max() < runs["finished_at"].min()
    assert_same_warehouse(result_tables(snap2), result_tables(snap), what="waited vs single")
