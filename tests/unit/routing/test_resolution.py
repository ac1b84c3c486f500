"""Scenario 2: the customer decides when a case is solved. An agent's resolve asks "has this
been solved?"; a yes resolves, anything else goes back to the owner, silence resolves after
the confirmation timeout; a referral never closes the case, and open questions block it."""

from __future__ import annotations

from datetime import timedelta

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.v1 import case_pb2, commands_pb2, message_pb2, routing_pb2
from tests.unit.factories import T0, enriched
from tests.unit.routing.harness import Routing, case_events, reply, resolve

SETTINGS: dict[str, object] = {
    "sla_policies": [
        {"name": "any", "languages": ["*"], "first_response": "1h", "resolution": "8h"}
    ],
    "queues": [{"name": "care", "languages": ["*"]}],
    "agents": [
        {"id": "sanne", "name": "Sanne Bakker", "languages": ["nl", "en"], "capacity": 3},
        {"id": "olivia", "name": "Olivia", "languages": ["de"], "capacity": 3},
    ],
    "intents": [
        {"name": "delivery", "keywords": {"en": ["parcel"]}},
        {"name": "refund", "keywords": {"en": ["refund"]}},
        {"name": "compliment", "keywords": {"en": ["thanks"]}, "question": False},
    ],
    "routing": {"lifecycle": {"confirmation_timeout": "48h", "survey": {"kind": "none"}}},
}
CARE = CareConfig.model_validate(SETTINGS)


def message(
    external_id: str, text: str, *, at: timedelta = timedelta(0), **fields: object
) -> message_pb2.EnrichedMessage:
    values: dict[str, object] = {"language": "en", "received": T0 + at, **fields}
    return enriched(external_id, text=text, author="jan", **values)  # type: ignore[arg-type]


def opened(routing: Routing, text: str = "Where is my parcel?") -> case_pb2.Case:
    events = case_events(routing.message(message("m1", text)))
    return routing.case(events[0].case.id)


def outbound(effects: list) -> list[commands_pb2.OutboundReply]:  # type: ignore[type-arg]
    return [e.message for e in effects if e.topic == Topic.OUTBOUND]


def test_resolve_asks_the_customer_in_their_language_signed_by_the_agent() -> None:
    routing = Routing(CARE)
    case = opened(routing)
    routing.command(reply(case.id, "c1", text="It arrives today"))
    effects = routing.at(T0 + timedelta(hours=1)).command(resolve(case.id, "r1"))
    [proposed] = case_events(effects)
    assert proposed.type == case_pb2.CASE_EVENT_TYPE_RESOLUTION_PROPOSED
    after = proposed.case
    assert after.status == case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
    assert after.assignee == "sanne"  # keeps the case until the customer answers
    check = after.resolution_check
    assert check.outcome == case_pb2.RESOLUTION_OUTCOME_PENDING
    assert (check.proposed_by, check.command_id, check.round) == ("sanne", "r1", 1)
    assert check.due_at.ToDatetime() == (T0 + timedelta(hours=49)).replace(tzinfo=None)
    [question] = outbound(effects)
    assert question.text.startswith("Hi, has this been solved for you?")
    assert question.agent == "sanne" and question.reply_id == check.question_id
    assert after.messages[-1].direction == case_pb2.DIRECTION_OUTBOUND
    assert not [e for e in effects if e.topic == Topic.ASSIGNMENT_REQUESTS]  # no release yet


def test_the_customers_yes_resolves_and_frees_the_agent() -> None:
    routing = Routing(CARE)
    case = opened(routing)
    routing.command(reply(case.id, "c1", text="It arrives today"))
    routing.at(T0 + timedelta(hours=1)).command(resolve(case.id, "r1"))
    assert routing.assigner.load_of("sanne") == 1
    effects = routing.at(T0 + timedelta(hours=2)).message(
        message("m2", "Yes thanks!", at=timedelta(hours=2))
    )
    [resolved] = [e for e in case_events(effects) if e.type == case_pb2.CASE_EVENT_TYPE_RESOLVED]
    after = resolved.case
    assert after.status == case_pb2.CASE_STATUS_RESOLVED
    assert after.resolution_check.outcome == case_pb2.RESOLUTION_OUTCOME_CONFIRMED
    assert after.resolution_check.answered_at.ToDatetime() == (T0 + timedelta(hours=2)).replace(
        tzinfo=None
    )
    assert after.resolved_at == after.resolution_check.answered_at
    assert after.reopen_until.ToDatetime() == (T0 + timedelta(days=7, hours=2)).replace(tzinfo=None)
    # The resolution clock stood still from the question on.
    clock = after.resolution_sla
    assert clock.state == case_pb2.SLA_STATE_MET and clock.consumed_seconds <= 3600
    assert routing.assigner.load_of("sanne") == 0


def test_a_no_or_a_new_question_goes_back_to_the_owner() -> None:
    routing = Routing(CARE)
    case = opened(routing)
    routing.command(reply(case.id, "c1", text="It arrives today"))
    routing.at(T0 + timedelta(hours=1)).command(resolve(case.id, "r1"))
    effects = routing.at(T0 + timedelta(hours=2)).message(
        message("m2", "Nee, nog steeds niet", at=timedelta(hours=2))
    )
    [added] = case_events(effects)
    assert added.type == case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED
    after = added.case
    assert after.status == case_pb2.CASE_STATUS_ASSIGNED and after.assignee == "sanne"
    assert after.resolution_check.outcome == case_pb2.RESOLUTION_OUTCOME_DECLINED
    assert after.resolution_sla.state == case_pb2.SLA_STATE_RUNNING
    assert (
        after.sla.kind == case_pb2.SLA_CLOCK_KIND_NEXT_RESPONSE
        or after.sla.state == case_pb2.SLA_STATE_MET
    )
    # The timeout no longer applies, and a second proposal is a new round.
    later = case_events(routing.at(T0 + timedelta(hours=60)).tick())
    assert case_pb2.CASE_EVENT_TYPE_RESOLVED not in [e.type for e in later]
    routing.command(reply(case.id, "c2", text="Sent a new one"))
    again = case_events(routing.command(resolve(case.id, "r2")))
    assert again[0].case.resolution_check.round == 2


def test_silence_resolves_after_the_timeout_once() -> None:
    routing = Routing(CARE)
    case = opened(routing)
    routing.command(reply(case.id, "c1", text="It arrives today"))
    routing.at(T0 + timedelta(hours=1)).command(resolve(case.id, "r1"))
    assert case_events(routing.at(T0 + timedelta(hours=48)).tick()) == []
    effects = routing.at(T0 + timedelta(hours=49, seconds=1)).tick()
    [resolved] = case_events(effects)
    assert resolved.type == case_pb2.CASE_EVENT_TYPE_RESOLVED
    assert resolved.case.resolution_check.outcome == case_pb2.RESOLUTION_OUTCOME_TIMED_OUT
    releases = [e for e in effects if e.topic == Topic.ASSIGNMENT_REQUESTS]
    assert [r.message.kind for r in releases] == [routing_pb2.ASSIGNMENT_REQUEST_KIND_RELEASE]  # type: ignore[attr-defined]
    assert case_events(routing.at(T0 + timedelta(hours=50)).tick()) == []


def test_the_timeout_survives_a_rebuild() -> None:
    from socialcare.routing.domain import CaseBook

    routing = Routing(CARE)
    case = opened(routing)
    routing.command(reply(case.id, "c1", text="It arrives today"))
    routing.at(T0 + timedelta(hours=1)).command(resolve(case.id, "r1"))
    rebuilt = CaseBook(CARE)
    for effect in routing.published:
        if effect.topic == Topic.CASES:
            rebuilt.restore(effect.message)  # type: ignore[arg-type]
    [resolved] = case_events(rebuilt.tick(T0 + timedelta(hours=50)))
    assert resolved.case.resolution_check.outcome == case_pb2.RESOLUTION_OUTCOME_TIMED_OUT


def test_open_questions_block_the_proposal_until_a_reply_answers_them() -> None:
    routing = Routing(CARE)
    first = message("m1", "Where is my parcel? And can I get a refund?")
    first.intents.add(name="delivery", question="Where is my parcel?", confidence=0.9)
    first.intents.add(name="refund", question="can I get a refund?", confidence=0.8)
    case_id = case_events(routing.message(first))[0].case.id
    assert [i.name for i in routing.case(case_id).intents] == ["delivery", "refund"]
    answered = commands_pb2.AgentCommand(
        command_id="c1",
        case_id=case_id,
        reply=commands_pb2.ReplyToCase(
            agent="sanne", text="It arrives today", answers=["delivery"]
        ),
    )
    routing.command(answered)
    [refused] = case_events(routing.command(resolve(case_id, "r1")))
    assert refused.type == case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED
    assert (refused.rejection.code, refused.rejection.field) == ("questions_open", "answers")
    assert "refund" in refused.rejection.reason and "delivery" not in refused.rejection.reason
    both = commands_pb2.AgentCommand(
        command_id="c2",
        case_id=case_id,
        reply=commands_pb2.ReplyToCase(agent="sanne", text="Refund sent", answers=["refund"]),
    )
    routing.command(both)
    intents = routing.case(case_id).intents
    assert [(i.name, i.answered, i.answered_by) for i in intents] == [
        ("delivery", True, "c1"),
        ("refund", True, "c2"),
    ]
    [proposed] = case_events(routing.command(resolve(case_id, "r2")))
    assert proposed.type == case_pb2.CASE_EVENT_TYPE_RESOLUTION_PROPOSED


def test_a_referral_is_recorded_and_never_closes_the_case() -> None:
    routing = Routing(CARE)
    case = opened(routing)
    refer = commands_pb2.AgentCommand(
        command_id="f1",
        case_id=case.id,
        refer=commands_pb2.ReferCase(
            agent="sanne", to="store manager Utrecht", note="damaged in store"
        ),
    )
    [referred] = case_events(routing.command(refer))
    after = referred.case
    assert referred.type == case_pb2.CASE_EVENT_TYPE_STATUS_CHANGED
    assert after.status == case.status == case_pb2.CASE_STATUS_ASSIGNED
    assert [(r.to, r.by, r.note) for r in after.referrals] == [
        ("store manager Utrecht", "sanne", "damaged in store")
    ]
    assert after.messages[-1].direction == case_pb2.DIRECTION_INTERNAL
    assert "store manager Utrecht" in after.messages[-1].text
    month = case_events(routing.at(T0 + timedelta(days=30)).tick())
    done = (case_pb2.CASE_EVENT_TYPE_RESOLVED, case_pb2.CASE_EVENT_TYPE_CLOSED)
    assert not [e for e in month if e.type in done]
    assert routing.case(case.id).status == case_pb2.CASE_STATUS_ASSIGNED


def test_without_confirmation_a_resolve_resolves_at_once() -> None:
    care = CareConfig.model_validate(
        {
            **SETTINGS,
            "routing": {"lifecycle": {"confirm_resolution": False, "survey": {"kind": "none"}}},
        }
    )
    routing = Routing(care)
    case = opened(routing)
    effects = routing.command(resolve(case.id, "r1"))
    [resolved] = case_events(effects)[:1]
    assert resolved.type == case_pb2.CASE_EVENT_TYPE_RESOLVED
    assert resolved.case.resolution_check.outcome == case_pb2.RESOLUTION_OUTCOME_AGENT
    assert outbound(effects) == []


def test_the_question_cannot_go_out_on_a_closed_whatsapp_window_so_it_resolves() -> None:
    routing = Routing(CARE)
    events = case_events(
        routing.message(message("w1", "Where is my parcel?", channel=message_pb2.CHANNEL_WHATSAPP))
    )
    case_id = events[0].case.id
    effects = routing.at(T0 + timedelta(hours=30)).command(resolve(case_id, "r1"))
    assert outbound(effects) == []
    assert routing.case(case_id).resolution_check.outcome == case_pb2.RESOLUTION_OUTCOME_AGENT
    assert routing.case(case_id).status == case_pb2.CASE_STATUS_RESOLVED


def test_a_thankful_yes_confirms_but_a_yes_with_a_new_question_does_not() -> None:
    for extra, outcome in (
        ("compliment", case_pb2.RESOLUTION_OUTCOME_CONFIRMED),
        ("refund", case_pb2.RESOLUTION_OUTCOME_DECLINED),
    ):
        routing = Routing(CARE)
        case = opened(routing)
        routing.command(reply(case.id, "c1", text="It arrives today"))
        routing.at(T0 + timedelta(hours=1)).command(resolve(case.id, "r1"))
        answer = message("m2", "Yes thanks! Can I get a refund too", at=timedelta(hours=2))
        answer.intents.add(name=extra, confidence=0.8)
        routing.at(T0 + timedelta(hours=2)).message(answer)
        assert routing.case(case.id).resolution_check.outcome == outcome, extra
