"""Business calendars: open-time arithmetic across weekends, holidays and DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialcare.core.domain.calendars import (
    ROUND_THE_CLOCK,
    WEEKDAYS,
    BusinessCalendar,
    add_open_seconds,
    open_seconds_between,
    parse_hours,
)

AMS = ZoneInfo("Europe/Amsterdam")
TOR = ZoneInfo("America/Toronto")
OFFICE = {day: "09:00-17:00" for day in WEEKDAYS[:5]}


def office(zone: str = "Europe/Amsterdam", holidays: tuple[date, ...] = ()) -> BusinessCalendar:
    return BusinessCalendar.from_hours("office", zone, OFFICE, holidays)


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


# -- parsing -----------------------------------------------------------------------------------
def test_hours_parse_into_minutes_per_weekday_and_touching_intervals_merge() -> None:
    week = parse_hours({"mon": "08:00-20:00", "sat": ["13:00-16:00", "10:00-12:00", "12:00-13:00"]})
    assert week[0] == ((480, 1200),)
    assert week[5] == ((600, 960),)
    assert week[6] == ()


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"mon": "8:00-20:00"}, "HH:MM-HH:MM"),
        ({"mon": "08:00-25:00"}, "not a time of day"),
        ({"mon": "08:61-09:00"}, "not a time of day"),
        ({"mon": "20:00-08:00"}, "end must come after the start"),
        ({"mon": ["08:00-12:00", "11:00-13:00"]}, "overlap"),
        ({"monday": "08:00-12:00"}, "not a weekday"),
    ],
)
def test_bad_hours_are_named(hours: dict[str, str | list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hours(hours)


def test_a_calendar_without_open_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="no open hours"):
        BusinessCalendar.from_hours("never", "UTC", {})


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        office().add(datetime(2026, 1, 5, 9), 60)


# -- examples ------------------------------------------------------------------------------------
def test_a_target_runs_over_the_weekend() -> None:
    friday_4pm = local(AMS, 2026, 1, 9, 16)
    due = office().add(friday_4pm, 2 * 3600)
    assert due == local(AMS, 2026, 1, 12, 10)  # Monday 10:00: 1h on Friday, 1h on Monday


def test_a_clock_started_while_closed_counts_from_the_opening() -> None:
    saturday = local(AMS, 2026, 1, 10, 11)
    assert office().add(saturday, 1800) == local(AMS, 2026, 1, 12, 9, 30)
    assert office().next_open(saturday) == local(AMS, 2026, 1, 12, 9)


def test_a_target_used_up_at_closing_time_is_due_at_closing_time() -> None:
    monday_9 = local(AMS, 2026, 1, 12, 9)
    assert office().add(monday_9, 8 * 3600) == local(AMS, 2026, 1, 12, 17)
    assert office().add(monday_9, 40 * 3600) == local(AMS, 2026, 1, 16, 17)


def test_holidays_are_closed_whole_days() -> None:
    christmas = office(holidays=(date(2026, 12, 25),))
    thursday_4pm = local(AMS, 2026, 12, 24, 16)
    assert christmas.add(thursday_4pm, 2 * 3600) == local(AMS, 2026, 12, 28, 10)
    assert not christmas.is_open(local(AMS, 2026, 12, 25, 10))
    assert christmas.open_seconds(local(AMS, 2026, 12, 24), local(AMS, 2026, 12, 29)) == 16 * 3600


def test_office_hours_follow_summer_time() -> None:
    # Amsterdam: 09:00 local is 08:00 UTC in winter and 07:00 UTC in summer.
    assert office().next_open(datetime(2026, 1, 12, 0, tzinfo=UTC)) == datetime(
        2026, 1, 12, 8, tzinfo=UTC
    )
    assert office().next_open(datetime(2026, 7, 13, 0, tzinfo=UTC)) == datetime(
        2026, 7, 13, 7, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [
        ("Europe/Amsterdam", date(2026, 3, 29), date(2026, 10, 25)),
        ("America/Toronto", date(2026, 3, 8), date(2026, 11, 1)),
    ],
)
def test_a_day_open_round_the_clock_lasts_23_or_25_hours_on_dst_days(
    zone: str, spring: date, autumn: date
) -> None:
    tz = ZoneInfo(zone)
    always = BusinessCalendar.from_hours("local-24h", zone, dict.fromkeys(WEEKDAYS, "00:00-24:00"))

    def day_length(day: date) -> float:
        start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        return always.open_seconds(start, end)

    assert day_length(spring) == 23 * 3600
    assert day_length(autumn) == 25 * 3600
    assert day_length(spring - timedelta(days=1)) == 24 * 3600
    # 24 open hours from the spring day's midnight end at 01:00 local the next day.
    midnight = datetime.combine(spring, datetime.min.time(), tzinfo=tz)
    assert always.add(midnight, 24 * 3600) == datetime.combine(
        spring + timedelta(days=1), datetime.min.time(), tzinfo=tz
    ) + timedelta(hours=1)


def test_hours_skipped_by_spring_forward_start_at_the_jump() -> None:
    # Amsterdam, 29 March 2026: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    night = BusinessCalendar.from_hours("night", "Europe/Amsterdam", {"sun": "02:30-04:00"})
    sunday = datetime(2026, 3, 29, 0, tzinfo=UTC)
    assert night.next_open(sunday) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert night.open_seconds(sunday, sunday + timedelta(days=1)) == 3600  # 03:00-04:00 CEST


def test_toronto_office_over_the_autumn_change() -> None:
    # Toronto falls back on Sunday 1 November 2026: Friday 16:00 EDT + 2h = Monday 10:00 EST.
    due = office("America/Toronto").add(local(TOR, 2026, 10, 30, 16), 2 * 3600)
    assert due == local(TOR, 2026, 11, 2, 10)
    assert due == datetime(2026, 11, 2, 15, tzinfo=UTC)  # EST: UTC-5


def test_long_targets_jump_weeks_and_still_respect_holidays_and_dst() -> None:
    holidays = (date(2026, 4, 6), date(2026, 5, 14))
    cal = office(holidays=holidays)
    start = local(AMS, 2026, 3, 2, 9)  # a Monday in winter time
    due = cal.add(start, 20 * 40 * 3600)  # twenty working weeks
    # 20 weeks of Mon-Fri plus the two holidays' hours: Tuesday 21 July 17:00, summer time.
    assert due == local(AMS, 2026, 7, 21, 17)
    assert cal.open_seconds(start, due) == 20 * 40 * 3600


def test_round_the_clock_and_none_are_plain_arithmetic() -> None:
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert ROUND_THE_CLOCK.round_the_clock
    assert add_open_seconds(None, start, 7200) == start + timedelta(hours=2)
    assert add_open_seconds(ROUND_THE_CLOCK, start, 7200) == start + timedelta(hours=2)
    assert open_seconds_between(None, start, start + timedelta(days=3)) == 3 * 86400
    assert open_seconds_between(None, start, start - timedelta(days=3)) == 0
    assert ROUND_THE_CLOCK.is_open(start)
    assert ROUND_THE_CLOCK.next_open(start) == start


# -- properties ----------------------------------------------------------------------------------
ZONES = ["Europe/Amsterdam", "America/Toronto", "UTC", "Australia/Lord_Howe"]
QUARTER = timedelta(minutes=15)
BASE = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    hours: dict[str, list[str]] = {}
    for day in WEEKDAYS:
        cuts = sorted(draw(st.sets(st.integers(0, 96), max_size=4)))
        pairs = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
        hours[day] = [
            f"{a // 4:02d}:{a % 4 * 15:02d}-{b // 4:02d}:{b % 4 * 15:02d}" for a, b in pairs
        ]
    if not any(hours.values()):
        hours["wed"] = ["09:00-17:00"]
    days = draw(st.lists(st.integers(0, 400), max_size=6))
    holidays = {date(2026, 1, 1) + timedelta(days=d) for d in days}
    return BusinessCalendar.from_hours("drawn", draw(st.sampled_from(ZONES)), hours, holidays)


instants = st.integers(0, 330 * 96).map(lambda q: BASE + q * QUARTER)


def brute_open_seconds(cal: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Quarter-hour sampling: exact, as every drawn boundary falls on a UTC quarter-hour."""
    total, at = 0.0, start
    while at < end:
        total += 900 if cal.is_open(at) else 0
        at += QUARTER
    return total


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendars(), instants, st.integers(0, 40 * 96))
def test_open_seconds_matches_quarter_hour_sampling(
    cal: BusinessCalendar, start: datetime, quarters: int
) -> None:
    end = start + quarters * QUARTER
    assert cal.open_seconds(start, end) == brute_open_seconds(cal, start, end)


@settings(max_examples=150, deadline=None)
@given(calendars(), instants, st.floats(0, 90 * 86400, allow_nan=False))
def test_add_is_the_inverse_of_open_seconds(
    cal: BusinessCalendar, start: datetime, seconds: float
) -> None:
    due = cal.add(start, seconds)
    assert due >= start
    assert cal.open_seconds(start, due) == pytest.approx(seconds, abs=1e-3)
    if seconds >= 1:  # (datetimes resolve microseconds)
        # The earliest such instant: open time was still running just before it.
        assert cal.open_seconds(due - timedelta(seconds=1), due) > 0


@settings(max_examples=150, deadline=None)
@given(calendars(), instants, st.integers(0, 60 * 96))
def test_add_lands_on_or_before_the_end_with_nothing_open_between(
    cal: BusinessCalendar, start: datetime, quarters: int
) -> None:
    end = start + quarters * QUARTER
    landed = cal.add(start, cal.open_seconds(start, end))
    assert start <= landed <= end
    assert cal.open_seconds(landed, end) == 0


@settings(max_examples=100, deadline=None)
@given(calendars(), instants, st.floats(0, 30 * 86400), st.floats(0, 30 * 86400))
def test_add_is_monotonic(cal: BusinessCalendar, start: datetime, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert cal.add(start, low) <= cal.add(start, high)
    assert cal.add(start, high) <= cal.add(start + timedelta(hours=1), high)


@settings(max_examples=100, deadline=None)
@given(calendars(), instants)
def test_next_open_is_open_and_nothing_before_it_is(cal: BusinessCalendar, at: datetime) -> None:
    opens = cal.next_open(at)
    assert cal.is_open(opens)
    assert cal.open_seconds(at, opens) == 0
