"""The reconciliation flow: `claimpulse run --reconcile` and the `claimpulse-reconcile` deployment.

A nightly run reads only the rows whose updated_at moved, so it cannot see a row that was
deleted from the source. The reconciliation is the nightly run plus a scan of every source id
against the warehouse: deleted claims, responses and complaints leave the warehouse and the
dates they touched are restated. Scheduled weekly, so a hard delete shows up at most one
reconcile interval late.
"""
from __future__ import annotations

import datetime as dt

from prefect import flow

from flows.nightly import today_name, nightly


@flow(name="claimpulse-reconcile", flow_run_name=lambda: today_name("reconcile"),
      persist_result=False, validate_parameters=True)
def reconcile(source_url: str | None = None, warehouse_url: str | None = None,
              config_path: str | None = None, as_of: dt.date | None = None,
              workers: int = 1, dask_address: str | None = None) -> dict:
    """The nightly run with hard-delete detection (every source id compared with the warehouse)."""
    return nightly.fn(source_url=source_url, warehouse_url=warehouse_url, config_path=config_path,
                      as_of=as_of, reconcile=True, workers=workers, dask_address=dask_address)
