"""Effects: what a processor asks the platform to do, as data.

A processor never writes to the bus itself; it returns `Emit`s (and `Tombstone`s, which
delete a key from a compacted topic) and the consumer loop
publishes them on its producer, with the key and event id the topic registry derives from
the message, before it commits the inputs that caused them. So every service emits the same
way, and a test of a processor is a test of the list it returns.

An effect is published in the trace of what caused it: the current span's (a record being
processed), or, for work no record caused right now (a timer in `tick`), the trace the
effect names (`Emit.traceparent`, e.g. the case's) or the one the consumer loop remembers
for its key (`publish_effects(traces=...)`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from google.protobuf.message import Message
from opentelemetry import context as otel_context

from socialcare.core.bus import Headers, Producer
from socialcare.core.bus.base import Delivery
from socialcare.core.domain.topics import REGISTRY, Topic
from socialcare.core.events import publish
from socialcare.core.telemetry import context_of, inject_headers


@dataclass(frozen=True, slots=True)
class Emit:
    """Publish `message` on `topic` (whose registry entry gives its key and event id).

    `traceparent`: the trace to publish it in when no record caused it just now (a timer's
    effect, e.g. an SLA breach in the trace of the case's latest message); "" for the
    current trace."""

    topic: Topic
    message: Message
    traceparent: str = field(default="", kw_only=True)

    def __post_init__(self) -> None:
        expected = REGISTRY[self.topic].message_type
        if not isinstance(self.message, expected):
            raise TypeError(
                f"{self.topic.value} carries {expected.DESCRIPTOR.full_name}, "
                f"not {self.message.DESCRIPTOR.full_name}"
            )

    @property
    def key(self) -> str:
        return REGISTRY[self.topic].key(self.message)

    @property
    def event_id(self) -> str:
        return REGISTRY[self.topic].event_id(self.message)


# The header of a tombstone written by an erasure: the erasure's id.
ERASURE_ID_HEADER = "erasure-id"


@dataclass(frozen=True, slots=True)
class Tombstone(Emit):
    """Delete `deleted_key` from the compacted `topic`: a record with a null value (the
    bus's `Producer.tombstone`). Compaction then drops the key's earlier records, and
    consumers get a `Record` with `tombstone=True` (`consumer_loop.TypedProcessor.tombstone`).

    It is an `Emit` (with an empty message of the topic's type, never published) so that
    processors return it in the same list as their other effects. Make one with `of`.
    `erasure_id`: the erasure that deleted the key, sent in the `erasure-id` header so that
    every consumer forgetting the key can report its `ErasureStep` under that erasure."""

    deleted_key: str = ""
    erasure_id: str = ""

    def __post_init__(self) -> None:
        Emit.__post_init__(self)
        if not self.deleted_key:
            raise ValueError(f"a tombstone on {self.topic.value} needs a key")

    @classmethod
    def of(cls, topic: Topic, key: str, *, erasure_id: str = "") -> Tombstone:
        return cls(topic, REGISTRY[topic].message_type(), key, erasure_id)

    @property
    def key(self) -> str:
        return self.deleted_key

    @property
    def event_id(self) -> str:
        return f"tombstone:{self.topic.value}:{self.deleted_key}"


def publish_effects(
    producer: Producer,
    effects: Iterable[Emit],
    *,
    source: str,
    spans: bool = True,
    traces: Mapping[str, str] | None = None,
) -> list[Delivery]:
    """Send each effect with the standard headers. They are durable after the producer's
    flush (what the consumer loop waits for), or each once its delivery's `wait()` returned
    (what a request handler answering for its own records waits for). `spans=False`: no
    span per record, all of them carrying the current span's context instead, for a caller
    that opened one producer span for them all (see `events.publish`).

    An effect's producer span continues the trace its `traceparent` names, else, with
    `traces` (key -> traceparent), the one of its key, else the current one."""
    trace_headers = None if spans else inject_headers()
    deliveries: list[Delivery] = []
    for effect in effects:
        key = effect.key
        named = effect.traceparent or (traces.get(key, "") if traces is not None else "")
        parent = context_of(named) if spans and named else None
        token = otel_context.attach(parent) if parent is not None else None
        try:
            deliveries.append(_publish_one(producer, effect, key, source, trace_headers))
        finally:
            if token is not None:
                otel_context.detach(token)
    return deliveries


def _publish_one(
    producer: Producer, effect: Emit, key: str, source: str, trace_headers: Headers | None
) -> Delivery:
    if isinstance(effect, Tombstone):
        headers: Headers = (("producer", source.encode()),)
        if effect.erasure_id:
            headers = (*headers, (ERASURE_ID_HEADER, effect.erasure_id.encode()))
        return producer.tombstone(
            effect.topic.value, key=key.encode(), headers=inject_headers(headers)
        )
    return publish(
        producer,
        effect.topic.value,
        effect.message,
        key=key,
        event_id=effect.event_id,
        source=source,
        trace_headers=trace_headers,
    )
