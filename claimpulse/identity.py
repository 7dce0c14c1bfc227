"""The warehouse's key fingerprint (INTERFACE.md, "Secrets").

customer_key is an HMAC of customer_id under the pseudonym key: two keys in one warehouse
would silently split every customer in two. So the warehouse remembers a fingerprint of the
key it was built with, HMAC-SHA256(key, LABEL) — a value that cannot give the key back — in
`warehouse_identity`, and a run or backfill with another key is refused before it writes.

- A fresh warehouse records the fingerprint of its first run's key.
- A warehouse built before fingerprints existed (no row) adopts the key of its first run
  after the upgrade; that run logs a warning saying so.
- `check_key` reads only (preflight, `claimpulse check`); `verify_or_record` runs under the
  run lock after the schema is migrated, before any data is written.
"""
from __future__ import annotations

import hashlib
import hmac
import logging

import pandas as pd
import sqlalchemy as sa

from .pseudonym import DEMO_KEY

log = logging.getLogger(__name__)

LABEL = "claimpulse:pseudonym-key-fingerprint:v1"
TABLE = "warehouse_identity"


class KeyMismatchError(RuntimeError):
    """The pseudonym key differs from the one the warehouse was built with."""


def fingerprint(key: bytes) -> str:
    """HMAC-SHA256(key, LABEL) as hex: identifies a key without revealing it."""
    return hmac.new(key, LABEL.encode("utf-8"), hashlib.sha256).hexdigest()


DEMO_FINGERPRINT = fingerprint(DEMO_KEY)


def short(fp: str) -> str:
    return fp[:12]


def _read(wh, conn) -> str | None:
    if not sa.inspect(conn).has_table(TABLE, schema=wh.schema):
        return None
    row = conn.exec_driver_sql(f"SELECT key_fingerprint FROM {wh.table(TABLE)} "
                               f"ORDER BY recorded_at LIMIT 1").fetchone()
    return row[0] if row else None


def recorded_fingerprint(wh) -> str | None:
    """The fingerprint the warehouse holds (None: none recorded yet, or no warehouse schema)."""
    with wh.transaction() as conn:
        return _read(wh, conn)


def mismatch_message(where: str, recorded: str, current: str) -> str:
    if current == DEMO_FINGERPRINT:
        return (f"warehouse {where} was built with a real pseudonym key, and this run has the "
                f"demo key: refused, it would split every customer in two. Set "
                f"CLAIMPULSE_PSEUDONYM_KEY to the warehouse's key")
    if recorded == DEMO_FINGERPRINT:
        return (f"warehouse {where} was built with the demo pseudonym key, and this run has "
                f"another key (fingerprint {short(current)}): refused, it would split every "
                f"customer in two. Load real data into a new warehouse")
    return (f"warehouse {where} was built with a different pseudonym key (fingerprint "
            f"{short(recorded)}, this key's {short(current)}): refused, it would split every "
            f"customer in two. Set CLAIMPULSE_PSEUDONYM_KEY to the key it was built with; a new "
            f"key needs a new warehouse (a full reload)")


def check_key(wh, key: bytes) -> str:
    """Read-only: "match", or "unrecorded" (the next run records it); raises KeyMismatchError."""
    recorded = recorded_fingerprint(wh)
    if recorded is None:
        return "unrecorded"
    current = fingerprint(key)
    if not hmac.compare_digest(recorded, current):
        raise KeyMismatchError(mismatch_message(wh.describe(), recorded, current))
    return "match"


def verify_or_record(wh, key: bytes, run_id: str) -> str:
    """Under the run lock, before the run writes data: "match", "recorded" (a fresh warehouse)
    or "adopted" (an existing warehouse without a fingerprint); raises KeyMismatchError."""
    current = fingerprint(key)
    with wh.transaction() as conn:
        recorded = _read(wh, conn)
        if recorded is not None:
            if not hmac.compare_digest(recorded, current):
                raise KeyMismatchError(mismatch_message(wh.describe(), recorded, current))
            return "match"
        had_runs = conn.exec_driver_sql(
            f"SELECT count(*) FROM {wh.table('pipeline_runs')} WHERE status = 'succeeded'").scalar()
        wh.insert_frame(conn, TABLE, pd.DataFrame({
            "key_fingerprint": [current], "fingerprint_label": [LABEL],
            "recorded_at": [pd.Timestamp.now(tz="UTC")], "run_id": [str(run_id)]}))
    if had_runs:
        log.warning("warehouse %s had no pseudonym key fingerprint: adopted this run's key "
                    "(fingerprint %s); from now on runs with any other key are refused",
                    wh.describe(), short(current))
        return "adopted"
    return "recorded"
