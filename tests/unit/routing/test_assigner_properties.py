"""Property: whatever mix of queue, release, transfer, claim, reassign and presence requests
and ticks reaches the assigner, a case has at most one agent, no agent holds more cases than
their capacity in all or on any channel, the agents the assigner picks itself are online and
on shift, and a rebuild from both changelogs holds the same state and decides the same."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import channel_name
from socialcare.core.effects import Emit
from socialcare.routing.assignment import (
    AWAY,
    CLAIM,
    OFFLINE,
    ONLINE,
    PRESENCE,
    QUEUE,
    REASSIGN,
    RELEASE,
    TRANSFER,
    Assigner,
)
from socialcare.routing.prediction import Pools, Shifts, staffing
from socialcare.v1 import message_pb2, routing_pb2
from tests.unit.factories import T0

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
RAW: dict[str, Any] = {
    "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "1h"}],
    "calendars": [
        {"name": "ams-hours", "time_zone": "UTC", "hours": {d: "08:00-17:00" for d in WEEKDAYS}},
        {"name": "syd-hours", "time_zone": "UTC", "hours": {d: "15:00-24:00" for d in WEEKDAYS}},
    ],
    "teams": [{"name": "ams", "calendar": "ams-hours"}, {"name": "syd", "calendar": "syd-hours"}],
    "queues": [
        {"name": "care-en", "languages": ["*"], "teams": ["ams", "syd"]},
        {"name": "care-nl", "languages": ["nl"], "team": "ams", "after_hours": "overflow"},
    ],
    "agents": [
        {
            "id": "ann",
            "name": "Ann",
            "languages": ["en", "nl"],
            "capacity": 3,
            "team": "ams",
            "channel_capacity": {"whatsapp": 1},
        },
        {"id": "bob", "name": "Bob", "languages": ["en"], "capacity": 1, "team": "ams"},
        {
            "id": "sid",
            "name": "Sid",
            "languages": ["en", "nl"],
            "capacity": 2,
            "team": "syd",
            "channel_capacity": {"x": 1},
        },
        {
            "id": "spe",
            "name": "Spe",
            "languages": ["nl"],
            "capacity": 2,
            "specialist": True,
            "channel_capacity": {"whatsapp": 1},
        },
    ],
    "routing": {"lifecycle": {"offline_grace": "10m"}},
}
CARE = CareConfig.model_validate(RAW)
AGENTS = ("ann", "bob", "sid", "spe")
CHANNELS = (message_pb2.CHANNEL_X, message_pb2.CHANNEL_WHATSAPP, message_pb2.CHANNEL_EMAIL)
PRESENCE_VALUES = (ONLINE, AWAY, OFFLINE)
STEPS = (timedelta(minutes=1), timedelta(minutes=11), timedelta(hours=3))

Step = tuple[str, int, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(
            [
                *("queue", "queue", "queue", "release", "transfer", "claim", "reassign"),
                *("presence", "tick", "later"),
            ]
        ),
        st.integers(0, 7),  # case
        st.integers(0, len(AGENTS) - 1),  # agent
        st.integers(0, 2),  # channel / language / presence / time step
    ),
    min_size=1,
    max_size=60,
)


def check_invariants(assigner: Assigner) -> None:
    for agent in CARE.agents:
        held = [h for h in assigner.holdings.values() if h.agent == agent.id]
        assert len(held) == assigner.load_of(agent.id) <= agent.capacity, agent.id
        per_channel: dict[str, int] = {}
        for holding in held:
            name = channel_name(holding.channel)
            per_channel[name] = per_channel.get(name, 0) + 1
        assert per_channel == assigner.load_by_channel(agent.id)
        for name, count in per_channel.items():
            assert count <= agent.capacity_for(name), f"{agent.id} over capacity on {name}"
    assert all(not assigner.holdings[c].agent for c in assigner.waiting())
    assert sum(assigner.waiting_by_queue().values()) == len(assigner.waiting())


def check_staffing(assigner: Assigner, now: datetime) -> None:
    """The quick staffing a new waiting case is predicted with (from the agents with room and
    the agents not online) says what the full count over the pool says."""
    pools = Pools(CARE)
    for language in ("en", "nl"):
        team = pools.pool_key(f"care-{language}")
        full = staffing(assigner._pool_state(language, "default", team), assigner._shifts, now)
        assert assigner._staffing(language, "default", team, now) == full


@settings(max_examples=300, deadline=None)
@given(steps)
def test_no_double_owner_no_capacity_exceeded_and_rebuild_agrees(plan: list[Step]) -> None:
    assigner = Assigner(CARE)
    shifts = Shifts.from_config(CARE)
    now = T0 - timedelta(hours=2)  # Monday 07:00
    epochs: dict[str, int] = {}
    log: list[Emit] = []
    commanded: set[str] = set()  # requests naming their agent (transfer, claim)
    for counter, (action, case, pick, choice) in enumerate(plan):
        case_id, agent = f"c{case}", AGENTS[pick]
        request: routing_pb2.AssignmentRequest | None = None
        if action == "queue":
            epochs[case_id] = epochs.get(case_id, 0) + 1
            language = ("en", "nl", "en")[choice]
            request = routing_pb2.AssignmentRequest(
                request_id=f"q{counter}",
                case_id=case_id,
                kind=QUEUE,
                epoch=epochs[case_id],
                language=language,
                queue=f"care-{language}",
                priority="normal",
                priority_score=pick / 4,
                opened_at=to_timestamp(now),
                brand="default",
                channel=CHANNELS[(case + choice) % len(CHANNELS)],
            )
        elif action in ("release", "transfer", "claim", "reassign") and case_id in epochs:
            kind = {"release": RELEASE, "transfer": TRANSFER, "claim": CLAIM}.get(action, REASSIGN)
            request = routing_pb2.AssignmentRequest(
                request_id=f"r{counter}",
                case_id=case_id,
                kind=kind,
                epoch=epochs[case_id],
                agent=agent,
                command_id=f"r{counter}",
                requested_at=to_timestamp(now),
            )
            if kind in (TRANSFER, CLAIM):
                commanded.add(request.request_id)
        elif action == "presence":
            request = routing_pb2.AssignmentRequest(
                request_id=f"p{counter}",
                case_id=f"agent:{agent}",
                kind=PRESENCE,
                agent=agent,
                presence=PRESENCE_VALUES[choice],
                requested_at=to_timestamp(now),
            )
        elif action == "later":
            now += STEPS[choice]
        effects = assigner.tick(now) if request is None else assigner.on_request(request, now)
        log += effects
        check_invariants(assigner)
        check_staffing(assigner, now)
        for effect in effects:
            holding = effect.message
            if not isinstance(holding, routing_pb2.AssignmentHolding) or not holding.agent:
                continue
            if holding.released or holding.cause_id in commanded:
                continue
            if holding.assigned_at != to_timestamp(now):
                continue  # an AT_RISK mark of a case held since earlier
            # Picked by the assigner itself: online and on shift.
            member = CARE.agents_by_id[holding.agent]
            assert assigner.presence_of(member.id) == ONLINE, f"{member.id} not online"
            assert shifts.on_shift(member, now), f"{member.id} got a case off shift"

    fresh = Assigner(CARE)
    for effect in log:
        if isinstance(effect.message, routing_pb2.AssignmentHolding):
            fresh.restore(effect.message)
        elif isinstance(effect.message, routing_pb2.AgentState):
            fresh.restore_agent(effect.message)
    assert fresh.holdings == assigner.holdings
    assert fresh.agent_states == assigner.agent_states
    assert fresh.waiting() == assigner.waiting()
    later = now + timedelta(minutes=30)
    assert fresh.tick(later) == assigner.tick(later)
