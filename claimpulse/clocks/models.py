"""Clock definitions and the clock config keys (CLOCKS.md "A clock definition"), validated once.

A clock is data: `ClockDef` is one clock in the CLOCKS.md form, whether it comes from a
shipped pack (claimpulse/clocks/packs/*.yaml, each with a `version:`) or from the user's
config (`clocks:`). `ClockConfig` holds the four config keys; `active_clocks` resolves them
into the clocks that apply and the regions each applies to.

A bad definition raises pydantic's ValidationError with a message naming the offending
value; claimpulse.config turns it into its one-line `ConfigError`.
"""
from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator,
)

from claimpulse.schema import CLAIMS, COMPLAINTS, EVENT_TYPES as _SOURCE_EVENT_TYPES, TIMESTAMP

__all__ = [
    "CLOCK_EVENT_TYPES", "CALENDAR_IDS", "PACKS", "ClockDef", "ClockConfig", "PackEntry",
    "CalendarOverride", "load_pack", "pack_version", "active_clocks", "named_regions",
]

# The source's event types plus the optional ones CLOCKS.md adds (SOURCE.md, additive).
OPTIONAL_EVENT_TYPES = ("acknowledged", "settlement_agreed", "denial_notice_sent", "advance_paid")
CLOCK_EVENT_TYPES: tuple[str, ...] = tuple(dict.fromkeys(_SOURCE_EVENT_TYPES + OPTIONAL_EVENT_TYPES))
# Calendar ids claimpulse.clocks.calendars knows how to build (kept here to avoid an import
# of the holiday packages just to validate a config).
CALENDAR_IDS = ("CN", "US-TX", "US-CA", "UK-ENG")
# Shipped packs -> their YAML file in claimpulse/clocks/packs/.
PACKS: dict[str, str] = {"CN": "cn.yaml", "US-TX": "us_tx.yaml", "US-CA": "us_ca.yaml", "UK": "uk.yaml"}
PACK_DIR = Path(__file__).with_name("packs")

# Claim columns applies_to / excludes may filter on (text dimensions of the claim).
FILTER_COLUMNS = ("product_line", "channel", "region", "team", "complexity", "outcome",
                  "denial_reason")
_TS_FIELDS = {
    "claim": tuple(c for c, k in CLAIMS.columns.items() if k == TIMESTAMP and c != "updated_at"),
    "complaint": tuple(c for c, k in COMPLAINTS.columns.items() if k == TIMESTAMP and c != "updated_at"),
}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _event_type(v: str) -> str:
    if v not in CLOCK_EVENT_TYPES:
        raise ValueError(f"unknown event type {v!r}; one of {', '.join(CLOCK_EVENT_TYPES)}")
    return v


class Start(_Strict):
    """{event[, fallback]}: the claim's first event of that type; or {field}: a timestamp column."""
    event: str | None = None
    fallback: str | None = None
    field: str | None = None

    @field_validator("event", "fallback")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        return None if v is None else _event_type(v)

    @model_validator(mode="after")
    def _one_kind(self) -> Start:
        if (self.event is None) == (self.field is None):
            raise ValueError("start needs exactly one of `event` or `field`")
        if self.fallback is not None and self.event is None:
            raise ValueError("start.fallback needs start.event")
        return self


class Stop(_Strict):
    """{events: [...]}: the earliest of them at or after the start; or {field}: a timestamp column."""
    events: list[str] | None = None
    field: str | None = None

    @field_validator("events", mode="before")
    @classmethod
    def _one_item(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("events")
    @classmethod
    def _known(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if not v:
                raise ValueError("stop.events must list at least one event type")
            for e in v:
                _event_type(e)
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> Stop:
        if (self.events is None) == (self.field is None):
            raise ValueError("stop needs exactly one of `events` or `field`")
        return self


class Pause(_Strict):
    from_: str = Field(alias="from")
    until: str
    max_pauses: int | None = Field(default=None, ge=1)   # None = unlimited

    @field_validator("from_", "until")
    @classmethod
    def _known(cls, v: str) -> str:
        return _event_type(v)


class Limit(_Strict):
    n: int = Field(gt=0)
    unit: Literal["calendar", "business"]


def _value_list(v: Any) -> Any:
    """`{col: value}` -> `{col: [value]}`: a single value is a one-item list."""
    if not isinstance(v, dict):
        return v
    return {k: (list(x) if isinstance(x, (list, tuple)) else [x]) for k, x in v.items()}


def _known_filter_columns(v: dict[str, list[str | None]]) -> dict[str, list[str | None]]:
    for col in v:
        if col not in FILTER_COLUMNS:
            raise ValueError(f"unknown claim column {col!r}; one of {', '.join(FILTER_COLUMNS)}")
    return v


class ClockDef(_Strict):
    """One clock in the CLOCKS.md form. Defaults are those of a user's clock; packs set every key.

    `timezone: None` means the business timezone (resolved by `active_clocks`); `calendar`
    may be omitted only when nothing needs it (calendar unit without roll-forward);
    `regions` is for user clocks only (None: every region).
    """
    id: str
    title: str | None = None
    citation: str | None = None
    subject: Literal["claim", "complaint"] = "claim"
    applies_to: dict[str, list[str | None]] = Field(default_factory=dict)
    excludes: dict[str, list[str | None]] = Field(default_factory=dict)
    start: Start
    stop: Stop
    pause: Pause | None = None
    limit: Limit
    calendar: str | None = None
    timezone: str | None = None
    roll_forward: bool = False
    regions: list[str] | None = None
    # Set by load_pack (not a config key): the pack and its version, None for a user's clock.
    _pack: str | None = PrivateAttr(default=None)
    _pack_version: str | None = PrivateAttr(default=None)

    @property
    def pack(self) -> str | None:
        return self._pack

    @property
    def pack_version(self) -> str | None:
        return self._pack_version

    @field_validator("id")
    @classmethod
    def _id_is_identifier(cls, v: str) -> str:
        if not _IDENTIFIER.fullmatch(v):
            raise ValueError(f"clock id {v!r} must be letters, digits and underscores")
        return v

    @field_validator("applies_to", "excludes", mode="before")
    @classmethod
    def _lists(cls, v: Any) -> Any:
        return _value_list(v)

    @field_validator("applies_to", "excludes")
    @classmethod
    def _columns(cls, v: dict) -> dict:
        return _known_filter_columns(v)

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, v: str | None) -> str | None:
        if v is not None and v not in CALENDAR_IDS:
            raise ValueError(f"unknown calendar {v!r}; one of {', '.join(CALENDAR_IDS)}")
        return v

    @field_validator("timezone")
    @classmethod
    def _valid_tz(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown timezone {v!r}") from exc
        return v

    @field_validator("regions", mode="before")
    @classmethod
    def _region_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _consistent(self) -> ClockDef:
        for part, name in ((self.start.field, "start.field"), (self.stop.field, "stop.field")):
            if part is not None and part not in _TS_FIELDS[self.subject]:
                raise ValueError(f"{name}: {part!r} is not a timestamp of a {self.subject}; "
                                 f"one of {', '.join(_TS_FIELDS[self.subject])}")
        if self.subject == "complaint" and (self.start.event or self.stop.events or self.pause):
            raise ValueError("a complaint clock starts and stops at complaint fields and has no pause")
        if self.calendar is None and (self.limit.unit == "business" or self.roll_forward):
            raise ValueError("calendar is required for business days or roll_forward")
        return self


class PackEntry(_Strict):
    """One `clock_packs` entry: a shipped pack and the regions it applies to."""
    pack: str
    regions: Literal["all"] | list[str] = "all"

    @field_validator("pack")
    @classmethod
    def _known_pack(cls, v: str) -> str:
        if v not in PACKS:
            raise ValueError(f"unknown pack {v!r}; one of {', '.join(PACKS)}")
        return v

    @field_validator("regions", mode="before")
    @classmethod
    def _region_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) and v != "all" else v


class CalendarOverride(_Strict):
    """Days added or corrected on top of a calendar's package, and the years they complete."""
    years: list[int] = Field(default_factory=list)
    holidays: list[dt.date] = Field(default_factory=list)
    workdays: list[dt.date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _disjoint(self) -> CalendarOverride:
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(f"date(s) both holiday and workday: {', '.join(map(str, both))}")
        return self


class ClockConfig(_Strict):
    """The clock keys of the config: clock_packs, clocks, calendar_overrides, disabled_clocks."""
    clock_packs: list[PackEntry] = Field(default_factory=lambda: [PackEntry(pack="CN")])
    clocks: list[ClockDef] = Field(default_factory=list)
    calendar_overrides: dict[str, CalendarOverride] = Field(default_factory=dict)
    disabled_clocks: list[str] = Field(default_factory=list)

    @field_validator("calendar_overrides")
    @classmethod
    def _known_calendars(cls, v: dict) -> dict:
        for cal in v:
            if cal not in CALENDAR_IDS:
                raise ValueError(f"unknown calendar {cal!r}; one of {', '.join(CALENDAR_IDS)}")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> ClockConfig:
        packs = [e.pack for e in self.clock_packs]
        twice = sorted({p for p in packs if packs.count(p) > 1})
        if twice:
            raise ValueError(f"clock_packs: pack(s) listed twice: {', '.join(twice)}")
        ids = [c.id for p in packs for c in load_pack(p)] + [c.id for c in self.clocks]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"clocks: duplicate clock id(s): {', '.join(dupes)}")
        known = {c.id for p in PACKS for c in load_pack(p)} | {c.id for c in self.clocks}
        unknown = [i for i in self.disabled_clocks if i not in known]
        if unknown:
            raise ValueError(f"disabled_clocks: unknown clock id(s): {', '.join(unknown)}")
        return self


# --------------------------------------------------------------------------- packs

@lru_cache(maxsize=None)
def _read_pack(name: str) -> tuple[str, tuple[ClockDef, ...]]:
    if name not in PACKS:
        raise ValueError(f"unknown pack {name!r}; one of {', '.join(PACKS)}")
    data = yaml.safe_load((PACK_DIR / PACKS[name]).read_text(encoding="utf-8"))
    version = str(data["version"])
    clocks = []
    for i, raw in enumerate(data["clocks"]):
        if "regions" in raw:  # packs apply by clock_packs, never by their own regions
            raise ValueError(f"pack {name} clock {i}: `regions` is set by clock_packs")
        try:
            clock = ClockDef.model_validate(raw)
        except ValidationError as exc:
            raise ValueError(f"pack {name} clock {raw.get('id', i)}: {exc}") from None
        clock._pack, clock._pack_version = name, version
        clocks.append(clock)
    return version, tuple(clocks)


def load_pack(name: str) -> list[ClockDef]:
    """The clocks of a shipped pack (CN, US-TX, US-CA, UK), as its versioned YAML defines them."""
    return list(_read_pack(name)[1])


def pack_version(name: str) -> str:
    """The `version:` of a shipped pack's YAML (recorded with each run)."""
    return _read_pack(name)[0]


def named_regions(cfg: ClockConfig) -> frozenset[str]:
    """Regions some clock_packs entry lists by name (`regions: all` covers every other one)."""
    return frozenset(r for e in cfg.clock_packs if e.regions != "all" for r in e.regions)


def active_clocks(cfg: ClockConfig, business_tz: str) -> list[tuple[ClockDef, list[str] | None]]:
    """Every clock that applies, in pack order then the user's, with the regions it applies to.

    Regions None means: for a pack's clock (`clock.pack` set) every region that no other
    clock_packs entry names (`regions: all`, see `named_regions`); for a user's clock without
    `regions`, every region. A user's clock without `timezone` gets `business_tz`.
    """
    disabled = set(cfg.disabled_clocks)
    out: list[tuple[ClockDef, list[str] | None]] = []
    for entry in cfg.clock_packs:
        regions = None if entry.regions == "all" else list(entry.regions)
        out.extend((c, regions) for c in load_pack(entry.pack) if c.id not in disabled)
    for c in cfg.clocks:
        if c.id in disabled:
            continue
        if c.timezone is None:
            c = c.model_copy(update={"timezone": business_tz})
        out.append((c, None if c.regions is None else list(c.regions)))
    return out
