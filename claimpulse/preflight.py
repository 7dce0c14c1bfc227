"""Checks a run makes before any Prefect flow starts: arguments, config, key, lock.

Prefect's temporary server costs 9–37 s to start; a typo must not. `preflight()` is what
`claimpulse run` / `backfill` call first, and what the flows call again (a deployment's run
gets the same checks). It imports neither Prefect nor Great Expectations.

Order: the config (a failure is recorded in pipeline_runs when the warehouse exists), the
source's key (only the demo source may use the demo key), then — holding the warehouse lock
for a moment — that no other run is busy and that the key's fingerprint matches the one the
warehouse was built with. A busy warehouse fails at once unless $CLAIMPULSE_LOCK_TIMEOUT asks
to wait (then the flow waits for the lock and checks the key under it).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# Only what the first checks need is imported here: a config or key error must not wait for
# pandas, SQLAlchemy and DuckDB to load (seconds on a busy machine).
from .config import ConfigError, Settings, load_config, resolve_source, resolve_warehouse
from .pseudonym import MissingSecretError, pseudonym_key

if TYPE_CHECKING:
    from .warehouse import Warehouse

log = logging.getLogger(__name__)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class WarehouseMissing(RuntimeError):
    """A command that reads the warehouse was pointed at one that does not exist."""


def lock_timeout() -> float:
    """Seconds a run waits for another run on the same warehouse ($CLAIMPULSE_LOCK_TIMEOUT, 0)."""
    return float(os.environ.get("CLAIMPULSE_LOCK_TIMEOUT", "0") or 0)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def duckdb_file(url: str) -> Path | None:
    """The database file of a DuckDB URL (None: not DuckDB, or in memory)."""
    if not url.startswith("duckdb://"):
        return None
    db = url[len("duckdb://"):].split("?", 1)[0]
    db = db[1:] if db.startswith("/") else db  # duckdb:///rel/path, duckdb:////abs/path
    return Path(db).expanduser() if db and db != ":memory:" else None


def warehouse_present(url: str, schema: str) -> bool:
    """Whether a ClaimPulse warehouse exists at `url` — without creating a DuckDB file."""
    from .warehouse import Warehouse

    path = duckdb_file(url)
    if path is not None and not path.is_file():
        return False
    return Warehouse(url, schema).reader().exists()  # read-only: BI readers may hold the file


def open_existing(url: str | None, schema: str) -> Warehouse:
    """The warehouse for commands that only read it (report, status, quarantine): a missing
    one is an error, and no file or folder is created looking for it."""
    url = resolve_warehouse(url)
    path = duckdb_file(url)
    if path is not None and not path.is_file():
        raise WarehouseMissing(f"warehouse {url} does not exist (no file {path}): check --warehouse "
                               f"/ $CLAIMPULSE_WAREHOUSE_URL, or run `claimpulse run` to build it")
    import sqlalchemy as sa

    from .warehouse import Warehouse, WarehouseError

    wh = Warehouse(url, schema).reader()  # read-only: a BI tool holding the file must not block it
    try:
        present = wh.exists()
    except sa.exc.DBAPIError as exc:
        raise WarehouseError(f"warehouse {wh.describe()} cannot be reached: "
                             f"{str(exc.orig or exc).strip().splitlines()[0]}") from None
    if not present:
        raise WarehouseMissing(f"warehouse {wh.describe()} has no ClaimPulse tables in schema "
                               f"{schema!r}: check --warehouse and the config's schema, or run "
                               f"`claimpulse run` to build it")
    return wh


@dataclass
class Ready:
    """What a run needs once every check passed."""
    settings: Settings
    source_url: str
    is_demo: bool
    key: bytes
    wh: Warehouse
    key_status: str   # match | unrecorded | new (no warehouse yet) | deferred (waiting for the lock)


def _schema_hint(config_path: str | None) -> str:
    """The schema of a config that failed validation, when it names a usable one."""
    path = config_path or os.environ.get("CLAIMPULSE_CONFIG")
    try:
        import yaml

        value = (yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}).get("schema") if path else None
    except Exception:  # the file is what is broken: fall back to the default schema
        value = None
    return value if isinstance(value, str) and _IDENT.fullmatch(value) else "claimpulse"


def _insert_failure(wh: Warehouse, run: dict, error: str) -> None:
    """One `failed` pipeline_runs row, naming only the columns every revision has (no
    migration, no pipeline import: this path must stay fast)."""
    import sqlalchemy as sa

    with wh.transaction() as conn:
        conn.execute(sa.text(
            f"INSERT INTO {wh.table('pipeline_runs')} (run_id, flow, started_at, finished_at, status, error) "
            "VALUES (:run_id, :flow, :started_at, :finished_at, 'failed', :error)"),
            {"run_id": str(run["run_id"]), "flow": run["flow"], "started_at": run["started_at"],
             "finished_at": dt.datetime.now(dt.timezone.utc), "error": error[:2000]})


def record_failure(url: str, schema: str, run: dict, error: str) -> None:
    """A failure found before the flow's own bookkeeping: one `failed` row in pipeline_runs,
    only in a warehouse that exists (a typo does not create one) and only when no other run
    holds it."""
    try:
        if not warehouse_present(url, schema):
            return
        from .warehouse import Warehouse

        wh = Warehouse(url, schema)
        # Through write-audit-publish like any run's write, so BI readers never block it.
        with wh.run_lock(f"{run['flow']} run {run['run_id']} (recording a failure)", 0), \
                wh.publishing(str(run["run_id"])) as work:
            _insert_failure(work, run, error)
    except Exception as exc:  # busy or unreachable: the one-line error still reaches the user
        log.warning("could not record the failed run in the warehouse: %s", exc)


def preflight(flow: str, source_url: str | None, warehouse_url: str | None,
              config_path: str | None, run_id: str, started_at: dt.datetime | None = None,
              on_failure: Callable[[str, str, dict, str], None] = record_failure) -> Ready:
    """Every check a run can make without Prefect; raises with a one-line message."""
    run = {"run_id": run_id, "flow": flow, "started_at": started_at or dt.datetime.now(dt.timezone.utc)}
    wh_url = resolve_warehouse(warehouse_url)
    try:
        settings = load_config(config_path)
    except ConfigError as exc:
        on_failure(wh_url, _schema_hint(config_path), run, one_line(exc))
        raise
    source_url, is_demo = resolve_source(source_url)
    try:
        key = pseudonym_key(allow_demo=is_demo)
    except MissingSecretError as exc:
        on_failure(wh_url, settings.schema, run, one_line(exc))
        raise
    from .identity import KeyMismatchError, check_key
    from .warehouse import Warehouse, WarehouseLocked

    wh = Warehouse(wh_url, settings.schema)
    try:
        with wh.run_lock(f"{flow} run {run_id} (preflight)", 0):
            try:
                status = check_key(wh.reader(), key) if warehouse_present(wh.url, wh.schema) else "new"
            except KeyMismatchError as exc:
                with wh.publishing(str(run_id)) as work:  # we hold the lock already
                    _insert_failure(work, run, one_line(exc))
                raise
    except WarehouseLocked:
        if lock_timeout() <= 0:
            raise
        status = "deferred"  # the flow waits for the lock, then checks the key under it
    return Ready(settings, source_url, is_demo, key, wh, status)
