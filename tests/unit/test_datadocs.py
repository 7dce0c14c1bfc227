"""Data Docs: GX builds them from the project's checkpoints; ClaimPulse makes them work offline,
names the runs and keeps the last N runs. The nightly flow building them and linking them from
the run summary: tests/integration/test_datadocs_flows.py."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from claimpulse import datadocs as D
from claimpulse import validate as V
from claimpulse.schema import TABLE_ORDER

from ..conftest import CI
from ..helpers.validation_frames import RUN_TIME, SETTINGS, _many_faults, raw_of

RUNS = ("run-1", "run-2", "run-3")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A Data Docs site after three runs with CLAIMPULSE_DOCS_KEEP_RUNS=2, made offline."""
    root = tmp_path_factory.mktemp("docs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLAIMPULSE_DOCS_DIR", str(root))
        mp.setenv("CLAIMPULSE_DOCS_KEEP_RUNS", "2")
        mp.delenv("CLAIMPULSE_DATA_DOCS", raising=False)
        typed = _many_faults()
        for name in RUNS:
            V.validate_sources(typed, raw_of(typed), {}, SETTINGS, RUN_TIME, "x", run_name=name)
        D.make_offline(root)
    return root


def _pages(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.html") if "static" not in p.relative_to(root).parts)


def test_each_kept_run_has_a_named_page_per_table(site):
    for t in TABLE_ORDER:
        runs = sorted(p.name for p in (site / "validations" / t).iterdir())
        assert runs == ["run-2", "run-3"], t   # run-1 pruned (keep 2)
        for run in runs:
            (page,) = (site / "validations" / t / run).glob("*/*.html")
            text = page.read_text(encoding="utf-8")
            assert re.search(rf"Run Name</div></td>\s*<td[^>]*>\s*<div[^>]*>{run}<", text), page
            assert "__none__" not in text
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "run-3" in index and "run-2" in index and "run-1" not in index
    results = sorted({p.parts[-3] for p in (site / "validation_results").rglob("*.json")})
    assert results == ["run-2", "run-3"]
    assert not any(p.is_dir() and not any(p.iterdir()) for p in site.rglob("*"))


def test_pages_load_nothing_from_the_network_and_links_stay_inside(site):
    pages = _pages(site)
    assert len(pages) == 1 + len(TABLE_ORDER) * 3   # index, suites, 2 runs
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not re.findall(r"<(?:script|link)\b[^>]*(?:src|href)=\"https?:", text), page
        assert not re.findall(r"<img\b[^>]*src=\"https?:", text), page
        for ref in re.findall(r"(?:src|href)=\"([^\"#]+)\"", text):
            if ref.startswith(("http://", "https://", "mailto:")):
                continue   # an ordinary outbound link (greatexpectations.io)
            target = (page.parent / ref.split("?")[0]).resolve()
            assert target.is_relative_to(site.resolve()), (page, ref)
            assert target.is_file(), (page, ref)
    validation_page = next(site.glob("validations/claims/run-3/*/*.html"))
    refs = re.findall(r"href=\"([^\"#]+)\"", validation_page.read_text(encoding="utf-8"))
    assert "../../../../index.html" in refs                  # Home
    assert "../../../../expectations/claims.html" in refs    # the suite


def test_pruning_keeps_the_newest_runs_of_the_results_store():
    class Key:
        def __init__(self, name, when):
            self.run_id = type("R", (), {"run_name": name, "run_time": when})()

    class Store:
        def __init__(self, keys):
            self.keys = keys

        def list_keys(self):
            return list(self.keys)

        def remove_key(self, key):
            self.keys.remove(key)

    keys = [Key(f"r{i}", f"2024-01-0{i}T00:00") for i in range(1, 6)] + [Key("r2", "2024-01-06T00:00")]
    store = Store(keys)
    # keep 3 with the current run: the two newest others stay (r2 ran again last)
    assert D.prune_runs(store, 3, current_run="new") == ["r1", "r3", "r4"]
    assert sorted({k.run_id.run_name for k in store.keys}) == ["r2", "r5"]
    assert len(store.keys) == 3
    assert D.prune_runs(store, 5) == []


def test_keep_runs_is_configured_once_with_a_clear_error(monkeypatch):
    monkeypatch.delenv("CLAIMPULSE_DOCS_KEEP_RUNS", raising=False)
    assert D.keep_runs() == D.DEFAULT_KEEP_RUNS == 30
    monkeypatch.setenv("CLAIMPULSE_DOCS_KEEP_RUNS", "7")
    assert D.keep_runs() == 7
    monkeypatch.setenv("CLAIMPULSE_DOCS_KEEP_RUNS", "0")
    with pytest.raises(ValueError, match="CLAIMPULSE_DOCS_KEEP_RUNS must be a positive integer"):
        D.keep_runs()


# --------------------------------------------------------------------------- headless Chromium

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


# Appended to a copy of the index page: checks styles, the icon font, the table and its filters
# once the page has loaded, and prints the findings into the DOM for --dump-dom.
PROBE = """
<script>
window.addEventListener("load", function () {
  var out = {};
  var btn = document.querySelector(".btn-sm");
  out.btn_padding_left = btn ? getComputedStyle(btn).paddingLeft : null;
  out.bootstrap_js = !!(window.jQuery && jQuery.fn.collapse);
  var id = "#section-1-content-block-2-1-body-table";
  function rows() { return Array.from(document.querySelectorAll(id + " tbody tr:not(.cp-empty)")); }
  out.rows = rows().length;
  var filters = document.querySelectorAll(id + " thead tr.cp-filters th");
  var runName = filters[2].querySelector("input");
  runName.value = "run-2"; runName.dispatchEvent(new Event("input"));
  out.rows_run_2 = rows().length;
  out.rows_run_2_all_match = rows().every(function (r) { return r.textContent.indexOf("run-2") >= 0; });
  var suite = filters[5].querySelector("select");
  suite.value = "claims"; suite.dispatchEvent(new Event("change"));
  out.rows_run_2_claims = rows().length;
  jQuery(id).bootstrapTable("clearFilterControl");
  out.rows_cleared = rows().length;
  document.fonts.load('900 16px "Font Awesome 6 Free"').then(function (f) {
    out.icon_font_faces = f.length;
    document.body.insertAdjacentHTML("beforeend", "<pre id='probe'>" + JSON.stringify(out) + "</pre>");
  });
});
</script>
"""


@pytest.mark.slow
def test_docs_work_offline_in_headless_chromium(site, tmp_path):
    exe = _chromium()
    if exe is None:
        if CI:
            pytest.fail("chromium not found under CI=true: apt-get install chromium")
        pytest.skip("chromium not found: apt-get install chromium")
    probe = site / "_probe.html"
    probe.write_text((site / "index.html").read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                     encoding="utf-8")
    try:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               # no network: every host name fails to resolve, and there is no proxy to reach
               "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
               "--allow-file-access-from-files", f"--user-data-dir={tmp_path / 'profile'}",
               "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--dump-dom",
               probe.resolve().as_uri()]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    finally:
        probe.unlink()
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r"<pre id=\"probe\">(.*?)</pre>", r.stdout)
    assert m, r.stdout[-2000:] + r.stderr[-2000:]
    got = json.loads(m.group(1).replace("&quot;", '"'))
    n = 2 * len(TABLE_ORDER)
    assert got["btn_padding_left"] == "8px", got       # Bootstrap 4's .btn-sm: styled
    assert got["bootstrap_js"] is True, got
    assert got["icon_font_faces"] >= 1, got             # Font Awesome's font, from the folder
    assert got["rows"] == n, got                         # GX's table of validations is drawn
    assert got["rows_run_2"] == len(TABLE_ORDER) and got["rows_run_2_all_match"], got
    assert got["rows_run_2_claims"] == 1, got
    assert got["rows_cleared"] == n, got
    bad = re.findall(r".*(?:Uncaught|ERROR:CONSOLE).*", r.stderr)
    assert not bad, bad
