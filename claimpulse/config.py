"""Configuration: the YAML of INTERFACE.md, validated once at the edge.

`load_config(path)` merges a user's file over the shipped defaults and returns a frozen
`Settings`. An unknown key or a wrong type raises `ConfigError` naming the key.
"""
from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from claimpulse.clocks.models import CalendarOverride, ClockConfig, ClockDef, PackEntry

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")

# Claim-level measures a service standard may refer to (METRICS.md, one row per claim).
STANDARD_MEASURES = (
    "report_to_accept_hours",
    "report_to_decision_days",
    "decision_to_payment_days",
    "report_to_close_days",
    "customer_cost_total",
    "trips",
    "lost_work_hours",
)
# Claim columns a standard's `applies_to` may filter on.
APPLIES_TO_COLUMNS = ("product_line", "channel", "region", "team", "complexity", "outcome")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ConfigError(ValueError):
    """A configuration problem; the message names the offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Rates(_Strict):
    travel_per_trip: float = Field(ge=0)
    lost_work_per_hour: float = Field(ge=0)


class Standard(_Strict):
    id: str
    measure: str
    max: float
    target_rate: float = Field(ge=0, le=1)
    applies_to: dict[str, str | list[str]] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_is_identifier(cls, v: str) -> str:
        if not _IDENTIFIER.fullmatch(v):
            raise ValueError(f"standard id {v!r} must be letters, digits and underscores")
        return v

    @field_validator("measure")
    @classmethod
    def _known_measure(cls, v: str) -> str:
        if v not in STANDARD_MEASURES:
            raise ValueError(f"unknown measure {v!r}; one of {', '.join(STANDARD_MEASURES)}")
        return v

    @field_validator("applies_to")
    @classmethod
    def _known_columns(cls, v: dict) -> dict:
        for col in v:
            if col not in APPLIES_TO_COLUMNS:
                raise ValueError(f"applies_to: unknown claim column {col!r}; one of {', '.join(APPLIES_TO_COLUMNS)}")
        return v


class Settings(_Strict):
    timezone: str
    source_timezone: str
    currency: str
    schema_: str = Field(alias="schema")
    rates: Rates
    product_lines: list[str]
    channels: list[str]
    standards: list[Standard]
    # Encoding of CSV file sources (GB18030 is common for Chinese core-system exports).
    source_encoding: str = "utf-8"
    # Columns (beyond customer_id and comment) masked in dq_quarantine.row_data.
    personal_columns: list[str] = Field(default_factory=list)
    # Service clocks (CLOCKS.md): statutory packs by region, the user's own clocks,
    # calendar corrections, and pack clocks turned off.
    clock_packs: list[PackEntry] = Field(default_factory=lambda: [PackEntry(pack="CN")])
    clocks: list[ClockDef] = Field(default_factory=list)
    calendar_overrides: dict[str, CalendarOverride] = Field(default_factory=dict)
    disabled_clocks: list[str] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("timezone", "source_timezone")
    @classmethod
    def _valid_tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {v!r}") from exc
        return v

    @field_validator("source_encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        import codecs

        try:
            codecs.lookup(v)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {v!r}") from exc
        return v

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, v: str) -> str:
        # The schema name reaches DDL; only plain identifiers are allowed.
        if not _IDENTIFIER.fullmatch(v):
            raise ValueError(f"schema {v!r} must be a plain SQL identifier (letters, digits, _)")
        return v

    @field_validator("product_lines", "channels")
    @classmethod
    def _not_the_rollup_marker(cls, v: list[str]) -> list[str]:
        # 'ALL' marks a rolled-up dimension in daily_service_metrics: as a value it would collide.
        if "ALL" in v:
            raise ValueError("'ALL' is reserved for rolled-up rows of the daily tables")
        return v

    @field_validator("standards")
    @classmethod
    def _unique_ids(cls, v: list[Standard]) -> list[Standard]:
        ids = [s.id for s in v]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate standard id(s): {', '.join(dupes)}")
        return v

    @model_validator(mode="after")
    def _clock_config(self) -> "Settings":
        # cross-key checks (duplicate ids, packs listed twice, unknown disabled ids) live in
        # ClockConfig; run them once here so a bad clock fails at load time
        self.clock_config  # noqa: B018
        return self

    @cached_property
    def clock_config(self) -> ClockConfig:
        """The clock keys as one ClockConfig (claimpulse.clocks.evaluate_clocks takes it)."""
        try:
            return ClockConfig(clock_packs=self.clock_packs, clocks=self.clocks,
                               calendar_overrides=self.calendar_overrides,
                               disabled_clocks=self.disabled_clocks)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise ValueError(f"{loc}: {msg}" if loc else msg) from None

    @property
    def schema(self) -> str:  # noqa: D401 - the warehouse schema name
        return self.schema_

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings: a file may set any subset, nested keys included."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "applies_to":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _format_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def load_config(path: str | os.PathLike | None = None) -> Settings:
    """Defaults, overlaid by the YAML file at `path` (or $CLAIMPULSE_CONFIG), validated."""
    defaults = yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8"))
    path = path or os.environ.get("CLAIMPULSE_CONFIG") or None
    user: dict[str, Any] = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            user = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {exc}") from exc
        if not isinstance(user, dict):
            raise ConfigError(f"config file {p} must be a mapping of keys, not {type(user).__name__}")
    return settings_from_dict(_merge(defaults, user), origin=str(path or DEFAULTS_PATH))


def settings_from_dict(data: dict[str, Any], origin: str = "config") -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration in {origin}: {_format_error(exc)}") from None


def default_settings(**overrides: Any) -> Settings:
    """Shipped defaults with keyword overrides (tests and the demo)."""
    defaults = yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8"))
    return settings_from_dict(_merge(defaults, overrides), origin="defaults")


# --------------------------------------------------------------------------- locations

DEMO_SOURCE_PATH = Path("data/claims_demo.sqlite")
DEFAULT_WAREHOUSE_URL = "duckdb:///data/warehouse.duckdb"


def resolve_source(source: str | None) -> tuple[str, bool]:
    """(source, is_demo): --source, else $CLAIMPULSE_SOURCE_URL, else the demo SQLite file."""
    if source:
        return source, False
    env = os.environ.get("CLAIMPULSE_SOURCE_URL")
    if env:
        return env, False
    return f"sqlite:///{DEMO_SOURCE_PATH}", True


def resolve_warehouse(warehouse: str | None) -> str:
    return warehouse or os.environ.get("CLAIMPULSE_WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL
