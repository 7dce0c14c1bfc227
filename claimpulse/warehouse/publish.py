"""Write-audit-publish for the embedded DuckDB warehouse.

BI tools hold the published file open read-only, sometimes for hours; DuckDB lets no process
write a file another process has open, and a reader must never see a half-written run. So:

1. write:   the run copies the published file to a working copy in the same folder
            (`.<name>.<tag>.work`) and writes only that;
2. audit:   the working copy is at the schema head, holds the run's pipeline_runs row, and is
            checkpointed and closed (no write-ahead log left beside it);
3. publish: `os.replace` swaps it in. Same folder, so the rename is atomic: a reader that
            opens the file gets the old run or the new one. A reader holding the old file keeps
            its inode (and its data) until it reconnects.

All of it happens under the run lock (a separate `.lock` file). A run that fails records its
`failed` row in the working copy, which is then published (its load rolled back, so only the
row changes; a backfill's committed partitions are kept). A killed run leaves the published
file untouched and a stale working copy, which the next run sweeps: or, for a backfill of the
same range while the published file is unchanged, resumes from (its committed partitions
survive the kill). Disk: the working copy needs about the file's size again.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import sqlalchemy as sa

from .base import WarehouseError, first_line

if TYPE_CHECKING:
    from .duckdb import DuckDBWarehouse

log = logging.getLogger(__name__)

# Free space a working copy needs, as a multiple of the published file (the copy, plus room
# for what the run adds before old rows' space is reused).
DISK_FACTOR = 1.25
_TAG = re.compile(r"[^A-Za-z0-9._-]+")


def work_path(db: Path, tag: str) -> Path:
    """The working copy of `db` for runs tagged `tag` (hidden, so BI users do not pick it)."""
    return db.parent / f".{db.name}.{_TAG.sub('_', tag)}.work"


def _base_path(work: Path) -> Path:
    return work.with_name(work.name + ".base")


def _wal(db: Path) -> Path:
    return db.with_name(db.name + ".wal")


def identity(db: Path) -> list[int] | None:
    """What tells one published file from the next: inode, size, modification time."""
    try:
        st = db.stat()
    except FileNotFoundError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def sweep(db: Path, keep: Path | None = None) -> list[Path]:
    """Delete the working copies of killed runs (and their WAL, base and temp files)."""
    gone = []
    for p in db.parent.glob(f".{db.name}.*.work*"):
        if keep is not None and p.name.startswith(keep.name):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        gone.append(p)
    if gone:
        log.info("swept %d file(s) of killed runs' working copies: %s", len(gone),
                 ", ".join(sorted(p.name for p in gone)))
    return gone


def make_working_copy(db: Path, work: Path, describe: str) -> None:
    """Copy the published file (and a WAL an older release may have left) to `work`."""
    sources = [(p, q) for p, q in ((db, work), (_wal(db), _wal(work))) if p.exists()]
    need = int(sum(p.stat().st_size for p, _ in sources) * DISK_FACTOR)
    free = shutil.disk_usage(db.parent).free
    if need > free:
        raise WarehouseError(
            f"warehouse {describe}: not enough disk space for the run's working copy in "
            f"{db.parent}: {free / 2**20:.0f} MiB free, {need / 2**20:.0f} MiB needed "
            f"(the file's size plus {DISK_FACTOR - 1:.0%})")
    t0 = time.perf_counter()
    # Copy under a read-only connection: it fails at once if something has the file open for
    # writing (a copy would then be torn), and keeps any writer out until the copy is done.
    try:
        guard = duckdb.connect(str(db), read_only=True) if db.exists() else None
    except duckdb.Error as exc:
        raise WarehouseError(f"warehouse {describe}: cannot read it to make the run's working copy "
                             f"(is it open read-write elsewhere? open BI tools read-only): "
                             f"{first_line(exc)}") from None
    try:
        for src, dst in sources:
            shutil.copyfile(src, dst)
    finally:
        if guard is not None:
            guard.close()
    if sources:
        log.info("working copy %s: %.1f MiB copied in %.2f s", work.name,
                 sum(p.stat().st_size for p, _ in sources) / 2**20, time.perf_counter() - t0)
    # written last: a copy without its base file was cut short, and is swept
    _base_path(work).write_text(json.dumps(identity(db)))


def audit(work_wh: DuckDBWarehouse, run_id: str | None) -> list[str]:
    """What is wrong with a working copy (empty: fit to publish). Checkpoints and closes it."""
    from ..migrations import current, head

    problems = []
    with work_wh.transaction() as conn:
        rev = current(conn, work_wh.schema)
        if rev != head():
            problems.append(f"schema at revision {rev}, not {head()}")
        elif run_id is not None:
            n = conn.execute(sa.text(f"SELECT count(*) FROM {work_wh.table('pipeline_runs')} "
                                     "WHERE run_id = :r"), {"r": str(run_id)}).scalar()
            if not n:
                problems.append(f"no pipeline_runs row for run {run_id}")
    with work_wh.transaction() as conn:  # everything into the file itself: no WAL to carry
        conn.exec_driver_sql("CHECKPOINT")
    work_wh.engine.dispose()
    if _wal(work_wh.path).exists():
        problems.append("a write-ahead log is left beside it (a connection is still open)")
    return problems


def swap_in(work: Path, db: Path) -> None:
    """Atomically make `work` the published `db`: durable first, then one rename."""
    with open(work, "rb") as fh:
        os.fsync(fh.fileno())
    # a WAL of the old file (an older release's kill) belongs to it, not to the new one;
    # make_working_copy carried its contents over
    _wal(db).unlink(missing_ok=True)
    os.replace(work, db)
    _base_path(work).unlink(missing_ok=True)
    fd = os.open(db.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a power cut
    finally:
        os.close(fd)


def discard(work: Path) -> None:
    for p in (work, _wal(work), _base_path(work)):
        p.unlink(missing_ok=True)


@contextmanager
def write_audit_publish(wh: DuckDBWarehouse, run_id: str | None, resume: str | None
                        ) -> Iterator[DuckDBWarehouse]:
    """Yields a warehouse over a working copy of `wh`; publishes it on the way out.

    `resume` (a backfill's key): a working copy this key's killed run left is picked up again
    if the published file has not changed since it was copied. Call it under the run lock.
    """
    db = wh.path
    work = work_path(db, resume or "run")
    resumed = (resume is not None and work.exists() and _base_path(work).exists()
               and json.loads(_base_path(work).read_text()) == identity(db))
    sweep(db, keep=work if resumed else None)
    if resumed:
        log.info("resuming from the working copy %s that a killed run of %s left", work.name, resume)
    else:
        make_working_copy(db, work, wh.describe())
    work_wh = wh.working_copy(work)
    try:
        yield work_wh
    except BaseException as exc:
        # A failed run wrote its `failed` row (and a backfill its committed partitions)
        # into the working copy: publish that. An interrupt, or a working copy the failure
        # row could not reach, leaves the published file as it was.
        if isinstance(exc, Exception) and _publish(work_wh, work, db, run_id, quiet=True):
            if resume is None:
                discard(work)
        work_wh.engine.dispose()
        raise
    problems = _publish(work_wh, work, db, run_id, quiet=False)
    if problems:
        discard(work)
        raise WarehouseError(f"warehouse {wh.describe()}: the run's working copy failed its audit "
                             f"({'; '.join(problems)}); the published warehouse is unchanged")


def _publish(work_wh: DuckDBWarehouse, work: Path, db: Path, run_id: str | None, quiet: bool
             ) -> list[str]:
    """Audit, then swap in; returns the audit's problems (empty: published)."""
    t0 = time.perf_counter()
    try:
        problems = audit(work_wh, run_id)
    except WarehouseError as exc:
        problems = [str(exc)]
    if problems:
        (log.warning if quiet else log.error)("working copy %s not published: %s", work.name, "; ".join(problems))
        return problems
    t1 = time.perf_counter()
    swap_in(work, db)
    log.info("published %s (%.1f MiB): audit and checkpoint %.2f s, fsync and swap %.2f s", db.name,
             db.stat().st_size / 2**20, t1 - t0, time.perf_counter() - t1)
    return []
