"""Property test: whatever the order in which requests, decisions, commands and customer
messages interleave across partitions, the assigner never gives a case two agents nor an
agent more cases than their capacity, and once everything is delivered the cases and the
assigner agree on who holds what."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.routing.assignment import Assigner
from socialcare.v1 import case_pb2, routing_pb2
from tests.unit.factories import T0, enriched
from tests.unit.routing.harness import Routing, assign, reply, resolve

CARE = CareConfig.model_validate(
    {
        "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "1h"}],
        "queues": [{"name": "all", "languages": ["*"]}],
        "agents": [
            {"id": "ann", "name": "Ann", "languages": ["en", "nl"], "capacity": 2},
            {"id": "bob", "name": "Bob", "languages": ["en"], "capacity": 1},
            {"id": "cem", "name": "Cem", "languages": ["nl"], "capacity": 2},
        ],
    }
)
AGENTS = ("ann", "bob", "cem")

Step = tuple[str, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["message", "message", "resolve", "assign", "reply", "request", "decision"]
        ),
        st.integers(0, 7),  # customer / case choice
        st.integers(0, 2),  # agent choice, language choice
    ),
    min_size=1,
    max_size=80,
)


def check_cases_hold_granted_agents(routing: Routing) -> None:
    """A case shows an owner only if the assigner granted that agent for this opening."""
    granted = {
        (d.case_id, d.epoch, d.agent)
        for e in routing.published
        if e.topic == Topic.ASSIGNMENT_DECISIONS
        and isinstance(d := e.message, routing_pb2.AssignmentDecision)
        and d.outcome == routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED
    }
    for book in routing.books:
        for case in book.cases.values():
            if case.assignee and case.status != case_pb2.CASE_STATUS_RESOLVED:
                assert (case.id, case.assignment_epoch, case.assignee) in granted


def check_assigner(assigner: Assigner) -> None:
    held: dict[str, int] = {}
    for holding in assigner.holdings.values():
        if holding.agent:
            held[holding.agent] = held.get(holding.agent, 0) + 1
    for agent in CARE.agents:
        assert held.get(agent.id, 0) == assigner.load_of(agent.id)
        assert assigner.load_of(agent.id) <= agent.capacity, f"{agent.id} over capacity"
    waiting = set(assigner.waiting())
    assert all(not assigner.holdings[c].agent for c in waiting)


@settings(max_examples=400, deadline=None)
@given(steps)
def test_no_case_has_two_agents_and_no_agent_exceeds_capacity(plan: list[Step]) -> None:
    routing = Routing(CARE, partitions=3, auto=False)
    for counter, (action, who, pick) in enumerate(plan, start=1):
        routing.now = T0 + timedelta(seconds=counter)
        cases = sorted(c.id for book in routing.books for c in book.cases.values())
        if action == "message":
            # A customer always writes in one language, so a reopened case stays in it.
            language = ("en", "nl")[who % 2]
            routing.message(enriched(f"m{counter}", author=f"cust{who}", language=language))
        elif action == "request" and routing.requests:
            routing.deliver_request()
        elif action == "decision" and routing.decisions:
            routing.deliver_decision()
        elif cases and action in ("resolve", "assign", "reply"):
            case_id, command_id, agent = cases[who % len(cases)], f"c{counter}", AGENTS[pick]
            if action == "resolve":
                routing.command(resolve(case_id, command_id, agent))
            elif action == "assign":
                routing.command(assign(case_id, command_id, agent))
            else:
                routing.command(reply(case_id, command_id, agent, "Hello!"))
        check_assigner(routing.assigner)
        check_cases_hold_granted_agents(routing)

    routing.pump()
    check_assigner(routing.assigner)
    for book in routing.books:
        for case in book.cases.values():
            holding = routing.assigner.holdings.get(case.id)
            if case.status == case_pb2.CASE_STATUS_RESOLVED:
                assert holding is None, f"resolved case {case.id} still held"
                continue
            assert holding is not None, f"open case {case.id} unknown to the assigner"
            assert holding.epoch == case.assignment_epoch
            assert holding.agent == case.assignee, f"{case.id}: {holding.agent} vs {case.assignee}"
    # The case view agrees with the assigner, so it respects capacity too.
    for member in CARE.agents:
        owned = [
            c
            for book in routing.books
            for c in book.cases.values()
            if c.assignee == member.id and c.status != case_pb2.CASE_STATUS_RESOLVED
        ]
        assert len(owned) <= member.capacity
