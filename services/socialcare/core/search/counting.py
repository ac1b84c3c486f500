"""`SearchIndex.count`'s rules, shared by both backends so they count alike.

`check_count` validates a `CountQuery` against an index's fields (as `schema.check_query`
does for searches) and, for an interval, lays out the calendar intervals: their starts as
epoch milliseconds, each the local midnight that begins a day, a week (Monday) or a month
(the 1st) in the query's time zone, from the interval holding `since` to the one holding the
last moment before `until`. Elasticsearch's `date_histogram` with `calendar_interval` and
`time_zone` keys its buckets by the same instants; the embedded store bisects into them.

Every offset in today's time zone database is a whole number of quarter hours, so interval
starts fall on quarter hours (UTC) and the embedded store can count per quarter hour first;
a window whose starts do not (local mean time before 1900 or so) is refused.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from socialcare.core.search.base import (
    CountQuery,
    FieldKind,
    Interval,
    InvalidQueryError,
    SearchQuery,
)
from socialcare.core.search.schema import check_query, describe_value, normalise_value

__all__ = ["MAX_INTERVALS", "QUARTER_MS", "CheckedCount", "Intervals", "check_count"]

# Enough for every day of almost three years; a report over more asks per week or month.
MAX_INTERVALS: Final = 1000
QUARTER_MS: Final = 15 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Intervals:
    """The calendar intervals of a count: `starts[i]` (epoch ms) begins interval i, which
    ends where the next begins; `end` ends the last."""

    starts: list[int]
    end: int
    zone: ZoneInfo

    def index_of(self, millis: int) -> int | None:
        """The interval holding this instant, or None outside them all."""
        if millis >= self.end:
            return None
        position = bisect_right(self.starts, millis) - 1
        return position if position >= 0 else None

    def start_of(self, position: int) -> datetime:
        """The start of interval `position`, in the query's time zone."""
        return datetime.fromtimestamp(self.starts[position] / 1000, tz=self.zone)


@dataclass(frozen=True, slots=True)
class CheckedCount:
    """A validated count: normalised filters, the date bounds in epoch ms (or None), and
    the intervals (or None)."""

    by: str
    filters: list[tuple[str, FieldKind, list[object]]]
    date_field: str | None
    since: int | None
    until: int | None
    intervals: Intervals | None
    interval: Interval | None
    time_zone: str


def check_count(fields: Mapping[str, FieldKind], query: CountQuery) -> CheckedCount:
    """Validate a count against an index's fields; InvalidQueryError naming what is wrong."""
    if not isinstance(query.by, str) or fields.get(query.by) is not FieldKind.KEYWORD:
        raise InvalidQueryError(
            f"cannot count by {query.by!r}: only a keyword field of the index schema can be "
            "counted by"
        )
    filters = check_query(fields, SearchQuery(filters=query.filters)).filters
    date_field = query.date_field
    if date_field is not None and fields.get(date_field) is not FieldKind.DATE:
        raise InvalidQueryError(
            f"cannot count over {date_field!r}: it is not a date field of the index schema"
        )
    if date_field is None and (query.since is not None or query.until is not None):
        raise InvalidQueryError("since/until bound date_field: name the date field")
    since = _moment("since", query.since)
    until = _moment("until", query.until)
    if since is not None and until is not None and since >= until:
        raise InvalidQueryError("since must be before until")
    zone = _zone(query.time_zone)
    interval = query.interval
    intervals = None
    if interval is not None:
        try:
            interval = Interval(interval)
        except ValueError:
            raise InvalidQueryError(
                f"interval must be one of {', '.join(i.value for i in Interval)}, "
                f"not {describe_value(interval)}"
            ) from None
        if date_field is None or since is None or until is None:
            raise InvalidQueryError("an interval needs date_field, since and until")
        intervals = calendar_intervals(since, until, interval, zone)
    return CheckedCount(
        by=query.by,
        filters=filters,
        date_field=date_field,
        since=since,
        until=until,
        intervals=intervals,
        interval=interval,
        time_zone=zone.key,
    )


def calendar_intervals(since: int, until: int, interval: Interval, zone: ZoneInfo) -> Intervals:
    """The intervals from the one holding `since` to the one holding `until - 1` (epoch
    ms); InvalidQueryError past MAX_INTERVALS or off the quarter-hour grid."""
    day = _floor(_local_date(since, zone), interval)
    last = _local_date(until - 1, zone)
    starts: list[int] = []
    while day <= last:
        if len(starts) == MAX_INTERVALS:
            raise InvalidQueryError(
                f"more than {MAX_INTERVALS} {interval.value}s between since and until: "
                "narrow the window or count per a longer interval"
            )
        starts.append(_midnight_ms(day, zone))
        day = _next(day, interval)
    end = _midnight_ms(day, zone)
    if any(start % QUARTER_MS for start in (*starts, end)):
        raise InvalidQueryError(
            f"time zone {zone.key!r} is not a whole number of quarter hours from UTC in this "
            "window: intervals cannot be counted in it"
        )
    return Intervals(starts, end, zone)


def _moment(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        millis = normalise_value(FieldKind.DATE, value)
    except ValueError as error:
        raise InvalidQueryError(f"{name}: {error}") from None
    assert isinstance(millis, int)
    return millis


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name or len(name) > 100:
        raise InvalidQueryError(f"time_zone must be an IANA name, not {describe_value(name)}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidQueryError(
            f"unknown time_zone {name!r}: use an IANA name such as UTC or Europe/Amsterdam"
        ) from None


def _local_date(millis: int, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(millis / 1000, tz=UTC).astimezone(zone).date()


def _floor(day: date, interval: Interval) -> date:
    if interval is Interval.WEEK:
        return day - timedelta(days=day.weekday())
    if interval is Interval.MONTH:
        return day.replace(day=1)
    return day


def _next(day: date, interval: Interval) -> date:
    if interval is Interval.DAY:
        return day + timedelta(days=1)
    if interval is Interval.WEEK:
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _midnight_ms(day: date, zone: ZoneInfo) -> int:
    """The instant the local day begins. Where midnight does not exist (the clock jumps
    over it) the earlier offset applies, which names the instant the day's first local
    time begins, as Elasticsearch keys such a day."""
    moment = datetime(day.year, day.month, day.day, tzinfo=zone)
    return int(moment.timestamp() * 1000)
