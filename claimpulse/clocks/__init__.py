"""Service clocks (CLOCKS.md): statutory and internal limits counted the way the law counts them.

Pure functions, frames in and frames out:
- `ClockDef`, `ClockConfig`: a clock in the CLOCKS.md form and the config keys that choose them;
- `load_pack(name)`: the shipped packs (CN, US-TX, US-CA, UK), versioned YAML in packs/;
- `active_clocks(cfg, business_tz)`: the clocks that apply and the regions they apply to;
- `evaluate_clocks(claims, events, complaints, cfg, business_tz, as_of)`: one row per started
  clock, the columns of fact_claim_clock (`FACT_CLOCK_COLUMNS`);
- `calendar_versions()`: the calendar packages' versions, for pipeline_runs.

The config models import light; the engine and calendars (pandas, the holiday packages)
load on first use, so reading a config file stays fast.
"""
from __future__ import annotations

import importlib
from typing import Any

from claimpulse.clocks.models import (
    CALENDAR_IDS, CLOCK_EVENT_TYPES, OPTIONAL_EVENT_TYPES, PACKS, CalendarOverride, ClockConfig,
    ClockDef, PackEntry, active_clocks, load_pack, named_regions, pack_version,
)

_LAZY = {
    "CLOCK_STATUSES": "engine", "FACT_CLOCK_COLUMNS": "engine", "evaluate_clocks": "engine",
    "CalendarDays": "calendars", "build_calendar": "calendars", "calendar_versions": "calendars",
}

__all__ = [
    "CALENDAR_IDS", "CLOCK_EVENT_TYPES", "CLOCK_STATUSES", "FACT_CLOCK_COLUMNS",
    "OPTIONAL_EVENT_TYPES", "PACKS", "CalendarDays", "CalendarOverride", "ClockConfig",
    "ClockDef", "PackEntry", "active_clocks", "build_calendar", "calendar_versions",
    "evaluate_clocks", "load_pack", "named_regions", "pack_version",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"claimpulse.clocks.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'claimpulse.clocks' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
