"""Plain-DuckDB reference: daily_service_metrics straight from the raw SQLite source, in SQL.

    python bench/_sqlref.py --source FILE.sqlite --out result.json [--compare daily.parquet]

DuckDB's sqlite extension cannot be installed offline here, so the five tables are read with
the same Arrow reader ClaimPulse uses (claimpulse.fastread, ADBC) and registered in DuckDB;
everything else is one SQL script: timestamps parsed (offset-aware ISO text; naive event
times read in Asia/Shanghai), first milestones, lags, valued costs, the closed cohort by
local date, the response and complaint cohorts, all five grouping sets of METRICS.md.

There is no validation here (no quarantine): rows ClaimPulse quarantines are counted, so a
few metric rows differ; `--compare` reports how many rows agree with ClaimPulse's output.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TABLES = {
    "claims": "claim_id, product_line, channel, region, outcome, paid_amount, reported_at",
    "claim_events": "claim_id, event_type, occurred_at",
    "surveys": "claim_id, responded_at, csat, nps, effort",
    "complaints": "claim_id, received_at, source",
    "customer_costs": "claim_id, cost_type, quantity, amount",
}

SQL = r"""
WITH
c AS (
    SELECT claim_id, product_line, channel, region, outcome,
           TRY_CAST(paid_amount AS DOUBLE) AS paid_amount,
           TRY_CAST(reported_at AS TIMESTAMPTZ) AS reported_at
    FROM claims_raw
),
ev AS (
    SELECT claim_id, event_type,
           timezone('{tz}', TRY_CAST(occurred_at AS TIMESTAMP)) AS ts
    FROM claim_events_raw
),
e AS (
    SELECT claim_id,
           min(ts) FILTER (WHERE event_type = 'accepted') AS accepted_at,
           min(ts) FILTER (WHERE event_type = 'decided')  AS decided_at,
           min(ts) FILTER (WHERE event_type = 'paid')     AS paid_at,
           min(ts) FILTER (WHERE event_type = 'closed')   AS closed_at
    FROM ev GROUP BY claim_id
),
r AS (
    SELECT ev.claim_id,
           bool_or(ev.ts > e.closed_at AND epoch(ev.ts) - epoch(e.closed_at) <= 30 * 86400) AS reopened_within_30d
    FROM ev JOIN e USING (claim_id)
    WHERE ev.event_type = 'reopened' AND e.closed_at IS NOT NULL
    GROUP BY ev.claim_id
),
k AS (
    SELECT claim_id,
           sum(coalesce(TRY_CAST(amount AS DOUBLE), TRY_CAST(quantity AS DOUBLE) * {travel_rate}))
               FILTER (WHERE cost_type = 'travel') AS travel,
           sum(TRY_CAST(amount AS DOUBLE)) FILTER (WHERE cost_type = 'evidence_fee') AS evidence,
           sum(coalesce(TRY_CAST(amount AS DOUBLE), TRY_CAST(quantity AS DOUBLE) * {lost_rate}))
               FILTER (WHERE cost_type = 'lost_work_time') AS lost_work,
           sum(TRY_CAST(quantity AS DOUBLE)) FILTER (WHERE cost_type = 'travel') AS trips,
           sum(TRY_CAST(quantity AS DOUBLE)) FILTER (WHERE cost_type = 'lost_work_time') AS lost_work_hours
    FROM customer_costs_raw GROUP BY claim_id
),
f AS (
    SELECT c.claim_id, c.product_line, c.channel, c.region, c.outcome, c.paid_amount,
           CAST(timezone('{tz}', e.closed_at) AS DATE) AS d,
           (epoch(e.accepted_at) - epoch(c.reported_at)) / 3600.0 AS report_to_accept_hours,
           (epoch(e.decided_at) - epoch(c.reported_at)) / 86400.0 AS report_to_decision_days,
           (epoch(e.paid_at) - epoch(e.decided_at)) / 86400.0 AS decision_to_payment_days,
           (epoch(e.closed_at) - epoch(c.reported_at)) / 86400.0 AS report_to_close_days,
           coalesce(r.reopened_within_30d, false) AS reopened_within_30d,
           coalesce(k.travel, 0.0) AS customer_cost_travel,
           coalesce(k.evidence, 0.0) AS customer_cost_evidence,
           coalesce(k.lost_work, 0.0) AS customer_cost_lost_work,
           coalesce(k.travel, 0.0) + coalesce(k.evidence, 0.0) + coalesce(k.lost_work, 0.0) AS customer_cost_total,
           coalesce(k.trips, 0.0) AS trips,
           coalesce(k.lost_work_hours, 0.0) AS lost_work_hours
    FROM c LEFT JOIN e USING (claim_id) LEFT JOIN r USING (claim_id) LEFT JOIN k USING (claim_id)
),
gc AS (
    SELECT d AS metric_date, {dims},
        count(*) AS closed_claims,
        quantile_cont(report_to_accept_hours, [0.5, 0.9]) AS acc_q,
        quantile_cont(report_to_decision_days, [0.5, 0.9]) AS dec_q,
        quantile_cont(decision_to_payment_days, [0.5, 0.9]) AS pay_q,
        avg(report_to_close_days) AS report_to_close_days_mean,
        quantile_cont(report_to_close_days, [0.5, 0.9]) AS clo_q,
        count_if(outcome IN ('paid', 'partial', 'denied')) AS decided_claims,
        count_if(outcome IN ('paid', 'partial')) AS n_paid,
        count_if(outcome = 'denied') AS n_denied,
        count_if(reopened_within_30d) AS n_reopened,
        coalesce(sum(paid_amount), 0.0) AS paid_amount_total,
        sum(customer_cost_travel) AS customer_cost_travel,
        sum(customer_cost_evidence) AS customer_cost_evidence,
        sum(customer_cost_lost_work) AS customer_cost_lost_work,
        sum(customer_cost_total) AS customer_cost_total,
        avg(customer_cost_total) AS customer_cost_per_claim_mean,
        quantile_cont(customer_cost_total, 0.5) AS customer_cost_per_claim_p50,
        avg(trips) AS trips_per_claim_mean,
        avg(lost_work_hours) AS lost_work_hours_mean
    FROM f WHERE d IS NOT NULL
    GROUP BY GROUPING SETS ({sets})
),
gs AS (
    SELECT d AS metric_date, {dims},
        count(*) AS survey_responses, avg(csat) AS csat_mean, count(csat) AS n_csat,
        count_if(csat >= 4) AS n_satisfied, count(nps) AS n_nps,
        count_if(nps >= 9) AS n_promoters, count_if(nps <= 6) AS n_detractors,
        avg(effort) AS effort_mean
    FROM (SELECT CAST(timezone('{tz}', TRY_CAST(s.responded_at AS TIMESTAMPTZ)) AS DATE) AS d,
                 c.product_line, c.channel, c.region,
                 TRY_CAST(s.csat AS BIGINT) AS csat, TRY_CAST(s.nps AS BIGINT) AS nps,
                 TRY_CAST(s.effort AS BIGINT) AS effort
          FROM surveys_raw s JOIN c USING (claim_id))
    WHERE d IS NOT NULL
    GROUP BY GROUPING SETS ({sets})
),
gq AS (
    SELECT d AS metric_date, {dims},
        count(*) AS complaints_received, count_if(source = 'regulator') AS regulator_complaints
    FROM (SELECT CAST(timezone('{tz}', TRY_CAST(q.received_at AS TIMESTAMPTZ)) AS DATE) AS d,
                 c.product_line, c.channel, c.region, q.source
          FROM complaints_raw q JOIN c USING (claim_id))
    WHERE d IS NOT NULL
    GROUP BY GROUPING SETS ({sets})
),
g AS (
    SELECT * FROM gc FULL OUTER JOIN gs USING ({keys}) FULL OUTER JOIN gq USING ({keys})
)
SELECT {keys},
    coalesce(closed_claims, 0) AS closed_claims,
    acc_q[1] AS report_to_accept_hours_p50, acc_q[2] AS report_to_accept_hours_p90,
    dec_q[1] AS report_to_decision_days_p50, dec_q[2] AS report_to_decision_days_p90,
    pay_q[1] AS decision_to_payment_days_p50, pay_q[2] AS decision_to_payment_days_p90,
    report_to_close_days_mean,
    clo_q[1] AS report_to_close_days_p50, clo_q[2] AS report_to_close_days_p90,
    coalesce(decided_claims, 0) AS decided_claims,
    CASE WHEN decided_claims > 0 THEN n_paid::DOUBLE / decided_claims END AS paid_rate,
    CASE WHEN decided_claims > 0 THEN n_denied::DOUBLE / decided_claims END AS denial_rate,
    CASE WHEN closed_claims > 0 THEN n_reopened::DOUBLE / closed_claims END AS reopen_rate_30d,
    coalesce(paid_amount_total, 0.0) AS paid_amount_total,
    coalesce(customer_cost_travel, 0.0) AS customer_cost_travel,
    coalesce(customer_cost_evidence, 0.0) AS customer_cost_evidence,
    coalesce(customer_cost_lost_work, 0.0) AS customer_cost_lost_work,
    coalesce(customer_cost_total, 0.0) AS customer_cost_total,
    customer_cost_per_claim_mean, customer_cost_per_claim_p50,
    trips_per_claim_mean, lost_work_hours_mean,
    CASE WHEN paid_amount_total <> 0 THEN customer_cost_total / paid_amount_total END AS customer_cost_to_payout_ratio,
    coalesce(survey_responses, 0) AS survey_responses,
    csat_mean,
    CASE WHEN n_csat > 0 THEN n_satisfied::DOUBLE / n_csat END AS csat_satisfied_rate,
    CASE WHEN n_nps > 0 THEN 100.0 * (n_promoters - n_detractors) / n_nps END AS nps,
    effort_mean,
    coalesce(complaints_received, 0) AS complaints_received,
    coalesce(regulator_complaints, 0) AS regulator_complaints
FROM g
ORDER BY {keys}
"""

DIMS = ("product_line", "channel", "region")
GROUPING_SETS = ((), ("product_line",), ("channel",), ("region",), ("product_line", "channel", "region"))


def build_sql(tz: str, travel_rate: float, lost_rate: float) -> str:
    dims = ", ".join(f"CASE WHEN grouping({d}) = 1 THEN 'ALL' ELSE {d} END AS {d}" for d in DIMS)
    sets = ", ".join("(" + ", ".join(("d",) + gs) + ")" for gs in GROUPING_SETS)
    return SQL.format(tz=tz, travel_rate=float(travel_rate), lost_rate=float(lost_rate), dims=dims,
                      sets=sets, keys="metric_date, " + ", ".join(DIMS))


def compare(ref, cp_path: str) -> dict:
    """Rows of ClaimPulse's daily_service_metrics equal (1e-6 relative) to the reference's."""
    import numpy as np
    import pandas as pd

    cp = pd.read_parquet(cp_path)
    cp = cp[[c for c in ref.columns]]
    keys = ["metric_date", *DIMS]
    for df in (cp, ref):
        df["metric_date"] = pd.to_datetime(df["metric_date"]).dt.date
    m = cp.merge(ref, on=keys, how="outer", suffixes=("_cp", "_ref"), indicator=True)
    both = m[m["_merge"] == "both"]
    equal = np.ones(len(both), dtype=bool)
    differing: dict[str, int] = {}
    for col in ref.columns:
        if col in keys:
            continue
        a = pd.to_numeric(both[f"{col}_cp"], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(both[f"{col}_ref"], errors="coerce").to_numpy(dtype=float)
        same = (np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-6, atol=1e-9)
        if (~same).any():
            differing[col] = int((~same).sum())
        equal &= same
    all_set = both[(both[list(DIMS)] == "ALL").all(axis=1)]
    all_equal = equal[((both[list(DIMS)] == "ALL").all(axis=1)).to_numpy()]
    return {
        "claimpulse_rows": int(len(cp)), "reference_rows": int(len(ref)),
        "rows_in_both": int(len(both)), "rows_equal": int(equal.sum()),
        "rows_equal_share": round(float(equal.mean()) if len(both) else 0.0, 4),
        "all_claims_set_rows": int(len(all_set)), "all_claims_set_equal": int(all_equal.sum()),
        "only_claimpulse": int((m["_merge"] == "left_only").sum()),
        "only_reference": int((m["_merge"] == "right_only").sum()),
        "columns_differing_rows": differing,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True, help="SQLite file")
    ap.add_argument("--out", required=True)
    ap.add_argument("--compare", help="ClaimPulse daily_service_metrics parquet to compare with")
    args = ap.parse_args()

    import duckdb

    from claimpulse import fastread
    from claimpulse.config import load_config

    settings = load_config(None)
    t0 = time.perf_counter()
    arrow = {t: fastread.fetch_arrow(args.source, f"SELECT {cols} FROM {t}") for t, cols in TABLES.items()}
    t_read = time.perf_counter() - t0
    con = duckdb.connect()
    for t, tbl in arrow.items():
        con.register(f"{t}_raw", tbl)
    sql = build_sql(settings.timezone, settings.rates.travel_per_trip, settings.rates.lost_work_per_hour)
    t1 = time.perf_counter()
    res = con.sql(sql).df()
    t_sql = time.perf_counter() - t1
    out = {"read_s": round(t_read, 3), "sql_s": round(t_sql, 3), "total_s": round(t_read + t_sql, 3),
           "rows_read": {t: tbl.num_rows for t, tbl in arrow.items()}, "metric_rows": int(len(res)),
           "duckdb_threads": con.execute("SELECT current_setting('threads')").fetchall()[0][0],
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)}
    if args.compare and Path(args.compare).exists():
        out["compare"] = compare(res, args.compare)
    Path(args.out).write_text(json.dumps(out, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
