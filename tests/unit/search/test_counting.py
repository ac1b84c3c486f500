"""`core.search.counting`: the calendar intervals both backends count into (local
midnights of days, Mondays and firsts of the month in a time zone, across DST changes),
and the checks of a `CountQuery`."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from socialcare.core.search import CountQuery, FieldKind, Interval, InvalidQueryError
from socialcare.core.search.counting import MAX_INTERVALS, calendar_intervals, check_count

AMS = ZoneInfo("Europe/Amsterdam")
FIELDS = {"intents": FieldKind.KEYWORD, "created_at": FieldKind.DATE, "n": FieldKind.NUMBER}


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def starts(since: str, until: str, interval: Interval, zone: ZoneInfo) -> list[str]:
    found = calendar_intervals(ms(since), ms(until), interval, zone)
    return [found.start_of(i).isoformat() for i in range(len(found.starts))]


def test_days_across_the_spring_and_autumn_changes() -> None:
    assert starts("2024-03-30T12:00:00+01:00", "2024-04-01T12:00:00+02:00", Interval.DAY, AMS) == [
        "2024-03-30T00:00:00+01:00",
        "2024-03-31T00:00:00+01:00",  # 23 hours long
        "2024-04-01T00:00:00+02:00",
    ]
    found = calendar_intervals(
        ms("2024-10-27T00:00:00+02:00"), ms("2024-10-28T00:00:00+01:00"), Interval.DAY, AMS
    )
    assert found.end - found.starts[0] == 25 * 3600 * 1000  # the 25-hour day


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    assert starts(
        "2024-12-31T10:00:00Z", "2025-01-07T00:00:00Z", Interval.WEEK, ZoneInfo("UTC")
    ) == [
        "2024-12-30T00:00:00+00:00",
        "2025-01-06T00:00:00+00:00",
    ]
    assert starts("2024-11-15T00:00:00Z", "2025-02-01T00:00:00+01:00", Interval.MONTH, AMS) == [
        "2024-11-01T00:00:00+01:00",
        "2024-12-01T00:00:00+01:00",
        "2025-01-01T00:00:00+01:00",
    ]


def test_the_interval_of_an_instant() -> None:
    found = calendar_intervals(
        ms("2024-03-30T00:00:00+01:00"), ms("2024-04-02T00:00:00+02:00"), Interval.DAY, AMS
    )
    assert found.index_of(ms("2024-03-30T23:59:59+01:00")) == 0
    assert found.index_of(ms("2024-03-31T00:00:00+01:00")) == 1
    assert found.index_of(ms("2024-03-31T23:30:00+02:00")) == 1
    assert found.index_of(ms("2024-04-01T00:00:00+02:00")) == 2
    assert found.index_of(found.end) is None
    assert found.index_of(found.starts[0] - 1) is None


def test_a_midnight_the_clock_skips_starts_the_day_at_its_first_local_time() -> None:
    # Santiago moved its clocks from 00:00 to 01:00 on 8 September 2024.
    santiago = ZoneInfo("America/Santiago")
    found = calendar_intervals(
        ms("2024-09-07T12:00:00-04:00"), ms("2024-09-08T12:00:00-03:00"), Interval.DAY, santiago
    )
    second = datetime.fromtimestamp(found.starts[1] / 1000, tz=UTC)
    assert second == datetime(2024, 9, 8, 4, 0, tzinfo=UTC)  # 01:00 local, -03:00


def test_an_offset_off_the_quarter_hour_grid_is_refused() -> None:
    # Amsterdam's mean time before 1937 was +00:19:32.
    with pytest.raises(InvalidQueryError, match="quarter hours"):
        calendar_intervals(
            ms("1930-01-01T00:00:00Z"), ms("1930-01-03T00:00:00Z"), Interval.DAY, AMS
        )


def test_at_most_max_intervals() -> None:
    since = ms("2024-01-01T00:00:00Z")
    day = 86_400_000
    utc = ZoneInfo("UTC")
    assert len(
        calendar_intervals(since, since + MAX_INTERVALS * day, Interval.DAY, utc).starts
    ) == (MAX_INTERVALS)
    with pytest.raises(InvalidQueryError, match="narrow the window"):
        calendar_intervals(since, since + MAX_INTERVALS * day + 1, Interval.DAY, utc)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        (CountQuery(by="n"), "keyword field"),
        (CountQuery(by="intents", date_field="n"), "not a date field"),
        (CountQuery(by="intents", until="2024-01-01"), "name the date field"),
        (
            CountQuery(
                by="intents", date_field="created_at", since="2024-02-01", until="2024-01-01"
            ),
            "before until",
        ),
        (CountQuery(by="intents", date_field="created_at", interval=Interval.WEEK), "needs"),
        (CountQuery(by="intents", time_zone=""), "IANA"),
        (CountQuery(by="intents", time_zone="Europe/Atlantis"), "unknown time_zone"),
        (CountQuery(by="intents", filters={"nope": "x"}), "no such field"),
    ],
)
def test_bad_counts_say_what_is_wrong(query: CountQuery, words: str) -> None:
    with pytest.raises(InvalidQueryError, match=words):
        check_count(FIELDS, query)


def test_a_checked_count_has_its_bounds_in_epoch_millis() -> None:
    checked = check_count(
        FIELDS,
        CountQuery(
            by="intents",
            filters={"intents": ["billing", "outage"]},
            date_field="created_at",
            since="2024-01-01",
            until="2024-01-08T00:00:00+01:00",
            interval=Interval.DAY,
            time_zone="Europe/Amsterdam",
        ),
    )
    assert (checked.since, checked.until) == (
        ms("2024-01-01T00:00:00Z"),
        ms("2024-01-07T23:00:00Z"),
    )
    assert checked.intervals is not None and len(checked.intervals.starts) == 7  # 1..7 Jan
    assert checked.filters == [("intents", FieldKind.KEYWORD, ["billing", "outage"])]
