"""SLA clocks: breaches at the due time, once; first responses observed once; after a
rebuild from the changelog, what was emitted is read from the case itself."""

from __future__ import annotations

from datetime import timedelta

from socialcare.core.clock import to_timestamp
from socialcare.sla.domain import SlaBook, breach_id, met_id
from socialcare.v1 import case_pb2, message_pb2, sla_pb2
from tests.unit.factories import T0


def case_event(
    version: int,
    *,
    due_minutes: int = 60,
    answered_minutes: int | None = None,
    case_id: str = "c1",
    state: case_pb2.SlaState.ValueType = case_pb2.SLA_STATE_RUNNING,
    applied_ids: tuple[str, ...] = (),
) -> case_pb2.CaseEvent:
    case = case_pb2.Case(
        id=case_id,
        version=version,
        language="en",
        channel=message_pb2.CHANNEL_FACEBOOK,
        queue="care-en",
        assignee="olivia",
        sla=case_pb2.SlaClock(
            policy="en-1h",
            started_at=to_timestamp(T0),
            due_at=to_timestamp(T0 + timedelta(minutes=due_minutes)),
            state=state,
        ),
        applied_ids=applied_ids,
    )
    if answered_minutes is not None:
        case.sla.first_response_at.CopyFrom(to_timestamp(T0 + timedelta(minutes=answered_minutes)))
    return case_pb2.CaseEvent(event_id=f"{case_id}-e{version}", case=case)


DUE = T0 + timedelta(minutes=60)


def test_unanswered_case_breaches_once_at_its_due_time() -> None:
    book = SlaBook()
    book.on_case(case_event(1), T0)
    assert book.due(T0 + timedelta(minutes=59)) == []
    breaches = book.due(T0 + timedelta(minutes=61))
    assert len(breaches) == 1
    breach = breaches[0]
    assert breach.type == sla_pb2.SLA_EVENT_TYPE_BREACHED
    assert breach.event_id == breach_id("c1", DUE)
    assert (breach.case_id, breach.language, breach.queue) == ("c1", "en", "care-en")
    assert breach.elapsed_seconds == 61 * 60
    assert book.due(T0 + timedelta(hours=5)) == []


def test_answered_case_is_observed_once_and_never_breaches() -> None:
    book = SlaBook()
    book.on_case(case_event(1), T0)
    events, observation = book.on_case(case_event(2, answered_minutes=10), T0)
    assert observation is not None and observation.seconds == 600
    assert (observation.language, observation.channel, observation.queue) == (
        "en",
        "facebook",
        "care-en",
    )
    assert [(e.type, e.event_id) for e in events] == [
        (sla_pb2.SLA_EVENT_TYPE_MET, met_id("c1", DUE))
    ]
    assert book.on_case(case_event(3, answered_minutes=10), T0) == ([], None)
    assert book.due(T0 + timedelta(hours=2)) == []


def test_a_late_first_response_is_observed_but_not_met() -> None:
    book = SlaBook()
    book.on_case(case_event(1), T0)
    events, observation = book.on_case(
        case_event(2, answered_minutes=90, state=case_pb2.SLA_STATE_BREACHED), T0
    )
    assert events == []
    assert observation is not None and observation.seconds == 90 * 60
    assert book.due(T0 + timedelta(hours=2)) == []


def test_stale_snapshots_are_ignored_and_restarted_clocks_track_the_new_due_time() -> None:
    book = SlaBook()
    book.on_case(case_event(2), T0)
    assert book.on_case(case_event(1, answered_minutes=5), T0) == ([], None)
    book.on_case(case_event(3, due_minutes=120), T0)
    assert book.due(T0 + timedelta(minutes=90)) == []
    [breach] = book.due(T0 + timedelta(minutes=121))
    assert breach.event_id == breach_id("c1", T0 + timedelta(minutes=120))


def test_a_restored_overdue_clock_breaches_again_with_the_same_event_id() -> None:
    first = SlaBook()
    first.on_case(case_event(1), T0)
    [breach] = first.due(T0 + timedelta(hours=2))
    restarted = SlaBook()
    restarted.restore(case_event(1))
    [again] = restarted.due(T0 + timedelta(hours=3))
    assert again.event_id == breach.event_id
    assert restarted.due(T0 + timedelta(hours=4)) == []


def test_a_breach_routing_applied_is_not_emitted_again_after_a_restore() -> None:
    applied = SlaBook()
    applied.restore(case_event(2, applied_ids=(breach_id("c1", DUE),)))
    assert applied.due(T0 + timedelta(hours=2)) == []
    breached = SlaBook()
    breached.restore(case_event(2, state=case_pb2.SLA_STATE_BREACHED))
    assert breached.due(T0 + timedelta(hours=2)) == []


def test_a_breach_of_an_earlier_clock_does_not_silence_the_current_one() -> None:
    book = SlaBook()
    book.restore(case_event(5, due_minutes=120, applied_ids=(breach_id("c1", DUE),)))
    [breach] = book.due(T0 + timedelta(hours=3))
    assert breach.event_id == breach_id("c1", T0 + timedelta(minutes=120))


def test_a_restore_emits_and_observes_nothing_and_an_answered_clock_is_done() -> None:
    book = SlaBook()
    book.restore(case_event(1))
    book.restore(case_event(2, answered_minutes=10))
    assert book.due(T0 + timedelta(hours=2)) == []
    assert book.on_case(case_event(3, answered_minutes=10), T0) == ([], None)


def test_the_restored_snapshot_delivered_again_emits_its_met_again_but_older_ones_are_stale() -> (
    None
):
    book = SlaBook()
    book.restore(case_event(1))
    book.restore(case_event(2, answered_minutes=10))
    assert book.on_case(case_event(1), T0) == ([], None)
    events, observation = book.on_case(case_event(2, answered_minutes=10), T0)
    assert [(e.type, e.event_id) for e in events] == [
        (sla_pb2.SLA_EVENT_TYPE_MET, met_id("c1", DUE))
    ]
    assert observation is None, "first responses are observed only when seen live"
    assert book.on_case(case_event(2, answered_minutes=10), T0) == ([], None)


def test_a_restored_running_clock_delivered_again_emits_nothing_and_still_breaches() -> None:
    book = SlaBook()
    book.restore(case_event(1))
    assert book.on_case(case_event(1), T0) == ([], None)
    [breach] = book.due(T0 + timedelta(hours=2))
    assert breach.event_id == breach_id("c1", DUE)


def test_an_answer_after_a_restore_is_live_news() -> None:
    book = SlaBook()
    book.restore(case_event(1))
    events, observation = book.on_case(case_event(2, answered_minutes=20), T0)
    assert [e.type for e in events] == [sla_pb2.SLA_EVENT_TYPE_MET]
    assert observation is not None and observation.seconds == 1200
