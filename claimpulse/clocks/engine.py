"""The clock engine (CLOCKS.md "Counting"): work in progress."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from claimpulse.clocks.models import ClockConfig

CLOCK_STATUSES = ("met", "breached", "overdue", "paused", "running", "indeterminate")
FACT_CLOCK_COLUMNS: tuple[str, ...] = (
    "clock_id", "subject", "subject_id", "claim_id", "product_line", "channel", "region", "team",
    "started_at", "stopped_at", "start_date", "end_date", "due_date", "limit_n", "unit",
    "calendar", "timezone", "paused_days", "elapsed_days", "days_to_due", "status", "as_of_date",
)


def evaluate_clocks(claims: pd.DataFrame, events: pd.DataFrame, complaints: pd.DataFrame,
                    cfg: ClockConfig, business_tz: str, as_of: dt.date) -> pd.DataFrame:
    raise NotImplementedError("clock engine: in progress on branch clk1")
