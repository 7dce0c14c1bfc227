"""Operators' guards and commands without Prefect: key fingerprint, one demo key, preflight
(fast one-line failures, failed runs recorded), status / quarantine / check, per-table
source encodings, `claimpulse report` on a missing warehouse, help and --version."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from claimpulse import identity
from claimpulse.config import ConfigError, default_settings, load_config, resolve_source
from claimpulse.preflight import preflight
from claimpulse.pseudonym import DEMO_KEY, MissingSecretError, pseudonym_key
from claimpulse.warehouse import WarehouseLocked

from ..conftest import GOLDEN, REPO

CLI = str(Path(sys.executable).with_name("claimpulse"))
# Should a command start a flow after all, it could not reach this Prefect API and would fail
# with a different message: the one-line errors below prove the checks ran before any flow.
NO_PREFECT = "http://127.0.0.1:9/api"


def cli(*args, env=None, cwd=None):
    full_env = {**os.environ, "PREFECT_API_URL": NO_PREFECT, **(env or {})}
    for k in ("CLAIMPULSE_SOURCE_URL", "CLAIMPULSE_WAREHOUSE_URL", "CLAIMPULSE_CONFIG"):
        full_env.pop(k, None)
    full_env = {k: v for k, v in full_env.items() if v is not None}
    t0 = time.monotonic()
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=full_env, cwd=cwd or REPO, timeout=120)
    p.elapsed = time.monotonic() - t0
    return p


def one_line_error(p, *needles):
    assert p.returncode != 0, p.stdout
    err = p.stderr.strip()
    assert err.startswith("claimpulse: error: ") and "\n" not in err, p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    for n in needles:
        assert n in err, err
    return err


def runs(wh) -> pd.DataFrame:
    with wh.transaction() as conn:
        return wh.read_table(conn, "pipeline_runs", "ORDER BY started_at")


def state_rows(wh) -> int:
    with wh.transaction() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {wh.table('pipeline_state')}").scalar())


@pytest.fixture
def built(warehouse_target):
    """A warehouse at head whose key fingerprint is that of b'key-A', with one watermark."""
    wh = warehouse_target.warehouse()
    wh.ensure_schema()
    assert identity.verify_or_record(wh, b"key-A", "r0") == "recorded"
    with wh.transaction() as conn:
        wh.insert_frame(conn, "pipeline_state", pd.DataFrame({
            "source_table": ["claims"], "watermark": [pd.Timestamp("2026-03-06", tz="UTC")], "run_id": ["r0"]}))
    return warehouse_target, wh


# --------------------------------------------------------------------------- key fingerprint

def test_fingerprint_is_recorded_once_and_other_keys_are_refused(built):
    target, wh = built
    assert identity.verify_or_record(wh, b"key-A", "r1") == "match"
    assert identity.check_key(wh, b"key-A") == "match"
    with pytest.raises(identity.KeyMismatchError) as err:
        identity.verify_or_record(wh, b"key-B", "r2")
    msg = str(err.value)
    assert "different pseudonym key" in msg and "\n" not in msg
    assert identity.short(identity.fingerprint(b"key-A")) in msg
    with pytest.raises(identity.KeyMismatchError, match="demo key"):
        identity.check_key(wh, DEMO_KEY)
    with wh.transaction() as conn:
        rows = wh.read_table(conn, "warehouse_identity")
    assert len(rows) == 1 and rows["key_fingerprint"][0] == identity.fingerprint(b"key-A")
    assert "key-A" not in rows.astype(str).to_csv()  # the fingerprint, never the key


def test_demo_built_warehouse_refuses_a_real_key(warehouse_target):
    wh = warehouse_target.warehouse()
    wh.ensure_schema()
    identity.verify_or_record(wh, DEMO_KEY, "r0")
    with pytest.raises(identity.KeyMismatchError, match="built with the demo pseudonym key"):
        identity.verify_or_record(wh, b"a-real-key", "r1")


def test_existing_warehouse_without_fingerprint_adopts_the_next_runs_key(warehouse_target):
    wh = warehouse_target.warehouse()
    wh.ensure_schema()
    with wh.transaction() as conn:  # a warehouse built before fingerprints: one succeeded run
        wh.insert_frame(conn, "pipeline_runs", pd.DataFrame({
            "run_id": ["old"], "flow": ["nightly"], "status": ["succeeded"],
            "started_at": [pd.Timestamp("2026-11-01", tz="UTC")]}))
    assert identity.check_key(wh, b"key-A") == "unrecorded"
    assert identity.verify_or_record(wh, b"key-A", "r1") == "adopted"
    with pytest.raises(identity.KeyMismatchError):
        identity.check_key(wh, b"key-B")


def test_preflight_refuses_another_key_before_writing_and_records_why(built, monkeypatch):
    target, wh = built
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", "key-B")
    with pytest.raises(identity.KeyMismatchError):
        preflight("nightly", str(GOLDEN), target.url, _config(target, monkeypatch), "run-x")
    assert state_rows(wh) == 1
    r = runs(wh)
    assert r["status"].tolist() == ["failed"] and r["run_id"][0] == "run-x" and r["flow"][0] == "nightly"
    assert "KeyMismatchError" in r["error"][0]
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", "key-A")
    ready = preflight("nightly", str(GOLDEN), target.url, _config(target, monkeypatch), "run-y")
    assert ready.key_status == "match" and ready.key == b"key-A"


def _config(target, monkeypatch) -> str | None:
    """The target's schema as a config file (PostgreSQL targets use their own schema)."""
    if target.schema == "claimpulse":
        return None
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"cfg_{target.schema}"
    folder.mkdir(exist_ok=True)
    return target.config(folder)


# --------------------------------------------------------------------------- one demo key

def test_only_the_demo_source_may_use_the_demo_key(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLAIMPULSE_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("CLAIMPULSE_SOURCE_URL", raising=False)
    assert resolve_source(None) == ("sqlite:///data/claims_demo.sqlite", True)
    assert resolve_source("sqlite:///data/claims_demo.sqlite")[1]                  # as the Makefile spells it
    assert resolve_source(f"sqlite:///{tmp_path}/data/claims_demo.sqlite")[1]      # absolute, same file
    assert not resolve_source(f"sqlite:///{tmp_path}/other.sqlite")[1]
    assert pseudonym_key(allow_demo=True) == DEMO_KEY
    with pytest.raises(MissingSecretError, match="not set"):
        pseudonym_key(allow_demo=False)
    # the demo key set by hand does not open another source
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", DEMO_KEY.decode())
    with pytest.raises(MissingSecretError, match="only the demo source"):
        pseudonym_key(allow_demo=False)


def test_makefile_sets_no_second_demo_key():
    p = subprocess.run(["make", "-n", "run", "VENV=.venv-none"], capture_output=True, text=True, cwd=REPO)
    assert "claimpulse run" in p.stdout
    assert "PSEUDONYM_KEY" not in p.stdout and "demo-only-key" not in (REPO / "Makefile").read_text()


# --------------------------------------------------------------------------- preflight

def test_config_error_leaves_a_failed_row_when_the_warehouse_exists(built, monkeypatch, tmp_path):
    target, wh = built
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"schema: {target.schema}\ntimezon: Asia/Shanghai\n")
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", "key-A")
    with pytest.raises(ConfigError, match="timezon"):
        preflight("backfill", str(GOLDEN), target.url, str(bad), "run-cfg")
    r = runs(wh)
    assert r[["run_id", "flow", "status"]].values.tolist() == [["run-cfg", "backfill", "failed"]]
    assert "timezon: unknown key" in r["error"][0] and pd.notna(r["finished_at"][0])


def test_config_error_creates_no_warehouse(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("timezon: x\n")
    with pytest.raises(ConfigError):
        preflight("nightly", str(GOLDEN), f"duckdb:///{tmp_path}/sub/w.duckdb", str(bad), "r")
    assert not (tmp_path / "sub").exists()


def test_busy_warehouse_fails_at_once(built, monkeypatch):
    target, wh = built
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", "key-A")
    monkeypatch.delenv("CLAIMPULSE_LOCK_TIMEOUT", raising=False)
    with wh.run_lock("a nightly run in the test"):
        t0 = time.monotonic()
        with pytest.raises(WarehouseLocked, match="busy"):
            preflight("nightly", str(GOLDEN), target.url, _config(target, monkeypatch), "r")
        assert time.monotonic() - t0 < 2
        monkeypatch.setenv("CLAIMPULSE_LOCK_TIMEOUT", "600")  # asked to wait: the flow waits
        assert preflight("nightly", str(GOLDEN), target.url, _config(target, monkeypatch), "r").key_status == "deferred"


@pytest.mark.parametrize("args, env, needles", [
    (["run", "--as-of", "2026-02-30"], {}, ["--as-of must be a date YYYY-MM-DD", "2026-02-30"]),
    (["backfill", "--start", "2026-03-05", "--end", "2026-03-01"], {}, ["--end 2026-03-01 is before --start"]),
    (["backfill", "--start", "yesterday", "--end", "2026-03-01"], {}, ["--start must be a date"]),
    (["run", "--config", "CFG"], {}, ["timezon: unknown key"]),
    (["run"], {"CLAIMPULSE_PSEUDONYM_KEY": None}, ["CLAIMPULSE_PSEUDONYM_KEY is not set"]),
    (["run"], {"CLAIMPULSE_PSEUDONYM_KEY": DEMO_KEY.decode()}, ["only the demo source"]),
    (["run"], {"CLAIMPULSE_PSEUDONYM_KEY": "key-B"}, ["different pseudonym key"]),
    (["backfill", "--start", "2026-03-04", "--end", "2026-03-04"], {"CLAIMPULSE_PSEUDONYM_KEY": "key-B"},
     ["different pseudonym key"]),
])
def test_fast_one_line_failures_before_any_flow(tmp_path, args, env, needles):
    from claimpulse.warehouse import Warehouse

    w = tmp_path / "w.duckdb"
    wh = Warehouse(f"duckdb:///{w}")
    wh.ensure_schema()
    identity.verify_or_record(wh, b"key-A", "r0")
    wh.engine.dispose()
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("timezon: x\n")
    args = [str(cfg) if a == "CFG" else a for a in args]
    p = cli(*args, "--source", str(GOLDEN), "--warehouse", f"duckdb:///{w}",
            env={"CLAIMPULSE_PSEUDONYM_KEY": "key-A", **env})
    one_line_error(p, *needles)
    assert "temporary server" not in p.stdout
    assert p.elapsed < 15, p.elapsed  # Prefect's temporary server alone takes 9-37 s


def test_busy_warehouse_cli_fails_at_once(tmp_path):
    from claimpulse.warehouse import Warehouse

    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    with wh.run_lock("a nightly run held by the test"):
        p = cli("run", "--source", str(GOLDEN), "--warehouse", f"duckdb:///{tmp_path}/w.duckdb",
                env={"CLAIMPULSE_PSEUDONYM_KEY": "key-A", "CLAIMPULSE_LOCK_TIMEOUT": "0"})
    one_line_error(p, "is busy", "a nightly run held by the test")
    assert p.elapsed < 15


# --------------------------------------------------------------------------- report, help, version

def test_report_on_a_missing_warehouse_is_an_error_and_creates_nothing(tmp_path):
    p = cli("report", "--warehouse", "duckdb:////no/such.duckdb", "--out", str(tmp_path / "r.html"))
    one_line_error(p, "/no/such.duckdb", "does not exist")
    assert not Path("/no").exists() and not (tmp_path / "r.html").exists()
    p = cli("report", "--warehouse", f"duckdb:///{tmp_path}/sub/w.duckdb", "--out", str(tmp_path / "r.html"))
    one_line_error(p, "does not exist")
    assert not (tmp_path / "sub").exists() and not (tmp_path / "r.html").exists()


def test_version_and_short_help():
    p = cli("--version")
    assert p.returncode == 0 and p.stdout.strip() == "claimpulse 0.1.0"
    p = cli("-h")
    assert p.returncode == 0
    for command in ("run", "backfill", "status", "quarantine", "check", "report"):
        assert f"\n  {command} " in p.stdout, command
    assert cli("status", "-h").returncode == 0


@pytest.mark.parametrize("command", ["run", "backfill", "report", "status", "quarantine", "check",
                                     "grant-reader", "demo-data"])
def test_flag_help_has_no_bool_and_names_env_and_default(command):
    p = cli(command, "--help")
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    assert "<bool>" not in text
    if "--warehouse" in text:
        assert "$CLAIMPULSE_WAREHOUSE_URL, else duckdb:///data/warehouse.duckdb" in text
    if "--config" in text:
        assert "$CLAIMPULSE_CONFIG, else the shipped defaults" in text
    if command in ("run", "backfill", "check"):
        assert "$CLAIMPULSE_SOURCE_URL, else the demo SQLite file sqlite:///data/claims_demo.sqlite" in text


# --------------------------------------------------------------------------- status, quarantine, check

def test_status_lists_runs_with_mode_counts_duration_and_error():
    from claimpulse.ops import format_status

    base = {f"{t}_{k}": 0 for t in ("claims", "claim_events", "surveys", "complaints", "customer_costs")
            for k in ("read", "accepted", "quarantined", "written")}
    ok = {**base, "run_id": "r2", "flow": "nightly", "status": "succeeded", "error": None,
          "started_at": pd.Timestamp("2026-11-25 02:00:00", tz="UTC"),
          "finished_at": pd.Timestamp("2026-11-25 02:00:12.5", tz="UTC"),
          "partitions": json.dumps(["2026-11-23", "2026-11-24"]), "watermark_before": json.dumps({"claims": "x"}),
          "claims_read": 120, "claims_accepted": 118, "claims_quarantined": 2, "claims_written": 118,
          "surveys_quarantined": 3}
    bad = {**base, "run_id": "r1", "flow": "backfill", "status": "failed", "error": "ConfigError: timezon: unknown key",
           "started_at": pd.Timestamp("2026-11-24 02:00:00", tz="UTC"),
           "finished_at": pd.Timestamp("2026-11-24 02:00:01", tz="UTC"), "partitions": None, "watermark_before": None}
    out = format_status(pd.DataFrame([ok, bad]))
    lines = out.splitlines()
    assert lines[0] == "2026-11-25 02:00:00 UTC  nightly  incremental  succeeded  12.5 s  run r2"
    assert "dates restated: 2 (2026-11-23 … 2026-11-24)" in out
    assert "claims 120/118/2/118" in out and "quarantined rows: 5" in out
    assert "2026-11-24 02:00:00 UTC  backfill  backfill  failed  1.0 s  run r1" in out
    assert "error: ConfigError: timezon: unknown key" in out


def test_quarantine_lists_held_rows_without_personal_fields():
    from claimpulse.ops import format_held, held_rows

    q = pd.DataFrame({
        "run_id": "r", "source_table": ["claims", "surveys", "claims", "claims"],
        "source_key": ["C1", "S1", "C2", "C3"], "claim_id": ["C1", "C1", "C2", "C3"],
        "reasons": ["amount_invalid;currency_missing", "csat_out_of_range", "x_amount_invalid", "amount_invalid"],
        "row_data": ['{"customer_id": "***", "claimed_amount": "abc", "policy_no": "***"}',
                     '{"comment": "***", "csat": "9"}', None, '{"customer_id": "***"}'],
        "quarantined_at": pd.to_datetime(["2026-11-01"] * 4, utc=True),
        "released_at": pd.to_datetime([None, None, None, "2026-11-02"], utc=True),
    })
    rows = held_rows(q, extra_personal=["policy_no"])
    assert rows["source_key"].tolist() == ["C1", "C2", "S1"]  # C3 was released
    data = rows.set_index("source_key")["row_data"]
    assert json.loads(data["C1"]) == {"claimed_amount": "abc"} and json.loads(data["S1"]) == {"csat": "9"}
    assert held_rows(q, reason="amount_invalid")["source_key"].tolist() == ["C1"]   # exact code, not a suffix
    assert held_rows(q, table="surveys")["source_key"].tolist() == ["S1"]
    text = format_held(rows, limit=2)
    assert text.startswith("3 held row(s), first 2 shown") and "customer_id" not in text


def test_check_reports_the_fingerprint_and_runs_nothing(tmp_path):
    from claimpulse.warehouse import Warehouse

    w = tmp_path / "w.duckdb"
    p = cli("check", "--source", str(GOLDEN), "--warehouse", f"duckdb:///{w}", env={"CLAIMPULSE_PSEUDONYM_KEY": "key-A"})
    assert p.returncode == 0, p.stderr
    assert "warehouse: not built yet" in p.stdout and not w.exists()
    assert "source: ok" in p.stdout and "5 claims rows" in p.stdout
    wh = Warehouse(f"duckdb:///{w}")
    wh.ensure_schema()
    identity.verify_or_record(wh, b"key-A", "r0")
    wh.engine.dispose()
    p = cli("check", "--source", str(GOLDEN), "--warehouse", f"duckdb:///{w}", env={"CLAIMPULSE_PSEUDONYM_KEY": "key-A"})
    assert p.returncode == 0 and "key fingerprint: matches the warehouse's" in p.stdout, p.stdout + p.stderr
    p = cli("check", "--source", str(GOLDEN), "--warehouse", f"duckdb:///{w}", env={"CLAIMPULSE_PSEUDONYM_KEY": "key-B"})
    assert "key fingerprint: FAILED" in p.stdout
    one_line_error(p, "check failed: key fingerprint")
    p = cli("check", "--source", str(tmp_path / "nowhere"), "--warehouse", f"duckdb:///{w}",
            env={"CLAIMPULSE_PSEUDONYM_KEY": "key-A"})
    assert "source: FAILED: source folder not found" in p.stdout
    one_line_error(p, "check failed: source")
    wh = Warehouse(f"duckdb:///{w}")
    assert runs(wh).empty  # nothing ran, nothing was recorded


# --------------------------------------------------------------------------- source_encoding per table

def test_source_encoding_per_table(tmp_path):
    from claimpulse.extract import open_source, read_table
    from claimpulse.schema import SOURCE_TABLES

    src = tmp_path / "src"
    shutil.copytree(GOLDEN, src)
    (src / "surveys.csv").write_bytes((GOLDEN / "surveys.csv").read_text(encoding="utf-8").encode("gb18030"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("source_encoding: {default: utf-8, surveys: gb18030}\n")
    settings = load_config(cfg)
    assert settings.source_encodings() == {t: ("gb18030" if t == "surveys" else "utf-8") for t in SOURCE_TABLES}
    source = open_source(str(src), settings.source_encodings())
    surveys = read_table(source, SOURCE_TABLES["surveys"], settings.source_timezone)
    assert "很满意" in surveys.raw["comment"].tolist()
    claims = read_table(source, SOURCE_TABLES["claims"], settings.source_timezone)
    assert len(claims.typed) == 5
    # the plain form still means every table
    assert default_settings(source_encoding="gb18030").source_encodings()["claims"] == "gb18030"
    with pytest.raises(ConfigError, match="source_encoding.*surveyz"):
        cfg.write_text("source_encoding: {surveyz: gb18030}\n")
        load_config(cfg)
    with pytest.raises(ConfigError, match="source_encoding.*klingon"):
        cfg.write_text("source_encoding: {surveys: klingon}\n")
        load_config(cfg)
