"""Every chart of the report, in one place: hand-drawn inline SVG, frames in, strings out.

Why hand-drawn and not a charting library (evaluated for issue 12): Vega-Lite through
altair needs vl-convert (an 84 MB wheel embedding V8) for static SVG offline; it costs
~2 s to start and ~1 s per chart at three years of daily rows, and its static SVG drops
the hover values (no <title>). matplotlib (35 MB, ~3 s import) draws text as paths unless
told otherwise and has no per-point hover or aria labels. Neither would cut much code:
the layout rules here (end labels, small multiples, no-data boxes) would become chart
specs of about the same size. These helpers need no new dependency, and the whole page of
a 1M-claim warehouse renders in about a second.

Accessibility: each chart is `role="img"` with an aria-label and a <title>; each point or
bar has a <title> (its hover text); colours are Okabe-Ito (colour-blind safe); each
figure has a caption saying what is counted and in which unit, and the tables of the page
carry the numbers a reader compares. Text from the warehouse is escaped here.
"""
from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..labels import kind as metric_kind
from ..labels import label as metric_label

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




# --------------------------------------------------------------------------- small multiples

def panels_svg(panels: Sequence[tuple[str, pd.DataFrame, Sequence[Line]]], *, label: str, kind: str,
               cols: int = 2, panel_h: int = 130, y_zero: bool = False, y_ceil: float | None = None,
               x: str = "metric_date", width: int = WIDE) -> str:
    """One line panel per (title, frame, lines), `cols` to a row, sharing the date axis."""
    if not panels:
        return no_data_svg(label, width)
    days = np.concatenate([_day_numbers(f[x]) for _, f, _ in panels if len(f)] or [np.zeros(0, np.int64)])
    x_span = (int(days.min()), int(days.max())) if len(days) else None
    gap_x, left, right, top_pad, row_h = 110, 60, 70, 34, panel_h + 64
    pw = (width - left - right - gap_x * (cols - 1)) / cols
    rows = math.ceil(len(panels) / cols)
    parts = []
    for i, (title, frame, lines) in enumerate(panels):
        r, c = divmod(i, cols)
        box = _Box(left + c * (pw + gap_x), top_pad + r * row_h, pw, panel_h)
        parts.append(_line_panel(frame, x, lines, box, kind=kind, y_zero=y_zero, x_span=x_span,
                                 title=title, y_ceil=y_ceil))
    return _svg(width, int(top_pad + rows * row_h - 20), "".join(parts), label)


# --------------------------------------------------------------------------- new sections' shaping (pure)

AGE_BANDS = ((0, 7, "under 7 days"), (7, 14, "7–13 days"), (14, 30, "14–29 days"),
             (30, 60, "30–59 days"), (60, 90, "60–89 days"), (90, math.inf, "90 days or more"))


def ageing_bands(open_ages: pd.DataFrame) -> pd.DataFrame:
    """Open claims per age band. Input: age_days (whole days since report), claims.

    Every band is listed, 0 where empty; a negative age (reported after the as-of
    timestamp, which cannot happen in one warehouse) counts in the first band.
    """
    labels = [b[2] for b in AGE_BANDS]
    out = pd.DataFrame({"band": labels, "claims": 0})
    if open_ages is None or open_ages.empty:
        return out
    age = pd.to_numeric(open_ages["age_days"], errors="coerce").clip(lower=0)
    edges = [b[0] for b in AGE_BANDS] + [math.inf]
    band = pd.cut(age, edges, right=False, labels=labels)
    counts = pd.to_numeric(open_ages["claims"]).groupby(band, observed=False).sum()
    out["claims"] = counts.reindex(labels, fill_value=0).to_numpy(dtype="int64")
    return out


def weekly(frame: pd.DataFrame, date_col: str, sums: Sequence[str], by: Sequence[str] = ()) -> pd.DataFrame:
    """Sums of `sums` per ISO week (the Monday as `week`) and `by` columns."""
    cols = ["week", *by, *sums]
    if frame is None or frame.empty:
        return pd.DataFrame(columns=cols)
    d = pd.to_datetime(frame[date_col])
    df = frame[list(by)].copy()
    df["week"] = (d - pd.to_timedelta(d.dt.weekday, unit="D")).dt.date
    for c in sums:
        df[c] = pd.to_numeric(frame[c], errors="coerce") if c in frame else np.nan
    return df.groupby(["week", *by], as_index=False)[list(sums)].sum(min_count=1)[cols]


def weekly_clock_attainment(att: pd.DataFrame) -> pd.DataFrame:
    """Per week and clock: stopped and met clocks and attainment_rate = met / stopped (null when 0)."""
    df = weekly(att, "metric_date", ["stopped_clocks", "met_clocks"], by=["clock_id"])
    df["attainment_rate"] = (df["met_clocks"] / df["stopped_clocks"]).where(df["stopped_clocks"] > 0)
    return df.sort_values(["clock_id", "week"]).reset_index(drop=True)


def daily_counts(frame: pd.DataFrame, date_col: str, count: str, window: int = 7) -> pd.DataFrame:
    """A count per date over the full date range (0 on dates without rows) and its trailing mean."""
    if frame is None or frame.empty:
        return pd.DataFrame(columns=[date_col, count, "rolling_mean"])
    s = pd.Series(pd.to_numeric(frame[count]).to_numpy(), index=pd.to_datetime(frame[date_col]))
    s = s.groupby(level=0).sum()
    s = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="D"), fill_value=0)
    return pd.DataFrame({date_col: s.index.date, count: s.to_numpy(),
                         "rolling_mean": s.rolling(window, min_periods=window).mean().to_numpy()})


# --------------------------------------------------------------------------- new sections' charts (pure)

def clock_attainment_chart(att: pd.DataFrame, titles: dict[str, str] | None = None) -> str:
    """Weekly attainment per service clock (ALL rows), one small panel per clock."""
    label = "Weekly attainment per service clock"
    wk = weekly_clock_attainment(att)
    if wk.empty:
        return no_data_svg(label)
    titles = titles or {}
    panels = []
    for cid, f in wk.groupby("clock_id", sort=True):
        stopped, met = f["stopped_clocks"].sum(), f["met_clocks"].sum()
        overall = f" — {fmt_value(met / stopped, 'pct')} of {fmt_value(stopped, 'count')}" if stopped else ""
        name = f"{cid} · {titles[cid]}" if titles.get(cid) else str(cid)
        panels.append((name + overall, f.rename(columns={"week": "metric_date"}),
                       [Line("attainment_rate", f"{cid}, week of", PALETTE[0])]))
    return panels_svg(panels, label=label, kind="pct", y_ceil=1.0)


def ageing_chart(open_ages: pd.DataFrame, width: int = HALF) -> str:
    label = "Open claims by age band"
    bands = ageing_bands(open_ages)
    if int(bands["claims"].sum()) == 0:
        return no_data_svg(label, width, message=f"{NO_DATA}: no open claims")
    return hbar_svg(bands["band"].tolist(), bands["claims"].to_numpy(), label=label, kind="count",
                    colors=[PALETTE[1]] * len(bands), label_w=120, width=width)


def reported_volume_chart(reported: pd.DataFrame) -> str:
    label = "Claims reported per local date, with the 7-day mean"
    df = daily_counts(reported, "reported_date", "claims")
    return line_chart_svg(df, "reported_date", [
        Line("claims", "claims reported", PALETTE[5], end_label=False),
        Line("rolling_mean", "7-day mean", PALETTE[0])], label=label, kind="count", y_label="claims")


def complaints_trend_chart(daily: pd.DataFrame) -> str:
    label = "Complaints received per week, all claims"
    wk = weekly(daily, "metric_date", ["complaints_received", "regulator_complaints"])
    if wk.empty or not wk["complaints_received"].notna().any():
        return no_data_svg(label)
    return line_chart_svg(wk.rename(columns={"week": "metric_date"}), "metric_date", [
        Line("complaints_received", "complaints received", PALETTE[3]),
        Line("regulator_complaints", "of which from the regulator", PALETTE[4], dashed=True)],
        label=label, kind="count", y_label="complaints per week")


def measure_bars(frame: pd.DataFrame, key: str, column: str, *, label: str, kind: str | None = None,
                 width: int = HALF, color: str = PALETTE[0], n_col: str = "closed_claims") -> str:
    """One horizontal bar per row of `frame` (labelled by `key`) for `column`, n in the value label."""
    if frame is None or frame.empty or column not in frame or not frame[column].notna().any():
        return no_data_svg(label, width)
    kind = kind or metric_kind(column)
    vals = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
    keys = frame[key].astype("object").fillna("(none)").astype(str).tolist()
    vtxt = [fmt_value(v, kind) for v in vals]
    if n_col in frame:
        vtxt = [f"{t} · n = {fmt_value(n, 'count')}" for t, n in zip(vtxt, frame[n_col])]
    tips = [f"{k}: {metric_label(column)} {t}" for k, t in zip(keys, vtxt)]
    # capitals (UNASSIGNED) run wider than the mean glyph the default label width assumes
    label_w = min(width * 0.45, 16 + max(len(k) for k in keys) * CHAR_PX * 1.15)
    return hbar_svg(keys, vals, label=label, kind=kind, value_labels=vtxt, tooltips=tips,
                    colors=[color] * len(keys), width=width, label_w=label_w)


def cost_by_dimension_chart(cost_by_dim: pd.DataFrame, dimension: str, currency: str = "",
                            width: int = HALF) -> str:
    """Mean customer cost per closed claim for each value of `dimension` (region, channel, team)."""
    label = f"Customer cost per closed claim by {dimension}"
    if cost_by_dim is None or cost_by_dim.empty:
        return no_data_svg(label, width)
    df = cost_by_dim[cost_by_dim["dimension"] == dimension].sort_values(
        ["cost_mean", "value"], ascending=[False, True], na_position="last")
    return measure_bars(df, "value", "cost_mean", label=label, kind="money", width=width,
                        color=PALETTE[2], n_col="claims")

