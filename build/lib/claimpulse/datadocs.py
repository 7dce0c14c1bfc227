"""Great Expectations Data Docs of a run, and the run's published links.

`build_data_docs(parts, run_id)` renders the GX ``ExpectationSuiteValidationResult`` objects a
run kept (``ValidationOutcome.gx_results``, one dict table -> result per validated chunk) with
GX's own renderers (``ValidationResultsPageRenderer`` + ``DefaultJinjaPageView``) into::

    <docs_dir>/validations/<run_id>/<table>.html     (<table>-chunk<n>.html for chunked runs)
    <docs_dir>/validations/<run_id>/index.html       the run's pages, with pass/fail counts
    <docs_dir>/index.html                            every run in the folder, newest first

Every page also gets a plain table of its expectations as ``"<gx type>(<column>)"`` labels
(the dq_validation_results.expectation spelling) with success / evaluated / unexpected
counts; should GX fail to render a result, that table alone is the page. The GX pages load
their CSS/JS from public CDNs (GX's own templates); the summary tables need nothing.

No source values reach the pages: validate.py keeps only the scalar fields of each result.

``docs_dir()`` is ``data/docs`` unless ``CLAIMPULSE_DOCS_DIR`` says otherwise;
``CLAIMPULSE_DATA_DOCS=0`` turns the Data Docs off. `run_links(...)` is what the flows call
after the load: Data Docs and the HTML report, each best effort (a failure is logged as a
warning, never raised), returned as ``{name: file:// URI}`` for the run's markdown.
"""
from __future__ import annotations

import datetime as dt
import html
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["docs_enabled", "docs_dir", "report_path", "build_data_docs", "run_links"]

DEFAULT_DOCS_DIR = "data/docs"
DEFAULT_REPORT_PATH = "data/report.html"
_OFF = {"0", "false", "no", "off"}

_STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
td.n{text-align:right}.ok{color:#176d2c}.bad{color:#b00020;font-weight:bold}
</style>"""


def docs_enabled() -> bool:
    return os.environ.get("CLAIMPULSE_DATA_DOCS", "1").strip().lower() not in _OFF


def docs_dir() -> Path:
    return Path(os.environ.get("CLAIMPULSE_DOCS_DIR") or DEFAULT_DOCS_DIR)


def report_path() -> Path:
    return Path(os.environ.get("CLAIMPULSE_REPORT_PATH") or DEFAULT_REPORT_PATH)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name)) or "_"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _rows(result: Any) -> list[dict[str, Any]]:
    from claimpulse.validate import expectation_label

    rows = []
    for er in result.results:
        res = er.result or {}
        rows.append({
            "expectation": expectation_label(er.expectation_config),
            "success": bool(er.success),
            "evaluated": int(res.get("element_count") or 0) - int(res.get("missing_count") or 0),
            "unexpected": int(res.get("unexpected_count") or 0),
        })
    return rows


def _summary_table(name: str, rows: list[dict[str, Any]]) -> str:
    e = html.escape
    body = "".join(
        f"<tr><td><code>{e(r['expectation'])}</code></td>"
        f"<td class=\"{'ok' if r['success'] else 'bad'}\">{'passed' if r['success'] else 'FAILED'}</td>"
        f"<td class=\"n\">{r['evaluated']:,}</td><td class=\"n\">{r['unexpected']:,}</td></tr>"
        for r in rows)
    return (f"<div id=\"claimpulse-summary\" style=\"margin:2rem\"><h2>Expectations of {e(name)}</h2>"
            "<table><thead><tr><th>expectation</th><th>result</th><th>evaluated rows</th>"
            f"<th>unexpected rows</th></tr></thead><tbody>{body}</tbody></table></div>")


def _render_page(name: str, result: Any, rows: list[dict[str, Any]], log: Any) -> str:
    summary = _summary_table(name, rows)
    try:
        from great_expectations.render.renderer import ValidationResultsPageRenderer
        from great_expectations.render.view import DefaultJinjaPageView

        page = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))
        i = page.rfind("</body>")
        return page[:i] + summary + page[i:] if i >= 0 else page + summary
    except Exception as exc:  # GX could not render it: the summary table is the page
        log.warning("GX Data Docs renderer failed for %s (%s); writing a plain page", name, exc)
        return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(name)}"
                f"</title>{_STYLE}</head><body>{summary}</body></html>")


def _index_page(title: str, items: list[tuple[str, str, str]]) -> str:
    e = html.escape
    lis = "".join(f"<li><a href=\"{e(href)}\">{e(text)}</a> {e(note)}</li>" for href, text, note in items)
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{e(title)}</title>{_STYLE}"
            f"</head><body><h1>{e(title)}</h1><ul>{lis or '<li>None.</li>'}</ul></body></html>")


def build_data_docs(parts: Mapping[str, Any] | Sequence[Mapping[str, Any]], run_id: str,
                    out_dir: Path | str | None = None, logger: Any = None) -> Path:
    """Render one run's GX validation results; returns the run's index.html.

    `parts` is one ``{table: ExpectationSuiteValidationResult}`` dict or a list of them (one
    per validated chunk).
    """
    log = logger or logging.getLogger(__name__)
    root = Path(out_dir) if out_dir is not None else docs_dir()
    if isinstance(parts, Mapping):
        parts = [parts]
    parts = [p for p in parts if p]
    run_dir = root / "validations" / _safe(run_id)
    items = []
    for i, part in enumerate(parts):
        for table, result in part.items():
            name = table if len(parts) == 1 else f"{table}-chunk{i + 1}"
            rows = _rows(result)
            fname = f"{_safe(name)}.html"
            _write(run_dir / fname, _render_page(name, result, rows, log))
            failed = sum(not r["success"] for r in rows)
            items.append((fname, name, f"— {len(rows)} expectation(s), "
                          + (f"{failed} failed" if failed else "all passed")))
    index = run_dir / "index.html"
    _write(index, _index_page(f"ClaimPulse Data Docs — run {run_id}", items))
    _write_root_index(root)
    return index


def _write_root_index(root: Path) -> None:
    runs = [d for d in (root / "validations").iterdir() if (d / "index.html").is_file()]
    runs.sort(key=lambda d: (d / "index.html").stat().st_mtime, reverse=True)
    items = [(f"validations/{d.name}/index.html", d.name,
              dt.datetime.fromtimestamp((d / "index.html").stat().st_mtime, dt.timezone.utc)
              .strftime("— %Y-%m-%d %H:%M UTC")) for d in runs]
    _write(root / "index.html", _index_page("ClaimPulse Data Docs", items))


def run_links(wh: Any, settings: Any, run_id: str,
              parts: Mapping[str, Any] | Sequence[Mapping[str, Any]], logger: Any = None) -> dict[str, str]:
    """Best effort: build the run's Data Docs and the HTML report; ``{name: file:// URI}``."""
    log = logger or logging.getLogger(__name__)
    links: dict[str, str] = {}
    if docs_enabled():
        try:
            links["Data Docs"] = build_data_docs(parts, run_id, logger=log).resolve().as_uri()
        except Exception as exc:
            log.warning("Data Docs not built: %s: %s", type(exc).__name__, exc)
    try:
        from claimpulse.report import build_report

        out = build_report(wh, report_path(), currency=getattr(settings, "currency", "") or "")
        links["Report"] = Path(out).resolve().as_uri()
    except Exception as exc:
        log.warning("HTML report not built: %s: %s", type(exc).__name__, exc)
    return links
