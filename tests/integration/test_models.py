"""The SQL-model runner: a model renders against the warehouse's schema and loads by the
dictionary's columns, cast to the dictionary's types, on DuckDB and PostgreSQL alike."""
from __future__ import annotations

import pandas as pd
import pytest
from jinja2 import UndefinedError

from claimpulse import models


@pytest.fixture
def probe_models(tmp_path):
    (tmp_path / "pipeline_state.sql").write_text(
        "WITH staged AS (\n  SELECT k AS source_table FROM {{ tables }}\n)\n"
        "SELECT source_table, NULL AS watermark, NULL AS updated_at FROM staged\n")
    return models.environment(tmp_path)


def test_model_loads_by_dictionary_columns_with_constants(warehouse_target, probe_models):
    wh = warehouse_target.warehouse()
    wh.ensure_schema()
    now = pd.Timestamp("2026-11-30 12:00", tz="UTC")
    with wh.transaction() as conn:
        rel = wh.stage_keys(conn, "t", ["claims", "surveys"])
        n = models.insert_model(wh, conn, "pipeline_state", {"run_id": "r1", "updated_at": now},
                                env=probe_models, tables=rel)
        got = wh.read_table(conn, "pipeline_state").sort_values("source_table")
    assert n == 2
    assert got["source_table"].tolist() == ["claims", "surveys"]
    assert got["run_id"].tolist() == ["r1", "r1"]
    assert got["watermark"].isna().all()
    assert (pd.to_datetime(got["updated_at"], utc=True) == now).all()


def test_ref_names_the_schema_table_and_missing_variables_fail(warehouse_target, probe_models):
    sql = models.render("pipeline_state", warehouse_target.warehouse(), probe_models, tables="x")
    assert "FROM x" in sql
    with pytest.raises(UndefinedError):
        models.render("pipeline_state", warehouse_target.warehouse(), probe_models)
