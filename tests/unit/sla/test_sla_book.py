"""SLA clocks: breaches at the due time, once; first responses observed once."""

from __future__ import annotations

from datetime import timedelta

from socialcare.core.clock import to_timestamp
from socialcare.sla.domain import SlaBook
from socialcare.v1 import case_pb2, message_pb2, sla_pb2
from tests.unit.factories import T0


def case_event(
    version: int,
    *,
    due_minutes: int = 60,
    answered_minutes: int | None = None,
    case_id: str = "c1",
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
            state=case_pb2.SLA_STATE_RUNNING,
        ),
    )
    if answered_minutes is not None:
        case.sla.first_response_at.CopyFrom(to_timestamp(T0 + timedelta(minutes=answered_minutes)))
    return case_pb2.CaseEvent(event_id=f"e{version}", case=case)


def test_unanswered_case_breaches_once_at_its_due_time() -> None:
    book = SlaBook()
    book.on_case(case_event(1), T0)
    assert book.due(T0 + timedelta(minutes=59)) == []
    breaches = book.due(T0 + timedelta(minutes=61))
    assert len(breaches) == 1
    breach = breaches[0]
    assert breach.type == sla_pb2.SLA_EVENT_TYPE_BREACHED
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
    assert [e.type for e in events] == [sla_pb2.SLA_EVENT_TYPE_MET]
    assert book.on_case(case_event(3, answered_minutes=10), T0) == ([], None)
    assert book.due(T0 + timedelta(hours=2)) == []


def test_stale_snapshots_are_ignored_and_restarted_clocks_track_the_new_due_time() -> None:
    book = SlaBook()
    book.on_case(case_event(2), T0)
    assert book.on_case(case_event(1, answered_minutes=5), T0) == ([], None)
    book.on_case(case_event(3, due_minutes=120), T0)
    assert book.due(T0 + timedelta(minutes=90)) == []
    assert len(book.due(T0 + timedelta(minutes=121))) == 1


def test_breaches_already_on_the_topic_are_not_emitted_again() -> None:
    first = SlaBook()
    first.on_case(case_event(1), T0)
    [breach] = first.due(T0 + timedelta(hours=2))
    restarted = SlaBook()
    restarted.remember_emitted(breach.event_id)
    restarted.on_case(case_event(1), T0)
    assert restarted.due(T0 + timedelta(hours=2)) == []
