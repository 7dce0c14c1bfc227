"""Warehouse backends for tests: a DuckDB file under tmp_path, or a fresh PostgreSQL schema.

`warehouse_target` (registered in tests/conftest.py) is parametrized over both backends; its
PostgreSQL case is marked `postgres`, gets a schema `cp_test_<uuid8>` in database `test`
and drops it (CASCADE) afterwards. A server that does not answer skips the test, or fails
it under CI=true (`require_service`). `mariadb_database` gives a fresh MariaDB database
`cp_src_<uuid8>` (marked by the tests that use it) and drops it afterwards.

Servers: $CLAIMPULSE_TEST_PG_URL (postgresql://postgres@127.0.0.1:5432/test) and
$CLAIMPULSE_TEST_MARIADB_URL (mysql+pymysql://root@127.0.0.1:3306).
"""
from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from claimpulse.dictionary import TABLES
from claimpulse.warehouse import Warehouse

PG_URL = os.environ.get("CLAIMPULSE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("CLAIMPULSE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306")


def pg_engine(url: str = PG_URL) -> sa.Engine:
    u = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    return sa.create_engine(u, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3})


@lru_cache(maxsize=None)
def pg_available() -> bool:
    try:
        with pg_engine().connect() as c:
            c.exec_driver_sql("SELECT 1")
        return True
    except Exception:
        return False


@lru_cache(maxsize=None)
def mariadb_available() -> bool:
    try:
        eng = sa.create_engine(MARIADB_URL + "/", poolclass=sa.pool.NullPool,
                               connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.exec_driver_sql("SELECT 1")
        return True
    except Exception:
        return False


def require_postgres() -> None:
    from ..conftest import require_service

    require_service(pg_available(), f"PostgreSQL at {PG_URL}")


def require_mariadb() -> None:
    from ..conftest import require_service

    require_service(mariadb_available(), f"MariaDB at {MARIADB_URL}")


@dataclass
class Target:
    """A warehouse to test against: URL, schema and backend name."""

    backend: str        # "duckdb" or "postgres"
    url: str
    schema: str

    def warehouse(self) -> Warehouse:
        return Warehouse(self.url, self.schema)

    def config(self, folder: Path) -> str:
        """A config file that points runs at this target's schema."""
        path = Path(folder) / f"config-{self.schema}.yaml"
        path.write_text(f"schema: {self.schema}\n", encoding="utf-8")
        return str(path)


@contextmanager
def postgres_schema(prefix: str = "cp_test") -> Iterator[Target]:
    """A fresh schema in the test database, dropped with everything in it afterwards."""
    require_postgres()
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        yield Target("postgres", PG_URL, schema)
    finally:
        with pg_engine().begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def make_target(backend: str, folder: Path) -> Iterator[Target]:
    if backend == "duckdb":
        yield Target("duckdb", f"duckdb:///{Path(folder) / 'warehouse.duckdb'}", "claimpulse")
    elif backend == "postgres":
        with postgres_schema() as t:
            yield t
    else:  # pragma: no cover
        raise ValueError(backend)


BACKENDS = [pytest.param("duckdb", id="duckdb"),
            pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def warehouse_target(request, tmp_path) -> Iterator[Target]:
    """Each backend in turn: a DuckDB file under tmp_path, then a fresh PostgreSQL schema."""
    with make_target(request.param, tmp_path) as t:
        yield t


@pytest.fixture
def pg_target() -> Iterator[Target]:
    """A fresh PostgreSQL schema only (tests using it should be marked `postgres`)."""
    with postgres_schema() as t:
        yield t


@contextmanager
def mariadb_db(prefix: str = "cp_src") -> Iterator[str]:
    """A fresh MariaDB database; yields its SQLAlchemy URL and drops it afterwards."""
    require_mariadb()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    root = sa.create_engine(MARIADB_URL + "/", poolclass=sa.pool.NullPool)
    with root.begin() as c:
        c.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield f"{MARIADB_URL}/{name}"
    finally:
        with root.begin() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        root.dispose()


@pytest.fixture
def mariadb_database() -> Iterator[str]:
    with mariadb_db() as url:
        yield url


# --------------------------------------------------------------------------- comparing warehouses

COMPARED = ("fact_claim_service", "fact_survey_response", "fact_complaint", "daily_service_metrics",
            "daily_standard_attainment", "dim_date")
IGNORED = ("loaded_at", "run_id")


def query_file(path, sql: str) -> pd.DataFrame:
    """`sql` against a DuckDB warehouse file opened read-only, as a BI reader opens it."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def read(target, table: str) -> pd.DataFrame:
    wh = target.warehouse()
    with wh.transaction() as conn:
        df = wh.read_table(conn, table)
    df = df.drop(columns=[c for c in IGNORED if c in df.columns])
    key = [k for k in TABLES[table].key if k in df.columns]
    return df.sort_values(key, kind="stable").reset_index(drop=True)


def _is_null(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def assert_same_table(a: pd.DataFrame, b: pd.DataFrame, table: str, tol: float = 1e-9) -> None:
    """Same rows and values; floats to `tol` (absolute or relative), nulls equal nulls."""
    assert list(a.columns) == list(b.columns), table
    assert len(a) == len(b), f"{table}: {len(a)} rows vs {len(b)}"
    kinds = {c.name: c.type for c in TABLES[table].columns}
    for col in a.columns:
        x, y = a[col].tolist(), b[col].tolist()
        for i, (u, v) in enumerate(zip(x, y)):
            where = f"{table}.{col}[{i}]"
            if _is_null(u) or _is_null(v):
                assert _is_null(u) and _is_null(v), f"{where}: {u!r} vs {v!r}"
            elif kinds[col] in ("double", "money"):
                assert math.isclose(float(u), float(v), rel_tol=tol, abs_tol=tol), f"{where}: {u!r} vs {v!r}"
            elif kinds[col] == "timestamptz":
                assert pd.Timestamp(u) == pd.Timestamp(v), f"{where}: {u!r} vs {v!r}"
            else:
                assert u == v, f"{where}: {u!r} vs {v!r}"


def assert_same_warehouse(t1, t2, tables=COMPARED) -> None:
    for table in tables:
        assert_same_table(read(t1, table), read(t2, table), table)
