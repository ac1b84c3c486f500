"""Effects: what a processor asks the platform to do, as data.

A processor never writes to the bus itself; it returns `Emit`s and the consumer loop
publishes them on its producer, with the key and event id the topic registry derives from
the message, before it commits the inputs that caused them. So every service emits the same
way, and a test of a processor is a test of the list it returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import Message

from socialcare.core.bus import Producer
from socialcare.core.bus.base import Delivery
from socialcare.core.domain.topics import REGISTRY, Topic
from socialcare.core.events import publish
from socialcare.core.telemetry import inject_headers


@dataclass(frozen=True, slots=True)
class Emit:
    """Publish `message` on `topic` (whose registry entry gives its key and event id)."""

    topic: Topic
    message: Message

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


def publish_effects(
    producer: Producer, effects: Iterable[Emit], *, source: str, spans: bool = True
) -> list[Delivery]:
    """Send each effect with the standard headers. They are durable after the producer's
    flush (what the consumer loop waits for), or each once its delivery's `wait()` returned
    (what a request handler answering for its own records waits for). `spans=False`: no
    span per record, all of them carrying the current span's context instead, for a caller
    that opened one producer span for them all (see `events.publish`)."""
    trace_headers = None if spans else inject_headers()
    return [
        publish(
            producer,
            effect.topic.value,
            effect.message,
            key=effect.key,
            event_id=effect.event_id,
            source=source,
            trace_headers=trace_headers,
        )
        for effect in effects
    ]
