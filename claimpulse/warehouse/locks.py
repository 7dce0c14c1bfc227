"""Run locks: one ClaimPulse run per warehouse at a time, across processes and machines.

DuckDB: an exclusive flock on a sidecar file next to the database (`<file>.lock`), never on
the database file itself, so BI readers holding the database do not block a run and a run does
not block them. PostgreSQL: a session advisory lock keyed by schema. A second run waits up to
`timeout_s`, then fails with WarehouseLocked naming the holder.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from .base import WarehouseError, WarehouseLocked, first_line

log = logging.getLogger(__name__)

POLL_S = 0.2

def lock_path(db_path: Path) -> Path:
    return db_path.with_suffix(db_path.suffix + ".lock")


@contextmanager
def file_lock(db_path: Path, holder: str, timeout_s: float, describe: str) -> Iterator[None]:
    """Exclusive flock on `<db_path>.lock`, which records who holds it (for the error text)."""
    fh = open(lock_path(db_path), "a+")
    deadline = time.monotonic() + timeout_s
    waiting = False
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waiting and timeout_s > 0:
                    waiting = True
                    log.info("warehouse %s is busy: waiting up to %.0f s for another run's lock",
                             describe, timeout_s)
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    who = fh.read().strip() or "another process"
                    raise WarehouseLocked(
                        f"warehouse {describe} is busy: another ClaimPulse run holds its "
                        f"lock ({who}); wait for it to finish, then rerun") from None
                time.sleep(POLL_S)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{holder}, pid {os.getpid()}")
        fh.flush()
        yield
    finally:
        try:
            fcntl.flock(fh, fcntl.LOCK_UN)
        finally:
            fh.close()


def advisory_key(schema: str) -> int:
    """The advisory lock key of a schema: 64 bits of a hash, signed as PostgreSQL wants."""
    return int.from_bytes(hashlib.sha256(f"claimpulse:{schema}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def advisory_lock(engine: sa.Engine, schema: str, timeout_s: float, describe: str) -> Iterator[None]:
    """A session advisory lock held on its own connection for the whole run."""
    key = advisory_key(schema)
    try:
        conn = engine.connect()
    except sa.exc.DBAPIError as exc:  # unreachable: say which warehouse, password masked
        raise WarehouseError(f"warehouse {describe} cannot be reached: "
                             f"{first_line(exc.orig or exc)}") from exc
    try:
        deadline = time.monotonic() + timeout_s
        while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar():
            if time.monotonic() >= deadline:
                raise WarehouseLocked(
                    f"warehouse {describe} schema {schema} is busy: another "
                    f"ClaimPulse run holds its lock; wait for it to finish, then rerun")
            time.sleep(POLL_S)
        conn.commit()
        yield
    finally:
        try:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
            conn.commit()
        finally:
            conn.close()
