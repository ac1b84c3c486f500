"""Replies on WhatsApp and with templates through the REST API: the gateway judges them by
the same case rules as routing (the 24-hour window from the customer's last message to the
gateway's clock, approved templates, the signature counting towards the limit) and answers
422 naming the field before anything reaches care.commands; the case JSON shows each
message's kind, attachments and, on replies, how far the delivery got."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.events import decode
from socialcare.core.runtime import Runtime
from socialcare.gateway.api import router
from socialcare.gateway.cases import CaseClient
from socialcare.v1 import case_pb2, commands_pb2, delivery_pb2, message_pb2
from tests.unit.auth_support import admin_client

from .conftest import CASE_NL, T0, RoutingServer, make_case
from .test_gateway_api import commands_on_bus, no_commands_on_bus

CARE = CareConfig.model_validate(
    {
        "sla_policies": [{"name": "all-1h", "languages": ["*"], "first_response": "1h"}],
        "queues": [{"name": "care", "languages": ["*"]}],
        "agents": [
            {"id": "sanne", "name": "Sanne de Vries", "languages": ["nl", "en"], "capacity": 5}
        ],
        "brands": [
            {
                "name": "acme",
                "meta": {"whatsapp_templates": [{"name": "order_update", "language": "nl"}]},
            }
        ],
    }
)
TEMPLATE = {"name": "order_update", "language": "nl", "parameters": ["A-1042", "donderdag"]}
WRITTEN = T0 + timedelta(hours=1)  # when the customer last wrote on WhatsApp


def whatsapp_case() -> case_pb2.Case:
    """A WhatsApp case: the customer wrote at T0 and again at WRITTEN, with a photo; an
    agent's first reply was refused by WhatsApp."""
    case = make_case("case-wa-1", language="nl", channel="whatsapp", texts=("Waar blijft het?",))
    case.brand = "acme"
    first = case.messages[0]
    first.kind = message_pb2.MESSAGE_KIND_DIRECT_MESSAGE
    first.account_id = "106540352242922"
    failed = case.messages.add(
        message_id="reply-1",
        direction=case_pb2.DIRECTION_OUTBOUND,
        author="sanne",
        text="We kijken ernaar. ^Sanne",
        created_at=to_timestamp(T0 + timedelta(minutes=5)),
        language="nl",
        kind=message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
        account_id="106540352242922",
    )
    failed.delivery.status = delivery_pb2.DELIVERY_STATUS_FAILED
    failed.delivery.reason = "Message undeliverable"
    failed.delivery.error_code = "131026"
    failed.delivery.updated_at.CopyFrom(to_timestamp(T0 + timedelta(minutes=6)))
    photo = case.messages.add(
        message_id="case-wa-1-m2",
        direction=case_pb2.DIRECTION_INBOUND,
        external_id="wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQzQUI",
        author="@case-wa-1",
        text="Dit is het label",
        created_at=to_timestamp(WRITTEN),
        language="nl",
        kind=message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
        account_id="106540352242922",
    )
    photo.attachments.add(type="image", mime_type="image/jpeg", external_id="1479537139650973")
    return case


@dataclass
class Desk:
    runtime: Runtime
    case_id: str
    now: datetime = WRITTEN
    client: TestClient = field(init=False)

    def reply(self, body: dict[str, Any], case_id: str | None = None) -> Any:
        """POST `body` as JSON text (a lone surrogate as its \\u escape, as clients send it)."""
        return self.client.post(
            f"/v1/cases/{case_id or self.case_id}/replies",
            content=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )


@pytest.fixture
def desk(runtime: Runtime, routing: RoutingServer) -> Iterator[Desk]:
    """The gateway with a care config that has WhatsApp templates, and a clock we set."""
    case = whatsapp_case()
    routing.cases[case.id] = case
    cases = CaseClient(routing.address, timeout_s=2.0)
    state = Desk(runtime, case.id)
    api = router(
        care=CARE,
        search=runtime.search,
        producer=runtime.producer,
        cases=cases,
        clock=lambda: state.now,
    )
    state.client = admin_client(runtime, [api])
    yield state
    cases.close()


def error(response: Any) -> tuple[int, str, str | None]:
    body = response.json()["error"]
    return response.status_code, body["code"], body.get("field")


def test_free_text_on_whatsapp_within_24_hours_of_the_last_message(desk: Desk) -> None:
    desk.now = WRITTEN + timedelta(hours=23, minutes=59)
    response = desk.reply({"agent": "sanne", "text": "Hij komt morgen."})
    assert response.status_code == 202
    [record] = commands_on_bus(desk.runtime, 1)
    command = decode(record, commands_pb2.AgentCommand)
    # The command carries the agent's words; routing signs them when it applies it.
    assert command.reply.text == "Hij komt morgen."
    assert not command.reply.HasField("template")


def test_free_text_on_whatsapp_after_24_hours_is_422_naming_text(desk: Desk) -> None:
    desk.now = WRITTEN + timedelta(hours=24)
    response = desk.reply({"agent": "sanne", "text": "Hij komt morgen."})
    assert error(response) == (422, "whatsapp_window_closed", "text")
    message = response.json()["error"]["message"]
    assert "24 hours" in message and "order_update (nl)" in message
    assert no_commands_on_bus(desk.runtime)


def test_an_approved_template_goes_out_after_the_window(desk: Desk) -> None:
    desk.now = WRITTEN + timedelta(days=3)
    response = desk.reply({"agent": "sanne", "template": TEMPLATE})
    assert response.status_code == 202
    [record] = commands_on_bus(desk.runtime, 1)
    command = decode(record, commands_pb2.AgentCommand)
    assert command.reply.template == commands_pb2.MessageTemplate(
        name="order_update", language="nl", parameters=["A-1042", "donderdag"]
    )
    assert command.reply.text == ""


@pytest.mark.parametrize(
    ("body", "case_id", "expected"),
    [
        (
            {"agent": "sanne", "template": {**TEMPLATE, "language": "en_US"}},
            None,
            ("unknown_template", "template"),
        ),
        (
            {"agent": "sanne", "text": "Zie hieronder", "template": TEMPLATE},
            None,
            ("template_with_text", "text"),
        ),
        (
            {"agent": "sanne", "template": TEMPLATE},
            CASE_NL.id,
            ("template_not_supported", "template"),
        ),
        ({"agent": "sanne"}, None, ("reply_empty", "text")),
    ],
    ids=["unknown", "with-text", "not-whatsapp", "neither"],
)
def test_template_rules_are_422_naming_the_field(
    desk: Desk, body: dict[str, Any], case_id: str | None, expected: tuple[str, str]
) -> None:
    desk.now = WRITTEN + timedelta(days=3)
    response = desk.reply(body, case_id)
    assert error(response) == (422, *expected)
    assert no_commands_on_bus(desk.runtime)


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ({"name": "Order Update", "language": "nl"}, "template.name"),
        ({"name": "order_update", "language": "dutch"}, "template.language"),
        ({"name": "order_update", "language": "nl", "parameters": [""]}, "template.parameters.0"),
        (
            {"name": "order_update", "language": "nl", "parameters": ["\ud800"]},
            "template.parameters.0",
        ),
        ({"name": "order_update", "language": "nl", "header": "x"}, "template.header"),
    ],
    ids=["name", "language", "blank-parameter", "lone-surrogate", "unknown-field"],
)
def test_a_malformed_template_is_422_naming_its_field(
    desk: Desk, template: dict[str, Any], field: str
) -> None:
    response = desk.reply({"agent": "sanne", "template": template})
    assert response.status_code == 422
    problems = response.json()["error"]["details"]
    assert [p["field"] for p in problems] == [field]
    assert no_commands_on_bus(desk.runtime)


def test_the_case_shows_kinds_attachments_and_deliveries(desk: Desk) -> None:
    body = desk.client.get(f"/v1/cases/{desk.case_id}").json()
    first, reply, photo = body["messages"]
    assert (first["kind"], first["account_id"], first["delivery"]) == (
        "direct_message",
        "106540352242922",
        None,
    )
    assert reply["direction"] == "outbound"
    assert reply["delivery"] == {
        "status": "failed",
        "platform_message_id": None,
        "reason": "Message undeliverable",
        "error_code": "131026",
        "updated_at": "2025-03-01T09:06:00.000Z",
    }
    assert photo["attachments"] == [
        {
            "type": "image",
            "url": None,
            "mime_type": "image/jpeg",
            "external_id": "1479537139650973",
        }
    ]
