"""The run summary: markdown for the Prefect artifact and the command line."""
from __future__ import annotations

import pandas as pd

from .labels import label_with_unit

HEADLINE = (
    ("closed_claims", label_with_unit("closed_claims"), "{:,.0f}"),
    ("report_to_close_days_p50", label_with_unit("report_to_close_days_p50"), "{:.2f}"),
    ("report_to_close_days_p90", label_with_unit("report_to_close_days_p90"), "{:.2f}"),
    ("paid_rate", label_with_unit("paid_rate"), "{:.1%}"),
    ("denial_rate", label_with_unit("denial_rate"), "{:.1%}"),
    ("reopen_rate_30d", label_with_unit("reopen_rate_30d"), "{:.1%}"),
    ("customer_cost_per_claim_mean", label_with_unit("customer_cost_per_claim_mean"), "{:,.2f}"),
    ("csat_mean", label_with_unit("csat_mean"), "{:.2f}"),
    ("nps", label_with_unit("nps"), "{:.1f}"),
    ("complaints_received", label_with_unit("complaints_received"), "{:,.0f}"),
)

WORSE_LABELS = {
    "new_alerts": "New speed-quality alerts (speed_quality_alerts)",
    "overdue_clocks": "Overdue service clocks (fact_claim_clock)",
}


def _fmt(value, spec: str) -> str:
    if value is None or pd.isna(value):
        return "–"
    return spec.format(float(value))


def run_markdown(run: dict, counts: pd.DataFrame, quarantine: pd.DataFrame, dates: list,
                 changed: dict[str, int], headline: pd.Series | None, mode: str,
                 warnings: list[str] | None = None, links: dict[str, str] | None = None,
                 worse: dict[str, int | None] | None = None) -> str:
    lines = [f"# ClaimPulse {run['flow']} run `{run['run_id']}`", "",
             f"Mode: **{mode}**. Dates restated: **{len(dates)}**"
             + (f" ({dates[0]} … {dates[-1]})" if dates else "") + ".", ""]
    if changed:
        lines += ["Why: rows changed since the watermark — "
                  + ", ".join(f"{t}: {n:,}" for t, n in changed.items()) + ".", ""]
    lines += ["## Rows per source table", "", "| table | read | accepted | quarantined |", "|---|---:|---:|---:|"]
    for r in counts.itertuples():
        lines.append(f"| {r.source_table} | {r.rows_read:,} | {r.rows_accepted:,} | {r.rows_quarantined:,} |")
    lines += ["", "## Quarantined rows by reason", ""]
    if len(quarantine):
        reasons = quarantine["reasons"].str.split(";").explode()
        by = (pd.DataFrame({"table": quarantine.loc[reasons.index, "source_table"].to_numpy(),
                            "reason": reasons.to_numpy()})
              .value_counts().rename("rows").reset_index().sort_values(["rows", "table"], ascending=[False, True]))
        lines += ["| table | reason | rows |", "|---|---|---:|"]
        lines += [f"| {r.table} | `{r.reason}` | {r.rows:,} |" for r in by.itertuples()]
    else:
        lines.append("None.")
    if headline is not None:
        lines += ["", f"## Headline metrics, {headline['metric_date']} (all claims)", "",
                  "| metric | value |", "|---|---:|"]
        lines += [f"| {label} | {_fmt(headline.get(col), spec)} |" for col, label, spec in HEADLINE]
    if worse:  # "check often": what got worse, e.g. {"new_alerts": 2, "overdue_clocks": None}
        lines += ["", "## What got worse", ""] + [
            f"- {WORSE_LABELS.get(k, k)}: **{n:,}**" for k, n in worse.items() if n is not None]
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in warnings]
    if links:
        lines += ["", "## Links", ""] + [f"- [{name}]({url})" for name, url in links.items()]
    return "\n".join(lines) + "\n"
