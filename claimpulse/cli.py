"""`claimpulse`: a thin command line over the Prefect flows (INTERFACE.md).

Exit 0 when the run finished (quarantined rows do not fail a run); otherwise non-zero with
a one-line reason on stderr. Prefect's own logs go to stdout so stderr stays that one line.
Everything a run can check without Prefect (arguments, config, key and its fingerprint, the
warehouse lock) is checked first (claimpulse.preflight): a typo fails in about a second,
not after Prefect's temporary server has started.
"""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

# Quiet by default, before prefect / great_expectations are imported anywhere.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_SETTINGS_PATH", str(Path(__file__).with_name("logging.yml")))
# Without PREFECT_API_URL each run starts a temporary Prefect server; on a busy machine its
# start can take longer than Prefect's 20 s default, which would fail the run for nothing.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import typer  # noqa: E402

# Plain (click) help: no `<bool>` type labels, and "[default: ...]" in help stays text.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]},
                  help="ClaimPulse: insurance claim service-quality metrics, every night.")

SourceOpt = typer.Option(None, "--source", metavar="URL|FOLDER", help=(
    "SQLAlchemy URL or folder of CSV/Parquet files [default: $CLAIMPULSE_SOURCE_URL, else the "
    "demo SQLite file sqlite:///data/claims_demo.sqlite]"))
WarehouseOpt = typer.Option(None, "--warehouse", metavar="URL", help=(
    "SQLAlchemy URL [default: $CLAIMPULSE_WAREHOUSE_URL, else duckdb:///data/warehouse.duckdb]"))
ConfigOpt = typer.Option(None, "--config", metavar="FILE", help=(
    "YAML config [default: $CLAIMPULSE_CONFIG, else the shipped defaults claimpulse/defaults.yaml]"))


def _fail(exc: BaseException | str) -> None:
    text = " ".join(str(exc).split()) or type(exc).__name__
    typer.echo(f"claimpulse: error: {text}", err=True)
    raise typer.Exit(code=1)


def _warn(text: str) -> None:
    typer.echo(f"claimpulse: warning: {text}", err=True)


def _secret_free(url: str | None, env_var: str) -> str | None:
    """Prefect stores flow parameters (its database, the UI): a URL holding a password is
    handed to the flow through `env_var` instead, the way INTERFACE.md asks secrets to travel."""
    from claimpulse.extract import url_secrets

    if url and url_secrets(url):
        os.environ[env_var] = url
        return None
    return url


def _date(value: str | None, flag: str):
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{flag} must be a date YYYY-MM-DD, not {value!r}")


def _preflight(flow: str, source: str | None, warehouse: str | None, config: str | None):
    """Checks before any flow starts (one-line error, no Prefect)."""
    from claimpulse.preflight import preflight

    try:
        return preflight(flow, source, warehouse, config, uuid.uuid4().hex)
    except Exception as exc:  # noqa: BLE001 - one line for the operator
        _fail(exc)


def _closing(result: dict) -> str:
    """The end of a run's last line: quarantined rows and where the report and Data Docs are."""
    from urllib.parse import unquote, urlparse

    paths = {name: unquote(urlparse(uri).path) for name, uri in (result.get("links") or {}).items()}
    return (f"; quarantined {result.get('quarantined', 0):,} row(s)"
            + "".join(f"; {name} {path}" for name, path in paths.items()))


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"claimpulse {version('claimpulse')}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """ClaimPulse: insurance claim service-quality metrics, every night."""


@app.command("demo-data", short_help="Write a synthetic demo claims system.")
def demo_data(
    source: str = typer.Option(None, "--source", metavar="URL", help=(
        "SQLAlchemy URL to write [default: $CLAIMPULSE_SOURCE_URL, else the demo SQLite file "
        "sqlite:///data/claims_demo.sqlite]")),
    claims: int = typer.Option(20_000, "--claims", min=1, metavar="N", help="Number of claims"),
    days: int = typer.Option(180, "--days", min=1, metavar="D", help="Days of history"),
    seed: int = typer.Option(7, "--seed", metavar="S", help="Random seed (same seed, same data)"),
) -> None:
    """Write a realistic synthetic claims system (the five source tables)."""
    from claimpulse import demo
    from claimpulse.config import resolve_source
    from claimpulse.extract import mask_url

    url = resolve_source(source)[0]
    try:
        counts = demo.write_demo(url, n_claims=claims, days=days, seed=seed)
    except Exception as exc:  # noqa: BLE001 - one line for the operator
        _fail(exc)
    typer.echo(f"wrote demo claims system to {mask_url(url)}: "
               + ", ".join(f"{t} {n:,}" for t, n in counts.items()))


@app.command("run", short_help="The nightly job: process what changed.")
def run(source: str = SourceOpt, warehouse: str = WarehouseOpt, config: str = ConfigOpt,
        as_of: str = typer.Option(None, "--as-of", metavar="YYYY-MM-DD", help=(
            "Local date running service clocks are judged on [default: today in the business "
            "timezone, at the run's start]")),
        reconcile: bool = typer.Option(False, "--reconcile", help=(
            "Also find rows deleted from the source (compares every source id with the "
            "warehouse; the weekly reconcile deployment does this)")),
        workers: int = typer.Option(1, "--workers", min=1, metavar="N", help=(
            "Claim chunks validated and computed in N parallel processes (runs bigger than "
            "one chunk, $CLAIMPULSE_CHUNK_CLAIMS claims); one process writes")),
        dask_address: str = typer.Option(None, "--dask-address", metavar="ADDR",
                                         help="Validate and compute the chunks on this Dask cluster")) -> None:
    """Nightly job: process what changed since the watermark."""
    as_of_date = _date(as_of, "--as-of")
    _preflight("reconcile" if reconcile else "nightly", source, warehouse, config)
    try:
        from flows.nightly import nightly
        from flows.reconcile import reconcile as reconcile_flow

        result = (reconcile_flow if reconcile else nightly)(
            source_url=_secret_free(source, "CLAIMPULSE_SOURCE_URL"),
            warehouse_url=_secret_free(warehouse, "CLAIMPULSE_WAREHOUSE_URL"),
            config_path=config, as_of=as_of_date, workers=workers, dask_address=dask_address)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    for w in result.get("warnings", []):
        _warn(w)
    typer.echo(f"run {result['run_id']} ({result['mode']}): restated {len(result['dates'])} date(s); "
               + ", ".join(f"{t} {n:,}" for t, n in result["written"].items()) + _worse(result)
               + _closing(result))


def _worse(result: dict) -> str:
    """The closing line's "what got worse" counts (overdue clocks only with clock tables)."""
    parts = [f"new alerts {result.get('new_alerts', 0):,}"]
    if result.get("overdue_clocks") is not None:
        parts.append(f"overdue clocks {result['overdue_clocks']:,}")
    return "; " + ", ".join(parts)


@app.command("backfill", short_help="Recompute the dates START..END (resumable).")
def backfill(
    start: str = typer.Option(..., "--start", metavar="YYYY-MM-DD", help="First local date"),
    end: str = typer.Option(..., "--end", metavar="YYYY-MM-DD", help="Last local date (inclusive)"),
    source: str = SourceOpt, warehouse: str = WarehouseOpt, config: str = ConfigOpt,
    workers: int = typer.Option(1, "--workers", min=1, metavar="N", help=(
        "Chunks validated and computed in N processes, partitions in N threads")),
    dask_address: str = typer.Option(None, "--dask-address", metavar="ADDR",
                                     help="Validate, compute and slice on this Dask cluster"),
) -> None:
    """Recompute the local dates START..END from the source (resumable)."""
    s, e = _date(start, "--start"), _date(end, "--end")
    if e < s:
        _fail(f"backfill range is empty: --end {e} is before --start {s}")
    _preflight("backfill", source, warehouse, config)
    try:
        from flows.backfill import backfill as backfill_flow

        result = backfill_flow(start=s, end=e, source_url=_secret_free(source, "CLAIMPULSE_SOURCE_URL"),
                               warehouse_url=_secret_free(warehouse, "CLAIMPULSE_WAREHOUSE_URL"),
                               config_path=config, workers=workers, dask_address=dask_address)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    for w in result.get("warnings", []):
        _warn(w)
    typer.echo(f"backfill {result['run_id']}: {len(result['computed'])} of {len(result['dates'])} "
               f"partition(s) computed; " + ", ".join(f"{t} {n:,}" for t, n in result["written"].items())
               + _worse(result) + _closing(result))


@app.command("report", short_help="Write the HTML report from the warehouse.")
def report(
    warehouse: str = WarehouseOpt, config: str = ConfigOpt,
    out: Path = typer.Option(Path("data/report.html"), "--out", metavar="FILE", help="HTML file to write"),
) -> None:
    """Write a self-contained HTML report from the warehouse."""
    try:
        from claimpulse.config import load_config
        from claimpulse.preflight import open_existing

        settings = load_config(config)
        # read-only (.reader()): a BI tool holding the DuckDB file must not block the report
        wh = open_existing(warehouse, settings.schema)  # read-only; before the report's heavy imports
        from claimpulse.report import build_report

        path = build_report(wh, out, currency=settings.currency)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    typer.echo(f"wrote {path}")


@app.command("status", short_help="The last runs, their status and counts.")
def status(
    warehouse: str = WarehouseOpt, config: str = ConfigOpt,
    limit: int = typer.Option(10, "--limit", min=1, metavar="N", help="How many runs, newest first"),
) -> None:
    """The last runs: status, mode, dates, rows per table, quarantined, duration, error."""
    try:
        from claimpulse.config import load_config
        from claimpulse.ops import format_status
        from claimpulse.preflight import open_existing

        settings = load_config(config)
        wh = open_existing(warehouse, settings.schema)
        with wh.transaction() as conn:
            runs = wh.read_table(conn, "pipeline_runs", f"ORDER BY started_at DESC LIMIT {int(limit)}")
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    typer.echo(f"warehouse {wh.describe()}, schema {settings.schema}")
    typer.echo(format_status(runs))


@app.command("quarantine", short_help="List or export held (quarantined) rows.")
def quarantine(
    warehouse: str = WarehouseOpt, config: str = ConfigOpt,
    table: str = typer.Option(None, "--table", metavar="T", help="Only rows of this source table"),
    reason: str = typer.Option(None, "--reason", metavar="CODE", help="Only rows with this reason code"),
    out: Path = typer.Option(None, "--out", metavar="FILE.csv", help="Export every matching row as CSV"),
    limit: int = typer.Option(50, "--limit", min=1, metavar="N", help="Rows listed without --out"),
) -> None:
    """List or export held rows (personal fields removed from row_data)."""
    try:
        from claimpulse.config import load_config
        from claimpulse.ops import format_held, held_rows
        from claimpulse.preflight import open_existing
        from claimpulse.schema import SOURCE_TABLES

        if table and table not in SOURCE_TABLES:
            raise ValueError(f"--table {table!r} is not a source table; one of {', '.join(SOURCE_TABLES)}")
        settings = load_config(config)
        wh = open_existing(warehouse, settings.schema)
        with wh.transaction() as conn:
            q = wh.read_table(conn, "dq_quarantine", "WHERE released_at IS NULL")
        rows = held_rows(q, table, reason, settings.personal_columns)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            rows.to_csv(out, index=False)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    if out is not None:
        typer.echo(f"wrote {len(rows):,} held row(s) to {out}")
    else:
        typer.echo(format_held(rows, limit))


@app.command("check", short_help="Check config, source, warehouse and key.")
def check(source: str = SourceOpt, warehouse: str = WarehouseOpt, config: str = ConfigOpt) -> None:
    """Check config, source, warehouse and key fingerprint; runs nothing."""
    from claimpulse.checks import run_checks

    lines, failed = run_checks(source, warehouse, config)
    for line in lines:
        typer.echo(line)
    if failed:
        _fail(f"check failed: {', '.join(failed)}")


@app.command("grant-reader", short_help="PostgreSQL: a read-only BI role.")
def grant_reader(
    role: str = typer.Argument(..., metavar="ROLE", help="Role to create or update (a plain SQL identifier)"),
    warehouse: str = WarehouseOpt, config: str = ConfigOpt,
    login: bool = typer.Option(False, "--login", help="Create the role with LOGIN (default NOLOGIN: "
                               "grant it to user roles); on an existing role, add LOGIN"),
) -> None:
    """PostgreSQL: a read-only BI role (SELECT on the BI tables)."""
    try:
        from claimpulse.config import load_config, resolve_warehouse
        from claimpulse.roles import describe_grants
        from claimpulse.roles import grant_reader as grant
        from claimpulse.warehouse import Warehouse

        settings = load_config(config)
        wh = Warehouse(resolve_warehouse(warehouse), settings.schema)
        result = grant(wh, role, login=login)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    typer.echo(f"{'created' if result['created'] else 'updated'} role {role} "
               f"({'LOGIN' if login else 'NOLOGIN' if result['created'] else 'login unchanged'}) on "
               f"{wh.describe()} schema {settings.schema}: USAGE on the schema; {describe_grants()}; "
               f"nothing else")


@app.command("data-dictionary", short_help="Write the data dictionary as markdown.")
def data_dictionary(out: Path = typer.Option(Path("docs/data-dictionary.md"), "--out", metavar="FILE",
                                             help="Markdown file to write")) -> None:
    """Render the warehouse data dictionary as markdown."""
    from claimpulse.dictionary import render_markdown

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_markdown(), encoding="utf-8")
    typer.echo(f"wrote {out}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
