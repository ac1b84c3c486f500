"""Scenario 3: an agent asks a specialist (by language and product) for advice; the owner
keeps the case, the specialist's answer comes back onto it, once."""

from __future__ import annotations

from datetime import timedelta

from socialcare.core.domain.care_config import CareConfig
from socialcare.v1 import case_pb2, commands_pb2
from tests.unit.factories import T0, enriched
from tests.unit.routing.harness import Routing, case_events, consult

CARE = CareConfig.model_validate(
    {
        "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "1h"}],
        "queues": [{"name": "care", "languages": ["*"]}],
        "agents": [
            {"id": "sanne", "name": "Sanne", "languages": ["nl"], "capacity": 3},
            {
                "id": "kenji",
                "name": "Kenji",
                "languages": ["ja", "en"],
                "capacity": 3,
                "skills": {"product:heatpump": 3},
            },
        ],
    }
)


def answer(
    case_id: str, command_id: str, consultation_id: str, specialist: str = "kenji"
) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        answer_consultation=commands_pb2.AnswerConsultation(
            specialist=specialist, consultation_id=consultation_id, answer="Yes, within 30 days."
        ),
    )


def test_a_consultation_keeps_the_owner_and_brings_the_answer_back_once() -> None:
    routing = Routing(CARE)
    case_id = case_events(routing.message(enriched("m1")))[0].case.id
    assert routing.case(case_id).assignee == "sanne"
    [asked] = case_events(routing.command(consult(case_id, "q1", "sanne", "kenji")))
    assert asked.type == case_pb2.CASE_EVENT_TYPE_NOTE_ADDED
    assert asked.case.assignee == "sanne" and asked.case.status == case_pb2.CASE_STATUS_ASSIGNED
    [consultation] = asked.case.consultations
    assert (consultation.id, consultation.specialist, consultation.asked_by) == (
        "q1",
        "kenji",
        "sanne",
    )
    assert consultation.question == "Is a refund possible here?"
    assert list(asked.case.consultants) == ["kenji"]
    assert asked.case.messages[-1].direction == case_pb2.DIRECTION_INTERNAL
    [answered] = case_events(
        routing.at(T0 + timedelta(minutes=20)).command(answer(case_id, "a1", "q1"))
    )
    assert answered.type == case_pb2.CASE_EVENT_TYPE_CONSULTATION_ANSWERED
    done = answered.case.consultations[0]
    assert done.answer == "Yes, within 30 days."
    assert done.answered_at.ToDatetime() == (T0 + timedelta(minutes=20)).replace(tzinfo=None)
    assert answered.case.messages[-1].text == "Advice for sanne: Yes, within 30 days."
    assert answered.case.assignee == "sanne"  # ownership never moved
    [twice] = case_events(routing.command(answer(case_id, "a2", "q1")))
    assert (twice.rejection.code, twice.type) == (
        "consultation_answered",
        case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED,
    )


def test_only_the_asked_specialist_answers() -> None:
    routing = Routing(CARE)
    case_id = case_events(routing.message(enriched("m1")))[0].case.id
    routing.command(consult(case_id, "q1", "sanne", "kenji"))
    [refused] = case_events(routing.command(answer(case_id, "a1", "q1", specialist="sanne")))
    assert (refused.rejection.code, refused.rejection.field) == ("not_the_specialist", "specialist")
    assert not routing.case(case_id).consultations[0].answer
