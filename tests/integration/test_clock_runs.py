"""Service clocks through real runs: the golden-clocks example through the nightly flow, incremental
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

from claimpulse.warehouse import Warehouse

from ..conftest import GOLDEN_CLOCKS
from ..helpers.warehouses import assert_same_table, make_target, read

pytestmark = pytest.mark.slow

AS_OF = dt.date(2026, 11, 30)
CLOCK_TABLES = ("fact_claim_event", "fact_claim_clock", "daily_clock_attainment", "clock_watchlist")


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


def nightly(source, url, config, as_of, reconcile=False):
    from flows.nightly import nightly as flow

    return flow(source_url=str(source), warehouse_url=url, config_path=config, as_of=as_of,
                reconcile=reconcile)


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


def test_golden_clocks_through_the_nightly_flow(harness, tmp_path, pseudonym_env, warehouse_target):
    """On DuckDB and on PostgreSQL: both must equal the hand-worked example."""
    src = golden_source(tmp_path)
    t = warehouse_target
    result = nightly(src, t.url, config_for(tmp_path, t.schema), AS_OF)
    assert result["mode"] == "full"
    wh = t.warehouse()
    got = clock_tables(wh)

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
    with wh.transaction() as conn:
        runs = wh.read_table(conn, "pipeline_runs")
    assert runs["as_of_date"].tolist() == [AS_OF]
    assert '"chinesecalendar"' in runs["calendar_versions"].iloc[0]
    assert runs["clock_rows_written"].iloc[0] == len(fact_exp)


# --------------------------------------------------------------------------- incremental = full

def same_clock_tables(a, b, tables=CLOCK_TABLES[1:]) -> None:
    for table in tables:
        assert_same_table(read(a, table), read(b, table), table)


def duck(folder: Path, name: str):
    from ..helpers.warehouses import Target

    return Target("duckdb", f"duckdb:///{folder / name}.duckdb", "claimpulse")


def statuses(target) -> dict:
    df = read(target, "fact_claim_clock")
    return dict(zip(df["clock_id"] + "/" + df["subject_id"], df["status"]))


def test_as_of_moving_without_source_change_equals_a_full_run(harness, tmp_path, pseudonym_env):
    """Run at D1, then at D2 with no source change: equal to a fresh full run at D2 — clocks
    running at D1 stop, start or go overdue only because time passed."""
    src, cfg = golden_source(tmp_path), config_for(tmp_path)
    d1 = dt.date(2026, 10, 15)
    inc, fresh = duck(tmp_path, "inc"), duck(tmp_path, "fresh")
    nightly(src, inc.url, cfg, d1)
    at_d1 = statuses(inc)
    second = nightly(src, inc.url, cfg, AS_OF)
    assert second["mode"] == "incremental" and second["dates"] == []   # no source row changed
    nightly(src, fresh.url, cfg, AS_OF)
    same_clock_tables(inc, fresh)
    at_d2 = statuses(inc)
    # K1 was decided on 10-16: running at D1, met at D2; K4 accepted on 10-20: no clock at D1
    assert at_d1["cn_art23_decide_30d/K1"] == "running" and at_d2["cn_art23_decide_30d/K1"] == "met"
    assert "cn_art23_decide_30d/K4" not in at_d1 and at_d2["cn_art23_decide_30d/K4"] == "overdue"
    assert set(read(inc, "fact_claim_clock")["as_of_date"]) == {AS_OF}
    # and back in time: an earlier as-of re-evaluates every clock (the stopped ones too)
    nightly(src, inc.url, cfg, d1)
    nightly(src, fresh.url, cfg, d1)
    same_clock_tables(inc, fresh)
    assert statuses(inc) == at_d1


def test_demo_source_incremental_and_corrections_equal_full(harness, tmp_path, pseudonym_env):
    """Default config (CN pack), demo data: D1, then D2 after corrections, equals a fresh run."""
    import numpy as np

    from ..helpers.sources import Source

    src = Source(tmp_path / "s.sqlite", n_claims=400, days=60, seed=41)
    today = pd.Timestamp.now(tz="Asia/Shanghai").date()
    inc, fresh = duck(tmp_path, "inc"), duck(tmp_path, "fresh")
    nightly(src.url, inc.url, None, today - dt.timedelta(days=12))
    rng = np.random.default_rng(3)
    for kind in ("move_milestone", "new_claim", "change_dimension", "hard_delete_complaint"):
        getattr(src, kind)(rng)
    src.save()
    # a hard delete is the reconciliation's to find (a nightly run reads only changed rows)
    assert nightly(src.url, inc.url, None, today, reconcile=True)["mode"] == "reconcile"
    nightly(src.url, fresh.url, None, today)
    same_clock_tables(inc, fresh, CLOCK_TABLES)
    counts = read(fresh, "fact_claim_clock")["status"].value_counts()
    assert counts.get("met", 0) > 0 and counts.get("running", 0) + counts.get("paused", 0) > 0


# --------------------------------------------------------------------------- backfill

def test_backfill_gives_the_clock_rows_of_a_full_run(harness, tmp_path, pseudonym_env):
    from flows.backfill import backfill

    src, cfg = golden_source(tmp_path), config_for(tmp_path)
    full = duck(tmp_path, "full")
    nightly(src, full.url, cfg, AS_OF)
    # the whole span on an empty warehouse ...
    bf = duck(tmp_path, "bf")
    backfill(start=dt.date(2026, 8, 1), end=AS_OF, source_url=str(src), warehouse_url=bf.url,
             config_path=cfg, as_of=AS_OF)
    same_clock_tables(bf, full, CLOCK_TABLES)
    # ... and a few dates restated on top of a full run change nothing
    again = duck(tmp_path, "again")
    nightly(src, again.url, cfg, AS_OF)
    backfill(start=dt.date(2026, 10, 8), end=dt.date(2026, 10, 16), source_url=str(src),
             warehouse_url=again.url, config_path=cfg, as_of=AS_OF)
    same_clock_tables(again, full, CLOCK_TABLES)


# --------------------------------------------------------------------------- backends

@pytest.mark.postgres
def test_postgres_and_duckdb_give_the_same_clock_tables(harness, tmp_path, pseudonym_env):
    from ..helpers.sources import Source

    src = Source(tmp_path / "s.sqlite", n_claims=300, days=45, seed=8)
    as_of = pd.Timestamp.now(tz="Asia/Shanghai").date()
    with make_target("duckdb", tmp_path) as d, make_target("postgres", tmp_path) as p:
        for t in (d, p):
            nightly(src.url, t.url, t.config(tmp_path), as_of)
        same_clock_tables(d, p, CLOCK_TABLES)


# --------------------------------------------------------------------------- migration 0003

def downgrade_to_0001(wh: Warehouse) -> None:
    """What a warehouse written before revision 0003 looks like: no clock tables or columns."""
    from importlib import import_module

    m = import_module("claimpulse.migrations.versions.0003_service_clocks")
    with wh.transaction() as conn:
        for t in m.NEW_TABLES:
            conn.exec_driver_sql(f"DROP TABLE {wh.table(t)}")
        for c in m.NEW_RUN_COLUMNS:
            conn.exec_driver_sql(f'ALTER TABLE {wh.table("pipeline_runs")} DROP COLUMN "{c}"')
        conn.exec_driver_sql(f"UPDATE {wh.table('alembic_version')} SET version_num = '0001'")


def test_a_warehouse_at_0001_is_upgraded_in_place_and_rebuilt(harness, tmp_path, pseudonym_env,
                                                               warehouse_target):
    from claimpulse import migrations

    src, t = golden_source(tmp_path), warehouse_target
    cfg = config_for(tmp_path, t.schema)
    nightly(src, t.url, cfg, AS_OF)
    wh = t.warehouse()
    downgrade_to_0001(wh)
    assert wh.schema_revision() == "0001" and wh.watermarks()
    facts_before = read(t, "fact_claim_service")

    result = nightly(src, t.url, cfg, AS_OF)
    assert wh.schema_revision() == migrations.head()
    # the watermarks were reset, so the run rebuilt every claim from the source ...
    assert result["mode"] == "full"
    assert_same_table(read(t, "fact_claim_service"), facts_before, "fact_claim_service")
    # ... filling the events and every clock
    fresh = duck(tmp_path, "fresh")
    nightly(src, fresh.url, config_for(tmp_path), AS_OF)
    same_clock_tables(t, fresh, CLOCK_TABLES)
    with wh.transaction() as conn:
        runs = wh.read_table(conn, "pipeline_runs").sort_values("started_at")
    assert len(runs) == 2 and runs["as_of_date"].isna().tolist() == [True, False]
