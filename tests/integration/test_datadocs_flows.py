"""Data Docs from the nightly flow (under the session's Prefect harness): built for the run,
made offline, linked from the run summary with the HTML report; or turned off. The Data Docs
site on its own: tests/unit/test_datadocs.py."""
from __future__ import annotations

import pytest

from claimpulse.schema import TABLE_ORDER

from ..conftest import GOLDEN


@pytest.mark.slow
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
    run_id = result["run_id"]

    index = docs / "index.html"
    assert index.is_file()
    for t in TABLE_ORDER:
        (page,) = (docs / "validations" / t / run_id).glob("*/*.html")
        text = page.read_text(encoding="utf-8")
        assert run_id in text and "__none__" not in text
        assert "https://cdn" not in text and "https://unpkg" not in text   # made offline
    assert run_id in index.read_text(encoding="utf-8")

    assert report.is_file() and report.stat().st_size > 0
    md = result["summary"]
    assert "## Links" in md
    assert index.resolve().as_uri() in md
    assert report.resolve().as_uri() in md


@pytest.mark.slow
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
