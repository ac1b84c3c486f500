"""SLA clocks: start, pause, resume and stop on round-the-clock and business calendars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.calendars import WEEKDAYS, BusinessCalendar
from socialcare.core.domain.sla_clocks import (
    FIRST_RESPONSE,
    NEXT_RESPONSE,
    RESOLUTION,
    business_seconds,
    cancel_clock,
    cycle_of,
    is_running,
    is_stopped,
    kind_of,
    mark_at_risk,
    mark_breached,
    mark_warned,
    pause_clock,
    resume_clock,
    start_clock,
    stop_clock,
    target_for,
)
from socialcare.core.domain.sla_config import SlaPolicy
from socialcare.v1 import case_pb2

AMS = ZoneInfo("Europe/Amsterdam")
OFFICE = BusinessCalendar.from_hours(
    "office", "Europe/Amsterdam", dict.fromkeys(WEEKDAYS[:5], "09:00-17:00")
)
POLICY = SlaPolicy.model_validate(
    {
        "name": "p",
        "languages": ["*"],
        "first_response": "1h",
        "next_response": "2h",
        "resolution": "8h",
        "warnings": [0.5, 0.75],
    }
)
T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)


def when(stamp: object) -> datetime:
    return from_timestamp(stamp)  # type: ignore[arg-type]


def clock(
    target: float = 3600,
    *,
    calendar: BusinessCalendar | None = None,
    at: datetime = T0,
    kind: case_pb2.SlaClockKind.ValueType = FIRST_RESPONSE,
) -> case_pb2.SlaClock:
    return start_clock(
        kind=kind,
        cycle=1,
        policy=POLICY,
        target_seconds=target,
        calendar_name=calendar.name if calendar else "",
        calendar=calendar,
        at=at,
        team="Benelux",
    )


def test_a_started_clock_has_its_due_and_warning_instants() -> None:
    started = clock()
    assert started.state == case_pb2.SLA_STATE_RUNNING
    assert (started.kind, started.cycle, started.policy, started.team) == (
        FIRST_RESPONSE,
        1,
        "p",
        "Benelux",
    )
    assert when(started.due_at) == T0 + HOUR
    assert list(started.warning_thresholds) == [0.5, 0.75]
    assert [when(w) for w in started.warning_at] == [T0 + HOUR / 2, T0 + HOUR * 3 / 4]
    assert when(started.run_started_at) == T0
    assert is_running(started) and not is_stopped(started)


def test_a_clock_on_business_hours_is_due_in_open_time() -> None:
    friday_4pm = datetime(2026, 3, 6, 16, tzinfo=AMS)
    started = clock(2 * 3600, calendar=OFFICE, at=friday_4pm)
    assert started.calendar == "office"
    assert when(started.due_at) == datetime(2026, 3, 9, 10, tzinfo=AMS)
    assert when(started.warning_at[0]) == datetime(2026, 3, 6, 17, tzinfo=AMS)  # closing time
    assert when(started.warning_at[1]) == datetime(2026, 3, 9, 9, 30, tzinfo=AMS)
    monday_9_15 = datetime(2026, 3, 9, 9, 15, tzinfo=AMS)
    assert business_seconds(started, OFFICE, monday_9_15) == 3600 + 900


def test_stopping_in_time_is_met_and_late_is_breached() -> None:
    on_time = clock()
    assert stop_clock(on_time, None, T0 + HOUR)
    assert on_time.state == case_pb2.SLA_STATE_MET
    assert when(on_time.stopped_at) == T0 + HOUR
    assert when(on_time.first_response_at) == T0 + HOUR
    assert on_time.consumed_seconds == 3600
    assert not stop_clock(on_time, None, T0 + 2 * HOUR)  # final
    late = clock()
    stop_clock(late, None, T0 + HOUR + timedelta(seconds=1))
    assert late.state == case_pb2.SLA_STATE_BREACHED
    assert is_stopped(late) and not is_running(late)


def test_cancelling_a_running_or_paused_clock_counts_neither_met_nor_breached() -> None:
    running = clock()
    assert cancel_clock(running, None, T0 + HOUR / 2)
    assert running.state == case_pb2.SLA_STATE_CANCELLED
    assert when(running.stopped_at) == T0 + HOUR / 2
    assert not running.HasField("first_response_at")  # nobody answered
    assert running.consumed_seconds == 1800
    assert is_stopped(running) and not is_running(running)
    assert not cancel_clock(running, None, T0 + 2 * HOUR)  # final
    assert not stop_clock(running, None, T0 + 2 * HOUR)
    assert not mark_breached(running) and not mark_warned(running, 0.5)
    assert running.state == case_pb2.SLA_STATE_CANCELLED
    paused = clock(3 * 3600, kind=RESOLUTION)
    pause_clock(paused, None, T0 + HOUR)
    assert cancel_clock(paused, None, T0 + 30 * HOUR)
    assert paused.state == case_pb2.SLA_STATE_CANCELLED
    assert paused.consumed_seconds == 3600
    assert not resume_clock(paused, None, T0 + 31 * HOUR)


def test_cancelling_leaves_a_breach_that_happened_and_a_stopped_clock_alone() -> None:
    breached = clock()
    mark_breached(breached)
    assert cancel_clock(breached, None, T0 + 3 * HOUR)
    assert breached.state == case_pb2.SLA_STATE_BREACHED and breached.HasField("stopped_at")
    overdue = clock()  # past due, the BREACHED event not applied yet
    assert cancel_clock(overdue, None, T0 + HOUR + timedelta(seconds=1))
    assert overdue.state == case_pb2.SLA_STATE_BREACHED
    used_up = clock(3600, kind=RESOLUTION)
    pause_clock(used_up, None, T0 + 2 * HOUR)
    assert cancel_clock(used_up, None, T0 + 3 * HOUR)
    assert used_up.state == case_pb2.SLA_STATE_BREACHED
    met = clock()
    stop_clock(met, None, T0 + HOUR / 2)
    assert not cancel_clock(met, None, T0 + HOUR)
    assert met.state == case_pb2.SLA_STATE_MET
    assert when(met.stopped_at) == T0 + HOUR / 2


def test_a_breached_clock_runs_on_breached_and_stops_breached() -> None:
    breached = clock()
    assert mark_breached(breached)
    assert not mark_breached(breached)
    assert is_running(breached)
    stop_clock(breached, None, T0 + 3 * HOUR)
    assert breached.state == case_pb2.SLA_STATE_BREACHED
    assert business_seconds(breached, None, T0 + 5 * HOUR) == 3 * 3600


def test_pausing_keeps_the_time_used_and_resuming_moves_the_due_time() -> None:
    resolution = clock(8 * 3600, kind=RESOLUTION)  # warnings at 4h and 6h of use
    assert pause_clock(resolution, None, T0 + 5 * HOUR)
    assert resolution.state == case_pb2.SLA_STATE_PAUSED
    assert (resolution.consumed_seconds, resolution.pauses) == (5 * 3600, 1)
    assert when(resolution.paused_at) == T0 + 5 * HOUR
    assert not pause_clock(resolution, None, T0 + 6 * HOUR)  # already paused
    assert not is_running(resolution)
    assert business_seconds(resolution, None, T0 + 10 * HOUR) == 5 * 3600
    assert resume_clock(resolution, None, T0 + 10 * HOUR)
    assert not resume_clock(resolution, None, T0 + 11 * HOUR)  # running already
    assert resolution.state == case_pb2.SLA_STATE_RUNNING
    assert not resolution.HasField("paused_at")
    assert when(resolution.run_started_at) == T0 + 10 * HOUR
    assert when(resolution.due_at) == T0 + 13 * HOUR  # 3h left
    # The 4h warning passed before the pause (its instant is kept); the 6h one is 1h into
    # the new run.
    assert [when(w) for w in resolution.warning_at] == [T0 + 4 * HOUR, T0 + 11 * HOUR]
    assert business_seconds(resolution, None, T0 + 11 * HOUR) == 6 * 3600
    stop_clock(resolution, None, T0 + 13 * HOUR)
    assert resolution.state == case_pb2.SLA_STATE_MET
    assert resolution.consumed_seconds == 8 * 3600
    assert not resolution.HasField("first_response_at")  # not a response clock


def test_a_clock_paused_after_its_target_resumes_breached() -> None:
    resolution = clock(3600, kind=RESOLUTION)
    pause_clock(resolution, None, T0 + 2 * HOUR)
    assert not mark_breached(resolution)  # a late BREACHED event leaves it paused
    resume_clock(resolution, None, T0 + 5 * HOUR)
    assert resolution.state == case_pb2.SLA_STATE_BREACHED
    assert when(resolution.due_at) == T0 + HOUR  # when it fell due, unchanged


def test_a_clock_stopped_while_paused_is_judged_by_the_time_used() -> None:
    within = clock(3 * 3600, kind=RESOLUTION)
    pause_clock(within, None, T0 + HOUR)
    stop_clock(within, None, T0 + 30 * HOUR)
    assert within.state == case_pb2.SLA_STATE_MET
    assert within.consumed_seconds == 3600
    over = clock(3600, kind=RESOLUTION)
    pause_clock(over, None, T0 + 2 * HOUR)
    stop_clock(over, None, T0 + 3 * HOUR)
    assert over.state == case_pb2.SLA_STATE_BREACHED


def test_a_paused_business_clock_resumes_on_its_calendar() -> None:
    monday_9 = datetime(2026, 3, 9, 9, tzinfo=AMS)
    resolution = clock(8 * 3600, calendar=OFFICE, at=monday_9, kind=RESOLUTION)
    pause_clock(resolution, OFFICE, datetime(2026, 3, 9, 15, tzinfo=AMS))
    assert resolution.consumed_seconds == 6 * 3600
    resume_clock(resolution, OFFICE, datetime(2026, 3, 10, 7, tzinfo=AMS))  # before opening
    assert resolution.state == case_pb2.SLA_STATE_RUNNING
    assert when(resolution.due_at) == datetime(2026, 3, 10, 11, tzinfo=AMS)
    assert business_seconds(resolution, OFFICE, datetime(2026, 3, 10, 10, tzinfo=AMS)) == 7 * 3600


def test_a_clock_that_used_exactly_its_target_is_met_if_stopped_and_breached_if_resumed() -> None:
    monday_9 = datetime(2026, 3, 9, 9, tzinfo=AMS)
    used_up = clock(8 * 3600, calendar=OFFICE, at=monday_9, kind=RESOLUTION)
    pause_clock(used_up, OFFICE, datetime(2026, 3, 9, 20, tzinfo=AMS))  # after closing
    assert used_up.consumed_seconds == 8 * 3600
    stopped = case_pb2.SlaClock()
    stopped.CopyFrom(used_up)
    stop_clock(stopped, OFFICE, datetime(2026, 3, 10, 8, tzinfo=AMS))
    assert stopped.state == case_pb2.SLA_STATE_MET
    # Resumed, any further open second is over the target: it runs on breached.
    resume_clock(used_up, OFFICE, datetime(2026, 3, 10, 8, tzinfo=AMS))
    assert used_up.state == case_pb2.SLA_STATE_BREACHED
    assert when(used_up.due_at) == datetime(2026, 3, 9, 17, tzinfo=AMS)


def test_warnings_and_risk_marks_are_idempotent_and_end_with_the_clock() -> None:
    running = clock()
    assert mark_warned(running, 0.5)
    assert not mark_warned(running, 0.5)
    assert mark_at_risk(running)
    assert not mark_at_risk(running)
    assert list(running.warned) == [0.5]
    stop_clock(running, None, T0 + HOUR / 2)
    assert not running.at_risk
    assert not mark_warned(running, 0.75)
    assert not mark_at_risk(running)


def test_old_records_read_as_the_first_first_response_clock() -> None:
    old = case_pb2.SlaClock(
        policy="p",
        started_at=to_timestamp(T0),
        due_at=to_timestamp(T0 + HOUR),
        state=case_pb2.SLA_STATE_RUNNING,
        target_seconds=3600,
    )
    assert (kind_of(old), cycle_of(old)) == (FIRST_RESPONSE, 1)
    assert is_running(old)
    assert business_seconds(old, None, T0 + HOUR / 2) == 1800
    answered = case_pb2.SlaClock()
    answered.CopyFrom(old)
    answered.first_response_at.CopyFrom(to_timestamp(T0 + HOUR / 4))
    answered.state = case_pb2.SLA_STATE_MET
    assert is_stopped(answered)
    assert business_seconds(answered, None, T0 + 5 * HOUR) == 900
    assert is_stopped(case_pb2.SlaClock())  # unset: nothing runs
    assert stop_clock(old, None, T0 + HOUR / 2)
    assert old.state == case_pb2.SLA_STATE_MET


def test_targets_per_kind_come_from_the_policy() -> None:
    assert target_for(POLICY, FIRST_RESPONSE) == 3600
    assert target_for(POLICY, NEXT_RESPONSE) == 7200
    assert target_for(POLICY, RESOLUTION) == 8 * 3600
    bare = SlaPolicy.model_validate({"name": "b", "languages": ["*"], "first_response": "1h"})
    assert target_for(bare, NEXT_RESPONSE) is None
    assert target_for(bare, RESOLUTION) is None


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 14 * 96),
    st.lists(st.integers(1, 3 * 96), min_size=1, max_size=8),
    st.integers(1, 40 * 4),
)
def test_business_seconds_adds_up_the_runs_and_due_matches_the_target(
    start_q: int, gaps: list[int], target_q: int
) -> None:
    """Alternate runs and pauses on the office calendar: the time counted is the open time
    of the runs, and the clock is due exactly when that reaches the target."""
    start = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=15 * start_q)
    target = target_q * 900.0
    resolution = clock(target, calendar=OFFICE, at=start, kind=RESOLUTION)
    at, running, expected = start, True, 0.0
    for gap in gaps:
        later = at + timedelta(minutes=15 * gap)
        if running:
            expected += OFFICE.open_seconds(at, later)
            pause_clock(resolution, OFFICE, later)
        else:
            resume_clock(resolution, OFFICE, later)
            if expected < target:
                assert OFFICE.open_seconds(later, when(resolution.due_at)) == target - expected
        at, running = later, not running
        assert business_seconds(resolution, OFFICE, at) == expected
    if running:  # resumed last: breached if the runs before used the whole target up
        used_up = expected >= target
        assert resolution.state == (
            case_pb2.SLA_STATE_BREACHED if used_up else case_pb2.SLA_STATE_RUNNING
        )
    else:
        assert resolution.state == case_pb2.SLA_STATE_PAUSED
