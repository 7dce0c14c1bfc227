"""The five golden claims of /work/shared/spec/golden, worked by hand (see its README)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from claimpulse.config import default_settings
from claimpulse.metrics import (
    ATTAINMENT_COLUMNS, DAILY_COLUMNS, FACT_COLUMNS, build_fact, daily_service_metrics,
    daily_standard_attainment,
)
from claimpulse.schema import SOURCE_TABLES

from ..conftest import GOLDEN, load_typed_csv
from ..helpers.golden import _expected, _parse, _same

KEY = b"golden-test-key"
D4, D5, D6 = dt.date(2026, 3, 4), dt.date(2026, 3, 5), dt.date(2026, 3, 6)


def load(table: str) -> pd.DataFrame:
    return load_typed_csv(GOLDEN, table)


@pytest.fixture(scope="module")
def source():
    return {t: load(t) for t in SOURCE_TABLES}


@pytest.fixture(scope="module")
def settings():
    return default_settings()


@pytest.fixture(scope="module")
def fact(source, settings):
    return build_fact(source["claims"], source["claim_events"], source["surveys"],
                      source["complaints"], source["customer_costs"], settings, KEY)


@pytest.fixture(scope="module")
def daily(fact, source, settings):
    return daily_service_metrics(fact, source["surveys"], source["complaints"], settings)


@pytest.fixture(scope="module")
def attainment(fact, settings):
    return daily_standard_attainment(fact, settings)


def test_fact_columns_and_privacy(fact, source):
    assert list(fact.columns) == list(FACT_COLUMNS)
    assert "customer_id" not in fact.columns
    assert len(fact) == 5 and list(fact["claim_id"]) == ["A", "B", "C", "D", "E"]
    assert fact["customer_key"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert fact["customer_key"].nunique() == 5
    raw_ids = set(source["claims"]["customer_id"])
    for col in fact.columns:
        assert not fact[col].astype(str).isin(raw_ids).any(), col


def test_fact_measures(fact):
    exp = _expected("expected_fact_measures.csv")
    got = fact.set_index("claim_id")
    assert set(exp["claim_id"]) == set(got.index)
    for _, row in exp.iterrows():
        for col in exp.columns:
            if col == "claim_id":
                continue
            actual = got.at[row["claim_id"], col]
            if isinstance(actual, (np.floating, np.integer)):
                actual = float(actual)
            if isinstance(actual, np.bool_):
                actual = bool(actual)
            _same(actual, _parse(col, row[col]), f"{row['claim_id']}.{col}")


def test_fact_other_columns(fact):
    f = fact.set_index("claim_id")
    ts = lambda s: pd.Timestamp(s).tz_convert("UTC")  # noqa: E731
    # C: first milestones, last close, one reopen within 30 days, closed again -> not open
    assert f.at["C", "closed_at"] == ts("2026-03-04T15:00:00+08:00")
    assert f.at["C", "last_closed_at"] == ts("2026-03-12T09:00:00+08:00")
    assert f.at["C", "reopened_count"] == 1 and not f.at["C", "is_open"]
    assert f.at["D", "is_open"] and pd.isna(f.at["D", "closed_date"])
    assert f.at["E", "closed_date"] == D5  # 17:00 UTC on 03-04, 01:00 +08 on 03-05
    # surveys and complaints
    assert f.at["A", "survey_csat"] == 5 and f.at["A", "survey_nps"] == 9 and f.at["A", "survey_effort"] == 6
    assert f.at["C", "survey_csat"] == 4 and pd.isna(f.at["C", "survey_nps"])
    assert pd.isna(f.at["D", "survey_csat"])
    assert list(f["complaints"]) == [0, 1, 0, 0, 0]
    # source_updated_at: B's complaint (updated 03-09) is newer than anything else of B
    assert f.at["B", "source_updated_at"] == ts("2026-03-09T09:00:00+08:00")
    assert f.at["A", "source_updated_at"] == ts("2026-03-06T10:00:00+08:00")  # survey S1
    assert f.at["D", "source_updated_at"] == ts("2026-03-02T12:00:00+08:00")  # cost K5
    # dtypes
    assert fact["reopened_count"].dtype == "int64" and fact["complaints"].dtype == "int64"
    assert fact["is_open"].dtype == bool and fact["reopened_within_30d"].dtype == bool
    assert fact["survey_csat"].dtype == "Int64"
    assert str(fact["closed_at"].dtype).startswith("datetime64") and str(fact["closed_at"].dt.tz) == "UTC"


def test_daily_service_metrics_matches_golden(daily):
    exp = _expected("expected_daily_service_metrics.csv")
    assert list(daily.columns) == list(exp.columns) == list(DAILY_COLUMNS)
    keys = ["metric_date", "product_line", "channel", "region"]
    got_keys = [tuple(r) for r in daily[keys].astype(str).itertuples(index=False)]
    exp_keys = [tuple(r) for r in exp[keys].itertuples(index=False)]
    assert len(got_keys) == len(set(got_keys))
    assert set(got_keys) == set(exp_keys)
    assert got_keys == exp_keys  # same order too (sorted by the key)
    got = daily.assign(_k=got_keys).set_index("_k")
    for k, (_, row) in zip(exp_keys, exp.iterrows()):
        for col in exp.columns:
            actual = got.at[k, col]
            if isinstance(actual, (np.floating, np.integer)):
                actual = float(actual)
            _same(actual, _parse(col, row[col]), f"{k}.{col}")


def test_daily_dtypes(daily):
    assert all(isinstance(d, dt.date) for d in daily["metric_date"])
    for col in ("closed_claims", "decided_claims", "survey_responses", "complaints_received",
                "regulator_complaints"):
        assert daily[col].dtype == "int64", col
    for col in ("paid_amount_total", "customer_cost_total", "paid_rate", "nps"):
        assert daily[col].dtype == "float64", col
    assert daily["paid_amount_total"].notna().all() and daily["customer_cost_total"].notna().all()


def test_daily_dates_filter(fact, source, settings, daily):
    only = daily_service_metrics(fact, source["surveys"], source["complaints"], settings, dates=[D5])
    assert set(only["metric_date"]) == {D5}
    expected = daily[daily["metric_date"] == D5].reset_index(drop=True)
    pd.testing.assert_frame_equal(only, expected)


def _att(attainment, date, std, pl="ALL", ch="ALL", rg="ALL"):
    rows = attainment[(attainment["metric_date"] == date) & (attainment["standard_id"] == std)
                      & (attainment["product_line"] == pl) & (attainment["channel"] == ch)
                      & (attainment["region"] == rg)]
    assert len(rows) == 1, (date, std, pl, ch, rg)
    return rows.iloc[0]


def test_attainment_by_hand(attainment, daily):
    assert list(attainment.columns) == list(ATTAINMENT_COLUMNS)
    # one row per standard for each combination with at least one closed claim
    closed_keys = daily.loc[daily["closed_claims"] > 0, ["metric_date", "product_line", "channel", "region"]]
    assert len(attainment) == 2 * len(closed_keys) == 2 * (10 + 5)
    # 03-04 closes A (simple), B (complex, decided in 11 days, never paid), C (simple)
    r = _att(attainment, D4, "internal_decision_30d")
    assert (r.eligible_claims, r.met_claims, r.attainment_rate, bool(r.meets_target)) == (1, 1, 1.0, True)
    assert r.measure == "report_to_decision_days" and r.max_value == 30.0 and r.target_rate == 0.95
    r = _att(attainment, D4, "internal_payment_10d")  # A (1 day) and C (0.25 day)
    assert (r.eligible_claims, r.met_claims, r.attainment_rate, bool(r.meets_target)) == (2, 2, 1.0, True)
    r = _att(attainment, D4, "internal_decision_30d", rg="BJ")  # A and C are simple
    assert (r.eligible_claims, r.met_claims) == (0, 0)
    assert np.isnan(r.attainment_rate) and r.meets_target is pd.NA
    r = _att(attainment, D4, "internal_payment_10d", "auto", "phone", "SH")  # B: no paid_at
    assert (r.eligible_claims, r.met_claims) == (0, 0) and r.meets_target is pd.NA
    # 03-05: only E (withdrawn, never decided): nothing eligible
    for std in ("internal_decision_30d", "internal_payment_10d"):
        r = _att(attainment, D5, std)
        assert (r.eligible_claims, r.met_claims) == (0, 0)
        assert np.isnan(r.attainment_rate) and r.meets_target is pd.NA
    # 03-05 ALL/ALL/SH only has a complaint: no attainment row
    assert not ((attainment["metric_date"] == D5) & (attainment["region"] == "SH")).any()
    assert D6 not in set(attainment["metric_date"])
    assert attainment["meets_target"].dtype == "boolean"
    assert attainment["eligible_claims"].dtype == "int64"


def test_golden_copy_matches_spec():
    from ..conftest import SPEC

    spec = SPEC / "golden"
    if not spec.is_dir():
        pytest.skip("../shared/spec/golden is not beside this checkout")
    for f in spec.iterdir():
        assert (GOLDEN / f.name).read_bytes() == f.read_bytes(), f.name
