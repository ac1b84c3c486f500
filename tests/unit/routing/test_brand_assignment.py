"""Brands are isolated in routing too: a case only goes to agents who serve its brand,
from the queue, the backlog or a transfer (ADR 0007)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from socialcare.core.domain.care_config import CareConfig
from socialcare.v1 import case_pb2, commands_pb2, message_pb2
from tests.unit.factories import enriched
from tests.unit.routing.harness import Routing, case_events

RAW = {
    "sla_policies": [{"name": "all-1h", "languages": ["*"], "first_response": "1h"}],
    "queues": [{"name": "care", "languages": ["*"]}],
    "brands": [{"name": "acme"}, {"name": "globex"}],
    "agents": [
        {"id": "anna", "name": "Anna A", "languages": ["en"], "capacity": 1, "brands": ["acme"]},
        {"id": "bram", "name": "Bram B", "languages": ["en"], "capacity": 5, "brands": ["globex"]},
    ],
}
CARE = CareConfig.model_validate(RAW)


def message(external_id: str, brand: str) -> message_pb2.EnrichedMessage:
    enriched_message = enriched(external_id, author=f"cust-{external_id}", language="en")
    enriched_message.message.brand = brand
    return enriched_message


def opened_case(routing: Routing, external_id: str, brand: str) -> str:
    events = case_events(routing.message(message(external_id, brand)))
    routing.pump()
    [event] = [e for e in events if e.type == case_pb2.CASE_EVENT_TYPE_OPENED]
    return event.case.id


def test_a_case_goes_only_to_an_agent_of_its_brand() -> None:
    routing = Routing(CARE)
    acme = opened_case(routing, "1", "acme")
    globex = opened_case(routing, "2", "globex")
    assert routing.case(acme).assignee == "anna"
    assert routing.case(globex).assignee == "bram"  # bram has far more room, but not acme's


def test_when_the_brands_agents_are_full_the_case_waits_for_them() -> None:
    routing = Routing(CARE)
    first = opened_case(routing, "1", "acme")
    second = opened_case(routing, "2", "acme")
    assert routing.case(first).assignee == "anna"
    assert routing.case(second).assignee == ""  # bram has room but serves globex
    assert routing.assigner.waiting() == [second]


def test_a_transfer_to_an_agent_of_another_brand_is_rejected() -> None:
    routing = Routing(CARE)
    case_id = opened_case(routing, "1", "acme")
    transfer = commands_pb2.AgentCommand(
        command_id="t1", case_id=case_id, assign=commands_pb2.AssignCase(agent="bram")
    )
    [event] = case_events(routing.command(transfer))
    assert event.type == case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED
    assert (event.rejection.code, event.rejection.field) == ("brand_not_served", "agent")


def test_an_agent_naming_an_unknown_brand_is_refused() -> None:
    agents = [{**RAW["agents"][0], "brands": ["initech"]}]  # type: ignore[index]
    with pytest.raises(ValidationError, match="initech"):
        CareConfig.model_validate({**RAW, "agents": agents})
