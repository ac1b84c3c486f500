"""POST /v1/messages against a real Runtime on the embedded bus: answers and records."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from socialcare.core.bus import BusError, Headers, Producer
from socialcare.core.bus.base import Delivery
from socialcare.core.clock import from_timestamp
from socialcare.core.events import decode, derived_id
from socialcare.core.runtime import Runtime
from socialcare.ingestion.api import ingestion_router
from socialcare.ingestion.dedupe import SeenMessageIds
from socialcare.ingestion.ingestor import Ingestor
from socialcare.ingestion.models import ACCEPTED_CHANNELS
from socialcare.v1 import message_pb2
from tests.unit.auth_support import admin_client, admin_headers
from tests.unit.ingestion.ingestion_helpers import (
    ingestion_app,
    message_body,
    raw_records,
    settings_for,
)
from tests.unit.metrics import sample

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def ingested(channel: str, outcome: str) -> float:
    return sample("socialcare_messages_ingested_total", channel=channel, outcome=outcome)


def test_new_message_is_202_and_lands_on_the_raw_topic_with_headers(
    client: TestClient, runtime: Runtime
) -> None:
    body = message_body(thread_id="conv-77", in_reply_to="tw-1", unknown_field={"a": 1})
    before = ingested("x", "accepted")

    answer = client.post("/v1/messages", json=body)

    assert answer.status_code == 202, answer.text
    message_id = derived_id("x", body["external_id"])
    assert answer.json() == {"message_id": message_id, "duplicate": False}
    assert ingested("x", "accepted") == before + 1

    [record] = raw_records(runtime)
    assert record.key == b"x:author:48213377"
    assert record.header("event-type") == b"socialcare.v1.SocialMessage"
    assert record.header("schema-version") == b"v1"
    assert record.header("event-id") == message_id.encode()
    assert record.header("producer") == b"ingestion"
    traceparent = record.header("traceparent")
    assert traceparent is not None and TRACEPARENT.match(traceparent.decode())

    message = decode(record, message_pb2.SocialMessage)
    assert message.message_id == message_id
    assert message.channel == message_pb2.CHANNEL_X
    assert message.external_id == body["external_id"]
    assert message.author == message_pb2.Author(
        id="48213377", handle="@jvdberg_zzp", name="Jeroen van den Berg", followers=812
    )
    assert message.text == body["text"]
    assert from_timestamp(message.created_at).isoformat() == "2024-11-05T08:14:03+00:00"
    assert (message.thread_id, message.in_reply_to, message.brand) == (
        "conv-77",
        "tw-1",
        "energieloket",
    )
    assert message.HasField("received_at")


def test_the_callers_trace_is_continued_into_the_record(
    client: TestClient, runtime: Runtime
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    answer = client.post(
        "/v1/messages",
        json=message_body(),
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    assert answer.status_code == 202
    [record] = raw_records(runtime)
    traceparent = record.header("traceparent")
    assert traceparent is not None and traceparent.decode().split("-")[1] == trace_id


def test_same_channel_and_external_id_again_is_200_duplicate_and_not_published(
    client: TestClient, runtime: Runtime
) -> None:
    body = message_body()
    first = client.post("/v1/messages", json=body)
    before = ingested("x", "duplicate")
    again = client.post("/v1/messages", json={**body, "text": "edited text, same message"})

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"message_id": first.json()["message_id"], "duplicate": True}
    assert ingested("x", "duplicate") == before + 1
    assert len(raw_records(runtime)) == 1


def test_same_external_id_on_another_channel_is_another_message(
    client: TestClient, runtime: Runtime
) -> None:
    body = message_body()
    first = client.post("/v1/messages", json=body)
    other = client.post("/v1/messages", json={**body, "channel": "facebook"})
    assert (first.status_code, other.status_code) == (202, 202)
    assert first.json()["message_id"] != other.json()["message_id"]
    assert len(raw_records(runtime)) == 2


def test_dedupe_survives_a_restart(tmp_path: Path) -> None:
    body = message_body()
    first_runtime = Runtime(settings_for(tmp_path))
    try:
        with TestClient(
            ingestion_app(first_runtime), headers=admin_headers(first_runtime)
        ) as client:
            assert client.post("/v1/messages", json=body).status_code == 202
    finally:
        first_runtime.close()

    second_runtime = Runtime(settings_for(tmp_path))
    try:
        with TestClient(
            ingestion_app(second_runtime), headers=admin_headers(second_runtime)
        ) as client:
            again = client.post("/v1/messages", json=body)
            fresh = client.post("/v1/messages", json=message_body())
        assert again.status_code == 200
        assert again.json()["duplicate"] is True
        assert fresh.status_code == 202
        assert len(raw_records(second_runtime)) == 2
    finally:
        second_runtime.close()


def test_missing_author_id_is_422_naming_the_field(client: TestClient, runtime: Runtime) -> None:
    body = message_body(author={"handle": "@anon"})
    before = ingested("x", "rejected")

    answer = client.post("/v1/messages", json=body)

    assert answer.status_code == 422
    assert answer.json() == {
        "error": {
            "code": "invalid_request",
            "message": "author.id: Field required",
            "field": "author.id",
            "details": [{"field": "author.id", "code": "missing", "message": "Field required"}],
        }
    }
    assert ingested("x", "rejected") == before + 1
    assert raw_records(runtime) == []


def test_naive_created_at_is_422(client: TestClient) -> None:
    answer = client.post("/v1/messages", json=message_body(created_at="2024-11-05T09:14:03"))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "created_at"
    assert "timezone" in error["message"]


def test_unix_number_created_at_is_422(client: TestClient) -> None:
    answer = client.post("/v1/messages", json=message_body(created_at=1730794443))
    assert answer.status_code == 422
    assert "RFC 3339" in answer.json()["error"]["message"]


def test_unknown_channel_is_422_listing_the_allowed_values(client: TestClient) -> None:
    before = ingested("unknown", "rejected")
    answer = client.post("/v1/messages", json=message_body(channel="myspace"))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "channel"
    assert error["message"].startswith("channel: ")
    assert all(f"'{name}'" in error["message"] for name in ACCEPTED_CHANNELS)
    assert "myspace" not in answer.text, "the input is never echoed"
    assert ingested("unknown", "rejected") == before + 1


def test_every_bad_field_is_named_at_once(client: TestClient) -> None:
    body = message_body(text="   ", external_id="", author={"id": "1", "followers": -5})
    del body["created_at"]
    answer = client.post("/v1/messages", json=body)
    assert answer.status_code == 422
    error = answer.json()["error"]
    fields = {problem["field"] for problem in error["details"]}
    assert fields == {"text", "external_id", "author.followers", "created_at"}
    assert "field" not in error, "no single field is at fault"
    for field in fields:
        assert f"{field}: " in error["message"]


def test_limits_on_text_and_external_id(client: TestClient) -> None:
    too_long = client.post("/v1/messages", json=message_body(text="a" * 10_001))
    long_id = client.post("/v1/messages", json=message_body(external_id="9" * 257))
    at_limit = client.post("/v1/messages", json=message_body(text="a" * 10_000))
    assert too_long.status_code == 422 and too_long.json()["error"]["field"] == "text"
    assert long_id.status_code == 422 and long_id.json()["error"]["field"] == "external_id"
    assert at_limit.status_code == 202


def test_numeric_ids_and_optional_nulls_are_accepted(client: TestClient, runtime: Runtime) -> None:
    body = message_body(external_id=1790012345678901234, thread_id=None, brand="")
    body["author"] = {"id": 48213377, "handle": None, "followers": None}
    answer = client.post("/v1/messages", json=body)
    assert answer.status_code == 202, answer.text
    [record] = raw_records(runtime)
    message = decode(record, message_pb2.SocialMessage)
    assert (message.external_id, message.author.id) == ("1790012345678901234", "48213377")
    assert (message.author.followers, message.thread_id, message.brand) == (0, "", "")


def test_malformed_json_is_400(client: TestClient) -> None:
    before = ingested("unknown", "rejected")
    answer = client.post(
        "/v1/messages",
        content=b'{"channel": "x", "text": ',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_json"
    assert error["message"].startswith("request body is not valid JSON: ")
    assert ingested("unknown", "rejected") == before + 1


def test_a_body_that_is_not_utf8_is_400(client: TestClient) -> None:
    answer = client.post(
        "/v1/messages",
        content=b'{"channel": "\xc3\x28"}',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_json"


def test_a_body_not_sent_as_json_is_415(client: TestClient) -> None:
    answer = client.post(
        "/v1/messages", content=b'{"channel": "x"}', headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 415
    error = answer.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "Content-Type: application/json" in error["message"]


def test_a_body_that_is_not_an_object_is_422_on_body(client: TestClient) -> None:
    answer = client.post("/v1/messages", json=["not", "an", "object"])
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "body"


# --- client mistakes that were 500s (found by fuzzing) ----------------------------------


@pytest.mark.parametrize("created_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_created_at_outside_the_calendar_is_422_naming_it(
    client: TestClient, runtime: Runtime, created_at: str
) -> None:
    answer = client.post("/v1/messages", json=message_body(created_at=created_at))
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "created_at"
    assert raw_records(runtime) == []


def test_followers_beyond_int64_is_422_naming_author_followers(client: TestClient) -> None:
    body = message_body()
    body["author"] = {"id": "1", "followers": 2**63}
    answer = client.post("/v1/messages", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "author.followers"


def test_a_lone_surrogate_is_422_naming_the_field_and_not_echoed(client: TestClient) -> None:
    # Sent as JSON text with the escape, as a client would: httpx would refuse to encode it.
    content = json.dumps(message_body(text="kapot \ud800", author={"id": "\udfff"}))
    answer = client.post(
        "/v1/messages", content=content, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422
    assert {p["field"] for p in answer.json()["error"]["details"]} == {"text", "author.id"}
    assert "kapot" not in answer.text


def test_a_utf8_encoded_surrogate_is_422_naming_the_field(client: TestClient) -> None:
    # Python's JSON decoder lets the bytes of a surrogate through (surrogatepass).
    content = json.dumps(message_body(channel="\ud800"), ensure_ascii=False)
    raw = content.encode("utf-8", "surrogatepass")
    answer = client.post("/v1/messages", content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "channel"


def test_the_error_shape_is_every_routers_in_the_app(runtime: Runtime) -> None:
    """One handler table for the whole app: another router's 422 has the same body."""
    other = APIRouter()

    @other.get("/other")
    def count(n: int) -> dict[str, int]:
        return {"n": n}

    parts_router = ingestion_router(Ingestor(runtime.producer, SeenMessageIds(10)))
    with admin_client(runtime, [parts_router, other]) as client:
        answer = client.get("/other", params={"n": "many"})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "n"


class FailedDelivery(Delivery):
    def wait(self, timeout_s: float = 30.0) -> None:
        raise BusError("broker not reachable")


class FlakyProducer(Producer):
    """A real producer whose next `failures` records are not acknowledged (their delivery
    fails, as when the broker is away); the records themselves stay with the producer."""

    def __init__(self, inner: Producer, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        delivery = self.inner.send(topic, value, key=key, headers=headers)
        if self.failures:
            self.failures -= 1
            return FailedDelivery()
        return delivery

    def flush(self, timeout_s: float = 30.0) -> None:
        self.inner.flush(timeout_s)

    def close(self) -> None:
        self.inner.close()


def test_bus_down_is_503_and_the_retry_is_accepted(runtime: Runtime) -> None:
    producer = FlakyProducer(runtime.producer, failures=1)
    ingestor = Ingestor(producer, SeenMessageIds(100))
    body = message_body()
    with admin_client(runtime, [ingestion_router(ingestor)]) as client:
        down: Any = client.post("/v1/messages", json=body)
        retry = client.post("/v1/messages", json=body)
        third = client.post("/v1/messages", json=body)
    assert down.status_code == 503
    assert down.json() == {
        "error": {
            "code": "bus_unavailable",
            "message": "event bus unavailable: broker not reachable",
        }
    }
    assert down.headers["retry-after"].isdigit()
    assert retry.status_code == 202, "a failed delivery must not mark the message as seen"
    assert third.status_code == 200
    # The failed attempt's record stayed buffered and went out with the retry's append:
    # two copies with one event id, which consumers de-duplicate. None is lost.
    event_ids = {r.header("event-id") for r in raw_records(runtime)}
    assert event_ids == {retry.json()["message_id"].encode()}
