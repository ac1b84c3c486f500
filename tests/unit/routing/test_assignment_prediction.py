"""The assigner acting on breach prediction: AT_RISK once per opening (also after a
rebuild), overflow to specialists and other teams on shift, shifts respected, handle times
learnt from releases; and a property: overflow never breaks the assigner's invariants."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.routing.assignment import QUEUE, RELEASE, TRANSFER, Assigner
from socialcare.routing.prediction import Pools, Shifts
from socialcare.v1 import case_pb2, message_pb2, routing_pb2, sla_pb2
from tests.unit.factories import T0  # Monday 09:00 UTC

CARE = CareConfig.model_validate(
    {
        "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "1h"}],
        "calendars": [
            {
                "name": "office",
                "time_zone": "UTC",
                "hours": {day: "08:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")},
            }
        ],
        "teams": [{"name": "day", "calendar": "office"}, {"name": "night"}],
        "queues": [
            {"name": "care-en", "languages": ["en"], "team": "day"},
            {"name": "all", "languages": ["*"]},
        ],
        "agents": [
            {"id": "ann", "name": "Ann", "languages": ["en"], "capacity": 1, "team": "day"},
            {"id": "bob", "name": "Bob", "languages": ["en"], "capacity": 1, "team": "day"},
            {"id": "nia", "name": "Nia", "languages": ["en"], "capacity": 1, "team": "night"},
            {
                "id": "sam",
                "name": "Sam",
                "languages": ["en", "nl"],
                "capacity": 1,
                "specialist": True,
            },
            {"id": "cem", "name": "Cem", "languages": ["nl"], "capacity": 1},
        ],
    }
)
AGENTS = ("ann", "bob", "nia", "sam", "cem")
M = TypeVar("M", sla_pb2.SlaEvent, routing_pb2.AssignmentDecision)


def queue(
    case_id: str,
    *,
    due: timedelta | None,
    language: str = "en",
    epoch: int = 1,
    now: datetime = T0,
    agent: str = "",
) -> routing_pb2.AssignmentRequest:
    request = routing_pb2.AssignmentRequest(
        request_id=f"q-{case_id}-{epoch}",
        case_id=case_id,
        kind=QUEUE,
        epoch=epoch,
        language=language,
        queue=CARE.queue_for(language).name,
        priority="normal",
        opened_at=to_timestamp(now),
        requested_at=to_timestamp(now),
        brand="default",
        agent=agent,
        response_clock=case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE,
        response_cycle=1,
        channel=message_pb2.CHANNEL_X,
        customer_tier="vip",
    )
    if due is not None:
        request.response_due_at.CopyFrom(to_timestamp(now + due))
    return request


def release(
    case_id: str, *, epoch: int = 1, now: datetime = T0, replied: datetime | None = None
) -> routing_pb2.AssignmentRequest:
    request = routing_pb2.AssignmentRequest(
        request_id=f"r-{case_id}-{epoch}",
        case_id=case_id,
        kind=RELEASE,
        epoch=epoch,
        requested_at=to_timestamp(now),
    )
    if replied is not None:
        request.first_reply_at.CopyFrom(to_timestamp(replied))
    return request


def of(effects: list[Emit], kind: type[M]) -> list[M]:
    return [e.message for e in effects if isinstance(e.message, kind)]


def at_risk(effects: list[Emit]) -> list[sla_pb2.SlaEvent]:
    return [e for e in of(effects, sla_pb2.SlaEvent) if e.type == sla_pb2.SLA_EVENT_TYPE_AT_RISK]


def granted(effects: list[Emit]) -> dict[str, routing_pb2.AssignmentDecision]:
    return {d.case_id: d for d in of(effects, routing_pb2.AssignmentDecision) if d.agent}


def rebuilt(changelog: list[Emit], *, overflow: bool = True) -> Assigner:
    fresh = Assigner(CARE, overflow=overflow)
    for effect in changelog:
        if effect.topic == Topic.ASSIGNMENTS_CHANGELOG:
            assert isinstance(effect.message, routing_pb2.AssignmentHolding)
            fresh.restore(effect.message)
    return fresh


def test_specialists_are_not_in_the_normal_pool() -> None:
    assigner = Assigner(CARE)
    assert (
        granted(assigner.on_request(queue("n1", due=timedelta(days=2), language="nl"), T0))[
            "n1"
        ].agent
        == "cem"
    )
    effects = assigner.on_request(queue("n2", due=timedelta(days=2), language="nl"), T0)
    assert granted(effects) == {} and at_risk(effects) == []
    assert assigner.waiting() == ["n2"]  # Sam has room, but only for cases at risk


def test_a_case_predicted_to_breach_is_announced_once_and_overflows_to_a_specialist() -> None:
    assigner = Assigner(CARE)
    assigner.on_request(queue("n1", due=timedelta(days=2), language="nl"), T0)
    # Cem is busy for ~30 min (handle prior) and replies ~5 min after: due in 10 min is late.
    effects = assigner.on_request(queue("n2", due=timedelta(minutes=10), language="nl"), T0)
    [event] = at_risk(effects)
    assert event.case_id == "n2" and event.due_at == to_timestamp(T0 + timedelta(minutes=10))
    assert event.clock == case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE and event.cycle == 1
    assert (event.queue, event.language, event.channel) == ("all", "nl", message_pb2.CHANNEL_X)
    assert event.customer_tier == "vip" and event.brand == "default"
    assert from_timestamp(event.predicted_response_at) == T0 + timedelta(seconds=1800 + 300)
    assert "1 free of" not in event.reason and "0 free of 1 slots" in event.reason
    decision = granted(effects)["n2"]
    assert decision.agent == "sam" and decision.overflow
    assert decision.reason == f"overflow: {event.reason}"
    assert assigner.holdings["n2"].overflow and assigner.holdings["n2"].at_risk
    # Asked again (a rebuild of routing re-sends QUEUE): the same decision, no second event.
    again = assigner.on_request(queue("n2", due=timedelta(minutes=10), language="nl"), T0)
    assert [d.decision_id for d in granted(again).values()] == [decision.decision_id]
    assert at_risk(again) == []


def test_at_risk_is_not_emitted_again_by_the_tick_nor_after_a_rebuild() -> None:
    assigner = Assigner(CARE, overflow=False)
    log = assigner.on_request(queue("n1", due=timedelta(days=2), language="nl"), T0)
    log += assigner.on_request(queue("n2", due=timedelta(minutes=10), language="nl"), T0)
    [first] = at_risk(log)
    assert granted(log).keys() == {"n1"}  # overflow off: n2 keeps waiting for Cem
    assert at_risk(assigner.tick(T0 + timedelta(minutes=1))) == []
    fresh = rebuilt(log, overflow=False)
    assert fresh.holdings["n2"].at_risk
    assert at_risk(fresh.tick(T0 + timedelta(minutes=2))) == []
    # The event id is derived, so even an unmarked re-emission would be the same event.
    other = Assigner(CARE, overflow=False)
    replay = other.on_request(queue("n1", due=timedelta(days=2), language="nl"), T0)
    replay += other.on_request(queue("n2", due=timedelta(minutes=10), language="nl"), T0)
    assert [e.event_id for e in at_risk(replay)] == [first.event_id]


def test_no_warning_once_the_clock_is_past_due_nor_for_cases_expected_in_time() -> None:
    assigner = Assigner(CARE, overflow=False)
    assigner.on_request(queue("n1", due=timedelta(days=2), language="nl"), T0)
    effects = assigner.on_request(queue("n2", due=timedelta(hours=1), language="nl"), T0)
    assert at_risk(effects) == []  # 35 min predicted, due in an hour
    # 40 minutes on, Cem still holds n1: predicted 30 + 5 min from now, due in 20.
    later = T0 + timedelta(minutes=40)
    assert [e.case_id for e in at_risk(assigner.tick(later))] == ["n2"]
    fresh = Assigner(CARE, overflow=False)
    fresh.on_request(queue("n1", due=timedelta(days=2), language="nl"), T0)
    fresh.on_request(queue("n2", due=timedelta(hours=1), language="nl"), T0)
    assert at_risk(fresh.tick(T0 + timedelta(hours=2))) == []  # breached: the SLA service's


def test_an_at_risk_case_overflows_to_another_team_on_shift() -> None:
    assigner = Assigner(CARE)
    for case_id in ("e1", "e2"):
        assigner.on_request(queue(case_id, due=timedelta(days=2)), T0)
    assert {h.agent for h in assigner.holdings.values()} == {"ann", "bob"}
    calm = assigner.on_request(queue("e3", due=timedelta(days=2)), T0)
    assert granted(calm) == {}  # Nia (night team) has room, but e3 is not at risk
    urgent = assigner.on_request(queue("e4", due=timedelta(minutes=15)), T0)
    assert at_risk(urgent)[0].case_id == "e4" and at_risk(urgent)[0].team == "day"
    decision = granted(urgent)["e4"]
    assert decision.agent == "nia" and decision.overflow  # before Sam: equal room, by id
    assert assigner.waiting() == ["e3"]


def test_agents_off_shift_get_no_new_cases_and_the_tick_fills_them_at_shift_start() -> None:
    evening = T0 + timedelta(hours=10)  # Monday 19:00: the day team is off
    assigner = Assigner(CARE)
    effects = assigner.on_request(queue("e1", due=timedelta(hours=16), now=evening), evening)
    assert granted(effects) == {} and at_risk(effects) == []  # in time when the day starts
    assert granted(assigner.tick(evening + timedelta(hours=12))) == {}  # 07:00, still closed
    morning = granted(assigner.tick(evening + timedelta(hours=13)))  # Tuesday 08:00
    assert morning["e1"].agent == "ann" and not morning["e1"].overflow


def test_a_case_nobody_on_shift_can_answer_in_time_goes_to_the_night_team() -> None:
    evening = T0 + timedelta(hours=10)
    assigner = Assigner(CARE)
    effects = assigner.on_request(queue("e1", due=timedelta(hours=1), now=evening), evening)
    [event] = at_risk(effects)
    assert "from 2026-11-24 08:00 UTC" in event.reason
    assert granted(effects)["e1"].agent == "nia"


def test_handle_and_first_reply_times_are_learnt_from_releases_and_survive_a_rebuild() -> None:
    assigner = Assigner(CARE)
    log = assigner.on_request(queue("n1", due=timedelta(days=2), language="nl"), T0)
    done = T0 + timedelta(minutes=12)
    log += assigner.on_request(
        release("n1", now=done, replied=T0 + timedelta(minutes=2)), done + timedelta(seconds=1)
    )
    assert assigner.times.handle("nl") == 720.0
    assert assigner.times.first_reply("nl") == 120.0
    assert assigner.times.handle("en") == assigner.times.handle_prior
    fresh = rebuilt(log)
    assert (fresh.times.handle("nl"), fresh.times.first_reply("nl")) == (720.0, 120.0)
    # The learnt times feed the prediction: Cem busy, now ~12 + 2 min, so due in 20 is fine.
    fresh.on_request(queue("n2", due=timedelta(days=1), language="nl", now=done), done)
    effects = fresh.on_request(
        queue("n3", due=timedelta(minutes=20), language="nl", now=done), done
    )
    assert at_risk(effects) == []


def test_a_transfer_may_still_name_a_specialist_and_is_not_overflow() -> None:
    assigner = Assigner(CARE)
    assigner.on_request(queue("n1", due=timedelta(days=2), language="nl"), T0)
    transfer = routing_pb2.AssignmentRequest(
        request_id="t1", case_id="n1", kind=TRANSFER, epoch=1, agent="sam", command_id="c1"
    )
    decision = granted(assigner.on_request(transfer, T0))["n1"]
    assert decision.agent == "sam" and not decision.overflow and decision.reason == ""


# -- property ---------------------------------------------------------------------------------
Step = tuple[str, int, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(["queue", "queue", "queue", "release", "transfer", "tick", "later"]),
        st.integers(0, 7),  # case
        st.integers(0, len(AGENTS) - 1),  # agent; language for queue
        st.integers(0, 3),  # due choice; time step choice
    ),
    min_size=1,
    max_size=60,
)
DUES = (None, timedelta(minutes=5), timedelta(minutes=40), timedelta(hours=8))
STEPS = (timedelta(minutes=3), timedelta(minutes=20), timedelta(hours=2), timedelta(hours=7))


@settings(max_examples=300, deadline=None)
@given(steps, st.booleans())
def test_overflow_never_breaks_the_invariants(plan: list[Step], overflow: bool) -> None:
    assigner = Assigner(CARE, overflow=overflow)
    pools, shifts = Pools(CARE), Shifts.from_config(CARE)
    now = T0 - timedelta(hours=2)  # Monday 07:00, before the day team starts
    epochs: dict[str, int] = {}
    log: list[Emit] = []
    announced: set[tuple[str, int]] = set()
    transfers: set[str] = set()
    preferred: dict[str, str] = {}
    for action, case, pick, choice in plan:
        case_id = f"c{case}"
        effects: list[Emit] = []
        if action == "queue":
            epochs[case_id] = epochs.get(case_id, 0) + 1
            language = ("en", "nl")[pick % 2]
            request = queue(
                case_id, due=DUES[choice], language=language, epoch=epochs[case_id], now=now
            )
            request.agent = AGENTS[(pick + choice) % len(AGENTS)] if choice % 2 else ""
            preferred[request.request_id] = request.agent
            effects = assigner.on_request(request, now)
        elif action == "release" and case_id in epochs:
            effects = assigner.on_request(release(case_id, epoch=epochs[case_id], now=now), now)
        elif action == "transfer" and case_id in epochs:
            request_id = f"t{len(log)}"
            transfers.add(request_id)
            transfer = routing_pb2.AssignmentRequest(
                request_id=request_id,
                case_id=case_id,
                kind=TRANSFER,
                epoch=epochs[case_id],
                agent=AGENTS[pick],
                command_id=request_id,
            )
            effects = assigner.on_request(transfer, now)
        elif action == "tick":
            effects = assigner.tick(now)
        elif action == "later":
            now += STEPS[choice]
            effects = assigner.tick(now)
        log += effects

        # One agent per case, capacity never exceeded, waiting cases hold nobody.
        for agent in CARE.agents:
            held = [h for h in assigner.holdings.values() if h.agent == agent.id]
            assert len(held) == assigner.load_of(agent.id) <= agent.capacity
        assert all(not assigner.holdings[c].agent for c in assigner.waiting())
        for event in at_risk(effects):
            key = (event.case_id, assigner_epoch(log, event.case_id))
            assert key not in announced, f"AT_RISK twice for {key}"
            announced.add(key)
            assert from_timestamp(event.due_at) > now
        for effect in effects:
            holding = effect.message
            if not isinstance(holding, routing_pb2.AssignmentHolding) or not holding.agent:
                continue
            if holding.released or holding.cause_id in transfers:
                continue
            agent = CARE.agents_by_id[holding.agent]
            assert shifts.on_shift(agent, now), f"{agent.id} got a case off shift"
            if holding.overflow:
                assert overflow and holding.at_risk
                assert pools.overflow(agent, holding.language, holding.brand, team(holding))
            elif holding.cause_id != holding.request_id or agent.id != preferred[holding.cause_id]:
                # Filled on a release or a tick, or the best agent for a QUEUE: normal pool.
                assert pools.normal(agent, holding.language, holding.brand, team(holding))

    # A rebuild from the changelog holds the same state and announces nothing again.
    fresh = rebuilt(log, overflow=overflow)
    assert fresh.holdings == assigner.holdings
    assert at_risk(fresh.tick(now)) == at_risk(assigner.tick(now))


def team(holding: routing_pb2.AssignmentHolding) -> str:
    return Pools(CARE).queue_team(holding.queue)


def assigner_epoch(log: list[Emit], case_id: str) -> int:
    """The epoch of the case's latest changelog record (the AT_RISK mark precedes its event)."""
    for effect in reversed(log):
        message = effect.message
        if isinstance(message, routing_pb2.AssignmentHolding) and message.case_id == case_id:
            return message.epoch
    raise AssertionError(f"no holding for {case_id}")
