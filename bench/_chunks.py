"""The chunk phase of a full run on N workers, for the benchmark: validate and compute.

    python bench/_chunks.py --source URL --workers N --out result.json

Plans a full run, spills the source into claim buckets (timed as "spill"), then, inside a
Prefect flow, takes every chunk's result from tasks.chunks.chunk_results exactly as
flows/nightly.py does, with `workers` processes (1: in the flow's process), and drops it
instead of writing it: "chunks" is the wall time of reading the buckets, validating and
computing, the work the issue asks two workers to speed up. The flow's own start (a Prefect
temporary server) is not timed. Writes a JSON object: stage seconds, chunks, workers seen.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    # Data Docs on, as in a run (each worker adds its results), beside the results
    os.environ.setdefault("CLAIMPULSE_DOCS_DIR", str(Path(args.out).resolve().parent / "docs"))

    import pandas as pd
    from prefect import flow

    from claimpulse import pipeline
    from claimpulse.config import load_config
    from claimpulse.extract import open_source
    from claimpulse.pseudonym import pseudonym_key
    from tasks.chunks import chunk_results, chunk_workers

    @flow(name="bench-chunks", persist_result=False)
    def chunk_phase(source_url: str, workers: int) -> dict:
        times: dict[str, float] = {}
        settings = load_config(None)
        key = pseudonym_key(allow_demo=False)
        source = open_source(source_url, settings.source_encoding)
        plan = pipeline.plan_changes(source, settings, {})
        seen, rows, per_chunk = set(), 0, []
        # as the flows do: the workers start (and warm up) while the source is spilled
        with chunk_workers(pipeline.chunk_count(plan, workers), workers) as runner:
            t0 = time.perf_counter()
            chunks = pipeline.Chunks(source, settings, plan, workers)
            times["spill"] = time.perf_counter() - t0
            try:
                t0 = time.perf_counter()
                for res in chunk_results(chunks, settings=settings, key=key,
                                         run_time=pd.Timestamp.now(tz="UTC"), partition="full",
                                         run_name=f"bench-chunks-w{workers}-{os.getpid()}", workers=workers,
                                         runner=runner):
                    seen.add(res.worker)
                    per_chunk.append({"worker": res.worker, **res.seconds})
                    rows += sum(res.rows_read.values())
                    del res
                    pipeline.release_memory()
            finally:
                chunks.cleanup()
        times["chunks"] = time.perf_counter() - t0   # with the workers' shutdown
        return {"stages_s": {k: round(v, 3) for k, v in times.items()}, "chunks": chunks.n,
                "workers_seen": sorted(seen), "rows": rows, "per_chunk": per_chunk}

    out = chunk_phase(args.source, args.workers)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    out["total_s"] = round(sum(out["stages_s"].values()), 3)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
