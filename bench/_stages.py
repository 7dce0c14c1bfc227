"""One ClaimPulse run in-process, stage by stage (no Prefect server), for the benchmark.

    python bench/_stages.py --source URL --warehouse URL --out result.json
        [--mode run|extract] [--profile out.html] [--export-daily file.parquet]

`run` follows flows/nightly.py's sequence exactly (plan_changes -> chunks, and per chunk
extract -> validate -> compute -> load, in one transaction), calling the claimpulse functions the Prefect tasks wrap, and times each
stage with time.perf_counter. `extract` times a full-table extraction only (plan + extract),
to compare the SQLite read paths ($CLAIMPULSE_FASTREAD=0 forces the pandas path).
Writes a JSON object: stage seconds, rows read, mode, peak RSS of this process.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import uuid
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--warehouse", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", choices=["run", "extract"], default="run")
    ap.add_argument("--profile", help="write a pyinstrument HTML profile here (and .txt beside it)")
    ap.add_argument("--reconcile", action="store_true",
                    help="plan as `claimpulse run --reconcile` does (scan every source id for deletes)")
    ap.add_argument("--export-daily", help="after the run, write daily_service_metrics to this parquet")
    args = ap.parse_args()

    # Data Docs as a run writes them, beside the results (never the repository's data/docs)
    os.environ.setdefault("CLAIMPULSE_DOCS_DIR", str(Path(args.out).resolve().parent / "docs"))
    t_import = time.perf_counter()
    import pandas as pd

    from claimpulse import pipeline
    from claimpulse import validate as v
    from claimpulse.config import load_config
    from claimpulse.extract import open_source
    from claimpulse.pseudonym import pseudonym_key
    from claimpulse.warehouse import Warehouse
    from flows.nightly import warehouse_keys  # the flow's own helper (imports prefect, starts nothing)
    import_s = time.perf_counter() - t_import

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()

    times: dict[str, float] = {}
    out: dict = {"mode": args.mode, "import_s": round(import_s, 3),
                 "fastread": os.environ.get("CLAIMPULSE_FASTREAD", "1")}

    raised: dict[str, float] = {}   # MB by which each stage raised the process's peak RSS

    def timed(name, fn, *a, **kw):
        t0, rss0 = time.perf_counter(), _peak_rss_mb()
        res = fn(*a, **kw)
        times[name] = times.get(name, 0.0) + time.perf_counter() - t0
        if _peak_rss_mb() > rss0:  # "clocks" runs inside "load": both are credited with its rise
            raised[name] = raised.get(name, 0.0) + _peak_rss_mb() - rss0
        return res

    settings = load_config(None)
    key = pseudonym_key(allow_demo=False)
    source = open_source(args.source, settings.source_encoding)
    if args.mode == "extract":
        plan = pipeline.RunPlan("full", None, True, {}, {}, {}, 0)
        reads = timed("extract", pipeline.extract, source, settings, plan)
        out["rows_read"] = {t: int(len(r.raw)) for t, r in reads.items()}
    else:
        # The service clocks run inside finish_load: time them as their own stage ("clocks",
        # taken out of "load" below) by wrapping the one function that does them.
        from claimpulse import clock_load

        recompute_clocks = clock_load.recompute_clocks

        def timed_clocks(*a, **kw):
            return timed("clocks", recompute_clocks, *a, **kw)

        clock_load.recompute_clocks = timed_clocks
        wh = Warehouse(args.warehouse, settings.schema)
        run = {"run_id": uuid.uuid4().hex, "flow": "nightly", "started_at": pd.Timestamp.now(tz="UTC")}
        with wh.run_lock(f"bench run {run['run_id']}", 0):
            timed("setup", wh.ensure_schema)
            watermarks = timed("setup", wh.watermarks)
            keys = timed("plan", lambda: warehouse_keys(wh) if watermarks and args.reconcile else None)
            plan = timed("plan", pipeline.plan_changes, source, settings, watermarks, keys)
            # GX's one-time import and ephemeral context (once per process; the CLI pays it on
            # every run), timed apart from the validation itself
            timed("validate_init", v.open_gx_project)
            # flows/nightly.py's chunked sequence: one transaction, chunk by chunk
            chunks = timed("extract", pipeline.Chunks, source, settings, plan)
            counts = []
            try:
                with wh.transaction() as conn:
                    state = timed("load", pipeline.begin_load, wh, conn, plan, run)
                    with pipeline.frozen_heap(chunks.n > 1):   # as tasks/chunks.py
                        for i in range(chunks.n):
                            reads = timed("extract", chunks.read, i)
                            # as the flow validates: results stored, the run's Data Docs built
                            # once (in the bench's work folder)
                            outcome = timed("validate", v.validate_sources,
                                            {t: r.typed for t, r in reads.items()},
                                            {t: r.raw for t, r in reads.items()},
                                            {t: r.failures for t, r in reads.items()},
                                            settings, run["started_at"], plan.mode,
                                            run_name=run["run_id"], prune_docs=i == 0,
                                            docs_later=True)
                            outputs = timed("compute", pipeline.compute, outcome.accepted, settings, key)
                            timed("load", pipeline.write_chunk, wh, conn, state, outputs, outcome.quarantine,
                                  outcome.results, outcome.counts, reads)
                            counts.append(outcome.counts)
                            del reads, outcome, outputs
                            if chunks.n > 1:
                                pipeline.release_memory()
                    # as tasks/chunks.py: the run's Data Docs, built once
                    timed("validate", v.build_run_data_docs, run["run_id"])
                    result = timed("load", pipeline.finish_load, wh, conn, settings, plan, state, run)
                    times["load"] -= times.get("clocks", 0.0)
            finally:
                chunks.cleanup()
            counts = pipeline.combine_counts(counts)
            out["chunks"] = chunks.n
        out["plan_mode"] = plan.mode
        out["touched_claims"] = None if plan.touched is None else int(len(plan.touched))
        out["changed_rows"] = {k: int(n) for k, n in plan.changed_rows.items()}
        out["rows_read"] = {r["source_table"]: int(r["rows_read"]) for r in counts.to_dict("records")}
        out["rows_quarantined"] = int(counts["rows_quarantined"].sum()) if len(counts) else 0
        out["dates_restated"] = len(result.dates)
        out["written"] = {k: int(n) for k, n in result.written.items()}

    if profiler is not None:
        profiler.stop()
        Path(args.profile).write_text(profiler.output_html(), encoding="utf-8")
        Path(args.profile).with_suffix(".txt").write_text(
            profiler.output_text(unicode=False, color=False, show_all=bool(os.environ.get("PROFILE_SHOW_ALL"))), encoding="utf-8")

    if args.export_daily and args.mode == "run":
        import duckdb

        path = args.warehouse.split("duckdb:///", 1)[1]
        wh.engine.dispose()
        con = duckdb.connect(path, read_only=True)
        try:
            con.execute(f"COPY (SELECT * FROM {settings.schema}.daily_service_metrics) TO "
                        f"'{args.export_daily}' (FORMAT parquet)")
        finally:
            con.close()

    out["stages_s"] = {k: round(s, 3) for k, s in times.items()}
    out["total_s"] = round(sum(times.values()), 3)
    out["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    out["peak_rss_raised_mb"] = {k: round(v) for k, v in raised.items()}
    Path(args.out).write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
