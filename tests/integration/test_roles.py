"""`claimpulse grant-reader`: a read-only BI role on PostgreSQL, a clear refusal on DuckDB."""
from __future__ import annotations

import uuid

import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from claimpulse.cli import app
from claimpulse.dictionary import TABLES
from claimpulse.roles import RoleError, bi_grants, grant_reader, validate_role
from claimpulse.warehouse import Warehouse

from ..helpers.warehouses import PG_URL, pg_engine

BI_TABLES = ("fact_claim_service", "fact_survey_response", "fact_complaint", "daily_service_metrics",
             "daily_standard_attainment", "daily_quality_metrics", "speed_quality_alerts", "dim_date",
             "pipeline_runs", "dq_validation_results",
             # service clocks (issue 10)
             "fact_claim_event", "fact_claim_clock", "daily_clock_attainment", "clock_watchlist")


def test_bi_grants_follow_the_brief():
    grants = bi_grants()
    assert {t for t, c in grants.items() if c is None} == set(BI_TABLES)
    assert set(grants) == set(BI_TABLES) | {"dq_quarantine"}
    assert grants["dq_quarantine"] == [c.name for c in TABLES["dq_quarantine"].columns if c.name != "row_data"]


@pytest.mark.parametrize("name", ["bad-name", "x; DROP TABLE y", "", "1abc", "pg_reader", "public",
                                  "a" * 64, 'q"uote'])
def test_role_names_are_validated(name):
    with pytest.raises(RoleError):
        validate_role(name)


def test_duckdb_has_no_roles(tmp_path):
    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    with pytest.raises(RoleError, match="DuckDB has no roles.*read-only"):
        grant_reader(wh, "bi_reader")
    r = CliRunner().invoke(app, ["grant-reader", "bi_reader", "--warehouse", f"duckdb:///{tmp_path}/w.duckdb"])
    assert r.exit_code == 1
    assert "DuckDB has no roles" in r.output and "read_only=True" in r.output


@pytest.fixture
def bi_role(pg_target):
    """A unique LOGIN role name, dropped (with everything it owns or was granted) afterwards."""
    role = f"cp_bi_{uuid.uuid4().hex[:8]}"
    yield pg_target, role
    with pg_engine().begin() as c:
        if c.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).scalar():
            c.exec_driver_sql(f'REASSIGN OWNED BY "{role}" TO postgres')
            c.exec_driver_sql(f'DROP OWNED BY "{role}"')
            c.exec_driver_sql(f'DROP ROLE "{role}"')


def _seed(wh: Warehouse) -> None:
    wh.ensure_schema()
    with wh.transaction() as conn:
        wh.insert_frame(conn, "dq_quarantine", pd.DataFrame({
            "run_id": ["r1"], "source_table": ["claims"], "source_key": ["K1"], "claim_id": ["K1"],
            "reasons": ["milestone_order"], "row_data": ['{"customer_id": "***"}'],
            "quarantined_at": [pd.Timestamp("2026-03-05", tz="UTC")]}))
        wh.insert_frame(conn, "daily_service_metrics", pd.DataFrame({
            "metric_date": [pd.Timestamp("2026-03-04").date()], "product_line": ["ALL"],
            "channel": ["ALL"], "region": ["ALL"], "closed_claims": [3]}))
        wh.insert_frame(conn, "clock_watchlist", pd.DataFrame({
            "clock_id": ["cn_art23_decide_30d"], "subject": ["claim"], "subject_id": ["K4"],
            "claim_id": ["K4"], "status": ["overdue"], "days_to_due": [-11],
            "start_date": [pd.Timestamp("2026-10-20").date()], "due_date": [pd.Timestamp("2026-11-19").date()],
            "as_of_date": [pd.Timestamp("2026-11-30").date()]}))


def _as_role(role: str):
    url = sa.engine.make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)).set(username=role)
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def _denied(eng, sql: str) -> bool:
    try:
        with eng.begin() as c:
            c.exec_driver_sql(sql)
    except sa.exc.ProgrammingError as exc:
        assert isinstance(exc.orig, psycopg.errors.InsufficientPrivilege), exc
        return True
    return False


@pytest.mark.postgres
def test_reader_role_reads_bi_tables_and_nothing_else(bi_role, tmp_path):
    target, role = bi_role
    wh = target.warehouse()
    _seed(wh)
    # through the command line, as an operator would
    r = CliRunner().invoke(app, ["grant-reader", role, "--login", "--warehouse", PG_URL,
                                 "--config", target.config(tmp_path)])
    assert r.exit_code == 0, r.output
    assert f"created role {role} (LOGIN)" in r.output
    with pg_engine().connect() as c:
        assert c.exec_driver_sql("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,)).scalar()

    s = f'"{target.schema}"'
    reader = _as_role(role)
    with reader.connect() as c:
        for table in BI_TABLES:
            c.exec_driver_sql(f"SELECT * FROM {s}.{table} LIMIT 1").fetchall()
        assert c.exec_driver_sql(f"SELECT closed_claims FROM {s}.daily_service_metrics").scalar() == 3
        assert c.exec_driver_sql(f"SELECT reasons FROM {s}.dq_quarantine").scalar() == "milestone_order"
        # a team lead's BI tool reads the service-clock watchlist
        assert c.exec_driver_sql(f"SELECT days_to_due FROM {s}.clock_watchlist "
                                 f"WHERE status = 'overdue'").scalar() == -11
        cols = ", ".join(bi_grants()["dq_quarantine"])
        assert len(c.exec_driver_sql(f"SELECT {cols} FROM {s}.dq_quarantine").fetchall()) == 1
    # the row as read stays with the data engineers
    assert _denied(reader, f"SELECT row_data FROM {s}.dq_quarantine")
    assert _denied(reader, f"SELECT * FROM {s}.dq_quarantine")
    # not granted: watermarks and the migration version table
    assert _denied(reader, f"SELECT * FROM {s}.pipeline_state")
    assert _denied(reader, f"SELECT * FROM {s}.alembic_version")
    # no writes anywhere, no DDL in the schema
    assert _denied(reader, f"INSERT INTO {s}.daily_service_metrics (metric_date, product_line, channel, region) "
                           f"VALUES ('2026-01-01', 'x', 'x', 'x')")
    assert _denied(reader, f"DELETE FROM {s}.daily_service_metrics")
    assert _denied(reader, f"UPDATE {s}.dq_quarantine SET reasons = 'x'")
    assert _denied(reader, f"TRUNCATE {s}.fact_claim_service")
    assert _denied(reader, f"DELETE FROM {s}.dq_quarantine")
    assert _denied(reader, f"CREATE TABLE {s}.zz_mine (x int)")
    assert _denied(reader, f"CREATE VIEW {s}.zz_view AS SELECT 1 AS x")
    reader.dispose()

    # privileges as PostgreSQL reports them: SELECT only
    with pg_engine().connect() as c:
        privs = c.exec_driver_sql(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_schema = %s", (role, target.schema)).fetchall()
        col_privs = c.exec_driver_sql(
            "SELECT table_name, column_name, privilege_type FROM information_schema.column_privileges "
            "WHERE grantee = %s AND table_schema = %s AND table_name = 'dq_quarantine'",
            (role, target.schema)).fetchall()
    assert {p for _, p in privs} == {"SELECT"}
    assert {t for t, _ in privs} == set(BI_TABLES)
    assert {p for *_, p in col_privs} == {"SELECT"}
    assert {c for _, c, _ in col_privs} == set(bi_grants()["dq_quarantine"])


@pytest.mark.postgres
def test_grant_reader_is_idempotent_and_resets_extra_grants(bi_role):
    target, role = bi_role
    wh = target.warehouse()
    out = grant_reader(wh, role)  # also creates the schema
    assert out["created"] and not out["login"]
    with pg_engine().begin() as c:
        assert not c.exec_driver_sql("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,)).scalar()
        # someone grants too much by hand
        c.exec_driver_sql(f'GRANT ALL ON "{target.schema}".pipeline_state TO "{role}"')
        c.exec_driver_sql(f'GRANT INSERT ON "{target.schema}".daily_service_metrics TO "{role}"')
        c.exec_driver_sql(f'GRANT SELECT ON "{target.schema}".dq_quarantine TO "{role}"')
        c.exec_driver_sql(f'GRANT CREATE ON SCHEMA "{target.schema}" TO "{role}"')
    again = grant_reader(wh, role)
    assert not again["created"]
    with pg_engine().connect() as c:
        privs = set(c.exec_driver_sql(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_schema = %s", (role, target.schema)).fetchall())
        create = c.exec_driver_sql("SELECT has_schema_privilege(%s, %s, 'CREATE')",
                                   (role, target.schema)).scalar()
        row_data = c.exec_driver_sql("SELECT has_column_privilege(%s, %s, 'row_data', 'SELECT')",
                                     (role, f'"{target.schema}".dq_quarantine')).scalar()
    assert privs == {(t, "SELECT") for t in BI_TABLES}
    assert not create and not row_data

