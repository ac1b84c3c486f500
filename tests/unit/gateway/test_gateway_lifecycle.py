"""The lifecycle actions over REST (claim, transfer, consult and answer, await customer,
resolve with a note, reopen, merge, link identity, refer, priority, replies that answer
questions), presence, the roster's live state, the specialists to consult, canned answers
and the satisfaction report: each judged by who may act and by the case rules before
anything reaches the bus, queued as one command otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from socialcare.core.domain.topics import Topic
from socialcare.gateway.reports import satisfaction_json
from socialcare.v1 import commands_pb2, routing_pb2

from .desk import Desk, commands, on_topic, open_desk, the_command


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    yield from open_desk(tmp_path)


def error(response: Any) -> tuple[int, str, str | None]:
    assert response.status_code >= 400, response.text
    body = response.json()["error"]
    return response.status_code, body["code"], body.get("field")


def accepted(desk: Desk, response: Any) -> commands_pb2.AgentCommand:
    assert response.status_code == 202, response.text
    return the_command(desk.runtime, response.json()["command_id"])


# --- each action queues its command ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "action", "fields"),
    [
        (
            "transfer",
            {"agent": "olivia", "reason": " needs English "},
            "assign",
            {"agent": "olivia", "reason": "needs English", "by": "sanne"},
        ),
        (
            "consultations",
            {"agent": "sanne", "specialist": "mei", "question": "Firmware?", "product": "router"},
            "consult",
            {"agent": "sanne", "specialist": "mei", "question": "Firmware?", "product": "router"},
        ),
        (
            "await-customer",
            {"agent": "sanne", "note": "order number by phone"},
            "await_customer",
            {"agent": "sanne", "note": "order number by phone"},
        ),
        (
            "referrals",
            {"agent": "sanne", "to": "store manager", "note": "called"},
            "refer",
            {"agent": "sanne", "to": "store manager", "note": "called"},
        ),
        (
            "identities",
            {"agent": "sanne", "kind": "phone", "value": "+31612345678"},
            "link_identity",
            {"agent": "sanne", "kind": "phone", "value": "+31612345678"},
        ),
        (
            "priority",
            {"agent": "sanne", "level": "urgent", "reason": "press"},
            "set_priority",
            {"agent": "sanne", "level": "urgent", "reason": "press"},
        ),
        (
            "replies",
            {"agent": "sanne", "text": "Hij komt morgen.", "answers": ["order_status"]},
            "reply",
            {"agent": "sanne", "text": "Hij komt morgen.", "answers": ["order_status"]},
        ),
    ],
)
def test_an_agent_acts_on_their_case(
    desk: Desk, path: str, body: dict[str, Any], action: str, fields: dict[str, Any]
) -> None:
    command = accepted(desk, desk.post("sanne", f"/v1/cases/acme-1/{path}", body))
    assert command.WhichOneof("action") == action
    values = getattr(command, action)
    assert {name: _plain(getattr(values, name)) for name in fields} == fields
    assert command.issued_by, "who issued it"


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else list(value)


def test_a_claim_of_a_queued_case_and_of_a_closed_one(desk: Desk) -> None:
    accepted(desk, desk.post("sanne", "/v1/cases/acme-queued/claim", {"agent": "sanne"}))
    assert error(desk.post("sanne", "/v1/cases/acme-closed/claim", {"agent": "sanne"})) == (
        409,
        "case_closed",
        None,
    )
    assert error(desk.post("sanne", "/v1/cases/acme-1/claim", {"agent": "olivia"})) == (
        403,
        "forbidden",
        "agent",
    )


def test_resolving_proposes_with_a_note_once_every_question_is_answered(desk: Desk) -> None:
    refused = desk.post("sanne", "/v1/cases/acme-1/resolve", {"agent": "sanne", "note": "sent"})
    assert error(refused) == (409, "questions_open", "answers")
    assert "order_status" in refused.json()["error"]["message"]
    command = accepted(
        desk, desk.post("sanne", "/v1/cases/acme-2/resolve", {"agent": "sanne", "note": " ok "})
    )
    assert (command.resolve.agent, command.resolve.note) == ("sanne", "ok")


def test_a_reply_names_only_the_cases_questions(desk: Desk) -> None:
    body = {"agent": "sanne", "text": "Zie DM", "answers": ["refund"]}
    assert error(desk.post("sanne", "/v1/cases/acme-1/replies", body)) == (
        422,
        "unknown_question",
        "answers",
    )
    assert not commands(desk.runtime)


def test_a_transfer_needs_a_reason_and_moving_anothers_case_needs_reassign(desk: Desk) -> None:
    for reason in ("", "   "):
        answer = desk.post(
            "sanne", "/v1/cases/acme-1/transfer", {"agent": "olivia", "reason": reason}
        )
        assert error(answer)[:2] == (422, "invalid_request")
        assert error(answer)[2] == "reason"
    # acme-2 is olivia's: sanne cannot give it away; olivia (a lead) moves any case.
    body = {"agent": "sanne", "reason": "Dutch"}
    assert error(desk.post("sanne", "/v1/cases/acme-2/transfer", {**body, "agent": "lucia"}))[
        :2
    ] == (
        403,
        "forbidden",
    )
    command = accepted(desk, desk.post("olivia", "/v1/cases/acme-1/transfer", body))
    assert (command.assign.agent, command.assign.by) == ("sanne", "olivia")


def test_a_specialist_answers_a_consultation_on_a_case_they_do_not_own(desk: Desk) -> None:
    path = "/v1/cases/acme-1/consultations/consult-1/answer"
    command = accepted(desk, desk.post("diego", path, {"specialist": "diego", "answer": " v2.1 "}))
    assert command.answer_consultation.consultation_id == "consult-1"
    assert (command.answer_consultation.specialist, command.answer_consultation.answer) == (
        "diego",
        "v2.1",
    )
    # Nobody answers in a specialist's name but the specialist.
    assert error(desk.post("sanne", path, {"specialist": "diego", "answer": "v2"})) == (
        403,
        "forbidden",
        "specialist",
    )
    # ... and only the one who was asked.
    assert error(desk.post("sanne", path, {"specialist": "sanne", "answer": "v2"})) == (
        422,
        "not_the_specialist",
        "specialist",
    )
    unknown = "/v1/cases/acme-1/consultations/nope/answer"
    assert error(desk.post("diego", unknown, {"specialist": "diego", "answer": "v2"})) == (
        422,
        "unknown_consultation",
        "consultation_id",
    )


def test_reopen_is_for_resolved_cases(desk: Desk) -> None:
    accepted(desk, desk.post("sanne", "/v1/cases/acme-resolved/reopen", {"agent": "sanne"}))
    assert error(desk.post("sanne", "/v1/cases/acme-1/reopen", {"agent": "sanne"}))[:2] == (
        409,
        "case_not_resolved",
    )


def test_a_merge_reads_both_cases(desk: Desk) -> None:
    def merge(into: str, who: str = "sanne") -> Any:
        return desk.post(who, "/v1/cases/acme-1/merge", {"agent": who, "into_case_id": into})

    assert error(merge("no-such-case")) == (404, "not_found", "into_case_id")
    # a case of a brand sanne does not see is as absent; the admin sees it: brands differ.
    assert error(merge("globex-1")) == (404, "not_found", "into_case_id")
    admin = desk.post(
        "admin", "/v1/cases/acme-1/merge", {"agent": "sanne", "into_case_id": "globex-1"}
    )
    assert error(admin) == (422, "brand_mismatch", "into_case_id")
    assert error(merge("acme-closed")) == (409, "case_closed", "into_case_id")
    assert error(merge("acme-1")) == (422, "merge_into_self", "into_case_id")
    # into olivia's case: hers to decide, or a lead's.
    assert error(merge("acme-2")) == (403, "forbidden", "into_case_id")
    assert not commands(desk.runtime)
    command = accepted(desk, merge("acme-queued"))
    assert (command.merge.agent, command.merge.into_case_id) == ("sanne", "acme-queued")
    lead = accepted(
        desk,
        desk.post(
            "olivia", "/v1/cases/acme-1/merge", {"agent": "olivia", "into_case_id": "acme-2"}
        ),
    )
    assert lead.merge.into_case_id == "acme-2"


def test_bad_bodies_name_the_field(desk: Desk) -> None:
    for path, body, expected in (
        ("identities", {"agent": "sanne", "kind": "email", "value": "no-at"}, "value"),
        ("referrals", {"agent": "sanne", "to": "  "}, "to"),
        ("priority", {"agent": "sanne", "level": "critical"}, "level"),
        ("consultations", {"agent": "sanne", "specialist": "sanne", "question": "x"}, "specialist"),
        ("consultations", {"agent": "sanne", "specialist": "mei", "question": " "}, "question"),
        ("merge", {"agent": "sanne"}, "into_case_id"),
    ):
        status, _, field = error(desk.post("sanne", f"/v1/cases/acme-1/{path}", body))
        assert (status, field) == (422, expected), path
    assert not commands(desk.runtime)


def test_a_retry_with_the_same_key_is_the_same_command(desk: Desk) -> None:
    body = {"agent": "sanne", "specialist": "mei", "question": "Firmware?"}
    first = desk.post("sanne", "/v1/cases/acme-1/consultations", body, **{"Idempotency-Key": "k1"})
    again = desk.post("sanne", "/v1/cases/acme-1/consultations", body, **{"Idempotency-Key": "k1"})
    assert first.json()["command_id"] == again.json()["command_id"]


# --- presence ---------------------------------------------------------------------------


def presence_requests(desk: Desk) -> list[routing_pb2.AssignmentRequest]:
    return on_topic(desk.runtime, Topic.ASSIGNMENT_REQUESTS, routing_pb2.AssignmentRequest)


def test_an_agent_sets_their_own_presence_and_a_lead_anyones(desk: Desk) -> None:
    own = desk.clients["sanne"].put("/v1/agents/sanne/presence", json={"presence": "away"})
    assert own.status_code == 202, own.text
    assert own.json()["presence"] == "away"
    assert error(
        desk.clients["sanne"].put("/v1/agents/olivia/presence", json={"presence": "away"})
    ) == (403, "forbidden", "agent")
    lead = desk.clients["olivia"].put("/v1/agents/sanne/presence", json={"presence": "offline"})
    assert lead.status_code == 202, lead.text
    assert error(
        desk.clients["olivia"].put("/v1/agents/gerrit/presence", json={"presence": "away"})
    )[:2] == (404, "not_found"), "an agent of another brand is not there"
    assert error(desk.clients["sanne"].put("/v1/agents/sanne/presence", json={"presence": "busy"}))[
        :2
    ] == (422, "invalid_request")
    [away, offline] = presence_requests(desk)
    assert (away.kind, away.case_id, away.agent, away.presence) == (
        routing_pb2.ASSIGNMENT_REQUEST_KIND_PRESENCE,
        "agent:sanne",
        "sanne",
        routing_pb2.PRESENCE_AWAY,
    )
    assert (offline.presence, offline.by) == (routing_pb2.PRESENCE_OFFLINE, "olivia")
    assert away.request_id == own.json()["request_id"] != offline.request_id


def test_a_presence_retried_with_its_key_is_one_change(desk: Desk) -> None:
    def put() -> str:
        answer = desk.clients["sanne"].put(
            "/v1/agents/sanne/presence", json={"presence": "away"}, headers={"Idempotency-Key": "a"}
        )
        return str(answer.json()["request_id"])

    assert put() == put()


# --- the roster, specialists, canned answers ------------------------------------------------


def test_the_roster_shows_the_assigners_view(desk: Desk) -> None:
    agents = {a["id"]: a for a in desk.clients["sanne"].get("/v1/agents").json()}
    assert set(agents) == {"sanne", "olivia", "lucia", "diego", "mei"}, "acme's and specialists"
    sanne = agents["sanne"]
    assert (sanne["presence"], sanne["load"], sanne["load_by_channel"]) == ("online", 1, {"x": 1})
    assert agents["mei"]["presence"] == "away"
    # lucia is unknown to the assigner: the default presence and her team's calendar.
    assert (agents["lucia"]["presence"], agents["lucia"]["on_shift"]) == ("online", False)
    assert agents["diego"]["skills"] == {"language:es": 5, "product:router": 5}
    assert (agents["diego"]["specialist"], agents["diego"]["time_zone"]) == (
        True,
        "America/Argentina/Buenos_Aires",
    )


def test_without_the_assigner_the_roster_is_unavailable(tmp_path: Path) -> None:
    for desk in open_desk(tmp_path, assigner=False):
        answer = desk.clients["sanne"].get("/v1/agents")
        assert error(answer)[:2] == (503, "routing_unavailable")
        assert answer.headers.get("retry-after")
        # The specialists still come from the calendars.
        assert desk.clients["sanne"].get("/v1/specialists").status_code == 200


def test_specialists_on_shift_come_first_with_their_time_zone(desk: Desk) -> None:
    """Scenario 3: a Spanish router question at night in Europe: Singapore is at work."""
    found = (
        desk.clients["sanne"]
        .get("/v1/specialists", params={"language": "es", "product": "router"})
        .json()
    )
    assert [(s["id"], s["on_shift"]) for s in found] == [
        ("mei", True),  # the assigner says so (and 10:00 in Singapore)
        ("diego", False),  # the best, but 23:00 in Buenos Aires
        ("lucia", False),  # product skill, not a specialist; 03:00 in Madrid
    ]
    assert found[0]["time_zone"] == "Asia/Singapore"
    assert found[0]["local_time"].startswith("2026-11-26T10:00:00+08:00")
    assert found[0]["presence"] == "away"
    assert (found[1]["proficiency"], found[2]["proficiency"]) == (10, 7)
    # In the afternoon in Europe Buenos Aires works too, and ranks by proficiency.
    desk.now = desk.now.replace(hour=14)
    later = desk.clients["sanne"].get("/v1/specialists", params={"language": "es"}).json()
    assert [s["id"] for s in later] == ["diego", "mei"], "without a product: specialists"


def test_canned_answers_are_filled_in_and_measured(desk: Desk) -> None:
    answers = desk.clients["sanne"].get("/v1/cases/acme-1/canned-answers").json()
    by_id = {a["id"]: a for a in answers}
    assert set(by_id) == {"nl-dm", "nl-long"}
    dm = by_id["nl-dm"]
    assert dm["text"] == "Hoi Kim, stuur je ons een DM? Groet, Sanne"
    assert dm["signed_length"] == len(dm["text"]) + len(" ^Sanne")
    assert (dm["limit"], dm["fits"]) == (280, True)
    assert by_id["nl-long"]["fits"] is False
    assert error(
        desk.clients["sanne"].get("/v1/cases/acme-1/canned-answers", params={"agent": "nobody"})
    ) == (422, "unknown_agent", "agent")
    assert error(desk.clients["sanne"].get("/v1/cases/globex-1/canned-answers"))[:2] == (
        404,
        "not_found",
    )


# --- satisfaction ----------------------------------------------------------------------------


def test_satisfaction_adds_every_instance_up(desk: Desk) -> None:
    """Instance 1 holds CSAT x/nl (5, 5, 4, 2 of 6 sent) and NPS facebook/en (10, 9, 7, 3
    of 4); instance 2 the same CSAT row again."""
    report = (
        desk.clients["ops"]
        .get("/v1/reports/satisfaction", params={"group_by": "channel,language"})
        .json()
    )
    assert report["group_by"] == ["channel", "language"]
    rows = {(r["group"]["channel"], r["group"]["language"]): r for r in report["rows"]}
    x = rows[("x", "nl")]
    assert (x["sent"], x["answered"], x["response_rate"]) == (12, 8, 8 / 12)
    assert (x["csat"], x["csat_average"], x["nps"]) == (0.75, 4.0, None)
    assert x["distribution"] == {"csat": {"1": 0, "2": 2, "3": 0, "4": 2, "5": 4}}
    facebook = rows[("facebook", "en")]
    assert (facebook["nps"], facebook["csat"]) == (25.0, None)
    total = report["total"]
    assert (total["sent"], total["answered"], total["csat"], total["nps"]) == (16, 12, 0.75, 25.0)
    [request, *_] = desk.routing[0].servicer.satisfaction_requests
    assert list(request.brands) == ["acme"], "an operator of acme counts acme's answers"


def test_satisfaction_parameters_are_checked(desk: Desk) -> None:
    ops = desk.clients["ops"]
    assert error(ops.get("/v1/reports/satisfaction", params={"group_by": "team"})) == (
        400,
        "invalid_parameter",
        "group_by",
    )
    assert error(ops.get("/v1/reports/satisfaction", params={"brand": "globex"})) == (
        403,
        "forbidden",
        "brand",
    )
    window = {"from": "2026-11-26", "to": "2026-11-25"}
    assert error(ops.get("/v1/reports/satisfaction", params=window))[2] == "from"
    assert desk.clients["sanne"].get("/v1/reports/satisfaction").status_code == 403


def test_satisfaction_without_answers_has_no_figures() -> None:
    report = satisfaction_json([], ["channel"])
    assert report["rows"] == []
    assert report["total"] == {
        "sent": 0,
        "answered": 0,
        "response_rate": None,
        "csat": None,
        "csat_average": None,
        "nps": None,
        "distribution": {},
    }
