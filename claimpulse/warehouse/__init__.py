"""Warehouse I/O through SQLAlchemy: DuckDB (embedded default) or PostgreSQL (production).

One small class per backend behind one interface (base.py), chosen once by
`Warehouse(url, schema)`: duckdb.py, postgres.py. Run locks live in locks.py; the embedded
warehouse's write-audit-publish (BI readers keep reading while a run writes) in publish.py.
"""
from .base import Warehouse, WarehouseError, WarehouseLocked, quote_ident, to_json
from .duckdb import DuckDBWarehouse
from .postgres import PostgresWarehouse

__all__ = ["DuckDBWarehouse", "PostgresWarehouse", "Warehouse", "WarehouseError", "WarehouseLocked",
           "quote_ident", "to_json"]
