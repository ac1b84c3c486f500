"""Routing's SLA clocks: which clocks run, pause, resume and stop as a conversation goes,
the SLA events applied back onto them, and escalations shown on the case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.routing.domain import CaseBook
from socialcare.v1 import (
    case_pb2,
    commands_pb2,
    escalation_pb2,
    message_pb2,
    routing_pb2,
    sla_pb2,
)
from tests.unit.factories import T0, enriched
from tests.unit.routing.harness import Routing, assign, case_events, reply, resolve

FIRST = case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE
NEXT = case_pb2.SLA_CLOCK_KIND_NEXT_RESPONSE
RESOLUTION = case_pb2.SLA_CLOCK_KIND_RESOLUTION
RUNNING = case_pb2.SLA_STATE_RUNNING
PAUSED = case_pb2.SLA_STATE_PAUSED
MET = case_pb2.SLA_STATE_MET
BREACHED = case_pb2.SLA_STATE_BREACHED
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)

CARE = CareConfig.model_validate(
    {
        # Resolving resolves at once here: the "has this been solved?" round has its own
        # tests (test_resolution.py).
        "routing": {"lifecycle": {"confirm_resolution": False, "survey": {"kind": "none"}}},
        "calendars": [
            {
                "name": "office",
                "time_zone": "Europe/Amsterdam",
                "hours": {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
            }
        ],
        "teams": [{"name": "Benelux", "calendar": "office", "lead": "sanne"}],
        "customer_tiers": ["standard", "vip"],
        "sla_policies": [
            {
                "name": "all",
                "languages": ["*"],
                "first_response": "4h",
                "next_response": "2h",
                "resolution": "2d",
            },
            {
                "name": "vip",
                "languages": ["*"],
                "customer_tiers": ["vip"],
                "first_response": "30m",
                "next_response": "30m",
                "resolution": "8h",
                "calendar": "24/7",
                "warnings": [0.5],
            },
            {
                "name": "facebook",
                "languages": ["*"],
                "channels": ["facebook"],
                "first_response": "1h",
            },
        ],
        "queues": [
            {"name": "care-nl", "languages": ["nl"], "team": "Benelux"},
            {"name": "care-global", "languages": ["*"]},
        ],
        "agents": [
            {"id": "sanne", "name": "Sanne", "languages": ["nl", "en"], "capacity": 5},
            {"id": "olivia", "name": "Olivia", "languages": ["en"], "capacity": 5},
        ],
    }
)


def when(stamp: object) -> datetime:
    return from_timestamp(stamp)  # type: ignore[arg-type]


def message(external_id: str, at: datetime, **fields: object) -> message_pb2.EnrichedMessage:
    fields.setdefault("language", "en")
    return enriched(external_id, received=at, **fields)  # type: ignore[arg-type]


def open_case(routing: Routing, external_id: str = "m1", **fields: object) -> case_pb2.Case:
    events = case_events(routing.at(T0).message(message(external_id, T0, **fields)))
    return routing.case(events[0].case.id)


def test_opening_starts_a_first_response_and_a_resolution_clock() -> None:
    routing = Routing(CARE)
    emitted = routing.at(T0).message(message("m1", T0))
    case = routing.case(case_events(emitted)[0].case.id)
    assert (case.customer_tier, case.team, case.queue) == ("standard", "", "care-global")
    sla, resolution = case.sla, case.resolution_sla
    assert (sla.kind, sla.cycle, sla.state, sla.policy) == (FIRST, 1, RUNNING, "all")
    assert when(sla.due_at) == T0 + 4 * HOUR
    assert [when(w) for w in sla.warning_at] == [T0 + 3 * HOUR, T0 + 3.6 * HOUR]
    assert (resolution.kind, resolution.cycle, resolution.state) == (RESOLUTION, 1, RUNNING)
    assert when(resolution.due_at) == T0 + 48 * HOUR
    assert sla.calendar == resolution.calendar == ""
    requests = [e.message for e in emitted if e.topic == Topic.ASSIGNMENT_REQUESTS]
    assert isinstance(requests[0], routing_pb2.AssignmentRequest)
    assert when(requests[0].response_due_at) == T0 + 4 * HOUR


def test_a_queue_with_a_team_counts_its_clocks_in_the_teams_business_hours() -> None:
    routing = Routing(CARE)
    case = open_case(routing, language="nl")  # Monday 09:00 UTC = 10:00 in Amsterdam
    assert (case.team, case.sla.team, case.sla.calendar) == ("Benelux", "Benelux", "office")
    assert when(case.sla.due_at) == datetime(2026, 11, 23, 13, tzinfo=UTC)  # 14:00 local
    # 48 business hours: Mon 7h + Tue..Fri 32h + next Mon 8h, then 1h on Tuesday.
    assert when(case.resolution_sla.due_at) == datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_the_customers_tier_picks_the_policy_and_an_unknown_tier_is_the_default() -> None:
    routing = Routing(CARE)
    vip = message("v1", T0, language="nl", author="vip-1")
    vip.message.author.tier = "VIP"
    case = routing.case(case_events(routing.at(T0).message(vip))[0].case.id)
    assert (case.customer_tier, case.sla.policy) == ("vip", "vip")
    assert case.sla.calendar == ""  # the policy forces 24/7 over the team's calendar
    assert when(case.sla.due_at) == T0 + 30 * MINUTE
    assert list(case.sla.warning_thresholds) == [0.5]
    stranger = message("p1", T0, author="plat-1")
    stranger.message.author.tier = "platinum"
    other = routing.case(case_events(routing.at(T0).message(stranger))[0].case.id)
    assert (other.customer_tier, other.sla.policy) == ("standard", "all")


def test_a_policy_without_a_resolution_target_runs_no_resolution_clock() -> None:
    routing = Routing(CARE)
    case = open_case(routing, channel=message_pb2.CHANNEL_FACEBOOK)
    assert case.sla.policy == "facebook"
    assert not case.HasField("resolution_sla")
    routing.at(T0 + 10 * MINUTE).command(reply(case.id, "c1"))
    routing.at(T0 + HOUR).message(message("m2", T0 + HOUR, channel=message_pb2.CHANNEL_FACEBOOK))
    after = routing.case(case.id)
    assert (after.sla.kind, after.sla.state) == (FIRST, MET)  # no next-response target
    assert after.next_response_cycle == 0


def test_a_reply_stops_the_response_clock_and_pauses_the_resolution_clock() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    emitted = routing.at(T0 + 5 * MINUTE).command(reply(case.id, "c1"))
    replied = case_events(emitted)[0].case
    assert replied.status == case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
    assert (replied.sla.state, when(replied.sla.stopped_at)) == (MET, T0 + 5 * MINUTE)
    assert when(replied.sla.first_response_at) == T0 + 5 * MINUTE
    assert replied.resolution_sla.state == PAUSED
    assert replied.resolution_sla.consumed_seconds == 300


def test_a_late_reply_is_a_breach() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    routing.at(T0 + 5 * HOUR).command(reply(case.id, "c1"))
    assert routing.case(case.id).sla.state == BREACHED


def test_the_customers_answer_resumes_resolution_and_starts_a_next_response_clock() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    routing.at(T0 + 5 * MINUTE).command(reply(case.id, "c1"))
    back = T0 + 3 * HOUR
    routing.at(back).message(message("m2", back))
    turned = routing.case(case.id)
    assert turned.status == case_pb2.CASE_STATUS_ASSIGNED
    sla, resolution = turned.sla, turned.resolution_sla
    assert (sla.kind, sla.cycle, sla.state) == (NEXT, 1, RUNNING)
    assert turned.next_response_cycle == 1
    assert when(sla.started_at) == back and when(sla.due_at) == back + 2 * HOUR
    assert resolution.state == RUNNING and when(resolution.run_started_at) == back
    assert when(resolution.due_at) == back + 48 * HOUR - 5 * MINUTE
    # While the next response is awaited, more customer messages change no clock.
    routing.at(back + HOUR).message(message("m3", back + HOUR))
    still = routing.case(case.id)
    assert still.sla == sla and still.resolution_sla == resolution
    # Answered, and the customer writes again: next-response cycle 2.
    routing.at(back + 90 * MINUTE).command(reply(case.id, "c2"))
    answered = routing.case(case.id)
    assert (answered.sla.kind, answered.sla.cycle, answered.sla.state) == (NEXT, 1, MET)
    assert answered.resolution_sla.consumed_seconds == (5 + 90) * 60
    routing.at(back + 5 * HOUR).message(message("m4", back + 5 * HOUR))
    assert (routing.case(case.id).sla.kind, routing.case(case.id).sla.cycle) == (NEXT, 2)


def test_a_message_received_before_the_reply_but_applied_after_it_counts_from_the_reply() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    routing.at(T0 + HOUR).command(reply(case.id, "c1"))
    routing.at(T0 + HOUR + MINUTE).message(message("m2", T0 + HOUR - 10 * MINUTE))
    turned = routing.case(case.id)
    assert when(turned.sla.started_at) == T0 + HOUR
    assert when(turned.resolution_sla.run_started_at) == T0 + HOUR
    assert turned.resolution_sla.consumed_seconds == 3600


def test_while_the_first_response_is_awaited_more_messages_change_no_clock() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    routing.at(T0 + HOUR).message(message("m2", T0 + HOUR))
    after = routing.case(case.id)
    assert after.sla == case.sla and after.resolution_sla == case.resolution_sla
    assert after.next_response_cycle == 0


def test_resolving_stops_every_clock() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    routing.at(T0 + HOUR).command(resolve(case.id, "r1"))  # resolved without a reply
    resolved = routing.case(case.id)
    assert (resolved.sla.state, resolved.resolution_sla.state) == (MET, MET)
    assert when(resolved.resolution_sla.stopped_at) == T0 + HOUR
    late = open_case(routing, "n1", author="late")
    routing.at(T0 + 49 * HOUR).command(resolve(late.id, "r2"))
    assert routing.case(late.id).resolution_sla.state == BREACHED


def test_resolving_a_waiting_case_judges_resolution_by_the_time_it_ran() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    routing.at(T0 + HOUR).command(reply(case.id, "c1"))
    routing.at(T0 + 100 * HOUR).command(resolve(case.id, "r1"))  # the customer never wrote
    resolved = routing.case(case.id).resolution_sla
    assert (resolved.state, resolved.consumed_seconds) == (MET, 3600)


def test_reopening_starts_both_clocks_again_with_the_next_cycle() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    routing.at(T0 + 5 * MINUTE).command(reply(case.id, "c1"))
    routing.at(T0 + HOUR).message(message("m2", T0 + HOUR))  # next-response cycle 1
    routing.at(T0 + 2 * HOUR).command(reply(case.id, "c2"))
    routing.at(T0 + 3 * HOUR).command(resolve(case.id, "r1"))
    again = T0 + 30 * HOUR
    emitted = routing.at(again).message(message("m3", again, in_reply_to="m1"))
    assert case_events(emitted)[0].type == case_pb2.CASE_EVENT_TYPE_REOPENED
    reopened = routing.case(case.id)
    assert (reopened.sla.kind, reopened.sla.cycle, reopened.sla.state) == (FIRST, 2, RUNNING)
    assert when(reopened.sla.due_at) == again + 4 * HOUR
    assert (reopened.resolution_sla.cycle, reopened.resolution_sla.state) == (2, RUNNING)
    assert reopened.resolution_sla.consumed_seconds == 0
    routing.at(again + HOUR).command(reply(case.id, "c3"))
    routing.at(again + 2 * HOUR).message(message("m4", again + 2 * HOUR))
    # Next-response numbering continues over the reopening: (kind, cycle) is never reused.
    assert (routing.case(case.id).sla.kind, routing.case(case.id).sla.cycle) == (NEXT, 2)


def test_a_transfer_leaves_the_clocks_alone() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    routing.at(T0 + HOUR).command(assign(case.id, "t1", "olivia"))
    moved = routing.case(case.id)
    assert moved.assignee == "olivia"
    assert moved.sla == case.sla and moved.resolution_sla == case.resolution_sla


# -- SLA events --------------------------------------------------------------------------------
def sla_event(
    event_id: str,
    case_id: str,
    kind: sla_pb2.SlaEventType.ValueType,
    clock: case_pb2.SlaClockKind.ValueType = FIRST,
    cycle: int = 1,
    threshold: float = 0.0,
) -> sla_pb2.SlaEvent:
    return sla_pb2.SlaEvent(
        event_id=event_id, type=kind, case_id=case_id, clock=clock, cycle=cycle, threshold=threshold
    )


def test_warnings_breaches_and_risks_land_on_the_clock_they_are_about() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    book = routing.book_of(case.id)
    now = T0 + 3 * HOUR
    warned = book.on_sla(
        sla_event("w1", case.id, sla_pb2.SLA_EVENT_TYPE_WARNING, threshold=0.75), now
    )
    event = case_events(warned)[0]
    assert event.type == case_pb2.CASE_EVENT_TYPE_SLA_CHANGED and event.cause_id == "w1"
    assert list(event.case.sla.warned) == [0.75]
    assert "w1" in event.case.applied_ids
    assert (
        book.on_sla(sla_event("w1", case.id, sla_pb2.SLA_EVENT_TYPE_WARNING, threshold=0.75), now)
        == []
    )
    at_risk = book.on_sla(sla_event("r1", case.id, sla_pb2.SLA_EVENT_TYPE_AT_RISK), now)
    assert case_events(at_risk)[0].case.sla.at_risk
    breached = book.on_sla(
        sla_event("b1", case.id, sla_pb2.SLA_EVENT_TYPE_BREACHED, clock=RESOLUTION), now
    )
    after = case_events(breached)[0].case
    assert after.resolution_sla.state == BREACHED and after.sla.state == RUNNING
    # About a clock the case does not run (another cycle): nothing happens.
    assert (
        book.on_sla(sla_event("b2", case.id, sla_pb2.SLA_EVENT_TYPE_BREACHED, cycle=2), now) == []
    )
    assert (
        book.on_sla(sla_event("b3", case.id, sla_pb2.SLA_EVENT_TYPE_BREACHED, clock=NEXT), now)
        == []
    )
    # Events that only report what routing did change nothing.
    assert book.on_sla(sla_event("s1", case.id, sla_pb2.SLA_EVENT_TYPE_STARTED), now) == []
    assert book.on_sla(sla_event("x1", "no-such-case", sla_pb2.SLA_EVENT_TYPE_BREACHED), now) == []


def test_a_breach_that_arrives_after_the_answer_changes_nothing() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    routing.at(T0 + HOUR).command(reply(case.id, "c1"))
    book = routing.book_of(case.id)
    late = sla_event("b1", case.id, sla_pb2.SLA_EVENT_TYPE_BREACHED)
    assert book.on_sla(late, T0 + 5 * HOUR) == []
    assert routing.case(case.id).sla.state == MET


def test_a_breach_of_a_paused_clock_is_recorded_and_shows_when_it_resumes() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    book = routing.book_of(case.id)
    early = sla_event("b0", case.id, sla_pb2.SLA_EVENT_TYPE_BREACHED, clock=RESOLUTION)
    routing.at(T0 + HOUR).command(reply(case.id, "c1"))  # paused with 47h left
    assert book.on_sla(early, T0 + 2 * HOUR) == []  # not breached: nothing to record
    routing.at(T0 + 3 * HOUR).message(message("m2", T0 + 3 * HOUR))
    routing.at(T0 + 51 * HOUR).command(reply(case.id, "c2"))  # paused after 49h of use
    breach = sla_event("b1", case.id, sla_pb2.SLA_EVENT_TYPE_BREACHED, clock=RESOLUTION)
    recorded = case_events(book.on_sla(breach, T0 + 52 * HOUR))[0].case
    assert "b1" in recorded.applied_ids
    assert recorded.resolution_sla.state == PAUSED
    routing.at(T0 + 60 * HOUR).message(message("m3", T0 + 60 * HOUR))
    assert routing.case(case.id).resolution_sla.state == BREACHED


def test_an_old_style_breach_event_applies_to_an_old_style_clock() -> None:
    book = CaseBook(CARE)
    old = case_pb2.Case(
        id="old1",
        status=case_pb2.CASE_STATUS_ASSIGNED,
        assignee="sanne",
        language="en",
        queue="care-global",
        version=3,
        sla=case_pb2.SlaClock(
            policy="all",
            started_at=to_timestamp(T0),
            due_at=to_timestamp(T0 + HOUR),
            state=RUNNING,
            target_seconds=3600,
        ),
    )
    book.restore(case_pb2.CaseEvent(event_id="e", case=old))
    breach = sla_pb2.SlaEvent(event_id="b1", type=sla_pb2.SLA_EVENT_TYPE_BREACHED, case_id="old1")
    assert case_events(book.on_sla(breach, T0 + 2 * HOUR))[0].case.sla.state == BREACHED
    book.on_command(reply("old1", "c1"), T0 + 3 * HOUR)
    answered = book.cases["old1"].sla
    assert answered.state == BREACHED and when(answered.stopped_at) == T0 + 3 * HOUR


# -- escalations -----------------------------------------------------------------------------
def escalation_event(
    event_id: str,
    case_id: str,
    kind: escalation_pb2.EscalationEventType.ValueType,
    revision: int,
    status: escalation_pb2.EscalationStatus.ValueType = escalation_pb2.ESCALATION_STATUS_OPEN,
) -> escalation_pb2.EscalationEvent:
    return escalation_pb2.EscalationEvent(
        event_id=event_id,
        type=kind,
        escalation=escalation_pb2.Escalation(
            id="esc1", case_id=case_id, revision=revision, status=status
        ),
    )


def test_the_case_shows_the_latest_revision_of_each_escalation() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    book = routing.book_of(case.id)
    raised = escalation_event("e1", case.id, escalation_pb2.ESCALATION_EVENT_TYPE_RAISED, 1)
    shown = case_events(book.on_escalation(raised, T0))[0]
    assert shown.type == case_pb2.CASE_EVENT_TYPE_ESCALATED
    assert shown.case.priority == "high"
    assert list(shown.case.escalation_ids) == ["esc1"]
    assert [e.revision for e in shown.case.escalations] == [1]
    assert book.on_escalation(raised, T0) == []
    acknowledged = escalation_event(
        "e3",
        case.id,
        escalation_pb2.ESCALATION_EVENT_TYPE_ACKNOWLEDGED,
        3,
        escalation_pb2.ESCALATION_STATUS_ACKNOWLEDGED,
    )
    newer = case_events(book.on_escalation(acknowledged, T0))[0].case
    assert [(e.revision, e.status) for e in newer.escalations] == [
        (3, escalation_pb2.ESCALATION_STATUS_ACKNOWLEDGED)
    ]
    # An older revision arriving late does not roll the case back.
    stale = escalation_event("e2", case.id, escalation_pb2.ESCALATION_EVENT_TYPE_RE_ESCALATED, 2)
    assert book.on_escalation(stale, T0) == []
    assert [e.revision for e in routing.case(case.id).escalations] == [3]


def test_escalation_never_lowers_an_urgent_case() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    book = routing.book_of(case.id)
    book.cases[case.id].priority = "urgent"
    raised = escalation_event("e1", case.id, escalation_pb2.ESCALATION_EVENT_TYPE_RAISED, 1)
    assert case_events(book.on_escalation(raised, T0))[0].case.priority == "urgent"


def test_escalation_commands_are_left_to_the_escalation_service() -> None:
    routing = Routing(CARE)
    case = open_case(routing)
    book = routing.book_of(case.id)
    for command in (
        commands_pb2.AgentCommand(
            command_id="x1", case_id=case.id, escalate=commands_pb2.EscalateCase(reason="help")
        ),
        commands_pb2.AgentCommand(
            command_id="x2",
            case_id="unknown-case",
            acknowledge_escalation=commands_pb2.AcknowledgeEscalation(),
        ),
        commands_pb2.AgentCommand(
            command_id="x3", case_id=case.id, resolve_escalation=commands_pb2.ResolveEscalation()
        ),
    ):
        assert book.on_command(command, T0) == []
    assert routing.case(case.id).version == case.version
