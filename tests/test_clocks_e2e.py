"""Service clocks end to end: the golden-clocks example through the nightly flow, incremental
runs as the as-of date moves, backfills, and DuckDB = PostgreSQL.

The golden example (tests/golden-clocks, a copy of the spec's hand-worked example) is run as a
CSV source with its config.yaml and --as-of 2026-11-30; fact_claim_clock, the ALL/ALL/ALL rows
of daily_clock_attainment and clock_watchlist must equal its expected CSVs exactly.
"""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from prefect.testing.utilities import prefect_test_harness

from claimpulse.warehouse import Warehouse

from .warehouses import assert_same_table, make_target, read

pytestmark = pytest.mark.slow

GOLDEN_CLOCKS = Path(__file__).resolve().parent / "golden-clocks"
AS_OF = dt.date(2026, 11, 30)
CLOCK_TABLES = ("fact_claim_event", "fact_claim_clock", "daily_clock_attainment", "clock_watchlist")


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def golden_source(folder: Path) -> Path:
    """The golden CSVs without the config and expected files (a clean source folder)."""
    src = folder / "golden-clocks-src"
    src.mkdir()
    for t in ("claims", "claim_events", "complaints", "surveys", "customer_costs"):
        shutil.copy(GOLDEN_CLOCKS / f"{t}.csv", src / f"{t}.csv")
    return src


def config_for(folder: Path, schema: str = "claimpulse") -> str:
    path = folder / f"golden-clocks-{schema}.yaml"
    path.write_text((GOLDEN_CLOCKS / "config.yaml").read_text(encoding="utf-8") + f"schema: {schema}\n",
                    encoding="utf-8")
    return str(path)


def nightly(source, url, config, as_of):
    from flows.nightly import nightly as flow

    return flow(source_url=str(source), warehouse_url=url, config_path=config, as_of=as_of)


def expected(name: str) -> list[dict]:
    df = pd.read_csv(GOLDEN_CLOCKS / name, dtype=str, keep_default_na=False)
    return [{k: str(v) for k, v in r.items()} for r in df.to_dict("records")]


def as_text(df: pd.DataFrame, expected_rows: list[dict]) -> list[dict]:
    """Warehouse rows rendered as the golden CSVs write them (empty = null), their columns only."""
    cols = list(expected_rows[0])

    def text(v, is_float):
        if v is None or v is pd.NA or (not isinstance(v, str) and pd.isna(v)):
            return ""
        return repr(float(v)) if is_float else str(v)

    floats = {c: pd.api.types.is_float_dtype(df[c]) for c in cols}
    return [{c: text(r[c], floats[c]) for c in cols} for r in df.to_dict("records")]


def clock_tables(wh: Warehouse) -> dict[str, pd.DataFrame]:
    with wh.transaction() as conn:
        return {t: wh.read_table(conn, t) for t in CLOCK_TABLES}


def test_golden_clocks_through_the_nightly_flow(harness, tmp_path, pseudonym_env):
    src = golden_source(tmp_path)
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    result = nightly(src, url, config_for(tmp_path), AS_OF)
    assert result["mode"] == "full"
    got = clock_tables(Warehouse(url))

    fact_exp = expected("expected_fact_claim_clock.csv")
    fact = got["fact_claim_clock"].sort_values(["clock_id", "subject_id"]).reset_index(drop=True)
    assert as_text(fact, fact_exp) == fact_exp
    assert set(fact["as_of_date"]) == {AS_OF}

    att_exp = expected("expected_daily_clock_attainment_all.csv")
    att = got["daily_clock_attainment"]
    att = att[(att["product_line"] == "ALL") & (att["channel"] == "ALL") & (att["region"] == "ALL")]
    att = att.sort_values(["metric_date", "clock_id"]).reset_index(drop=True)
    assert as_text(att, att_exp) == att_exp

    watch_exp = expected("expected_clock_watchlist.csv")
    watch = got["clock_watchlist"].sort_values(["clock_id", "subject_id"]).reset_index(drop=True)
    assert as_text(watch, watch_exp) == watch_exp

    # every accepted event is kept for later re-evaluation, and the run records its as-of date
    assert len(got["fact_claim_event"]) == len(pd.read_csv(GOLDEN_CLOCKS / "claim_events.csv"))
    wh = Warehouse(url)
    with wh.transaction() as conn:
        runs = wh.read_table(conn, "pipeline_runs")
    assert runs["as_of_date"].tolist() == [AS_OF]
    assert '"chinesecalendar"' in runs["calendar_versions"].iloc[0]
    assert runs["clock_rows_written"].iloc[0] == len(fact_exp)
