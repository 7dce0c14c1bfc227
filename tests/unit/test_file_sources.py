"""Folder sources the way real exports arrive: many files per table, UTF-8 or GB18030, Parquet,
and the quirks of Excel (BOM, CRLF, thousands separators, `2026/11/25 08:30` dates, quoted
fields with embedded newlines). Read correctly, or quarantined / failed with a reason: never a
crash. The folders are built by tests/helpers/sources.py; end to end through
`claimpulse run --source <folder>`: tests/e2e/test_file_sources_cli.py.
"""
from __future__ import annotations

import pandas as pd
import pytest

from claimpulse.config import default_settings
from claimpulse.extract import FolderSource, SourceError, read_table
from claimpulse.schema import CLAIM_EVENTS, CLAIMS, COMPLAINTS, SOURCE_TABLES, SURVEYS
from claimpulse.validate import validate_sources

from ..conftest import GOLDEN
from ..helpers.sources import TABLES, excel_folder, quirky, write_csv


def read_all(folder, encoding="utf-8"):
    src = FolderSource(str(folder), encoding=encoding)
    return {t: read_table(src, SOURCE_TABLES[t], "Asia/Shanghai") for t in TABLES}


def test_excel_quirks_read_into_the_same_typed_values(tmp_path):
    plain = read_all(GOLDEN)
    for enc in ("utf-8", "gb18030"):
        reads = read_all(excel_folder(tmp_path / enc, encoding=enc), encoding=enc)
        for t in TABLES:
            assert reads[t].failures.empty, (enc, t, reads[t].failures)
            got = reads[t].typed.sort_values(SOURCE_TABLES[t].key).reset_index(drop=True)
            want = plain[t].typed.sort_values(SOURCE_TABLES[t].key).reset_index(drop=True)
            for col in ("comment", "category"):
                if col in got:
                    got, want = got.drop(columns=col), want.drop(columns=col)
            pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=f"{enc}: {t}")
        assert reads["surveys"].typed["comment"].iloc[0] == "很满意,\r\n第二行 \"引号\""


def test_gb18030_folder_read_as_utf8_is_a_clear_table_error(tmp_path):
    folder = excel_folder(tmp_path / "gb", encoding="gb18030")
    with pytest.raises(SourceError, match=r"surveys: file .*surveys\.csv is not utf-8 .*source_encoding"):
        read_table(FolderSource(str(folder)), SURVEYS, "Asia/Shanghai")


def test_bad_excel_values_are_quarantined_with_reasons(tmp_path):
    folder = excel_folder(tmp_path / "src")
    claims = quirky("claims")
    claims.loc[1, "claimed_amount"] = "20.000,00"        # European grouping: not a number here
    claims.loc[2, "reported_at"] = "2026年3月3日"          # a date Excel localised
    claims.loc[3, "paid_amount"] = "1,0"                 # malformed grouping
    write_csv(claims, folder / "claims.csv")
    reads = read_all(folder)
    got = sorted(zip(reads["claims"].failures["row"], reads["claims"].failures["reason"]))
    assert got == [(1, "claimed_amount_invalid"), (2, "reported_at_invalid"), (3, "paid_amount_invalid")]
    outcome = validate_sources({t: r.typed for t, r in reads.items()}, {t: r.raw for t, r in reads.items()},
                               {t: r.failures for t, r in reads.items()}, default_settings(),
                               pd.Timestamp("2026-04-01", tz="UTC"), "test")
    q = outcome.quarantine.set_index("source_key")
    assert q.loc["B", "reasons"] == "claimed_amount_invalid"
    assert q.loc["C", "reasons"] == "reported_at_invalid"
    assert q.loc["D", "reasons"] == "paid_amount_invalid"
    assert '"reported_at":"2026年3月3日"' in q.loc["C", "row_data"]   # the raw value, as the file had it
    counts = outcome.counts.set_index("source_table")
    assert (counts["rows_read"] == counts["rows_accepted"] + counts["rows_quarantined"]).all()


def test_one_file_of_many_missing_a_required_column_names_the_file(tmp_path):
    folder = excel_folder(tmp_path / "src")
    day = sorted(folder.glob("claim_events_*.csv"))[1]
    df = pd.read_csv(day, dtype=str, encoding="utf-8").drop(columns=["actor_role"])
    write_csv(df, day, bom=False)
    with pytest.raises(SourceError, match=rf"claim_events: missing required column 'actor_role' in file .*{day.name}"):
        read_table(FolderSource(str(folder)), CLAIM_EVENTS, "Asia/Shanghai")


def test_unreadable_csv_is_a_table_error_naming_the_file(tmp_path):
    folder = excel_folder(tmp_path / "src")
    (folder / "complaints.csv").write_bytes(
        b"complaint_id,claim_id,received_at,source,category,resolved_at,updated_at\r\n"
        b'Q1,B,2026/3/5 09:00,regulator,"denial never closed,,\r\n')
    with pytest.raises(SourceError, match=r"complaints: cannot read .*complaints\.csv: .*EOF inside string"):
        read_table(FolderSource(str(folder)), COMPLAINTS, "Asia/Shanghai")


def test_empty_file_and_prefix_sharing_tables(tmp_path):
    folder = excel_folder(tmp_path / "src")
    (folder / "claims_2026-03-07.csv").write_bytes(b"")          # an export of an empty day
    (folder / "claimsarchive.csv").write_text("not,a,claims,file\n")  # shares the prefix only
    r = read_table(FolderSource(str(folder)), CLAIMS, "Asia/Shanghai")
    assert r.typed["claim_id"].tolist() == ["A", "B", "C", "D", "E"]
    assert r.failures.empty and r.extra_columns == []


def test_missing_folder_and_missing_table_are_clear(tmp_path):
    with pytest.raises(SourceError, match="source folder not found"):
        FolderSource(str(tmp_path / "nope"))
    folder = excel_folder(tmp_path / "src")
    for f in folder.glob("surveys*"):
        f.unlink()
    with pytest.raises(SourceError, match=r"source table 'surveys' not found: no surveys\*\.csv"):
        read_table(FolderSource(str(folder)), SURVEYS, "Asia/Shanghai")


def test_year_last_dates_are_never_guessed(tmp_path):
    """`03/04/2026` is 3 April to some exports and March 4 to others: such a value is not read
    (a guess would mix month-first and day-first within one column); the row is quarantined,
    and a column made mostly of them fails the table with an example."""
    from claimpulse.extract import coerce_table

    folder = excel_folder(tmp_path / "src")
    claims = quirky("claims")
    claims.loc[1, "reported_at"] = "20/02/2026 10:00"     # only day-first makes sense ...
    claims.loc[3, "reported_at"] = "02/03/2026 08:00"     # ... but this one could be either
    write_csv(claims, folder / "claims.csv")
    r = read_table(FolderSource(str(folder)), CLAIMS, "Asia/Shanghai")
    assert sorted(zip(r.failures["row"], r.failures["reason"])) == [(1, "reported_at_invalid"),
                                                                   (3, "reported_at_invalid")]
    assert r.typed["reported_at"].notna().sum() == 3
    many = pd.concat([claims] * 5, ignore_index=True).assign(
        claim_id=lambda d: d["claim_id"] + d.index.astype(str), reported_at="04.03.2026")
    with pytest.raises(SourceError, match=r"claims\.reported_at: 25 of 25 values cannot be read as "
                                          r"timestamp \(e\.g\. '04\.03\.2026'\)"):
        coerce_table(many, CLAIMS, "Asia/Shanghai")
