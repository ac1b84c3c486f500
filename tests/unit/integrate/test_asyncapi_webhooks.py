"""The webhook side of the AsyncAPI document against the real sender: a delivery made by
the catalogue (`event_types.event_body`) and POSTed by `webhooks.sender.SenderProcessor` to
a real HTTP server on loopback arrives with exactly the headers the document names (values
matching their schemas, the signature verifying with the subscription's secret) and a body
that fits the event type's message."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from socialcare.core import asyncapi
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.domain import event_types
from socialcare.core.domain.topics import Topic
from socialcare.core.signing import verify_generic
from socialcare.v1 import case_pb2, webhook_pb2
from socialcare.webhooks.sender import SenderOptions, SenderProcessor
from socialcare.webhooks.subscriptions import SubscriptionDirectory
from tests.unit.integrate.messages import populated, validator_for

# What any HTTP client sends and the document need not name.
TRANSPORT_HEADERS = {"host", "accept", "accept-encoding", "connection", "content-length"}


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Handler", (Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_a_sent_delivery_has_the_documented_headers_and_body(
    tmp_path: Path, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    now = datetime.now(UTC)
    record = populated(case_pb2.CaseEvent, 0)
    assert isinstance(record, case_pb2.CaseEvent)
    record.type = case_pb2.CASE_EVENT_TYPE_OPENED
    event = event_types.describe(Topic.CASES, record)
    assert event is not None and event.type == "case.opened"
    body = event_types.event_body(event, brand="acme")
    subscription = webhook_pb2.WebhookSubscription(
        id="sub-1", brand="acme", url=url, secret="s3cret", active=True
    )
    delivery = webhook_pb2.WebhookDelivery(
        delivery_id="d-1",
        subscription_id="sub-1",
        brand="acme",
        event_type=event.type,
        event_id=event.id,
        body=body,
        version=1,
    )
    bus = EmbeddedBus(tmp_path / "bus", default_partitions=1, sync="normal")
    sender = SenderProcessor(
        SubscriptionDirectory(),
        bus,
        lambda: now,
        options=SenderOptions(allow_private_targets=True, timeout_s=5.0),
    )
    try:
        result = sender.attempt(delivery, subscription)
    finally:
        sender.close()
        bus.close()
    assert result.status == 204, result
    [(headers, sent)] = received
    assert sent == body

    document = asyncapi.build_document()
    message = document["components"]["messages"]["webhook.case.opened"]
    documented = message["headers"]
    names = {name.lower(): name for name in documented["properties"]}
    ours = {k: v for k, v in headers.items() if k.lower() not in TRANSPORT_HEADERS}
    undocumented = sorted(k for k in ours if k.lower() not in names)
    assert not undocumented, (
        f"headers the sender sends that the document does not name: {undocumented}"
    )
    as_documented = {names[k.lower()]: v for k, v in ours.items()}
    jsonschema.validate(as_documented, documented)
    assert verify_generic(
        "s3cret",
        sent,
        as_documented[event_types.SIGNATURE_HEADER],
        now=now.timestamp(),
    )
    assert validator_for(document, message["payload"]).is_valid(json.loads(sent))
