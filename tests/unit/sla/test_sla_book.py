"""The SLA book: milestones of both clocks from case snapshots, warnings and breaches from
timers (running clocks only, once), labels on every event, and the gauges' counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from socialcare.core.clock import from_timestamp
from socialcare.core.events import derived_id
from socialcare.sla.domain import RESPONSE_SLOT, PublishedIds, SlaBook, sla_event_id
from socialcare.v1 import case_pb2, sla_pb2
from tests.unit.sla.lives import FR, NR, RES, Life, ids, minutes

T = sla_pb2.SlaEventType


def kinds(events: Sequence[sla_pb2.SlaEvent]) -> list[tuple[str, int, int, str]]:
    """(type, clock, cycle, detail) of each event, in order."""
    out: list[tuple[str, int, int, str]] = []
    for event in events:
        detail = f"{event.threshold:g}" if event.type == sla_pb2.SLA_EVENT_TYPE_WARNING else ""
        out.append(
            (T.Name(event.type).removeprefix("SLA_EVENT_TYPE_"), event.clock, event.cycle, detail)
        )
    return out


@pytest.fixture
def life() -> Life:
    return Life()


def test_opening_starts_both_clocks_with_the_case_labels(life: Life) -> None:
    book = SlaBook()
    started = book.on_case(life.open(minutes(0)))
    assert kinds(started) == [("STARTED", FR, 1, ""), ("STARTED", RES, 1, "")]
    first = started[0]
    assert first.event_id == sla_event_id("c1", FR, 1, "started")
    assert (first.language, first.queue, first.priority, first.brand) == (
        "en",
        "care-en",
        "normal",
        "acme",
    )
    assert (first.team, first.customer_tier, first.policy) == ("Care", "gold", "en-care")
    assert (first.target_seconds, first.business_seconds, first.elapsed_seconds) == (3600, 0, 0)
    assert from_timestamp(first.due_at) == minutes(60)
    assert started[1].target_seconds == 86400


def test_warnings_then_the_breach_fire_once_each_at_their_instants(life: Life) -> None:
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    book.on_case(life.assign("olivia", minutes(1)))
    assert book.due(minutes(45) - timedelta(milliseconds=1)) == []
    [warning] = book.due(minutes(45))
    assert kinds([warning]) == [("WARNING", FR, 1, "0.75")]
    assert warning.event_id == life.warning_id(False, 0.75)
    assert (warning.business_seconds, warning.elapsed_seconds) == (2700, 2700)
    assert warning.assignee == "olivia"
    assert from_timestamp(warning.occurred_at) == minutes(45)
    assert book.due(minutes(50)) == []
    [later, breach] = book.due(minutes(61))
    assert kinds([later, breach]) == [("WARNING", FR, 1, "0.9"), ("BREACHED", FR, 1, "")]
    assert breach.event_id == life.breach_id(False)
    assert (breach.business_seconds, breach.elapsed_seconds) == (3600, 3600)
    assert from_timestamp(breach.due_at) == minutes(60)
    rest = book.due(minutes(24 * 60))
    assert kinds(rest) == [
        ("WARNING", RES, 1, "0.75"),
        ("WARNING", RES, 1, "0.9"),
        ("BREACHED", RES, 1, ""),
    ], "the response clock fires nothing twice"


def test_applied_warnings_and_breaches_are_not_fired_again(life: Life) -> None:
    book = SlaBook()
    book.restore(life.open(minutes(0)))
    book.restore(life.warned(False, 0.75, minutes(45)))
    assert kinds(book.due(minutes(62))) == [("WARNING", FR, 1, "0.9"), ("BREACHED", FR, 1, "")]
    restored = SlaBook()
    restored.restore(life.warned(False, 0.9, minutes(55)))
    restored.restore(life.breached(False, minutes(61)))
    assert restored.due(minutes(62)) == []


def test_a_reply_in_time_meets_the_clock_and_pauses_resolution(life: Life) -> None:
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    events = book.on_case(life.reply(minutes(20)))
    assert kinds(events) == [("MET", FR, 1, ""), ("PAUSED", RES, 1, "")]
    met, paused = events
    assert (met.business_seconds, met.elapsed_seconds) == (1200, 1200)
    assert from_timestamp(met.occurred_at) == minutes(20)
    assert paused.event_id == sla_event_id("c1", RES, 1, "paused", "1")
    assert paused.business_seconds == 1200
    assert book.due(minutes(25 * 60)) == [], "stopped and paused clocks do not fire"


def test_a_late_reply_before_any_timer_fired_warns_breaches_and_stops(life: Life) -> None:
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    events = book.on_case(life.reply(minutes(70)))
    assert kinds(events) == [
        ("WARNING", FR, 1, "0.75"),
        ("WARNING", FR, 1, "0.9"),
        ("BREACHED", FR, 1, ""),
        ("STOPPED", FR, 1, ""),
        ("PAUSED", RES, 1, ""),
    ]
    warning, breached, stopped = events[0], events[2], events[3]
    assert warning.event_id == life.warning_id(False, 0.75)
    assert from_timestamp(warning.occurred_at) == minutes(45)
    assert (warning.business_seconds, warning.elapsed_seconds) == (2700, 2700)
    assert breached.event_id == life.breach_id(False)
    assert from_timestamp(breached.occurred_at) == minutes(60)
    assert (stopped.elapsed_seconds, stopped.business_seconds) == (4200, 4200)
    assert book.due(minutes(71)) == [], "emitted from the snapshot, not again by the timers"


def test_clocks_stopped_or_paused_past_a_warning_before_the_tick_still_warn(life: Life) -> None:
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    # Answered after 19 hours: resolution (warning 0.75 at 18 h) pauses past its warning.
    events = book.on_case(life.reply(minutes(19 * 60)))
    assert kinds(events)[-2:] == [("WARNING", RES, 1, "0.75"), ("PAUSED", RES, 1, "")]
    book.on_case(life.customer(minutes(20 * 60)))  # next response: 0.75 at 90 minutes
    events = book.on_case(life.reply(minutes(20 * 60 + 91)))
    assert kinds(events)[:2] == [("WARNING", NR, 1, "0.75"), ("MET", NR, 1, "")]
    assert [e for e in book.due(minutes(20 * 60 + 92)) if e.clock == NR] == []


def test_a_late_reply_after_the_breach_fired_only_stops(life: Life) -> None:
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    book.due(minutes(61))  # warnings and the breach, not applied yet
    assert kinds(book.on_case(life.reply(minutes(70))))[:1] == [("STOPPED", FR, 1, "")]


def test_the_customer_turn_resumes_resolution_and_starts_next_response(life: Life) -> None:
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    book.on_case(life.reply(minutes(10)))
    events = book.on_case(life.customer(minutes(100)))
    assert kinds(events) == [("STARTED", NR, 1, ""), ("RESUMED", RES, 1, "")]
    resumed = events[1]
    assert from_timestamp(resumed.occurred_at) == minutes(100)
    # Resolution used 10 minutes before the pause: due 1430 minutes after the resume.
    assert [
        e
        for e in book.due(minutes(100 + 1430) - timedelta(milliseconds=1))
        if e.clock == RES and e.type == sla_pb2.SLA_EVENT_TYPE_BREACHED
    ] == []
    [breach] = [e for e in book.due(minutes(100 + 1430)) if e.clock == RES]
    assert kinds([breach]) == [("BREACHED", RES, 1, "")]
    assert breach.elapsed_seconds == (100 + 1430) * 60, "wall seconds since the start"


def test_a_paused_clock_does_not_fire_and_a_resumed_one_fires_at_its_new_instants(
    life: Life,
) -> None:
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    book.on_case(life.reply(minutes(5)))  # resolution paused after 5 minutes
    fired = book.due(minutes(3000))
    assert [e for e in fired if e.clock == RES] == []
    book.on_case(life.customer(minutes(3000)))
    remaining = 1440 - 5
    assert [e for e in book.due(minutes(3000 + 0.75 * 1440 - 5 - 1)) if e.clock == RES] == []
    [warning] = [e for e in book.due(minutes(3000 + 0.75 * 1440 - 5)) if e.clock == RES]
    assert warning.threshold == 0.75
    breach = [e for e in book.due(minutes(3000 + remaining)) if e.clock == RES]
    assert kinds(breach) == [("WARNING", RES, 1, "0.9"), ("BREACHED", RES, 1, "")]
    assert breach[1].business_seconds == 86400


def test_resolving_stops_the_resolution_clock_and_reopening_starts_new_cycles(life: Life) -> None:
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    book.on_case(life.reply(minutes(5)))
    assert kinds(book.on_case(life.resolve(minutes(30)))) == [("MET", RES, 1, "")]
    reopened = book.on_case(life.reopen(minutes(100)))
    assert kinds(reopened) == [("STARTED", FR, 2, ""), ("STARTED", RES, 2, "")]
    fired = book.due(minutes(161))
    assert {e.event_id for e in fired} == ids(
        "c1", FR, 2, "warning 0.75", "warning 0.9", "breached"
    )


def test_timers_of_a_replaced_clock_are_skipped(life: Life) -> None:
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    book.on_case(life.reply(minutes(5)))
    book.on_case(life.customer(minutes(10)))  # next response: due at 130 minutes
    book.on_case(life.reply(minutes(20)))
    book.on_case(life.customer(minutes(30)))  # next response 2: due at 150 minutes
    fired = [e for e in book.due(minutes(131)) if e.clock != RES]
    assert {e.event_id for e in fired} == ids("c1", NR, 2, "warning 0.75")


def test_stale_and_repeated_versions_are_ignored(life: Life) -> None:
    book = SlaBook()
    opened = life.open(minutes(0))
    answered = life.reply(minutes(10))
    assert book.on_case(opened) and book.on_case(answered)
    assert book.on_case(answered) == []
    assert book.on_case(opened) == []
    assert book.version("c1") == 2


def test_a_legacy_clock_reads_as_first_response_cycle_one() -> None:
    case = case_pb2.Case(id="old", version=1, language="en", queue="care-en")
    case.sla.policy = "en-1h"
    case.sla.state = case_pb2.SLA_STATE_RUNNING
    case.sla.started_at.FromDatetime(minutes(0))
    case.sla.due_at.FromDatetime(minutes(60))
    book = SlaBook()
    [started] = book.on_case(case_pb2.CaseEvent(case=case))
    assert started.event_id == sla_event_id("old", FR, 1, "started")
    [breach] = book.due(minutes(60))
    assert breach.event_id == sla_event_id("old", FR, 1, "breached")
    clock = book.clock("old", RESPONSE_SLOT)
    assert clock is not None and clock.breach


def test_gauges_count_open_unassigned_cases_and_at_risk_ones(life: Life) -> None:
    book = SlaBook()
    other = Life("c2")
    book.on_case(life.open(minutes(0)))
    book.on_case(other.open(minutes(30)))
    assert book.queue_depth == {("en", "care-en"): 2}
    assert book.at_risk == {("en", "care-en"): 0}
    book.on_case(life.assign("olivia", minutes(1)))
    book.due(minutes(45))  # c1 passes its first warning
    assert book.queue_depth == {("en", "care-en"): 1}
    assert book.at_risk == {("en", "care-en"): 1}
    book.on_case(other.at_risk(minutes(31)))  # a predicted breach counts too
    assert book.at_risk == {("en", "care-en"): 2}
    book.on_case(life.reply(minutes(50)))  # stopped response, paused resolution
    assert book.at_risk == {("en", "care-en"): 1}
    book.on_case(other.resolve(minutes(60)))
    assert book.queue_depth == {("en", "care-en"): 0}
    assert book.at_risk == {("en", "care-en"): 0}


def test_published_ids_are_held_exactly_in_16_bytes_each() -> None:
    held = [derived_id("sla", str(n)) for n in range(1000)]
    published = PublishedIds(held[:500])
    published.add(held[250:750])
    assert len(published) == 750
    assert all(i in published for i in held[:750])
    assert not any(i in published for i in held[750:])
    twin = held[0][:16] + held[999][16:]  # the high half of one held id, a low half not
    assert twin not in published
    for other in ("", "not-an-id", held[0].upper(), "0x" + held[0][2:], held[0] + "0"):
        assert other not in published
    assert len(PublishedIds(["not-an-id", held[0].upper(), "0x" + held[0][2:]])) == 0


def test_published_ids_are_not_fired_again_but_count_as_emitted(life: Life) -> None:
    """A rebuilt book told the breach is on care.sla already: the timer stays silent, the
    clock counts as breached (at risk, no second try), the warnings still fire."""
    book = SlaBook()
    book.restore(life.open(minutes(0)))
    assert book.mark_published(ids("c1", FR, 1, "breached")) == 1
    fired = book.due(minutes(61))
    assert kinds(fired) == [("WARNING", FR, 1, "0.75"), ("WARNING", FR, 1, "0.9")]
    state = book.clock("c1", RESPONSE_SLOT)
    assert state is not None and state.breach
    assert book.due(minutes(120)) == []
    assert book.at_risk == {("en", "care-en"): 1}


def test_replayed_versions_emit_each_id_once_and_not_what_care_sla_holds(life: Life) -> None:
    """Versions redelivered after a rebuild each imply STARTED of both clocks: published
    once (the first replayed version), not at all when care.sla holds them."""
    versions = [life.open(minutes(0)), life.assign("olivia", minutes(5)), life.reply(minutes(10))]
    book = SlaBook()
    book.restore(versions[-1])
    emitted = [e.event_id for version in versions for e in book.on_case(version)]
    assert sorted(emitted) == sorted(
        ids("c1", FR, 1, "started", "met") | ids("c1", RES, 1, "started", "paused 1")
    )
    again = SlaBook()
    again.restore(versions[-1])
    again.mark_published(ids("c1", FR, 1, "started", "met"))
    emitted = [e.event_id for version in versions for e in again.on_case(version)]
    assert sorted(emitted) == sorted(ids("c1", RES, 1, "started", "paused 1"))


def test_a_live_version_does_not_publish_again_what_care_sla_holds(life: Life) -> None:
    """The previous owner's timer published WARNING 0.75; routing stopped the clock before
    applying it. The live answer shows the warning passed and unapplied: not again."""
    book = SlaBook()
    book.restore(life.open(minutes(0)))
    book.mark_published(ids("c1", FR, 1, "warning 0.75"))
    answered = book.on_case(life.reply(minutes(50)))
    assert kinds(answered) == [("MET", FR, 1, ""), ("PAUSED", RES, 1, "")]


def test_a_case_closed_straight_from_the_queue_no_longer_counts(life: Life) -> None:
    """Merged into another case, a waiting case closes without being resolved."""
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    assert book.queue_depth == {("en", "care-en"): 1}
    life.case.status = case_pb2.CASE_STATUS_CLOSED
    book.on_case(life.commit(minutes(5)))
    assert book.queue_depth == {("en", "care-en"): 0}


def test_a_cancelled_clock_emits_nothing_and_its_timers_never_fire(life: Life) -> None:
    """Merged into another case: its clocks measured nothing, so no MET (the ledger would
    count a first response that never happened), no STOPPED, no warning it had passed."""
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    assert book.on_case(life.merge("c2", minutes(50))) == []  # past the 0.75 warning
    assert life.case.sla.state == case_pb2.SLA_STATE_CANCELLED
    assert life.case.resolution_sla.state == case_pb2.SLA_STATE_CANCELLED
    assert book.due(minutes(3 * 24 * 60)) == [], "no warning or breach timer fires"
    assert book.queue_depth == {("en", "care-en"): 0}
    assert book.at_risk == {("en", "care-en"): 0}


def test_a_cancelled_paused_clock_emits_nothing(life: Life) -> None:
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    assert kinds(book.on_case(life.reply(minutes(10)))) == [
        ("MET", FR, 1, ""),
        ("PAUSED", RES, 1, ""),
    ]
    assert book.on_case(life.merge("c2", minutes(20))) == []
    assert life.case.resolution_sla.state == case_pb2.SLA_STATE_CANCELLED
    assert book.due(minutes(3 * 24 * 60)) == []


def test_a_rebuilt_book_emits_nothing_for_a_cancelled_clock(life: Life) -> None:
    """Restored from the changelog and replayed: STARTED (the open version implies it),
    nothing for the cancellation; no timer of the cancelled clocks fires."""
    versions = [life.open(minutes(0)), life.merge("c2", minutes(50))]
    restored = SlaBook()
    restored.restore(versions[-1])
    assert restored.due(minutes(3 * 24 * 60)) == []
    replayed = SlaBook()
    replayed.restore(versions[-1])
    emitted = [e.event_id for version in versions for e in replayed.on_case(version)]
    assert sorted(emitted) == sorted(ids("c1", FR, 1, "started") | ids("c1", RES, 1, "started"))
    assert replayed.due(minutes(3 * 24 * 60)) == []


def test_a_clock_past_its_target_when_merged_stays_breached(life: Life) -> None:
    """A breach that happened stays a breach: the clock stops BREACHED, not cancelled."""
    book = SlaBook()
    book.on_case(life.open(minutes(0)))
    events = book.on_case(life.merge("c2", minutes(70)))
    assert life.case.sla.state == case_pb2.SLA_STATE_BREACHED
    assert kinds(events) == [
        ("WARNING", FR, 1, "0.75"),
        ("WARNING", FR, 1, "0.9"),
        ("BREACHED", FR, 1, ""),
        ("STOPPED", FR, 1, ""),
    ]
    assert book.due(minutes(3 * 24 * 60)) == []
