"""ClaimPulse at insurer scale: wall time, throughput and peak memory of the real command line.

    .venv/bin/python bench/run_bench.py                       # sizes 100000,1000000
    .venv/bin/python bench/run_bench.py --quick               # 20000 claims, a smoke run
    .venv/bin/python bench/run_bench.py --sizes 100000 --scenarios full,stages --profile

For each size a demo source (claimpulse.demo.write_demo, 365 days, seed 1) is generated once
and cached under bench/.cache/ (keyed by size, seed and days). Every measurement runs in a
FRESH subprocess whose RSS (process and its whole tree: the Prefect temporary server is a
child) is sampled every 0.1 s with psutil:

  cli_full       `claimpulse run` into an empty DuckDB warehouse (the Prefect temporary server
                 start is included: see cli_noop / prefect_noop)
  cli_noop       `claimpulse run` again with nothing changed: the per-run overhead
  stages_full    the same full run in-process, stage by stage (bench/_stages.py: plan, extract,
                 validate, compute, load exactly as flows/nightly.py sequences them, and the service
                 clocks of finish_load as their own "clocks" stage)
  stages_noop    its empty-change-set run
  stages_full_pandasread   stages_full with $CLAIMPULSE_FASTREAD=0 (the pandas read path)
  extract_pandas / extract_fast   full extraction only, pandas path vs claimpulse.fastread
  sqlref         plain DuckDB SQL computing daily_service_metrics from the raw source
                 (bench/_sqlref.py), compared with ClaimPulse's output
  cli_nightly    `claimpulse run` after ~1% of claims changed in the source (channel moved,
                 late surveys, closed events shifted by a day, later updated_at)
  stages_nightly the same nightly change set in-process, stage by stage
  chunks_w1 / chunks_w2   a full run's chunk phase (read buckets, validate, compute; nothing
                 written) on 1 and 2 local worker processes (bench/_chunks.py, tasks/chunks.py)
  cli_full_w2    `claimpulse run --workers 2` into an empty warehouse
  backfill_w1 / backfill_w2   `claimpulse backfill` over the last 30 local dates, 1 and 2 workers
  cli_full_server / cli_noop_server / cli_nightly_server   cli_full, cli_noop and cli_nightly
                 again, reporting to a long-lived `prefect server` (PREFECT_API_URL), as a
                 deployment on a worker does: no temporary server to start per run
  prefect_noop   a flow that does nothing: the Prefect temporary server's start alone

A markdown table is printed and every number is written as JSON to bench/results/.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CACHE = BENCH / ".cache"
RESULTS = BENCH / "results"
PY = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
CLI = str(Path(PY).with_name("claimpulse"))

ALL_SCENARIOS = ("full", "noop", "stages", "pandasread", "extract", "sqlref", "workers", "nightly", "backfill",
                 "server")
DEFAULT_SCENARIOS = ("full", "noop", "stages", "extract", "sqlref", "workers", "nightly", "backfill", "server")
SEED, DAYS = 1, 365
PSEUDONYM_KEY = "bench-only-key"


# --------------------------------------------------------------------------- helpers

def git_sha() -> str:
    """The checked-out commit, read from .git (no git command)."""
    try:
        head = (REPO / ".git" / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:10]
        ref = head[5:]
        f = REPO / ".git" / ref
        if f.exists():
            return f.read_text().strip()[:10]
        packed = REPO / ".git" / "packed-refs"
        for line in packed.read_text().splitlines() if packed.exists() else []:
            if line.endswith(" " + ref):
                return line.split()[0][:10]
    except OSError:
        pass
    return "nogit"


def base_env(work: Path) -> dict[str, str]:
    env = {**os.environ}
    for k in ("CLAIMPULSE_SOURCE_URL", "CLAIMPULSE_WAREHOUSE_URL", "CLAIMPULSE_CONFIG", "PREFECT_API_URL"):
        env.pop(k, None)
    env.update({
        "CLAIMPULSE_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "PREFECT_HOME": str(work / "prefect-home"),   # its own temporary-server database
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1",
    })
    return env


def server_started(home: Path, env: dict):
    """A long-lived `prefect server` (tests/helpers/prefect_server.py), started only around the
    server scenarios so its background services do not disturb the others."""
    sys.path.insert(0, str(REPO))
    from tests.helpers.prefect_server import prefect_server

    return prefect_server(home, env)


# Called with every measurement as it finishes (main() saves them: a killed bench keeps its numbers).
ON_MEASURE = None


def measure(name: str, cmd: list[str], env: dict, log: Path, timeout_s: float, rss_limit_mb: float) -> dict:
    """Run `cmd` in a fresh process; wall time and peak RSS (its own, and its process tree's)."""
    import resource

    load0 = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        maxrss_json = log.with_suffix(".maxrss.json")
        proc = psutil.Popen([PY, str(BENCH / "_maxrss.py"), str(maxrss_json), *cmd], env=env, stdout=fh,
                            stderr=subprocess.STDOUT, cwd=str(REPO))
        peak, peak_tree, killed = 0, 0, None
        while True:
            try:
                rc = proc.wait(timeout=0.1)
                break
            except psutil.TimeoutExpired:
                pass
            try:
                # `proc` is the _maxrss.py wrapper: "own" is its largest descendant (the measured
                # command; the Prefect server is a smaller grandchild), "tree" all of them
                own, tree = 0, 0
                for ch in proc.children(recursive=True):
                    try:
                        rss = ch.memory_info().rss
                    except psutil.Error:
                        continue
                    own, tree = max(own, rss), tree + rss
                peak, peak_tree = max(peak, own), max(peak_tree, tree)
            except psutil.Error:
                continue
            elapsed = time.perf_counter() - t0
            if killed is None and (elapsed > timeout_s or peak_tree / 2**20 > rss_limit_mb):
                killed = "timeout" if elapsed > timeout_s else "rss_limit"
                for ch in proc.children(recursive=True):
                    try:
                        ch.kill()
                    except psutil.Error:
                        pass
                proc.kill()
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    out = {"scenario": name, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
           "loadavg_1m_start": round(load0, 2), "peak_rss_mb": round(peak / 2**20, 1),
           "peak_tree_rss_mb": round(peak_tree / 2**20, 1), "returncode": rc, "log": str(log)}
    try:  # the kernel's peak of the measured process (sampling can miss a short peak)
        out["ru_maxrss_mb"] = json.loads(maxrss_json.read_text())["ru_maxrss_mb"]
    except (OSError, ValueError, KeyError):
        pass
    if killed:
        out["killed"] = killed
    if rc != 0:
        out["error_tail"] = log.read_text(errors="replace")[-1500:]
    if ON_MEASURE is not None:
        ON_MEASURE(out)
    print(f"  {name:24s} {wall:8.1f} s  cpu {cpu:7.1f} s  load {load0:4.1f}  rss {peak / 2**20:8.0f} MB (tree {peak_tree / 2**20:6.0f})"
          + ("" if rc == 0 else f"  FAILED rc={rc} {killed or ''}"), flush=True)
    return out


def ensure_source(n: int) -> dict:
    p = subprocess.run([PY, str(BENCH / "_gen.py"), str(n), str(SEED), str(DAYS)], capture_output=True,
                       text=True, cwd=str(REPO))
    if p.returncode != 0:
        raise SystemExit(f"generating the {n}-claim source failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def last_run_counts(wh_path: Path) -> dict:
    """rows read / quarantined of the warehouse's latest pipeline_runs row."""
    import duckdb

    con = duckdb.connect(str(wh_path), read_only=True)
    try:
        df = con.execute("SELECT * FROM claimpulse.pipeline_runs ORDER BY finished_at DESC LIMIT 1").df()
    finally:
        con.close()
    if not len(df):
        return {}
    r = df.iloc[0]
    read = {c[:-5]: int(r[c]) for c in df.columns if c.endswith("_read") and r[c] == r[c]}
    quar = {c[:-12]: int(r[c]) for c in df.columns if c.endswith("_quarantined") and r[c] == r[c]}
    return {"flow": r["flow"], "status": r["status"], "rows_read": read, "rows_quarantined": quar}


def local_dates_range(src: Path, days: int = 30) -> tuple[str, str]:
    """The last `days` local dates of the data (reported_at is local ISO text: '...+08:00')."""
    con = sqlite3.connect(src)
    try:
        last = con.execute("SELECT substr(max(reported_at), 1, 10) FROM claims").fetchone()[0]
    finally:
        con.close()
    end = dt.date.fromisoformat(last)
    return (end - dt.timedelta(days=days - 1)).isoformat(), end.isoformat()


def mutate_source(src: Path, share: float = 0.01) -> dict:
    """A nightly change set, in place: ~`share` of claims change channel (later updated_at),
    late surveys for a quarter of them, closed events of ~0.4% of claims moved a day later."""
    con = sqlite3.connect(src)
    try:
        n = con.execute("SELECT count(*) FROM claims").fetchone()[0]
        stride = max(int(round(1 / share)), 1)
        # one instant after every updated_at in the source (ISO-with-offset and naive-local text)
        latest = max(
            dt.datetime.fromisoformat(con.execute("SELECT max(updated_at) FROM claims").fetchone()[0]).replace(tzinfo=None),
            dt.datetime.fromisoformat(con.execute("SELECT max(updated_at) FROM claim_events").fetchone()[0]),
            dt.datetime.fromisoformat(con.execute("SELECT max(updated_at) FROM surveys").fetchone()[0]).replace(tzinfo=None),
        )
        later = (latest + dt.timedelta(hours=1)).replace(microsecond=0)
        later_iso = later.isoformat() + "+08:00"
        later_naive = later.strftime("%Y-%m-%d %H:%M:%S")
        responded = (later - dt.timedelta(hours=3)).isoformat() + "+08:00"
        cutoff_naive = (latest - dt.timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
        with con:
            con.execute("CREATE TEMP TABLE bench_changed AS SELECT claim_id FROM claims WHERE rowid % ? = 37",
                        (stride,))
            changed = con.execute(
                "UPDATE claims SET channel = CASE channel WHEN 'app' THEN 'web' ELSE 'app' END, updated_at = ? "
                "WHERE claim_id IN (SELECT claim_id FROM bench_changed)", (later_iso,)).rowcount
            surveys = con.execute(
                "INSERT INTO surveys (response_id, claim_id, responded_at, csat, nps, effort, comment, updated_at) "
                "SELECT 'BENCH-' || c.claim_id, c.claim_id, ?, 1 + (c.rowid % 5), c.rowid % 11, 1 + (c.rowid % 7), "
                "NULL, ? FROM claims c WHERE c.rowid % ? = 37 AND (c.rowid / ?) % 4 = 0 "
                # an uncorrelated IN: one scan of claim_events (no index on claim_id)
                "AND c.claim_id IN (SELECT claim_id FROM claim_events WHERE event_type = 'closed')",
                (responded, later_iso, stride, stride)).rowcount
            shifted = con.execute(
                "UPDATE claim_events SET occurred_at = datetime(occurred_at, '+1 day'), updated_at = ? "
                "WHERE event_type = 'closed' AND occurred_at < ? AND claim_id IN "
                "(SELECT claim_id FROM claims WHERE rowid % 250 = 7)", (later_naive, cutoff_naive)).rowcount
    finally:
        con.close()
    return {"claims": n, "claims_channel_changed": changed, "late_surveys": surveys,
            "closed_events_shifted": shifted, "updated_at": later_iso}


def rows_total(d: dict | None) -> int:
    return int(sum((d or {}).values()))


# --------------------------------------------------------------------------- one size

def bench_size(n: int, scenarios: set[str], args, run_meta: dict) -> dict:
    print(f"\n== {n:,} claims ==", flush=True)
    info = ensure_source(n)
    print(f"  source {info['path']} ({'cached' if info['cached'] else 'generated in %ss' % info['generated_s']}): "
          + ", ".join(f"{t} {k:,}" for t, k in info["rows"].items()), flush=True)
    cached = Path(info["path"])
    work = CACHE / f"work-n{n}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    src = work / "source.sqlite"
    shutil.copyfile(cached, src)
    env = base_env(work)
    wh_cli, wh_stages = work / "wh_cli.duckdb", work / "wh_stages.duckdb"
    src_url = f"sqlite:///{src}"
    m: list[dict] = []
    lim = dict(timeout_s=args.timeout, rss_limit_mb=args.rss_limit_gb * 1024)
    total_rows = rows_total(info["rows"])

    def cli_run(name, wh, run_env=None):
        r = measure(name, [CLI, "run", "--source", src_url, "--warehouse", f"duckdb:///{wh}"], run_env or env,
                    work / f"{name}.log", **lim)
        if r["returncode"] == 0:
            r.update(last_run_counts(wh))
            r["rows_extracted"] = rows_total(r.get("rows_read"))
        return r

    def stages(name, wh, extra_env=None, extra=()):
        out_json = work / f"{name}.json"
        r = measure(name, [PY, str(BENCH / "_stages.py"), "--source", src_url, "--warehouse",
                           f"duckdb:///{wh}", "--out", str(out_json), *extra],
                    {**env, **(extra_env or {})}, work / f"{name}.log", **lim)
        if r["returncode"] == 0:
            s = json.loads(out_json.read_text())
            r.update({"stages_s": s["stages_s"], "stage_total_s": s["total_s"], "import_s": s["import_s"],
                      "peak_rss_raised_mb": s.get("peak_rss_raised_mb"), "rows_read": s.get("rows_read"), "plan_mode": s.get("plan_mode"),
                      "touched_claims": s.get("touched_claims"), "rows_quarantined": s.get("rows_quarantined"),
                      "dates_restated": s.get("dates_restated"), "written": s.get("written")})
            r["rows_extracted"] = rows_total(s.get("rows_read"))
        return r

    daily_parquet = work / "daily_full.parquet"
    if "full" in scenarios:
        r = cli_run("cli_full", wh_cli)
        r["rows_scanned"] = total_rows
        m.append(r)
        if "noop" in scenarios and r["returncode"] == 0:
            m.append(cli_run("cli_noop", wh_cli))
    wh_server, server_home = work / "wh_server.duckdb", work / "prefect-server-home"
    if "server" in scenarios:
        with server_started(server_home, env) as server_env:
            r = cli_run("cli_full_server", wh_server, server_env)
            m.append(r)
            if r["returncode"] == 0:
                m.append(cli_run("cli_noop_server", wh_server, server_env))
    if "stages" in scenarios:
        r = stages("stages_full", wh_stages, extra=("--export-daily", str(daily_parquet)))
        m.append(r)
        if "noop" in scenarios and r["returncode"] == 0:
            m.append(stages("stages_noop", wh_stages))
        if args.profile:
            prof = RESULTS / f"{run_meta['stamp']}-{run_meta['sha']}-profile-n{n}.html"
            r = stages("profile_full", work / "wh_profile.duckdb", extra=("--profile", str(prof)))
            r["profile_html"], r["profile_txt"] = str(prof), str(prof.with_suffix(".txt"))
            m.append(r)
    if "pandasread" in scenarios:
        m.append(stages("stages_full_pandasread", work / "wh_pandasread.duckdb", {"CLAIMPULSE_FASTREAD": "0"}))
    if "extract" in scenarios:
        for name, flag in (("extract_pandas", "0"), ("extract_fast", "1")):
            m.append(stages(name, work / "unused.duckdb", {"CLAIMPULSE_FASTREAD": flag}, ("--mode", "extract")))
    if "sqlref" in scenarios:
        out_json = work / "sqlref.json"
        r = measure("sqlref", [PY, str(BENCH / "_sqlref.py"), "--source", str(cached), "--out", str(out_json),
                               "--compare", str(daily_parquet)], env, work / "sqlref.log", **lim)
        if r["returncode"] == 0:
            s = json.loads(out_json.read_text())
            r.update({"stages_s": {"read": s["read_s"], "sql": s["sql_s"]}, "stage_total_s": s["total_s"],
                      "rows_read": s["rows_read"], "rows_extracted": rows_total(s["rows_read"]),
                      "metric_rows": s["metric_rows"], "compare": s.get("compare")})
        m.append(r)
    if "workers" in scenarios:
        # the chunk phase (read buckets, validate, compute; no writer) on 1 and 2 local workers
        for w in (1, 2):
            name, out_json = f"chunks_w{w}", work / f"chunks_w{w}.json"
            r = measure(name, [PY, str(BENCH / "_chunks.py"), "--source", src_url, "--workers", str(w),
                               "--out", str(out_json)], env, work / f"{name}.log", **lim)
            if r["returncode"] == 0:
                s = json.loads(out_json.read_text())
                r.update({"stages_s": s["stages_s"], "stage_total_s": s["total_s"], "chunks": s["chunks"],
                          "workers_seen": s["workers_seen"], "rows_extracted": s["rows"]})
            m.append(r)
        # the whole command line with --workers 2 (peak RSS: the writer; tree: with its workers)
        r = measure("cli_full_w2", [CLI, "run", "--workers", "2", "--source", src_url, "--warehouse",
                                    f"duckdb:///{work / 'wh_w2.duckdb'}"], env, work / "cli_full_w2.log", **lim)
        if r["returncode"] == 0:
            r.update(last_run_counts(work / "wh_w2.duckdb"))
            r["rows_extracted"] = rows_total(r.get("rows_read"))
        m.append(r)
    if "nightly" in scenarios or "backfill" in scenarios:
        change = mutate_source(src)
        print(f"  nightly change set: {change}", flush=True)
        run_meta.setdefault("change_sets", {})[str(n)] = change
    if "nightly" in scenarios:
        if wh_cli.exists():
            m.append(cli_run("cli_nightly", wh_cli))
        if wh_stages.exists():
            m.append(stages("stages_nightly", wh_stages))
    if "server" in scenarios and "nightly" in scenarios and wh_server.exists():
        with server_started(server_home, env) as server_env:
            m.append(cli_run("cli_nightly_server", wh_server, server_env))
    if "backfill" in scenarios:
        start, end = local_dates_range(src)
        for w in (1, 2):
            name = f"backfill_w{w}"
            r = measure(name, [CLI, "backfill", "--start", start, "--end", end, "--workers", str(w),
                               "--source", src_url, "--warehouse", f"duckdb:///{wh_cli}"],
                        env, work / f"{name}.log", **lim)
            r.update({"start": start, "end": end, "partitions": 30})
            if r["returncode"] == 0:
                r["partitions_per_s"] = round(30 / r["wall_s"], 2)
                r.update(last_run_counts(wh_cli))
                r["rows_extracted"] = rows_total(r.get("rows_read"))
            m.append(r)
    for r in m:
        rows = r.get("rows_extracted")
        secs = r.get("stage_total_s") if r["scenario"].startswith(("stages", "extract", "sqlref", "profile")) else r["wall_s"]
        if rows and secs and r["returncode"] == 0:
            r["rows_per_s"] = round(rows / secs)
    return {"n_claims": n, "source": info, "measurements": m}


# --------------------------------------------------------------------------- report

def derived(size: dict) -> dict:
    by = {r["scenario"]: r for r in size["measurements"] if r.get("returncode") == 0}
    out: dict = {}
    if "cli_noop" in by and "stages_noop" in by:
        out["cli_overhead_s"] = by["cli_noop"]["wall_s"]
        out["prefect_and_startup_overhead_s"] = round(by["cli_noop"]["wall_s"] - by["stages_noop"]["stage_total_s"], 2)
    if "cli_full" in by and "stages_full" in by:
        out["cli_full_minus_stages_s"] = round(by["cli_full"]["wall_s"] - by["stages_full"]["stage_total_s"], 2)
    if "sqlref" in by and "stages_full" in by:
        out["claimpulse_vs_sql_ratio"] = round(by["stages_full"]["stage_total_s"] / by["sqlref"]["stage_total_s"], 1)
    # issue 13's targets: nightly <= 15% of full, validation <= 30% of a run
    if "stages_nightly" in by and "stages_full" in by:
        out["nightly_vs_full_stages"] = round(by["stages_nightly"]["stage_total_s"] / by["stages_full"]["stage_total_s"], 3)
    if "cli_nightly" in by and "cli_full" in by:
        out["nightly_vs_full_cli"] = round(by["cli_nightly"]["wall_s"] / by["cli_full"]["wall_s"], 3)
    if "stages_full" in by:
        st = by["stages_full"]["stages_s"]
        out["validation_share_of_full"] = round((st.get("validate", 0) + st.get("validate_init", 0))
                                                / by["stages_full"]["stage_total_s"], 3)
        # issue 10's target: service clocks under 15% of the full run
        out["clocks_share_of_full"] = round(st.get("clocks", 0) / by["stages_full"]["stage_total_s"], 3)
    if "stages_nightly" in by:
        out["clocks_nightly_s"] = by["stages_nightly"]["stages_s"].get("clocks")
    if "chunks_w1" in by and "chunks_w2" in by:
        # the target: two local workers >= 1.6x faster than one on validate + compute
        out["two_workers_speedup_chunks"] = round(by["chunks_w1"]["stages_s"]["chunks"]
                                                  / by["chunks_w2"]["stages_s"]["chunks"], 2)
    if "cli_full_w2" in by and "cli_full" in by:
        out["two_workers_speedup_cli_full"] = round(by["cli_full"]["wall_s"] / by["cli_full_w2"]["wall_s"], 2)
    for kind in ("full", "noop", "nightly"):   # the same run with a long-lived server
        if f"cli_{kind}_server" in by:
            out[f"cli_{kind}_server_s"] = by[f"cli_{kind}_server"]["wall_s"]
            if f"cli_{kind}" in by:
                out[f"cli_{kind}_temporary_server_s"] = by[f"cli_{kind}"]["wall_s"]
    if "cli_nightly_server" in by and "cli_full_server" in by:
        out["nightly_vs_full_cli_server"] = round(by["cli_nightly_server"]["wall_s"] / by["cli_full_server"]["wall_s"], 3)
    if "extract_pandas" in by and "extract_fast" in by:
        out["extract_speedup"] = round(by["extract_pandas"]["stage_total_s"] / by["extract_fast"]["stage_total_s"], 1)
    if "stages_full_pandasread" in by and "stages_full" in by:
        out["full_stage_total_pandasread_s"] = by["stages_full_pandasread"]["stage_total_s"]
    return out


# Issue 13's targets at 1M claims: (derived key, "<=" or ">=", bound, what it says)
TARGETS = (("claimpulse_vs_sql_ratio", "<=", 2.5, "full-run stages / plain SQL reference"),
           ("nightly_vs_full_stages", "<=", 0.15, "nightly after 1% changed / full run (stages)"),
           ("nightly_vs_full_cli", "<=", 0.15, "nightly after 1% changed / full run (command line)"),
           ("two_workers_speedup_chunks", ">=", 1.6, "1 worker / 2 workers, read+validate+compute"),
           ("cli_full_peak_rss_mb", "<=", 2048, "peak RSS of `claimpulse run`, full, MB"),
           ("validation_share_of_full", "<=", 0.30, "validation / full-run stages"))


def targets(size: dict) -> list[str]:
    """One line per target: the measured ratio and whether it is met."""
    d = dict(size["derived"])
    full = next((r for r in size["measurements"] if r["scenario"] == "cli_full" and r.get("returncode") == 0), None)
    if full:
        d["cli_full_peak_rss_mb"] = max(full["peak_rss_mb"], full.get("ru_maxrss_mb") or 0)
    lines = []
    for key, op, bound, what in TARGETS:
        if key not in d:
            continue
        ok = d[key] <= bound if op == "<=" else d[key] >= bound
        lines.append(f"  {what:52s} {d[key]:>9} (target {op} {bound}) {'met' if ok else 'NOT MET'}")
    return lines


def table(results: dict) -> str:
    lines = ["| size | scenario | wall s | rows/s | peak RSS MB (tree sampled) | stages s |",
             "|---:|---|---:|---:|---:|---|"]
    for size in results["sizes"]:
        for r in size["measurements"]:
            st = r.get("stages_s") or {}
            stages = ", ".join(f"{k} {v:.1f}" for k, v in st.items())
            if "stage_total_s" in r:
                stages += f" (total {r['stage_total_s']:.1f})"
            rate = r.get("rows_per_s")
            if r["scenario"].startswith("backfill") and r.get("partitions_per_s"):
                rate_s = f"{r['partitions_per_s']:.2f} part/s"
            else:
                rate_s = f"{rate:,}" if rate else ""
            status = "" if r["returncode"] == 0 else f" **FAILED** ({r.get('killed', 'rc=%s' % r['returncode'])})"
            peak = max(r["peak_rss_mb"], r.get("ru_maxrss_mb") or 0)
            lines.append(f"| {size['n_claims']:,} | {r['scenario']}{status} | {r['wall_s']:.1f} | {rate_s} | "
                         f"{peak:,.0f} ({r['peak_tree_rss_mb']:,.0f}) | {stages} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="claims per source, comma-separated")
    ap.add_argument("--quick", action="store_true", help="sizes 20000: a smoke run")
    ap.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                    help=f"comma-separated subset of {','.join(ALL_SCENARIOS)}")
    ap.add_argument("--profile", action="store_true", help="also profile the in-process full run (pyinstrument)")
    ap.add_argument("--out", help="JSON file [default: bench/results/<timestamp>-<gitsha>.json]")
    ap.add_argument("--timeout", type=float, default=1200, help="seconds per measurement before it is killed")
    ap.add_argument("--rss-limit-gb", type=float, default=15, help="kill a measurement whose tree RSS passes this")
    args = ap.parse_args()
    sizes = [20_000] if args.quick else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    scenarios = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    unknown = scenarios - set(ALL_SCENARIOS)
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    stamp, sha = time.strftime("%Y%m%dT%H%M%S"), git_sha()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_path = Path(args.out) if args.out else RESULTS / f"{stamp}-{sha}.json"
    meta = {"stamp": stamp, "sha": sha, "argv": sys.argv[1:], "python": platform.python_version(),
            "cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "seed": SEED, "days": DAYS, "scenarios": sorted(scenarios)}
    try:
        import adbc_driver_sqlite
        import duckdb
        import pandas
        import pyarrow

        meta["versions"] = {"pandas": pandas.__version__, "pyarrow": pyarrow.__version__,
                            "duckdb": duckdb.__version__, "adbc_driver_sqlite": adbc_driver_sqlite.__version__}
    except ImportError:
        pass
    results: dict = {"meta": meta, "sizes": []}

    def save():
        tmp = out_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=2, default=str))
        os.replace(tmp, out_path)

    global ON_MEASURE
    results["measurements_as_they_finished"] = []

    def on_measure(r):
        results["measurements_as_they_finished"].append(r)
        save()

    ON_MEASURE = on_measure
    work0 = CACHE / "work-prefect"
    work0.mkdir(parents=True, exist_ok=True)
    r = measure("prefect_noop", [PY, "-c", "from prefect import flow\n@flow\ndef noop():\n    return 1\nnoop()"],
                base_env(work0), work0 / "prefect_noop.log", args.timeout, args.rss_limit_gb * 1024)
    results["prefect_noop"] = r
    for n in sizes:
        size = bench_size(n, scenarios, args, meta)
        size["derived"] = derived(size)
        results["sizes"].append(size)
        save()
    md = table(results)
    results["table_md"] = md
    save()
    print("\n" + md)
    print(f"\nPrefect no-op flow (temporary server start): {r['wall_s']:.1f} s")
    for size in results["sizes"]:
        d = size["derived"]
        print(f"{size['n_claims']:,} claims: " + ", ".join(f"{k} = {v}" for k, v in d.items()))
        print("\n".join(targets(size)))
        sref = next((x for x in size["measurements"] if x["scenario"] == "sqlref" and x.get("compare")), None)
        if sref:
            c = sref["compare"]
            print(f"  SQL reference vs ClaimPulse daily_service_metrics: {c['rows_equal']}/{c['rows_in_both']} "
                  f"common rows equal; all-claims set {c['all_claims_set_equal']}/{c['all_claims_set_rows']}; "
                  f"only ClaimPulse {c['only_claimpulse']}, only reference {c['only_reference']}")
    print(f"\nwrote {out_path}")


if __name__ == "__main__":
    main()
