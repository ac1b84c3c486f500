"""POST /v1/messages:batch against a real Runtime on the embedded bus: per-item results in
order, the valid ones accepted beside the invalid ones, duplicates, limits, outages."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from socialcare.core.bus import BusError, Headers, Producer
from socialcare.core.bus.base import Delivery
from socialcare.core.events import decode, derived_id
from socialcare.core.runtime import Runtime
from socialcare.ingestion.api import ingestion_router
from socialcare.ingestion.dedupe import SeenMessageIds
from socialcare.ingestion.ingestor import Ingestor
from socialcare.ingestion.models import MAX_BATCH
from socialcare.v1 import message_pb2
from tests.unit.auth_support import admin_client
from tests.unit.ingestion.ingestion_helpers import message_body, raw_records
from tests.unit.metrics import sample

BATCH = "/v1/messages:batch"


def ingested(channel: str, outcome: str) -> float:
    return sample("socialcare_messages_ingested_total", channel=channel, outcome=outcome)


def receipt(body: dict[str, Any], duplicate: bool = False) -> dict[str, Any]:
    return {"message_id": derived_id(body["channel"], body["external_id"]), "duplicate": duplicate}


def published_ids(runtime: Runtime) -> list[str]:
    return [decode(r, message_pb2.SocialMessage).message_id for r in raw_records(runtime)]


def test_all_valid_are_accepted_in_order_and_land_on_the_raw_topic(
    client: TestClient, runtime: Runtime
) -> None:
    bodies = [message_body(external_id=f"tw-all-{i}") for i in range(5)]
    bodies[2]["channel"] = "facebook"
    accepted_x, accepted_fb = ingested("x", "accepted"), ingested("facebook", "accepted")

    answer = client.post(BATCH, json={"messages": bodies})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"results": [receipt(body) for body in bodies]}
    assert sorted(published_ids(runtime)) == sorted(receipt(b)["message_id"] for b in bodies)
    assert ingested("x", "accepted") == accepted_x + 4
    assert ingested("facebook", "accepted") == accepted_fb + 1
    record = raw_records(runtime)[0]
    assert record.header("event-type") == b"socialcare.v1.SocialMessage"
    assert record.header("producer") == b"ingestion"


def test_invalid_items_get_their_error_and_the_valid_ones_are_still_accepted(
    client: TestClient, runtime: Runtime
) -> None:
    good_1, good_2 = message_body(), message_body()
    no_author_id = message_body(author={"handle": "@x"})
    bad_channel = message_body(channel="myspace", text="")
    rejected_unknown = ingested("unknown", "rejected")
    rejected_x = ingested("x", "rejected")

    answer = client.post(
        BATCH, json={"messages": [good_1, no_author_id, "not an object", good_2, bad_channel]}
    )

    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == 5
    assert results[0] == receipt(good_1)
    assert results[3] == receipt(good_2)
    # Each error is what POST /v1/messages answers for that message, named relative to it.
    single = client.post("/v1/messages", json=no_author_id)
    assert single.status_code == 422
    assert results[1] == single.json()
    assert results[1]["error"]["field"] == "author.id"
    assert results[2]["error"]["code"] == "invalid_request"
    assert results[2]["error"]["field"] == "body"
    assert {d["field"] for d in results[4]["error"]["details"]} == {"channel", "text"}
    assert sorted(published_ids(runtime)) == sorted(
        [receipt(good_1)["message_id"], receipt(good_2)["message_id"]]
    )
    assert ingested("x", "rejected") == rejected_x + 2  # no_author_id, and the single retry
    assert ingested("unknown", "rejected") == rejected_unknown + 2


def test_a_message_twice_in_one_batch_is_published_once(
    client: TestClient, runtime: Runtime
) -> None:
    body = message_body()
    edited = {**body, "text": "edited text, same message"}
    before = ingested("x", "duplicate")

    answer = client.post(BATCH, json={"messages": [body, message_body(), edited]})

    assert answer.status_code == 200, answer.text
    first, _, second = answer.json()["results"]
    assert first == receipt(body)
    assert second == receipt(body, duplicate=True)
    assert ingested("x", "duplicate") == before + 1
    assert published_ids(runtime).count(receipt(body)["message_id"]) == 1
    assert len(published_ids(runtime)) == 2


def test_messages_accepted_before_are_duplicates_across_batches_and_doors(
    client: TestClient, runtime: Runtime
) -> None:
    single, batched, new = message_body(), message_body(), message_body()
    assert client.post("/v1/messages", json=single).status_code == 202
    assert client.post(BATCH, json={"messages": [batched]}).status_code == 200

    again = client.post(BATCH, json={"messages": [batched, new, single]})
    after = client.post("/v1/messages", json=new)

    assert again.json() == {
        "results": [receipt(batched, True), receipt(new), receipt(single, True)]
    }
    assert after.status_code == 200
    assert after.json() == receipt(new, True)
    assert len(published_ids(runtime)) == 3


def test_more_than_the_limit_is_refused_naming_messages(
    client: TestClient, runtime: Runtime
) -> None:
    before = ingested("x", "rejected")

    answer = client.post(BATCH, json={"messages": [message_body()] * (MAX_BATCH + 1)})

    assert answer.status_code == 422
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_request", "messages")
    assert ingested("x", "rejected") == before + MAX_BATCH + 1
    assert raw_records(runtime) == []


def test_exactly_the_limit_is_accepted(client: TestClient, runtime: Runtime) -> None:
    bodies = [message_body() for _ in range(MAX_BATCH)]
    answer = client.post(BATCH, json={"messages": bodies})
    assert answer.status_code == 200, answer.text
    assert [r["duplicate"] for r in answer.json()["results"]] == [False] * MAX_BATCH
    assert len(published_ids(runtime)) == MAX_BATCH


def test_an_empty_list_or_no_list_is_refused_naming_messages(client: TestClient) -> None:
    bodies: list[dict[str, Any]] = [{"messages": []}, {"messages": {"channel": "x"}}, {}]
    for body in bodies:
        answer = client.post(BATCH, json=body)
        assert answer.status_code == 422, body
        assert answer.json()["error"]["field"] == "messages", body


def test_a_body_that_is_not_json_is_400_and_not_sent_as_json_is_415(client: TestClient) -> None:
    broken = client.post(
        BATCH, content=b'{"messages": [', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_json"
    plain = client.post(BATCH, content=b"messages", headers={"content-type": "text/plain"})
    assert plain.status_code == 415
    assert plain.json()["error"]["code"] == "unsupported_media_type"


class _Unacknowledged(Delivery):
    def wait(self, timeout_s: float = 30.0) -> None:
        raise BusError("broker not reachable")


class _BusDown(Producer):
    """A real producer whose deliveries fail while `down` (the records stay buffered)."""

    def __init__(self, inner: Producer) -> None:
        self.inner = inner
        self.down = True

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        delivery = self.inner.send(topic, value, key=key, headers=headers)
        return _Unacknowledged() if self.down else delivery

    def flush(self, timeout_s: float = 30.0) -> None:
        self.inner.flush(timeout_s)

    def close(self) -> None:
        self.inner.close()


def test_bus_down_is_503_for_the_whole_batch_and_nothing_is_remembered(
    runtime: Runtime,
) -> None:
    producer = _BusDown(runtime.producer)
    ingestor = Ingestor(producer, SeenMessageIds(100))
    bodies = [message_body(), message_body(), {"channel": "x"}]
    failed = ingested("x", "failed")
    with admin_client(runtime, [ingestion_router(ingestor)]) as client:
        down = client.post(BATCH, json={"messages": bodies})
        producer.down = False
        retry = client.post(BATCH, json={"messages": bodies})

    assert down.status_code == 503
    assert down.json()["error"]["code"] == "bus_unavailable"
    assert down.headers["retry-after"].isdigit()
    assert ingested("x", "failed") == failed + 2
    assert [r.get("duplicate") for r in retry.json()["results"]] == [False, False, None]
    assert retry.json()["results"][2]["error"]["code"] == "invalid_request"


class _NoFlush(Producer):
    """A real producer that refuses `flush()`: ingestion must wait per record."""

    def __init__(self, inner: Producer) -> None:
        self.inner = inner
        self.deliveries = 0

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        self.deliveries += 1
        return self.inner.send(topic, value, key=key, headers=headers)

    def flush(self, timeout_s: float = 30.0) -> None:
        raise AssertionError("ingestion waited for everyone's records (a producer-wide flush)")

    def close(self) -> None:
        self.inner.close()


def test_both_doors_wait_for_their_own_records_not_a_producer_wide_flush(
    runtime: Runtime,
) -> None:
    producer = _NoFlush(runtime.producer)
    ingestor = Ingestor(producer, SeenMessageIds(100))
    single, batched = message_body(), [message_body(), message_body()]
    with admin_client(runtime, [ingestion_router(ingestor)]) as client:
        one = client.post("/v1/messages", json=single)
        many = client.post(BATCH, json={"messages": batched})

    assert (one.status_code, many.status_code) == (202, 200)
    assert producer.deliveries == 3
    # Acknowledged means durable: a fresh group reads all three without anyone flushing.
    assert sorted(published_ids(runtime)) == sorted(
        receipt(body)["message_id"] for body in [single, *batched]
    )
