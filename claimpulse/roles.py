"""The BI reader role: read-only access to what dashboards need, nothing else (PostgreSQL).

`grant_reader(wh, role)` makes the role exist (NOLOGIN unless `login=True`), then, in one
transaction, resets its privileges in the warehouse schema and grants exactly:

- USAGE on the schema (no CREATE);
- SELECT on every table the data dictionary marks `bi` whose columns are all readable
  (facts, daily metrics, dim_date, pipeline_runs, dq_validation_results, and the service
  clock tables fact_claim_event, fact_claim_clock, daily_clock_attainment, clock_watchlist);
- on dq_quarantine, SELECT on every column except row_data (a column-level grant: the row
  as read, masked or not, stays with the data engineers).

No INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES or TRIGGER anywhere; pipeline_state and
Alembic's version table are not readable. Rerunning it is safe and yields the same grants.
DuckDB has no roles: BI tools open the DuckDB file read-only instead.
"""
from __future__ import annotations

import re

from .dictionary import TABLES
from .warehouse import Warehouse, WarehouseError, quote_ident

_ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class RoleError(WarehouseError):
    """The role cannot be granted (bad name, or a warehouse without roles)."""


def validate_role(name: str) -> str:
    if not _ROLE.match(name or ""):
        raise RoleError(f"role name {name!r} is not a plain SQL identifier (letters, digits and _, "
                        f"starting with a letter or _, at most 63 characters)")
    if name.lower().startswith("pg_") or name.lower() in ("public", "none", "current_user",
                                                          "session_user", "current_role"):
        raise RoleError(f"role name {name!r} is reserved in PostgreSQL")
    return name


def bi_grants() -> dict[str, list[str] | None]:
    """Table -> None (SELECT on the table) or the columns granted one by one."""
    out: dict[str, list[str] | None] = {}
    for t in TABLES.values():
        if not t.bi:
            continue
        cols = [c.name for c in t.columns if c.bi]
        out[t.name] = None if len(cols) == len(t.columns) else cols
    return out


def grant_statements(wh: Warehouse, role: str) -> list[str]:
    r = quote_ident(validate_role(role))
    stmts = [
        # start from nothing in this schema, so a rerun (or an earlier hand-made grant) ends exact
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {wh.q_schema} FROM {r}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {wh.q_schema} FROM {r}",
        f"REVOKE ALL ON SCHEMA {wh.q_schema} FROM {r}",
        f"GRANT USAGE ON SCHEMA {wh.q_schema} TO {r}",
    ]
    for table, cols in bi_grants().items():
        if cols is None:
            stmts.append(f"GRANT SELECT ON {wh.table(table)} TO {r}")
        else:
            stmts.append(f"GRANT SELECT ({', '.join(quote_ident(c) for c in cols)}) "
                         f"ON {wh.table(table)} TO {r}")
    return stmts


def grant_reader(wh: Warehouse, role: str, login: bool = False) -> dict:
    """Create `role` if needed and grant it read access to the BI tables (see module doc).

    The warehouse schema is created / migrated first, so the grants cover every table.
    Returns {"role", "created", "login", "tables", "columns"} for the command line.
    """
    validate_role(role)
    if wh.dialect == "duckdb":
        raise RoleError("DuckDB has no roles or grants: give BI tools read-only access by opening the "
                        "warehouse file read-only instead (duckdb.connect(path, read_only=True), or "
                        "ATTACH 'warehouse.duckdb' (READ_ONLY)), on a copy if a run may be writing")
    if wh.dialect != "postgresql":
        raise RoleError(f"grant-reader supports PostgreSQL warehouses, not {wh.dialect}")
    wh.ensure_schema()
    q = quote_ident(role)
    with wh.transaction() as conn:
        exists = conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).scalar()
        if not exists:
            conn.exec_driver_sql(f"CREATE ROLE {q} {'LOGIN' if login else 'NOLOGIN'}")
        elif login:
            conn.exec_driver_sql(f"ALTER ROLE {q} LOGIN")
        for stmt in grant_statements(wh, role):
            conn.exec_driver_sql(stmt)
    grants = bi_grants()
    return {"role": role, "created": not exists, "login": login,
            "tables": sorted(t for t, c in grants.items() if c is None),
            "columns": {t: c for t, c in grants.items() if c is not None}}


def describe_grants() -> str:
    grants = bi_grants()
    full = ", ".join(t for t, c in grants.items() if c is None)
    partial = "; ".join(f"{t} ({len(c)} of {len(TABLES[t].columns)} columns, not "
                        f"{', '.join(x.name for x in TABLES[t].columns if not x.bi)})"
                        for t, c in grants.items() if c is not None)
    return f"SELECT on {full}" + (f"; column SELECT on {partial}" if partial else "")


__all__ = ["RoleError", "bi_grants", "describe_grants", "grant_reader", "grant_statements",
           "validate_role"]
