"""Generate (or reuse) a cached demo source for the benchmark: bench/.cache/src-n<N>-s<seed>-d<days>.sqlite.

Run as a script so generation happens in its own process (and its memory is given back):
    python bench/_gen.py N SEED DAYS
Prints the cache path and the rows per table as JSON on the last line.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"


def cache_path(n: int, seed: int, days: int) -> Path:
    return CACHE / f"src-n{n}-s{seed}-d{days}.sqlite"


def index_cached(path: Path) -> None:
    """A source cached before the demo wrote indexes gets them (a no-op once it has them)."""
    import sqlalchemy as sa

    from claimpulse.demo import index_source
    from claimpulse.schema import SOURCE_TABLES

    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            index_source(conn, SOURCE_TABLES)
    finally:
        engine.dispose()


def ensure(n: int, seed: int, days: int) -> dict:
    path = cache_path(n, seed, days)
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        info["cached"] = True
        index_cached(path)
        return info
    from claimpulse.demo import write_demo

    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".sqlite.tmp")
    if tmp.exists():
        tmp.unlink()
    t0 = time.perf_counter()
    rows = write_demo(f"sqlite:///{tmp}", n_claims=n, days=days, seed=seed)
    secs = time.perf_counter() - t0
    os.replace(tmp, path)
    info = {"path": str(path), "n_claims": n, "seed": seed, "days": days, "rows": rows,
            "generated_s": round(secs, 2), "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    meta.write_text(json.dumps(info, indent=2))
    info["cached"] = False
    return info


if __name__ == "__main__":
    n, seed, days = (int(x) for x in sys.argv[1:4])
    print(json.dumps(ensure(n, seed, days)))
