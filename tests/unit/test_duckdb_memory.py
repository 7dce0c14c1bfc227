"""The DuckDB warehouse's memory limit: validated at the edge, applied to every connection."""
import pytest
import sqlalchemy as sa

from claimpulse.warehouse import Warehouse, WarehouseError


@pytest.mark.parametrize("value, applied", [
    (None, "953.6 MiB"),      # the default, 1GB (DuckDB reports it in MiB)
    ("512MB", "488.2 MiB"),
    ("2 GiB", "2.0 GiB"),
])
def test_the_limit_reaches_the_warehouse_connection(value, applied, tmp_path, monkeypatch):
    if value is None:
        monkeypatch.delenv("CLAIMPULSE_DUCKDB_MEMORY_LIMIT", raising=False)
    else:
        monkeypatch.setenv("CLAIMPULSE_DUCKDB_MEMORY_LIMIT", value)
    wh = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    with wh.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_setting('memory_limit')")).scalar() == applied


def test_none_leaves_duckdbs_own_default(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAIMPULSE_DUCKDB_MEMORY_LIMIT", "none")
    wh = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    with wh.engine.connect() as conn:
        limit = conn.execute(sa.text("SELECT current_setting('memory_limit')")).scalar()
    assert limit != "953.6 MiB" and limit.endswith("iB")


@pytest.mark.parametrize("value", ["lots", "1 GB of RAM", "-5GB", "80%"])
def test_a_bad_limit_is_one_clear_error_before_any_file(value, tmp_path, monkeypatch):
    monkeypatch.setenv("CLAIMPULSE_DUCKDB_MEMORY_LIMIT", value)
    with pytest.raises(WarehouseError, match="CLAIMPULSE_DUCKDB_MEMORY_LIMIT=.*expected a size"):
        Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    assert not (tmp_path / "w.duckdb").exists()
