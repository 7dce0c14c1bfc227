"""Accepted source frames (schema dtypes) from a few dicts, for the metrics and quality tests:
`frame(table, rows)` fills in every column the rows leave out."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from claimpulse.config import default_settings
from claimpulse.schema import DECIMAL, INTEGER, SOURCE_TABLES, TEXT, TIMESTAMP

KEY = b"unit-test-key"
SH = default_settings()  # Asia/Shanghai, rates 60 / 50
_ids = itertools.count(1)

DEFAULTS = {
    "claims": {"policy_id": "P1", "product_line": "auto", "channel": "app", "region": "BJ",
               "team": "T1", "complexity": "simple", "claimed_amount": 100.0, "currency": "CNY",
               "reported_at": "2026-03-01T00:00:00Z", "updated_at": "2026-03-01T00:00:00Z"},
    "claim_events": {"actor_role": "handler"},
    "surveys": {},
    "complaints": {"source": "customer", "category": "x"},
    "customer_costs": {"incurred_at": "2026-03-01T00:00:00Z"},
}
TIME_COLUMN = {"claim_events": "occurred_at", "surveys": "responded_at",
               "complaints": "received_at", "customer_costs": "incurred_at", "claims": "reported_at"}


def frame(table: str, rows: list[dict]) -> pd.DataFrame:
    """A typed, accepted frame of `table` (schema dtypes) from a few dicts."""
    spec = SOURCE_TABLES[table]
    full = []
    for row in rows:
        r = {**DEFAULTS[table], **row}
        r.setdefault(spec.key, f"{spec.key}-{next(_ids)}")
        if table == "claims":
            r.setdefault("customer_id", f"cust-{r['claim_id']}")
        r.setdefault("updated_at", r.get(TIME_COLUMN[table]))
        full.append(r)
    out = pd.DataFrame(index=pd.RangeIndex(len(full)))
    for col, kind in spec.columns.items():
        values = [r.get(col) for r in full]
        if kind == TEXT:
            out[col] = pd.array(values, dtype="string")
        elif kind == DECIMAL:
            out[col] = pd.array([np.nan if v is None else float(v) for v in values], dtype="float64")
        elif kind == INTEGER:
            out[col] = pd.array(values, dtype="Int64")
        elif kind == TIMESTAMP:
            out[col] = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    return out
