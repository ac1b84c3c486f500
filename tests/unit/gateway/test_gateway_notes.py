"""Internal notes, consultations and transfers with a reason through the REST API: judged
by the case rules before anything reaches care.commands (422 naming the field), queued as
one command otherwise."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from socialcare.core.events import decode
from socialcare.core.runtime import Runtime
from socialcare.v1 import commands_pb2

from .conftest import CASE_NL
from .test_gateway_api import commands_on_bus, no_commands_on_bus


def error(response: Any) -> tuple[int, str, str | None]:
    body = response.json()["error"]
    return response.status_code, body["code"], body.get("field")


def test_a_note_with_a_consultation_is_queued(client: TestClient, seeded: Runtime) -> None:
    response = client.post(
        f"/v1/cases/{CASE_NL.id}/notes",
        json={"agent": "sanne", "text": "Daan, ken jij dit contract?", "consult": "daan"},
    )
    assert response.status_code == 202, response.text
    [record] = commands_on_bus(seeded, 1)
    command = decode(record, commands_pb2.AgentCommand)
    assert (command.note.agent, command.note.consult) == ("sanne", "daan")


def test_bad_notes_are_refused_naming_the_field(client: TestClient, seeded: Runtime) -> None:
    for body, expected in (
        ({"agent": "sanne", "text": "   "}, (422, "invalid_request", "text")),
        ({"agent": "sanne", "text": "x", "consult": "nobody"}, (422, "unknown_agent", "consult")),
        ({"agent": "sanne", "text": "x", "consult": "sanne"}, (422, "self_consult", "consult")),
        ({"agent": "sanne", "text": "x", "cc": "daan"}, (422, "invalid_request", "cc")),
    ):
        assert error(client.post(f"/v1/cases/{CASE_NL.id}/notes", json=body)) == expected
    assert no_commands_on_bus(seeded)


def test_a_transfer_carries_its_reason(client: TestClient, seeded: Runtime) -> None:
    response = client.post(
        f"/v1/cases/{CASE_NL.id}/assign",
        json={"agent": "daan", "reason": "Daan kent dit contract", "by": "sanne"},
    )
    assert response.status_code == 202, response.text
    [record] = commands_on_bus(seeded, 1)
    command = decode(record, commands_pb2.AgentCommand)
    assert (command.assign.agent, command.assign.reason, command.assign.by) == (
        "daan",
        "Daan kent dit contract",
        "sanne",
    )
