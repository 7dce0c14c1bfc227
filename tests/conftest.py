"""Shared fixtures for tests/unit, tests/integration and tests/e2e. Small data is built in code;
the golden examples (tests/golden, tests/golden-clocks) are copies of the spec's. Shared helpers
that are not fixtures live in tests/helpers/."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import pytest  # noqa: E402

# tests/helpers/ holds assertions moved out of test modules: keep pytest's detailed messages.
pytest.register_assert_rewrite("tests.helpers")

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO.parent / "shared" / "spec"
# A copy of ../shared/spec/golden (the hand-worked example), vendored so the suite is
# self-contained; test_golden_copy_matches_spec checks it against the spec when present.
GOLDEN = REPO / "tests" / "golden"
GOLDEN_CLOCKS = REPO / "tests" / "golden-clocks"   # the same for service clocks (CLOCKS.md)
REALDATA = REPO.parent / "shared" / "realdata"
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(ok: bool, what: str) -> None:
    """Skip with a clear reason when a real server does not answer — but fail under CI=true."""
    if ok:
        return
    if CI:
        pytest.fail(f"{what} is required under CI=true but did not answer")
    pytest.skip(f"{what} did not answer; start it to run this test")


def load_typed_csv(folder: Path, table: str):
    """A hand-worked golden CSV as the accepted-frame dtypes of claimpulse.schema
    (empty cell = null)."""
    import pandas as pd

    from claimpulse.schema import DECIMAL, INTEGER, SOURCE_TABLES, TEXT, TIMESTAMP

    raw = pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False, encoding="utf-8")
    out = pd.DataFrame(index=raw.index)
    for col, kind in SOURCE_TABLES[table].columns.items():
        values = raw[col].replace("", None) if col in raw else pd.Series([None] * len(raw), dtype=object)
        if kind == TEXT:
            out[col] = values.astype("string")
        elif kind == DECIMAL:
            out[col] = pd.to_numeric(values).astype("float64")
        elif kind == INTEGER:
            out[col] = pd.to_numeric(values).astype("Int64")
        elif kind == TIMESTAMP:
            out[col] = pd.to_datetime(values, utc=True, format="ISO8601")
    return out


@pytest.fixture
def pseudonym_env(monkeypatch):
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", "test-key")
    return b"test-key"


# Warehouse backends (DuckDB file, PostgreSQL schema) and MariaDB source databases.
from .helpers.warehouses import mariadb_database, pg_target, warehouse_target  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _run_outputs_in_tmp(tmp_path, monkeypatch):
    """Runs write Data Docs and the HTML report; keep them out of the checkout's data/."""
    if "CLAIMPULSE_DOCS_DIR" not in os.environ:
        monkeypatch.setenv("CLAIMPULSE_DOCS_DIR", str(tmp_path / "_docs"))
    if "CLAIMPULSE_REPORT_PATH" not in os.environ:
        monkeypatch.setenv("CLAIMPULSE_REPORT_PATH", str(tmp_path / "_report.html"))


@pytest.fixture(scope="session")
def harness():
    """Prefect's test harness (a temporary API server on SQLite) for the whole session: every
    test that runs a flow in this process asks for it, and it starts once, on first use.

    Its runs, logs and artifacts pile up over the session: a test that reads them back filters
    by its own flow run ids. It changes Prefect's settings in this process only, not
    os.environ, so a `claimpulse` subprocess still starts its own temporary server unless it
    is given `api_env` (checked here: the e2e tests rely on it)."""
    from prefect.testing.utilities import prefect_test_harness

    def prefect_env() -> dict:
        return {k: v for k, v in os.environ.items() if k.startswith("PREFECT_")}

    before = prefect_env()
    with prefect_test_harness(server_startup_timeout=180):
        assert prefect_env() == before, "the Prefect harness changed os.environ"
        yield


@pytest.fixture(scope="module")
def api_env(harness) -> dict:
    """Environment for CLI subprocesses that report to the harness's Prefect server (as a
    deployment reports to its server) instead of starting a temporary one each: half the CPU."""
    from prefect.settings import PREFECT_API_URL

    from .helpers.runs import cli_env

    return cli_env(PREFECT_API_URL=PREFECT_API_URL.value())


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real `prefect server` on loopback for the session; yields the environment (with
    PREFECT_API_URL) that subprocesses use to talk to it."""
    from .helpers.prefect_server import ServerDidNotStart, prefect_server

    try:
        with prefect_server(tmp_path_factory.mktemp("prefect_home"), timeout_s=120) as env:
            yield env
    except ServerDidNotStart as exc:
        pytest.fail(f"prefect server did not start: {exc}")
