"""The flows' side of the operator guards (Prefect test harness): --as-of, the backfill
summary of its range, a backfill with no data, another key refused inside a flow."""
from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pytest

from ..conftest import GOLDEN

pytestmark = pytest.mark.slow


def q(path, sql):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_as_of_reaches_the_run_and_defaults_to_the_local_date(harness, tmp_path, pseudonym_env):
    from flows.nightly import nightly

    wh = f"duckdb:///{tmp_path}/w.duckdb"
    res = nightly(source_url=str(GOLDEN), warehouse_url=wh, as_of=dt.date(2026, 3, 10))
    assert res["as_of"] == "2026-03-10"
    res = nightly(source_url=str(GOLDEN), warehouse_url=wh)
    from zoneinfo import ZoneInfo

    assert res["as_of"] == dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def test_backfill_summary_describes_its_range(harness, tmp_path, pseudonym_env):
    from flows.backfill import backfill

    w = tmp_path / "w.duckdb"
    res = backfill(start=dt.date(2026, 3, 4), end=dt.date(2026, 3, 5), source_url=str(GOLDEN),
                   warehouse_url=f"duckdb:///{w}")
    md = res["summary"]
    assert "watermark" not in md
    assert "Why: backfill of 2026-03-04..2026-03-05 requested: 2 partition(s), 2 computed." in md
    assert "## Headline metrics, 2026-03-04 … 2026-03-05 (all claims)" in md
    # the range as one cohort: golden closes 3 claims on 03-04 and 1 on 03-05
    assert "| Closed claims | 4 |" in md
    days = q(w, "SELECT report_to_close_days FROM claimpulse.fact_claim_service "
                "WHERE closed_date BETWEEN DATE '2026-03-04' AND DATE '2026-03-05'")["report_to_close_days"]
    assert len(days) == 4
    assert f"| Report → close, median (days) | {np.percentile(days, 50):.2f} |" in md
    assert f"| Report → close, p90 (days) | {np.percentile(days, 90):.2f} |" in md
    assert res["warnings"] == []


def test_backfill_over_a_range_without_data_warns(harness, tmp_path, pseudonym_env):
    from flows.backfill import backfill

    res = backfill(start=dt.date(2020, 1, 1), end=dt.date(2020, 1, 3), source_url=str(GOLDEN),
                   warehouse_url=f"duckdb:///{tmp_path}/w.duckdb")
    assert res["warnings"] and res["warnings"][0].startswith("no source data in 2020-01-01..2020-01-03")
    assert "## Warnings" in res["summary"] and "no source data" in res["summary"]
    assert sum(res["written"].values()) == 0


def test_a_flow_with_another_key_is_refused_before_it_writes(harness, tmp_path, monkeypatch):
    """The deployment path: the flow itself checks the key's fingerprint."""
    from flows.nightly import nightly

    w = tmp_path / "w.duckdb"
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", "key-A")
    assert nightly(source_url=str(GOLDEN), warehouse_url=f"duckdb:///{w}", return_state=True).is_completed()
    before = q(w, "SELECT claim_id, customer_key FROM claimpulse.fact_claim_service ORDER BY ALL")
    changed = tmp_path / "src"
    changed.mkdir()
    for f in GOLDEN.glob("*.csv"):  # a changed claim: the run would rewrite its customer_key
        (changed / f.name).write_text(f.read_text(encoding="utf-8").replace(
            "2026-03-06T10:00:00+08:00", "2026-03-06T10:00:01+08:00"), encoding="utf-8")
    monkeypatch.setenv("CLAIMPULSE_PSEUDONYM_KEY", "key-B")
    state = nightly(source_url=str(changed), warehouse_url=f"duckdb:///{w}", return_state=True)
    assert state.is_failed()
    after = q(w, "SELECT claim_id, customer_key FROM claimpulse.fact_claim_service ORDER BY ALL")
    assert after.equals(before)
    runs = q(w, "SELECT status, error FROM claimpulse.pipeline_runs ORDER BY started_at")
    assert runs["status"].tolist() == ["succeeded", "failed"]
    assert "different pseudonym key" in runs["error"].iloc[-1]
