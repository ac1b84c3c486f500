"""The escalation book: triggers raise one escalation per case and family, unacknowledged
escalations climb their ladder at their deadline, acknowledgements stop the climb,
resolutions close them, and every event is the same when it is made again."""

from __future__ import annotations

from datetime import timedelta

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.escalation.domain import escalation_id
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2, message_pb2, sla_pb2
from tests.unit.escalation.support import DUE, book, case_event, command, events, one, sla
from tests.unit.factories import T0

E = escalation_pb2
WARNING, AT_RISK = sla_pb2.SLA_EVENT_TYPE_WARNING, sla_pb2.SLA_EVENT_TYPE_AT_RISK
BREACHED, MET = sla_pb2.SLA_EVENT_TYPE_BREACHED, sla_pb2.SLA_EVENT_TYPE_MET
NEXT = case_pb2.SLA_CLOCK_KIND_NEXT_RESPONSE


def test_a_warning_goes_to_the_assignee_then_climbs_when_nobody_acknowledges() -> None:
    escalations = book()
    # Processed five minutes after the warning happened: its times count from the warning.
    warned = one(escalations.on_sla(sla(WARNING, threshold=0.75, at=T0), T0 + timedelta(minutes=5)))
    first = warned.escalation
    assert from_timestamp(first.raised_at) == T0
    assert warned.type == E.ESCALATION_EVENT_TYPE_RAISED
    assert (first.tier, first.level, first.status, first.revision) == (
        E.ESCALATION_TIER_AGENT,
        0,
        E.ESCALATION_STATUS_OPEN,
        1,
    )
    assert list(first.on_call) == ["olivia"]  # the assignee: the one who can still act
    assert first.policy == "standard" and first.brand == "acme"
    assert (first.clock, first.clock_cycle) == ("first_response", 1)
    assert "75%" in first.reason
    deadline = from_timestamp(first.acknowledge_by)
    assert deadline == T0 + timedelta(minutes=15)

    assert escalations.due(deadline - timedelta(seconds=1)) == []
    moved = one(escalations.due(deadline + timedelta(minutes=3)))
    assert moved.type == E.ESCALATION_EVENT_TYPE_RE_ESCALATED
    up = moved.escalation
    assert (up.id, up.tier, up.level, up.revision) == (first.id, E.ESCALATION_TIER_TEAM_LEAD, 1, 2)
    # On call at the deadline (office hours, Monday 10:00 in Amsterdam), and the next
    # deadline counts from the missed one, not from when the timer fired.
    assert list(up.on_call) == ["lead-day"]
    assert from_timestamp(up.acknowledge_by) == deadline + timedelta(minutes=30)
    assert from_timestamp(moved.occurred_at) == deadline


def test_the_ladder_ends_at_its_top_tier() -> None:
    escalations = book()
    one(escalations.on_sla(sla(WARNING, threshold=0.75), T0))
    at = T0
    tiers = []
    for _ in range(6):
        at += timedelta(hours=3)
        tiers += [e.escalation.tier for e in events(escalations.due(at))]
    assert tiers == [
        E.ESCALATION_TIER_TEAM_LEAD,
        E.ESCALATION_TIER_SPECIALIST,
        E.ESCALATION_TIER_MANAGEMENT,
    ]
    assert escalations.due(at + timedelta(days=3)) == []


def test_out_of_office_hours_the_next_entry_is_on_call_and_without_any_the_team_lead() -> None:
    escalations = book()
    night = T0 + timedelta(hours=12)  # 22:00 in Amsterdam
    raised = one(escalations.on_sla(sla(BREACHED, at=night), night)).escalation
    assert raised.tier == E.ESCALATION_TIER_TEAM_LEAD
    assert list(raised.on_call) == ["lead-night"]
    other_team = one(
        escalations.on_sla(sla(BREACHED, case_id="case-9", team="global"), night)
    ).escalation
    assert list(other_team.on_call) == ["olivia"]  # no entry covers it: the team's lead


def test_a_breach_after_a_warning_lifts_the_open_escalation_instead_of_opening_another() -> None:
    escalations = book()
    first = one(escalations.on_sla(sla(WARNING, threshold=0.75), T0)).escalation
    assert escalations.on_sla(sla(WARNING, threshold=0.9), T0) == []  # the family is open
    lifted = one(escalations.on_sla(sla(BREACHED), DUE))
    assert lifted.type == E.ESCALATION_EVENT_TYPE_RE_ESCALATED
    escalation = lifted.escalation
    assert escalation.id == first.id
    assert escalation.tier == E.ESCALATION_TIER_TEAM_LEAD
    assert escalation.trigger == E.ESCALATION_TRIGGER_SLA_BREACH
    assert "overdue" in escalation.reason
    # The same breach again, or another clock's warning of the same case:
    assert escalations.on_sla(sla(BREACHED), DUE) == []
    other_clock = one(escalations.on_sla(sla(WARNING, clock=NEXT, threshold=0.75), DUE))
    assert other_clock.type == E.ESCALATION_EVENT_TYPE_RAISED
    assert other_clock.escalation.id != first.id


def test_a_breach_after_an_acknowledged_prediction_at_the_same_tier_is_news() -> None:
    escalations = book()
    predicted = one(escalations.on_sla(sla(AT_RISK), T0)).escalation
    assert predicted.tier == E.ESCALATION_TIER_TEAM_LEAD
    ack = commands_pb2.AcknowledgeEscalation(escalation_id=predicted.id, by="sanne")
    one(escalations.on_command(command(acknowledge_escalation=ack), T0))
    breached = one(escalations.on_sla(sla(BREACHED), DUE))
    assert breached.type == E.ESCALATION_EVENT_TYPE_RE_ESCALATED
    escalation = breached.escalation
    assert (escalation.id, escalation.tier, escalation.level) == (
        predicted.id,
        E.ESCALATION_TIER_TEAM_LEAD,
        1,
    )
    assert escalation.status == E.ESCALATION_STATUS_OPEN and not escalation.acknowledged_by
    assert escalation.trigger == E.ESCALATION_TRIGGER_SLA_BREACH
    assert from_timestamp(escalation.acknowledge_by) == DUE + timedelta(minutes=30)
    assert escalations.on_sla(sla(AT_RISK, event_id="again"), DUE) == []
    assert escalations.on_sla(sla(BREACHED, event_id="breach-2"), DUE) == []


def test_a_met_clock_resolves_its_own_escalation_only() -> None:
    escalations = book()
    first = one(escalations.on_sla(sla(WARNING, threshold=0.75), T0)).escalation
    other = one(escalations.on_sla(sla(WARNING, clock=NEXT, cycle=2, threshold=0.75), T0))
    assert escalations.on_sla(sla(MET, clock=NEXT, cycle=1), DUE) == []  # another cycle
    done = one(escalations.on_sla(sla(MET), DUE))
    assert done.type == E.ESCALATION_EVENT_TYPE_RESOLVED
    assert done.escalation.id == first.id
    assert done.escalation.resolution == "the first response clock stopped: met"
    climbing = events(escalations.due(DUE + timedelta(days=1)))
    assert [e.escalation.id for e in climbing] == [other.escalation.id]


def test_acknowledged_escalations_stop_climbing_and_resolve_once() -> None:
    escalations = book()
    raised = one(escalations.on_sla(sla(BREACHED), DUE)).escalation
    ack = commands_pb2.AcknowledgeEscalation(escalation_id=raised.id, by="sanne")
    acknowledged = one(escalations.on_command(command(acknowledge_escalation=ack), DUE))
    assert acknowledged.type == E.ESCALATION_EVENT_TYPE_ACKNOWLEDGED
    assert acknowledged.escalation.status == E.ESCALATION_STATUS_ACKNOWLEDGED
    assert acknowledged.escalation.acknowledged_by == "sanne"
    assert acknowledged.escalation.revision == 2
    assert escalations.due(DUE + timedelta(days=2)) == []
    assert escalations.on_command(command("case-7", "cmd-2", acknowledge_escalation=ack), DUE) == []

    done = commands_pb2.ResolveEscalation(escalation_id=raised.id, note="  called the customer ")
    resolved = one(escalations.on_command(command("case-7", "cmd-3", resolve_escalation=done), DUE))
    assert resolved.escalation.status == E.ESCALATION_STATUS_RESOLVED
    assert resolved.escalation.resolved_by == "u-1"  # nobody named: who issued it
    assert resolved.escalation.resolution == "called the customer"
    assert escalations.on_command(command("case-7", "cmd-4", resolve_escalation=done), DUE) == []
    unknown = commands_pb2.ResolveEscalation(escalation_id="nope")
    assert escalations.on_command(command("case-7", "cmd-5", resolve_escalation=unknown), DUE) == []
    # Resolved, the family is free again: the next cycle's breach raises a new one.
    again = one(escalations.on_sla(sla(BREACHED, cycle=2), DUE))
    assert again.type == E.ESCALATION_EVENT_TYPE_RAISED and again.escalation.id != raised.id


def test_a_resolved_case_resolves_its_open_escalations() -> None:
    escalations = book()
    one(escalations.on_sla(sla(BREACHED), DUE))
    one(escalations.on_case(case_event("Ik stap naar de advocaat!", version=2), DUE))
    closed = case_event(
        "Ik stap naar de advocaat!",
        version=3,
        kind=case_pb2.CASE_EVENT_TYPE_RESOLVED,
        status=case_pb2.CASE_STATUS_RESOLVED,
    )
    resolved = events(escalations.on_case(closed, DUE))
    assert [e.escalation.resolution for e in resolved] == ["the case was resolved"] * 2
    # An older event of the case seen again changes nothing.
    assert escalations.on_case(case_event("hallo", version=1), DUE) == []


def test_a_case_closed_without_resolving_resolves_its_open_escalations() -> None:
    """Merged into another case, a case closes straight from open: nobody works on it."""
    escalations = book()
    one(escalations.on_sla(sla(BREACHED), DUE))
    closed = case_event(
        "hallo", version=2, kind=case_pb2.CASE_EVENT_TYPE_CLOSED, status=case_pb2.CASE_STATUS_CLOSED
    )
    resolved = events(escalations.on_case(closed, DUE))
    assert [e.escalation.resolution for e in resolved] == ["the case was closed"]


def test_negative_messages_from_vips_and_influencers_escalate() -> None:
    escalations = book()
    vip = one(escalations.on_case(case_event("Dit is schandalig", tier="vip"), T0)).escalation
    assert vip.trigger == E.ESCALATION_TRIGGER_VIP_NEGATIVE
    assert vip.tier == E.ESCALATION_TIER_TEAM_LEAD and list(vip.on_call) == ["lead-day"]
    influencer = one(
        escalations.on_case(case_event("Terrible", case_id="case-8", followers=250_000), T0)
    ).escalation
    assert influencer.trigger == E.ESCALATION_TRIGGER_INFLUENCER
    assert influencer.tier == E.ESCALATION_TIER_MANAGEMENT and list(influencer.on_call) == ["boss"]
    assert "250000 followers" in influencer.reason
    calm = case_event(
        "Dank je!", case_id="case-9", tier="vip", sentiment=message_pb2.SENTIMENT_LABEL_POSITIVE
    )
    assert escalations.on_case(calm, T0) == []
    assert escalations.on_case(case_event("Slecht", case_id="case-10"), T0) == []


def test_keywords_match_whole_words_in_the_messages_language_and_english() -> None:
    escalations = book()
    legal = one(escalations.on_case(case_event("Mijn ADVOCAAT belt u morgen"), T0)).escalation
    assert legal.trigger == E.ESCALATION_TRIGGER_KEYWORD
    assert legal.keyword_category == "legal_threat"
    assert legal.tier == E.ESCALATION_TIER_MANAGEMENT
    assert "'advocaat'" in legal.reason
    german = case_event("Das Gerät ist überhitzt und gefährlich", case_id="c-de", language="de")
    assert one(escalations.on_case(german, T0)).escalation.keyword_category == "safety"
    english_in_dutch = case_event("I will sue you", case_id="c-mix", language="nl")
    assert one(escalations.on_case(english_in_dutch, T0)).escalation.keyword_category == (
        "legal_threat"
    )
    # "brand" is fire in Dutch, not in English; "advocaten" is not "advocaat".
    for n, (text, language) in enumerate(
        [("Your brand is great", "en"), ("De advocaten-serie op tv", "nl")]
    ):
        quiet = case_event(
            text,
            case_id=f"quiet-{n}",
            language=language,
            sentiment=message_pb2.SENTIMENT_LABEL_NEUTRAL,
        )
        assert escalations.on_case(quiet, T0) == []


def test_one_message_can_raise_several_families_once_each() -> None:
    escalations = book()
    event = case_event("Brand in de keuken, ik bel mijn advocaat", tier="vip")
    raised = events(escalations.on_case(event, T0))
    assert sorted(e.escalation.trigger for e in raised) == [
        E.ESCALATION_TRIGGER_KEYWORD,
        E.ESCALATION_TRIGGER_KEYWORD,
        E.ESCALATION_TRIGGER_VIP_NEGATIVE,
    ]
    assert escalations.on_case(event, T0) == []  # redelivered: the same escalations exist
    later = case_event("Nog steeds geen antwoord", version=2, tier="vip")
    later.type = case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED
    assert escalations.on_case(later, T0) == []  # the negative family is still open


def test_an_agent_request_enters_at_the_tier_asked_for_when_the_ladder_has_it() -> None:
    escalations = book()
    ask = commands_pb2.EscalateCase(agent="olivia", reason="customer threatens", tier="management")
    raised = one(escalations.on_command(command(escalate=ask), T0)).escalation
    assert raised.trigger == E.ESCALATION_TRIGGER_AGENT_REQUEST
    assert raised.tier == E.ESCALATION_TIER_MANAGEMENT and raised.raised_by == "olivia"
    assert raised.id == escalation_id(
        "case-7",
        escalations.triggers.from_command(command(escalate=ask))[0],
    )
    other = commands_pb2.EscalateCase(agent="olivia", reason="help", tier="pr")
    asked = one(escalations.on_command(command("case-8", "cmd-9", escalate=other), T0)).escalation
    assert asked.tier == E.ESCALATION_TIER_TEAM_LEAD  # pr is not on the standard ladder


def test_events_made_again_after_a_rebuild_are_the_same_events() -> None:
    first = book()
    raised = one(first.on_sla(sla(WARNING, threshold=0.75), T0))
    deadline = from_timestamp(raised.escalation.acknowledge_by)
    moved = one(first.due(deadline + timedelta(seconds=5)))

    rebuilt = book()
    rebuilt.restore_escalation(raised)  # what care.escalations held when the process died
    assert rebuilt.on_sla(sla(WARNING, threshold=0.75), T0) == []
    again = one(rebuilt.due(deadline + timedelta(minutes=7)))
    assert again == moved

    # A record of care.cases with an older revision does not roll the escalation back.
    stale = case_pb2.CaseEvent(case=case_pb2.Case(id="case-7", version=5))
    stale.case.escalations.append(raised.escalation)
    rebuilt.restore_case(stale)
    assert rebuilt.cases["case-7"].escalations[raised.escalation.id].revision == 2


def test_an_older_record_without_status_or_policy_can_be_acknowledged_but_never_climbs() -> None:
    escalations = book()
    legacy = E.Escalation(
        id="old-1",
        case_id="case-7",
        trigger=E.ESCALATION_TRIGGER_SLA_BREACH,
        tier=E.ESCALATION_TIER_TEAM_LEAD,
        raised_at=to_timestamp(T0),
    )
    escalations.restore_escalation(E.EscalationEvent(escalation=legacy))
    assert escalations.due(T0 + timedelta(days=7)) == []
    ack = commands_pb2.AcknowledgeEscalation(escalation_id="old-1", by="sanne")
    done = one(escalations.on_command(command(acknowledge_escalation=ack), T0))
    assert done.escalation.status == E.ESCALATION_STATUS_ACKNOWLEDGED
    assert done.escalation.revision == 1


def test_a_backlog_of_overdue_escalations_moves_in_batches_earliest_first() -> None:
    escalations = book()
    for n in range(5):
        at = T0 + timedelta(minutes=n)
        one(escalations.on_sla(sla(BREACHED, case_id=f"case-{n}", at=at), at))
    later = T0 + timedelta(hours=5)
    first = events(escalations.due(later, batch=3))
    assert [e.escalation.case_id for e in first] == ["case-0", "case-1", "case-2"]
    rest = events(escalations.due(later, batch=3))
    assert [e.escalation.case_id for e in rest[:2]] == ["case-3", "case-4"]
    assert all(e.escalation.tier == E.ESCALATION_TIER_SPECIALIST for e in first + rest[:2])
    # Then the earliest next deadline: case-0's at the specialist tier, long passed too.
    assert (rest[2].escalation.case_id, rest[2].escalation.tier) == (
        "case-0",
        E.ESCALATION_TIER_MANAGEMENT,
    )


def test_a_cancelled_clock_resolves_its_own_escalation_once() -> None:
    """Merged into another case, the case's clocks are cancelled: the sla service emits no
    MET or STOPPED for them, so the escalation service reads the cancelled clock."""
    escalations = book()
    first = one(escalations.on_sla(sla(WARNING, threshold=0.75), T0)).escalation
    other = one(escalations.on_sla(sla(WARNING, clock=NEXT, cycle=2, threshold=0.75), T0))
    merged = case_event(
        "",
        kind=case_pb2.CASE_EVENT_TYPE_MERGED,
        version=2,
        sentiment=message_pb2.SENTIMENT_LABEL_NEUTRAL,
        status=case_pb2.CASE_STATUS_CLOSED,
    )
    merged.case.merged_into = "case-8"
    merged.case.sla.CopyFrom(
        case_pb2.SlaClock(
            kind=case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE,
            cycle=1,
            state=case_pb2.SLA_STATE_CANCELLED,
            started_at=to_timestamp(T0),
            stopped_at=to_timestamp(DUE),
        )
    )
    done = one(escalations.on_case(merged, DUE))
    assert done.type == E.ESCALATION_EVENT_TYPE_RESOLVED
    assert done.escalation.id == first.id
    assert done.escalation.resolution == (
        "the first response clock stopped: cancelled, the case was merged into another"
    )
    assert from_timestamp(done.escalation.resolved_at) == DUE
    again = case_pb2.CaseEvent()
    again.CopyFrom(merged)
    again.case.version = 3
    assert escalations.on_case(again, DUE) == []
    climbing = events(escalations.due(DUE + timedelta(days=1)))
    assert [e.escalation.id for e in climbing] == [other.escalation.id]
