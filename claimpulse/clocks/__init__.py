"""Service clocks (CLOCKS.md): statutory and internal limits counted the way the law counts them.

Pure functions, frames in and frames out:
- `ClockDef`, `ClockConfig`: a clock in the CLOCKS.md form and the config keys that choose them;
- `load_pack(name)`: the shipped packs (CN, US-TX, US-CA, UK), versioned YAML in packs/;
- `active_clocks(cfg, business_tz)`: the clocks that apply and the regions they apply to;
- `evaluate_clocks(claims, events, complaints, cfg, business_tz, as_of)`: one row per started
  clock, the columns of fact_claim_clock (`FACT_CLOCK_COLUMNS`);
- `calendar_versions()`: the calendar packages' versions, for pipeline_runs.
"""
from claimpulse.clocks.calendars import CalendarDays, build_calendar, calendar_versions
from claimpulse.clocks.engine import CLOCK_STATUSES, FACT_CLOCK_COLUMNS, evaluate_clocks
from claimpulse.clocks.models import (
    CALENDAR_IDS, CLOCK_EVENT_TYPES, OPTIONAL_EVENT_TYPES, PACKS, CalendarOverride, ClockConfig,
    ClockDef, PackEntry, active_clocks, load_pack, named_regions, pack_version,
)

__all__ = [
    "CALENDAR_IDS", "CLOCK_EVENT_TYPES", "CLOCK_STATUSES", "FACT_CLOCK_COLUMNS",
    "OPTIONAL_EVENT_TYPES", "PACKS", "CalendarDays", "CalendarOverride", "ClockConfig",
    "ClockDef", "PackEntry", "active_clocks", "build_calendar", "calendar_versions",
    "evaluate_clocks", "load_pack", "named_regions", "pack_version",
]
