"""Scenario 4: after resolution a satisfaction question (CSAT or NPS) goes out; the answer is
kept on the case and tallied per channel and language; other messages within the window
reopen the case, later ones open a new case that follows the closed one."""

from __future__ import annotations

from datetime import timedelta

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.routing.domain import satisfaction_rows
from socialcare.v1 import case_pb2, commands_pb2, message_pb2
from tests.unit.factories import T0, enriched
from tests.unit.routing.harness import Routing, case_events, reply, resolve

SETTINGS: dict[str, object] = {
    "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "1h"}],
    "queues": [{"name": "care", "languages": ["*"]}],
    "agents": [{"id": "sanne", "name": "Sanne Bakker", "languages": ["nl", "en"], "capacity": 3}],
    "routing": {
        "lifecycle": {"reopen_within": "7d", "survey": {"kind": "csat", "answer_within": "3d"}}
    },
}
CARE = CareConfig.model_validate(SETTINGS)
HOUR = timedelta(hours=1)


def message(
    external_id: str, text: str, at: timedelta, **fields: object
) -> message_pb2.EnrichedMessage:
    values: dict[str, object] = {"language": "nl", "author": "jan", "received": T0 + at, **fields}
    return enriched(external_id, text=text, **values)  # type: ignore[arg-type]


def resolved_case(routing: Routing, **fields: object) -> str:
    """A case the customer confirmed solved at T0 + 2h."""
    case_id = case_events(
        routing.message(message("m1", "Waar blijft mijn pakket?", timedelta(0), **fields))
    )[0].case.id
    routing.command(reply(case_id, "c1", text="Het komt vandaag"))
    routing.at(T0 + HOUR).command(resolve(case_id, "r1"))
    routing.at(T0 + 2 * HOUR).message(message("m2", "ja hoor, opgelost", 2 * HOUR, **fields))
    assert routing.case(case_id).status == case_pb2.CASE_STATUS_RESOLVED
    return case_id


def test_the_survey_goes_out_in_the_case_language_after_resolution() -> None:
    routing = Routing(CARE)
    case_id = case_events(routing.message(message("m1", "Waar blijft mijn pakket?", timedelta(0))))[
        0
    ].case.id
    routing.command(reply(case_id, "c1", text="Het komt vandaag"))
    routing.at(T0 + HOUR).command(resolve(case_id, "r1"))
    effects = routing.at(T0 + 2 * HOUR).message(message("m2", "ja hoor", 2 * HOUR))
    types = [e.type for e in case_events(effects)]
    assert types == [case_pb2.CASE_EVENT_TYPE_RESOLVED, case_pb2.CASE_EVENT_TYPE_SURVEY_SENT]
    survey = routing.case(case_id).survey
    assert survey.kind == case_pb2.SURVEY_KIND_CSAT and not survey.answered
    assert survey.due_at.ToDatetime() == (T0 + 2 * HOUR + timedelta(days=3)).replace(tzinfo=None)
    texts = [e.message.text for e in effects if e.topic == Topic.OUTBOUND]  # type: ignore[attr-defined]
    assert len(texts) == 1 and texts[0].startswith("Hoe tevreden ben je over onze hulp")


def test_a_score_answers_the_survey_without_reopening_and_is_tallied() -> None:
    routing = Routing(CARE)
    resolved_case(routing)
    effects = routing.at(T0 + 3 * HOUR).message(message("m3", "4 - snel geholpen", 3 * HOUR))
    [answered] = case_events(effects)
    assert answered.type == case_pb2.CASE_EVENT_TYPE_SURVEY_ANSWERED
    case = answered.case
    assert case.status == case_pb2.CASE_STATUS_RESOLVED
    assert (case.survey.answered, case.survey.score, case.survey.comment) == (
        True,
        4,
        "snel geholpen",
    )
    rows = satisfaction_rows([case], CARE)
    assert [(r.channel, r.language, r.sent, r.answered, r.score_counts[4]) for r in rows] == [
        ("x", "nl", 1, 1, 1)
    ]
    assert satisfaction_rows([case], CARE, since=T0 + 4 * HOUR) == []
    assert satisfaction_rows([case], CARE, brands=frozenset({"other"})) == []


def test_another_message_within_the_window_reopens_for_the_previous_owner() -> None:
    routing = Routing(CARE)
    case_id = resolved_case(routing)
    effects = routing.at(T0 + timedelta(days=1)).message(
        message("m3", "Het pakket is toch beschadigd", timedelta(days=1))
    )
    events = case_events(effects)
    assert events[0].type == case_pb2.CASE_EVENT_TYPE_REOPENED
    assert events[0].case.status == case_pb2.CASE_STATUS_NEW
    assert events[0].case.assignment_epoch == 2
    assert not events[0].case.HasField("reopen_until")
    assert routing.case(case_id).assignee == "sanne"


def test_a_thank_you_after_resolution_does_not_reopen() -> None:
    routing = Routing(CARE)
    case_id = resolved_case(routing)
    routing.at(T0 + 3 * HOUR).message(message("m3", "4", 3 * HOUR))
    [added] = case_events(
        routing.at(T0 + 4 * HOUR).message(message("m4", "Top, bedankt!", 4 * HOUR))
    )
    assert added.type == case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED
    assert routing.case(case_id).status == case_pb2.CASE_STATUS_RESOLVED


def test_past_the_window_the_case_closes_and_a_new_message_opens_a_follow_up() -> None:
    routing = Routing(CARE)
    case_id = resolved_case(routing)
    [closed] = case_events(routing.at(T0 + timedelta(days=8)).tick())
    assert closed.type == case_pb2.CASE_EVENT_TYPE_CLOSED
    assert closed.case.status == case_pb2.CASE_STATUS_CLOSED and closed.case.HasField("closed_at")
    events = case_events(
        routing.at(T0 + timedelta(days=9)).message(
            message("m5", "Weer een probleem", timedelta(days=9))
        )
    )
    assert events[0].type == case_pb2.CASE_EVENT_TYPE_OPENED
    assert events[0].case.id != case_id and events[0].case.previous_case_id == case_id
    assert events[0].case.status == case_pb2.CASE_STATUS_NEW


def test_a_message_past_the_window_closes_a_case_the_tick_had_not_reached_yet() -> None:
    routing = Routing(CARE)
    case_id = resolved_case(routing)
    effects = routing.at(T0 + timedelta(days=9)).message(
        message("m5", "Weer een probleem", timedelta(days=9))
    )
    types = [(e.type, e.case.id == case_id) for e in case_events(effects)]
    assert types[:2] == [
        (case_pb2.CASE_EVENT_TYPE_CLOSED, True),
        (case_pb2.CASE_EVENT_TYPE_OPENED, False),
    ]


def test_nps_and_a_survey_answered_late_is_an_ordinary_message() -> None:
    care = CareConfig.model_validate(
        {**SETTINGS, "routing": {"lifecycle": {"survey": {"kind": "nps", "answer_within": "1h"}}}}
    )
    routing = Routing(care)
    case_id = resolved_case(routing)
    assert routing.case(case_id).survey.kind == case_pb2.SURVEY_KIND_NPS
    events = case_events(routing.at(T0 + 5 * HOUR).message(message("m3", "9", 5 * HOUR)))
    assert events[0].type == case_pb2.CASE_EVENT_TYPE_REOPENED  # past answer_within


def test_no_survey_when_the_brand_asks_none() -> None:
    care = CareConfig.model_validate(
        {**SETTINGS, "routing": {"lifecycle": {"survey": {"kind": "none"}}}}
    )
    routing = Routing(care)
    case_id = resolved_case(routing)
    assert not routing.case(case_id).HasField("survey")
    sent = [e.message for e in routing.published if e.topic == Topic.OUTBOUND]
    assert len(sent) == 2  # the reply and "has this been solved?"; no survey


def test_an_agent_reopens_a_resolved_case_and_gets_it_back() -> None:
    routing = Routing(CARE)
    case_id = resolved_case(routing)
    command = commands_pb2.AgentCommand(
        command_id="o1",
        case_id=case_id,
        reopen=commands_pb2.ReopenCase(agent="sanne", reason="called"),
    )
    events = case_events(routing.at(T0 + 5 * HOUR).command(command))
    assert events[0].type == case_pb2.CASE_EVENT_TYPE_REOPENED
    assert events[0].case.messages[-1].text == "Reopened: called"
    assert routing.case(case_id).assignee == "sanne"
    assert routing.case(case_id).status == case_pb2.CASE_STATUS_ASSIGNED
