"""Equivalence check: SqlSource.read through claimpulse.fastread vs the pandas path.

    python bench/check_fastread.py [SQLITE_FILE ...]

For every source table (whole table, a batch of claim ids, null claims) compares the raw
frames (labels, dtypes, values, order) and the typed frames coerce_table makes of them, and
prints the read times. Without arguments it also builds an edge-case database (mixed storage
classes, all-NULL columns, BLOBs, odd names) in a temp folder.
"""
from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time

import pandas as pd

from claimpulse import fastread
from claimpulse.extract import SqlSource, coerce_table
from claimpulse.schema import SOURCE_TABLES


FELL_BACK: list[str] = []
_real_read = fastread.read_sql_table


def _spy(*args, **kwargs):
    try:
        return _real_read(*args, **kwargs)
    except Exception as exc:
        FELL_BACK.append(f"{type(exc).__name__}: {exc}")
        raise


fastread.read_sql_table = _spy


def _read(url, table, fast: bool, **kw):
    os.environ[fastread.ENV_SWITCH] = "1" if fast else "0"
    FELL_BACK.clear()
    src = SqlSource(url)
    src.columns(table)
    t0 = time.perf_counter()
    df = src.read(table, **kw)
    return df, time.perf_counter() - t0


def _coerce(raw, table):
    try:
        return coerce_table(raw, table, "Asia/Shanghai")
    except Exception as exc:  # noqa: BLE001 - compared as text
        return f"{type(exc).__name__}: {exc}"


def compare(url: str, tables=None) -> bool:
    ok = True
    for t in (tables or SOURCE_TABLES.values()):
        try:
            SqlSource(url).columns(t)
        except Exception:
            continue
        slow_all, _ = _read(url, t, False)
        ids = slow_all[t.claim_column].dropna().astype(str).drop_duplicates().tolist() if t.claim_column in slow_all else []
        cases = {"all": {}, "ids": {"claim_ids": ids[::7][:12000] + ["nope"]},
                 "null": {"claim_ids": ids[:3], "null_claim": True},
                 "none": {"claim_ids": ["nope"]},
                 "cols": {"columns": [t.key, t.claim_column, "updated_at"]}}
        for name, kw in cases.items():
            slow, ts = _read(url, t, False, **kw)
            fast, tf = _read(url, t, True, **kw)
            try:
                pd.testing.assert_frame_equal(fast, slow, check_dtype=True)
                if name != "cols":
                    a, b = _coerce(fast, t), _coerce(slow, t)
                    if isinstance(a, str) or isinstance(b, str):
                        assert a == b, (a, b)  # both raise the same error
                    else:
                        pd.testing.assert_frame_equal(a.typed, b.typed)
                        pd.testing.assert_frame_equal(a.failures, b.failures)
                status = "same"
            except AssertionError as exc:
                ok = False
                status = "DIFF " + " ".join(str(exc).split())[:300]
            how = f"fallback ({FELL_BACK[0][:60]})" if FELL_BACK else "fast path"
            print(f"{t.name:15s} {name:5s} rows={len(slow):8d} pandas {ts:7.3f}s fast {tf:7.3f}s  {status}  [{how}]")
    return ok


def edge_db(path: str) -> str:
    con = sqlite3.connect(path)
    con.execute('CREATE TABLE surveys (response_id TEXT, claim_id TEXT, responded_at TIMESTAMP, '
                'csat INTEGER, nps, effort REAL, "Comment" TEXT, updated_at TEXT, extra BLOB)')
    rows = []
    for i in range(3000):
        rows.append((f"S{i}", None if i % 50 == 0 else f"C{i % 97}", f"2026-03-0{1 + i % 9} 10:00:00+08:00",
                     None if i < 2000 else i % 7, (i % 11) if i % 3 else None, 3.5 if i % 2 else 4,
                     None, "2026-03-10T00:00:00Z", None))
    rows.append(("S-bad", "C1", "not a time", "six", "7.25", "abc", "很满意", "2026-03-10", None))
    rows.append(("S-big", "C2", 1700000000, 9007199254740993, 12345.0, "1,234.5", "x", "2026-03-10", b"\x00\x01"))
    con.executemany("INSERT INTO surveys VALUES (?,?,?,?,?,?,?,?,?)", rows)
    con.execute('CREATE TABLE "Complaints" (complaint_id TEXT, claim_id TEXT, received_at TEXT, source TEXT, '
                'category TEXT, resolved_at TEXT, updated_at TEXT)')  # all-NULL category/resolved_at
    con.executemany('INSERT INTO "Complaints" VALUES (?,?,?,?,?,?,?)',
                    [(f"Q{i}", f"C{i}", "2026-03-01 10:00", "customer", None, None, "2026-03-02") for i in range(50)])
    con.commit()
    con.close()
    return f"sqlite:///{path}"


if __name__ == "__main__":
    good = True
    paths = sys.argv[1:]
    if not paths:
        d = tempfile.mkdtemp()
        print("edge cases:")
        good &= compare(edge_db(os.path.join(d, "edge.sqlite")))
    for p in paths:
        print(p)
        good &= compare(f"sqlite:///{p}")
    print("ALL SAME" if good else "DIFFERENCES FOUND")
    sys.exit(0 if good else 1)
