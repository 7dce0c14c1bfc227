"""Great Expectations Data Docs of the runs, made to work offline, and the run's published links.

GX builds the Data Docs itself: a run that validates with a run name (the ClaimPulse run id,
see ``claimpulse.validate.validate_sources``) stores each table's result in the GX project's
results store and has GX build the run's pages and the index once
(``claimpulse.validate.build_run_data_docs``), in GX's site in ``docs_dir()``::

    <docs_dir>/index.html                                   GX's index: every kept run, filterable
    <docs_dir>/validations/<table>/<run id>/<time>/*.html   one page per table (and chunk)
    <docs_dir>/expectations/<table>.html                    the suites
    <docs_dir>/validation_results/                          GX's validation results store

This module does what GX's site does not:

- **Offline.** GX's pages load Bootstrap, jQuery, Font Awesome, bootstrap-table and Vega from
  CDNs. ``make_offline`` copies Bootstrap 4, jQuery and Font Awesome from their XStatic
  packages (PyPI) and ClaimPulse's own small table script (``datadocs_assets/``: draws GX's
  index tables with their search box and column filters; no maintained PyPI package ships
  bootstrap-table) into ``<docs_dir>/static/vendor/``, rewrites every page to load them by
  relative path, and drops what no page needs offline (Vega: our expectations draw no charts;
  the datepicker; the dark theme; the newsletter footer). It also repoints GX's static links
  (favicon, logo) at the copies GX writes into ``static/``, at the page's real depth.
- **Pruning.** ``prune_runs`` keeps the validation results of the newest N run names
  (``CLAIMPULSE_DOCS_KEEP_RUNS``, default 30); GX then drops the pages of the removed results
  the next time it builds its index (its ``skip_and_clean_missing``), and ``make_offline``
  removes the empty folders.

``CLAIMPULSE_DATA_DOCS=0`` turns the Data Docs off. ``run_links(...)`` is what the flows call
after the load: Data Docs and the HTML report, each best effort (a failure is logged as a
warning, never raised), returned as ``{name: file:// URI}`` for the run's markdown.

What reaches the pages: GX's rendering of each expectation's result (counts, and for a failed
expectation up to 20 of its unexpected values; the COMPLETE results in
``validation_results/`` list every failing row's position and value). The only personal
column the suites judge is ``customer_id``, and only for nulls.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

__all__ = ["docs_enabled", "docs_dir", "report_path", "keep_runs", "prune_runs", "make_offline",
           "run_links", "DEFAULT_KEEP_RUNS"]

DEFAULT_DOCS_DIR = "data/docs"
DEFAULT_REPORT_PATH = "data/report.html"
DEFAULT_KEEP_RUNS = 30
_OFF = {"0", "false", "no", "off"}
ASSETS_DIR = Path(__file__).resolve().parent / "datadocs_assets"
VENDOR = "static/vendor"


def docs_enabled() -> bool:
    return os.environ.get("CLAIMPULSE_DATA_DOCS", "1").strip().lower() not in _OFF


def docs_dir() -> Path:
    return Path(os.environ.get("CLAIMPULSE_DOCS_DIR") or DEFAULT_DOCS_DIR)


def report_path() -> Path:
    return Path(os.environ.get("CLAIMPULSE_REPORT_PATH") or DEFAULT_REPORT_PATH)


def keep_runs() -> int:
    """How many runs the Data Docs keep: CLAIMPULSE_DOCS_KEEP_RUNS (a positive integer)."""
    raw = os.environ.get("CLAIMPULSE_DOCS_KEEP_RUNS", "").strip()
    if not raw:
        return DEFAULT_KEEP_RUNS
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"CLAIMPULSE_DOCS_KEEP_RUNS must be a positive integer, got {raw!r}")
    return int(raw)


# ---------------------------------------------------------------------------------------------
# Pruning: through GX's validation results store
# ---------------------------------------------------------------------------------------------
def prune_runs(results_store: Any, keep: int, current_run: str | None = None) -> list[str]:
    """Remove from GX's validation results store every result of all but the newest `keep`
    run names (the `current_run`, about to add its results, counts as the newest). Returns the
    run names removed. GX's next index build then removes their pages."""
    newest: dict[str, str] = {}
    keys = list(results_store.list_keys())
    for key in keys:
        name, when = str(key.run_id.run_name), str(key.run_id.run_time)
        newest[name] = max(newest.get(name, ""), when)
    older = sorted((n for n in newest if n != current_run), key=lambda n: newest[n], reverse=True)
    room = keep - 1 if current_run is not None else keep
    drop = set(older[max(room, 0):])
    for key in keys:
        if str(key.run_id.run_name) in drop:
            results_store.remove_key(key)
    return sorted(drop)


# ---------------------------------------------------------------------------------------------
# Offline pages
# ---------------------------------------------------------------------------------------------
def _vendor_files() -> dict[str, Path]:
    """Offline copies (path under static/vendor -> source file), from PyPI packages and ours."""
    import xstatic.pkg.bootstrap as bootstrap
    import xstatic.pkg.font_awesome as font_awesome
    import xstatic.pkg.jquery as jquery

    bs, fa, jq = Path(bootstrap.BASE_DIR), Path(font_awesome.BASE_DIR), Path(jquery.BASE_DIR)
    files = {
        "bootstrap/bootstrap.min.css": bs / "css" / "bootstrap.min.css",
        "bootstrap/bootstrap.bundle.min.js": bs / "js" / "bootstrap.bundle.min.js",
        "jquery/jquery.min.js": jq / "jquery.min.js",
        "font-awesome/css/all.min.css": fa / "css" / "all.min.css",
        "claimpulse/table.js": ASSETS_DIR / "table.js",
        "claimpulse/table.css": ASSETS_DIR / "table.css",
    }
    for font in sorted((fa / "webfonts").iterdir()):
        files[f"font-awesome/webfonts/{font.name}"] = font
    return files


# CDN address (prefix) -> the offline copy that replaces it; None: dropped.
_CDN = (
    ("https://maxcdn.bootstrapcdn.com/bootstrap/", "bootstrap/bootstrap.min.css"),
    ("https://stackpath.bootstrapcdn.com/bootstrap/", "bootstrap/bootstrap.bundle.min.js"),
    ("https://code.jquery.com/jquery-", "jquery/jquery.min.js"),
    ("https://cdnjs.cloudflare.com/ajax/libs/font-awesome/", "font-awesome/css/all.min.css"),
    ("https://unpkg.com/bootstrap-table@", None),      # one ClaimPulse table script/sheet instead
    ("https://cdnjs.cloudflare.com/ajax/libs/popper.js/", None),  # in bootstrap.bundle
    ("https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/", None),
    ("https://cdn.jsdelivr.net/npm/vega", None),
    ("https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark", None),
)
_TAG = re.compile(r"<(script|link)\b[^>]*?\b(?:src|href)=\"(https?://[^\"]+)\"[^>]*>(?:\s*</script>)?",
                  re.IGNORECASE)
_STATIC = re.compile(r"(?P<attr>(?:src|href)=\")(?:\.\./|\./)*static/")
_GX_IMAGES = re.compile(r"https://great-expectations-web-assets\.s3[^\"/]*\.amazonaws\.com/"
                        r"(?P<name>[A-Za-z0-9_.-]+?)(?:\?[^\"]*)?\"")
_NEWSLETTER = re.compile(r"<p>Stay current on everything GX with our newsletter.*?</p>", re.DOTALL)


def _offline_html(text: str, up: str) -> str:
    """One page, loading everything from `up` + static/ (`up`: "../" per folder level)."""
    vendor = f"{up}{VENDOR}/"
    seen: set[str] = set()

    def swap(m: re.Match) -> str:
        kind, url = m.group(1).lower(), m.group(2)
        for prefix, local in _CDN:
            if url.startswith(prefix):
                break
        else:
            return m.group(0)  # an ordinary outbound link (e.g. to greatexpectations.io)
        if local is None:
            if prefix.startswith("https://unpkg.com/bootstrap-table@"):
                local = "claimpulse/table.js" if kind == "script" else "claimpulse/table.css"
            else:
                return ""
        if local in seen:
            return ""
        seen.add(local)
        if kind == "script":
            return f'<script src="{vendor}{local}"></script>'
        return f'<link rel="stylesheet" href="{vendor}{local}">'

    text = _TAG.sub(swap, text)
    text = _STATIC.sub(lambda m: f"{m.group('attr')}{up}static/", text)
    text = _GX_IMAGES.sub(lambda m: f'{up}static/images/{m.group("name")}"', text)
    return _NEWSLETTER.sub("", text)


def make_offline(root: Path | str | None = None) -> int:
    """Make the Data Docs site under `root` work offline; returns the pages rewritten.

    Copies the vendored assets into static/vendor/ (again only when a file changed), rewrites
    each page that still loads something from a CDN, and removes folders pruning emptied."""
    root = Path(root) if root is not None else docs_dir()
    if not (root / "index.html").is_file():
        return 0
    for rel, src in _vendor_files().items():
        dst = root / VENDOR / rel
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    rewritten = 0
    for page in root.rglob("*.html"):
        if VENDOR in page.relative_to(root).as_posix():
            continue
        text = page.read_text(encoding="utf-8")
        if "https://" not in text and "../static/" not in text:
            continue
        up = "../" * (len(page.relative_to(root).parts) - 1)
        new = _offline_html(text, up)
        if new != text:
            tmp = page.with_name(page.name + ".tmp")
            tmp.write_text(new, encoding="utf-8")
            tmp.replace(page)
            rewritten += 1
    for section in ("validations", "validation_results"):  # folders pruning emptied
        folders = [p for p in (root / section).rglob("*") if p.is_dir()]
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()
    return rewritten


def run_links(wh: Any, settings: Any, logger: Any = None) -> dict[str, str]:
    """Best effort: finish the run's Data Docs (GX built them while validating; see the module
    docstring) and build the HTML report; ``{name: file:// URI}``."""
    log = logger or logging.getLogger(__name__)
    links: dict[str, str] = {}
    if docs_enabled():
        try:
            root = docs_dir()
            if (root / "index.html").is_file():
                make_offline(root)
                links["Data Docs"] = (root / "index.html").resolve().as_uri()
            else:
                log.warning("Data Docs not built: no index.html in %s", root)
        except Exception as exc:
            log.warning("Data Docs not finished: %s: %s", type(exc).__name__, exc)
    try:
        from claimpulse.report import build_report

        out = build_report(wh, report_path(), currency=getattr(settings, "currency", "") or "")
        links["Report"] = Path(out).resolve().as_uri()
    except Exception as exc:
        log.warning("HTML report not built: %s: %s", type(exc).__name__, exc)
    return links
