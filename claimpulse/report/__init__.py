"""The service-quality report: one self-contained HTML page with inline SVG charts.

`build_report(wh, out)` reads a few bounded, aggregated frames from the warehouse
(`load_report_data`, data.py) and writes `render_report_html(data)` (page.py) to `out`.
Everything between is pure: frames in, SVG/HTML strings out, so tests and other callers
can render any frame. Every chart is drawn in charts.py; metric labels come from
claimpulse/labels.py, shared with the run summary.
"""
from __future__ import annotations

from .charts import (
    NO_DATA, Line, ageing_bands, ageing_chart, attainment_chart, clock_attainment_chart,
    close_days_chart, complaints_trend_chart, cost_by_dimension_chart, cost_by_type_chart,
    cost_by_type_frame, cost_payout_chart, cost_payout_frame, daily_counts, fmt_value, hbar_svg,
    line_chart_svg, nice_ticks, no_data_svg, panels_svg, quarantine_chart, quarantine_reason_counts,
    reported_volume_chart, stacked_bar_svg, survey_chart, weekly, weekly_clock_attainment,
)
from .data import ReportData, clock_titles, load_report_data
from .page import build_report, docs_links, render_report_html

__all__ = [
    "ReportData", "Line", "build_report", "load_report_data", "render_report_html", "docs_links",
    "line_chart_svg", "stacked_bar_svg", "hbar_svg", "no_data_svg", "panels_svg",
    "close_days_chart", "attainment_chart", "survey_chart", "cost_by_type_chart",
    "cost_payout_chart", "quarantine_chart", "clock_attainment_chart", "ageing_chart",
    "reported_volume_chart", "complaints_trend_chart", "cost_by_dimension_chart",
    "cost_by_type_frame", "cost_payout_frame", "quarantine_reason_counts", "ageing_bands",
    "weekly", "weekly_clock_attainment", "daily_counts", "clock_titles",
    "fmt_value", "nice_ticks", "NO_DATA",
]
