"""The validation option the architecture issue asked to measure: GX's SQL execution engine
validating staged tables where they live, against the pandas path the pipeline uses.

    .venv/bin/python bench/probe_gx_sql.py sqlite:///bench/.cache/src-n200000-s1-d365.sqlite \
        [--pg "host=127.0.0.1 user=postgres dbname=test"]

Reads the source, validates every table with the project's suites both ways through GX's
public API (the typed frames as they are, not the compact frame the pipeline hands GX; no
Data Docs), and prints the seconds and each table's unexpected-row count (they must agree).
The SQL side stages the typed frames into a scratch schema `gxprobe` (dropped afterwards)
with COPY.

Measured 2026-12-07 at 200k claims (1.78M rows) on the 2-core machine: pandas engine 4.5 s
(the pipeline's compact frame: about 3 s); SQL engine on PostgreSQL 5.8 s, plus 15.6 s to
stage the rows; identical counts. On DuckDB (through duckdb_engine) GX 1.24.1's
SqlAlchemyExecutionEngine failed in our try: its metric bundle query returned no row
(IndexError in resolve_metric_bundle). So the pipeline keeps the pandas engine.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("--pg", default="host=127.0.0.1 user=postgres dbname=test")
    args = ap.parse_args()
    os.environ["CLAIMPULSE_CHUNK_CLAIMS"] = "1000000000"   # one frame per table

    import great_expectations as gx
    import pandas as pd
    import psycopg

    from claimpulse import pipeline
    from claimpulse.config import load_config
    from claimpulse.extract import open_source
    from claimpulse.schema import TABLE_ORDER
    from claimpulse.validate import suite_parameters

    settings = load_config(None)
    plan = pipeline.RunPlan("full", None, True, {}, {}, {}, 0)
    typed = {t: r.typed.reset_index(drop=True)
             for t, r in pipeline.extract(open_source(args.source), settings, plan).items()}
    params = suite_parameters(settings, pd.Timestamp.now(tz="UTC"))
    ctx = gx.get_context(mode="ephemeral")
    suites = {}
    for t in TABLE_ORDER:   # the project's suites, as stored
        stored = json.loads((REPO / "expectations" / "suites" / f"{t}.json").read_text())
        suites[t] = ctx.suites.add(gx.ExpectationSuite(name=f"{t}_probe", expectations=[
            {k: e[k] for k in ("type", "kwargs", "meta")} for e in stored["expectations"]]))
    fmt = {"result_format": "COMPLETE", "partial_unexpected_count": 0}

    def unexpected(res) -> int:
        return sum(int((er.result or {}).get("unexpected_count") or 0) for er in res.results)

    frames = ctx.data_sources.add_pandas("frames")
    t0 = time.perf_counter()
    pandas_unexpected = {}
    for t in TABLE_ORDER:
        batch = frames.add_dataframe_asset(t).add_batch_definition_whole_dataframe("all") \
            .get_batch(batch_parameters={"dataframe": typed[t]})
        pandas_unexpected[t] = unexpected(batch.validate(suites[t], expectation_parameters=params,
                                                         result_format=fmt))
    pandas_s = time.perf_counter() - t0

    def sql_type(k) -> str:
        if pd.api.types.is_integer_dtype(k):
            return "bigint"
        if pd.api.types.is_float_dtype(k):
            return "double precision"
        return "timestamptz" if pd.api.types.is_datetime64_any_dtype(k) else "text"

    t0 = time.perf_counter()
    with psycopg.connect(args.pg, autocommit=True) as pg:
        pg.execute("DROP SCHEMA IF EXISTS gxprobe CASCADE; CREATE SCHEMA gxprobe")
        for t in TABLE_ORDER:
            df = typed[t].copy()
            df.insert(0, "_row", range(len(df)))
            pg.execute(f"CREATE TABLE gxprobe.{t} ("
                       + ", ".join(f'"{c}" {sql_type(df[c].dtype)}' for c in df.columns) + ")")
            buf = io.StringIO()
            df.to_csv(buf, index=False, header=False)
            with pg.cursor().copy(f"COPY gxprobe.{t} FROM STDIN WITH (FORMAT csv)") as cp:
                cp.write(buf.getvalue())
    stage_s = time.perf_counter() - t0

    info = psycopg.conninfo.conninfo_to_dict(args.pg)
    url = f"postgresql+psycopg://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}/{info['dbname']}"
    ds = ctx.data_sources.add_postgres("stage", connection_string=url)
    sql_unexpected = {}
    t0 = time.perf_counter()
    try:
        for t in TABLE_ORDER:
            batch = ds.add_table_asset(name=t, table_name=t, schema_name="gxprobe") \
                .add_batch_definition_whole_table("all").get_batch()
            sql_unexpected[t] = unexpected(batch.validate(suites[t], expectation_parameters=params, result_format={
                **fmt, "unexpected_index_column_names": ["_row"]}))
        sql_s = time.perf_counter() - t0
    finally:
        with psycopg.connect(args.pg, autocommit=True) as pg:
            pg.execute("DROP SCHEMA IF EXISTS gxprobe CASCADE")
    print(json.dumps({"rows": {t: len(typed[t]) for t in TABLE_ORDER}, "pandas_s": round(pandas_s, 2),
                      "sql_stage_s": round(stage_s, 2), "sql_validate_s": round(sql_s, 2),
                      "pandas_unexpected": pandas_unexpected, "sql_unexpected": sql_unexpected,
                      "agree": pandas_unexpected == sql_unexpected}))


if __name__ == "__main__":
    main()
