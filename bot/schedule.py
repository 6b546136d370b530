"""When digests are due, and which stretch of time each one covers. Pure: no clock, no I/O.

A digest is due once a week at a wall-clock time on a weekday in a time zone (default Monday 09:00 UTC) and covers
the week that ends then: from the same weekday and time one week earlier (inclusive) to the due moment (exclusive).
Across a daylight-saving change that week is 167 or 169 hours long, because both ends are wall-clock times.

Each period is named by the ISO week of its due day in the schedule's time zone ("2026-W53", "2027-W01"): one due
day per ISO week, so the name identifies the period and is the key that makes each channel's digest go out once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["WEEKDAYS", "Period", "Schedule", "parse_time", "parse_weekday", "parse_zone", "rolling_week"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEK = timedelta(days=7)
_UTC = ZoneInfo("UTC")


def parse_weekday(text: str) -> int:
    """0 for Monday ... 6 for Sunday, from a full or three-letter English name in any case."""
    name = text.strip().lower()
    for number, day in enumerate(WEEKDAYS):
        if name in {day, day[:3]}:
            return number
    raise ValueError(f'"{text}" is not a weekday; write monday ... sunday (or mon ... sun)')


def parse_time(text: str) -> time:
    """A wall-clock time written HH:MM (24-hour)."""
    match = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", text.strip())
    if match:
        return time(int(match[1]), int(match[2]))
    raise ValueError(f'"{text}" is not a time of day; write HH:MM in 24-hour time, such as 09:00 or 17:30')


def parse_zone(text: str) -> ZoneInfo:
    """An IANA time zone such as UTC or Europe/Berlin."""
    name = text.strip()
    try:
        if not name or name.startswith("/") or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory of zones, from the tzdata package
        raise ValueError(f'"{text}" is not a time zone; write an IANA name such as UTC or Europe/Berlin') from None


@dataclass(frozen=True)
class Period:
    """The stretch of time one digest covers: [start, end), both in UTC, and the name of the period."""

    key: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None or self.start >= self.end:
            raise ValueError("a period needs aware start < end")

    def weeks_before(self, count: int) -> list[Period]:
        """The `count` periods of the same length before this one, oldest first (for the trend line)."""
        length = self.end - self.start
        return [
            Period(key=f"{self.key}-{n}", start=self.start - n * length, end=self.end - n * length)
            for n in range(count, 0, -1)
        ]


@dataclass(frozen=True)
class Schedule:
    """A weekday (0 = Monday), a wall-clock time and a time zone."""

    weekday: int = 0
    at: time = time(9, 0)
    zone: ZoneInfo = _UTC

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError("weekday is 0 (Monday) to 6 (Sunday)")

    def _due_on(self, day: date) -> datetime:
        # A wall-clock time skipped by a DST change (02:30 on the spring-forward night) resolves to the instant an
        # hour later; one that happens twice (autumn) to its first occurrence: fold=0 in both cases.
        return datetime.combine(day, self.at, tzinfo=self.zone).astimezone(UTC)

    def latest_due(self, now: datetime) -> Period:
        """The most recent period whose digest is due at or before `now` (the one to send, or to catch up on)."""
        return self._period(self._latest_due_day(now))

    def next_due(self, now: datetime) -> datetime:
        """The first due moment after `now`, in UTC."""
        # From the due day, not from the due moment's date: a DST gap can push the moment past local midnight.
        return self._due_on(self._latest_due_day(now) + WEEK)

    def _latest_due_day(self, now: datetime) -> date:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        local = now.astimezone(self.zone)
        day = local.date() - timedelta(days=(local.weekday() - self.weekday) % 7)
        if self._due_on(day) > now:
            day -= WEEK
        return day

    def _period(self, due_day: date) -> Period:
        year, week, _ = due_day.isocalendar()
        return Period(key=f"{year}-W{week:02d}", start=self._due_on(due_day - WEEK), end=self._due_on(due_day))

    def describe(self) -> str:
        """ "Monday 09:00 UTC", as messages say it."""
        return f"{WEEKDAYS[self.weekday].capitalize()} {self.at:%H:%M} {self.zone.key}"

    def spec(self) -> str:
        """ "monday 09:00 UTC": how the schedule is stored, read back by `Schedule.parse`."""
        return f"{WEEKDAYS[self.weekday]} {self.at:%H:%M} {self.zone.key}"

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """The schedule written as a weekday, a time and a time zone ("friday 16:00 Europe/Berlin"); ValueError
        naming the part that is not understood."""
        parts = text.split()
        if len(parts) != 3:
            raise ValueError(f'"{text}" is not a schedule; write a weekday, a time and a time zone')
        return cls(weekday=parse_weekday(parts[0]), at=parse_time(parts[1]), zone=parse_zone(parts[2]))


def rolling_week(now: datetime, zone: ZoneInfo) -> Period:
    """The seven days up to `now` (wall-clock days in `zone`), for a digest asked for on demand."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(zone)
    start = datetime.combine(local.date() - WEEK, local.timetz().replace(tzinfo=None), tzinfo=zone).astimezone(UTC)
    return Period(key="now", start=start, end=now.astimezone(UTC))
