"""PVE calendar events (``pve-calendar-event``, a subset of systemd's), parsed and evaluated.

Accepted, as proxmox-time accepts them: the keywords ``minutely hourly daily weekly monthly yearly
annually quarterly semiannually``; otherwise ``[WEEKDAYS] [[YYYY-]MM-DD] [HH:MM[:SS] | MM]`` where
weekdays are names (``mon``..``sun``, full names too) with lists (``,``) and ranges (``..``), and each
numeric component is ``*``, a value, a range ``a..b`` or a repetition ``a/step`` (``*/15``), in lists.
A lone number or ``*/N`` is minutes. Times are the node's local time; simulated nodes run on UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KEYWORDS = {
    "minutely": "*:*",
    "hourly": "*:0",
    "daily": "0:0",
    "weekly": "mon 0:0",
    "monthly": "*-1 0:0",
    "yearly": "*-1-1 0:0",
    "annually": "*-1-1 0:0",
    "quarterly": "*-1,4,7,10-1 0:0",
    "semiannually": "*-1,7-1 0:0",
}
SEARCH_DAYS = 366 * 5


class CalendarEventError(ValueError):
    """Text that is not a calendar event; the message is PVE's."""


@dataclass(frozen=True)
class CalendarEvent:
    """The sets of values an event matches (None: any)."""

    weekdays: frozenset[int]
    years: frozenset[int] | None
    months: frozenset[int] | None
    days: frozenset[int] | None
    hours: frozenset[int]
    minutes: frozenset[int]
    seconds: frozenset[int]

    def matches_date(self, day: dt.date) -> bool:
        return (
            day.weekday() in self.weekdays
            and (self.years is None or day.year in self.years)
            and (self.months is None or day.month in self.months)
            and (self.days is None or day.day in self.days)
        )

    def next_after(self, after: float) -> float | None:
        """The first matching time strictly after ``after`` (epoch seconds), or None within five years."""
        start = dt.datetime.fromtimestamp(int(after) + 1, dt.UTC)
        for offset in range(SEARCH_DAYS):
            day = start.date() + dt.timedelta(days=offset)
            if not self.matches_date(day):
                continue
            floor = start.time() if offset == 0 else dt.time(0, 0, 0)
            for hour in sorted(self.hours):
                if hour < floor.hour:
                    continue
                for minute in sorted(self.minutes):
                    if (hour, minute) < (floor.hour, floor.minute):
                        continue
                    for second in sorted(self.seconds):
                        if (hour, minute, second) < (floor.hour, floor.minute, floor.second):
                            continue
                        moment = dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=dt.UTC)
                        return moment.timestamp()
        return None


def parse(text: str) -> CalendarEvent:
    """Parse ``text`` or raise :class:`CalendarEventError` with PVE's message."""
    spec = text.strip().lower()
    if not spec:
        raise CalendarEventError("unable to parse calendar event - event string is empty")
    spec = KEYWORDS.get(spec, spec)
    try:
        return _parse(spec)
    except (ValueError, IndexError):
        raise CalendarEventError(f"unable to parse calendar event - invalid calendar event '{text}'") from None


def _parse(spec: str) -> CalendarEvent:
    parts = spec.split()
    weekdays = frozenset(range(7))
    if parts and re.match(r"^[a-z]", parts[0]):
        weekdays = _weekdays(parts.pop(0))
    years = months = days = None
    if parts and "-" in parts[0]:
        date = parts.pop(0).split("-")
        if len(date) == 3:
            years = _values(date.pop(0), 1970, 2199)
        if len(date) != 2:
            raise ValueError("date")
        months, days = _values(date[0], 1, 12), _values(date[1], 1, 31)
    hours, minutes, seconds = frozenset(range(24)), frozenset([0]), frozenset([0])
    if parts:
        clock = parts.pop(0).split(":")
        if len(clock) == 1:
            minutes = _values(clock[0], 0, 59)
        elif len(clock) in (2, 3):
            hours, minutes = _values(clock[0], 0, 23), _values(clock[1], 0, 59)
            if len(clock) == 3:
                seconds = _values(clock[2], 0, 59)
        else:
            raise ValueError("time")
    elif (years is None and months is None and weekdays != frozenset(range(7))) or months is not None:
        hours = frozenset([0])
    if parts:
        raise ValueError("trailing")
    return CalendarEvent(weekdays, years, months, days, hours, minutes, seconds)


def _weekdays(text: str) -> frozenset[int]:
    out: set[int] = set()
    for item in text.split(","):
        ends = [_weekday(x) for x in item.split("..")]
        if len(ends) == 1:
            out.add(ends[0])
        elif len(ends) == 2:
            first, last = ends
            out.update(range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)])
        else:
            raise ValueError(item)
    return frozenset(out)


def _weekday(text: str) -> int:
    for index, name in enumerate(WEEKDAYS):
        if text[:3] == name and (len(text) == 3 or (name.startswith(text[:3]) and text.endswith("day"))):
            return index
    raise ValueError(text)


def _values(text: str, low: int, high: int) -> frozenset[int]:
    out: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 0
        if step_text and step <= 0:
            raise ValueError(item)
        if base == "*":
            first, last = low, high
        elif ".." in base:
            first, last = (int(x) for x in base.split(".."))
        else:
            first = int(base)
            last = high if step else first
        if not low <= first <= last <= high:
            raise ValueError(item)
        out.update(range(first, last + 1, step or 1))
    return frozenset(out)
