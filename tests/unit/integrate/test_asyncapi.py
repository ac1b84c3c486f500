"""The AsyncAPI document (core/asyncapi.py, docs/asyncapi.json): the committed file is what
the code generates (drift fails `make test`), it is a valid AsyncAPI 3.0.0 document (the
official JSON schema from @asyncapi/specs), and what it says is true of the code: channels
are the public topics and their DLQs, keys are what the registry's key functions compute,
the headers are what `events.publish` and the consumer loop's dead-lettering write, every
payload schema accepts real messages in the proto3 JSON mapping (and rejects other shapes),
and every webhook event type's CloudEvent body, as the catalogue builds it, fits its message.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.sdk.trace import TracerProvider

from socialcare.core import asyncapi
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.consumer_loop import ConsumerLoop, TypedProcessor
from socialcare.core.domain import event_types
from socialcare.core.domain.cases import author_key
from socialcare.core.domain.topics import REGISTRY, Topic, dlq_of, topic_layouts
from socialcare.core.effects import Emit, Tombstone, publish_effects
from socialcare.core.events import publish
from socialcare.core.signing import generic_signature
from socialcare.v1 import case_pb2, message_pb2
from tests.unit.integrate.messages import populated, validator_for, variants
from tests.unit.integrate.tools import REPO, asyncapi_json_schema
from tests.unit.memory_log import MemoryLog

COMMITTED = REPO / "docs" / "asyncapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi.build_document()


# --- the file and the generator --------------------------------------------------------


def test_the_committed_document_is_what_the_code_generates() -> None:
    problem = asyncapi.check(COMMITTED)
    assert problem is None, problem


def test_check_fails_on_drift_and_out_regenerates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "asyncapi.json"
    stale.write_text(
        COMMITTED.read_text(encoding="utf-8").replace("care.cases", "care.casez", 1),
        encoding="utf-8",
    )
    assert asyncapi.main(["--check", str(stale)]) == 1
    err = capsys.readouterr().err
    assert "make asyncapi" in err and "care.casez" in err

    assert asyncapi.main(["--check", str(tmp_path / "missing.json")]) == 1
    assert asyncapi.main(["--out", str(stale)]) == 0
    assert asyncapi.main(["--check", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")


def test_the_document_is_deterministic(document: dict[str, Any]) -> None:
    again = asyncapi.render(asyncapi.build_document())
    assert asyncapi.render(document) == again
    assert again == asyncapi.document_json()
    assert json.loads(again) == document


# --- valid AsyncAPI 3.0.0 -------------------------------------------------------------


def test_the_document_is_valid_asyncapi_3(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    validator = jsonschema.Draft7Validator(asyncapi_json_schema("3.0.0"))
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(document)
    ]
    assert not errors, "\n".join(errors[:20])


def test_the_official_schema_rejects_a_broken_document(document: dict[str, Any]) -> None:
    """The validation can fail: an AsyncAPI 2 style operation and a server without a
    protocol are errors."""
    broken = copy.deepcopy(document)
    broken["operations"]["receive.care.cases"]["action"] = "subscribe"
    del broken["servers"]["kafka"]["protocol"]
    validator = jsonschema.Draft7Validator(asyncapi_json_schema("3.0.0"))
    assert not validator.is_valid(broken)


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: Mapping[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references: {ref}"
    node: Any = document
    for token in ref[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    found = sorted(set(refs(document)))
    assert len(found) > 50
    for ref in found:
        resolve(document, ref)


def test_operations_receive_their_own_channels_messages(document: dict[str, Any]) -> None:
    for name, operation in document["operations"].items():
        assert operation["action"] == "receive", name
        channel_ref = operation["channel"]["$ref"]
        channel = resolve(document, channel_ref)
        assert operation["messages"], name
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), (name, message)
            assert resolve(document, message["$ref"]) in channel["messages"].values()


# --- channels, keys, layout -----------------------------------------------------------


def test_channels_are_the_public_topics_their_dlqs_and_the_webhooks(
    document: dict[str, Any],
) -> None:
    public = [spec.topic for spec in REGISTRY.values() if spec.public]
    expected = {t.value for t in public} | {t.dlq for t in public} | {"webhooks"}
    assert set(document["channels"]) == expected
    assert len(public) >= 10
    for topic in public:
        assert document["channels"][topic.value]["address"] == topic.value
        assert document["channels"][topic.dlq]["address"] == topic.dlq


def test_internal_topics_and_secrets_are_not_in_the_document(document: dict[str, Any]) -> None:
    text = asyncapi.render(document)
    for spec in REGISTRY.values():
        if not spec.public:
            assert f'"{spec.topic.value}"' not in text, spec.topic.value
    schemas = document["components"]["schemas"]
    for internal in ("socialcare.v1.AccountRecord", "socialcare.v1.WebhookSubscription"):
        assert internal not in schemas


def test_kafka_bindings_follow_the_registry(document: dict[str, Any]) -> None:
    for spec in REGISTRY.values():
        if not spec.public:
            continue
        main = document["channels"][spec.topic.value]["bindings"]["kafka"]
        dlq = document["channels"][spec.topic.dlq]["bindings"]["kafka"]
        assert main["partitions"] == (spec.partitions or 4) == dlq["partitions"]
        policy = ["compact"] if spec.compacted else ["delete"]
        assert main["topicConfiguration"]["cleanup.policy"] == policy
        assert dlq["topicConfiguration"]["cleanup.policy"] == ["delete"]
        assert main["topic"] == spec.topic.value and dlq["topic"] == spec.topic.dlq
    cases = document["channels"]["care.cases"]
    assert cases["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"] == ["compact"]
    assert "tombstone" in cases["description"]


def test_every_public_topic_documents_its_key() -> None:
    public = {spec.topic for spec in REGISTRY.values() if spec.public}
    assert set(asyncapi.TOPIC_KEYS) == public


def set_path(message: Message, path: str, value: str) -> None:
    *parents, leaf = path.split(".")
    for name in parents:
        message = getattr(message, name)
    setattr(message, leaf, value)


@pytest.mark.parametrize(
    "topic", [t for t, key in asyncapi.TOPIC_KEYS.items() if key.field is not None]
)
def test_a_documented_key_field_is_what_the_registry_keys_on(topic: Topic) -> None:
    spec = REGISTRY[topic]
    field = asyncapi.TOPIC_KEYS[topic].field
    assert field is not None
    message = spec.message_type()
    set_path(message, field, "key-under-test")
    assert spec.key(message) == "key-under-test"
    assert f"`{field}`" in asyncapi.TOPIC_KEYS[topic].description


def test_the_author_key_is_described_as_the_registry_computes_it() -> None:
    message = message_pb2.SocialMessage(channel=message_pb2.CHANNEL_EMAIL)
    message.author.id = "customer-7"
    assert author_key(message) == "email:author:customer-7"
    assert REGISTRY[Topic.MESSAGES_RAW].key(message) == "email:author:customer-7"
    enriched = message_pb2.EnrichedMessage(message=message)
    assert REGISTRY[Topic.MESSAGES_ENRICHED].key(enriched) == "email:author:customer-7"
    for topic in (Topic.MESSAGES_RAW, Topic.MESSAGES_ENRICHED):
        described = asyncapi.TOPIC_KEYS[topic].description
        assert described.startswith("`<channel>:author:<author id>`")
        assert asyncapi.TOPIC_KEYS[topic].field is None


def test_a_public_topic_without_a_key_description_fails_the_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = dict(asyncapi.TOPIC_KEYS)
    del keys[Topic.SLA]
    monkeypatch.setattr(asyncapi, "TOPIC_KEYS", keys)
    with pytest.raises(KeyError, match=r"care\.sla"):
        asyncapi.build_document()


# --- headers --------------------------------------------------------------------------


def test_the_documented_headers_are_what_publish_writes(document: dict[str, Any]) -> None:
    log = MemoryLog(partitions=2)
    event = case_pb2.CaseEvent(event_id="e-1")
    event.case.id = "case-1"
    spec = REGISTRY[Topic.CASES]
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("parent"):
        publish(
            log,
            Topic.CASES,
            event,
            key=spec.key(event),
            event_id=spec.event_id(event),
            source="routing",
        )
    [record] = log.sent
    headers = dict(record.headers)
    documented = document["components"]["messages"]["kafka.care.cases"]["headers"]
    assert set(headers) <= set(documented["properties"])
    assert set(documented["required"]) <= set(headers)
    jsonschema.validate({k: v.decode() for k, v in headers.items()}, documented)
    assert headers["traceparent"] and headers["event-id"] == b"e-1"
    assert record.key == b"case-1"


def test_the_documented_tombstone_headers_are_what_an_erasure_writes(
    document: dict[str, Any],
) -> None:
    log = MemoryLog(partitions=2)
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("erasure"):
        publish_effects(
            log, [Tombstone.of(Topic.CASES, "case-1", erasure_id="er-1")], source="routing"
        )
    [record] = log.sent
    assert record.tombstone and record.key == b"case-1"
    headers = {k: v.decode() for k, v in record.headers}
    channel = document["channels"]["care.cases"]
    assert set(channel["messages"]) == {"kafka.care.cases", "kafka.care.cases.tombstone"}
    tombstone = document["components"]["messages"]["kafka.care.cases.tombstone"]
    assert tombstone["payload"]["type"] == "null"
    documented = tombstone["headers"]
    assert set(headers) <= set(documented["properties"])
    jsonschema.validate(headers, documented)
    assert headers["erasure-id"] == "er-1"
    # ... and an event's headers are not a tombstone's: the two messages do not overlap.
    event_headers = document["components"]["messages"]["kafka.care.cases"]["headers"]
    assert not jsonschema.Draft7Validator(event_headers).is_valid(headers)
    for spec in REGISTRY.values():
        if spec.public:
            has = f"kafka.{spec.topic.value}.tombstone" in document["components"]["messages"]
            assert has == spec.compacted, spec.topic.value


class Rejecting(TypedProcessor):
    """Handles care.cases; every record it is given is poison (it never decodes)."""

    def __init__(self) -> None:
        super().__init__()
        self.on(Topic.CASES, case_pb2.CaseEvent, self._never)

    def _never(self, event: case_pb2.CaseEvent, record: Any) -> list[Emit]:
        raise AssertionError("a record that does not decode never reaches the handler")


def test_the_documented_dlq_headers_are_what_the_consumer_loop_writes(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    bus = EmbeddedBus(tmp_path / "bus", default_partitions=1, sync="normal")
    try:
        for (partitions, compacted), topics in topic_layouts(1).items():
            bus.create_topics(topics, partitions, compacted=compacted)
        producer = bus.producer("test")
        producer.send(Topic.CASES, b"\xff not a protobuf", key=b"case-9", headers=())
        producer.flush()
        loop_producer = bus.producer("asyncapi-test")
        loop = ConsumerLoop(
            bus,
            group="asyncapi-test",
            topics=[Topic.CASES.value],
            processor=Rejecting(),
            producer=loop_producer,
            poll_timeout_s=0.05,
            commit_interval_s=0.1,
        )
        thread = threading.Thread(target=loop.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        dead: list[Any] = []
        while time.monotonic() < deadline and not dead:
            dead = list(bus.replay(dlq_of(Topic.CASES)))
            time.sleep(0.05)
        loop.stop()
        thread.join(10)
        loop_producer.close()
        producer.close()
    finally:
        bus.close()
    assert dead, "the poison record never reached care.cases.dlq"
    headers = {k: v.decode() for k, v in dead[0].headers}
    documented = document["components"]["messages"]["kafka.care.cases.dlq"]["headers"]
    assert set(headers) <= set(documented["properties"])
    assert set(asyncapi.DLQ_HEADERS) <= set(headers)
    jsonschema.validate(headers, documented)
    assert dead[0].key == b"case-9"


# --- payload schemas against real messages --------------------------------------------


PUBLIC = [spec for spec in REGISTRY.values() if spec.public]


@pytest.mark.parametrize("spec", PUBLIC, ids=[spec.topic.value for spec in PUBLIC])
def test_payload_schema_accepts_real_messages_in_the_proto3_json_mapping(
    document: dict[str, Any], spec: Any
) -> None:
    message_doc = document["components"]["messages"][f"kafka.{spec.topic.value}"]
    assert message_doc["x-protobuf-message"] == spec.message_type.DESCRIPTOR.full_name
    assert message_doc["contentType"] == "application/x-protobuf"
    validator = validator_for(document, message_doc["payload"])
    for variant in variants(spec.message_type):
        message = populated(spec.message_type, variant)
        as_json = json_format.MessageToDict(message, preserving_proto_field_name=True)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(as_json)]
        assert not errors, "\n".join(errors[:10])
        # The bytes on the topic round-trip through that JSON.
        back = json_format.ParseDict(as_json, spec.message_type())
        assert back == message


def test_payload_schemas_reject_other_shapes(document: dict[str, Any]) -> None:
    """The check above can fail: lowerCamelCase names, an int64 as a JSON number, an enum
    as its number and a timestamp as an object are all refused."""
    payload = document["components"]["messages"]["kafka.care.cases"]["payload"]
    validator = validator_for(document, payload)
    message = populated(case_pb2.CaseEvent, 0)
    good = json_format.MessageToDict(message, preserving_proto_field_name=True)
    assert validator.is_valid(good)
    camel = json_format.MessageToDict(message)
    assert not validator.is_valid(camel)
    schemas = document["components"]["schemas"]
    int64_fields = [
        (name, prop)
        for name, prop in schemas["socialcare.v1.Case"]["properties"].items()
        if prop.get("pattern") == "^-?[0-9]+$"
    ]
    assert int64_fields, "Case has int64 fields (its version)"
    for name, _ in int64_fields:
        bad = copy.deepcopy(good)
        bad["case"][name] = 12
        assert not validator.is_valid(bad), name
    bad_enum = copy.deepcopy(good)
    bad_enum["type"] = 3
    assert not validator.is_valid(bad_enum)
    bad_time = copy.deepcopy(good)
    bad_time["occurred_at"] = {"seconds": 1}
    assert not validator.is_valid(bad_time)


def test_schemas_map_proto_types_as_the_json_mapping_does(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    case = schemas["socialcare.v1.Case"]["properties"]
    assert case["messages"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/socialcare.v1.CaseMessage"},
    }
    assert case["status"] == {"$ref": "#/components/schemas/socialcare.v1.CaseStatus"}
    status = schemas["socialcare.v1.CaseStatus"]
    assert status["type"] == "string" and "CASE_STATUS_OPEN" in status["enum"]
    event = schemas["socialcare.v1.CaseEvent"]["properties"]
    assert event["occurred_at"]["format"] == "date-time"
    payload = schemas["socialcare.v1.RawPayload"]["properties"]
    assert any(p.get("contentEncoding") == "base64" for p in payload.values())
    oneofs = schemas["socialcare.v1.AgentCommand"]["x-protobuf-oneofs"]
    assert len(next(iter(oneofs.values()))) > 5


# --- the webhook side -----------------------------------------------------------------


def test_every_catalogue_event_type_is_a_webhook_message(document: dict[str, Any]) -> None:
    channel = document["channels"]["webhooks"]
    expected = {f"webhook.{name}" for name in event_types.EVENT_TYPES} | {"webhook.webhook.ping"}
    assert set(channel["messages"]) == expected
    operation = document["operations"]["receive.webhooks"]
    assert operation["bindings"]["http"]["method"] == "POST"
    assert len(operation["messages"]) == len(expected)


@pytest.mark.parametrize("name", list(event_types.EVENT_TYPES))
def test_a_webhook_body_fits_its_message(document: dict[str, Any], name: str) -> None:
    event_type = event_types.EVENT_TYPES[name]
    message_doc = document["components"]["messages"][f"webhook.{name}"]
    assert message_doc["contentType"] == event_types.CONTENT_TYPE
    validator = validator_for(document, message_doc["payload"])
    source = event_types.SOURCES[event_type.topic]
    record = populated(event_type.message_type, 0)
    type_number = {v: k for k, v in source_types(event_type.topic).items()}[name]
    set_type(record, event_type.topic, type_number)
    event = event_types.describe(event_type.topic, record)
    assert event is not None and event.type == name
    assert source.topic == event_type.topic
    body = json.loads(event_types.event_body(event, brand="acme"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, "\n".join(errors[:10])
    # ... and not the body of another type.
    other = dict(body, type="case.not_a_type")
    assert not validator.is_valid(other)
    headers = {
        "Content-Type": event_types.CONTENT_TYPE,
        event_types.SIGNATURE_HEADER: generic_signature("s3cret", b"{}", timestamp=1_700_000_000),
        event_types.DELIVERY_HEADER: "d-1",
        event_types.EVENT_TYPE_HEADER: name,
        event_types.ATTEMPT_HEADER: "1",
    }
    jsonschema.validate(headers, message_doc["headers"])


def source_types(topic: Topic) -> Mapping[int, str]:
    return {
        Topic.CASES: event_types.CASE_TYPES,
        Topic.SLA: event_types.SLA_TYPES,
        Topic.ESCALATIONS: event_types.ESCALATION_TYPES,
        Topic.INCIDENTS: event_types.INCIDENT_TYPES,
        Topic.DELIVERIES: event_types.REPLY_TYPES,
    }[topic]


def set_type(record: Message, topic: Topic, number: int) -> None:
    setattr(record, "status" if topic == Topic.DELIVERIES else "type", number)


def test_the_ping_body_fits_its_message(document: dict[str, Any]) -> None:
    message_doc = document["components"]["messages"]["webhook.webhook.ping"]
    validator = validator_for(document, message_doc["payload"])
    body = json.loads(
        event_types.ping_body(
            subscription_id="sub-1", brand="acme", event_id="ping-1", now=datetime.now(UTC)
        )
    )
    assert validator.is_valid(body), list(validator.iter_errors(body))


def test_the_signature_header_pattern_matches_our_signatures() -> None:
    pattern = re.compile(asyncapi.SIGNATURE_PATTERN)
    one = generic_signature("new-secret", b'{"a":1}', timestamp=1_700_000_000)
    old = generic_signature("old-secret", b'{"a":1}', timestamp=1_700_000_000)
    assert pattern.match(one)
    assert pattern.match(one + "," + old.split(",")[1])
    assert not pattern.match("v1=" + one)


# --- the README's catalogue -----------------------------------------------------------


def test_the_catalogue_tables_list_every_public_topic_and_event_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert asyncapi.main(["--catalogue"]) == 0
    printed = capsys.readouterr().out
    assert printed == asyncapi.catalogue_markdown()
    rows = [line for line in printed.splitlines() if line.startswith("| `")]
    first_cells = [row.split("|")[1].strip().strip("`") for row in rows]
    public = [spec.topic.value for spec in REGISTRY.values() if spec.public]
    assert first_cells == [*public, *event_types.EVENT_TYPES, event_types.PING_TYPE]
    # No cell breaks its table: 6 columns of topics, 4 of event types.
    for row in rows[: len(public)]:
        assert row.replace("\\|", "").count("|") == 7, row
    for row in rows[len(public) :]:
        assert row.replace("\\|", "").count("|") == 5, row


def test_readme_writes_the_catalogue_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\n\n<!-- event-catalogue:start -->\nold table\n<!-- event-catalogue:end -->\n"
        "\nAfter.\n",
        encoding="utf-8",
    )
    assert asyncapi.main(["--readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\n") and text.endswith("\nAfter.\n")
    assert "old table" not in text
    assert asyncapi.catalogue_section(text) == "\n" + asyncapi.catalogue_markdown()
    assert asyncapi.main(["--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == text  # idempotent
    readme.write_text("# No markers\n", encoding="utf-8")
    assert asyncapi.main(["--readme", str(readme)]) == 1


def test_the_readme_event_catalogue_is_what_the_code_generates() -> None:
    """README.md's "Event catalogue" tables are generated (`--readme README.md`); a new
    topic, event type or description changes them."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = asyncapi.catalogue_section(readme)
    assert section is not None, (
        f"README.md lost the {asyncapi.CATALOGUE_START} ... {asyncapi.CATALOGUE_END} markers"
    )
    assert section == "\n" + asyncapi.catalogue_markdown(), (
        "README.md's event catalogue is out of date: run "
        "`.venv/bin/python -m socialcare.core.asyncapi --readme README.md`"
    )
