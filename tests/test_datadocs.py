"""The nightly flow builds the run's GX Data Docs and HTML report and links both in its summary."""
from __future__ import annotations

import re

import pytest
from prefect.testing.utilities import prefect_test_harness

from claimpulse.schema import TABLE_ORDER

from .conftest import GOLDEN

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_nightly_builds_data_docs_and_report(harness, tmp_path, monkeypatch):
    from flows.nightly import nightly

    docs, report = tmp_path / "docs", tmp_path / "out" / "report.html"
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", "test-key")
    monkeypatch.setenv("CLAIMPULSE_DOCS_DIR", str(docs))
    monkeypatch.setenv("CLAIMPULSE_REPORT_PATH", str(report))
    monkeypatch.delenv("CLAIMPULSE_DATA_DOCS", raising=False)

    state = nightly(source_url=str(GOLDEN), warehouse_url=f"duckdb:///{tmp_path / 'w.duckdb'}",
                    return_state=True)
    assert state.is_completed()
    result = state.result()

    run_dirs = list((docs / "validations").iterdir())
    assert len(run_dirs) == 1 and run_dirs[0].name == result["run_id"]
    index = run_dirs[0] / "index.html"
    assert index.is_file() and (docs / "index.html").is_file()
    hrefs = re.findall(r'href="([^"]+)"', index.read_text())
    assert sorted(hrefs) == sorted(f"{t}.html" for t in TABLE_ORDER)
    for href in hrefs:
        assert (run_dirs[0] / href).is_file()
    claims_page = (run_dirs[0] / "claims.html").read_text()
    assert "expect_column_values_to_not_be_null(claim_id)" in claims_page
    assert "Validation Results" in claims_page or "Overview" in claims_page  # GX's own page

    assert report.is_file() and report.stat().st_size > 0
    md = result["summary"]
    assert "## Links" in md
    assert index.resolve().as_uri() in md
    assert report.resolve().as_uri() in md


def test_data_docs_can_be_turned_off(harness, tmp_path, monkeypatch):
    from flows.nightly import nightly

    docs, report = tmp_path / "docs", tmp_path / "report.html"
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", "test-key")
    monkeypatch.setenv("CLAIMPULSE_DOCS_DIR", str(docs))
    monkeypatch.setenv("CLAIMPULSE_REPORT_PATH", str(report))
    monkeypatch.setenv("CLAIMPULSE_DATA_DOCS", "0")

    result = nightly(source_url=str(GOLDEN), warehouse_url=f"duckdb:///{tmp_path / 'w.duckdb'}")
    assert not docs.exists()
    assert report.is_file()
    assert "Data Docs" not in result["summary"] and report.resolve().as_uri() in result["summary"]
