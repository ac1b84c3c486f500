"""A case's way through routing: new until the assigner answers, queued with its place,
assigned (and unassigned or reassigned, with the reason on the case), a silent owner's case
offered to a colleague, claims, the customer's questions and leads onto the case, awaiting the
customer and a priority set by hand."""

from __future__ import annotations

from datetime import timedelta

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.routing.domain import CaseBook
from socialcare.v1 import case_pb2, commands_pb2, message_pb2, routing_pb2
from tests.unit.factories import T0, enriched
from tests.unit.routing.harness import await_customer, case_events, claim

CARE = CareConfig.model_validate(
    {
        "sla_policies": [
            {"name": "any", "languages": ["*"], "first_response": "1h", "resolution": "1d"}
        ],
        "queues": [
            {"name": "sales", "languages": ["*"], "intents": ["sales_lead"]},
            {"name": "care", "languages": ["*"]},
        ],
        "agents": [
            {"id": "sanne", "name": "Sanne", "languages": ["nl", "en"], "capacity": 3},
            {"id": "olivia", "name": "Olivia", "languages": ["en"], "capacity": 3},
        ],
        "intents": [
            {
                "name": "sales_lead",
                "keywords": {"en": ["buy"]},
                "sales": True,
                "product": "heatpump",
            },
            {"name": "billing", "keywords": {"en": ["invoice"]}, "urgency": 0.5},
            {"name": "compliment", "keywords": {"en": ["thanks"]}, "question": False},
        ],
        "routing": {"lifecycle": {"silent_owner_after": "2h"}},
    }
)


def requests(effects: list[Emit]) -> list[routing_pb2.AssignmentRequest]:
    found = []
    for effect in effects:
        if effect.topic == Topic.ASSIGNMENT_REQUESTS:
            assert isinstance(effect.message, routing_pb2.AssignmentRequest)
            found.append(effect.message)
    return found


def decision(
    case: case_pb2.Case, decision_id: str, **fields: object
) -> routing_pb2.AssignmentDecision:
    return routing_pb2.AssignmentDecision(
        decision_id=decision_id,
        case_id=case.id,
        epoch=case.assignment_epoch,
        **fields,  # type: ignore[arg-type]
    )


def message(
    external_id: str, text: str = "Where is my parcel?", **fields: object
) -> message_pb2.EnrichedMessage:
    values: dict[str, object] = {"language": "en", "author": "jan", **fields}
    return enriched(external_id, text=text, **values)  # type: ignore[arg-type]


def opened(
    book: CaseBook, enriched_message: message_pb2.EnrichedMessage
) -> tuple[case_pb2.Case, list[Emit]]:
    effects = book.on_message(enriched_message, T0)
    return case_events(effects)[0].case, effects


def test_a_new_case_is_new_until_the_assigner_answers_then_queued_with_its_place() -> None:
    book = CaseBook(CARE)
    case, effects = opened(book, message("m1"))
    assert case.status == case_pb2.CASE_STATUS_NEW
    [request] = requests(effects)
    assert request.kind == routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE
    assert (request.channel, request.customer_tier) == (message_pb2.CHANNEL_X, case.customer_tier)
    assert request.priority_score == case.priority_explanation.score
    assert request.response_clock == case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE
    queued = decision(case, "d1", outcome=routing_pb2.ASSIGNMENT_OUTCOME_QUEUED, queue_position=3)
    [event] = case_events(book.on_decision(queued, T0))
    assert event.type == case_pb2.CASE_EVENT_TYPE_QUEUED
    assert (event.case.status, event.case.queue_position) == (case_pb2.CASE_STATUS_OPEN, 3)
    assert book.on_decision(queued, T0) == []  # the same decision again
    assert [r.case_id for r in requests(book.pending_requests(T0))] == [case.id]
    given = decision(case, "d2", outcome=routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED, agent="sanne")
    [assigned] = case_events(book.on_decision(given, T0 + timedelta(minutes=5)))
    assert assigned.case.status == case_pb2.CASE_STATUS_ASSIGNED
    assert (assigned.case.assignee, assigned.case.queue_position) == ("sanne", 0)
    assert assigned.case.assigned_at.ToDatetime() == (T0 + timedelta(minutes=5)).replace(
        tzinfo=None
    )


def test_losing_the_owner_puts_the_reason_on_the_case() -> None:
    book = CaseBook(CARE)
    case, _ = opened(book, message("m1"))
    book.on_decision(
        decision(case, "d1", outcome=routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED, agent="sanne"), T0
    )
    moved = decision(
        case,
        "d2",
        outcome=routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED,
        agent="olivia",
        previous_agent="sanne",
        reason="sanne offline since 10:00",
    )
    [event] = case_events(book.on_decision(moved, T0))
    assert event.case.assignee == "olivia"
    assert (
        event.case.messages[-1].text == "Reassigned from sanne to olivia: sanne offline since 10:00"
    )
    assert event.case.messages[-1].direction == case_pb2.DIRECTION_INTERNAL
    lost = decision(
        case,
        "d3",
        outcome=routing_pb2.ASSIGNMENT_OUTCOME_UNASSIGNED,
        previous_agent="olivia",
        reason="offline",
    )
    [unassigned] = case_events(book.on_decision(lost, T0))
    assert unassigned.type == case_pb2.CASE_EVENT_TYPE_UNASSIGNED
    assert (unassigned.case.status, unassigned.case.assignee) == (case_pb2.CASE_STATUS_OPEN, "")
    assert not unassigned.case.HasField("assigned_at")
    assert unassigned.case.messages[-1].text == "Unassigned from olivia: offline"


def test_a_silent_owner_is_asked_to_be_replaced_once_per_customer_message() -> None:
    book = CaseBook(CARE)
    case, _ = opened(book, message("m1"))
    book.on_decision(
        decision(case, "d1", outcome=routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED, agent="sanne"), T0
    )
    assert requests(book.tick(T0 + timedelta(hours=1, minutes=59))) == []
    [reassign] = requests(book.tick(T0 + timedelta(hours=2)))
    assert reassign.kind == routing_pb2.ASSIGNMENT_REQUEST_KIND_REASSIGN
    assert (reassign.agent, reassign.epoch) == ("sanne", 1)
    assert reassign.reason == "sanne did not reply for 2h"
    assert requests(book.tick(T0 + timedelta(hours=5))) == []  # once
    # The owner answers: nothing more; the customer writes again and waits: once more.
    reply = commands_pb2.AgentCommand(
        command_id="c1",
        case_id=case.id,
        reply=commands_pb2.ReplyToCase(agent="sanne", text="On it"),
    )
    book.on_command(reply, T0 + timedelta(hours=5))
    book.on_message(
        message("m2", "Hello?", received=T0 + timedelta(hours=6)), T0 + timedelta(hours=6)
    )
    [again] = requests(book.tick(T0 + timedelta(hours=8)))
    assert again.request_id != reassign.request_id


def test_questions_and_leads_onto_the_case_route_it_and_name_the_product() -> None:
    book = CaseBook(CARE)
    lead = message("m1", "I want to buy a heat pump, and my invoice is wrong")
    lead.intents.add(
        name="sales_lead", confidence=0.9, question="I want to buy a heat pump", sales=True
    )
    lead.intents.add(name="billing", confidence=0.8, question="my invoice is wrong")
    case, effects = opened(book, lead)
    assert case.queue == "sales"
    assert [(i.name, i.sales, i.product, i.message_id) for i in case.intents] == [
        ("sales_lead", True, "heatpump", lead.message.message_id),
        ("billing", False, "", lead.message.message_id),
    ]
    assert case.product == "heatpump"
    assert requests(effects)[0].product == "heatpump"
    # The same question again while unanswered is not asked twice; a compliment is kept.
    again = message("m2", "invoice still wrong, thanks", received=T0)
    again.intents.add(name="billing", confidence=0.7)
    again.intents.add(name="compliment", confidence=0.7)
    [added] = case_events(book.on_message(again, T0))
    assert [i.name for i in added.case.intents] == ["sales_lead", "billing", "compliment"]


def test_a_claim_asks_the_assigner_and_its_refusal_names_the_holder() -> None:
    book = CaseBook(CARE)
    case, _ = opened(book, message("m1"))
    book.on_decision(
        decision(case, "d1", outcome=routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED, agent="sanne"), T0
    )
    [request] = requests(book.on_command(claim(case.id, "k1", "olivia"), T0))
    assert (request.kind, request.agent, request.command_id) == (
        routing_pb2.ASSIGNMENT_REQUEST_KIND_CLAIM,
        "olivia",
        "k1",
    )
    refused = decision(
        case,
        "d2",
        request_id=request.request_id,
        command_id="k1",
        outcome=routing_pb2.ASSIGNMENT_OUTCOME_REJECTED,
        reason="held by 'sanne'",
    )
    [event] = case_events(book.on_decision(refused, T0))
    assert (event.rejection.code, event.rejection.field, event.rejection.reason) == (
        "claim_refused",
        "agent",
        "held by 'sanne'",
    )
    assert book.on_command(claim(case.id, "k1", "olivia"), T0) == []  # refused stays refused


def test_awaiting_the_customer_stops_the_response_clock_and_pauses_resolution() -> None:
    book = CaseBook(CARE)
    case, _ = opened(book, message("m1"))
    [event] = case_events(
        book.on_command(await_customer(case.id, "w1", "sanne"), T0 + timedelta(minutes=10))
    )
    assert event.type == case_pb2.CASE_EVENT_TYPE_STATUS_CHANGED
    after = event.case
    assert after.status == case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
    assert after.sla.state == case_pb2.SLA_STATE_MET
    assert after.resolution_sla.state == case_pb2.SLA_STATE_PAUSED
    assert after.messages[-1].text == "Awaiting the customer: Asked for the order number"
    [back] = case_events(
        book.on_message(
            message("m2", "Order 123", received=T0 + timedelta(hours=1)), T0 + timedelta(hours=1)
        )
    )
    assert back.case.resolution_sla.state == case_pb2.SLA_STATE_RUNNING


def test_a_priority_set_by_hand_wins_until_cleared() -> None:
    book = CaseBook(CARE)
    case, _ = opened(book, message("m1"))
    computed = case.priority

    def set_priority(command_id: str, level: str) -> case_pb2.CaseEvent:
        command = commands_pb2.AgentCommand(
            command_id=command_id,
            case_id=case.id,
            set_priority=commands_pb2.SetPriority(agent="sanne", level=level, reason="VIP press"),
        )
        [event] = case_events(book.on_command(command, T0))
        return event

    urgent = set_priority("p1", "urgent")
    assert urgent.type == case_pb2.CASE_EVENT_TYPE_PRIORITY_CHANGED
    assert (urgent.case.priority, urgent.case.priority_override) == ("urgent", "urgent")
    assert urgent.case.priority_explanation.level == "urgent"
    assert urgent.case.messages[-1].text == "Priority set to urgent: VIP press"
    cleared = set_priority("p2", "")
    assert (cleared.case.priority, cleared.case.priority_override) == (computed, "")


def test_the_tick_moves_the_priority_as_the_sla_time_runs_out() -> None:
    book = CaseBook(CARE)
    case, _ = opened(book, message("m1", sentiment="neutral"))
    assert case_events(book.tick(T0)) == []  # nothing moved yet
    later = case_events(book.tick(T0 + timedelta(hours=3)))
    levels = [e.case.priority for e in later if e.type == case_pb2.CASE_EVENT_TYPE_PRIORITY_CHANGED]
    assert levels and levels[-1] != case.priority
    sla = next(f for f in book.cases[case.id].priority_explanation.factors if f.factor == "sla")
    assert sla.signal == 1.0


def test_an_owner_getting_the_case_back_is_a_new_ownership_with_its_own_request() -> None:
    book = CaseBook(CARE)
    case, _ = opened(book, message("m1"))

    def give(decision_id: str, agent: str, at: timedelta) -> None:
        given = decision(
            case, decision_id, outcome=routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED, agent=agent
        )
        assert case_events(book.on_decision(given, T0 + at))

    give("d1", "sanne", timedelta(0))
    [first] = requests(book.tick(T0 + timedelta(hours=2)))
    give("d2", "olivia", timedelta(hours=2))
    [second] = requests(book.tick(T0 + timedelta(hours=4)))
    give("d3", "sanne", timedelta(hours=4))
    [third] = requests(book.tick(T0 + timedelta(hours=6)))
    assert [r.agent for r in (first, second, third)] == ["sanne", "olivia", "sanne"]
    assert len({first.request_id, second.request_id, third.request_id}) == 3


def test_a_case_holding_other_channels_messages_answers_on_its_own_channel() -> None:
    """After a merge (scenario 6) a phone note or a form may be the newest inbound message:
    the reply still answers the customer's latest message on the case's channel."""
    book = CaseBook(CARE)
    case, _ = opened(book, message("m1"))
    assert case.messages[0].channel == message_pb2.CHANNEL_X
    merged = case_pb2.Case()
    merged.CopyFrom(book.cases[case.id])
    merged.version += 1
    merged.messages.add(
        message_id="form-1",
        direction=case_pb2.DIRECTION_INBOUND,
        channel=message_pb2.CHANNEL_GENERIC,
        external_id="form-77",
        account_id="klachten",
        text="Complaint form: parcel missing",
    )
    book.restore(case_pb2.CaseEvent(case=merged))
    reply = commands_pb2.AgentCommand(
        command_id="c1",
        case_id=case.id,
        reply=commands_pb2.ReplyToCase(agent="sanne", text="On it"),
    )
    [outbound] = [e.message for e in book.on_command(reply, T0) if e.topic == Topic.OUTBOUND]
    assert isinstance(outbound, commands_pb2.OutboundReply)
    assert (outbound.channel, outbound.in_reply_to) == (message_pb2.CHANNEL_X, "m1")
    assert outbound.account_id != "klachten"
    assert book.cases[case.id].messages[-1].channel == message_pb2.CHANNEL_X
