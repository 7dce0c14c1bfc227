"""The service-quality report: one self-contained HTML page with inline SVG charts.

`build_report(wh, out)` reads a few bounded, aggregated frames from the warehouse
(`load_report_data`) and writes `render_report_html(data)` to `out`. Everything between is
pure: frames in, SVG/HTML strings out, so tests and other callers can render any frame.
The page needs no network and no external file: CSS is inline, charts are inline <svg>
drawn here (hover tooltips are SVG <title> elements, so no script runs), and every piece
of text from the warehouse is escaped.

Reads (DuckDB or PostgreSQL, plain SELECT / GROUP BY only):
* daily_service_metrics and daily_standard_attainment: the all-claims rows (ALL/ALL/ALL),
  one per date (and standard);
* daily_service_metrics per product line, summed over all dates in SQL;
* fact_claim_service: per product line mean customer cost of closed claims, aggregated in
  SQL (never the fact rows themselves), and claim counts by is_open;
* dq_quarantine: open rows counted per source table and reasons string in SQL, the
  ';'-joined reason codes split afterwards.
"""
from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .dictionary import columns
from .warehouse import Warehouse

__all__ = [
    "ReportData", "Line", "build_report", "load_report_data", "render_report_html",
    "line_chart_svg", "stacked_bar_svg", "hbar_svg", "no_data_svg",
    "close_days_chart", "attainment_chart", "survey_chart", "cost_by_type_chart",
    "cost_payout_chart", "quarantine_chart",
    "cost_by_type_frame", "cost_payout_frame", "quarantine_reason_counts",
    "fmt_value", "NO_DATA",
]

NO_DATA = "no data yet"
ALL_PRODUCTS = "all lines"
ALL = "ALL"
# Colour-blind safe (Okabe-Ito), then a few extra distinct hues.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D1F",
           "#000000", "#7F7F7F", "#B22222")
COST_TYPES = (("travel", "Travel", "#0072B2"), ("evidence", "Evidence / documents", "#E69F00"),
              ("lost_work", "Lost work time", "#009E73"))

FONT_PX = 12          # SVG text size; the page renders the viewBox at ~1:1
CHAR_PX = 6.6         # mean glyph width at FONT_PX, for layout estimates
WIDE = 1120           # viewBox width of a full-width chart
HALF = 550            # viewBox width of a half-width chart


# --------------------------------------------------------------------------- formatting

def esc(value) -> str:
    return html.escape(str(value), quote=True)


def _finite(v) -> bool:
    try:
        return v is not None and not pd.isna(v) and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def fmt_value(v, kind: str) -> str:
    """A number for people: thousands separators, sensible decimals, '–' for missing."""
    if not _finite(v):
        return "–"
    v = float(v)
    if kind == "pct":
        return f"{v * 100:.1f}%"
    if kind == "count":
        return f"{v:,.0f}"
    if kind in ("days", "hours"):
        return f"{v:,.1f}"
    if kind == "score":
        return f"{v:.2f}"
    if kind == "nps":
        return f"{v:+.1f}".replace("-", "\u2212") if v else "0.0"
    if kind == "money":
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}"
    return f"{v:,.2f}"


def fmt_compact(v: float) -> str:
    a = abs(v)
    for div, suf in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            s = f"{v / div:.1f}".rstrip("0").rstrip(".")
            return s + suf
    return f"{v:g}"


def fmt_compact_money(v) -> str:
    """Short amount for chart labels: 836k, 13.9M (full value goes in the tooltip)."""
    if not _finite(v):
        return "–"
    return fmt_compact(round(float(v))) if abs(float(v)) >= 1000 else f"{float(v):,.0f}"


UNITS = {"days": "days", "hours": "hours", "pct": "", "count": "", "score": "", "nps": "",
         "money": ""}


def _fmt_array(values: np.ndarray, kind: str) -> np.ndarray:
    return pd.Series(values, dtype="float64").map(lambda v: fmt_value(v, kind)).to_numpy(dtype=object)


def _coords(a: np.ndarray) -> np.ndarray:
    return np.char.mod("%.1f", np.asarray(a, dtype="float64"))


def nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Round axis ticks (1, 2, 2.5, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    ticks = np.arange(start, stop + step / 2, step)
    return np.round(ticks, 10)


def _decimals(step: float) -> int:
    """Fewest decimals that show every multiple of `step` exactly."""
    for d in range(7):
        if abs(step * 10 ** d - round(step * 10 ** d)) < 1e-6:
            return d
    return 6


def _tick_label_fn(kind: str, ticks: np.ndarray) -> Callable[[float], str]:
    step = float(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    if kind == "pct":
        dec = _decimals(step * 100)
        return lambda t: f"{t * 100:.{dec}f}%"
    if kind == "nps":
        return lambda t: f"{t:+.0f}".replace("-", "\u2212") if t else "0"
    big = max(abs(float(ticks[0])), abs(float(ticks[-1])))
    if big >= 10_000:
        return fmt_compact
    dec = _decimals(step)
    return lambda t: f"{t:,.{dec}f}"


def _date_ticks(d0: int, d1: int, max_ticks: int = 8) -> tuple[list[int], list[str]]:
    """Tick positions (days since epoch) and labels for a date axis from d0 to d1."""
    span = d1 - d0
    if span > 75:
        months = pd.date_range(np.datetime64(d0, "D"), np.datetime64(d1, "D"), freq="MS")
        k = max(1, math.ceil(len(months) / max_ticks))
        months = months[::k]
        days = (months.values.astype("datetime64[D]").astype(np.int64)).tolist()
        return days, [f"{m:%b %Y}" for m in months]
    step = next(s for s in (1, 2, 3, 7, 14, 21, 28, 35, 42, 56, 63, 70)
                if span // s + 1 <= max_ticks)
    days = list(range(d0, d1 + 1, step))
    stamps = pd.to_datetime(np.array(days, dtype="datetime64[D]"))
    labels = [f"{t.day} {t:%b}" for t in stamps]
    if labels:
        labels[0] += f" {stamps[0].year}"
    return days, labels


def _day_numbers(dates) -> np.ndarray:
    return pd.to_datetime(pd.Series(dates)).to_numpy().astype("datetime64[D]").astype(np.int64)


def _text(x, y, s, *, anchor="start", cls="", size=None, fill=None, weight=None, extra="") -> str:
    attrs = [f'x="{x:.1f}"', f'y="{y:.1f}"']
    if anchor != "start":
        attrs.append(f'text-anchor="{anchor}"')
    if cls:
        attrs.append(f'class="{cls}"')
    if size:
        attrs.append(f'font-size="{size}"')
    if fill:  # a style, not the fill attribute: the page's CSS would override that
        attrs.append(f'style="fill:{fill}"')
    if weight:
        attrs.append(f'font-weight="{weight}"')
    if extra:
        attrs.append(extra)
    return f"<text {' '.join(attrs)}>{esc(s)}</text>"


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{esc(label)}" preserveAspectRatio="xMidYMin meet">'
            f"<title>{esc(label)}</title>{body}</svg>")


def no_data_svg(label: str, width: int = WIDE, height: int = 140, message: str = NO_DATA) -> str:
    body = (f'<rect x="1" y="1" width="{width - 2}" height="{height - 2}" class="empty-box"/>'
            + _text(width / 2, height / 2 + 5, message, anchor="middle", cls="empty"))
    return _svg(width, height, body, f"{label}: {message}")


def _legend(items: Sequence[tuple[str, str, str]], x0: float, y0: float, width: float
            ) -> tuple[str, float]:
    """items: (label, colour, style in {'line', 'dash', 'box'}); returns (svg, height used)."""
    parts, x, y = [], x0, y0
    for label, color, style in items:
        w = 30 + len(label) * CHAR_PX + 18
        if x > x0 and x + w > x0 + width:
            x, y = x0, y + 18
        if style == "box":
            parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="14" height="10" fill="{color}"/>')
        else:
            dash = ' stroke-dasharray="6 4"' if style == "dash" else ""
            parts.append(f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 22:.1f}" y2="{y - 4:.1f}" '
                         f'stroke="{color}" stroke-width="2.5"{dash}/>')
        parts.append(_text(x + (20 if style == "box" else 28), y, label, cls="legend"))
        x += w
    return "".join(parts), (y - y0 + 18) if items else 0.0


# --------------------------------------------------------------------------- line charts

@dataclass(frozen=True)
class Line:
    """One line of a line chart: a numeric column of the frame."""
    column: str
    label: str
    color: str = PALETTE[0]
    dashed: bool = False
    end_label: bool = True   # print the last value at the right end of the line
    hover: bool = True


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    w: float
    h: float


def _spread(ys: list[float], gap: float, lo: float, hi: float) -> list[float]:
    """Nudge label baselines apart so that no two are closer than `gap` (order kept)."""
    order = np.argsort(ys)
    out = np.asarray(ys, dtype=float)[order]
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + gap)
    if len(out) and out[-1] > hi:
        out -= out[-1] - hi
    out = np.maximum(out, lo)
    res = np.empty_like(out)
    res[order] = out
    return res.tolist()


def _line_panel(frame: pd.DataFrame, x: str, lines: Sequence[Line], box: _Box, *, kind: str,
                y_zero: bool, x_span: tuple[int, int] | None = None, title: str = "",
                y_ceil: float | None = None) -> str:
    """Axes, grid, lines, hover points and end labels inside `box` (plot area)."""
    parts = []
    if title:
        parts.append(_text(box.x, box.y - 10, title, cls="panel-title"))
    if frame is None or frame.empty or not any(frame[ln.column].notna().any() for ln in lines):
        parts.append(f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" '
                     f'class="empty-box"/>')
        parts.append(_text(box.x + box.w / 2, box.y + box.h / 2 + 5, NO_DATA, anchor="middle", cls="empty"))
        return "".join(parts)

    xd = _day_numbers(frame[x])
    vals = {ln.column: pd.to_numeric(frame[ln.column], errors="coerce").to_numpy(dtype="float64")
            for ln in lines}
    allv = np.concatenate([v[np.isfinite(v)] for v in vals.values()])
    lo, hi = float(allv.min()), float(allv.max())
    if y_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    ticks = nice_ticks(lo, hi, 5)
    if y_ceil is not None:
        ticks = ticks[ticks <= y_ceil + 1e-12] if (ticks <= y_ceil + 1e-12).sum() >= 2 else ticks
    y0, y1 = float(ticks[0]), float(max(ticks[-1], hi))
    d0, d1 = x_span if x_span else (int(xd.min()), int(xd.max()))
    xa, xb = (d0 - 1, d1 + 1) if d1 == d0 else (d0, d1)

    def sx(d):
        return box.x + (np.asarray(d, dtype=float) - xa) / (xb - xa) * box.w

    def sy(v):
        return box.y + box.h - (np.asarray(v, dtype=float) - y0) / (y1 - y0 or 1.0) * box.h

    # grid + y axis
    label_of = _tick_label_fn(kind, ticks)
    for t in ticks:
        yy = float(sy(t))
        cls = "zero" if t == 0 and y0 < 0 else "grid"
        parts.append(f'<line x1="{box.x:.1f}" y1="{yy:.1f}" x2="{box.x + box.w:.1f}" y2="{yy:.1f}" class="{cls}"/>')
        parts.append(_text(box.x - 8, yy + 4, label_of(float(t)), anchor="end", cls="tick"))
    # x axis
    base = box.y + box.h
    parts.append(f'<line x1="{box.x:.1f}" y1="{base:.1f}" x2="{box.x + box.w:.1f}" y2="{base:.1f}" class="axis"/>')
    tdays, tlabels = _date_ticks(d0, d1)
    for d, lab in zip(tdays, tlabels):
        xx = float(sx(d))
        parts.append(f'<line x1="{xx:.1f}" y1="{base:.1f}" x2="{xx:.1f}" y2="{base + 5:.1f}" class="axis"/>')
        parts.append(_text(xx, base + 18, lab, anchor="middle", cls="tick"))

    ends = []
    date_txt = pd.to_datetime(pd.Series(xd.astype("datetime64[D]"))).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    unit = UNITS.get(kind, "")
    for ln in lines:
        v = vals[ln.column]
        ok = np.isfinite(v)
        if not ok.any():
            continue
        px, py = _coords(sx(xd[ok])), _coords(sy(v[ok]))
        cmds = np.full(ok.sum(), "L", dtype=object)
        cmds[0] = "M"
        d = " ".join(cmds + px.astype(object) + "," + py.astype(object))
        dash = ' stroke-dasharray="7 5"' if ln.dashed else ""
        parts.append(f'<path d="{d}" fill="none" stroke="{ln.color}" stroke-width="{1.6 if ln.dashed else 2}" '
                     f'stroke-linejoin="round"{dash}><title>{esc(ln.label)}</title></path>')
        n = int(ok.sum())
        if n <= 60 and not ln.dashed:
            parts.append("".join(
                f'<circle cx="{a}" cy="{b}" r="2.8" fill="{ln.color}"/>' for a, b in zip(px, py)))
        if ln.hover and n <= 1000:
            tips = (esc(ln.label) + " · " + date_txt[ok] + ": "
                    + _fmt_array(v[ok], kind) + (f" {unit}" if unit else ""))
            parts.append("".join(
                f'<circle cx="{a}" cy="{b}" r="5" class="hit"><title>{t}</title></circle>'
                for a, b, t in zip(px, py, tips)))
        if ln.end_label:
            last = int(np.flatnonzero(ok)[-1])
            ends.append((float(sy(v[last])) + 4, fmt_value(v[last], kind), ln.color, float(sx(xd[last]))))
    if ends:
        ys = _spread([e[0] for e in ends], 13, box.y + 4, box.y + box.h + 4)
        for yy, (_, txt, color, xx) in zip(ys, ends):
            parts.append(_text(max(xx, box.x + box.w) + 6, yy, txt, cls="endlabel", fill=color))
    return "".join(parts)


def line_chart_svg(frame: pd.DataFrame, x: str, lines: Sequence[Line], *, label: str, kind: str,
                   y_label: str = "", y_zero: bool = True, width: int = WIDE, height: int = 320,
                   legend: Sequence[tuple[str, str, str]] | None = None,
                   y_ceil: float | None = None) -> str:
    """A full line chart (legend, axes) of the `lines` columns of `frame` against date column `x`."""
    if frame is None or frame.empty or not any(frame[ln.column].notna().any() for ln in lines):
        return no_data_svg(label, width)
    items = legend if legend is not None else [
        (ln.label, ln.color, "dash" if ln.dashed else "line") for ln in lines]
    leg, leg_h = _legend(items, 70, 18, width - 150)
    top = 18 + leg_h + 14
    box = _Box(70, top, width - 70 - 80, height - top - 34)
    body = leg
    if y_label:
        body += _text(16, box.y + box.h / 2, y_label, anchor="middle", cls="axis-label",
                      extra=f'transform="rotate(-90 16 {box.y + box.h / 2:.1f})"')
    body += _line_panel(frame, x, lines, box, kind=kind, y_zero=y_zero, y_ceil=y_ceil)
    return _svg(width, height, body, label)


# --------------------------------------------------------------------------- bar charts

def stacked_bar_svg(categories: Sequence[str], stacks: pd.DataFrame,
                    segments: Sequence[tuple[str, str, str]], *, label: str, kind: str,
                    sublabels: Sequence[str] | None = None, y_label: str = "",
                    width: int = WIDE, height: int = 340, highlight_last: bool = False) -> str:
    """Vertical stacked bars: one per category, one segment per (column, label, colour)."""
    if stacks is None or len(stacks) == 0:
        return no_data_svg(label, width)
    vals = stacks[[c for c, _, _ in segments]].to_numpy(dtype="float64")
    vals = np.nan_to_num(vals, nan=0.0)
    tops = np.cumsum(vals, axis=1)
    totals = tops[:, -1]
    leg, leg_h = _legend([(lab, col, "box") for _, lab, col in segments], 70, 18, width - 90)
    top = 18 + leg_h + 22
    box = _Box(70, top, width - 70 - 20, height - top - 46)
    ticks = nice_ticks(0.0, float(max(totals.max(), 0.0)) or 1.0, 5)
    y1 = float(ticks[-1])

    def sy(v):
        return box.y + box.h - np.asarray(v, dtype=float) / y1 * box.h

    parts = [leg]
    if y_label:
        parts.append(_text(16, box.y + box.h / 2, y_label, anchor="middle", cls="axis-label",
                           extra=f'transform="rotate(-90 16 {box.y + box.h / 2:.1f})"'))
    label_of = _tick_label_fn(kind, ticks)
    for t in ticks:
        yy = float(sy(t))
        parts.append(f'<line x1="{box.x:.1f}" y1="{yy:.1f}" x2="{box.x + box.w:.1f}" y2="{yy:.1f}" class="grid"/>')
        parts.append(_text(box.x - 8, yy + 4, label_of(float(t)), anchor="end", cls="tick"))
    n = len(categories)
    slot = box.w / n
    bw = min(90.0, slot * 0.74)
    xs = box.x + slot * (np.arange(n) + 0.5) - bw / 2
    bottoms = np.concatenate([np.zeros((n, 1)), tops[:, :-1]], axis=1)
    y_top, y_bot = sy(tops), sy(bottoms)
    fmt = np.vectorize(lambda v: fmt_value(v, kind), otypes=[object])
    seg_txt = fmt(vals)
    for j, (_, seg_label, color) in enumerate(segments):
        for i in range(n):
            h = y_bot[i, j] - y_top[i, j]
            if h <= 0:
                continue
            parts.append(f'<rect x="{xs[i]:.1f}" y="{y_top[i, j]:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                         f'fill="{color}"><title>{esc(categories[i])} · {esc(seg_label)}: '
                         f'{esc(seg_txt[i, j])}</title></rect>')
            if h >= 16 and bw >= len(seg_txt[i, j]) * 6.2 + 6:
                parts.append(_text(xs[i] + bw / 2, (y_top[i, j] + y_bot[i, j]) / 2 + 4, seg_txt[i, j],
                                   anchor="middle", cls="inbar"))
    base = box.y + box.h
    parts.append(f'<line x1="{box.x:.1f}" y1="{base:.1f}" x2="{box.x + box.w:.1f}" y2="{base:.1f}" class="axis"/>')
    for i, cat in enumerate(categories):
        cx = xs[i] + bw / 2
        bold = "700" if highlight_last and i == n - 1 else None
        parts.append(_text(cx, sy(totals[i]) - 6, fmt_value(totals[i], kind), anchor="middle",
                           cls="value", weight=bold))
        parts.append(_text(cx, base + 17, cat, anchor="middle", cls="cat", weight=bold))
        if sublabels is not None:
            parts.append(_text(cx, base + 32, sublabels[i], anchor="middle", cls="sub"))
    if highlight_last and n > 1:
        xx = box.x + slot * (n - 1)
        parts.append(f'<line x1="{xx:.1f}" y1="{box.y:.1f}" x2="{xx:.1f}" y2="{base + 34:.1f}" class="sep"/>')
    return _svg(width, height, "".join(parts), label)


def hbar_svg(labels: Sequence[str], values: np.ndarray, *, label: str, kind: str,
             colors: Sequence[str] | None = None, value_labels: Sequence[str] | None = None,
             tooltips: Sequence[str] | None = None, legend: Sequence[tuple[str, str, str]] = (),
             ref: tuple[float, str] | None = None, width: int = WIDE, bar_h: int = 22,
             label_w: float | None = None) -> str:
    """Horizontal bars, one per label (top to bottom in the given order)."""
    values = np.nan_to_num(np.asarray(values, dtype="float64"), nan=0.0)
    if len(values) == 0:
        return no_data_svg(label, width)
    colors = list(colors) if colors is not None else [PALETTE[0]] * len(values)
    vlabels = list(value_labels) if value_labels is not None else [fmt_value(v, kind) for v in values]
    lw = label_w if label_w is not None else min(width * 0.4, 12 + max(len(s) for s in labels) * CHAR_PX)
    leg, leg_h = _legend(legend, lw, 18, width - lw - 20)
    top = 18 + leg_h + (22 if legend else 4) + (14 if ref else 0)
    vw = max(len(s) for s in vlabels) * CHAR_PX + 16
    box = _Box(lw, top, width - lw - vw - 10, len(values) * bar_h)
    hi = max(float(values.max()), ref[0] if ref else 0.0)
    ticks = nice_ticks(0.0, hi or 1.0, 5)
    x1 = float(ticks[-1])

    def sx(v):
        return box.x + np.asarray(v, dtype=float) / x1 * box.w

    parts = [leg]
    label_of = _tick_label_fn(kind, ticks)
    base = box.y + box.h
    for t in ticks:
        xx = float(sx(t))
        parts.append(f'<line x1="{xx:.1f}" y1="{box.y:.1f}" x2="{xx:.1f}" y2="{base:.1f}" class="grid"/>')
        parts.append(_text(xx, base + 16, label_of(float(t)), anchor="middle", cls="tick"))
    if ref:
        xx = float(sx(ref[0]))
        parts.append(f'<line x1="{xx:.1f}" y1="{box.y - 6:.1f}" x2="{xx:.1f}" y2="{base:.1f}" class="ref"/>')
        parts.append(_text(xx, box.y - 10, ref[1], anchor="middle", cls="reflabel"))
    ys = box.y + np.arange(len(values)) * bar_h
    ws = sx(values) - box.x
    for i, (lab, v) in enumerate(zip(labels, values)):
        tip = esc(tooltips[i]) if tooltips is not None else f"{esc(lab)}: {esc(vlabels[i])}"
        parts.append(f'<rect x="{box.x:.1f}" y="{ys[i] + 3:.1f}" width="{max(ws[i], 0):.1f}" '
                     f'height="{bar_h - 6}" fill="{colors[i]}"><title>{tip}</title></rect>')
        parts.append(_text(box.x - 8, ys[i] + bar_h / 2 + 4, lab, anchor="end", cls="cat"))
        vx = box.x + max(ws[i], 0) + 4
        parts.append(f'<rect x="{vx:.1f}" y="{ys[i] + bar_h / 2 - 8:.1f}" width="{len(vlabels[i]) * CHAR_PX + 6:.1f}" '
                     f'height="16" class="halo"/>')
        parts.append(_text(vx + 2, ys[i] + bar_h / 2 + 4, vlabels[i], cls="value"))
    parts.append(f'<line x1="{box.x:.1f}" y1="{box.y:.1f}" x2="{box.x:.1f}" y2="{base:.1f}" class="axis"/>')
    return _svg(width, int(base + 26), "".join(parts), label)


# --------------------------------------------------------------------------- data shaping (pure)

def cost_by_type_frame(cost: pd.DataFrame) -> pd.DataFrame:
    """Per product line mean customer cost per closed claim by type, plus an all-products row.

    Input: product_line, claims, travel, evidence, lost_work (means per closed claim).
    """
    cols = ["product_line", "claims", "travel", "evidence", "lost_work"]
    if cost is None or cost.empty:
        return pd.DataFrame(columns=cols + ["total"])
    df = cost[cols].copy()
    df["product_line"] = df["product_line"].astype("object").where(df["product_line"].notna(), "(none)")
    df["claims"] = pd.to_numeric(df["claims"]).astype("float64")
    kinds = ["travel", "evidence", "lost_work"]
    df[kinds] = df[kinds].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    df = df[df["claims"] > 0]
    if df.empty:
        return pd.DataFrame(columns=cols + ["total"])
    df["total"] = df[kinds].sum(axis=1)
    df = df.sort_values(["total", "product_line"], ascending=[False, True])
    if len(df) > 1:
        n = df["claims"].sum()
        overall = (df[kinds].mul(df["claims"], axis=0).sum() / n).to_dict()
        df = pd.concat([df, pd.DataFrame([{"product_line": ALL_PRODUCTS, "claims": n, **overall,
                                            "total": sum(overall.values())}])], ignore_index=True)
    return df.reset_index(drop=True)


def cost_payout_frame(sums: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Per product line customer_cost_total / paid_amount_total (sums over all dates).

    Returns the frame (product_line, customer_cost_total, paid_amount_total, ratio; ratio
    NaN where nothing was paid), sorted by ratio, and the all-products ratio (NaN if none).
    """
    cols = ["product_line", "customer_cost_total", "paid_amount_total", "ratio"]
    if sums is None or sums.empty:
        return pd.DataFrame(columns=cols), float("nan")
    df = sums[cols[:3]].copy()
    df[cols[1:3]] = df[cols[1:3]].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    df["ratio"] = (df["customer_cost_total"] / df["paid_amount_total"]).where(df["paid_amount_total"] > 0)
    paid = df["paid_amount_total"].sum()
    overall = df["customer_cost_total"].sum() / paid if paid > 0 else float("nan")
    df = df.sort_values(["ratio", "product_line"], ascending=[False, True], na_position="last")
    return df.reset_index(drop=True), float(overall)


def quarantine_reason_counts(q: pd.DataFrame) -> pd.DataFrame:
    """Open quarantined rows per (reason code, source_table).

    Input: source_table, reasons (codes joined by ';'), rows (row count of that
    combination; 1 per row when absent). A row with several reasons counts once per reason.
    """
    out_cols = ["reason", "source_table", "rows"]
    if q is None or q.empty:
        return pd.DataFrame(columns=out_cols)
    df = q[["source_table", "reasons"]].copy()
    df["rows"] = pd.to_numeric(q["rows"]).astype("int64") if "rows" in q else 1
    df["reason"] = df["reasons"].astype("object").fillna("").str.split(";")
    df = df.explode("reason")
    df["reason"] = df["reason"].str.strip()
    df.loc[df["reason"].isna() | (df["reason"] == ""), "reason"] = "(no reason)"
    df["source_table"] = df["source_table"].astype("object").fillna("(unknown)")
    out = (df.groupby(["reason", "source_table"], as_index=False)["rows"].sum()
           .sort_values(["rows", "reason", "source_table"], ascending=[False, True, True]))
    return out.reset_index(drop=True)[out_cols]


# --------------------------------------------------------------------------- the six charts (pure)

def close_days_chart(daily: pd.DataFrame) -> str:
    """Chart 1: p50 and p90 report-to-close days of the all-claims rows, by metric_date."""
    lines = [Line("report_to_close_days_p50", "p50 (median)", PALETTE[0]),
             Line("report_to_close_days_p90", "p90", PALETTE[3])]
    return line_chart_svg(daily, "metric_date", lines, label="Report-to-close days, p50 and p90",
                          kind="days", y_label="days", y_zero=True)


def attainment_chart(att: pd.DataFrame) -> str:
    """Chart 2: attainment_rate (solid) and target_rate (dashed) per standard, all claims."""
    label = "Service standard attainment against target"
    if att is None or att.empty:
        return no_data_svg(label)
    df = att.copy()
    df["standard_id"] = df["standard_id"].astype("object")
    wide = df.pivot_table(index="metric_date", columns="standard_id",
                          values=["attainment_rate", "target_rate"], aggfunc="first", dropna=False)
    wide.columns = [f"{v}|{s}" for v, s in wide.columns]
    wide = wide.reset_index().sort_values("metric_date")
    meta = (df.sort_values("metric_date").groupby("standard_id", sort=True)[["measure", "max_value"]]
            .last())
    sids = list(meta.index)
    for sid in sids:
        for col in (f"attainment_rate|{sid}", f"target_rate|{sid}"):
            if col not in wide:
                wide[col] = np.nan
    targets = wide[[f"target_rate|{sid}" for sid in sids]]
    shared = bool(targets.nunique(axis=1, dropna=True).le(1).all())
    lines, legend = [], []
    for i, sid in enumerate(sids):
        m = meta.loc[sid]
        color = PALETTE[i % len(PALETTE)]
        rule = ""
        if pd.notna(m["measure"]) and _finite(m["max_value"]):
            rule = f" ({m['measure']} ≤ {float(m['max_value']):g})"
        lines.append(Line(f"attainment_rate|{sid}", f"{sid}", color))
        legend.append((f"{sid}{rule}", color, "line"))
        if not shared:
            lines.append(Line(f"target_rate|{sid}", f"{sid} target", color, dashed=True, end_label=False))
    if shared:
        wide["target_rate|*"] = targets.max(axis=1)
        lines.append(Line("target_rate|*", "target", "#444444", dashed=True))
        legend.append(("target (all standards)", "#444444", "dash"))
    else:
        legend.append(("target (dashed, same colour)", "#555555", "dash"))
    return line_chart_svg(wide, "metric_date", lines, label=label, kind="pct", y_label="share of eligible claims",
                          y_zero=False, legend=legend, y_ceil=1.0)


def survey_chart(daily: pd.DataFrame) -> str:
    """Chart 3: CSAT mean (1-5) and NPS (-100..100) panels, dates with a null value skipped."""
    label = "Customer satisfaction: CSAT mean and NPS"
    has = daily is not None and not daily.empty and (
        daily["csat_mean"].notna().any() or daily["nps"].notna().any())
    if not has:
        return no_data_svg(label)
    width, height = WIDE, 460
    csat = daily.loc[daily["csat_mean"].notna(), ["metric_date", "csat_mean"]]
    nps = daily.loc[daily["nps"].notna(), ["metric_date", "nps"]]
    span = _day_numbers(daily["metric_date"])
    x_span = (int(span.min()), int(span.max()))
    panel_h = 150
    b1 = _Box(70, 36, width - 70 - 80, panel_h)
    b2 = _Box(70, 36 + panel_h + 70, width - 70 - 80, panel_h)
    body = _line_panel(csat, "metric_date", [Line("csat_mean", "CSAT mean", PALETTE[2])], b1,
                       kind="score", y_zero=False, x_span=x_span, title="CSAT mean (1 = very unsatisfied … 5 = very satisfied)")
    body += _line_panel(nps, "metric_date", [Line("nps", "NPS", PALETTE[4])], b2,
                        kind="nps", y_zero=True, x_span=x_span, title="NPS (−100 … +100)")
    return _svg(width, height, body, label)


def cost_by_type_chart(cost: pd.DataFrame, currency: str = "", width: int = HALF) -> str:
    """Chart 4: mean customer cost per closed claim by type, stacked, per product line."""
    label = "Customer cost per closed claim by type and product line"
    df = cost_by_type_frame(cost)
    if df.empty:
        return no_data_svg(label, width)
    cats = df["product_line"].astype(str).tolist()
    subs = ("n = " + df["claims"].map(lambda v: f"{v:,.0f}")).tolist()
    return stacked_bar_svg(cats, df, COST_TYPES, label=label, kind="money", sublabels=subs,
                           y_label=f"{currency} per claim".strip(), highlight_last=len(df) > 1,
                           width=width)


def cost_payout_chart(sums: pd.DataFrame, width: int = HALF) -> str:
    """Chart 5: customer cost as a share of payout per product line (all dates)."""
    label = "Customer cost against payout by product line"
    df, overall = cost_payout_frame(sums)
    if df.empty:
        return no_data_svg(label, width)
    ratio = df["ratio"].to_numpy(dtype="float64")
    cost_c = df["customer_cost_total"].map(fmt_compact_money)
    paid_c = df["paid_amount_total"].map(fmt_compact_money)
    pct_txt = pd.Series(_fmt_array(ratio, "pct"), index=df.index, dtype="object")
    vlabels = (pct_txt + " · " + cost_c + " of " + paid_c).where(
        df["ratio"].notna(), "no payout · cost " + cost_c)
    tips = (df["product_line"].astype(str) + ": customer cost "
            + df["customer_cost_total"].map(lambda v: fmt_value(v, "money")) + " / paid "
            + df["paid_amount_total"].map(lambda v: fmt_value(v, "money")) + " = "
            + pct_txt.where(df["ratio"].notna(), "–")).tolist()
    ref = (overall, f"{ALL_PRODUCTS} {fmt_value(overall, 'pct')}") if math.isfinite(overall) else None
    return hbar_svg(df["product_line"].astype(str).tolist(), ratio, label=label, kind="pct",
                    value_labels=list(vlabels), tooltips=tips, ref=ref, bar_h=26,
                    colors=[PALETTE[3]] * len(df), width=width)


def quarantine_chart(q: pd.DataFrame, max_bars: int = 25) -> str:
    """Chart 6: open quarantined rows per reason code and source table."""
    label = "Open quarantined rows by reason and source table"
    counts = quarantine_reason_counts(q)
    if counts.empty:
        return no_data_svg(label, message=f"{NO_DATA}: no open quarantined rows")
    if len(counts) > max_bars:
        rest = counts.iloc[max_bars - 1:]
        counts = pd.concat([counts.iloc[:max_bars - 1], pd.DataFrame(
            [{"reason": f"{len(rest)} more", "source_table": "(other)", "rows": rest["rows"].sum()}])],
            ignore_index=True)
    tables = sorted(counts["source_table"].unique())
    cmap = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(tables)}
    labels = (counts["reason"] + " · " + counts["source_table"]).tolist()
    return hbar_svg(labels, counts["rows"].to_numpy(), label=label, kind="count",
                    colors=counts["source_table"].map(cmap).tolist(),
                    legend=[(t, cmap[t], "box") for t in tables])


# --------------------------------------------------------------------------- the page (pure)

@dataclass
class ReportData:
    """The bounded frames a report is drawn from (see load_report_data)."""
    daily: pd.DataFrame = field(default_factory=pd.DataFrame)        # ALL/ALL/ALL rows by date
    attainment: pd.DataFrame = field(default_factory=pd.DataFrame)   # ALL/ALL/ALL rows
    cost_by_type: pd.DataFrame = field(default_factory=pd.DataFrame)  # product_line, claims, travel, evidence, lost_work
    cost_payout: pd.DataFrame = field(default_factory=pd.DataFrame)   # product_line, customer_cost_total, paid_amount_total
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)    # source_table, reasons, rows (open only)
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)        # is_open, claims
    source: str = ""                      # warehouse description (masked URL) and schema
    currency: str = ""
    missing_tables: tuple[str, ...] = ()


LATEST_TABLE = (
    ("closed_claims", "Closed claims", "count"),
    ("report_to_accept_hours_p50", "Report → acceptance, median", "hours"),
    ("report_to_decision_days_p50", "Report → decision, median", "days"),
    ("report_to_decision_days_p90", "Report → decision, p90", "days"),
    ("decision_to_payment_days_p50", "Decision → payment, median", "days"),
    ("decision_to_payment_days_p90", "Decision → payment, p90", "days"),
    ("report_to_close_days_mean", "Report → close, mean", "days"),
    ("report_to_close_days_p50", "Report → close, median", "days"),
    ("report_to_close_days_p90", "Report → close, p90", "days"),
    ("paid_rate", "Paid rate (of decided)", "pct"),
    ("denial_rate", "Denial rate (of decided)", "pct"),
    ("reopen_rate_30d", "Reopened within 30 days", "pct"),
    ("paid_amount_total", "Paid amount", "money"),
    ("customer_cost_per_claim_mean", "Customer cost per claim, mean", "money"),
    ("customer_cost_to_payout_ratio", "Customer cost / payout", "pct"),
    ("survey_responses", "Survey responses", "count"),
    ("csat_mean", "CSAT mean (1–5)", "score"),
    ("csat_satisfied_rate", "CSAT ≥ 4", "pct"),
    ("nps", "NPS", "nps"),
    ("effort_mean", "Effort mean (7 = very easy)", "score"),
    ("complaints_received", "Complaints received", "count"),
    ("regulator_complaints", "of which from the regulator", "count"),
)

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


def render_report_html(data: ReportData, title: str = "ClaimPulse service quality",
                       generated_at: dt.datetime | None = None) -> str:
    """The whole page as one string (no external resources)."""
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
    if data.missing_tables:
        notes = (f'<p class="note">The warehouse has no {esc(", ".join(data.missing_tables))} table yet: '
                 f"run the pipeline first. Charts from it show “{esc(NO_DATA)}”.</p>")
    latest_title = f"Latest date: {latest['metric_date']} (all claims)" if latest is not None else "Latest date"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>{esc(title)}</h1>"
        f'<p class="meta">{esc(span)} Source: {esc(data.source or "warehouse")}. Generated {esc(gen)}.</p>'
        f"{notes}<div class=\"kpis\">{''.join(kpis)}</div>"
        f'<div class="grid">{"".join(figs[:3])}'
        f'<section class="card wide"><h2>{esc(latest_title)}</h2>{_latest_table(latest, cur)}</section>'
        f'{"".join(figs[3:])}</div>'
        "<footer>ClaimPulse report. Definitions: METRICS.md; hover a point or bar for its value.</footer>"
        "</main></body></html>\n"
    )


# --------------------------------------------------------------------------- warehouse reads

def _all_rows() -> str:
    return "product_line = 'ALL' AND channel = 'ALL' AND region = 'ALL'"


def load_report_data(wh: Warehouse, currency: str = "") -> ReportData:
    """Read the bounded frames of the report (aggregated in SQL where a table is large)."""
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
        if has("fact_claim_service"):
            t = wh.table("fact_claim_service")
            avg = "AVG(CAST(COALESCE({c}, 0) AS DOUBLE PRECISION)) AS {a}"
            data.cost_by_type = wh.read_sql(conn, (
                "SELECT product_line, COUNT(*) AS claims, "
                + ", ".join(avg.format(c=f"customer_cost_{k}", a=k) for k, _, _ in COST_TYPES)
                + f" FROM {t} WHERE closed_date IS NOT NULL GROUP BY product_line ORDER BY product_line"))
            data.claims = wh.read_sql(conn, f"SELECT is_open, COUNT(*) AS claims FROM {t} GROUP BY is_open")
        if has("dq_quarantine"):
            t = wh.table("dq_quarantine")
            data.quarantine = wh.read_sql(conn, (
                "SELECT source_table, reasons, COUNT(*) AS row_count "
                f"FROM {t} WHERE released_at IS NULL GROUP BY source_table, reasons")
            ).rename(columns={"row_count": "rows"})
    data.missing_tables = tuple(missing)
    for name in ("daily", "attainment"):
        frame = getattr(data, name)
        if frame.empty and not len(frame.columns):
            table = "daily_service_metrics" if name == "daily" else "daily_standard_attainment"
            setattr(data, name, pd.DataFrame(columns=columns(table)))
    return data


def build_report(wh: Warehouse, out: Path, title: str = "ClaimPulse service quality", *,
                 currency: str = "") -> Path:
    """Write the self-contained HTML report of warehouse `wh` to `out`; returns `out`."""
    out = Path(out)
    page = render_report_html(load_report_data(wh, currency=currency), title=title)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
