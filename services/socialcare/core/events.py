"""How an event travels: protobuf value plus the standard headers.

Headers on every record (the public contract for integrators):
  `event-type`      the protobuf full name, e.g. `socialcare.v1.CaseEvent`
  `schema-version`  `v1`
  `event-id`        the producer-assigned idempotency id (consumers de-duplicate on it)
  `producer`        the service that wrote it
  `traceparent`     W3C trace context
Decoding checks the type header and the bytes; a record that fails is poison
(`InvalidRecordError`), which the consumer loop sends to the DLQ.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import TypeVar

from google.protobuf.message import DecodeError, Message
from opentelemetry.trace import SpanKind

from socialcare.core.bus import Headers, Producer, Record
from socialcare.core.bus.base import Delivery
from socialcare.core.telemetry import inject_headers, tracer

SCHEMA_VERSION = b"v1"
M = TypeVar("M", bound=Message)
_tracer = tracer("socialcare.events")


class InvalidRecordError(Exception):
    """A record that can never be processed (bad bytes, wrong type, invalid content).

    The consumer loop sends it to the topic's DLQ with this message as the reason and
    goes on with the next record.
    """


def new_event_id() -> str:
    return uuid.uuid4().hex


def derived_id(*parts: str) -> str:
    """A stable id from the parts, so that redoing the same work yields the same id."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def publish(
    producer: Producer,
    topic: str,
    event: Message,
    *,
    key: str,
    event_id: str,
    source: str,
    trace_headers: Headers | None = None,
) -> Delivery:
    """Send `event` with the standard headers, inside a producer span whose context travels
    in `traceparent`; durable after the producer's flush, or once the returned delivery's
    `wait()` returned.

    `trace_headers` (`telemetry.inject_headers()`) is for a caller whose own producer span
    covers several records (the ingestor's, one per request): they carry that span's
    context, and the request pays neither a span nor a propagator run per record."""
    headers: Headers = (
        ("event-type", event.DESCRIPTOR.full_name.encode()),
        ("schema-version", SCHEMA_VERSION),
        ("event-id", event_id.encode()),
        ("producer", source.encode()),
    )
    if trace_headers is not None:
        value = event.SerializeToString()
        return producer.send(topic, value, key=key.encode(), headers=(*headers, *trace_headers))
    with _tracer.start_as_current_span(f"{topic} publish", kind=SpanKind.PRODUCER) as span:
        span.set_attribute("messaging.destination.name", topic)
        span.set_attribute("messaging.message.id", event_id)
        headers = inject_headers(headers)
        return producer.send(topic, event.SerializeToString(), key=key.encode(), headers=headers)


def decode(record: Record, message_type: type[M]) -> M:
    """Parse the record's value as `message_type`; InvalidRecordError if it is not one."""
    expected = message_type.DESCRIPTOR.full_name
    if record.tombstone:
        raise InvalidRecordError(f"a tombstone (key deleted) is not a {expected}")
    declared = record.header("event-type")
    if declared is not None and declared.decode(errors="replace") != expected:
        raise InvalidRecordError(
            f"event-type header is {declared.decode(errors='replace')!r}, expected {expected!r}"
        )
    message = message_type()
    try:
        message.ParseFromString(record.value)
    except DecodeError as exc:
        raise InvalidRecordError(f"value is not a valid {expected}: {exc}") from exc
    return message


def key_text(record: Record) -> str | None:
    """The record's key as text; None when it has none or it is not UTF-8.

    Every key the platform writes is an id or a name (UTF-8), so a key that is not names no
    entity here: a rebuild skips such a tombstone (there is nothing of it to forget), and a
    handler refuses it as invalid, rather than failing on it. Anyone who can write to a
    topic can write such a key: it must not stop a consumer."""
    if record.key is None:
        return None
    try:
        return record.key.decode()
    except UnicodeDecodeError:
        return None


def header_text(record: Record, name: str) -> str | None:
    """Header `name` as text; None when absent or empty. InvalidRecordError when it is not
    UTF-8 (the platform writes ids there), so the loop dead-letters the record with why."""
    raw = record.header(name)
    if not raw:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise InvalidRecordError(f"header {name!r} is not UTF-8: {raw[:64]!r}") from exc


def event_id_of(record: Record) -> str:
    raw = record.header("event-id")
    return raw.decode() if raw else f"{record.topic}/{record.partition}/{record.offset}"
