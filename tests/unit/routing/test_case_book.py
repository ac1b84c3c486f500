"""Routing's case book with its assigner: threading, assignment by language and capacity,
commands judged by the shared case rules, rejections made visible, SLA and escalations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.routing_config import PriorityConfig, PriorityWeights
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError
from socialcare.routing.domain import CaseBook, case_id_for, partition_of_case
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2, sla_pb2
from tests.unit.factories import T0, enriched
from tests.unit.routing.harness import Routing, assign, case_events, reply, resolve

CARE = CareConfig.model_validate(
    {
        # Resolving resolves at once here: the "has this been solved?" round has its own
        # tests (test_resolution.py).
        "routing": {"lifecycle": {"confirm_resolution": False, "survey": {"kind": "none"}}},
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


def opened(routing: Routing, external_id: str, **fields: object) -> case_pb2.Case:
    """Send one message and return its case as it stands after the assigner answered."""
    events = case_events(routing.message(enriched(external_id, **fields)))  # type: ignore[arg-type]
    return routing.case(events[0].case.id)


def test_new_message_opens_a_case_in_its_language_queue_and_assigns_a_speaker() -> None:
    routing = Routing(CARE)
    events = case_events(routing.message(enriched("m1", language="nl")))
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
    assert case.assignment_epoch == 1


def test_case_ids_land_in_their_customers_partition() -> None:
    for partition in range(8):
        case_id = case_id_for("message-42", partition, 8)
        assert partition_of_case(case_id, 8) == partition
        assert case_id == case_id_for("message-42", partition, 8)  # stable on redelivery
    routing = Routing(CARE, partitions=4)
    for i in range(20):
        case = opened(routing, f"p{i}", author=f"author-{i}")
        book = routing.book_of(case.id)
        assert case.id in book.cases


def test_same_message_twice_has_no_second_effect() -> None:
    routing = Routing(CARE)
    routing.message(enriched("m1"))
    assert routing.message(enriched("m1")) == []
    assert len(routing.books[0].cases) == 1


def test_a_customers_messages_join_their_open_case_by_thread_reply_and_channel() -> None:
    routing = Routing(CARE)
    first = opened(routing, "m1", author="a", thread_id="t1")
    for events in (
        case_events(routing.message(enriched("m2", author="a"))),
        case_events(routing.message(enriched("m3", author="a", thread_id="t1"))),
        case_events(routing.message(enriched("m4", author="a", in_reply_to="m1"))),
    ):
        assert events[0].type == case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED
        assert events[0].case.id == first.id
    assert len(routing.case(first.id).messages) == 4


def test_other_customers_in_the_same_thread_get_cases_of_their_own() -> None:
    routing = Routing(CARE, partitions=4)
    first = opened(routing, "m1", author="a", thread_id="t1")
    second = opened(routing, "m2", author="b", thread_id="t1")
    third = opened(routing, "m3", author="c", in_reply_to="m1")
    assert len({first.id, second.id, third.id}) == 3


def test_english_goes_to_least_loaded_speaker_and_waits_when_nobody_has_room() -> None:
    routing = Routing(CARE)
    a = opened(routing, "e1", author="1", language="en")
    b = opened(routing, "e2", author="2", language="en")
    c = opened(routing, "e3", author="3", language="en")
    d = opened(routing, "e4", author="4", language="en")
    assert {a.assignee, b.assignee} == {"olivia", "sanne"}
    assert c.assignee == "sanne"
    assert d.assignee == "" and d.status == case_pb2.CASE_STATUS_OPEN
    assert routing.assigner.waiting() == [d.id]
    # Resolving one of Sanne's cases hands her the waiting one.
    sanne_case = next(x for x in (a, b, c) if x.assignee == "sanne")
    events = case_events(routing.command(resolve(sanne_case.id, "r1")))
    assert [e.type for e in events] == [
        case_pb2.CASE_EVENT_TYPE_RESOLVED,
        case_pb2.CASE_EVENT_TYPE_ASSIGNED,
    ]
    assert events[-1].case.id == d.id and events[-1].case.assignee == "sanne"
    assert routing.assigner.waiting() == []
    assert routing.assigner.load_of("sanne") == 2


def test_unknown_language_waits_in_the_global_queue() -> None:
    routing = Routing(CARE)
    case = opened(routing, "x1", language="ja")
    assert case.queue == "care-global" and not case.assignee
    assert routing.assigner.waiting() == [case.id]


def test_reply_records_first_response_and_goes_outbound_once() -> None:
    routing = Routing(CARE)
    case = opened(routing, "m1")
    emitted = routing.at(T0 + timedelta(minutes=5)).command(reply(case.id, "c1"))
    replied = case_events(emitted)[0].case
    assert replied.status == case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
    assert replied.sla.state == case_pb2.SLA_STATE_MET
    assert replied.messages[-1].direction == case_pb2.DIRECTION_OUTBOUND
    outbound = [e.message for e in emitted if e.topic == Topic.OUTBOUND]
    assert len(outbound) == 1
    assert isinstance(outbound[0], commands_pb2.OutboundReply)
    assert outbound[0].in_reply_to == "m1"
    assert routing.command(reply(case.id, "c1")) == []
    # The customer writes again: the case is back with its agent.
    back = case_events(routing.at(T0 + timedelta(minutes=6)).message(enriched("m2")))[0].case
    assert back.status == case_pb2.CASE_STATUS_ASSIGNED and back.id == case.id


def test_replying_to_a_waiting_case_makes_the_replier_its_owner_when_they_have_room() -> None:
    routing = Routing(CARE)
    for i in range(3):
        opened(routing, f"fill{i}", author=f"f{i}", language="en")  # olivia 1/1, sanne 2/2
    waiting = opened(routing, "w1", author="w", language="en")
    assert not waiting.assignee
    resolved = next(
        c for c in routing.books[0].cases.values() if c.assignee == "olivia" and c.id != waiting.id
    )
    routing.auto = False
    routing.command(resolve(resolved.id, "r1", agent="olivia"))
    routing.command(reply(waiting.id, "c1", agent="olivia"))
    routing.pump()
    assert routing.case(waiting.id).assignee == "olivia"
    assert routing.assigner.load_of("olivia") == 1


def test_late_reply_keeps_the_breach_and_resolved_case_reopens_with_its_agent() -> None:
    routing = Routing(CARE)
    case = opened(routing, "m1")
    breach = sla_pb2.SlaEvent(
        event_id="b1", type=sla_pb2.SLA_EVENT_TYPE_BREACHED, case_id=case.id, due_at=case.sla.due_at
    )
    book = routing.book_of(case.id)
    breached = case_events(book.on_sla(breach, T0 + timedelta(hours=25)))[0].case
    assert breached.sla.state == case_pb2.SLA_STATE_BREACHED
    assert book.on_sla(breach, T0) == []
    late = case_events(routing.at(T0 + timedelta(hours=26)).command(reply(case.id, "c1")))
    assert late[0].case.sla.state == case_pb2.SLA_STATE_BREACHED
    routing.at(T0 + timedelta(hours=27)).command(resolve(case.id, "r1"))
    assert routing.assigner.load_of("sanne") == 0
    other = case_events(routing.message(enriched("m9", author="someone-else", in_reply_to="c1x")))
    assert other[0].case.id != case.id  # another customer: a case of their own
    again = case_events(
        routing.at(T0 + timedelta(hours=28)).message(enriched("m10", in_reply_to="m1"))
    )
    assert again[0].type == case_pb2.CASE_EVENT_TYPE_REOPENED
    assert again[0].case.sla.state == case_pb2.SLA_STATE_RUNNING
    assert again[0].case.assignment_epoch == 2
    assert again[-1].type == case_pb2.CASE_EVENT_TYPE_ASSIGNED
    assert again[-1].case.assignee == "sanne"  # sticky: the previous agent first


def test_a_reply_to_a_resolved_case_is_rejected_visibly_and_only_recorded_as_handled() -> None:
    routing = Routing(CARE)
    case = opened(routing, "m1")
    routing.command(resolve(case.id, "r1"))
    resolved = routing.case(case.id)
    load = routing.assigner.load_of("sanne")
    emitted = routing.command(reply(case.id, "c1"))
    assert [e.topic for e in emitted] == [Topic.CASES]  # no outbound reply, no request
    rejected = case_events(emitted)[0]
    assert rejected.type == case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED
    assert rejected.rejection.code == "case_resolved"
    assert rejected.rejection.command_id == "c1"
    # The case is as it was but for the refused command's id, kept so that it stays
    # refused when delivered again (also after a restart from the compacted changelog).
    assert rejected.case.version == resolved.version + 1
    assert list(rejected.case.applied_ids) == [*resolved.applied_ids, "c1"]
    unchanged = case_pb2.Case()
    unchanged.CopyFrom(rejected.case)
    unchanged.ClearField("applied_ids")
    unchanged.ClearField("updated_at")
    unchanged.version = resolved.version
    expected = case_pb2.Case()
    expected.CopyFrom(resolved)
    expected.ClearField("applied_ids")
    expected.ClearField("updated_at")
    assert unchanged == expected
    assert routing.case(case.id) == rejected.case
    assert routing.assigner.load_of("sanne") == load
    assert routing.command(reply(case.id, "c1")) == []


def test_resolving_twice_is_rejected_not_a_second_resolution() -> None:
    routing = Routing(CARE)
    case = opened(routing, "m1")
    first = case_events(routing.command(resolve(case.id, "r1")))
    assert [e.type for e in first] == [case_pb2.CASE_EVENT_TYPE_RESOLVED]
    second = case_events(routing.command(resolve(case.id, "r2")))
    assert [e.type for e in second] == [case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED]
    assert second[0].rejection.code == "case_resolved"
    assert routing.command(resolve(case.id, "r1")) == []  # redelivery of the first


def test_commands_that_break_a_rule_are_rejected_with_the_field() -> None:
    routing = Routing(CARE)
    case = opened(routing, "m1", language="nl")
    too_long = case_events(routing.command(reply(case.id, "c1", text="x" * 281)))[0]
    assert (too_long.rejection.code, too_long.rejection.field) == ("reply_too_long", "text")
    blank = case_events(routing.command(reply(case.id, "c2", text="   ")))[0]
    assert (blank.rejection.code, blank.rejection.field) == ("reply_empty", "text")
    ghost = case_events(routing.command(reply(case.id, "c3", agent="ghost")))[0]
    assert (ghost.rejection.code, ghost.rejection.field) == ("unknown_agent", "agent")
    wrong_language = case_events(routing.command(assign(case.id, "c4", "olivia")))[0]
    assert wrong_language.rejection.code == "language_not_spoken"
    empty = commands_pb2.AgentCommand(command_id="c5", case_id=case.id)
    assert case_events(routing.command(empty))[0].rejection.code == "no_action"
    after = routing.case(case.id)
    assert after.version == case.version + 5  # each refusal recorded, nothing else
    assert list(after.applied_ids)[-5:] == ["c1", "c2", "c3", "c4", "c5"]
    assert (after.status, after.assignee, len(after.messages)) == (
        case.status,
        case.assignee,
        len(case.messages),
    )


def test_transfer_to_an_agent_with_room_moves_the_case_and_refills_the_first() -> None:
    routing = Routing(CARE)
    first = opened(routing, "e1", author="1", language="en")  # olivia or sanne
    assert first.assignee == "olivia"
    events = case_events(routing.command(assign(first.id, "a1", "sanne")))
    assert [(e.type, e.case.assignee) for e in events] == [
        (case_pb2.CASE_EVENT_TYPE_ASSIGNED, "sanne")
    ]
    assert routing.assigner.load_of("olivia") == 0
    assert routing.assigner.load_of("sanne") == 1


def test_transfer_to_a_full_agent_is_rejected_by_the_assigner_visibly() -> None:
    routing = Routing(CARE)
    a = opened(routing, "e1", author="1", language="en")
    b = opened(routing, "e2", author="2", language="en")
    assert {a.assignee, b.assignee} == {"olivia", "sanne"}
    on_sanne = a if a.assignee == "sanne" else b
    events = case_events(routing.command(assign(on_sanne.id, "a1", "olivia")))
    assert [e.type for e in events] == [case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED]
    assert events[0].rejection.code == "agent_at_capacity"
    assert "'olivia' is at capacity (1 of 1 cases)" in events[0].rejection.reason
    assert routing.case(on_sanne.id).assignee == "sanne"


def test_a_decision_for_an_earlier_opening_is_never_applied() -> None:
    routing = Routing(CARE, auto=False)
    case_id = case_events(routing.message(enriched("m1")))[0].case.id
    routing.deliver_request()  # the assigner decides: sanne
    routing.command(resolve(case_id, "r1"))  # resolved before the decision arrives
    routing.message(enriched("m2", in_reply_to="m1"))  # reopened: epoch 2
    routing.deliver_decision()  # the stale decision of epoch 1
    assert routing.case(case_id).assignee == ""
    routing.pump()  # release of epoch 1, queue of epoch 2, its decision
    assert routing.case(case_id).assignee == "sanne"
    assert routing.assigner.load_of("sanne") == 1


def test_escalation_raises_priority_once() -> None:
    routing = Routing(CARE)
    case = opened(routing, "m1")
    event = escalation_pb2.EscalationEvent(
        event_id="e1", escalation=escalation_pb2.Escalation(id="esc1", case_id=case.id)
    )
    book = routing.book_of(case.id)
    escalated = case_events(book.on_escalation(event, T0))[0].case
    assert escalated.priority == "high" and list(escalated.escalation_ids) == ["esc1"]
    assert book.on_escalation(event, T0) == []


def test_commands_for_unknown_cases_are_poison() -> None:
    book = CaseBook(CARE)
    with pytest.raises(InvalidRecordError, match="does not exist"):
        book.on_command(reply("nope", "c1"), T0)
    nameless = enriched("m1")
    nameless.message.author.id = ""
    with pytest.raises(InvalidRecordError, match="no author id"):
        book.on_message(nameless, T0)


def test_replaying_the_changelog_rebuilds_the_same_book_and_asks_again_for_owners() -> None:
    routing = Routing(CARE)
    for i in range(4):
        opened(routing, f"e{i}", author=str(i), language="en")
    book = routing.books[0]
    rebuilt = CaseBook(CARE)
    for effect in routing.published:
        if effect.topic == Topic.CASES:
            assert isinstance(effect.message, case_pb2.CaseEvent)
            rebuilt.restore(effect.message)
    assert rebuilt.cases == book.cases
    # The rebuilt book knows what it has seen.
    assert rebuilt.on_message(enriched("e1", author="1", language="en"), T0) == []
    # The one waiting case is asked for again, with the id of its first request.
    pending = rebuilt.pending_requests(T0)
    waiting = [c for c in book.cases.values() if not c.assignee]
    assert [e.message.case_id for e in pending] == [c.id for c in waiting]  # type: ignore[attr-defined]
    first_requests = {
        e.event_id
        for e in routing.published
        if e.topic == Topic.ASSIGNMENT_REQUESTS and e.message.case_id == waiting[0].id  # type: ignore[attr-defined]
    }
    assert {e.event_id for e in pending} <= first_requests
    # The assigner, asked again, decides nothing new: at most its earlier decision again,
    # which the book has applied already.
    decided = {e.event_id for e in routing.published if e.topic == Topic.ASSIGNMENT_DECISIONS}
    again = routing.assigner.on_request(pending[0].message, T0)  # type: ignore[arg-type]
    assert {e.event_id for e in again} <= decided
    for effect in again:
        assert book.on_decision(effect.message, T0) == []  # type: ignore[arg-type]


def test_negative_influencers_weigh_more_and_the_case_shows_why() -> None:
    weights = PriorityWeights(urgency=0, customer_value=0, sla=0)
    care = CARE.model_copy(
        update={
            "routing": CARE.routing.model_copy(update={"priority": PriorityConfig(weights=weights)})
        }
    )
    routing = Routing(care)
    case = opened(routing, "m1", followers=245_000, sentiment="negative")
    calm = opened(routing, "m2", author="other", followers=245_000, sentiment="positive")
    nobody = opened(routing, "m3", author="third", followers=10, sentiment="positive")
    assert case.priority_explanation.score > calm.priority_explanation.score
    assert calm.priority_explanation.score > nobody.priority_explanation.score
    assert case.priority in ("high", "urgent") and nobody.priority == "low"
    factors = {f.factor: f for f in case.priority_explanation.factors}
    assert factors["reach"].signal > 0.5 and "245,000" in factors["reach"].detail
    assert factors["sentiment"].signal > 0
    assert case.priority == case.priority_explanation.level
