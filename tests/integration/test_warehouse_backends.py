"""The nightly flow end to end on DuckDB and on a real PostgreSQL, with identical results.

Every run goes through `flows.nightly.nightly` under Prefect's test harness. PostgreSQL
runs get a fresh schema each (tests/helpers/warehouses.py) and are marked `postgres`.
"""
from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import threading
import time
from contextlib import ExitStack

import numpy as np
import pandas as pd
import pytest

from claimpulse import demo
from claimpulse.dim_date import build_dim_date

from ..conftest import GOLDEN
from ..helpers.golden import _expected, _parse, _same
from ..helpers.warehouses import (BACKENDS, assert_same_table, assert_same_warehouse, make_target,
                                  pg_engine, read)

pytestmark = pytest.mark.slow

DEMO_END = dt.date(2026, 3, 1)  # fixed, so the demo data never depends on today


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def harness(harness):
    """The session's Prefect harness (tests/conftest.py), with this module's pseudonym key set
    for the whole module: `loaded` runs flows before any function-scoped fixture could set it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLAIMPULSE_PSEUDONYM_KEY", "backend-test-key")
        yield harness


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("demo-source") / "s.sqlite"
    demo.write_demo(f"sqlite:///{path}", n_claims=2000, days=40, seed=3, end=DEMO_END)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def loaded(harness, tmp_path_factory, demo_source):
    """get(source, backend) -> (target, flow result): one nightly run each, made on first use."""
    from flows.nightly import nightly

    cache: dict = {}
    with ExitStack() as stack:
        def get(source: str, backend: str):
            if (source, backend) not in cache:
                folder = tmp_path_factory.mktemp(f"{source}-{backend}")
                target = stack.enter_context(make_target(backend, folder))
                url = str(GOLDEN) if source == "golden" else demo_source
                result = nightly(source_url=url, warehouse_url=target.url,
                                 config_path=target.config(folder))
                cache[(source, backend)] = (target, result)
            return cache[(source, backend)]

        yield get


# --------------------------------------------------------------------------- golden


@pytest.mark.parametrize("backend", BACKENDS)
def test_golden_numbers(loaded, backend):
    target, result = loaded("golden", backend)
    assert result["dates"] == ["2026-03-04", "2026-03-05", "2026-03-06"]
    daily = read(target, "daily_service_metrics")
    exp = _expected("expected_daily_service_metrics.csv")
    keys = ["metric_date", "product_line", "channel", "region"]
    got = daily.assign(_k=[tuple(str(v) for v in r) for r in daily[keys].itertuples(index=False)]).set_index("_k")
    assert sorted(got.index) == sorted(tuple(r) for r in exp[keys].itertuples(index=False))
    for _, row in exp.iterrows():
        k = tuple(row[keys])
        for col in exp.columns:
            actual = got.at[k, col]
            if isinstance(actual, (np.floating, np.integer)):
                actual = float(actual)
            if isinstance(actual, np.bool_):
                actual = bool(actual)
            _same(actual, _parse(col, row[col]), f"{backend}:{k}.{col}")

    fact = read(target, "fact_claim_service").set_index("claim_id")
    exp = _expected("expected_fact_measures.csv")
    for _, row in exp.iterrows():
        for col in exp.columns[1:]:
            actual = fact.at[row["claim_id"], col]
            if isinstance(actual, (np.floating, np.integer)):
                actual = float(actual)
            if isinstance(actual, np.bool_):
                actual = bool(actual)
            _same(actual, _parse(col, row[col]), f"{backend}:{row['claim_id']}.{col}")
    runs = read(target, "pipeline_runs")
    assert runs["status"].tolist() == ["succeeded"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_dim_date_spans_the_data(loaded, backend):
    target, _ = loaded("golden", backend)
    dim = read(target, "dim_date")
    fact = read(target, "fact_claim_service")
    local = fact["reported_at"].dt.tz_convert("Asia/Shanghai").dt.date
    daily = read(target, "daily_service_metrics")
    lo = min(local.min(), daily["metric_date"].min(), fact["closed_date"].dropna().min())
    hi = max(local.max(), daily["metric_date"].max(), fact["closed_date"].dropna().max())
    assert lo == dt.date(2026, 2, 20) and hi == dt.date(2026, 3, 6)  # B reported 02-20; S3 03-06
    assert dim["date"].tolist() == [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]
    assert_same_table(dim, build_dim_date(lo, hi), "dim_date")


# --------------------------------------------------------------------------- DuckDB == PostgreSQL


@pytest.mark.postgres
@pytest.mark.parametrize("source", ["golden", "demo"])
def test_duckdb_and_postgres_agree(loaded, source):
    duck, r1 = loaded(source, "duckdb")
    pg, r2 = loaded(source, "postgres")
    assert r1["written"] == r2["written"]
    if source == "demo":
        assert r1["written"]["fact_claim_service"] > 1500
        assert r1["written"]["daily_service_metrics"] > 1000
    assert_same_warehouse(duck, pg)
    # quarantine: same rows, same reasons (run ids and times differ)
    qd, qp = (read(t, "dq_quarantine").drop(columns=["quarantined_at"])
              .sort_values(["source_table", "source_key", "reasons"]).reset_index(drop=True)
              for t in (duck, pg))
    assert_same_table(qd, qp, "dq_quarantine")


# --------------------------------------------------------------------------- restatement + readers


def _ts_local(ts: pd.Timestamp) -> str:
    return ts.tz_convert("Asia/Shanghai").strftime("%Y-%m-%dT%H:%M:%S+08:00")


def change_source(path) -> dict:
    """Late and corrected rows, a fixed bad row and a hard delete, all with a new updated_at."""
    new_upd = _ts_local(pd.Timestamp.now(tz="UTC").floor("s"))
    con = sqlite3.connect(path)
    try:
        cur = con.cursor()
        paid = [r[0] for r in cur.execute(
            "SELECT claim_id FROM claims WHERE outcome = 'paid' ORDER BY claim_id LIMIT 25")]
        cur.executemany("UPDATE claims SET paid_amount = paid_amount + 10.25, updated_at = ? "
                        "WHERE claim_id = ?", [(new_upd, c) for c in paid])
        # a corrected close: 15 claims close one day later (their old and new dates restate)
        closed = cur.execute("SELECT event_id, occurred_at FROM claim_events WHERE event_type = 'closed' "
                             "ORDER BY event_id LIMIT 15").fetchall()
        for event_id, occurred in closed:
            later = (pd.Timestamp(occurred) + pd.Timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
            cur.execute("UPDATE claim_events SET occurred_at = ?, updated_at = ? WHERE event_id = ?",
                        (later, new_upd[:19].replace("T", " "), event_id))
        # a bad product line fixed: its quarantine row is released (UPDATE ... released_at)
        bad = [r[0] for r in cur.execute(
            f"SELECT claim_id FROM claims WHERE product_line IN {tuple(demo.BAD_PRODUCT_LINES)!r}")]
        assert bad
        cur.executemany("UPDATE claims SET product_line = 'auto', updated_at = ? WHERE claim_id = ?",
                        [(new_upd, c) for c in bad])
        # late surveys on closed claims
        late = [r[0] for r in cur.execute(
            "SELECT claim_id FROM claims WHERE outcome IS NOT NULL ORDER BY claim_id DESC LIMIT 5")]
        cur.executemany(
            "INSERT INTO surveys (response_id, claim_id, responded_at, csat, nps, effort, comment, "
            "updated_at) VALUES (?, ?, ?, 2, 3, 2, NULL, ?)",
            [(f"LATE{i}", c, "2026-02-27T10:00:00+08:00", new_upd) for i, c in enumerate(late)])
        # a complaint deleted from the source
        gone = cur.execute("SELECT complaint_id FROM complaints ORDER BY complaint_id LIMIT 2").fetchall()
        cur.executemany("DELETE FROM complaints WHERE complaint_id = ?", gone)
        con.commit()
    finally:
        con.close()
    return {"paid": paid, "bad": bad, "late": late}


class DateCountReader(threading.Thread):
    """Polls per-date row counts of daily_service_metrics on its own PostgreSQL connection."""

    def __init__(self, schema: str, dates: list[dt.date]):
        super().__init__(daemon=True)
        self.schema, self.dates = schema, dates
        self.seen: list[dict] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        try:
            with pg_engine().connect() as c:
                c.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                c.commit()
                sql = (f'SELECT metric_date, count(*) FROM "{self.schema}".daily_service_metrics '
                       f"WHERE metric_date = ANY(%(d)s) GROUP BY metric_date")
                while not self.stop.is_set():
                    rows = c.exec_driver_sql(sql, {"d": self.dates}).fetchall()
                    c.commit()
                    self.seen.append({d: n for d, n in rows})
        except BaseException as exc:  # reported by the test
            self.error = exc


def _date_counts(target) -> dict[dt.date, int]:
    df = read(target, "daily_service_metrics")
    return df.groupby("metric_date").size().to_dict()


@pytest.mark.postgres
def test_incremental_restatement_agrees_and_readers_never_see_a_gap(harness, tmp_path, demo_source):
    """Full run, change the source, incremental run: DuckDB == PostgreSQL == a full recompute.
    The change includes a hard delete, so the incremental run is a reconciliation (`run
    --reconcile`): a plain nightly run leaves deletes to it.

    During PostgreSQL's incremental load a reader polls the per-date counts of the dates being
    replaced: every poll sees the old count or the new one, never 0 or a partial count.
    """
    from flows.nightly import nightly

    src = tmp_path / "source.sqlite"
    shutil.copy(demo_source.removeprefix("sqlite:///"), src)
    src_url = f"sqlite:///{src}"
    with ExitStack() as stack:
        duck = stack.enter_context(make_target("duckdb", tmp_path / "duck"))
        pg = stack.enter_context(make_target("postgres", tmp_path))
        for t in (duck, pg):
            assert nightly(source_url=src_url, warehouse_url=t.url, config_path=t.config(tmp_path))["mode"] == "full"
        before = _date_counts(pg)
        changed = change_source(src)

        for t in (duck,):
            r = nightly(source_url=src_url, warehouse_url=t.url, config_path=t.config(tmp_path), reconcile=True)
            assert r["mode"] == "reconcile" and r["dates"]
        restated = [dt.date.fromisoformat(d) for d in r["dates"]]
        reader = DateCountReader(pg.schema, restated)
        reader.start()
        try:
            while not reader.seen and reader.is_alive():
                time.sleep(0.01)
            r_pg = nightly(source_url=src_url, warehouse_url=pg.url, config_path=pg.config(tmp_path),
                           reconcile=True)
            time.sleep(0.05)
        finally:
            reader.stop.set()
            reader.join(10)
        assert reader.error is None, reader.error
        assert r_pg["dates"] == r["dates"] and r_pg["written"] == r["written"]
        after = _date_counts(pg)
        assert len(reader.seen) > 20
        for obs in reader.seen:
            for d in restated:
                assert obs.get(d, 0) in (before.get(d, 0), after.get(d, 0)), (d, obs.get(d), before.get(d), after.get(d))
        # the reader did see the load land (old counts first, new counts last)
        assert reader.seen[-1] == {d: n for d, n in after.items() if d in restated}

        # DuckDB and PostgreSQL agree after the incremental run, and both equal a full recompute
        full = stack.enter_context(make_target("duckdb", tmp_path / "full"))
        nightly(source_url=src_url, warehouse_url=full.url, config_path=full.config(tmp_path))
        assert_same_warehouse(duck, pg)
        assert_same_warehouse(full, pg)

        # the fixed bad claims were released from the quarantine on PostgreSQL
        q = read(pg, "dq_quarantine")
        released = q[(q["source_table"] == "claims") & q["source_key"].isin(changed["bad"])]
        assert len(released) == len(changed["bad"]) and released["released_at"].notna().all()
        fact = read(pg, "fact_claim_service").set_index("claim_id")
        assert set(changed["bad"]) <= set(fact.index)


@pytest.mark.postgres
def test_reader_sees_old_or_new_rows_while_a_transaction_replaces_a_date(harness, loaded):
    """Delete + insert of one date's rows with sleeps in between, inside Warehouse.transaction()."""
    target, _ = loaded("demo", "postgres")
    wh = target.warehouse()
    daily = read(target, "daily_service_metrics")
    date = daily.groupby("metric_date").size().idxmax()
    with wh.transaction() as conn:
        rows = wh.read_table(conn, "daily_service_metrics", "WHERE metric_date = :d", {"d": date})
    n_old = len(rows)
    new_rows = rows.iloc[: n_old - 3]  # the replacement has 3 rows fewer
    reader = DateCountReader(target.schema, [date])
    reader.start()
    in_tx = []
    try:
        while not reader.seen:
            time.sleep(0.01)
        with wh.transaction() as conn:
            rel = wh.stage_keys(conn, "dates", [date])
            wh.delete_in(conn, "daily_service_metrics", "metric_date", rel)
            mark = len(reader.seen)
            time.sleep(0.4)
            wh.insert_frame(conn, "daily_service_metrics", new_rows)
            time.sleep(0.4)
            in_tx.append(len(reader.seen) - mark)
        time.sleep(0.2)
    finally:
        reader.stop.set()
        reader.join(10)
    assert reader.error is None, reader.error
    assert in_tx[0] > 10  # the reader polled while the transaction was open
    counts = [obs.get(date, 0) for obs in reader.seen]
    assert set(counts) == {n_old, n_old - 3}
    first_new = counts.index(n_old - 3)
    assert all(c == n_old for c in counts[:first_new]) and all(c == n_old - 3 for c in counts[first_new:])
    # put the date back as it was for the other tests of this module
    with wh.transaction() as conn:
        rel = wh.stage_keys(conn, "dates", [date])
        wh.delete_in(conn, "daily_service_metrics", "metric_date", rel)
        wh.insert_frame(conn, "daily_service_metrics", rows)
