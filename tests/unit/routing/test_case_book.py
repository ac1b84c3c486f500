"""Routing's case book: threading, assignment by language and capacity, commands, SLA."""

from __future__ import annotations

from datetime import timedelta

import pytest

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError
from socialcare.routing.domain import CaseBook, Emitted
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2, sla_pb2
from tests.unit.factories import T0, enriched

CARE = CareConfig.model_validate(
    {
        "sla_policies": [
            {"name": "en-1h", "languages": ["en"], "first_response": "1h"},
            {"name": "other-24h", "languages": ["*"], "first_response": "24h"},
        ],
        "queues": [
            {"name": "care-en", "languages": ["en"]},
            {"name": "care-nl", "languages": ["nl"]},
            {"name": "care-global", "languages": ["*"]},
        ],
        "agents": [
            {"id": "sanne", "name": "Sanne", "languages": ["nl", "en"], "capacity": 2},
            {"id": "olivia", "name": "Olivia", "languages": ["en"], "capacity": 1},
        ],
    }
)


def cases_of(emitted: list[Emitted]) -> list[case_pb2.CaseEvent]:
    return [e.event for e in emitted if e.topic == Topic.CASES]  # type: ignore[misc]


def reply(case_id: str, command_id: str, agent: str = "sanne") -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        reply=commands_pb2.ReplyToCase(agent=agent, text="Hoi Jan, Sanne hier. Ik zoek het uit!"),
    )


def test_new_message_opens_a_case_in_its_language_queue_and_assigns_a_speaker() -> None:
    book = CaseBook(CARE)
    events = cases_of(book.on_message(enriched("m1", language="nl"), T0))
    assert [e.type for e in events] == [
        case_pb2.CASE_EVENT_TYPE_OPENED,
        case_pb2.CASE_EVENT_TYPE_ASSIGNED,
    ]
    case = events[-1].case
    assert (case.language, case.queue, case.assignee) == ("nl", "care-nl", "sanne")
    assert case.status == case_pb2.CASE_STATUS_ASSIGNED
    assert case.sla.policy == "other-24h"
    assert case.sla.due_at.ToDatetime().replace(tzinfo=T0.tzinfo) == T0 + timedelta(hours=24)
    assert [e.case.version for e in events] == [1, 2]


def test_same_message_twice_has_no_second_effect() -> None:
    book = CaseBook(CARE)
    book.on_message(enriched("m1"), T0)
    assert book.on_message(enriched("m1"), T0) == []
    assert len(book.cases) == 1


def test_messages_join_open_case_by_author_thread_and_reply() -> None:
    book = CaseBook(CARE)
    first = cases_of(book.on_message(enriched("m1", author="a", thread_id="t1"), T0))[-1].case
    by_author = cases_of(book.on_message(enriched("m2", author="a"), T0))
    by_thread = cases_of(book.on_message(enriched("m3", author="b", thread_id="t1"), T0))
    by_reply = cases_of(book.on_message(enriched("m4", author="c", in_reply_to="m1"), T0))
    for events in (by_author, by_thread, by_reply):
        assert events[0].type == case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED
        assert events[0].case.id == first.id
    assert len(book.cases[first.id].messages) == 4


def test_english_goes_to_least_loaded_speaker_and_waits_when_nobody_has_room() -> None:
    book = CaseBook(CARE)
    a = cases_of(book.on_message(enriched("e1", author="1", language="en"), T0))[-1].case
    b = cases_of(book.on_message(enriched("e2", author="2", language="en"), T0))[-1].case
    c = cases_of(book.on_message(enriched("e3", author="3", language="en"), T0))[-1].case
    d = cases_of(book.on_message(enriched("e4", author="4", language="en"), T0))[-1].case
    assert {a.assignee, b.assignee} == {"olivia", "sanne"}
    assert c.assignee == "sanne"
    assert d.assignee == "" and d.status == case_pb2.CASE_STATUS_OPEN
    assert book.backlog("care-en") == [d.id]
    # Resolving one of Sanne's cases hands her the waiting one.
    sanne_case = next(x for x in (a, b, c) if x.assignee == "sanne")
    resolve = commands_pb2.AgentCommand(
        command_id="r1", case_id=sanne_case.id, resolve=commands_pb2.ResolveCase(agent="sanne")
    )
    events = cases_of(book.on_command(resolve, T0))
    assert [e.type for e in events] == [
        case_pb2.CASE_EVENT_TYPE_RESOLVED,
        case_pb2.CASE_EVENT_TYPE_ASSIGNED,
    ]
    assert events[-1].case.id == d.id and events[-1].case.assignee == "sanne"
    assert book.backlog("care-en") == []


def test_unknown_language_waits_in_the_global_queue() -> None:
    book = CaseBook(CARE)
    case = cases_of(book.on_message(enriched("x1", language="ja"), T0))[-1].case
    assert case.queue == "care-global" and not case.assignee


def test_reply_records_first_response_and_goes_outbound_once() -> None:
    book = CaseBook(CARE)
    case = cases_of(book.on_message(enriched("m1"), T0))[-1].case
    emitted = book.on_command(reply(case.id, "c1"), T0 + timedelta(minutes=5))
    replied = cases_of(emitted)[0].case
    assert replied.status == case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
    assert replied.sla.state == case_pb2.SLA_STATE_MET
    assert replied.messages[-1].direction == case_pb2.DIRECTION_OUTBOUND
    outbound = [e for e in emitted if e.topic == Topic.OUTBOUND]
    assert len(outbound) == 1 and outbound[0].event.in_reply_to == "m1"  # type: ignore[attr-defined]
    assert book.on_command(reply(case.id, "c1"), T0) == []
    # The customer writes again: the case is back with its agent.
    back = cases_of(book.on_message(enriched("m2"), T0 + timedelta(minutes=6)))[0].case
    assert back.status == case_pb2.CASE_STATUS_ASSIGNED and back.id == case.id


def test_late_reply_keeps_the_breach_and_resolved_case_reopens() -> None:
    book = CaseBook(CARE)
    case = cases_of(book.on_message(enriched("m1"), T0))[-1].case
    breach = sla_pb2.SlaEvent(
        event_id="b1", type=sla_pb2.SLA_EVENT_TYPE_BREACHED, case_id=case.id, due_at=case.sla.due_at
    )
    breached = cases_of(book.on_sla(breach, T0 + timedelta(hours=25)))[0].case
    assert breached.sla.state == case_pb2.SLA_STATE_BREACHED
    assert book.on_sla(breach, T0) == []
    late = cases_of(book.on_command(reply(case.id, "c1"), T0 + timedelta(hours=26)))[0].case
    assert late.sla.state == case_pb2.SLA_STATE_BREACHED
    resolve = commands_pb2.AgentCommand(
        command_id="r1", case_id=case.id, resolve=commands_pb2.ResolveCase(agent="sanne")
    )
    book.on_command(resolve, T0 + timedelta(hours=27))
    reopened = cases_of(book.on_message(enriched("m9", in_reply_to="c1x"), T0))
    assert reopened[0].case.id != case.id  # not a reply to this case: a new one
    again = cases_of(book.on_message(enriched("m10", in_reply_to="m1"), T0 + timedelta(hours=28)))[
        0
    ]
    assert again.type == case_pb2.CASE_EVENT_TYPE_REOPENED
    assert again.case.sla.state == case_pb2.SLA_STATE_RUNNING


def test_escalation_raises_priority_once() -> None:
    book = CaseBook(CARE)
    case = cases_of(book.on_message(enriched("m1"), T0))[-1].case
    event = escalation_pb2.EscalationEvent(
        event_id="e1", escalation=escalation_pb2.Escalation(id="esc1", case_id=case.id)
    )
    escalated = cases_of(book.on_escalation(event, T0))[0].case
    assert escalated.priority == "high" and list(escalated.escalation_ids) == ["esc1"]
    assert book.on_escalation(event, T0) == []


def test_commands_for_unknown_cases_or_agents_are_invalid() -> None:
    book = CaseBook(CARE)
    with pytest.raises(InvalidRecordError, match="does not exist"):
        book.on_command(reply("nope", "c1"), T0)
    case = cases_of(book.on_message(enriched("m1"), T0))[-1].case
    with pytest.raises(InvalidRecordError, match="unknown agent 'ghost'"):
        book.on_command(reply(case.id, "c2", agent="ghost"), T0)


def test_replaying_the_changelog_rebuilds_the_same_state() -> None:
    book = CaseBook(CARE)
    emitted = []
    emitted += book.on_message(enriched("e1", author="1", language="en"), T0)
    emitted += book.on_message(enriched("e2", author="2", language="en"), T0)
    emitted += book.on_message(enriched("e3", author="3", language="en"), T0)
    emitted += book.on_message(enriched("e4", author="4", language="en"), T0)
    rebuilt = CaseBook(CARE)
    for event in cases_of(emitted):
        rebuilt.restore(event)
    assert rebuilt.cases == book.cases
    assert rebuilt.backlog("care-en") == book.backlog("care-en")
    assert rebuilt.load_of("sanne") == book.load_of("sanne") == 2
    # The rebuilt book knows what it has seen.
    assert rebuilt.on_message(enriched("e1", author="1", language="en"), T0) == []
