"""Business-hours calendars: which instants count towards an SLA clock.

A promise like "first response within 4 business hours" counts only the hours a team is
open: weekly opening hours in the team's own time zone, minus holidays (whole local days).
Hours are written as local wall-clock times, so they follow daylight saving time: a team
open 09:00-17:00 in Europe/Amsterdam opens at 08:00 UTC in winter and 07:00 UTC in summer,
and a day that is open round the clock lasts 23 or 25 hours on the days the clocks change.
A local time the change skips (02:30 on a spring-forward night) is read as the instant the
clocks jump; one that occurs twice (autumn) as its first occurrence.

Pure: no I/O and no "now"; every instant is an aware datetime, and results are in UTC.
`add` and `open_seconds` walk day by day and jump whole weeks when nothing irregular (a
holiday, a clock change) falls in them, so a target of weeks costs a handful of steps.
`None` stands for 24/7 throughout (`add_open_seconds`, `open_seconds_between`): plain time
arithmetic, which is also what `ROUND_THE_CLOCK` does.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "ROUND_THE_CLOCK",
    "ROUND_THE_CLOCK_NAME",
    "WEEKDAYS",
    "BusinessCalendar",
    "add_open_seconds",
    "open_seconds_between",
    "parse_hours",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ROUND_THE_CLOCK_NAME = "24/7"
_DAY_MINUTES = 24 * 60
_WEEK = timedelta(days=7)
_HOURS = re.compile(r"^\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")

# Opening hours of one weekday: (start, end) minutes after local midnight, sorted, disjoint.
DayHours = tuple[tuple[int, int], ...]


def _minute(hours: str, minutes: str, text: str) -> int:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m != 0):
        raise ValueError(f"{text!r}: {hours}:{minutes} is not a time of day (00:00-24:00)")
    return h * 60 + m


def _interval(text: str) -> tuple[int, int]:
    match = _HOURS.match(text)
    if not match:
        raise ValueError(f"{text!r} is not opening hours like '08:00-20:00' (HH:MM-HH:MM)")
    start = _minute(match.group(1), match.group(2), text)
    end = _minute(match.group(3), match.group(4), text)
    if start >= end:
        raise ValueError(
            f"{text!r}: the end must come after the start on the same day "
            "(split a night shift over two days, ending at 24:00)"
        )
    return start, end


def parse_hours(hours: Mapping[str, str | Sequence[str]]) -> tuple[DayHours, ...]:
    """Weekly opening hours from `{mon: "08:00-20:00", sat: ["10:00-12:00", ...]}`.

    A weekday left out is closed. Intervals of one day may touch (they merge) but not
    overlap: an overlap is almost always a typo. ValueError says which day is wrong."""
    week: list[DayHours] = []
    unknown = sorted(set(hours) - set(WEEKDAYS))
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a weekday ({', '.join(WEEKDAYS)})")
    for day in WEEKDAYS:
        value = hours.get(day, ())
        texts = [value] if isinstance(value, str) else list(value)
        try:
            intervals = sorted(_interval(text) for text in texts)
        except ValueError as exc:
            raise ValueError(f"{day}: {exc}") from None
        merged: list[tuple[int, int]] = []
        for start, end in intervals:
            if merged and start < merged[-1][1]:
                raise ValueError(f"{day}: opening hours overlap ({', '.join(texts)})")
            if merged and start == merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        week.append(tuple(merged))
    return tuple(week)


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekly opening hours in a time zone, minus holidays.

    `week[i]` holds the hours of weekday i (Monday = 0) as minutes after local midnight.
    ValueError at construction for a week without any open hours: such a clock could never
    come due, which is a configuration mistake, not a policy."""

    name: str
    zone: ZoneInfo
    week: tuple[DayHours, ...]
    holidays: frozenset[date] = frozenset()
    _holidays_sorted: tuple[date, ...] = field(init=False, repr=False, compare=False)
    _week_seconds: float = field(init=False, repr=False, compare=False)
    _always: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError(f"calendar {self.name!r}: opening hours for 7 weekdays are needed")
        week_minutes = sum(end - start for day in self.week for start, end in day)
        if week_minutes == 0:
            raise ValueError(
                f"calendar {self.name!r} has no open hours: an SLA clock on it would never come due"
            )
        object.__setattr__(self, "_holidays_sorted", tuple(sorted(self.holidays)))
        object.__setattr__(self, "_week_seconds", week_minutes * 60.0)
        always = not self.holidays and all(day == ((0, _DAY_MINUTES),) for day in self.week)
        object.__setattr__(self, "_always", always)

    @classmethod
    def from_hours(
        cls,
        name: str,
        time_zone: str,
        hours: Mapping[str, str | Sequence[str]],
        holidays: Iterable[date] = (),
    ) -> BusinessCalendar:
        """A calendar from configuration-style hours (see `parse_hours`)."""
        return cls(name, ZoneInfo(time_zone), parse_hours(hours), frozenset(holidays))

    @property
    def round_the_clock(self) -> bool:
        """Open every minute of every day: plain time arithmetic applies."""
        return self._always

    # -- instants of one local day ------------------------------------------------------------
    def _instant(self, day: date, minute: int) -> datetime:
        """The UTC instant of local wall time `minute` on `day` (see the module docstring
        for times that a clock change skips or repeats)."""
        wall = datetime.combine(day, time()) + timedelta(minutes=minute)
        instant = wall.replace(tzinfo=self.zone).astimezone(UTC)
        if instant.astimezone(self.zone).replace(tzinfo=None) == wall:
            return instant
        # Skipped by a spring-forward change: the jump happens between the two readings of
        # the wall time (with the offset after, and before, the change). Bisect to it.
        low = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        high = instant
        if low > high:
            low, high = high, low
        while high - low > timedelta(seconds=1):
            middle = low + (high - low) / 2
            if middle.astimezone(self.zone).replace(tzinfo=None) < wall:
                low = middle
            else:
                high = middle
        return high.replace(microsecond=0)

    def _open_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of local date `day`, as UTC instants."""
        if day in self.holidays:
            return []
        return [
            (self._instant(day, start), self._instant(day, end))
            for start, end in self.week[day.weekday()]
        ]

    def _local_date(self, at: datetime) -> date:
        return _aware(at).astimezone(self.zone).date()

    def _regular_week(self, day: date) -> bool:
        """Whether the 7 local days from `day` hold exactly the nominal weekly hours: no
        holiday among them and one UTC offset at every midnight from `day` to a week later
        (no clock change; zones change their clocks at most once a day)."""
        index = bisect.bisect_left(self._holidays_sorted, day)
        if index < len(self._holidays_sorted) and self._holidays_sorted[index] < day + _WEEK:
            return False
        offsets = {
            datetime.combine(day + timedelta(days=n), time(), tzinfo=self.zone).utcoffset()
            for n in range(8)
        }
        return len(offsets) == 1

    # -- queries ------------------------------------------------------------------------------
    def is_open(self, at: datetime) -> bool:
        """Whether `at` falls within opening hours (start inclusive, end exclusive)."""
        if self._always:
            return True
        at = _aware(at)
        return any(start <= at < end for start, end in self._open_intervals(self._local_date(at)))

    def next_open(self, at: datetime) -> datetime:
        """`at` itself if open, else the instant the calendar next opens (UTC)."""
        at = _aware(at)
        if self._always:
            return at.astimezone(UTC)
        day = self._local_date(at)
        while True:  # ends: the week has open hours and holidays are finitely many
            for start, end in self._open_intervals(day):
                if at < end:
                    return max(start, at.astimezone(UTC))
            day += timedelta(days=1)

    def add(self, start: datetime, seconds: float) -> datetime:
        """The earliest instant at which `seconds` of open time have passed since `start`.

        `add(start, 0)` is `start`. The result is within (or at the end of) an open
        interval: a target used up exactly at closing time comes due at closing time."""
        start = _aware(start).astimezone(UTC)
        if seconds <= 0:
            return start
        if self._always:
            return start + timedelta(seconds=seconds)
        remaining = float(seconds)
        day = self._local_date(start)
        first = True
        while True:
            # From a local midnight, a regular week holds exactly the nominal hours; jump it
            # while more than a week remains (strictly: a target used up at a closing time
            # must land on that closing time, not on the next midnight).
            while not first and remaining > self._week_seconds and self._regular_week(day):
                remaining -= self._week_seconds
                day += _WEEK
            first = False
            for open_at, close_at in self._open_intervals(day):
                if close_at <= start:
                    continue
                begin = max(open_at, start)
                available = (close_at - begin).total_seconds()
                if remaining <= available:
                    return begin + timedelta(seconds=remaining)
                remaining -= available
            day += timedelta(days=1)

    def open_seconds(self, start: datetime, end: datetime) -> float:
        """Seconds of open time in [start, end); 0 when end is not after start."""
        start, end = _aware(start).astimezone(UTC), _aware(end).astimezone(UTC)
        if end <= start:
            return 0.0
        if self._always:
            return (end - start).total_seconds()
        total = 0.0
        day, last = self._local_date(start), self._local_date(end)
        first = True
        while day <= last:
            if not first:
                while day + _WEEK <= last and self._regular_week(day):
                    total += self._week_seconds
                    day += _WEEK
            first = False
            for open_at, close_at in self._open_intervals(day):
                begin, finish = max(open_at, start), min(close_at, end)
                if finish > begin:
                    total += (finish - begin).total_seconds()
            day += timedelta(days=1)
        return total


ROUND_THE_CLOCK = BusinessCalendar(
    ROUND_THE_CLOCK_NAME, ZoneInfo("UTC"), tuple(((0, _DAY_MINUTES),) for _ in range(7))
)


def add_open_seconds(
    calendar: BusinessCalendar | None, start: datetime, seconds: float
) -> datetime:
    """`calendar.add(start, seconds)`, with None meaning 24/7."""
    return (calendar or ROUND_THE_CLOCK).add(start, seconds)


def open_seconds_between(
    calendar: BusinessCalendar | None, start: datetime, end: datetime
) -> float:
    """`calendar.open_seconds(start, end)`, with None meaning 24/7."""
    return (calendar or ROUND_THE_CLOCK).open_seconds(start, end)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"{at.isoformat()} has no time zone: pass aware datetimes")
    return at
