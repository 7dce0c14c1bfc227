"""Writes tests/expected/validate_quarantine.json: the quarantine, results and counts that the
previous validation (GX with its internals patched, before the file-backed GX project) gave
for two fixed inputs. tests/unit/test_validate.py compares every later implementation with it.

    .venv/bin/python -m tests.expected.record_validate      (only to re-record on purpose)
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

OUT = Path(__file__).with_name("validate_quarantine.json")
DEMO_RUN_TIME = pd.Timestamp("2024-03-01 12:00", tz="UTC")


DEMO_INPUT = Path(__file__).with_name("validate_demo_3000")


def demo_reads():
    """The seeded demo tables (3,000 claims with their injected bad rows) that the previous
    validation was recorded on, read as extraction reads them. They are stored as files
    (validate_demo_3000/*.parquet, written by claimpulse.demo.generate(n_claims=3000, days=60,
    seed=11, end=2024-03-01) at that time), so later changes to the demo generator do not
    change this comparison's input."""
    from claimpulse.extract import coerce_table
    from claimpulse.schema import SOURCE_TABLES, TABLE_ORDER

    out = {}
    for t in TABLE_ORDER:
        raw = pd.read_parquet(DEMO_INPUT / f"{t}.parquet")
        raw = raw.astype(object).where(raw.notna(), None)
        out[t] = coerce_table(raw, SOURCE_TABLES[t], "Asia/Shanghai")
    return out


def _text(value):
    return None if pd.isna(value) else str(value)


def summary(outcome) -> dict:
    q = outcome.quarantine.sort_values(["source_table", "row"], kind="stable")
    return {
        "quarantine": [[_text(r.source_table), _text(r.source_key), _text(r.claim_id),
                        _text(r.reasons), str(r.row)] for r in q.itertuples()],
        "row_data_sha256": hashlib.sha256("\n".join(q["row_data"].fillna("")).encode()).hexdigest(),
        "results": outcome.results.astype(str).values.tolist(),
        "counts": outcome.counts.astype(str).values.tolist(),
    }


def compute() -> dict:
    from claimpulse.config import default_settings
    from claimpulse.validate import validate_sources
    from tests.helpers.validation_frames import _many_faults, run

    reads = demo_reads()
    demo = validate_sources({t: r.typed for t, r in reads.items()}, {t: r.raw for t, r in reads.items()},
                            {t: r.failures for t, r in reads.items()}, default_settings(),
                            DEMO_RUN_TIME, "full")
    return {"many_faults": summary(run(_many_faults())), "demo_3000": summary(demo)}


if __name__ == "__main__":
    OUT.write_text(json.dumps(compute(), indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(OUT)
