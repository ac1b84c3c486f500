"""Fuzzing the connectors' webhook doors with Hypothesis, bounded in time.

Every connector (Meta, X, LinkedIn, a generic source) gets, through the real app
(`build_app`, so the one error-handler table) on a real Ingestor on the embedded bus:

* the documented payloads (`tests/fixtures/channels`) mutated at random paths (a value
  replaced by arbitrary JSON, a key dropped, a list emptied) and correctly signed, so the
  parsers are driven deep into shapes the platforms do not send;
* arbitrary JSON values, correctly signed;
* arbitrary bytes with arbitrary Content-Type and a signature header that is right, wrong
  or absent.

Checked on every answer:

* never a 5xx (the bus is up, so not even 503): whatever a sender posts is a 4xx;
* an error answer has the one error body with a snake_case code;
* a refused request published nothing;
* a 200 published exactly what it counts: one new record on `social.messages.raw` per
  accepted message, one on `care.deliveries` per delivery, and its raw body byte for byte
  (unless it brought nothing new: then it was kept the first time); and at the end every
  record sent is read back from the topics by a real consumer.

Bounded: `MAX_EXAMPLES` per test and connector, no per-example deadline (the embedded bus
syncs), so the module runs in seconds as part of every `make test`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialcare.channels import signatures
from socialcare.channels.webhooks import channels_router
from socialcare.core.bus import Headers, Producer
from socialcare.core.bus.base import Delivery
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.brands import (
    Brand,
    GenericSource,
    LinkedInAccounts,
    MetaAccounts,
    XAccounts,
)
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.topics import Topic
from socialcare.core.runtime import Runtime, build_app
from socialcare.ingestion.dedupe import SeenMessageIds
from socialcare.ingestion.ingestor import Ingestor
from socialcare.v1 import delivery_pb2

MAX_EXAMPLES = 60
FIXTURES = Path(__file__).parents[1] / "fixtures" / "channels"
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
SECRETS = {
    "FUZZ_META_APP_SECRET": "fuzz-meta",
    "FUZZ_META_VERIFY_TOKEN": "fuzz-verify",
    "FUZZ_X_CONSUMER_SECRET": "fuzz-x",
    "FUZZ_LINKEDIN_CLIENT_SECRET": "fuzz-linkedin",
    "FUZZ_FORUM_SECRET": "fuzz-forum",
}
CONNECTORS = ("meta", "x", "linkedin", "generic")
PATHS = {
    "meta": "/v1/channels/meta/webhook",
    "x": "/v1/channels/x/webhook",
    "linkedin": "/v1/channels/linkedin/webhook",
    "generic": "/v1/channels/generic/forum",
}
_CODE = re.compile(r"^[a-z]+(_[a-z0-9]+)*$")

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def signed_headers(connector: str, body: bytes) -> dict[str, str]:
    """The signature header the connector's sender would put on `body`."""
    if connector == "meta":
        return {signatures.META_HEADER: signatures.meta_signature("fuzz-meta", body)}
    if connector == "x":
        return {signatures.X_HEADER: signatures.x_signature("fuzz-x", body)}
    if connector == "linkedin":
        return {signatures.LINKEDIN_HEADER: signatures.linkedin_signature("fuzz-linkedin", body)}
    header = signatures.generic_signature("fuzz-forum", body, timestamp=int(NOW.timestamp()))
    return {signatures.GENERIC_HEADER: header}


def seeds(connector: str) -> list[Any]:
    prefix = "meta" if connector == "meta" else connector
    found = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob(f"{prefix}_*.json"))]
    assert found, f"no documented {connector} payloads in {FIXTURES}"
    return found


class RecordingProducer(Producer):
    """The runtime's producer, remembering each record sent as (topic, value)."""

    def __init__(self, inner: Producer) -> None:
        self.inner = inner
        self.sent: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        delivery = self.inner.send(topic, value, key=key, headers=headers)
        with self._lock:
            self.sent.append((topic, value))
        return delivery

    def flush(self, timeout_s: float = 30.0) -> None:
        self.inner.flush(timeout_s)

    def close(self) -> None:
        self.inner.close()


@dataclass
class World:
    runtime: Runtime
    producer: RecordingProducer
    client: TestClient


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    saved = {name: os.environ.get(name) for name in SECRETS}
    os.environ.update(SECRETS)
    settings_ = PlatformSettings(
        data_dir=tmp_path_factory.mktemp("fuzz-channels"),
        ingest_grpc_port=0,
        embedded_sync="normal",
    )
    runtime = Runtime(settings_)
    producer = RecordingProducer(runtime.producer)
    brand = Brand(
        name="energieloket",
        meta=MetaAccounts(
            app_secret_env="FUZZ_META_APP_SECRET", verify_token_env="FUZZ_META_VERIFY_TOKEN"
        ),
        x=XAccounts(consumer_secret_env="FUZZ_X_CONSUMER_SECRET"),
        linkedin=LinkedInAccounts(client_secret_env="FUZZ_LINKEDIN_CLIENT_SECRET"),
        generic=[
            GenericSource(
                source="forum",
                secret_env="FUZZ_FORUM_SECRET",
                channel="forum",
                rate_per_s=1e6,
                burst=1_000_000,
            )
        ],
    )
    base = load_care_config()
    care = CareConfig(
        sla_policies=base.sla_policies,
        queues=base.queues,
        agents=base.agents,
        intents=base.intents,  # the queues name them (the sales queue) and its team
        teams=base.teams,
        calendars=base.calendars,
        brands=[brand],
    )
    router = channels_router(
        Ingestor(producer, SeenMessageIds(100_000)),
        care,
        max_body_bytes=256 * 1024,
        clock=lambda: NOW,
        platform_rate_per_s=1e6,
        platform_burst=1_000_000,
    )
    with TestClient(build_app("fuzz-channels", [router], [])) as client:
        yield World(runtime, producer, client)
    runtime.close()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def post_and_check(world: World, connector: str, body: bytes, headers: dict[str, str]) -> int:
    """POST, then check the answer and what it published (see the module docstring)."""
    before = len(world.producer.sent)
    answer = world.client.post(PATHS[connector], content=body, headers=headers)
    published = world.producer.sent[before:]
    status: int = answer.status_code
    assert status < 500, f"{status}: {answer.text}"
    if status >= 400:
        error = answer.json()["error"]
        assert _CODE.match(error["code"]) and error["message"], error
        assert published == [], f"a refused request ({status}) published {len(published)}"
        return status
    assert status == 200, answer.text
    receipt = answer.json()
    by_topic: dict[str, list[bytes]] = {}
    for topic, value in published:
        by_topic.setdefault(topic, []).append(value)
    new_messages = by_topic.get(Topic.MESSAGES_RAW.value, [])
    assert receipt["accepted"] == len(new_messages)
    assert receipt["deliveries"] == len(by_topic.get(Topic.DELIVERIES.value, []))
    raws = by_topic.get(Topic.PAYLOADS_RAW.value, [])
    if not raws:
        # A re-delivery bringing nothing new: its body was kept the first time.
        assert receipt["accepted"] == receipt["deliveries"] == 0 < receipt["duplicates"]
        return status
    [raw_value] = raws
    raw = delivery_pb2.RawPayload.FromString(raw_value)
    assert raw.body == body
    assert receipt["accepted"] + receipt["duplicates"] >= len(set(raw.message_ids))
    return status


# Strategies ---------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", " ", "0", "1795000000", "Wed Oct 10 20:19:24 +0000 2018", "\ud800"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths_of(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into `document` (keys and list indexes), the root included."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(paths_of(value, (*prefix, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(paths_of(value, (*prefix, index)))
    return found


@st.composite
def mutated(draw: st.DrawFn, connector: str) -> Any:
    document = copy.deepcopy(draw(st.sampled_from(seeds(connector))))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(paths_of(document)))
        if not path:
            continue
        *parents, last = path
        container = document
        for step in parents:
            container = container[step]
        action = draw(st.sampled_from(["replace", "drop", "empty", "duplicate"]))
        if action == "replace":
            container[last] = draw(json_values)
        elif action == "drop":
            del container[last]
        elif action == "empty":
            value = container[last]
            container[last] = type(value)() if isinstance(value, list | dict | str) else None
        else:
            value = container[last]
            if isinstance(value, list) and value:
                value.append(copy.deepcopy(value[0]))
    return document


def encode(document: Any, ascii_only: bool) -> bytes:
    try:
        return json.dumps(document, ensure_ascii=ascii_only).encode()
    except UnicodeEncodeError:  # a lone surrogate cannot be UTF-8: send it escaped
        return json.dumps(document, ensure_ascii=True).encode()


# Tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("connector", CONNECTORS)
def test_mutated_documented_payloads_correctly_signed(world: World, connector: str) -> None:
    @FUZZ_SETTINGS
    @given(document=mutated(connector), ascii_only=st.booleans())
    def run(document: Any, ascii_only: bool) -> None:
        body = encode(document, ascii_only)
        headers = {"Content-Type": "application/json", **signed_headers(connector, body)}
        post_and_check(world, connector, body, headers)

    run()


@pytest.mark.parametrize("connector", CONNECTORS)
def test_the_documented_payloads_unchanged_are_accepted(world: World, connector: str) -> None:
    for document in seeds(connector):
        body = encode(document, ascii_only=False)
        headers = {"Content-Type": "application/json", **signed_headers(connector, body)}
        assert post_and_check(world, connector, body, headers) == 200


@pytest.mark.parametrize("connector", CONNECTORS)
def test_arbitrary_json_correctly_signed(world: World, connector: str) -> None:
    @FUZZ_SETTINGS
    @given(document=json_values, ascii_only=st.booleans())
    def run(document: Any, ascii_only: bool) -> None:
        body = encode(document, ascii_only)
        headers = {"Content-Type": "application/json", **signed_headers(connector, body)}
        post_and_check(world, connector, body, headers)

    run()


header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


@pytest.mark.parametrize("connector", CONNECTORS)
def test_arbitrary_bytes_and_headers(world: World, connector: str) -> None:
    @FUZZ_SETTINGS
    @given(
        body=st.binary(max_size=2048),
        content_type=st.sampled_from(
            ["application/json", "application/JSON; charset=utf-8", "text/plain", ""]
        )
        | header_text,
        signature=st.sampled_from(["right", "absent"]) | header_text,
    )
    def run(body: bytes, content_type: str, signature: str) -> None:
        headers = {"Content-Type": content_type}
        if signature == "right":
            headers.update(signed_headers(connector, body))
        elif signature != "absent":
            [name] = signed_headers(connector, b"")
            headers[name] = signature
        status = post_and_check(world, connector, body, headers)
        if signature != "right":
            assert status in (401, 415), status

    run()


@FUZZ_SETTINGS
@given(
    connector=st.sampled_from(["meta", "x", "linkedin"]),
    params=st.dictionaries(
        st.sampled_from(
            [
                "hub.mode",
                "hub.verify_token",
                "hub.challenge",
                "crc_token",
                "challengeCode",
                "applicationId",
                "brand",
            ]
        ),
        st.text(max_size=40) | st.sampled_from(["subscribe", "fuzz-verify", "energieloket"]),
        max_size=5,
    ),
)
def test_handshakes_with_arbitrary_parameters(
    world: World, connector: str, params: dict[str, str]
) -> None:
    answer = world.client.get(PATHS[connector], params=params)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert _CODE.match(answer.json()["error"]["code"])
    elif connector == "meta":
        assert params.get("hub.verify_token") == "fuzz-verify"
        assert answer.text == params["hub.challenge"]


def test_every_record_sent_is_on_the_bus(world: World) -> None:
    """Runs last in the module: what the requests published can be read back."""
    sent: dict[str, list[bytes]] = {}
    for topic, value in world.producer.sent:
        sent.setdefault(topic, []).append(value)
    assert sent, "the fuzz tests above published nothing"
    for topic, values in sent.items():
        consumer = world.runtime.bus.consumer(f"fuzz-{uuid.uuid4().hex[:8]}", [topic])
        try:
            read: list[bytes] = []
            while batch := consumer.poll(1000, timeout_s=0.2):
                read.extend(record.value for record in batch)
        finally:
            consumer.close()
        assert sorted(read) == sorted(values), topic
