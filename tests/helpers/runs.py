"""The `claimpulse` command line as a subprocess, the nightly flow in-process, and warehouse
snapshots: shared by the fault, security and file-source tests.

`cli_env()` is the environment the CLI subprocesses get (a pseudonym key, none of the
CLAIMPULSE_* URLs of the caller); the `api_env` fixture of tests/conftest.py adds the session
harness's PREFECT_API_URL, so those runs report to it instead of starting a temporary server
each.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pandas as pd

from ..conftest import REPO

CLI = str(Path(sys.executable).with_name("claimpulse"))
SCHEMA = "claimpulse"


def cli_env(**extra) -> dict:
    env = {**os.environ, "CLAIMPULSE_PSEUDONYM_KEY": "faults-key", "PYTHONUNBUFFERED": "1"}
    for k in ("CLAIMPULSE_SOURCE_URL", "CLAIMPULSE_WAREHOUSE_URL", "CLAIMPULSE_CONFIG",
              "CLAIMPULSE_LOCK_TIMEOUT"):
        env.pop(k, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def cli(*args, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True,
                          env=env or cli_env(), cwd=REPO, timeout=timeout)


def start_cli(*args, env: dict | None = None, out_dir: Path | None = None, name: str = "run"):
    """A `claimpulse` subprocess in its own process group (so a kill takes its Prefect server
    with it); stdout/stderr go to files (no pipe can fill up and stall it)."""
    out_dir = Path(out_dir or tempfile.mkdtemp())
    out, err = open(out_dir / f"{name}.out", "w+"), open(out_dir / f"{name}.err", "w+")
    p = subprocess.Popen([CLI, *map(str, args)], stdout=out, stderr=err, text=True,
                         env=env or cli_env(), cwd=REPO, start_new_session=True)
    p._files = (out, err)  # type: ignore[attr-defined]
    return p


def finish(p, timeout: float = 600) -> subprocess.CompletedProcess:
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(p)
        raise
    out, err = p._files
    texts = []
    for f in (out, err):
        f.flush()
        f.seek(0)
        texts.append(f.read())
        f.close()
    return subprocess.CompletedProcess(p.args, p.returncode, texts[0], texts[1])


def kill_group(p) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def run_many(cmds: dict[str, list], env: dict | None = None, envs: dict | None = None
             ) -> dict[str, subprocess.CompletedProcess]:
    """Run several `claimpulse` commands at once (each its own warehouse); wait for all."""
    out_dir = Path(tempfile.mkdtemp())
    procs = {name: start_cli(*args, env=(envs or {}).get(name, env), out_dir=out_dir, name=name)
             for name, args in cmds.items()}
    return {name: finish(p) for name, p in procs.items()}


def snapshot(db: Path) -> dict[str, pd.DataFrame]:
    """Every table of the warehouse schema, rows in a canonical order."""
    db = Path(db)
    if not db.exists():
        return {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
            "ORDER BY 1", [SCHEMA]).fetchall()]
        return {t: con.execute(f'SELECT * FROM {SCHEMA}."{t}" ORDER BY ALL').df() for t in names}
    finally:
        con.close()


def one_line_error(p: subprocess.CompletedProcess) -> str:
    assert p.returncode != 0, p.stdout[-2000:]
    err = p.stderr.strip()
    assert err.startswith("claimpulse: error: "), err
    assert "\n" not in err, err
    assert "Traceback" not in err
    return err


def copy_folder(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def copy_db(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    return dst


def nightly_state(source, wh: Path, config=None):
    from flows.nightly import nightly

    return nightly(source_url=str(source), warehouse_url=f"duckdb:///{wh}",
                   config_path=str(config) if config else None, return_state=True)
