"""`claimpulse check`: is everything in place for a run? It reads, never writes or runs.

Checks, each reported on its own line: the config validates; the source answers and has
every required column; the pseudonym key is set (and allowed for this source); the
warehouse answers (or does not exist yet); the key's fingerprint matches the warehouse's.
"""
from __future__ import annotations

from .preflight import one_line


def _err(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def run_checks(source: str | None, warehouse: str | None, config: str | None) -> tuple[list[str], list[str]]:
    """(report lines, names of the checks that failed)."""
    import os

    from .config import DEFAULTS_PATH, load_config, resolve_source, resolve_warehouse
    from .extract import check_columns, count_rows, mask_url, open_source
    from .identity import KeyMismatchError, check_key, fingerprint, short
    from .preflight import duckdb_file
    from .pseudonym import pseudonym_key
    from .schema import SOURCE_TABLES
    from .warehouse import Warehouse, WarehouseLocked

    lines: list[str] = []
    failed: list[str] = []

    def bad(name: str, text: str) -> None:
        lines.append(f"{name}: FAILED: {text}")
        failed.append(name)

    try:
        settings = load_config(config)
        lines.append(f"config: ok ({config or os.environ.get('CLAIMPULSE_CONFIG') or DEFAULTS_PATH}; "
                     f"schema {settings.schema}, timezone {settings.timezone})")
    except Exception as exc:  # noqa: BLE001
        bad("config", _err(exc))
        return lines + ["source, key, warehouse: not checked (the config is needed first)"], failed

    url, is_demo = resolve_source(source)
    try:
        src = open_source(url, settings.source_encodings())
        for t in SOURCE_TABLES.values():
            check_columns(src, t)
        n = count_rows(src, SOURCE_TABLES["claims"])
        lines.append(f"source: ok ({mask_url(url)}{', the demo source' if is_demo else ''}; "
                     f"every required column present; {n:,} claims rows)")
    except Exception as exc:  # noqa: BLE001
        bad("source", _err(exc))

    key = None
    try:
        key = pseudonym_key(allow_demo=is_demo)
        lines.append(f"key: ok ({'the demo key' if is_demo and not os.environ.get('CLAIMPULSE_PSEUDONYM_KEY') else 'CLAIMPULSE_PSEUDONYM_KEY'}; "
                     f"fingerprint {short(fingerprint(key))})")
    except Exception as exc:  # noqa: BLE001
        bad("key", _err(exc))

    wh_url = resolve_warehouse(warehouse)
    path = duckdb_file(wh_url)
    if path is not None and not path.is_file():
        lines.append(f"warehouse: not built yet ({mask_url(wh_url)}); the first run creates it")
        if key is not None:
            lines.append("key fingerprint: none recorded yet; the first run records this key's")
        return lines, failed
    try:
        wh = Warehouse(wh_url, settings.schema).reader()  # reads only: BI readers may hold the file
        with Warehouse(wh_url, settings.schema).run_lock("claimpulse check", 0):
            if not wh.exists():
                lines.append(f"warehouse: ok ({wh.describe()}), no ClaimPulse schema {settings.schema!r} "
                             f"yet; the first run creates it")
                return lines, failed
            lines.append(f"warehouse: ok ({wh.describe()}, schema {settings.schema}, revision "
                         f"{wh.schema_revision()})")
            if key is not None:
                try:
                    status = check_key(wh, key)
                    lines.append("key fingerprint: matches the warehouse's" if status == "match" else
                                 "key fingerprint: none recorded yet; the next run records this key's")
                except KeyMismatchError as exc:
                    bad("key fingerprint", _err(exc))
    except WarehouseLocked as exc:
        lines.append(f"warehouse: busy ({_err(exc)}); key fingerprint not checked")
    except Exception as exc:  # noqa: BLE001
        bad("warehouse", one_line(exc))
    return lines, failed
