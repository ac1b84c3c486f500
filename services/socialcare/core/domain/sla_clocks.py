"""SLA clock arithmetic: start, pause, resume, stop, and how much of the target is used.

A clock measures one promise (first response, next response, resolution) on a business
calendar. Routing owns the clocks (it changes them on the case as messages, replies and
resolutions arrive) and the sla service reads them to fire warnings and breaches at the
instants stored here, so both must agree on the arithmetic: it lives here, once.

Pure: no I/O, `at` passed in, calendars passed in (None = round the clock). The functions
change the given `SlaClock` in place (routing works on a copy of the case) and say whether
anything changed, so a caller can skip emitting an event for a no-op.

Accounting: `consumed_seconds` holds the open (calendar) seconds used before the current
run; a run starts at `run_started_at` (the start, or the last resume). `due_at` and
`warning_at` are the instants the remaining target (and each warning threshold) is used up
on the calendar, counted from the current run. Pausing folds the run into
`consumed_seconds`; resuming recomputes the instants for what is left. A clock that has
passed its target stays BREACHED while it runs on, and a stopped clock never changes again.
A clock of a case merged into another is cancelled (`cancel_clock`): stopped, CANCELLED,
counting neither met nor breached, unless its target was already used up (a breach that
happened stays a breach).

Records written before clocks had kinds and cycles (kind UNSPECIFIED, cycle 0) read as the
first first-response clock: `kind_of` / `cycle_of`.
"""

from __future__ import annotations

from datetime import datetime

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.calendars import (
    BusinessCalendar,
    add_open_seconds,
    open_seconds_between,
)
from socialcare.core.domain.sla_config import SlaPolicy
from socialcare.v1 import case_pb2

__all__ = [
    "FIRST_RESPONSE",
    "NEXT_RESPONSE",
    "RESOLUTION",
    "business_seconds",
    "cancel_clock",
    "cycle_of",
    "is_running",
    "is_stopped",
    "kind_of",
    "mark_at_risk",
    "mark_breached",
    "mark_warned",
    "pause_clock",
    "resume_clock",
    "start_clock",
    "stop_clock",
    "target_for",
]

FIRST_RESPONSE = case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE
NEXT_RESPONSE = case_pb2.SLA_CLOCK_KIND_NEXT_RESPONSE
RESOLUTION = case_pb2.SLA_CLOCK_KIND_RESOLUTION
RUNNING = case_pb2.SLA_STATE_RUNNING
PAUSED = case_pb2.SLA_STATE_PAUSED
MET = case_pb2.SLA_STATE_MET
BREACHED = case_pb2.SLA_STATE_BREACHED
CANCELLED = case_pb2.SLA_STATE_CANCELLED


def kind_of(clock: case_pb2.SlaClock) -> case_pb2.SlaClockKind.ValueType:
    """The clock's kind; records from before kinds existed are first-response clocks."""
    return clock.kind or FIRST_RESPONSE


def cycle_of(clock: case_pb2.SlaClock) -> int:
    """The clock's cycle; records from before cycles existed are cycle 1."""
    return clock.cycle or 1


def target_for(policy: SlaPolicy, kind: case_pb2.SlaClockKind.ValueType) -> float | None:
    """The policy's target in seconds for a clock of `kind`; None when it sets none (then
    no such clock runs)."""
    if kind == NEXT_RESPONSE:
        return policy.next_response_seconds
    if kind == RESOLUTION:
        return policy.resolution_seconds
    return policy.first_response_seconds


def is_stopped(clock: case_pb2.SlaClock) -> bool:
    """Stopped for good (answered, resolved), or never started (an unset clock). A record
    from before `stopped_at` existed counts as stopped once it is MET or has its answer."""
    if clock.HasField("stopped_at") or not clock.HasField("started_at"):
        return True
    return clock.state == MET or clock.HasField("first_response_at")


def is_running(clock: case_pb2.SlaClock) -> bool:
    """Counting time now: started, not stopped and not paused (a breached clock runs on)."""
    return not is_stopped(clock) and clock.state in (RUNNING, BREACHED)


def _run_start(clock: case_pb2.SlaClock) -> datetime:
    stamp = clock.run_started_at if clock.HasField("run_started_at") else clock.started_at
    return from_timestamp(stamp)


def _schedule(clock: case_pb2.SlaClock, calendar: BusinessCalendar | None, at: datetime) -> None:
    """Set due_at and warning_at for a run starting at `at`, from what is left of the target.
    Instants already passed (a threshold or the target used up before this run) keep their
    earlier value: they are history, not a schedule."""
    used = clock.consumed_seconds
    if clock.target_seconds > used or not clock.HasField("due_at"):
        due = add_open_seconds(calendar, at, max(clock.target_seconds - used, 0.0))
        clock.due_at.CopyFrom(to_timestamp(due))
    instants = list(clock.warning_at)
    del clock.warning_at[:]
    for index, threshold in enumerate(clock.warning_thresholds):
        mark = threshold * clock.target_seconds
        if mark > used or index >= len(instants):
            clock.warning_at.append(
                to_timestamp(add_open_seconds(calendar, at, max(mark - used, 0)))
            )
        else:
            clock.warning_at.append(instants[index])


def start_clock(
    *,
    kind: case_pb2.SlaClockKind.ValueType,
    cycle: int,
    policy: SlaPolicy,
    target_seconds: float,
    calendar_name: str,
    calendar: BusinessCalendar | None,
    at: datetime,
    team: str = "",
) -> case_pb2.SlaClock:
    """A clock of `kind` and `cycle` for `policy`, running from `at` towards
    `target_seconds` of open time on `calendar` (named `calendar_name`; "" = 24/7)."""
    clock = case_pb2.SlaClock(
        policy=policy.name,
        started_at=to_timestamp(at),
        run_started_at=to_timestamp(at),
        state=RUNNING,
        target_seconds=target_seconds,
        kind=kind,
        cycle=cycle,
        calendar=calendar_name,
        warning_thresholds=policy.warnings,
        team=team,
    )
    _schedule(clock, calendar, at)
    return clock


def pause_clock(clock: case_pb2.SlaClock, calendar: BusinessCalendar | None, at: datetime) -> bool:
    """Stand the clock still at `at` (awaiting the customer): the run's open seconds join
    `consumed_seconds`. False (no change) unless the clock is running."""
    if not is_running(clock):
        return False
    clock.consumed_seconds += open_seconds_between(calendar, _run_start(clock), at)
    clock.state = PAUSED
    clock.paused_at.CopyFrom(to_timestamp(at))
    clock.pauses += 1
    clock.at_risk = False
    return True


def resume_clock(clock: case_pb2.SlaClock, calendar: BusinessCalendar | None, at: datetime) -> bool:
    """Run a paused clock again from `at`, due when the rest of its target is used up.
    It runs on BREACHED if its target was used up before it paused. False unless paused."""
    if is_stopped(clock) or clock.state != PAUSED:
        return False
    clock.state = BREACHED if clock.consumed_seconds >= clock.target_seconds else RUNNING
    clock.run_started_at.CopyFrom(to_timestamp(at))
    clock.ClearField("paused_at")
    _schedule(clock, calendar, at)
    return True


def stop_clock(clock: case_pb2.SlaClock, calendar: BusinessCalendar | None, at: datetime) -> bool:
    """Stop the clock for good at `at`: MET if within target, else BREACHED (a breached
    clock stays BREACHED). A response clock also records `first_response_at` (the answer).
    False when it was stopped already."""
    if is_stopped(clock):
        return False
    if clock.state == PAUSED:
        within = clock.consumed_seconds <= clock.target_seconds
    else:
        clock.consumed_seconds += open_seconds_between(calendar, _run_start(clock), at)
        within = at <= from_timestamp(clock.due_at)
    if clock.state != BREACHED:
        clock.state = MET if within else BREACHED
    clock.stopped_at.CopyFrom(to_timestamp(at))
    if kind_of(clock) in (FIRST_RESPONSE, NEXT_RESPONSE):
        clock.first_response_at.CopyFrom(to_timestamp(at))
    clock.at_risk = False
    return True


def cancel_clock(clock: case_pb2.SlaClock, calendar: BusinessCalendar | None, at: datetime) -> bool:
    """Stop the clock for good at `at` because its case was merged into another: it measured
    nothing, so it turns CANCELLED (neither met nor breached) and records no answer. A
    clock whose target was used up by `at` (BREACHED, running past `due_at`, or paused with
    its target used) stops BREACHED as `stop_clock` would: a breach that happened stays a
    breach. False when it was stopped already (MET, BREACHED and stopped, CANCELLED)."""
    if is_stopped(clock):
        return False
    if clock.state == PAUSED:
        used_up = clock.consumed_seconds > clock.target_seconds
    else:
        clock.consumed_seconds += open_seconds_between(calendar, _run_start(clock), at)
        used_up = clock.state == BREACHED or at > from_timestamp(clock.due_at)
    clock.state = BREACHED if used_up else CANCELLED
    clock.stopped_at.CopyFrom(to_timestamp(at))
    clock.at_risk = False
    return True


def business_seconds(
    clock: case_pb2.SlaClock, calendar: BusinessCalendar | None, at: datetime
) -> float:
    """Open seconds the clock has counted by `at` (pauses and closed hours excluded)."""
    if not clock.HasField("started_at"):
        return 0.0
    if clock.HasField("stopped_at") or clock.state == PAUSED:
        return clock.consumed_seconds
    if is_stopped(clock):  # an old record: answered, without the accounting fields
        return open_seconds_between(
            calendar, _run_start(clock), from_timestamp(clock.first_response_at)
        )
    return clock.consumed_seconds + open_seconds_between(calendar, _run_start(clock), at)


def mark_warned(clock: case_pb2.SlaClock, threshold: float) -> bool:
    """Record that the WARNING for `threshold` fired; False if already recorded or the
    clock has stopped."""
    if is_stopped(clock) or any(abs(w - threshold) < 1e-9 for w in clock.warned):
        return False
    clock.warned.append(threshold)
    return True


def mark_breached(clock: case_pb2.SlaClock) -> bool:
    """Apply a BREACHED event: a running clock turns BREACHED. A paused clock keeps PAUSED
    (it turns BREACHED when it resumes, if its target was used up); a stopped one is final."""
    if is_stopped(clock) or clock.state != RUNNING:
        return False
    clock.state = BREACHED
    return True


def mark_at_risk(clock: case_pb2.SlaClock) -> bool:
    """Apply an AT_RISK event: flag a running clock (cleared when it pauses or stops)."""
    if not is_running(clock) or clock.at_risk:
        return False
    clock.at_risk = True
    return True
