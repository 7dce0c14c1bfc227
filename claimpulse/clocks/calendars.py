"""Working-day calendars (CLOCKS.md "Calendars"): one thin interface over maintained packages.

A calendar is built once per run as two boolean arrays over a date range: `working` (a
working day the calendar covers) and `covered` (the package or an override knows the day).
Counting then is array arithmetic. Adding a jurisdiction is a data change: one entry in
`CALENDAR_SOURCES` (a `holidays` country/subdivision, and the holiday names it must not
count) and its id in models.CALENDAR_IDS.

- CN: `chinesecalendar` — public holidays off, 调休 make-up working days on; it covers a
  year once the State Council has published it (NotImplementedError otherwise).
- US-TX / US-CA / UK-ENG: `holidays` — Monday–Friday minus the subdivision's holidays in
  the years the package's rules cover.
- `calendar_overrides` on top: listed holidays off, listed workdays on, listed `years`
  covered (Monday–Friday outside the listed days).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from claimpulse.clocks.models import CALENDAR_IDS, CalendarOverride

__all__ = ["CALENDAR_SOURCES", "CalendarDays", "build_calendar", "calendar_versions"]

_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


@dataclass(frozen=True)
class HolidaysSource:
    """Monday–Friday minus the holidays of a `holidays` country (and subdivision)."""
    country: str
    subdiv: str | None = None
    observed: bool = True
    # Holidays the package lists that the law does not count (e.g. Texas' optional holidays).
    not_counted: tuple[str, ...] = ()

    def days(self, years: list[int]) -> tuple[set[int], set[dt.date], set[dt.date]]:
        import holidays

        cls = holidays.country_holidays(self.country, subdiv=self.subdiv, years=[], observed=self.observed)
        covered = {y for y in years if cls.start_year <= y <= cls.end_year}
        if not covered:
            return covered, set(), set()
        h = holidays.country_holidays(self.country, subdiv=self.subdiv, years=sorted(covered),
                                      observed=self.observed)
        for name in self.not_counted:
            if h.get_named(name, lookup="exact"):
                # exact: a date that is also another holiday (Good Friday on San Jacinto Day) stays off
                h.pop_named(name, lookup="exact")
        return covered, set(h.keys()), set()


@dataclass(frozen=True)
class ChineseCalendarSource:
    """Mainland China from `chinesecalendar`, 调休 included."""

    def days(self, years: list[int]) -> tuple[set[int], set[dt.date], set[dt.date]]:
        import chinese_calendar

        covered: set[int] = set()
        off: set[dt.date] = set()
        on: set[dt.date] = set()
        for y in years:
            first, last = dt.date(y, 1, 1), dt.date(y, 12, 31)
            try:
                workdays = set(chinese_calendar.get_workdays(first, last, include_weekends=True))
            except NotImplementedError:  # a year the State Council has not published (yet)
                continue
            covered.add(y)
            for d in chinese_calendar.get_dates(first, last):
                if d in workdays:
                    if d.weekday() >= 5:
                        on.add(d)
                elif d.weekday() < 5:
                    off.add(d)
        return covered, off, on


CALENDAR_SOURCES: dict[str, HolidaysSource | ChineseCalendarSource] = {
    "CN": ChineseCalendarSource(),
    # Gov't Code §662.003(a)-(b); (c)'s optional holidays and observed shifts do not count.
    "US-TX": HolidaysSource("US", "TX", observed=False, not_counted=("Good Friday", "Cesar Chavez Day")),
    "US-CA": HolidaysSource("US", "CA"),
    # bank holidays of England, substitute days included
    "UK-ENG": HolidaysSource("GB", "ENG"),
}
assert set(CALENDAR_SOURCES) == set(CALENDAR_IDS)


@dataclass(frozen=True)
class CalendarDays:
    """One calendar over [first, first + len): day i is `first + i`."""
    calendar: str
    first: np.datetime64          # datetime64[D]
    working: np.ndarray           # bool: a working day the calendar covers
    covered: np.ndarray           # bool: the package or an override covers the day

    def __len__(self) -> int:
        return len(self.working)


def _day_index(days: set[dt.date], first: np.datetime64, n: int) -> np.ndarray:
    if not days:
        return np.zeros(0, dtype=np.int64)
    idx = (np.array(sorted(days), dtype="datetime64[D]") - first).astype(np.int64)
    return idx[(idx >= 0) & (idx < n)]


def build_calendar(calendar: str, first: dt.date, last: dt.date,
                   override: CalendarOverride | None = None) -> CalendarDays:
    """The working and covered days of `calendar` from `first` to `last` inclusive."""
    start = np.datetime64(first, "D")
    n = int((np.datetime64(last, "D") - start).astype(np.int64)) + 1
    dates = start + np.arange(n)
    weekday = (dates.astype(np.int64) + _EPOCH_WEEKDAY) % 7
    years_of_day = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    years = list(range(first.year, last.year + 1))

    covered_years, off, on = CALENDAR_SOURCES[calendar].days(years)
    if override is not None:
        covered_years = covered_years | set(override.years)
        off = (off - set(override.workdays)) | set(override.holidays)
        on = (on - set(override.holidays)) | set(override.workdays)
    working = weekday < 5
    working[_day_index(off, start, n)] = False
    working[_day_index(on, start, n)] = True
    covered = np.isin(years_of_day, np.array(sorted(covered_years), dtype=np.int64))
    return CalendarDays(calendar, start, working & covered, covered)


def calendar_versions() -> dict[str, str]:
    """Installed versions of the calendar packages, recorded with each run."""
    out = {}
    for dist in ("chinesecalendar", "holidays"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "missing"
    return out
