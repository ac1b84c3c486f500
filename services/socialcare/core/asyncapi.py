"""The platform's event stream as an AsyncAPI 3.0.0 document, for integrators.

Built from the code, never by hand: the topic registry (`core.domain.topics.REGISTRY`:
names, descriptions, layout, which topics are public), the protobuf descriptors of each
topic's message type (a JSON Schema per message, as the proto3 JSON mapping writes it), the
headers `core.events.publish` and the consumer loop's dead-lettering put on every record,
and the webhook event catalogue (`core.domain.event_types`). The result is deterministic
(sorted keys, no timestamps), so the committed `docs/asyncapi.json` can be checked for drift
like the generated protobuf code:

    python -m socialcare.core.asyncapi --out docs/asyncapi.json     # regenerate
    python -m socialcare.core.asyncapi --check docs/asyncapi.json   # exit 1 on drift
    python -m socialcare.core.asyncapi --catalogue                  # README's tables
    python -m socialcare.core.asyncapi --readme README.md           # ... put in place

The gateway serves the same document at `GET /asyncapi.json` (`gateway/asyncapi_api.py`).

The document is written from the integrator's side: every operation is `receive` (records
read from the public Kafka topics and their dead-letter topics, or webhook POSTs received
on the integrator's own URL).

JSON Schemas follow the proto3 JSON mapping with the proto field names (snake_case), which
is what webhook bodies carry (`json_format.MessageToDict(preserving_proto_field_name=True)`)
and what every proto3 JSON parser accepts: 64-bit integers are strings, bytes are base64,
enums are their value names, `google.protobuf.Timestamp` is an RFC 3339 string, fields at
their default value are left out (so no field is `required`). Schemas do not forbid unknown
properties: fields are only ever added (buf breaking, `buf.yaml`), and a reader should
ignore what it does not know.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from socialcare import __version__
from socialcare.core.config import PlatformSettings
from socialcare.core.domain import event_types
from socialcare.core.domain.topics import REGISTRY, Topic, TopicSpec
from socialcare.core.effects import ERASURE_ID_HEADER
from socialcare.core.events import SCHEMA_VERSION

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
HTTP_BINDING_VERSION = "0.3.0"
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"
SCHEMA_REF = "#/components/schemas/"

# The headers `core.events.publish` writes on every record (tests/unit/integrate checks
# the list against a real publish).
EVENT_HEADERS: Mapping[str, str] = {
    "event-type": "The protobuf full name of the value's message type.",
    "schema-version": "The schema generation of the value (`{version}`); a new generation "
    "would come with new topics, never on these.",
    "event-id": "The producer-assigned id of this event. Delivery is at least once: the same "
    "event can arrive more than once (a producer retry, a consumer restarted before it "
    "committed), always with the same event id. Deduplicate on it.",
    "producer": "The platform service that wrote the record (ingestion, enrichment, routing, "
    "sla, escalation, gateway, channels, ...).",
    "traceparent": "W3C trace context of the producer span: continue the trace from it.",
    "tracestate": "W3C trace state, when the producer's trace has any.",
}
REQUIRED_EVENT_HEADERS = ("event-type", "schema-version", "event-id", "producer")
TRACEPARENT_PATTERN = "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"

# The headers the consumer loop adds when it moves a record it cannot process to
# `<topic>.dlq` (the original record's headers stay on it).
DLQ_HEADERS: Mapping[str, str] = {
    "dlq-reason": "Why the record could not be processed.",
    "dlq-original-topic": "The topic the record was read from.",
    "dlq-original-partition": "Its partition there (decimal).",
    "dlq-original-offset": "Its offset there (decimal).",
    "dlq-consumer-group": "The consumer group that gave up on it.",
    "dlq-failed-at": "When (ISO 8601, UTC).",
}


# The headers of a tombstone (a record with a null value on a compacted topic): no event
# headers, since there is no event, only who wrote it, why, and the trace.
TOMBSTONE_HEADERS: Mapping[str, str] = {
    "producer": EVENT_HEADERS["producer"],
    ERASURE_ID_HEADER: "The id of the erasure (GDPR) that deleted the key; absent when "
    "retention deleted it.",
    "traceparent": EVENT_HEADERS["traceparent"],
    "tracestate": EVENT_HEADERS["tracestate"],
}


@dataclass(frozen=True, slots=True)
class TopicKey:
    """How one public topic's record key is derived from its message, in words, and (for
    the tests that check the words against the registry's key function) the payload field
    that holds it, or None when the key is composed."""

    description: str
    field: str | None


AUTHOR_KEY = TopicKey(
    "`<channel>:author:<author id>`: the customer on one channel (channel as the lower-case "
    "name of its `Channel` value without the prefix, e.g. `x`, `email`).",
    None,
)

# The key of every public topic. A public topic missing here fails the build of the document.
TOPIC_KEYS: Mapping[Topic, TopicKey] = {
    Topic.MESSAGES_RAW: AUTHOR_KEY,
    Topic.MESSAGES_ENRICHED: TopicKey(
        "`<channel>:author:<author id>` of `message`: the key it had on social.messages.raw.",
        None,
    ),
    Topic.COMMANDS: TopicKey("The case id (`case_id`).", "case_id"),
    Topic.CASES: TopicKey("The case id (`case.id`).", "case.id"),
    Topic.SLA: TopicKey("The case id (`case_id`).", "case_id"),
    Topic.ESCALATIONS: TopicKey("The case id (`escalation.case_id`).", "escalation.case_id"),
    Topic.INCIDENTS: TopicKey("The incident id (`incident.id`).", "incident.id"),
    Topic.OUTBOUND: TopicKey("The case id (`case_id`).", "case_id"),
    Topic.DELIVERIES: TopicKey("The case id (`case_id`).", "case_id"),
    Topic.PAYLOADS_RAW: TopicKey("The payload id (`payload_id`).", "payload_id"),
}

ORDERING = (
    "Ordering: records with the same key go to the same partition and are read in the "
    "order they were written; there is no order across keys or partitions. Topics keyed "
    "by case id share one partition count, so a case's records sit in the same partition "
    "number on each of them."
)
DELIVERY = (
    "Delivery: at least once. A record can be read again (a producer retry, a consumer "
    "that restarted before committing its offset): deduplicate on the `event-id` header."
)
TOMBSTONES = (
    "Compacted: Kafka keeps at least the latest record of each key. A record with a null "
    "value is a tombstone (the Tombstone message): the key's data was erased (GDPR erasure, "
    "retention); drop what you hold for that key. Tombstones carry no event headers."
)


# ---------------------------------------------------------------------------------------
# Protobuf descriptors -> JSON Schema (proto3 JSON mapping, proto field names)

_WELL_KNOWN: Mapping[str, Mapping[str, Any]] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339 time in UTC (`google.protobuf.Timestamp`).",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
        "description": "Seconds with an `s` suffix (`google.protobuf.Duration`).",
    },
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Any": {"type": "object", "required": ["@type"]},
}
_WRAPPERS = {
    f"google.protobuf.{name}Value": kind
    for name, kind in (
        ("Double", FieldDescriptor.TYPE_DOUBLE),
        ("Float", FieldDescriptor.TYPE_FLOAT),
        ("Int64", FieldDescriptor.TYPE_INT64),
        ("UInt64", FieldDescriptor.TYPE_UINT64),
        ("Int32", FieldDescriptor.TYPE_INT32),
        ("UInt32", FieldDescriptor.TYPE_UINT32),
        ("Bool", FieldDescriptor.TYPE_BOOL),
        ("String", FieldDescriptor.TYPE_STRING),
        ("Bytes", FieldDescriptor.TYPE_BYTES),
    )
}

_INT64 = {"type": "string", "pattern": "^-?[0-9]+$", "description": "64-bit integer (a string)."}
_UINT64 = {"type": "string", "pattern": "^[0-9]+$", "description": "64-bit integer (a string)."}
_SCALARS: Mapping[int, Mapping[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int32", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "int32", "minimum": 0},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {
        "type": "string",
        "contentEncoding": "base64",
        "description": "Bytes, base64-encoded.",
    },
}


class SchemaCollector:
    """JSON Schemas of protobuf messages and enums, keyed by their full names, each message
    and enum once (`components.schemas`); fields point at them with `$ref`, so recursive
    messages are fine."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}

    def ref(self, descriptor: Descriptor) -> dict[str, Any]:
        """A schema for `descriptor`: inline for well-known types, else a `$ref` to the
        component, which is built the first time."""
        name = descriptor.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name in _WRAPPERS:
            return {**_SCALARS[_WRAPPERS[name]], "description": f"`{name}` (nullable)."}
        if name not in self.schemas:
            self.schemas[name] = {}  # reserve first: a message may contain itself
            self.schemas[name] = self._message(descriptor)
        return {"$ref": SCHEMA_REF + name}

    def _enum_ref(self, descriptor: EnumDescriptor) -> dict[str, Any]:
        name = descriptor.full_name
        if name not in self.schemas:
            self.schemas[name] = {
                "title": descriptor.name,
                "type": "string",
                "enum": [value.name for value in descriptor.values],
                "description": f"Protobuf enum `{name}`, as its value names. A value added "
                "after your copy of the schema arrives as its number where your reader "
                "does not know the name yet.",
            }
        return {"$ref": SCHEMA_REF + name}

    def _message(self, descriptor: Descriptor) -> dict[str, Any]:
        properties = {field.name: self._field(field) for field in descriptor.fields}
        schema: dict[str, Any] = {
            "title": descriptor.name,
            "type": "object",
            "description": f"Protobuf message `{descriptor.full_name}`.",
            "properties": dict(sorted(properties.items())),
        }
        # A proto3 `optional` field sits in a oneof of its own (a "synthetic" one): that is
        # presence, not a choice, so it is not listed.
        proto = descriptor_pb2.DescriptorProto()
        descriptor.CopyToProto(proto)
        optional = {field.name for field in proto.field if field.proto3_optional}
        oneofs = {
            oneof.name: [field.name for field in oneof.fields]
            for oneof in descriptor.oneofs
            if not (len(oneof.fields) == 1 and oneof.fields[0].name in optional)
        }
        if oneofs:
            schema["x-protobuf-oneofs"] = oneofs
            schema["description"] += " " + " ".join(
                f"At most one of {', '.join(f'`{f}`' for f in fields)} (oneof `{name}`)."
                for name, fields in oneofs.items()
            )
        return schema

    def _field(self, field: FieldDescriptor) -> dict[str, Any]:
        message = field.message_type
        if message is not None and message.GetOptions().map_entry:
            value = message.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self._single(value)}
        if field.is_repeated:
            return {"type": "array", "items": self._single(field)}
        return self._single(field)

    def _single(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None:
            return self.ref(field.message_type)
        if field.enum_type is not None:
            return self._enum_ref(field.enum_type)
        return dict(_SCALARS[field.type])


def descriptor_of(message_type: type[Message]) -> Descriptor:
    """The descriptor of a generated message class (typed for mypy: the stubs name two
    descriptor classes, the upb one and the Python one, and both pass this check)."""
    descriptor = message_type.DESCRIPTOR
    if not isinstance(descriptor, Descriptor):
        raise TypeError(f"{message_type!r} has no message descriptor")
    return descriptor


# ---------------------------------------------------------------------------------------
# The document


def public_topics() -> list[TopicSpec]:
    """The public topics in registry order (the contract's channels)."""
    return [spec for spec in REGISTRY.values() if spec.public]


def _kafka_headers(spec: TopicSpec, *, dead_letter: bool) -> dict[str, Any]:
    full_name = spec.message_type.DESCRIPTOR.full_name
    version = SCHEMA_VERSION.decode()
    properties: dict[str, Any] = {
        name: {"type": "string", "description": text.format(version=version)}
        for name, text in EVENT_HEADERS.items()
    }
    properties["event-type"]["const"] = full_name
    properties["schema-version"]["const"] = version
    properties["traceparent"]["pattern"] = TRACEPARENT_PATTERN
    required = list(REQUIRED_EVENT_HEADERS)
    if dead_letter:
        # A dead letter keeps whatever headers the failed record had, which may be none.
        required = list(DLQ_HEADERS)
        for name, text in DLQ_HEADERS.items():
            properties[name] = {"type": "string", "description": text}
        properties["dlq-original-topic"]["const"] = spec.topic.value
    return {
        "type": "object",
        "description": "Kafka record headers (UTF-8 values).",
        "required": sorted(required),
        "properties": dict(sorted(properties.items())),
    }


def _kafka_message(spec: TopicSpec, key: TopicKey, *, dead_letter: bool) -> dict[str, Any]:
    descriptor = spec.message_type.DESCRIPTOR
    topic = spec.topic.value
    if dead_letter:
        summary = f"A record of {topic} that a consumer could not process."
        description = (
            f"The record's original key, value and headers, plus the `dlq-*` headers. The "
            f"value is the bytes as read from {topic}: usually a `{descriptor.full_name}`, "
            "but possibly not one at all (that can be why it is here)."
        )
    else:
        summary = spec.description
        description = f"The value is a binary protobuf `{descriptor.full_name}`."
    return {
        "name": descriptor.name,
        "title": f"{descriptor.name} on {topic.removesuffix('.dlq')}"
        + (" (dead letter)" if dead_letter else ""),
        "summary": summary,
        "description": description,
        "contentType": PROTOBUF_CONTENT_TYPE,
        "x-protobuf-message": descriptor.full_name,
        "headers": _kafka_headers(spec, dead_letter=dead_letter),
        "payload": {"$ref": SCHEMA_REF + descriptor.full_name},
        "correlationId": {
            "description": "The event id: the same event read twice has the same one.",
            "location": "$message.header#/event-id",
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": key.description},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _tombstone_message(spec: TopicSpec, key: TopicKey) -> dict[str, Any]:
    topic = spec.topic.value
    properties: dict[str, Any] = {
        name: {"type": "string", "description": text} for name, text in TOMBSTONE_HEADERS.items()
    }
    properties["traceparent"]["pattern"] = TRACEPARENT_PATTERN
    return {
        "name": "Tombstone",
        "title": f"Tombstone on {topic}",
        "summary": "The key was deleted: drop what you hold for it.",
        "description": f"A record with a null value on the compacted {topic}: the key's data "
        "was erased (a GDPR erasure, or retention). Compaction then removes the key's earlier "
        "records, and later the tombstone itself.",
        "headers": {
            "type": "object",
            "description": "Kafka record headers (UTF-8 values).",
            "required": ["producer"],
            "properties": dict(sorted(properties.items())),
        },
        "payload": {"type": "null", "description": "No value (a Kafka null)."},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": key.description},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _kafka_channel(
    spec: TopicSpec, message_ids: list[str], *, dead_letter: bool, default_partitions: int
) -> dict[str, Any]:
    topic = spec.topic.dlq if dead_letter else spec.topic.value
    partitions = spec.partitions or default_partitions
    compacted = spec.compacted and not dead_letter
    if dead_letter:
        text = (
            f"Records of {spec.topic.value} that a consumer group could not process "
            "(undecodable, invalid, or failing again and again), with the reason and their "
            "origin in headers. Watch it: a record here was skipped by the platform."
        )
    else:
        text = spec.description
    parts = [text, f"Key: {TOPIC_KEYS[spec.topic].description}", ORDERING, DELIVERY]
    if compacted:
        parts.append(TOMBSTONES)
    if spec.partitions is None:
        parts.append(
            f"Partitions: the platform's partition count (SOCIALCARE_TOPIC_PARTITIONS, "
            f"{default_partitions} unless the deployment sets another)."
        )
    return {
        "address": topic,
        "title": topic,
        "description": "\n\n".join(parts),
        "servers": [{"$ref": "#/servers/kafka"}],
        "messages": {
            message_id: {"$ref": f"#/components/messages/{message_id}"}
            for message_id in message_ids
        },
        "bindings": {
            "kafka": {
                "topic": topic,
                "partitions": partitions,
                "topicConfiguration": {"cleanup.policy": ["compact" if compacted else "delete"]},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _receive(channel_id: str, message_ids: list[str], title: str, text: str) -> dict[str, Any]:
    channel = f"#/channels/{_pointer(channel_id)}"
    return {
        "action": "receive",
        "title": title,
        "description": text,
        "channel": {"$ref": channel},
        "messages": [{"$ref": f"{channel}/messages/{message_id}"} for message_id in message_ids],
    }


def _pointer(token: str) -> str:
    """A JSON Pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def _kafka_group_binding() -> dict[str, Any]:
    return {
        "kafka": {
            "groupId": {
                "type": "string",
                "description": "Your own consumer group id, one per consuming application "
                "(never a platform service's group). A new group starts at the earliest "
                "record; commit offsets after your processing succeeded.",
            },
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


INFO_DESCRIPTION = """\
The socialcare platform's event stream: every inbound message, case change, SLA clock
event, escalation, crisis incident, agent command, outbound reply and its delivery, as
binary protobuf records on Kafka (the public topics below; the protobuf schemas are in
`proto/socialcare/v1`), and the same events as signed webhook POSTs for integrators who do
not run a Kafka consumer.

Kafka: read with a consumer group of your own. Every record has a key (per topic, below)
and the headers `event-type`, `schema-version`, `event-id`, `producer` and `traceparent`.
Ordering is per key within a partition. Delivery is at least once: deduplicate on the
`event-id` header. Each topic has a dead-letter topic `<topic>.dlq` beside it.

Payload schemas: the JSON Schemas here describe the proto3 JSON mapping of each message
(proto field names; 64-bit integers as strings; bytes as base64; enums by name;
timestamps as RFC 3339), which is also the `data` of a webhook event. Schema evolution is
checked by `buf breaking` against the last released schema: fields and messages are only
added, never renumbered, retyped or removed, so ignore what you do not know.
"""


def build_document(
    *,
    webhook_events: Callable[[SchemaCollector], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document as a dict (JSON-ready, deterministic).

    `webhook_events` adds the webhook side (channel, operation, messages); by default the
    event catalogue's (`webhook_side`). Raises KeyError naming a public topic that has no
    entry in TOPIC_KEYS."""
    default_partitions = int(PlatformSettings.model_fields["topic_partitions"].default)
    schemas = SchemaCollector()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in public_topics():
        if spec.topic not in TOPIC_KEYS:
            raise KeyError(
                f"public topic {spec.topic.value} has no key description: add it to "
                "TOPIC_KEYS in socialcare/core/asyncapi.py"
            )
        key = TOPIC_KEYS[spec.topic]
        schemas.ref(descriptor_of(spec.message_type))
        for dead_letter in (False, True):
            topic = spec.topic.dlq if dead_letter else spec.topic.value
            message_ids = [f"kafka.{topic}"]
            messages[message_ids[0]] = _kafka_message(spec, key, dead_letter=dead_letter)
            if spec.compacted and not dead_letter:
                message_ids.append(f"kafka.{topic}.tombstone")
                messages[message_ids[1]] = _tombstone_message(spec, key)
            channels[topic] = _kafka_channel(
                spec, message_ids, dead_letter=dead_letter, default_partitions=default_partitions
            )
            operation = _receive(
                topic,
                message_ids,
                f"Consume {topic}",
                "Read the records of this topic with your own consumer group.",
            )
            operation["bindings"] = _kafka_group_binding()
            operations[f"receive.{topic}"] = operation
    side = (webhook_events or webhook_side)(schemas)
    channels.update(side.get("channels", {}))
    operations.update(side.get("operations", {}))
    messages.update(side.get("messages", {}))
    servers: dict[str, Any] = {
        "kafka": {
            "host": "{bootstrap}",
            "protocol": "kafka",
            "title": "The platform's Kafka cluster",
            "description": "The brokers the platform runs on (its SOCIALCARE_BUS setting, "
            "`kafka://host:port[,host:port]`). Security is the deployment's (plaintext, TLS or "
            "SASL as SOCIALCARE_KAFKA_SECURITY_PROTOCOL says): ask the platform team for a "
            "principal with read access to the public topics and to your consumer group.",
            "variables": {
                "bootstrap": {
                    "default": "localhost:9092",
                    "description": "Bootstrap servers, host:port.",
                }
            },
        },
        **side.get("servers", {}),
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:socialcare:events",
        "info": {
            "title": "socialcare events",
            "version": __version__,
            "description": INFO_DESCRIPTION,
            "license": {
                "name": "Apache-2.0",
                "url": "https://www.apache.org/licenses/LICENSE-2.0",
            },
        },
        "defaultContentType": PROTOBUF_CONTENT_TYPE,
        "servers": servers,
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {
            "messages": dict(sorted(messages.items())),
            "schemas": dict(sorted(schemas.schemas.items())),
        },
    }


# ---------------------------------------------------------------------------------------
# Webhooks: the event catalogue as CloudEvents POSTed to the integrator's URL

WEBHOOK_CHANNEL = "webhooks"
CLOUD_EVENT_SCHEMA = "socialcare.CloudEvent"
SIGNATURE_PATTERN = "^t=[0-9]+(,v1=[0-9a-f]{64})+$"

WEBHOOK_DESCRIPTION = """\
Events of the catalogue, POSTed to the URL of each matching subscription (created with an
API key that has the manage_webhooks permission: `POST /v1/webhooks`; per brand, per
event type, `<noun>.*` patterns or every type). The body is a CloudEvents 1.0 event in
structured mode (`Content-Type: application/cloudevents+json`) whose `data` is the
source record's protobuf message in the proto3 JSON mapping (proto field names).

Verify every POST before trusting it: `X-Socialcare-Signature: t=<unix seconds>,v1=<hex>`
where the hex is HMAC-SHA256 with the subscription's secret over `<t>.` followed by the
raw body bytes; compare in constant time, refuse a `t` more than 5 minutes from now, and
accept the request when any `v1` matches (during a secret rotation both secrets sign).

Answer 2xx quickly (within the delivery timeout, 10 s by default) once you have stored the
event. Delivery is at least once: deduplicate on `X-Socialcare-Delivery` (the same delivery
id on every attempt and on a replay of a dead delivery; a replay from a point in time makes
new delivery ids, with the same CloudEvent `id`). Timeouts, connection errors, 408, 429
(Retry-After honoured) and 5xx are retried with exponential backoff and jitter for the
platform's retry horizon (72 hours by default, never less than 24 in production); other
4xx answers, and failures past the horizon, make the delivery dead: it waits in the
subscription's dead-letter list until replayed through the API
(`POST /v1/webhooks/{id}/deliveries/replay`; `POST /v1/webhooks/{id}/replay` sends again
every event since a point in time). 410 Gone also pauses the subscription. Deliveries are
not ordered: order by the event's `time` (and the case's version in `data`)."""


def _cloud_event_schema() -> dict[str, Any]:
    return {
        "title": "CloudEvent",
        "type": "object",
        "description": "A CloudEvents 1.0 event in structured mode (JSON), as webhook "
        "bodies carry them; `brand` is an extension attribute.",
        "required": ["brand", "data", "datacontenttype", "id", "source", "specversion", "type"],
        "properties": {
            "specversion": {"type": "string", "const": event_types.SPEC_VERSION},
            "id": {
                "type": "string",
                "description": "The source record's event id (the Kafka `event-id` header): "
                "the same event always has the same id.",
            },
            "source": {
                "type": "string",
                "description": "`socialcare/<topic>`: the public topic the event comes from.",
            },
            "type": {"type": "string", "description": "The event type, e.g. `case.opened`."},
            "time": {
                "type": "string",
                "format": "date-time",
                "description": "When it happened (RFC 3339, UTC).",
            },
            "subject": {
                "type": "string",
                "description": "The case id (the incident id for `incident.*`, the "
                "subscription id for `webhook.ping`).",
            },
            "datacontenttype": {"type": "string", "const": event_types.DATA_CONTENT_TYPE},
            "brand": {"type": "string", "description": "The brand the event belongs to."},
            "data": {"type": "object", "description": "The event's data (per event type)."},
        },
    }


def _webhook_headers(event_type: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "HTTP request headers of the POST.",
        "required": sorted(
            [
                "Content-Type",
                event_types.SIGNATURE_HEADER,
                event_types.DELIVERY_HEADER,
                event_types.EVENT_TYPE_HEADER,
                event_types.ATTEMPT_HEADER,
            ]
        ),
        "properties": {
            "Content-Type": {"type": "string", "const": event_types.CONTENT_TYPE},
            event_types.SIGNATURE_HEADER: {
                "type": "string",
                "pattern": SIGNATURE_PATTERN,
                "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + '.' + "
                "body)>`; a second `v1` during a secret rotation.",
            },
            event_types.DELIVERY_HEADER: {
                "type": "string",
                "description": "The delivery id, the same on every attempt: deduplicate on it.",
            },
            event_types.EVENT_TYPE_HEADER: {"type": "string", "const": event_type},
            event_types.ATTEMPT_HEADER: {
                "type": "string",
                "pattern": "^[1-9][0-9]*$",
                "description": "1 on the first attempt, then 2, 3, ...",
            },
            "User-Agent": {
                "type": "string",
                "pattern": "^socialcare-webhooks/",
                "description": "`socialcare-webhooks/<platform version>`.",
            },
        },
    }


def _webhook_message(
    name: str, source: str, description: str, data: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "summary": description,
        "contentType": event_types.CONTENT_TYPE,
        "headers": _webhook_headers(name),
        "payload": {
            "allOf": [
                {"$ref": SCHEMA_REF + CLOUD_EVENT_SCHEMA},
                {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "const": name},
                        "source": {"type": "string", "const": source},
                        "data": dict(data),
                    },
                },
            ]
        },
        "correlationId": {
            "description": "The delivery id: the same on every attempt of a delivery.",
            "location": f"$message.header#/{event_types.DELIVERY_HEADER}",
        },
    }


def webhook_side(schemas: SchemaCollector) -> Mapping[str, Any]:
    """The webhook server, channel, operation and messages, from the event catalogue
    (`core.domain.event_types`): one message per event type, plus `webhook.ping`."""
    schemas.schemas[CLOUD_EVENT_SCHEMA] = _cloud_event_schema()
    messages: dict[str, Any] = {}
    for event_type in event_types.EVENT_TYPES.values():
        data = schemas.ref(descriptor_of(event_type.message_type))
        message = _webhook_message(
            event_type.name,
            event_types.SOURCE_PREFIX + event_type.topic.value,
            event_type.description,
            data,
        )
        message["x-protobuf-message"] = event_type.message_type.DESCRIPTOR.full_name
        messages[f"webhook.{event_type.name}"] = message
    ping_data = {
        "type": "object",
        "required": ["brand", "subscription_id"],
        "properties": {"subscription_id": {"type": "string"}, "brand": {"type": "string"}},
    }
    messages[f"webhook.{event_types.PING_TYPE}"] = _webhook_message(
        event_types.PING_TYPE,
        event_types.PING_SOURCE,
        "A test event sent on request (`POST /v1/webhooks/{id}/ping`); every subscription "
        "receives it, whatever its event types.",
        ping_data,
    )
    channel = {
        "address": None,
        "title": "Your webhook endpoint",
        "description": WEBHOOK_DESCRIPTION,
        "servers": [{"$ref": "#/servers/webhook-receiver"}],
        "messages": {
            message_id: {"$ref": f"#/components/messages/{message_id}"}
            for message_id in sorted(messages)
        },
    }
    operation = _receive(
        WEBHOOK_CHANNEL,
        sorted(messages),
        "Receive webhook events",
        "Receive the events your subscription chose as signed POSTs.",
    )
    operation["bindings"] = {"http": {"method": "POST", "bindingVersion": HTTP_BINDING_VERSION}}
    return {
        "servers": {
            "webhook-receiver": {
                "host": "{receiver}",
                "protocol": "https",
                "title": "Your webhook receiver",
                "description": "The URL of your subscription: the platform POSTs to it.",
                "variables": {
                    "receiver": {
                        "default": "receiver.example.com",
                        "description": "Host (and port) of your subscription's URL.",
                    }
                },
            }
        },
        "channels": {WEBHOOK_CHANNEL: channel},
        "operations": {f"receive.{WEBHOOK_CHANNEL}": operation},
        "messages": messages,
    }


def catalogue_markdown() -> str:
    """The event catalogue as two Markdown tables (public Kafka topics; webhook event
    types), for the README: `python -m socialcare.core.asyncapi --catalogue`."""
    default_partitions = int(PlatformSettings.model_fields["topic_partitions"].default)
    lines = [
        "| Topic | Value (protobuf) | Key | Partitions | Cleanup | What it carries |",
        "|---|---|---|---|---|---|",
    ]
    for spec in public_topics():
        partitions = str(spec.partitions) if spec.partitions else f"platform ({default_partitions})"
        lines.append(
            f"| `{spec.topic.value}` | `{spec.message_type.DESCRIPTOR.full_name}` | "
            f"{_cell(TOPIC_KEYS[spec.topic].description)} | {partitions} | "
            f"{'compact' if spec.compacted else 'delete'} | {_cell(spec.description)} |"
        )
    lines += [
        "",
        "| Webhook event type | From topic | `data` (protobuf) | What happened |",
        "|---|---|---|---|",
    ]
    for event_type in event_types.EVENT_TYPES.values():
        lines.append(
            f"| `{event_type.name}` | `{event_type.topic.value}` | "
            f"`{event_type.message_type.DESCRIPTOR.full_name}` | "
            f"{_cell(event_type.description)} |"
        )
    lines.append(
        f"| `{event_types.PING_TYPE}` | (on request) | `{{subscription_id, brand}}` | "
        "A test event: `POST /v1/webhooks/{id}/ping`. |"
    )
    return "\n".join(lines) + "\n"


CATALOGUE_START = "<!-- event-catalogue:start -->"
CATALOGUE_END = "<!-- event-catalogue:end -->"


def catalogue_section(markdown: str) -> str | None:
    """The text between the catalogue markers of a Markdown document (None without them)."""
    if CATALOGUE_START not in markdown or CATALOGUE_END not in markdown:
        return None
    return markdown.split(CATALOGUE_START, 1)[1].split(CATALOGUE_END, 1)[0]


def with_catalogue(markdown: str) -> str:
    """`markdown` with the text between its catalogue markers replaced by the current
    tables; ValueError when the markers are missing."""
    if catalogue_section(markdown) is None:
        raise ValueError(f"no {CATALOGUE_START} ... {CATALOGUE_END} section to fill in")
    before, rest = markdown.split(CATALOGUE_START, 1)
    after = rest.split(CATALOGUE_END, 1)[1]
    return f"{before}{CATALOGUE_START}\n{catalogue_markdown()}{CATALOGUE_END}{after}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(document: Mapping[str, Any]) -> str:
    """The document as the committed file holds it: sorted keys, 2-space indent, one final
    newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


_DOCUMENT: str | None = None


def document_json() -> str:
    """The rendered document, built once per process (what `/asyncapi.json` serves)."""
    global _DOCUMENT
    if _DOCUMENT is None:
        _DOCUMENT = render(build_document())
    return _DOCUMENT


def check(path: Path) -> str | None:
    """None when `path` holds the current document, else what differs (a short diff) and
    how to fix it."""
    expected = document_json()
    actual = path.read_text(encoding="utf-8") if path.exists() else ""
    if actual == expected:
        return None
    diff = list(
        difflib.unified_diff(
            actual.splitlines(),
            expected.splitlines(),
            fromfile=str(path),
            tofile="generated",
            lineterm="",
            n=1,
        )
    )
    shown = "\n".join(diff[:40]) + ("\n..." if len(diff) > 40 else "")
    return (
        f"{path} is out of date with the code (topics, protos or event catalogue changed): "
        f"run `make asyncapi` (python -m socialcare.core.asyncapi --out {path})\n{shown}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m socialcare.core.asyncapi",
        description="Generate or check the AsyncAPI document of the event stream.",
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write the document to this file")
    group.add_argument("--check", type=Path, help="exit 1 when this file is out of date")
    group.add_argument(
        "--catalogue",
        action="store_true",
        help="print the event catalogue (topics, webhook event types) as Markdown tables",
    )
    group.add_argument(
        "--readme",
        type=Path,
        help="rewrite the event catalogue between the markers "
        f"{CATALOGUE_START} and {CATALOGUE_END} of this Markdown file",
    )
    ns = parser.parse_args(argv)
    if ns.catalogue:
        print(catalogue_markdown(), end="")
        return 0
    if ns.readme is not None:
        try:
            updated = with_catalogue(ns.readme.read_text(encoding="utf-8"))
        except ValueError as exc:
            print(f"{ns.readme}: {exc}", file=sys.stderr)
            return 1
        ns.readme.write_text(updated, encoding="utf-8")
        print(f"updated the event catalogue in {ns.readme}")
        return 0
    if ns.out is not None:
        ns.out.parent.mkdir(parents=True, exist_ok=True)
        ns.out.write_text(document_json(), encoding="utf-8")
        print(f"wrote {ns.out}")
        return 0
    problem = check(ns.check)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    print(f"{ns.check} matches the code")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
