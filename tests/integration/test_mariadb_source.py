"""A MySQL-family source: the demo claims system in MariaDB, extracted through SQLAlchemy.

Each test gets its own database `cp_src_<uuid8>` (dropped afterwards), runs the nightly flow
from it into a DuckDB warehouse under tmp_path, and must produce exactly what the same demo
data (same seed) produces from SQLite.

Two layouts: the demo's own (text timestamps, naive for claim_events; amounts as DOUBLE), and
a core-system layout with native MariaDB types: DATETIME(6) holding naive local times (read in
source_timezone), DECIMAL(18,2) amounts (read as Decimal), INT scores, VARCHAR ids.
"""
from __future__ import annotations

import datetime as dt
import decimal

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from claimpulse import demo
from claimpulse.schema import DECIMAL, INTEGER, SOURCE_TABLES, TIMESTAMP

from ..helpers.warehouses import assert_same_table, assert_same_warehouse, make_target, mariadb_db, read

pytestmark = [pytest.mark.slow, pytest.mark.mariadb]

N_CLAIMS, DAYS, SEED, END = 2000, 40, 3, dt.date(2026, 3, 1)
SOURCE_TZ = "Asia/Shanghai"


@pytest.fixture(scope="module")
def harness(harness):
    """The session's Prefect harness (tests/conftest.py), with this module's pseudonym key set
    for the whole module: `reference` runs a flow before a function-scoped fixture could set it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLAIMPULSE_PSEUDONYM_KEY", "mariadb-test-key")
        yield harness


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return demo.generate(n_claims=N_CLAIMS, days=DAYS, seed=SEED, end=END)


@pytest.fixture(scope="module")
def reference(harness, tmp_path_factory):
    """The same demo data in SQLite (write_demo), run into DuckDB."""
    from flows.nightly import nightly

    d = tmp_path_factory.mktemp("sqlite-ref")
    src = f"sqlite:///{d}/s.sqlite"
    demo.write_demo(src, n_claims=N_CLAIMS, days=DAYS, seed=SEED, end=END)
    with make_target("duckdb", d) as target:
        result = nightly(source_url=src, warehouse_url=target.url)
        yield target, result


def _run(url: str, folder):
    from flows.nightly import nightly

    with make_target("duckdb", folder) as target:  # a file under tmp_path: nothing to drop
        first = nightly(source_url=url, warehouse_url=target.url)
        second = nightly(source_url=url, warehouse_url=target.url)
    return target, first, second


def _assert_same_as_reference(target, first, second, reference, row_data: bool = True) -> None:
    ref_target, ref = reference
    assert first["mode"] == "full" and first["written"] == ref["written"]
    assert [(c["source_table"], c["rows_read"], c["rows_quarantined"]) for c in first["counts"]] == \
        [(c["source_table"], c["rows_read"], c["rows_quarantined"]) for c in ref["counts"]]
    assert first["dates"] == ref["dates"]
    # watermarks read back from naive or text timestamps compare right: nothing changed, nothing restated
    assert second["mode"] == "incremental" and second["dates"] == []
    assert_same_warehouse(ref_target, target)
    drop = ["quarantined_at"] + ([] if row_data else ["row_data"])
    q1, q2 = (read(t, "dq_quarantine").drop(columns=drop)
              .sort_values(["source_table", "source_key", "reasons"]).reset_index(drop=True)
              for t in (ref_target, target))
    assert_same_table(q1, q2, "dq_quarantine")


def test_demo_layout_from_mariadb_equals_sqlite(reference, frames, tmp_path):
    """The demo's tables as write_demo lays them out, amounts as DOUBLE (see note below)."""
    with mariadb_db() as url:
        # demo.write_frames maps decimals to sa.Float(), which MariaDB makes a single-precision
        # FLOAT (12345.67 comes back as 12345.7): write the same frames with DOUBLE instead.
        eng = sa.create_engine(url)
        with eng.begin() as conn:
            for table, df in frames.items():
                kinds = SOURCE_TABLES[table].columns
                types = {c: (mysql.DOUBLE() if k == DECIMAL else sa.Integer() if k == INTEGER
                             else sa.Text()) for c, k in kinds.items()}
                df.to_sql(table, conn, index=False, dtype=types, chunksize=5000)
        eng.dispose()
        target, first, second = _run(url, tmp_path)
        _assert_same_as_reference(target, first, second, reference)


def _native(df: pd.DataFrame, table: str) -> tuple[pd.DataFrame, dict]:
    """The frame as a core system stores it: naive local DATETIME, DECIMAL, INT, VARCHAR."""
    out, types = pd.DataFrame(index=df.index), {}
    for col, kind in SOURCE_TABLES[table].columns.items():
        s = df[col]
        if kind == TIMESTAMP:
            ts = pd.to_datetime(s, format="ISO8601", utc=False) if not s.str.contains(r"\+").any() \
                else pd.to_datetime(s, format="ISO8601", utc=True).dt.tz_convert(SOURCE_TZ).dt.tz_localize(None)
            out[col] = ts.astype(object).where(ts.notna(), None)
            types[col] = mysql.DATETIME(fsp=6)
        elif kind == DECIMAL:
            out[col] = s.map(lambda v: None if pd.isna(v) else decimal.Decimal(f"{v:.2f}"))
            types[col] = mysql.DECIMAL(18, 2)
        elif kind == INTEGER:
            out[col] = s.astype(object).where(s.notna(), None)
            types[col] = mysql.INTEGER()
        else:
            out[col] = s.astype(object).where(s.notna(), None)
            types[col] = mysql.VARCHAR(200) if col in ("claim_id", SOURCE_TABLES[table].key) else mysql.TEXT()
    return out, types


def test_native_mariadb_types_equal_sqlite(reference, frames, tmp_path):
    with mariadb_db() as url:
        eng = sa.create_engine(url)
        with eng.begin() as conn:
            for table, df in frames.items():
                native, types = _native(df, table)
                native.to_sql(table, conn, index=False, dtype=types, chunksize=5000)
                conn.exec_driver_sql(f"CREATE INDEX ix_{table}_claim ON `{table}` (claim_id)")
            shown = conn.exec_driver_sql("SHOW CREATE TABLE claim_events").fetchall()[0][1]
            back = conn.exec_driver_sql("SELECT paid_amount, reported_at FROM claims "
                                        "WHERE paid_amount IS NOT NULL LIMIT 1").fetchone()
        eng.dispose()
        assert "datetime(6)" in shown
        assert isinstance(back[0], decimal.Decimal) and back[1].tzinfo is None  # Decimal, naive
        target, first, second = _run(url, tmp_path)
        # row_data renders the row as read (Decimal, naive datetimes): compared elsewhere
        _assert_same_as_reference(target, first, second, reference, row_data=False)
