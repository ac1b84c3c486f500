"""Internal notes, consultations and transfers with a reason: on the case for agents,
never to the customer, and not an answer (status and SLA clock stay as they were)."""

from __future__ import annotations

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import case_json
from socialcare.core.domain.topics import Topic
from socialcare.v1 import case_pb2, commands_pb2
from tests.unit.factories import enriched
from tests.unit.routing.harness import Routing, case_events, resolve

CARE = CareConfig.model_validate(
    {
        "sla_policies": [{"name": "all-1h", "languages": ["*"], "first_response": "1h"}],
        "queues": [{"name": "care", "languages": ["*"]}],
        "agents": [
            {"id": "sanne", "name": "Sanne de Vries", "languages": ["nl"], "capacity": 5},
            {"id": "daan", "name": "Daan Bakker", "languages": ["nl"], "capacity": 5},
            {"id": "ravi", "name": "Ravi Iyer", "languages": ["en"], "capacity": 5},
        ],
    }
)


def note(
    case_id: str, command_id: str, text: str, *, consult: str = ""
) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        note=commands_pb2.AddNote(agent="sanne", text=text, consult=consult),
    )


def opened(routing: Routing) -> case_pb2.Case:
    [event] = [
        e
        for e in case_events(routing.message(enriched("1")))
        if e.type == case_pb2.CASE_EVENT_TYPE_OPENED
    ]
    routing.pump()
    return routing.case(event.case.id)


def test_a_note_is_kept_for_agents_and_changes_nothing_else() -> None:
    routing = Routing(CARE)
    case = opened(routing)
    effects = routing.command(note(case.id, "n1", "Klant belde ook al, zie ticket 5521."))
    [event] = case_events(effects)
    assert event.type == case_pb2.CASE_EVENT_TYPE_NOTE_ADDED
    assert not [e for e in effects if e.topic == Topic.OUTBOUND]  # never to the customer
    after = routing.case(case.id)
    assert (after.status, after.sla) == (case.status, case.sla)
    view = case_json(after)["messages"][-1]
    assert (view["direction"], view["author"], view["delivery"]) == ("internal", "sanne", None)
    assert routing.command(note(case.id, "n1", "again")) == []  # applied once


def test_consulting_a_specialist_lists_them_on_the_case_once() -> None:
    routing = Routing(CARE)
    case = opened(routing)
    routing.command(note(case.id, "n1", "Ravi, is this covered by the warranty?", consult="ravi"))
    routing.command(note(case.id, "n2", "And the cable too?", consult="ravi"))
    assert list(routing.case(case.id).consultants) == ["ravi"]


def test_bad_notes_are_rejected_naming_the_field() -> None:
    routing = Routing(CARE)
    case = opened(routing)
    for command, code, field in (
        (note(case.id, "n1", "   "), "note_empty", "text"),
        (note(case.id, "n2", "x", consult="nobody"), "unknown_agent", "consult"),
        (note(case.id, "n3", "x", consult="sanne"), "self_consult", "consult"),
    ):
        [event] = case_events(routing.command(command))
        assert event.type == case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED
        assert (event.rejection.code, event.rejection.field) == (code, field)


def test_a_resolved_case_still_takes_notes() -> None:
    routing = Routing(CARE)
    case = opened(routing)
    routing.command(resolve(case.id, "r1"))
    [event] = case_events(routing.command(note(case.id, "n1", "Opgelost via de winkel.")))
    assert event.type == case_pb2.CASE_EVENT_TYPE_NOTE_ADDED


def test_a_transfer_keeps_its_reason_for_the_next_owner() -> None:
    routing = Routing(CARE)
    case = opened(routing)
    transfer = commands_pb2.AgentCommand(
        command_id="t1",
        case_id=case.id,
        assign=commands_pb2.AssignCase(agent="daan", reason="Daan kent dit contract", by="sanne"),
    )
    routing.command(transfer)
    routing.pump()
    after = routing.case(case.id)
    assert after.assignee == "daan"
    internal = [m for m in after.messages if m.direction == case_pb2.DIRECTION_INTERNAL]
    assert [(m.author, m.text) for m in internal] == [
        ("sanne", "Transfer to daan requested: Daan kent dit contract")
    ]
