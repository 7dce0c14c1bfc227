"""Extraction and coercion: SOURCE.md's type and timezone rules, row- vs table-level errors."""
import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from claimpulse.extract import (FolderSource, SourceError, SqlSource, coerce_table, mask_url,
                                read_table)
from claimpulse.schema import CLAIMS, SOURCE_TABLES, SURVEYS

from ..conftest import GOLDEN


def utc(s):
    return pd.Timestamp(s).tz_convert("UTC") if pd.Timestamp(s).tzinfo else pd.Timestamp(s, tz="UTC")


def survey_raw(**over):
    base = {"response_id": ["S1"], "claim_id": ["A"], "responded_at": ["2026-03-06T10:00:00+08:00"],
            "csat": ["5"], "nps": ["9"], "effort": ["6"], "comment": ["ok"],
            "updated_at": ["2026-03-06T10:00:00+08:00"]}
    base.update(over)
    return pd.DataFrame(base)


@pytest.mark.parametrize("value, tz, expected_utc", [
    ("2026-03-04T21:00:00+08:00", "Asia/Shanghai", "2026-03-04T13:00:00"),
    ("2026-03-04T13:00:00Z", "Asia/Shanghai", "2026-03-04T13:00:00"),
    ("2026-03-04 21:00:00", "Asia/Shanghai", "2026-03-04T13:00:00"),        # naive: source tz
    ("2026-03-04 21:00:00", "America/New_York", "2026-03-05T02:00:00"),     # EST, UTC-5
    ("2026-07-04 21:00:00", "America/New_York", "2026-07-05T01:00:00"),     # EDT, UTC-4
    ("2026-03-04", "Asia/Shanghai", "2026-03-03T16:00:00"),                 # date only: local midnight
    ("2026/11/25 08:30", "Asia/Shanghai", "2026-11-25T00:30:00"),           # Excel export
    ("2026-03-04T21:00:00-05:00", "Asia/Shanghai", "2026-03-05T02:00:00"),
])
def test_timestamps_become_utc_instants(value, tz, expected_utc):
    r = coerce_table(survey_raw(responded_at=[value]), SURVEYS, tz)
    assert r.failures.empty
    assert r.typed["responded_at"].iloc[0] == pd.Timestamp(expected_utc, tz="UTC")


def test_typed_sql_timestamps_naive_are_read_in_source_tz():
    raw = survey_raw(responded_at=[pd.Timestamp("2026-03-04 21:00:00")])
    raw["responded_at"] = pd.to_datetime(raw["responded_at"])
    r = coerce_table(raw, SURVEYS, "Asia/Shanghai")
    assert r.typed["responded_at"].iloc[0] == pd.Timestamp("2026-03-04T13:00:00", tz="UTC")


def test_uncastable_value_is_a_row_level_failure():
    raw = survey_raw(response_id=["S1", "S2", "S3"], claim_id=["A"] * 3,
                     responded_at=["2026-03-06T10:00:00+08:00", "yesterday", None],
                     csat=["5", "4.5", "five"], nps=["9", "", None], effort=["6"] * 3,
                     comment=[None] * 3, updated_at=["2026-03-06T10:00:00+08:00"] * 3)
    r = coerce_table(raw, SURVEYS, "Asia/Shanghai")
    got = sorted(zip(r.failures["row"], r.failures["reason"]))
    assert got == [(1, "csat_invalid"), (1, "responded_at_invalid"), (2, "csat_invalid")]
    assert r.typed["csat"].tolist()[0] == 5 and pd.isna(r.typed["csat"].iloc[1])
    assert str(r.typed["csat"].dtype) == "Int64"
    assert pd.isna(r.typed["nps"].iloc[1])  # empty string is missing, not a failure


def test_thousands_separators_in_amounts():
    raw = pd.read_csv(GOLDEN / "claims.csv", dtype=str)
    raw.loc[1, "claimed_amount"] = "20,000.00"
    raw.loc[2, "claimed_amount"] = "1,5"
    r = coerce_table(raw, CLAIMS, "Asia/Shanghai")
    assert r.typed["claimed_amount"].iloc[1] == 20000.0
    assert r.failures[["row", "reason"]].values.tolist() == [[2, "claimed_amount_invalid"]]


def test_missing_required_column_is_a_table_error_naming_it():
    raw = survey_raw().drop(columns=["responded_at"])
    with pytest.raises(SourceError, match=r"surveys: missing required column 'responded_at'"):
        coerce_table(raw, SURVEYS, "Asia/Shanghai")


def test_optional_comment_column_may_be_absent():
    r = coerce_table(survey_raw().drop(columns=["comment"]), SURVEYS, "Asia/Shanghai")
    assert r.typed["comment"].isna().all() and r.failures.empty


def test_mostly_uncastable_column_fails_the_table_with_an_example():
    n = 40
    raw = survey_raw(response_id=[f"S{i}" for i in range(n)], claim_id=["A"] * n,
                     responded_at=["2026-03-06T10:00:00+08:00"] * n, csat=["great"] * 30 + ["4"] * 10,
                     nps=["9"] * n, effort=["6"] * n, comment=[None] * n,
                     updated_at=["2026-03-06T10:00:00+08:00"] * n)
    with pytest.raises(SourceError, match=r"surveys\.csat: 30 of 40 values cannot be read as integer \(e\.g\. 'great'\)"):
        coerce_table(raw, SURVEYS, "Asia/Shanghai")


def test_extra_columns_are_reported_not_fatal():
    r = coerce_table(survey_raw(channel_hint=["x"]), SURVEYS, "Asia/Shanghai")
    assert r.extra_columns == ["channel_hint"]
    assert list(r.typed.columns) == list(SURVEYS.columns)


def test_folder_source_reads_golden_csvs():
    src = FolderSource(str(GOLDEN))
    counts = {t: len(read_table(src, SOURCE_TABLES[t], "Asia/Shanghai").typed) for t in SOURCE_TABLES}
    assert counts == {"claims": 5, "claim_events": 18, "surveys": 3, "complaints": 1, "customer_costs": 5}


def test_folder_source_many_files_and_gb18030(tmp_path):
    raw = pd.read_csv(GOLDEN / "surveys.csv", dtype=str)
    raw.iloc[:2].to_csv(tmp_path / "surveys_2026-03-06a.csv", index=False, encoding="gb18030")
    raw.iloc[2:].to_csv(tmp_path / "surveys_2026-03-06b.csv", index=False, encoding="gb18030")
    with pytest.raises(SourceError, match="not utf-8"):
        read_table(FolderSource(str(tmp_path)), SURVEYS, "Asia/Shanghai")
    r = read_table(FolderSource(str(tmp_path), encoding="gb18030"), SURVEYS, "Asia/Shanghai")
    assert len(r.typed) == 3 and r.typed["comment"].iloc[0] == "很满意"


def test_folder_source_bom_crlf_parquet(tmp_path):
    raw = pd.read_csv(GOLDEN / "claims.csv", dtype=str)
    (tmp_path / "claims.csv").write_bytes(b"\xef\xbb\xbf" + raw.to_csv(index=False, lineterminator="\r\n").encode())
    r = read_table(FolderSource(str(tmp_path)), CLAIMS, "Asia/Shanghai")
    assert r.typed["claim_id"].tolist() == ["A", "B", "C", "D", "E"]
    assert r.typed["updated_at"].notna().all()
    (tmp_path / "claims.csv").unlink()
    raw.to_parquet(tmp_path / "claims.parquet")
    assert len(read_table(FolderSource(str(tmp_path)), CLAIMS, "Asia/Shanghai").typed) == 5


def test_sql_source_reads_by_claim_and_missing_table_is_clear(tmp_path):
    url = f"sqlite:///{tmp_path}/s.sqlite"
    eng = sa.create_engine(url)
    pd.read_csv(GOLDEN / "surveys.csv", dtype=str).to_sql("surveys", eng, index=False)
    src = SqlSource(url)
    r = read_table(src, SURVEYS, "Asia/Shanghai", claim_ids=["A", "C"])
    assert sorted(r.typed["response_id"]) == ["S1", "S3"]
    with pytest.raises(SourceError, match="source table 'claims' not found"):
        read_table(src, CLAIMS, "Asia/Shanghai")


def test_mask_url_hides_passwords():
    assert mask_url("postgresql://u:s3cret@h/db") == "postgresql://u:***@h/db"
    assert "s3cret" not in mask_url("mysql+pymysql://root:s3cret@127.0.0.1:3306/x")


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York", "Europe/London", "Asia/Kathmandu"])
def test_arrow_fast_path_equals_the_general_parser(tz):
    from claimpulse.extract import _fast_iso_timestamps, to_timestamp

    naive = pd.Series(["2026-03-08 02:30:00", "2026-11-01 01:30:00", "2026-03-29T01:30:00",
                       "2026-10-25 01:30:00.250", None, "2026-07-01 12:00:00"])
    aware = pd.Series(["2026-03-08T02:30:00-05:00", "2026-11-01 01:30:00+05:45", None, "2026-01-01T00:00:00Z"])
    for s in (naive, aware):
        fast = _fast_iso_timestamps(s, tz)
        assert fast is not None
        # one Excel-style value forces the general path for the whole column
        general, bad = to_timestamp(pd.concat([s, pd.Series(["2026/11/25 08:30"])], ignore_index=True), tz)
        assert not bad.any()
        pd.testing.assert_series_equal(fast, general.iloc[:-1], check_names=False)


def test_huge_integer_is_a_bad_value_not_a_crash():
    r = coerce_table(survey_raw(csat=["1e300"]), SURVEYS, "Asia/Shanghai")
    assert r.failures["reason"].tolist() == ["csat_invalid"] and pd.isna(r.typed["csat"].iloc[0])


# --------------------------------------------------------------------------- reads a nightly run makes

_SINCE = pd.Timestamp("2026-11-30T00:00:00Z")
_UPDATED = {  # claim_id -> updated_at as the source spells it
    "old": "2026-10-01T08:00:00+08:00",          # long before the watermark: never read
    "day_before": "2026-11-29 09:00:00",         # within a day of it: read, compared exactly
    "new": "2026-11-30T12:00:00+08:00",          # after it
    "none": None,                                # unreadable: re-read every night
    "excel": "2026/11/01 08:00",                 # not ISO text: re-read, then compared
}


def _claims_frame() -> pd.DataFrame:
    return pd.DataFrame({"claim_id": list(_UPDATED), "updated_at": list(_UPDATED.values())})


@pytest.mark.parametrize("kind", ["sqlite", "folder"])
def test_changed_since_is_filtered_in_the_source(tmp_path, kind):
    frame = _claims_frame()
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/s.sqlite"
        frame.to_sql("claims", sa.create_engine(url), index=False)
        source = SqlSource(url)
        source.columns(CLAIMS)
    else:
        frame.to_csv(tmp_path / "claims.csv", index=False)
        source = FolderSource(str(tmp_path))
    got = source.read(CLAIMS, columns=["claim_id", "updated_at"], changed_since=_SINCE)
    assert sorted(got["claim_id"]) == ["day_before", "excel", "new", "none"]
    keyed = source.read(CLAIMS, columns=["claim_id"], keys=["new", "old", "missing"])
    assert sorted(keyed["claim_id"]) == ["new", "old"]


def test_changed_since_on_a_native_timestamp_column_is_a_where_on_it():
    from sqlalchemy.dialects import postgresql

    from claimpulse.extract import changed_since_filter

    where = changed_since_filter("postgresql", sa.column("updated_at"), sa.DateTime(), _SINCE)
    sql = str(where.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    assert sql == "updated_at IS NULL OR updated_at >= '2026-11-29 00:00:00'"
    # a number column cannot be compared with a time: no filter, every row is read
    assert changed_since_filter("postgresql", sa.column("updated_at"), sa.Integer(), _SINCE) is None
