"""The run summary: markdown for the Prefect artifact and the command line."""
from __future__ import annotations

import datetime as dt

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


def quarantined_total(counts: pd.DataFrame) -> int:
    """Rows a run quarantined, over every source table."""
    return int(counts["rows_quarantined"].sum()) if len(counts) else 0


def range_headline(fact: pd.DataFrame, surveys: pd.DataFrame, complaints: pd.DataFrame,
                   settings, start: dt.date, end: dt.date) -> pd.Series | None:
    """The headline metrics of the local dates start..end taken as ONE cohort (a backfill's
    range), by METRICS.md's own definitions: the closed, response and complaint cohorts of
    the range are relabelled to one date and handed to metrics.daily_service_metrics, so
    percentiles and rates are exact for the range, not averages of daily values.
    None when nothing in the range. `metric_date` of the result reads "start … end"."""
    from . import metrics

    def in_range(days: pd.Series) -> pd.Series:
        d = pd.to_datetime(days, errors="coerce")
        return ((d >= pd.Timestamp(start)) & (d <= pd.Timestamp(end))).fillna(False).astype(bool)

    closed = in_range(fact["closed_date"])
    s_in = in_range(metrics.local_date(surveys["responded_at"], settings.tz))
    c_in = in_range(metrics.local_date(complaints["received_at"], settings.tz))
    if not (closed.any() or s_in.any() or c_in.any()):
        return None
    # Noon of `start`, local: a timestamp whose local date is `start` in any timezone.
    anchor = pd.Timestamp(dt.datetime.combine(start, dt.time(12)), tz=settings.tz).tz_convert("UTC")
    one_fact = fact.assign(closed_date=pd.Series(start, index=fact.index, dtype=object).where(closed, None))
    one_surveys = surveys[s_in.to_numpy()].assign(responded_at=anchor)
    one_complaints = complaints[c_in.to_numpy()].assign(received_at=anchor)
    daily = metrics.daily_service_metrics(one_fact, one_surveys, one_complaints, settings, dates=[start])
    total = daily[(daily["product_line"] == "ALL") & (daily["channel"] == "ALL") & (daily["region"] == "ALL")]
    if total.empty:
        return None
    row = total.iloc[0].copy()
    row["metric_date"] = f"{start.isoformat()} … {end.isoformat()}"
    return row


def run_markdown(run: dict, counts: pd.DataFrame, quarantine: pd.DataFrame, dates: list,
                 changed: dict[str, int], headline: pd.Series | None, mode: str,
                 warnings: list[str] | None = None, links: dict[str, str] | None = None,
                 worse: dict[str, int | None] | None = None, why: str | None = None) -> str:
    """`why` says why the dates were restated; without it, the rows changed since the
    watermark (`changed`) do. `worse` counts what got worse (new alerts, overdue clocks)."""
    lines = [f"# ClaimPulse {run['flow']} run `{run['run_id']}`", "",
             f"Mode: **{mode}**. Dates restated: **{len(dates)}**"
             + (f" ({dates[0]} … {dates[-1]})" if dates else "") + ".", ""]
    if why:
        lines += [f"Why: {why}.", ""]
    elif changed:
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
