"""Folder sources the way real exports arrive: many files per table, UTF-8 or GB18030, Parquet,
and the quirks of Excel (BOM, CRLF, thousands separators, `2026/11/25 08:30` dates, quoted
fields with embedded newlines). Read correctly, or quarantined / failed with a reason: never a
crash. End to end through `claimpulse run --source <folder>`, compared with the plain golden run.
"""
from __future__ import annotations

import csv
import io
import re

import pandas as pd
import pytest

from claimpulse.config import default_settings
from claimpulse.extract import FolderSource, SourceError, read_table
from claimpulse.schema import CLAIM_EVENTS, CLAIMS, COMPLAINTS, SOURCE_TABLES, SURVEYS
from claimpulse.validate import validate_sources

from .conftest import GOLDEN
from .test_faults import api_env, harness, run_many, snapshot  # noqa: F401  (fixtures)

TABLES = tuple(SOURCE_TABLES)
RUN_COLUMNS = ("loaded_at", "run_id")


def golden(table: str) -> pd.DataFrame:
    return pd.read_csv(GOLDEN / f"{table}.csv", dtype=str, keep_default_na=False)


def excel_time(value: str) -> str:
    """`2026-03-01T09:00:00+08:00` -> `2026/03/01 09:00` (naive local, as Excel writes it)."""
    if not value:
        return value
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):00\+08:00", value)
    assert m, value
    y, mo, d, h, mi = m.groups()
    return f"{y}/{int(mo)}/{int(d)} {h}:{mi}" if int(d) % 2 else f"{y}/{mo}/{d} {h}:{mi}"


def thousands(value: str) -> str:
    """`20000.00` -> `20,000.00` (Excel's number format)."""
    if not value:
        return value
    whole, _, frac = value.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "")


def quirky(table: str) -> pd.DataFrame:
    """The golden rows of `table` with the Excel quirks applied to its values."""
    df = golden(table)
    for col, kind in SOURCE_TABLES[table].columns.items():
        if col not in df:
            continue
        if kind == "timestamp":
            df[col] = df[col].map(excel_time)
        elif kind == "decimal":
            df[col] = df[col].map(thousands)
    if table == "surveys":
        df.loc[0, "comment"] = "很满意,\r\n第二行 \"引号\""
    if table == "complaints":
        df.loc[0, "category"] = "denial\nsecond line, with comma"
    return df


def write_csv(df: pd.DataFrame, path, encoding: str = "utf-8", bom: bool = True) -> None:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    data = buf.getvalue().encode(encoding)
    if bom and encoding == "utf-8":
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)


def excel_folder(dst, encoding: str = "utf-8"):
    """Golden source as an Excel user exports it: quirks, several files per table."""
    dst.mkdir()
    for t in TABLES:
        df = quirky(t)
        if t == "claim_events":  # one file per day of events
            day = df["occurred_at"].str.slice(0, 10).str.replace("/", "-")
            for i, (d, part) in enumerate(df.groupby(day, sort=True)):
                write_csv(part, dst / f"claim_events_{d}.csv", encoding, bom=i == 0)
        elif t == "customer_costs":
            write_csv(df.iloc[:2], dst / "customer_costs_part1.csv", encoding)
            write_csv(df.iloc[2:], dst / "CUSTOMER_COSTS_part2.CSV", encoding)
        else:
            write_csv(df, dst / f"{t}.csv", encoding)
    return dst


def parquet_folder(dst):
    """Golden source partly as Parquet (typed columns), partly CSV, a table split over both."""
    dst.mkdir()
    claims = golden("claims")
    for col in ("claimed_amount", "paid_amount"):
        claims[col] = pd.to_numeric(claims[col].replace("", None)).astype("float64")
    for col in ("reported_at", "updated_at"):
        claims[col] = pd.to_datetime(claims[col], utc=True).dt.tz_convert("Asia/Shanghai")
    claims.to_parquet(dst / "claims.parquet")
    ev = golden("claim_events")
    ev.iloc[:9].to_parquet(dst / "claim_events_1.parquet")
    write_csv(ev.iloc[9:], dst / "claim_events_2.csv")
    surveys = golden("surveys")
    for col in ("csat", "nps", "effort"):
        surveys[col] = pd.to_numeric(surveys[col].replace("", None)).astype("Int64")
    surveys.to_parquet(dst / "surveys.parquet")
    for t in ("complaints", "customer_costs"):
        write_csv(golden(t), dst / f"{t}.csv", bom=False)
    return dst


def comparable(snap: dict, table: str) -> pd.DataFrame:
    df = snap[table].drop(columns=[c for c in RUN_COLUMNS if c in snap[table]])
    return df.sort_values(list(df.columns)[:4]).reset_index(drop=True)


@pytest.fixture(scope="module")
def golden_runs(tmp_path_factory, api_env):  # noqa: F811
    """The plain golden folder and the three quirky variants, run through the CLI at once."""
    d = tmp_path_factory.mktemp("filesrc")
    utf8 = excel_folder(d / "excel_utf8")
    gb = excel_folder(d / "excel_gb18030", encoding="gb18030")
    pq = parquet_folder(d / "parquet")
    cfg = d / "gb.yaml"
    cfg.write_text("source_encoding: gb18030\n", encoding="utf-8")
    names = {"plain": (GOLDEN, None), "utf8": (utf8, None), "gb18030": (gb, cfg), "parquet": (pq, None)}
    cmds = {}
    for name, (src, config) in names.items():
        args = ["run", "--source", str(src), "--warehouse", f"duckdb:///{d / name}.duckdb"]
        if config:
            args += ["--config", str(config)]
        cmds[name] = args
    procs = run_many(cmds, env=api_env)
    return d, procs


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["utf8", "gb18030", "parquet"])
def test_quirky_folder_gives_the_golden_metrics(golden_runs, variant):
    d, procs = golden_runs
    for name in ("plain", variant):
        p = procs[name]
        assert p.returncode == 0, f"{name}: {p.stderr}\n{p.stdout[-2000:]}"
        assert p.stderr.strip() == ""
    plain, got = snapshot(d / "plain.duckdb"), snapshot(d / f"{variant}.duckdb")
    for table in ("daily_service_metrics", "daily_standard_attainment", "fact_claim_service",
                  "fact_survey_response"):
        pd.testing.assert_frame_equal(comparable(got, table), comparable(plain, table),
                                      check_dtype=False, obj=f"{variant}: {table}")
    assert len(got["daily_service_metrics"]) == 29
    runs = got["pipeline_runs"]
    assert (runs["status"] == "succeeded").all() and len(runs) == 1
    for t in TABLES:
        assert runs[f"{t}_read"][0] == len(golden(t)), t
        assert runs[f"{t}_quarantined"][0] == 0, t
    assert len(got["dq_quarantine"]) == 0
    if variant != "parquet":  # the quoted category with an embedded newline and comma
        assert got["fact_complaint"]["category"].tolist() == ["denial\nsecond line, with comma"]


# ----------------------------------------------------------------------------- unit level


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
