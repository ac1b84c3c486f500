"""The assigner's rules one by one: presence (away keeps, offline loses after the grace
period, online takes waiting cases), longest idle first after the skill match, capacity per
channel on every kind of grant, follow-the-sun answering teams and after-hours overflow,
claims, reassignment of a silent owner, QUEUED answers with the place in the queue, backlog
order by priority score, and a rebuild from both changelogs that decides as before."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
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
from socialcare.v1 import message_pb2, routing_pb2, sla_pb2
from tests.unit.factories import T0  # Monday 09:00 UTC

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
RAW: dict[str, Any] = {
    "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "1h"}],
    "calendars": [
        {"name": "ams-hours", "time_zone": "UTC", "hours": {d: "08:00-17:00" for d in WEEKDAYS}},
        {"name": "syd-hours", "time_zone": "UTC", "hours": {d: "17:00-24:00" for d in WEEKDAYS}},
    ],
    "teams": [{"name": "ams", "calendar": "ams-hours"}, {"name": "syd", "calendar": "syd-hours"}],
    "queues": [
        {"name": "care", "languages": ["en"], "teams": ["ams", "syd"]},
        {"name": "care-de", "languages": ["de"], "team": "ams", "after_hours": "overflow"},
        {"name": "care-nl", "languages": ["nl"], "team": "ams"},
        {"name": "all", "languages": ["*"]},
    ],
    "agents": [
        {"id": "ann", "name": "Ann", "languages": ["en", "nl"], "capacity": 2, "team": "ams"},
        {"id": "bob", "name": "Bob", "languages": ["en", "de"], "capacity": 2, "team": "ams"},
        {"id": "sid", "name": "Sid", "languages": ["en"], "capacity": 2, "team": "syd"},
        {
            "id": "spe",
            "name": "Spe",
            "languages": ["de", "en"],
            "capacity": 2,
            "specialist": True,
        },
    ],
}
CARE = CareConfig.model_validate(RAW)
X, WHATSAPP = message_pb2.CHANNEL_X, message_pb2.CHANNEL_WHATSAPP


def config(**changes: Any) -> CareConfig:
    """RAW with top-level sections replaced (e.g. other agents)."""
    return CareConfig.model_validate({**RAW, **changes})


def queue(
    case_id: str,
    *,
    language: str = "en",
    queue_name: str = "care",
    epoch: int = 1,
    now: datetime = T0,
    agent: str = "",
    channel: message_pb2.Channel.ValueType = X,
    score: float = 0.0,
    priority: str = "normal",
    product: str = "",
    tier: str = "",
) -> routing_pb2.AssignmentRequest:
    return routing_pb2.AssignmentRequest(
        request_id=f"q-{case_id}-{epoch}",
        case_id=case_id,
        kind=QUEUE,
        epoch=epoch,
        language=language,
        queue=queue_name,
        priority=priority,
        priority_score=score,
        product=product,
        customer_tier=tier,
        opened_at=to_timestamp(now),
        requested_at=to_timestamp(now),
        brand="default",
        agent=agent,
        channel=channel,
    )


def presence(
    agent: str, value: routing_pb2.Presence.ValueType, now: datetime
) -> routing_pb2.AssignmentRequest:
    return routing_pb2.AssignmentRequest(
        request_id=f"p-{agent}-{value}-{now.isoformat()}",
        case_id=f"agent:{agent}",
        kind=PRESENCE,
        agent=agent,
        presence=value,
        by=agent,
        requested_at=to_timestamp(now),
    )


def command(
    kind: routing_pb2.AssignmentRequestKind.ValueType,
    case_id: str,
    agent: str,
    request_id: str,
    *,
    epoch: int = 1,
    reason: str = "",
) -> routing_pb2.AssignmentRequest:
    return routing_pb2.AssignmentRequest(
        request_id=request_id,
        case_id=case_id,
        kind=kind,
        epoch=epoch,
        agent=agent,
        command_id=request_id,
        reason=reason,
    )


def decisions(effects: list[Emit]) -> list[routing_pb2.AssignmentDecision]:
    return [e.message for e in effects if isinstance(e.message, routing_pb2.AssignmentDecision)]


def granted(effects: list[Emit]) -> dict[str, str]:
    return {
        d.case_id: d.agent
        for d in decisions(effects)
        if d.outcome == routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED
    }


def holders(assigner: Assigner) -> dict[str, str]:
    return {c: h.agent for c, h in assigner.holdings.items() if h.agent}


def rebuilt(care: CareConfig, log: list[Emit]) -> Assigner:
    fresh = Assigner(care)
    for effect in log:
        if isinstance(effect.message, routing_pb2.AssignmentHolding):
            fresh.restore(effect.message)
        elif isinstance(effect.message, routing_pb2.AgentState):
            assert effect.topic == Topic.AGENTS_CHANGELOG
            fresh.restore_agent(effect.message)
    return fresh


# -- presence ---------------------------------------------------------------------------------
def test_an_away_agent_keeps_their_cases_and_gets_no_new_ones_until_online_again() -> None:
    assigner = Assigner(CARE)
    assert granted(assigner.on_request(queue("n1", language="nl", queue_name="care-nl"), T0)) == {
        "n1": "ann"
    }
    [state] = [
        e.message
        for e in assigner.on_request(presence("ann", AWAY, T0), T0)
        if isinstance(e.message, routing_pb2.AgentState)
    ]
    assert state.presence == AWAY and state.presence_by == "ann"
    later = T0 + timedelta(hours=1)
    effects = assigner.on_request(queue("n2", language="nl", queue_name="care-nl"), later)
    [waiting] = decisions(effects)
    assert waiting.outcome == routing_pb2.ASSIGNMENT_OUTCOME_QUEUED
    assert holders(assigner) == {"n1": "ann"}  # kept, even past the offline grace period
    assert assigner.on_request(presence("ann", AWAY, later), later) == []  # said again
    back = assigner.on_request(presence("ann", ONLINE, later), later)
    assert granted(back) == {"n2": "ann"}


def test_an_offline_owner_loses_their_cases_after_the_grace_period() -> None:
    assigner = Assigner(CARE)  # offline_grace 5m by default
    assigner.on_request(queue("e1"), T0)  # ann (by id)
    assigner.on_request(queue("e2"), T0)  # bob: ann got one, bob idle longer
    assert holders(assigner) == {"e1": "ann", "e2": "bob"}
    assigner.on_request(presence("ann", OFFLINE, T0), T0)
    assert assigner.tick(T0 + timedelta(minutes=4)) == []
    effects = assigner.tick(T0 + timedelta(minutes=5))
    [moved] = decisions(effects)
    assert (moved.agent, moved.previous_agent) == ("bob", "ann")
    assert moved.reason == "owner ann offline since 2026-11-23 09:00 UTC"
    assert holders(assigner) == {"e1": "bob", "e2": "bob"}
    assert assigner.tick(T0 + timedelta(minutes=6)) == []  # done once


def test_an_offline_owners_case_goes_back_to_the_queue_when_nobody_has_room() -> None:
    assigner = Assigner(CARE)
    assigner.on_request(queue("n1", language="nl", queue_name="care-nl"), T0)  # only Ann: nl
    assigner.on_request(presence("ann", OFFLINE, T0), T0)
    later = T0 + timedelta(minutes=10)
    # A request (any) also notices the grace period is over.
    effects = assigner.on_request(queue("e9"), later)
    [back] = [
        d for d in decisions(effects) if d.outcome == routing_pb2.ASSIGNMENT_OUTCOME_UNASSIGNED
    ]
    assert back.case_id == "n1" and back.previous_agent == "ann" and back.agent == ""
    assert "n1" in assigner.waiting() and assigner.load_of("ann") == 0
    # Ann comes back and takes the waiting case.
    assert granted(assigner.on_request(presence("ann", ONLINE, later), later)) == {"n1": "ann"}


def test_with_default_presence_offline_only_agents_who_signed_in_get_cases() -> None:
    care = config(routing={"lifecycle": {"default_presence": "offline"}})
    assigner = Assigner(care)
    [queued] = decisions(assigner.on_request(queue("e1"), T0))
    assert queued.outcome == routing_pb2.ASSIGNMENT_OUTCOME_QUEUED
    assert granted(assigner.on_request(presence("bob", ONLINE, T0), T0)) == {"e1": "bob"}


# -- ranking ----------------------------------------------------------------------------------
def test_longest_idle_first_among_equally_skilled_agents() -> None:
    assigner = Assigner(CARE)
    assert granted(assigner.on_request(queue("e1"), T0)) == {"e1": "ann"}  # both never: id
    later = T0 + timedelta(minutes=1)
    assert granted(assigner.on_request(queue("e2", now=later), later)) == {"e2": "bob"}
    release = command(RELEASE, "e1", "", "r1")
    assigner.on_request(release, later)
    # Ann got her case before Bob got his: she has been idle longer, though both have room.
    again = T0 + timedelta(minutes=2)
    assert granted(assigner.on_request(queue("e3", now=again), again)) == {"e3": "ann"}


def test_the_best_skill_match_wins_over_idle_time() -> None:
    agents = [
        {"id": "ann", "name": "Ann", "languages": ["en"], "capacity": 2},
        {
            "id": "bob",
            "name": "Bob",
            "languages": ["en"],
            "capacity": 2,
            "skills": {"product:router": 5, "tier:vip": 2},
        },
        {
            "id": "cat",
            "name": "Cat",
            "languages": ["en"],
            "capacity": 2,
            "skills": {"channel:x": 4},
        },
    ]
    care = config(
        agents=agents,
        queues=[{"name": "all", "languages": ["*"]}],
        customer_tiers=["standard", "vip"],
    )
    assigner = Assigner(care)
    assert granted(assigner.on_request(queue("e1", queue_name="all"), T0)) == {"e1": "cat"}
    routed = queue("e2", queue_name="all", product="router", tier="vip")
    assert granted(assigner.on_request(routed, T0)) == {"e2": "bob"}
    # No product: Cat's channel skill still wins although she is the busier one.
    assert granted(assigner.on_request(queue("e3", queue_name="all"), T0)) == {"e3": "cat"}


# -- capacity per channel ---------------------------------------------------------------------
def test_capacity_per_channel_bounds_every_kind_of_grant() -> None:
    agents = [
        {
            "id": "ann",
            "name": "Ann",
            "languages": ["en"],
            "capacity": 3,
            "channel_capacity": {"whatsapp": 1},
        },
        {"id": "bob", "name": "Bob", "languages": ["en"], "capacity": 1},
    ]
    care = config(agents=agents, queues=[{"name": "all", "languages": ["*"]}])
    assigner = Assigner(care)
    assigner.on_request(queue("w1", queue_name="all", channel=WHATSAPP), T0)
    assigner.on_request(queue("w2", queue_name="all", channel=WHATSAPP), T0)
    assert holders(assigner) == {"w1": "ann", "w2": "bob"}
    [waiting] = decisions(assigner.on_request(queue("w3", queue_name="all", channel=WHATSAPP), T0))
    assert waiting.outcome == routing_pb2.ASSIGNMENT_OUTCOME_QUEUED  # Ann has room, not on it
    assert granted(assigner.on_request(queue("x1", queue_name="all"), T0)) == {"x1": "ann"}
    assert assigner.load_by_channel("ann") == {"whatsapp": 1, "x": 1}
    [refused] = decisions(assigner.on_request(command(TRANSFER, "w2", "ann", "t1"), T0))
    assert refused.outcome == routing_pb2.ASSIGNMENT_OUTCOME_REJECTED
    assert refused.reason == "'ann' is at capacity on whatsapp (1 of 1 cases)"
    [claim] = decisions(assigner.on_request(command(CLAIM, "w3", "ann", "k1"), T0))
    assert claim.outcome == routing_pb2.ASSIGNMENT_OUTCOME_REJECTED and "whatsapp" in claim.reason
    # Ann's whatsapp case ends: the waiting whatsapp case is hers (fill checks the channel).
    assert granted(assigner.on_request(command(RELEASE, "w1", "", "r1"), T0)) == {"w3": "ann"}


# -- follow-the-sun ---------------------------------------------------------------------------
def test_a_queue_is_answered_by_whichever_of_its_teams_is_on_shift() -> None:
    assigner = Assigner(CARE)
    assert granted(assigner.on_request(queue("e1"), T0)) == {"e1": "ann"}
    evening = T0 + timedelta(hours=10)  # 19:00: Amsterdam is off, Sydney on
    assert granted(assigner.on_request(queue("e2", now=evening), evening)) == {"e2": "sid"}


def test_an_agents_own_calendar_comes_before_their_teams() -> None:
    agents = [
        {
            "id": "ann",
            "name": "Ann",
            "languages": ["en"],
            "capacity": 2,
            "team": "ams",
            "calendar": "syd-hours",
        },
        {"id": "bob", "name": "Bob", "languages": ["en"], "capacity": 2, "team": "ams"},
    ]
    assigner = Assigner(config(agents=agents))
    evening = T0 + timedelta(hours=10)
    assert granted(assigner.on_request(queue("e1", now=evening), evening)) == {"e1": "ann"}
    assert granted(assigner.on_request(queue("e2"), T0)) == {"e2": "bob"}


def test_after_hours_wait_queues_the_case_until_a_team_comes_on_shift() -> None:
    assigner = Assigner(CARE)
    evening = T0 + timedelta(hours=10)
    [waiting] = decisions(
        assigner.on_request(queue("n1", language="nl", queue_name="care-nl", now=evening), evening)
    )
    assert waiting.outcome == routing_pb2.ASSIGNMENT_OUTCOME_QUEUED
    assert waiting.reason == "no team of queue 'care-nl' is on shift"
    assert granted(assigner.tick(evening + timedelta(hours=12))) == {}  # 07:00
    assert granted(assigner.tick(evening + timedelta(hours=13))) == {"n1": "ann"}


def test_after_hours_overflow_sends_the_case_to_a_specialist_at_once() -> None:
    assigner = Assigner(CARE)
    evening = T0 + timedelta(hours=10)
    [decision] = decisions(
        assigner.on_request(queue("d1", language="de", queue_name="care-de", now=evening), evening)
    )
    assert decision.agent == "spe" and decision.overflow
    assert decision.reason == "overflow: no team of queue 'care-de' is on shift"
    # In office hours the same queue goes to its own team.
    assert granted(assigner.on_request(queue("d2", language="de", queue_name="care-de"), T0)) == {
        "d2": "bob"
    }


# -- claims, reassignment ---------------------------------------------------------------------
def test_a_claim_takes_a_waiting_case_and_is_refused_naming_the_holder() -> None:
    care = config(routing={"lifecycle": {"default_presence": "offline"}})
    assigner = Assigner(care)
    assigner.on_request(queue("e1"), T0)
    [claimed] = decisions(assigner.on_request(command(CLAIM, "e1", "bob", "k1"), T0))
    assert (claimed.outcome, claimed.agent, claimed.command_id) == (
        routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED,
        "bob",
        "k1",
    )
    [again] = decisions(assigner.on_request(command(CLAIM, "e1", "bob", "k1"), T0))
    assert again.decision_id == claimed.decision_id
    [refused] = decisions(assigner.on_request(command(CLAIM, "e1", "ann", "k2"), T0))
    assert refused.outcome == routing_pb2.ASSIGNMENT_OUTCOME_REJECTED
    assert refused.reason == "the case is held by 'bob'"
    [stale] = decisions(assigner.on_request(command(CLAIM, "e1", "ann", "k3", epoch=2), T0))
    assert stale.outcome == routing_pb2.ASSIGNMENT_OUTCOME_REJECTED


def test_a_silent_owners_case_goes_to_another_agent_or_stays() -> None:
    assigner = Assigner(CARE)
    assigner.on_request(queue("e1"), T0)  # ann
    request = command(REASSIGN, "e1", "ann", "s1", reason="no reply for 2h")
    [moved] = decisions(assigner.on_request(request, T0))
    assert (moved.agent, moved.previous_agent, moved.reason) == ("bob", "ann", "no reply for 2h")
    assert assigner.on_request(request, T0) == []  # asked again: Bob holds it now
    lonely = Assigner(CARE)
    lonely.on_request(queue("n1", language="nl", queue_name="care-nl"), T0)
    assert lonely.on_request(command(REASSIGN, "n1", "ann", "s2"), T0) == []
    assert holders(lonely) == {"n1": "ann"}


def test_commands_delivered_again_after_a_crash_do_not_hand_the_case_back() -> None:
    """At-least-once: the assigner gets requests again whose effects it already flushed."""
    assigner = Assigner(CARE)
    assigner.on_request(queue("e1"), T0)  # ann
    requests = []
    for minute, agent in ((1, "bob"), (2, "sid"), (3, "ann")):
        at = T0 + timedelta(minutes=minute)
        request = command(TRANSFER, "e1", agent, f"t{minute}")
        request.requested_at.CopyFrom(to_timestamp(at))
        requests.append(request)
    evening = T0 + timedelta(hours=9)  # Sid is on shift at 18:00 (transfers ignore shifts)
    assert [granted(assigner.on_request(r, evening)) for r in requests] == [
        {"e1": "bob"},
        {"e1": "sid"},
        {"e1": "ann"},
    ]
    later = evening + timedelta(minutes=1)
    again = [d for r in requests[:2] for d in decisions(assigner.on_request(r, later))]
    assert again == [] and holders(assigner) == {"e1": "ann"}
    # The last one again answers as the first time (the book drops the same decision id).
    [same] = decisions(assigner.on_request(requests[2], later))
    assert same.agent == "ann"
    # Presence too: an older OFFLINE delivered again after ONLINE changes nothing.
    off = presence("bob", OFFLINE, T0)
    on = presence("bob", ONLINE, T0 + timedelta(minutes=1))
    assigner.on_request(off, T0)
    assigner.on_request(on, T0 + timedelta(minutes=1))
    assert assigner.on_request(off, later) == [] and assigner.presence_of("bob") == ONLINE


# -- the backlog ------------------------------------------------------------------------------
def test_queued_decisions_say_the_place_in_the_queue_and_repeat_the_same() -> None:
    care = config(routing={"lifecycle": {"default_presence": "offline"}})
    assigner = Assigner(care)
    places = []
    for minute, case_id in enumerate(("e1", "e2", "e3")):
        now = T0 + timedelta(minutes=minute)
        [queued] = decisions(assigner.on_request(queue(case_id, now=now), now))
        places.append(queued.queue_position)
    assert places == [0, 1, 2]
    [urgent] = decisions(assigner.on_request(queue("e4", score=0.9), T0))
    assert urgent.queue_position == 0 and assigner.waiting()[0] == "e4"
    [again] = decisions(assigner.on_request(queue("e4", score=0.9), T0))
    assert again.decision_id == urgent.decision_id


def test_the_backlog_goes_out_by_priority_score_and_old_levels_still_count() -> None:
    care = config(routing={"lifecycle": {"default_presence": "offline"}})
    assigner = Assigner(care)
    assigner.on_request(queue("low", score=0.05), T0)
    assigner.on_request(queue("mid", score=0.5, now=T0 + timedelta(minutes=1)), T0)
    assigner.on_request(queue("old", priority="urgent", now=T0 + timedelta(minutes=2)), T0)
    assigner.on_request(queue("mid2", score=0.5, now=T0 + timedelta(minutes=3)), T0)
    assert assigner.waiting() == ["old", "mid", "mid2", "low"]
    assert assigner.waiting_by_queue() == {"care": 4}
    effects = assigner.on_request(presence("ann", ONLINE, T0), T0)
    assert list(granted(effects)) == ["old", "mid"]  # capacity 2, in give-out order


def test_the_tick_predicts_the_backlog_only_when_asked() -> None:
    assigner = Assigner(CARE)
    for case_id in ("n1", "n2"):
        assigner.on_request(queue(case_id, language="nl", queue_name="care-nl"), T0)
    waiting = queue("n3", language="nl", queue_name="care-nl")
    waiting.response_due_at.CopyFrom(to_timestamp(T0 + timedelta(hours=2)))
    assert not any(
        isinstance(e.message, sla_pb2.SlaEvent) for e in assigner.on_request(waiting, T0)
    )
    later = T0 + timedelta(hours=1, minutes=50)  # Ann still busy: ~20 min more, due in 10
    assert assigner.tick(later, predict=False) == []
    [event] = [e.message for e in assigner.tick(later) if isinstance(e.message, sla_pb2.SlaEvent)]
    assert event.case_id == "n3" and event.type == sla_pb2.SLA_EVENT_TYPE_AT_RISK


# -- rebuild ----------------------------------------------------------------------------------
def test_a_rebuild_from_both_changelogs_keeps_presence_idle_times_and_holdings() -> None:
    assigner = Assigner(CARE)
    log = assigner.on_request(queue("e1"), T0)
    log += assigner.on_request(queue("e2", channel=WHATSAPP), T0 + timedelta(minutes=1))
    log += assigner.on_request(presence("sid", AWAY, T0), T0)
    log += assigner.on_request(presence("ann", OFFLINE, T0), T0)
    fresh = rebuilt(CARE, log)
    assert fresh.holdings == assigner.holdings
    assert fresh.agent_states == assigner.agent_states
    assert fresh.load_by_channel("bob") == {"whatsapp": 1}
    later = T0 + timedelta(minutes=10)
    assert decisions(fresh.tick(later)) == decisions(assigner.tick(later))
    assert holders(fresh) == {"e1": "bob", "e2": "bob"}
