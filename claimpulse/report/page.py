"""The report page: sections of tables and charts around the frames of `load_report_data`.

`render_report_html(data)` is pure (frames in, one HTML string out); `build_report(wh, out)`
reads the warehouse and writes the page atomically. The page needs no network and no
external file: CSS is inline, charts are inline <svg> (charts.py), hover values are SVG
<title> elements so no script runs, and every piece of text from the warehouse is escaped.
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..labels import CLOCK_STATUSES, CUSTOMER_GROUPS, LABELS
from ..labels import kind as metric_kind
from ..labels import label as metric_label
from ..warehouse import Warehouse
from .charts import (
    HALF, NO_DATA, WIDE, ageing_bands, ageing_chart, attainment_chart, clock_attainment_chart,
    close_days_chart, complaints_trend_chart, cost_by_dimension_chart, cost_by_type_chart,
    cost_by_type_frame, cost_payout_chart, esc, fmt_value, measure_bars, quarantine_chart,
    reported_volume_chart, survey_chart,
)
from .data import DEFAULT_TIMEZONE, DUE_SOON_DAYS, QUALITY_WINDOW_DAYS, ReportData, load_report_data

__all__ = ["render_report_html", "build_report", "docs_links", "DOCS", "LATEST_TABLE"]

CORE_TABLES = ("daily_service_metrics", "daily_standard_attainment", "fact_claim_service", "dq_quarantine")
# The project's own documentation, linked from the footer (repository paths).
DOCS = (("docs/metrics.md", "metric definitions"),
        ("docs/source-contract.md", "what the claims system exports"),
        ("docs/operations.md", "runs, backfills and recovery"))
REPO_ROOT = Path(__file__).resolve().parents[2]

LATEST_TABLE = tuple((col, LABELS[col].text, LABELS[col].kind) for col in (
    "closed_claims", "report_to_accept_hours_p50", "report_to_decision_days_p50",
    "report_to_decision_days_p90", "decision_to_payment_days_p50", "decision_to_payment_days_p90",
    "report_to_close_days_mean", "report_to_close_days_p50", "report_to_close_days_p90", "paid_rate",
    "denial_rate", "reopen_rate_30d", "paid_amount_total", "customer_cost_per_claim_mean",
    "customer_cost_to_payout_ratio", "survey_responses", "csat_mean", "csat_satisfied_rate", "nps",
    "effort_mean", "complaints_received", "regulator_complaints"))

# the team scorecard and customer-group table: speed and quality side by side
SCORECARD = ("closed_claims", "report_to_close_days_p50", "reopen_rate_30d", "complaint_rate",
             "re_request_rate", "first_time_right_rate", "csat_mean")
GROUP_TABLE = ("closed_claims", "report_to_close_days_p50", "complaint_rate", "complaints", "csat_mean",
               "customer_cost_per_claim_mean")
# short column headers of those tables (the full label is the header's title)
SHORT = {"closed_claims": "closed", "report_to_close_days_p50": "close p50 (days)",
         "reopen_rate_30d": "reopened ≤ 30 d", "complaint_rate": "complaint rate", "complaints": "complaints",
         "re_request_rate": "asked twice+", "first_time_right_rate": "first time right",
         "csat_mean": "CSAT (1–5)", "customer_cost_per_claim_mean": "cost per claim"}

CSS = """
:root{--fg:#1b1f24;--muted:#5b6470;--line:#d8dde3;--bg:#f6f7f9;--card:#fff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 24px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:17px;margin:0 0 8px}
.meta{color:var(--muted);margin:0 0 16px}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;margin:0 0 18px}
.kgroup{grid-column:1/-1;color:var(--muted);font-size:12px;font-weight:600;text-transform:uppercase;letter-spacing:.04em;margin:4px 0 -4px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.kpi .v{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.kpi .l{color:var(--muted);font-size:12.5px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px}
figure,.card{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px}
figure.wide,.card.wide{grid-column:1/-1}
figcaption{color:var(--muted);font-size:13px;margin-top:6px}
svg.chart{display:block;width:100%;height:auto;max-width:100%}
svg.chart text{font-family:inherit;font-size:12px;fill:#1b1f24}
svg.chart .tick{fill:#5b6470;font-size:11.5px;font-variant-numeric:tabular-nums}
svg.chart .legend{font-size:12.5px}
svg.chart .panel-title{font-weight:600;font-size:13px}
svg.chart .axis-label{fill:#5b6470;font-size:12px}
svg.chart .endlabel{font-weight:650;font-size:12px}
svg.chart .value{font-variant-numeric:tabular-nums;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg.chart .inbar{fill:#fff;font-size:11px}
svg.chart .sub{fill:#5b6470;font-size:11px}
svg.chart .empty{fill:#5b6470;font-size:16px;font-style:italic}
svg.chart .reflabel{fill:#333;font-size:11.5px;paint-order:stroke;stroke:#fff;stroke-width:3px}
svg.chart .grid{stroke:#e6e9ed;stroke-width:1}
svg.chart .zero{stroke:#9aa3ad;stroke-width:1}
svg.chart .axis{stroke:#9aa3ad;stroke-width:1}
svg.chart .sep{stroke:#c3c9d0;stroke-dasharray:3 3}
svg.chart .ref{stroke:#333;stroke-width:1.3;stroke-dasharray:5 4}
svg.chart .empty-box{fill:#fafbfc;stroke:#d8dde3;stroke-dasharray:4 4}
svg.chart .halo{fill:#fff;fill-opacity:.9}
svg.chart .hit{fill:transparent;stroke:none}
svg.chart .hit:hover{fill:rgba(0,0,0,.25)}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
td,th{padding:4px 8px;border-bottom:1px solid #eef0f3;text-align:left}
td.num,th.num{text-align:right;white-space:nowrap}
.cols{column-count:2;column-gap:32px}
.cols table{break-inside:avoid}
.note{color:#8a4b00;background:#fff6e5;border:1px solid #f1d9a6;border-radius:6px;padding:8px 12px;margin:0 0 14px}
footer{color:var(--muted);font-size:12px;margin-top:18px}
section.part{margin:28px 0 0}
section.part>h2{font-size:20px;margin:0 0 4px}
section.part>p.meta{margin:0 0 12px}
tr.alert td{background:#fdecea}
tr.alert td:first-child{box-shadow:inset 4px 0 0 #D55E00;font-weight:650}
.tag{display:inline-block;white-space:nowrap;border-radius:4px;padding:0 6px;font-size:12px;font-weight:600}
.tag.overdue,.tag.alert{background:#D55E00;color:#fff}
.tag.soon{background:#fff0c2;color:#5c4200}
.scroll{overflow-x:auto}
th{font-size:12.5px;vertical-align:bottom}
td:first-child{white-space:nowrap}
.grid>.note{grid-column:1/-1;margin:0}
h3{font-size:14px;margin:14px 0 6px}
@media (max-width:700px){.grid{grid-template-columns:1fr}.cols{column-count:1}}
"""


def _kpi(value: str, label: str) -> str:
    return f'<div class="kpi"><div class="v">{esc(value)}</div><div class="l">{esc(label)}</div></div>'


def _figure(title: str, svg: str, caption: str, wide: bool = True, fig_id: str = "") -> str:
    cls = "wide" if wide else "half"
    ident = f' id="{esc(fig_id)}"' if fig_id else ""
    return (f'<figure class="{cls}"{ident}><h2>{esc(title)}</h2>{svg}'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def _latest_table(row: pd.Series | None, currency: str) -> str:
    if row is None:
        return f"<p class=\"meta\">{esc(NO_DATA)}</p>"
    unit_of = {"days": "days", "hours": "hours", "money": currency}
    rows = [f"<tr><td>{esc(lab)}</td><td class=\"num\">{esc(fmt_value(row.get(col), kind))}</td>"
            f"<td>{esc(unit_of.get(kind, ''))}</td></tr>"
            for col, lab, kind in LATEST_TABLE if col in row.index]
    half = (len(rows) + 1) // 2
    head = "<tr><th>metric</th><th class=\"num\">value</th><th>unit</th></tr>"
    return (f'<div class="cols"><table>{head}{"".join(rows[:half])}</table>'
            f'<table>{head}{"".join(rows[half:])}</table></div>')


def _cells(frame: pd.DataFrame, col: str, kind: str | None) -> pd.Series:
    """The escaped <td> cells of one column (numbers formatted and right-aligned)."""
    if kind is None:
        return '<td>' + frame[col].astype("object").fillna("–").astype(str).map(esc) + "</td>"
    if kind == "date":   # DuckDB hands DATE back as a timestamp
        txt = pd.to_datetime(frame[col], errors="coerce").dt.strftime("%Y-%m-%d")
        return "<td>" + txt.astype("object").fillna("–") + "</td>"
    return ('<td class="num">' + pd.to_numeric(frame[col], errors="coerce")
            .map(lambda v: esc(fmt_value(v, kind))) + "</td>")


def _th(col: str, header: str, kind: str | None) -> str:
    """A header cell; a metric's full label is its title (the header may be short)."""
    num = ' class="num"' if kind not in (None, "date") else ""
    title = f' title="{esc(metric_label(col))}"' if col in LABELS else ""
    return f"<th{num}{title}>{esc(header)}</th>"


def html_table(frame: pd.DataFrame, cols: Sequence[tuple[str, str, str | None]],
               row_class: pd.Series | None = None, first_html: pd.Series | None = None,
               table_id: str = "") -> str:
    """A small display table: cols are (column, header, kind or None for text).

    `first_html` replaces the first column's escaped text with ready HTML (a tag added).
    """
    head = "".join(_th(c, h, k) for c, h, k in cols)
    if frame is None or frame.empty:
        return f'<p class="meta">{esc(NO_DATA)}</p>'
    cells = [_cells(frame, c, k) for c, _, k in cols]
    if first_html is not None:
        cells[0] = "<td>" + first_html.astype(str) + "</td>"
    body = cells[0].to_numpy(dtype=object)
    for c in cells[1:]:
        body = body + c.to_numpy(dtype=object)
    opens = pd.Series("<tr>", index=frame.index, dtype=object)
    if row_class is not None:
        rc = row_class.astype(str)
        opens = opens.where(rc == "", '<tr class="' + rc.map(esc) + '">')
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return (f'<div class="scroll"><table{ident}><tr>{head}</tr>'
            f'{"".join(opens.to_numpy(dtype=object) + body + "</tr>")}</table></div>')


def _section(sid: str, title: str, intro: str, body: str) -> str:
    return (f'<section class="part" id="{esc(sid)}"><h2>{esc(title)}</h2>'
            f'<p class="meta">{esc(intro)}</p><div class="grid">{body}</div></section>')


def _missing(lacks: str, what: str) -> str:
    """The note of a section whose table (or column) comes with a later warehouse upgrade."""
    return (f'<p class="note">This warehouse has no {esc(what)} yet (it lacks {esc(lacks)}): '
            "upgrade it and run the pipeline.</p>")


# --------------------------------------------------------------------------- sections

def clocks_section(data: ReportData) -> str:
    """Service clocks: weekly attainment per clock, and the watchlist per team."""
    if data.clock_attainment is None:
        return _section("clocks", "Service clocks", "Statutory and internal time limits, counted as the law "
                        "counts them.", _missing("table daily_clock_attainment", "service clocks"))
    figs = [_figure("Attainment per clock", clock_attainment_chart(data.clock_attainment, data.clock_titles),
                    "Share of the clocks that stopped in each week (Monday to Sunday, by the clock's end "
                    "date) within their limit: met ÷ (met + breached), all products, channels and regions; "
                    "the panel title gives the clock id, its title and the rate over all weeks; the "
                    "latest week may not be complete yet. "
                    "Unit: % of stopped clocks.", fig_id="chart-clock-attainment")]
    if data.watch_counts is None:
        figs.append(_missing("table clock_watchlist", "clock watchlist"))
    else:
        as_of = f" as of {data.watch_as_of}" if data.watch_as_of is not None and not pd.isna(data.watch_as_of) else ""
        figs.append(f'<section class="card wide" id="watchlist"><h2>Watchlist{esc(as_of)}: overdue or due '
                    f'within {DUE_SOON_DAYS} days</h2>{watchlist_tables(data.watch_counts, data.watch_rows)}'
                    "</section>")
    return _section("clocks", "Service clocks", "Statutory and internal time limits, counted as the law "
                    "counts them (start day not counted, pauses and holidays as each clock's calendar says).",
                    "".join(figs))


def watchlist_tables(counts: pd.DataFrame, rows: pd.DataFrame | None) -> str:
    """Per team: clocks overdue or due soon, by status; then the most urgent clocks."""
    if counts is None or counts.empty:
        return f'<p class="meta">Nothing is overdue or due within {DUE_SOON_DAYS} days.</p>'
    wide = counts.pivot_table(index="team", columns="status", values="clocks", aggfunc="sum", fill_value=0)
    statuses = [s for s in CLOCK_STATUSES if s in wide.columns] + sorted(set(wide.columns) - set(CLOCK_STATUSES))
    wide = wide[statuses]
    wide["total"] = wide.sum(axis=1)
    wide = wide.reset_index().sort_values(["total", "team"], ascending=[False, True])
    per_team = html_table(wide, [("team", "team", None)] + [(s, s, "count") for s in statuses]
                          + [("total", "total", "count")], table_id="watch-teams")
    top = ""
    if rows is not None and not rows.empty:
        overdue = rows["status"].astype(str).eq("overdue") | (pd.to_numeric(rows["days_to_due"]) < 0)
        tag = pd.Series('<span class="tag soon">due soon</span>', index=rows.index).where(
            ~overdue, '<span class="tag overdue">overdue</span>')
        clock = rows["clock_id"].astype(str).map(esc) + " " + tag
        top = (f"<h3>Most urgent ({len(rows)} nearest to or furthest past their due date)</h3>" + html_table(rows, [
            ("clock_id", "clock", None), ("claim_id", "claim", None), ("subject_id", "subject", None),
            ("team", "team", None), ("status", "status", None), ("due_date", "due date", "date"),
            ("days_to_due", "days to due", "count")], first_html=clock, table_id="watch-rows"))
    return (f"<p class=\"meta\">Clocks not stopped whose status is overdue or whose due date is at most "
            f"{DUE_SOON_DAYS} days away (negative days to due: overdue by that many days).</p>"
            + per_team + top)


def groups_section(data: ReportData) -> str:
    """Per customer group: timeliness, complaints, CSAT and customer cost side by side."""
    title = "Customer groups"
    if data.groups is None:
        return _section("groups", title, "", _missing("column fact_claim_service.customer_group",
                                                      "customer groups"))
    g = data.groups.copy()
    if not g.empty:
        order = {k: i for i, k in enumerate(CUSTOMER_GROUPS)}
        g = g.assign(_o=g["customer_group"].map(order).fillna(len(order))).sort_values(["_o", "customer_group"])
        g["group"] = g["customer_group"].map(CUSTOMER_GROUPS).fillna(g["customer_group"])
    cur = f" ({data.currency})" if data.currency else ""
    cols = [("group", "customer group", None)] + [
        (c, SHORT[c] + (cur if metric_kind(c) == "money" else ""), metric_kind(c)) for c in GROUP_TABLE]
    table = f'<section class="card wide"><h2>Side by side</h2>{html_table(g, cols, table_id="groups")}</section>'
    charts = "".join(_figure(t, measure_bars(g, "group", c, label=f"{t} per customer group", width=HALF),
                             cap, wide=False) for c, t, cap in (
        ("report_to_close_days_p50", "Timeliness", "Median report-to-close days. Unit: days."),
        ("complaint_rate", "Complaint rate", "Closed claims with at least one complaint ÷ closed claims."),
        ("csat_mean", "CSAT", "Mean of each claim's latest CSAT (1–5), claims with a response."),
        ("customer_cost_per_claim_mean", "Customer cost", f"Mean customer cost per closed claim{cur}.")))
    return _section("groups", title, f"Claims closed on {_window(data)}, per customer group "
                    "(the outcome and denial reason a customer experiences); n = closed claims.", table + charts)


def _window(data: ReportData) -> str:
    if not data.quality_window:
        return "the latest dates (none yet)"
    first, last = data.quality_window
    return f"the latest {QUALITY_WINDOW_DAYS} closed dates ({first} to {last})"


def scorecard_section(data: ReportData) -> str:
    """Team scorecard: speed and quality in one table, teams with a standing alert highlighted."""
    title = "Team scorecard"
    if data.teams is None:
        return _section("teams", title, "", _missing("column fact_claim_service.customer_group",
                                                     "quality measures per team"))
    teams = data.teams.copy()
    alerts = data.alerts if data.alerts is not None else pd.DataFrame(columns=["dimension", "value"])
    flagged = set(alerts.loc[alerts["dimension"] == "team", "value"].astype(str))
    if not teams.empty:
        hit = teams["team"].astype(str).isin(flagged)
        name = teams["team"].astype(str).map(esc)
        first = name.where(~hit, name + ' <span class="tag alert">speed–quality alert</span>')
        row_class = pd.Series("", index=teams.index).where(~hit, "alert")
    else:
        first = row_class = None
    cols = [("team", "team", None)] + [(c, SHORT[c], metric_kind(c)) for c in SCORECARD]
    body = ('<section class="card wide"><h2>Speed and quality per team</h2>'
            + html_table(teams, cols, row_class=row_class, first_html=first, table_id="scorecard")
            + "<p class=\"meta\">A highlighted team has a speed–quality alert from the last 28 days: its "
            "median report-to-close time fell by 10% or more while a quality rate rose by 2 points or "
            "more (claims with 30 days of follow-up only).</p></section>")
    body += f'<section class="card wide" id="alerts"><h2>Speed–quality alerts</h2>{alerts_table(data.alerts)}</section>'
    return _section("teams", title, f"Claims closed on {_window(data)}, per team (UNASSIGNED: no team).", body)


def alerts_table(alerts: pd.DataFrame | None) -> str:
    if alerts is None:
        return _missing("table speed_quality_alerts", "speed–quality alerts")
    if alerts.empty:
        return '<p class="meta">No alert in the last 28 days.</p>'
    a = alerts.copy()
    a["measure_label"] = a["measure"].astype(str).map(metric_label)
    return html_table(a, [
        ("window_end", "window end", "date"), ("dimension", "dimension", None), ("value", "team / product line", None),
        ("cycle_p50_before", "close p50 before (days)", "days"), ("cycle_p50_after", "after", "days"),
        ("measure_label", "quality measure", None), ("rate_before", "rate before", "pct"),
        ("rate_after", "after", "pct"), ("claims_before", "claims before", "count"),
        ("claims_after", "after", "count")], table_id="alert-rows")


def gaps_section(data: ReportData, daily: pd.DataFrame) -> str:
    """Backlog ageing, reported volume, complaints trend, customer cost by region/channel/team."""
    as_of = data.ages_as_of
    as_of_txt = f"{pd.Timestamp(as_of):%Y-%m-%d %H:%M} UTC" if as_of is not None and not pd.isna(as_of) else "–"
    bands = ageing_bands(data.open_ages)
    cur = data.currency or "the configured currency"
    figs = [
        _figure("Open-claim ageing", ageing_chart(data.open_ages),
                f"Claims still open, by days since they were reported, as of the latest report or close "
                f"in the warehouse ({as_of_txt}); {fmt_value(bands['claims'].sum(), 'count')} open claims. "
                "Unit: claims.", wide=False, fig_id="chart-ageing"),
        _figure("Claims reported", reported_volume_chart(data.reported),
                "Claims reported on each local date (business timezone), with the trailing 7-day mean. "
                "Unit: claims per day.", fig_id="chart-reported"),
        _figure("Complaints trend", complaints_trend_chart(daily),
                "Complaints received per week (by received date), all claims, and those raised through "
                "the regulator; the latest week may not be complete yet. Unit: complaints per week.", fig_id="chart-complaints"),
    ]
    for dim in ("region", "channel", "team"):
        figs.append(_figure(f"Customer cost by {dim}", cost_by_dimension_chart(data.cost_by_dim, dim, data.currency),
                            f"Mean customer cost per closed claim (travel, evidence, lost work; no cost "
                            f"rows count as 0) per {dim}, all closed claims; n = closed claims. Unit: {cur}.",
                            wide=False, fig_id=f"chart-cost-{dim}"))
    return _section("backlog", "Backlog, volume and complaints", "What is waiting, what comes in, and what "
                    "customers complain about.", "".join(figs))


# --------------------------------------------------------------------------- footer

def docs_links(out: Path | None, root: Path = REPO_ROOT) -> dict[str, str] | None:
    """Relative hrefs from the report's folder to the repository's docs, or None.

    A link is relative so the page keeps working offline and when the checkout moves; it is
    made only when the report is written inside the repository that holds docs/ (the
    default data/report.html). Anywhere else a relative link would break as soon as the
    file is copied, so the footer names the repository paths in words instead.
    """
    if out is None or not (root / "docs").is_dir():
        return None
    folder = Path(out).resolve().parent
    try:
        folder.relative_to(root)
    except ValueError:
        return None
    return {path: Path(os.path.relpath(root / path, folder)).as_posix() for path, _ in DOCS}


def _footer(links: dict[str, str] | None) -> str:
    if links:
        items = ", ".join(f'<a href="{esc(links[p])}">{esc(p)}</a> ({esc(what)})' for p, what in DOCS)
    else:
        items = ", ".join(f"{esc(p)} ({esc(what)})" for p, what in DOCS) + " in the ClaimPulse repository"
    return (f"<footer>ClaimPulse report. Documentation: {items}. "
            "Hover a point or bar for its value.</footer>")


# --------------------------------------------------------------------------- the page

def render_report_html(data: ReportData, title: str = "ClaimPulse service quality",
                       generated_at: dt.datetime | None = None,
                       links: dict[str, str] | None = None) -> str:
    """The whole page as one string (no external resources).

    `links`: href per docs path (docs_links); None names the docs in words.
    """
    daily = data.daily if data.daily is not None else pd.DataFrame()
    if not daily.empty:
        daily = daily.sort_values("metric_date").reset_index(drop=True)
    cur = data.currency
    gen = (generated_at or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")

    latest = daily.iloc[-1] if not daily.empty else None
    if latest is not None:
        first, last = daily["metric_date"].iloc[0], daily["metric_date"].iloc[-1]
        span = f"Data from {first} to {last} ({len(daily):,} dates with activity)."
    else:
        span = "No daily metrics in the warehouse yet."
    # 0 when a table is there but empty; '–' when it is missing
    closed_total = (pd.to_numeric(daily["closed_claims"], errors="coerce").sum()
                    if "closed_claims" in daily else float("nan"))
    claims = data.claims if data.claims is not None else pd.DataFrame()
    if "claims" in claims:
        n_claims = pd.to_numeric(claims["claims"]).sum()
        n_open = pd.to_numeric(claims.loc[claims["is_open"].fillna(False).astype(bool), "claims"]).sum()
    else:
        n_claims = n_open = float("nan")
    q = data.quarantine if data.quarantine is not None else pd.DataFrame()
    q_open = pd.to_numeric(q["rows"]).sum() if "rows" in q else float("nan")

    kpis = [
        '<div class="kgroup">All dates</div>',
        _kpi(fmt_value(closed_total, "count"), "closed claims, all dates"),
        _kpi(fmt_value(n_claims, "count"), "claims in the warehouse"),
        _kpi(fmt_value(n_open, "count"), "claims still open"),
        _kpi(fmt_value(q_open, "count"), "open quarantined source rows"),
    ]
    if latest is not None:
        d = latest["metric_date"]
        kpis += [
            f'<div class="kgroup">Latest date, {esc(d)}</div>',
            _kpi(fmt_value(latest.get("closed_claims"), "count"), "claims closed"),
            _kpi(fmt_value(latest.get("report_to_close_days_p50"), "days") + " d", "report → close, median"),
            _kpi(fmt_value(latest.get("report_to_close_days_p90"), "days") + " d", "report → close, p90"),
            _kpi(fmt_value(latest.get("paid_rate"), "pct"), "paid rate (of decided)"),
            _kpi(fmt_value(latest.get("csat_mean"), "score"), "CSAT mean (1–5)"),
            _kpi(fmt_value(latest.get("nps"), "nps"), "NPS (−100 … +100)"),
            _kpi((fmt_value(latest.get("customer_cost_per_claim_mean"), "money") + f" {cur}").strip(),
                 "customer cost per closed claim"),
        ]

    money = f"{cur} " if cur else ""
    n_lines = len(cost_by_type_frame(data.cost_by_type))
    n_lines = max(n_lines, len(data.cost_payout) if data.cost_payout is not None else 0)
    half = n_lines <= 7
    bar_w = HALF if half else WIDE
    figs = [
        _figure("Time to close a claim", close_days_chart(daily),
                "Median (p50) and 90th percentile (p90) of report-to-close days of the "
                "claims closed on each local date, all products, channels and regions. Unit: days.",
                fig_id="chart-close-days"),
        _figure("Service standards", attainment_chart(data.attainment),
                "Share of the eligible claims closed on each date that met each configured service "
                "standard (solid line), with that standard's target attainment (dashed line in the "
                "same colour); all claims. Unit: % of eligible claims.", fig_id="chart-attainment"),
        _figure("Customer satisfaction", survey_chart(daily),
                "Mean CSAT (1–5) and net promoter score (−100 to +100) of the survey responses "
                "received on each local date, all claims; dates without responses are skipped. "
                "Unit: score points.", fig_id="chart-survey"),
        _figure("What a claim costs the customer", cost_by_type_chart(data.cost_by_type, cur, bar_w),
                f"Mean customer cost per closed claim by cost type (travel, evidence and document fees, "
                f"valued lost working time), per product line, over all closed claims in the warehouse "
                f"(a claim without cost rows counts as 0); n = closed claims; “all lines” = every product line. Unit: {money}per claim.",
                wide=not half, fig_id="chart-cost-type"),
        _figure("Customer cost against payout", cost_payout_chart(data.cost_payout, bar_w),
                "Customer cost as a share of the amount paid out: sum of customer_cost_total ÷ sum of "
                "paid_amount_total over all dates, per product line (dashed line: all product lines together). "
                f"Unit: % of payout; amounts in {cur or 'the configured currency'}.",
                wide=not half, fig_id="chart-cost-payout"),
        _figure("Data quality: quarantine", quarantine_chart(q),
                "Source rows currently held out of the metrics (quarantined, not yet released), per "
                "reason code and source table; a row that breaks several rules counts under each "
                "reason. Unit: rows.", fig_id="chart-quarantine"),
    ]
    notes = ""
    core_missing = [t for t in data.missing_tables if t in CORE_TABLES]
    if core_missing:
        notes = (f'<p class="note">The warehouse has no {esc(", ".join(core_missing))} table yet: '
                 f"run the pipeline first. Charts from it show “{esc(NO_DATA)}”.</p>")
    toc = ('<nav class="meta">Sections: <a href="#overview">overview</a> · <a href="#backlog">backlog, volume '
           'and complaints</a> · <a href="#clocks">service clocks</a> · <a href="#groups">customer groups</a> · '
           '<a href="#teams">team scorecard</a> · <a href="#chart-quarantine">data quality</a></nav>')
    latest_title = f"Latest date: {latest['metric_date']} (all claims)" if latest is not None else "Latest date"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>{esc(title)}</h1>"
        f'<p class="meta">{esc(span)} Source: {esc(data.source or "warehouse")}. Generated {esc(gen)}.</p>'
        f"{notes}{toc}<div class=\"kpis\">{''.join(kpis)}</div>"
        f'<section class="part" id="overview"><div class="grid">{"".join(figs[:3])}'
        f'<section class="card wide"><h2>{esc(latest_title)}</h2>{_latest_table(latest, cur)}</section>'
        f'{"".join(figs[3:5])}</div></section>'
        f"{gaps_section(data, daily)}{clocks_section(data)}{groups_section(data)}{scorecard_section(data)}"
        f'<section class="part"><div class="grid">{figs[5]}</div></section>'
        f"{_footer(links)}"
        "</main></body></html>\n"
    )




def build_report(wh: Warehouse, out: Path, title: str = "ClaimPulse service quality", *,
                 currency: str = "", timezone: str = DEFAULT_TIMEZONE) -> Path:
    """Write the self-contained HTML report of warehouse `wh` to `out`; returns `out`.

    `timezone` is the business timezone (config `timezone`): the local date of a report.
    """
    out = Path(out)
    page = render_report_html(load_report_data(wh, currency=currency, timezone=timezone), title=title,
                              links=docs_links(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
