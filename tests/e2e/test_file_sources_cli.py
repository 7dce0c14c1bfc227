"""Folder sources the way real exports arrive, end to end: the golden folder as Excel exports
it (BOM, CRLF, thousands separators, `2026/11/25 08:30` dates, quoted fields with embedded
newlines, several files per table), in GB18030, and partly as Parquet, each through
`claimpulse run --source <folder>`, must give the plain golden run's metrics.

The runs report to the session's Prefect harness (`api_env`) rather than start a temporary
server each. Reading those folders without the CLI: tests/unit/test_file_sources.py.
"""
from __future__ import annotations

import pandas as pd
import pytest

from ..conftest import GOLDEN
from ..helpers.runs import run_many, snapshot
from ..helpers.sources import TABLES, excel_folder, golden, parquet_folder

RUN_COLUMNS = ("loaded_at", "run_id")


def comparable(snap: dict, table: str) -> pd.DataFrame:
    df = snap[table].drop(columns=[c for c in RUN_COLUMNS if c in snap[table]])
    return df.sort_values(list(df.columns)[:4]).reset_index(drop=True)


@pytest.fixture(scope="module")
def golden_runs(tmp_path_factory, api_env):
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
