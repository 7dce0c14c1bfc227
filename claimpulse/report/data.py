"""What the report reads: bounded, aggregated frames from the warehouse (`load_report_data`).

Every read is a plain SELECT / GROUP BY that runs on DuckDB and PostgreSQL; large tables
(fact_claim_service, fact_claim_clock) are aggregated in SQL, never fetched row by row,
so a report of a 1M-claim warehouse reads a few thousand rows at most. Tables added by
later upgrades (service clocks, quality) are read only when they exist, so a warehouse from
before an upgrade still renders; the page then says which sections have no table yet.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from ..dictionary import columns
from ..warehouse import Warehouse
from .charts import COST_TYPES

__all__ = ["ReportData", "load_report_data", "clock_titles", "DUE_SOON_DAYS", "QUALITY_WINDOW_DAYS",
           "DEFAULT_TIMEZONE"]

DUE_SOON_DAYS = 3            # the watchlist shows clocks overdue or due within this many days
QUALITY_WINDOW_DAYS = 28     # customer groups and teams: the latest 28 closed dates (the guard's window)
WATCHLIST_ROWS = 30          # top rows of the watchlist listed on the page
DEFAULT_TIMEZONE = "Asia/Shanghai"   # the config's default business timezone


@dataclass
class ReportData:
    """The bounded frames a report is drawn from (see load_report_data)."""
    daily: pd.DataFrame = field(default_factory=pd.DataFrame)        # ALL/ALL/ALL rows by date
    attainment: pd.DataFrame = field(default_factory=pd.DataFrame)   # ALL/ALL/ALL rows
    cost_by_type: pd.DataFrame = field(default_factory=pd.DataFrame)  # product_line, claims, travel, evidence, lost_work
    cost_payout: pd.DataFrame = field(default_factory=pd.DataFrame)   # product_line, customer_cost_total, paid_amount_total
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)    # source_table, reasons, rows (open only)
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)        # is_open, claims
    # gaps an analyst noticed
    open_ages: pd.DataFrame = field(default_factory=pd.DataFrame)     # age_days (whole days), claims
    ages_as_of: object = None                                         # the timestamp ages are counted to
    reported: pd.DataFrame = field(default_factory=pd.DataFrame)      # reported_date, claims
    cost_by_dim: pd.DataFrame = field(default_factory=pd.DataFrame)   # dimension, value, claims, cost_mean
    # service clocks (absent before the clocks upgrade: None)
    clock_attainment: pd.DataFrame | None = None   # ALL rows: metric_date, clock_id, stopped/met/breached
    clock_titles: dict[str, str] = field(default_factory=dict)
    watch_counts: pd.DataFrame | None = None       # team, status, clocks (overdue or due soon)
    watch_rows: pd.DataFrame | None = None         # the most urgent of those rows
    watch_as_of: object = None
    # quality not traded for speed (absent before the quality upgrade: None)
    groups: pd.DataFrame | None = None             # per customer_group, latest window
    teams: pd.DataFrame | None = None              # per team, latest window
    quality_window: tuple | None = None            # (first, last) closed_date of that window
    alerts: pd.DataFrame | None = None             # speed_quality_alerts of the latest 28 days
    source: str = ""                      # warehouse description (masked URL) and schema
    currency: str = ""
    missing_tables: tuple[str, ...] = ()


def clock_titles() -> dict[str, str]:
    """clock id -> title of the shipped packs, when the clocks package is installed.

    The report must render on a branch or install without `claimpulse.clocks`, and a pack
    that fails to load only costs the titles, so any failure gives {}.
    """
    try:
        from claimpulse.clocks import models as clock_models   # noqa: PLC0415
        return {c.id: c.title for name in clock_models.PACKS
                for c in clock_models.load_pack(name) if getattr(c, "title", None)}
    except Exception:  # noqa: BLE001
        return {}


def _all_rows() -> str:
    return "product_line = 'ALL' AND channel = 'ALL' AND region = 'ALL'"


def _median(col: str) -> str:
    # the ordered-set form runs on DuckDB and PostgreSQL alike
    return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {col})"


def _rate(cond: str, over: str = "COUNT(*)") -> str:
    return f"CAST(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS DOUBLE PRECISION) / NULLIF({over}, 0)"


def _quality_sql(t: str, key: str, first: str, last: str) -> str:
    """Speed and quality of the claims closed in [first, last] per `key` (an SQL expression)."""
    req = "COALESCE(document_requests, 0)"
    return (
        f"SELECT {key} AS key, COUNT(*) AS closed_claims, "
        f"{_median('report_to_close_days')} AS report_to_close_days_p50, "
        f"{_rate('reopened_within_30d')} AS reopen_rate_30d, "
        f"{_rate('COALESCE(complaints, 0) > 0')} AS complaint_rate, "
        f"SUM(COALESCE(complaints, 0)) AS complaints, "
        f"{_rate(f'{req} >= 2', f'SUM(CASE WHEN {req} >= 1 THEN 1 ELSE 0 END)')} AS re_request_rate, "
        f"{_rate('first_time_right')} AS first_time_right_rate, "
        "AVG(CAST(survey_csat AS DOUBLE PRECISION)) AS csat_mean, "
        "AVG(CAST(COALESCE(customer_cost_total, 0) AS DOUBLE PRECISION)) AS customer_cost_per_claim_mean "
        f"FROM {t} WHERE closed_date BETWEEN DATE '{first}' AND DATE '{last}' GROUP BY {key} ORDER BY 1")


def load_report_data(wh: Warehouse, currency: str = "", timezone: str = DEFAULT_TIMEZONE) -> ReportData:
    """Read the bounded frames of the report (aggregated in SQL where a table is large).

    `timezone` is the business timezone: the local date of a claim's report.
    """
    data = ReportData(source=f"{wh.describe()}, schema {wh.schema}", currency=currency)
    missing = []
    with wh.transaction() as conn:
        present = set(sa.inspect(conn).get_table_names(schema=wh.schema))

        def has(t: str) -> bool:
            if t not in present:
                missing.append(t)
                return False
            return True

        if has("daily_service_metrics"):
            t = wh.table("daily_service_metrics")
            data.daily = wh.read_table(conn, "daily_service_metrics",
                                       f"WHERE {_all_rows()} ORDER BY metric_date")
            data.cost_payout = wh.read_sql(conn, (
                "SELECT product_line, "
                "SUM(CAST(customer_cost_total AS DOUBLE PRECISION)) AS customer_cost_total, "
                "SUM(CAST(paid_amount_total AS DOUBLE PRECISION)) AS paid_amount_total "
                f"FROM {t} WHERE channel = 'ALL' AND region = 'ALL' AND product_line <> 'ALL' "
                "GROUP BY product_line ORDER BY product_line"))
        if has("daily_standard_attainment"):
            data.attainment = wh.read_table(conn, "daily_standard_attainment",
                                            f"WHERE {_all_rows()} ORDER BY metric_date, standard_id")
        fact_cols: set[str] = set()
        if has("fact_claim_service"):
            t = wh.table("fact_claim_service")
            # information_schema, not the inspector: duckdb_engine's get_columns needs pg_catalog
            fact_cols = set(wh.read_sql(conn, (
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :schema AND table_name = 'fact_claim_service'"),
                {"schema": wh.schema})["column_name"])
            avg = "AVG(CAST(COALESCE({c}, 0) AS DOUBLE PRECISION)) AS {a}"
            data.cost_by_type = wh.read_sql(conn, (
                "SELECT product_line, COUNT(*) AS claims, "
                + ", ".join(avg.format(c=f"customer_cost_{k}", a=k) for k, _, _ in COST_TYPES)
                + f" FROM {t} WHERE closed_date IS NOT NULL GROUP BY product_line ORDER BY product_line"))
            data.claims = wh.read_sql(conn, f"SELECT is_open, COUNT(*) AS claims FROM {t} GROUP BY is_open")
            _read_fact_gaps(wh, conn, t, data, timezone, has_team="team" in fact_cols)
        if has("dq_quarantine"):
            t = wh.table("dq_quarantine")
            data.quarantine = wh.read_sql(conn, (
                "SELECT source_table, reasons, COUNT(*) AS row_count "
                f"FROM {t} WHERE released_at IS NULL GROUP BY source_table, reasons")
            ).rename(columns={"row_count": "rows"})
        if has("daily_clock_attainment"):
            _read_clocks(wh, conn, data, with_watchlist=has("clock_watchlist"))
        elif "clock_watchlist" not in present:
            missing.append("clock_watchlist")
        if "customer_group" in fact_cols:
            _read_quality(wh, conn, data, has_alerts=has("speed_quality_alerts"))
        elif "speed_quality_alerts" not in present:
            missing.append("speed_quality_alerts")
    data.missing_tables = tuple(missing)
    for name in ("daily", "attainment"):
        frame = getattr(data, name)
        if frame.empty and not len(frame.columns):
            table = "daily_service_metrics" if name == "daily" else "daily_standard_attainment"
            setattr(data, name, pd.DataFrame(columns=columns(table)))
    return data


def _read_fact_gaps(wh: Warehouse, conn, t: str, data: ReportData, timezone: str, has_team: bool) -> None:
    """Open-claim ages, reported claims per local date, customer cost by region/channel/team."""
    # Ages are exact (seconds / 86400, as the lags are) up to the latest report or close in
    # the warehouse: the data's "now", so a report of an old warehouse is not all 90+ days.
    asof = f"(SELECT GREATEST(MAX(reported_at), MAX(COALESCE(last_closed_at, closed_at))) FROM {t})"
    data.open_ages = wh.read_sql(conn, (
        "SELECT age_days, COUNT(*) AS claims FROM (SELECT CAST(FLOOR((EXTRACT(EPOCH FROM "
        f"{asof}) - EXTRACT(EPOCH FROM reported_at)) / 86400) AS INTEGER) AS age_days "
        f"FROM {t} WHERE is_open) a GROUP BY age_days ORDER BY age_days"))
    data.ages_as_of = wh.read_sql(conn, f"SELECT {asof} AS asof").iloc[0, 0]
    zone = timezone.replace("'", "")
    data.reported = wh.read_sql(conn, (
        f"SELECT CAST((reported_at AT TIME ZONE '{zone}') AS DATE) AS reported_date, COUNT(*) AS claims "
        f"FROM {t} WHERE reported_at IS NOT NULL GROUP BY 1 ORDER BY 1"))
    dims = ["region", "channel"] + (["team"] if has_team else [])
    cost = "AVG(CAST(COALESCE(customer_cost_total, 0) AS DOUBLE PRECISION))"
    # a null team is UNASSIGNED, as in daily_quality_metrics
    value = {"team": "COALESCE(CAST(team AS VARCHAR(200)), 'UNASSIGNED')"}
    data.cost_by_dim = wh.read_sql(conn, " UNION ALL ".join(
        f"SELECT '{d}' AS dimension, {value.get(d, f'CAST({d} AS VARCHAR(200))')} AS value, "
        f"COUNT(*) AS claims, {cost} AS cost_mean FROM {t} WHERE closed_date IS NOT NULL GROUP BY 2"
        for d in dims))


def _read_clocks(wh: Warehouse, conn, data: ReportData, with_watchlist: bool) -> None:
    data.clock_attainment = wh.read_sql(conn, (
        "SELECT metric_date, clock_id, SUM(stopped_clocks) AS stopped_clocks, "
        "SUM(met_clocks) AS met_clocks, SUM(breached_clocks) AS breached_clocks "
        f"FROM {wh.table('daily_clock_attainment')} WHERE {_all_rows()} "
        "GROUP BY metric_date, clock_id ORDER BY metric_date, clock_id"))
    data.clock_titles = clock_titles()
    if not with_watchlist:
        return
    t = wh.table("clock_watchlist")
    urgent = f"(status = 'overdue' OR days_to_due <= {DUE_SOON_DAYS})"
    team = "COALESCE(team, 'UNASSIGNED')"
    data.watch_counts = wh.read_sql(conn, (
        f"SELECT {team} AS team, status, COUNT(*) AS clocks FROM {t} WHERE {urgent} "
        "GROUP BY 1, 2 ORDER BY 1, 2"))
    data.watch_rows = wh.read_sql(conn, (
        f"SELECT clock_id, subject, subject_id, claim_id, {team} AS team, region, status, due_date, "
        f"days_to_due FROM {t} WHERE {urgent} "
        f"ORDER BY days_to_due, due_date, clock_id, claim_id LIMIT {WATCHLIST_ROWS}"))
    as_of = wh.read_sql(conn, f"SELECT MAX(as_of_date) AS d FROM {t}").iloc[0, 0]
    data.watch_as_of = None if as_of is None or pd.isna(as_of) else pd.Timestamp(as_of).date()


def _read_quality(wh: Warehouse, conn, data: ReportData, has_alerts: bool) -> None:
    t = wh.table("fact_claim_service")
    last = wh.read_sql(conn, f"SELECT MAX(closed_date) AS d FROM {t}").iloc[0, 0]
    if last is None or pd.isna(last):
        data.groups = data.teams = pd.DataFrame()
    else:
        last = pd.Timestamp(last).date()
        first = last - pd.Timedelta(days=QUALITY_WINDOW_DAYS - 1)
        data.quality_window = (first, last)
        data.groups = wh.read_sql(conn, _quality_sql(t, "customer_group", first, last)).rename(
            columns={"key": "customer_group"})
        data.teams = wh.read_sql(conn, _quality_sql(t, "COALESCE(team, 'UNASSIGNED')", first, last)).rename(
            columns={"key": "team"})
    if has_alerts:
        a = wh.table("speed_quality_alerts")
        # an alert stands for 28 days (it is not raised again within them): show those
        data.alerts = wh.read_sql(conn, (
            f"SELECT * FROM {a} WHERE window_end >= (SELECT MAX(window_end) FROM {a}) - 27 "
            "ORDER BY window_end DESC, dimension, value, measure"))
