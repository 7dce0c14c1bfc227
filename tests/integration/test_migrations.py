"""Schema management: `Warehouse.ensure_schema()` = create schema + `alembic upgrade head`.

Each test runs on DuckDB and on a fresh PostgreSQL schema (tests/helpers/warehouses.py).
"""
from __future__ import annotations

import shutil

import pandas as pd
import pytest
import sqlalchemy as sa

from claimpulse import migrations
from claimpulse.dictionary import SQL_TYPES, TABLES, columns, metadata
from claimpulse.warehouse import Warehouse, WarehouseError

from ..helpers.warehouses import pg_engine

HEAD = migrations.head()


def _tables(wh: Warehouse) -> set[str]:
    return set(sa.inspect(wh.engine).get_table_names(schema=wh.schema))


def _one_daily_row() -> pd.DataFrame:
    return pd.DataFrame({"metric_date": [pd.Timestamp("2026-03-04").date()], "product_line": ["ALL"],
                         "channel": ["ALL"], "region": ["ALL"], "closed_claims": [3],
                         "paid_amount_total": [1300.0], "paid_rate": [2 / 3],
                         "loaded_at": [pd.Timestamp("2026-03-05", tz="UTC")], "run_id": ["r1"]})


def _daily_rows(wh: Warehouse) -> int:
    with wh.transaction() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {wh.table('daily_service_metrics')}").scalar())


def test_head_is_the_quality_revision():
    # 0001 initial → 0002 key fingerprint → 0003 service clocks → 0004 quality
    assert HEAD == "0004"


def test_0001_warehouse_gets_the_fingerprint_table(warehouse_target):
    """A warehouse at 0001 (no warehouse_identity) is upgraded by 0002; its rows stay."""
    wh = warehouse_target.warehouse()
    wh.ensure_schema()
    with wh.transaction() as conn:
        wh.insert_frame(conn, "daily_service_metrics", _one_daily_row())
        conn.exec_driver_sql(f"DROP TABLE {wh.table('warehouse_identity')}")
        conn.exec_driver_sql(f"UPDATE {wh.table('alembic_version')} SET version_num = '0001'")
    assert "warehouse_identity" not in _tables(wh)
    assert wh.ensure_schema() == ("0001", HEAD)
    assert "warehouse_identity" in _tables(wh)
    assert _daily_rows(wh) == 1
    with wh.transaction() as conn:
        got = [r[0] for r in conn.execute(sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s "
            "AND table_name = 'warehouse_identity' ORDER BY ordinal_position"), {"s": wh.schema})]
    assert got == columns("warehouse_identity")
    assert not TABLES["warehouse_identity"].bi  # never granted to BI readers


def test_fresh_warehouse_is_created_at_head(warehouse_target):
    wh = warehouse_target.warehouse()
    assert wh.ensure_schema() == (None, HEAD)
    assert wh.schema_revision() == HEAD
    assert _tables(wh) == set(TABLES) | {"alembic_version"}
    with wh.transaction() as conn:
        got = conn.execute(sa.text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = :s ORDER BY table_name, ordinal_position"), {"s": wh.schema}).fetchall()
    for table in TABLES:
        assert [c for t, c in got if t == table] == columns(table), table


def test_warehouse_at_head_is_left_alone(warehouse_target):
    wh = warehouse_target.warehouse()
    wh.ensure_schema()
    with wh.transaction() as conn:
        wh.insert_frame(conn, "daily_service_metrics", _one_daily_row())
    assert wh.ensure_schema() == (HEAD, HEAD)
    assert wh.ensure_schema() == (HEAD, HEAD)
    assert _daily_rows(wh) == 1
    with wh.transaction() as conn:
        versions = conn.exec_driver_sql(f"SELECT version_num FROM {wh.table('alembic_version')}").fetchall()
    assert versions == [(HEAD,)]


def test_unknown_future_revision_is_a_clear_error(warehouse_target):
    wh = warehouse_target.warehouse()
    wh.ensure_schema()
    with wh.transaction() as conn:
        wh.insert_frame(conn, "daily_service_metrics", _one_daily_row())
        conn.exec_driver_sql(f"UPDATE {wh.table('alembic_version')} SET version_num = '0042_from_the_future'")
    with pytest.raises(WarehouseError) as err:
        wh.ensure_schema()
    msg = str(err.value)
    assert "0042_from_the_future" in msg and HEAD in msg
    assert "Upgrade ClaimPulse" in msg and "pip install -U claimpulse" in msg
    assert "\n" not in msg
    # nothing was touched
    assert _daily_rows(wh) == 1
    assert wh.schema_revision() == "0042_from_the_future"


def test_warehouse_at_an_older_revision_is_upgraded(warehouse_target, tmp_path, monkeypatch):
    """A release with a newer revision (here a copy of the scripts plus a test-only 9002 on top of head)."""
    wh = warehouse_target.warehouse()
    assert wh.ensure_schema() == (None, HEAD)
    with wh.transaction() as conn:
        wh.insert_frame(conn, "daily_service_metrics", _one_daily_row())

    scripts = tmp_path / "migrations"
    shutil.copytree(migrations.SCRIPT_LOCATION, scripts,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (scripts / "versions" / "9002_test_note.py").write_text(f'''
"""Test-only revision: a table with a comment."""
from alembic import context, op
import sqlalchemy as sa

revision = "9002"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade():
    schema = context.config.attributes["schema"]
    op.create_table("zz_release_note", sa.Column("note", sa.Text, comment="A note"),
                    schema=schema, comment="Test-only table of revision 9002")


def downgrade():
    op.drop_table("zz_release_note", schema=context.config.attributes["schema"])
''', encoding="utf-8")
    monkeypatch.setattr(migrations, "SCRIPT_LOCATION", scripts)
    assert migrations.head() == "9002"
    assert wh.ensure_schema() == (HEAD, "9002")
    assert "zz_release_note" in _tables(wh)
    assert _daily_rows(wh) == 1
    assert wh.ensure_schema() == ("9002", "9002")


def test_warehouse_from_before_migrations_is_adopted(warehouse_target):
    """Tables made by the old create_all (no version table, no dim_date): kept, completed, stamped."""
    wh = warehouse_target.warehouse()
    md = metadata(wh.schema)
    with wh.transaction() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {wh.q_schema}")
        md.create_all(conn, tables=[t for name, t in md.tables.items() if not name.endswith(".dim_date")])
        wh.insert_frame(conn, "daily_service_metrics", _one_daily_row())
    assert "dim_date" not in _tables(wh)
    assert wh.ensure_schema() == (None, HEAD)
    assert "dim_date" in _tables(wh)
    assert _daily_rows(wh) == 1


def test_insert_and_read_back_keep_types(warehouse_target):
    """Money exact to 6 decimals, rates as double, dates, instants in UTC, nulls as nulls."""
    wh = warehouse_target.warehouse()
    wh.ensure_schema()
    row = _one_daily_row()
    row["paid_amount_total"] = [1234567.891234]
    row["csat_mean"] = [float("nan")]
    with wh.transaction() as conn:
        wh.insert_frame(conn, "daily_service_metrics", row)
        back = wh.read_table(conn, "daily_service_metrics")
    r = back.iloc[0]
    assert r["paid_amount_total"] == 1234567.891234
    assert r["paid_rate"] == 2 / 3
    assert r["metric_date"] == pd.Timestamp("2026-03-04").date()
    assert r["loaded_at"] == pd.Timestamp("2026-03-05", tz="UTC")
    assert pd.isna(r["csat_mean"]) and pd.isna(r["nps"]) and r["closed_claims"] == 3


# --------------------------------------------------------------------------- types and comments

PG_TYPES = {"text": "text", "money": "numeric", "double": "double precision", "int": "bigint",
            "bool": "boolean", "date": "date", "timestamptz": "timestamp with time zone"}


@pytest.mark.postgres
def test_postgres_types_and_comments(pg_target):
    wh = pg_target.warehouse()
    wh.ensure_schema()
    with pg_engine().connect() as c:
        cols = c.exec_driver_sql(
            "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale "
            "FROM information_schema.columns WHERE table_schema = %s", (wh.schema,)).fetchall()
        table_comments = dict(c.exec_driver_sql(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (wh.schema,)).fetchall())
        col_comments = {(t, a): d for t, a, d in c.exec_driver_sql(
            "SELECT c.relname, a.attname, col_description(c.oid, a.attnum) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE n.nspname = %s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped",
            (wh.schema,)).fetchall()}
    types = {(t, col): (dtype, p, s) for t, col, dtype, p, s in cols}
    for t in TABLES.values():
        assert table_comments[t.name] == f"{t.doc} Grain: {t.grain}.", t.name
        for c in t.columns:
            dtype, p, s = types[(t.name, c.name)]
            assert dtype == PG_TYPES[c.type], (t.name, c.name, dtype)
            if c.type == "money":
                assert (p, s) == (20, 6), (t.name, c.name)
            assert col_comments[(t.name, c.name)] == c.doc, (t.name, c.name)
    # every table and every column in the schema has a comment, Alembic's version table too
    assert set(table_comments) == set(TABLES) | {"alembic_version"}
    assert all(table_comments.values())
    missing = [k for k, d in col_comments.items() if not d]
    assert not missing


def test_duckdb_types_and_comments(tmp_path):
    import duckdb

    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb", "claimpulse")
    wh.ensure_schema()
    wh.engine.dispose()
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    try:
        tables = dict(con.execute("SELECT table_name, comment FROM duckdb_tables() "
                                  "WHERE schema_name = 'claimpulse'").fetchall())
        cols = {(t, c): (ty, cm) for t, c, ty, cm in con.execute(
            "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
            "WHERE schema_name = 'claimpulse'").fetchall()}
    finally:
        con.close()
    duck_types = {"text": "VARCHAR", "money": "DECIMAL(20,6)", "double": "DOUBLE", "int": "BIGINT",
                  "bool": "BOOLEAN", "date": "DATE", "timestamptz": "TIMESTAMP WITH TIME ZONE"}
    for t in TABLES.values():
        assert tables[t.name] == f"{t.doc} Grain: {t.grain}."
        for c in t.columns:
            assert cols[(t.name, c.name)] == (duck_types[c.type], c.doc), (t.name, c.name)
    assert all(tables.values()) and all(cm for _, cm in cols.values())
    assert set(SQL_TYPES) == set(duck_types)


def test_awkward_values_round_trip(warehouse_target):
    """Quotes, commas, newlines, tabs, backslashes, CJK, empty vs null: bulk write and both read paths."""
    wh = warehouse_target.warehouse()
    wh.ensure_schema()
    texts = ['{"a": "x,\\n\\"y\\"\\t\\\\z 中文"}', "", None, "line1\nline2\r\nline3", "\\N", "NULL", '"', "a\tb"]
    q = pd.DataFrame({
        "run_id": "r1", "source_table": "claims", "source_key": [f"K{i}" for i in range(len(texts))],
        "claim_id": [None, "", "C", "C", "C", "C", "C", "C"], "reasons": texts, "row_data": texts,
        "quarantined_at": pd.to_datetime(["2026-03-04T23:59:59.123456+08:00"] * len(texts), utc=True),
        "released_at": pd.to_datetime([None, "1999-12-31T16:00:00Z"] + [None] * (len(texts) - 2), utc=True),
    })
    with wh.transaction() as conn:
        wh.insert_frame(conn, "dq_quarantine", q)
        bulk = wh.read_table(conn, "dq_quarantine", "ORDER BY source_key")
        bound = wh.read_table(conn, "dq_quarantine", "WHERE run_id = :r ORDER BY source_key", {"r": "r1"})
    for got in (bulk, bound):
        got = got.set_index("source_key").loc[q["source_key"]]
        for col in ("reasons", "row_data", "claim_id"):
            assert [None if pd.isna(v) else v for v in got[col]] == \
                [None if pd.isna(v) else v for v in q[col]], col
        assert (got["quarantined_at"] == pd.Timestamp("2026-03-04T15:59:59.123456Z")).all()
        assert pd.isna(got["released_at"].iloc[0])
        assert got["released_at"].iloc[1] == pd.Timestamp("1999-12-31T16:00:00Z")


def test_run_lock_excludes_a_second_run(warehouse_target):
    """PostgreSQL: a session advisory lock per schema; DuckDB: a flock beside the file."""
    from claimpulse.warehouse import WarehouseLocked

    wh = warehouse_target.warehouse()
    wh.ensure_schema()
    other = warehouse_target.warehouse()
    with wh.run_lock("first run"):
        with pytest.raises(WarehouseLocked, match="busy"):
            with other.run_lock("second run", timeout_s=0.3):
                pass
    with other.run_lock("second run"):  # released: the next run gets it
        pass
