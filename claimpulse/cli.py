"""`claimpulse`: a thin command line over the Prefect flows (INTERFACE.md).

Exit 0 when the run finished (quarantined rows do not fail a run); otherwise non-zero with
a one-line reason on stderr. Prefect's own logs go to stdout so stderr stays that one line.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

# Quiet by default, before prefect / great_expectations are imported anywhere.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_SETTINGS_PATH", str(Path(__file__).with_name("logging.yml")))

import typer  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ClaimPulse: insurance claim service-quality metrics, every night.")

SourceOpt = typer.Option(None, "--source", help="SQLAlchemy URL or folder of CSV/Parquet files "
                         "[default: $CLAIMPULSE_SOURCE_URL, else the demo SQLite file]")
WarehouseOpt = typer.Option(None, "--warehouse", help="SQLAlchemy URL [default: "
                            "$CLAIMPULSE_WAREHOUSE_URL, else duckdb:///data/warehouse.duckdb]")
ConfigOpt = typer.Option(None, "--config", help="YAML config [default: $CLAIMPULSE_CONFIG, else shipped defaults]")


def _fail(exc: BaseException) -> None:
    from claimpulse.extract import mask_url  # noqa: F401  (URLs in messages are already masked)

    text = " ".join(str(exc).split()) or type(exc).__name__
    typer.echo(f"claimpulse: error: {text}", err=True)
    raise typer.Exit(code=1)


def _secret_free(url: str | None, env_var: str) -> str | None:
    """Prefect stores flow parameters (its database, the UI): a URL holding a password is
    handed to the flow through `env_var` instead, the way INTERFACE.md asks secrets to travel."""
    from claimpulse.extract import url_secrets

    if url and url_secrets(url):
        os.environ[env_var] = url
        return None
    return url


@app.command("demo-data")
def demo_data(
    source: str = typer.Option(None, "--source", help="SQLAlchemy URL to write [default: the demo SQLite file]"),
    claims: int = typer.Option(20_000, "--claims", min=1, help="Number of claims"),
    days: int = typer.Option(180, "--days", min=1, help="Days of history"),
    seed: int = typer.Option(7, "--seed", help="Random seed (same seed, same data)"),
) -> None:
    """Write a realistic synthetic claims system (the five source tables)."""
    from claimpulse import demo
    from claimpulse.config import resolve_source

    url = source or resolve_source(None)[0]
    try:
        counts = demo.write_demo(url, n_claims=claims, days=days, seed=seed)
    except Exception as exc:  # noqa: BLE001 - one line for the operator
        _fail(exc)
    from claimpulse.extract import mask_url

    typer.echo(f"wrote demo claims system to {mask_url(url)}: "
               + ", ".join(f"{t} {n:,}" for t, n in counts.items()))


@app.command("run")
def run(source: str = SourceOpt, warehouse: str = WarehouseOpt, config: str = ConfigOpt,
        as_of: str = typer.Option(None, "--as-of", help="Local date service clocks are judged on, "
                                                        "YYYY-MM-DD (default: today)")) -> None:
    """Nightly job: process what changed since the watermark, restate the dates it touches."""
    import datetime as dt

    try:
        as_of_date = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError as exc:
        _fail(ValueError(f"--as-of must be YYYY-MM-DD: {exc}"))
    try:
        from flows.nightly import nightly

        result = nightly(source_url=_secret_free(source, "CLAIMPULSE_SOURCE_URL"),
                         warehouse_url=_secret_free(warehouse, "CLAIMPULSE_WAREHOUSE_URL"),
                         config_path=config, as_of=as_of_date)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    typer.echo(f"run {result['run_id']} ({result['mode']}): restated {len(result['dates'])} date(s); "
               + ", ".join(f"{t} {n:,}" for t, n in result["written"].items()) + _worse(result))


def _worse(result: dict) -> str:
    """The closing line's "what got worse" counts (overdue clocks only with clock tables)."""
    parts = [f"new alerts {result.get('new_alerts', 0):,}"]
    if result.get("overdue_clocks") is not None:
        parts.append(f"overdue clocks {result['overdue_clocks']:,}")
    return "; " + ", ".join(parts)


@app.command("backfill")
def backfill(
    start: str = typer.Option(..., "--start", help="First local date, YYYY-MM-DD"),
    end: str = typer.Option(..., "--end", help="Last local date (inclusive), YYYY-MM-DD"),
    source: str = SourceOpt, warehouse: str = WarehouseOpt, config: str = ConfigOpt,
    workers: int = typer.Option(1, "--workers", min=1, help="Partitions computed in parallel (threads)"),
    dask_address: str = typer.Option(None, "--dask-address", help="Compute partitions on this Dask cluster"),
) -> None:
    """Recompute the local dates START..END from the source, partition by partition (resumable)."""
    import datetime as dt

    try:
        s, e = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as exc:
        _fail(ValueError(f"--start/--end must be YYYY-MM-DD: {exc}"))
    try:
        from flows.backfill import backfill as backfill_flow

        result = backfill_flow(start=s, end=e, source_url=_secret_free(source, "CLAIMPULSE_SOURCE_URL"),
                               warehouse_url=_secret_free(warehouse, "CLAIMPULSE_WAREHOUSE_URL"),
                               config_path=config, workers=workers, dask_address=dask_address)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    typer.echo(f"backfill {result['run_id']}: {len(result['computed'])} of {len(result['dates'])} "
               f"partition(s) computed; " + ", ".join(f"{t} {n:,}" for t, n in result["written"].items())
               + _worse(result))


@app.command("report")
def report(
    warehouse: str = WarehouseOpt, config: str = ConfigOpt,
    out: Path = typer.Option(Path("data/report.html"), "--out", help="HTML file to write"),
) -> None:
    """Write a self-contained HTML report (charts, no network) from the warehouse."""
    try:
        from claimpulse.config import load_config, resolve_warehouse
        from claimpulse.report import build_report
        from claimpulse.warehouse import Warehouse

        settings = load_config(config)
        path = build_report(Warehouse(resolve_warehouse(warehouse), settings.schema), out,
                            currency=settings.currency)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    typer.echo(f"wrote {path}")


@app.command("grant-reader")
def grant_reader(
    role: str = typer.Argument(..., help="Role to create or update (a plain SQL identifier)"),
    warehouse: str = WarehouseOpt, config: str = ConfigOpt,
    login: bool = typer.Option(False, "--login", help="Create the role with LOGIN (default NOLOGIN: "
                               "grant it to user roles); on an existing role, add LOGIN"),
) -> None:
    """PostgreSQL: a read-only BI role: SELECT on the BI tables, dq_quarantine without row_data."""
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


@app.command("data-dictionary")
def data_dictionary(out: Path = typer.Option(Path("docs/data-dictionary.md"), "--out")) -> None:
    """Render the warehouse data dictionary as markdown."""
    from claimpulse.dictionary import render_markdown

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_markdown(), encoding="utf-8")
    typer.echo(f"wrote {out}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
