"""What operators read from the warehouse: `claimpulse status` and `claimpulse quarantine`.

Pure functions over frames (the CLI reads them from the warehouse); nothing here writes.
"""
from __future__ import annotations

import json
import re

import duckdb
import pandas as pd

from .schema import SOURCE_TABLES, TABLE_ORDER


# --------------------------------------------------------------------------- status

def run_mode(run: pd.Series) -> str:
    """full / incremental / backfill START..END, from the run's own row (failed runs: '-')."""
    if run["flow"] == "backfill":
        dates = json.loads(run["partitions"]) if isinstance(run["partitions"], str) else []
        return f"backfill {dates[0]}..{dates[-1]}" if dates else "backfill"
    if run["status"] != "succeeded" or not isinstance(run["watermark_before"], str):
        return "-"
    return "full" if json.loads(run["watermark_before"]) in ({}, None) else "incremental"


def _n(value) -> int:
    return 0 if value is None or pd.isna(value) else int(value)


def format_status(runs: pd.DataFrame) -> str:
    """The runs (newest first), a few lines each: when, flow, mode, status, duration, dates
    restated, rows per source table, quarantined rows, error."""
    if runs.empty:
        return "no runs recorded yet"
    blocks = []
    for _, r in runs.iterrows():  # a handful of runs (--limit), not data rows
        started = pd.Timestamp(r["started_at"])
        duration = (pd.Timestamp(r["finished_at"]) - started).total_seconds() \
            if pd.notna(r["finished_at"]) and pd.notna(started) else None
        lines = [f"{started:%Y-%m-%d %H:%M:%S %Z}  {r['flow']}  {run_mode(r)}  {r['status']}  "
                 + (f"{duration:.1f} s" if duration is not None else "- s") + f"  run {r['run_id']}"]
        dates = json.loads(r["partitions"]) if isinstance(r["partitions"], str) else []
        if r["status"] == "succeeded":
            lines.append(f"  dates restated: {len(dates)}" + (f" ({dates[0]} … {dates[-1]})" if dates else ""))
            per_table = [f"{t} {_n(r[f'{t}_read']):,}/{_n(r[f'{t}_accepted']):,}/"
                         f"{_n(r[f'{t}_quarantined']):,}/{_n(r[f'{t}_written']):,}" for t in TABLE_ORDER]
            lines.append("  rows read/accepted/quarantined/written: " + ", ".join(per_table))
            lines.append(f"  quarantined rows: {sum(_n(r[f'{t}_quarantined']) for t in TABLE_ORDER):,}")
        if isinstance(r["error"], str) and r["error"]:
            lines.append(f"  error: {r['error']}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


# --------------------------------------------------------------------------- quarantine

def personal_keys(table: str, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Keys removed from a quarantined row of `table`: the contract's personal columns
    (customer_id, comment) and the config's personal_columns."""
    t = SOURCE_TABLES.get(table)
    return sorted(set(t.personal if t else ()) | set(extra))


def held_rows(quarantine: pd.DataFrame, table: str | None = None, reason: str | None = None,
              extra_personal: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Open (held) quarantine rows, filtered by source table and reason code, with `row_data`
    stripped of every personal key (not merely masked): what an operator may see and export."""
    q = quarantine[quarantine["released_at"].isna()]
    if table:
        q = q[q["source_table"] == table]
    if reason:
        q = q[q["reasons"].str.contains(rf"(?:^|;){re.escape(reason)}(?:;|$)", regex=True).fillna(False)]
    q = q.sort_values(["source_table", "quarantined_at", "source_key"], kind="stable").reset_index(drop=True)
    # JSON merge patch (RFC 7396): a null member removes the key; done in DuckDB, vectorised.
    patches = pd.DataFrame({"source_table": list(SOURCE_TABLES)})
    patches["patch"] = [json.dumps({k: None for k in personal_keys(t, extra_personal)})
                        for t in patches["source_table"]]
    frame = q[["source_table", "row_data"]].astype({"row_data": "object"}).assign(i=range(len(q)))
    con = duckdb.connect()
    try:
        con.register("q", frame)
        con.register("p", patches)
        stripped = con.execute(
            "SELECT CASE WHEN q.row_data IS NULL THEN NULL "
            "ELSE CAST(json_merge_patch(q.row_data, coalesce(p.patch, '{}')) AS VARCHAR) END AS r "
            "FROM q LEFT JOIN p USING (source_table) ORDER BY q.i").fetchdf()["r"] \
            if len(frame) else pd.Series([], dtype=object)
    finally:
        con.close()
    out = q[["source_table", "source_key", "claim_id", "reasons", "quarantined_at", "run_id"]].copy()
    out["row_data"] = stripped.to_numpy() if len(q) else []
    return out


def format_held(rows: pd.DataFrame, limit: int) -> str:
    if rows.empty:
        return "no held rows"
    shown = rows.head(limit)
    lines = [f"{len(rows):,} held row(s)" + (f", first {limit} shown (--out FILE.csv exports all)"
                                              if len(rows) > limit else "")]
    lines += [f"{r.source_table}  {r.source_key}  claim {r.claim_id}  {r.reasons}  "
              f"since {pd.Timestamp(r.quarantined_at):%Y-%m-%d %H:%M %Z}  {r.row_data}"
              for r in shown.itertuples()]  # at most `limit` lines of output
    return "\n".join(lines)
