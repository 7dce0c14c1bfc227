"""The hand-worked golden example (tests/golden): its expected CSVs and how their cells compare
with computed values. Shared by tests/unit/test_golden.py (pure pandas) and
tests/integration/test_warehouse_backends.py (the same numbers out of DuckDB and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import math
import re

import pandas as pd
import pytest

from ..conftest import GOLDEN


def _same(actual, expected, where: str) -> None:
    a_null = actual is None or actual is pd.NA or (isinstance(actual, float) and math.isnan(actual))
    e_null = expected is None or expected is pd.NA or (isinstance(expected, float) and math.isnan(expected))
    assert a_null == e_null, f"{where}: got {actual!r}, expected {expected!r}"
    if a_null:
        return
    if isinstance(expected, float):
        assert float(actual) == pytest.approx(expected, rel=1e-6, abs=1e-9), where
    else:
        assert actual == expected, f"{where}: got {actual!r}, expected {expected!r}"


def _expected(name: str) -> pd.DataFrame:
    return pd.read_csv(GOLDEN / name, dtype=str, keep_default_na=False)


def _parse(col: str, value: str):
    if value == "":
        return None
    if col in ("metric_date", "closed_date"):
        return dt.date.fromisoformat(value)
    if value in ("True", "False"):
        return value == "True"
    if re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", value):
        return float(value)
    return value
