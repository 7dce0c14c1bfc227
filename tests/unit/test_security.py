"""Security without a run: identifiers from configuration are validated and quoted, and
secrets in URLs are masked. Through real runs (data values never become SQL, secrets never
reach logs, errors, artifacts or Prefect's records, personal fields masked in the quarantine):
tests/integration/test_security_runs.py.
"""
from __future__ import annotations

import json

import pytest

from claimpulse.config import ConfigError, load_config
from claimpulse.extract import mask_url
from claimpulse.warehouse import Warehouse, WarehouseError, quote_ident

SECRET = "s3cretpw"


# ----------------------------------------------------------------------------- identifiers


@pytest.mark.parametrize("schema", ["x; drop table y", 'a"b', "claimpulse.other", "", "1abc", "a b",
                                    "Ωmega", "a" * 64, "x--", "x/*", "x\n"])
def test_config_schema_must_be_a_plain_identifier(tmp_path, schema):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"schema: {json.dumps(schema)}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"schema"):
        load_config(cfg)


def test_config_standard_ids_must_be_identifiers(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("standards:\n  - id: \"x'); drop table y; --\"\n    measure: trips\n    max: 1\n"
                   "    target_rate: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"standards\.0\.id"):
        load_config(cfg)


@pytest.mark.parametrize("name", ["x; drop table y", 'a"b', "a.b", "", "1abc", "a b", "é", "a" * 64,
                                  "x'", "x\n"])
def test_quote_ident_rejects_anything_but_plain_names(name):
    with pytest.raises(WarehouseError, match="not a plain SQL identifier"):
        quote_ident(name)


def test_quote_ident_quotes_plain_names_and_warehouse_refuses_a_bad_schema(tmp_path):
    assert quote_ident("claimpulse") == '"claimpulse"'
    assert quote_ident("_a1") == '"_a1"'
    with pytest.raises(WarehouseError, match="not a plain SQL identifier"):
        Warehouse(f"duckdb:///{tmp_path}/w.duckdb", schema="x; drop table y")
    assert not (tmp_path / "w.duckdb").exists()


# ----------------------------------------------------------------------------- secrets


def test_mask_url_hides_passwords_everywhere_in_a_url():
    assert mask_url(f"postgresql://u:{SECRET}@h/db") == "postgresql://u:***@h/db"
    assert SECRET not in mask_url(f"postgresql://u@h/db?password={SECRET}&sslmode=require")
    assert SECRET not in mask_url(f"mysql+pymysql://root:{SECRET}@127.0.0.1:3306/x")
    assert mask_url("/data/exports/claims") == "/data/exports/claims"
