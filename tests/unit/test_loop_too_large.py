"""An effect the bus refuses for its size is the record's fault, not an outage.

Real `ConsumerLoop`s on the embedded bus, publishing through a producer that refuses a
record over `LIMIT` bytes at send, as Kafka's producer does over its `max.request.size`
(`RecordTooLargeError`). The record whose effect was refused goes to the DLQ once with the
sizes as the reason, the rest of the batch goes on and is committed; a record too large to
copy whole into the DLQ is dead-lettered without its value; and a batch retried for a
transient reason does not dead-letter its earlier records again.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from socialcare.core.bus import BusError, Headers, Producer, Record, RecordTooLargeError
from socialcare.core.bus.base import Delivery
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.consumer_loop import ConsumerLoop, TypedProcessor
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, publish
from socialcare.v1.message_pb2 import EnrichedMessage, SocialMessage
from tests.unit.loop_support import laid_out_bus, wait_until

DEADLINE_S = 15.0
LIMIT = 2_500
RAW = Topic.MESSAGES_RAW.value
RAW_DLQ = Topic.MESSAGES_RAW.dlq
ENRICHED = Topic.MESSAGES_ENRICHED.value


class LimitedProducer(Producer):
    """The embedded bus's producer, refusing at send a record over `LIMIT` bytes (key,
    value, header names and values); its first `flush_failures` flushes fail as a bus that
    is down does, after the records are durable (so a retry finds its dead letters
    written)."""

    def __init__(self, inner: Producer, flush_failures: int = 0) -> None:
        self.inner = inner
        self.flush_failures = flush_failures
        self.flushes = 0

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        size = len(value) + len(key or b"") + sum(len(n) + len(d) for n, d in headers)
        if size > LIMIT:
            raise RecordTooLargeError(topic, size, LIMIT)
        return self.inner.send(topic, value, key=key, headers=headers)

    def flush(self, timeout_s: float = 30.0) -> None:
        self.inner.flush(timeout_s)
        self.flushes += 1
        if self.flush_failures:
            self.flush_failures -= 1
            raise BusError("the bus is down (test)")

    def close(self) -> None:
        self.inner.close()


class Tripler(TypedProcessor):
    """Publishes each raw message enriched, its text three times over (an effect larger
    than its record, as routing's case holds a message's text several times); the text
    "poison" is invalid. Keeps the texts it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self.on(Topic.MESSAGES_RAW, SocialMessage, self._on_message)

    def _on_message(self, message: SocialMessage, record: Record) -> Sequence[Emit]:
        self.seen.append(message.text)
        if message.text == "poison":
            raise InvalidRecordError("text is poison")
        tripled = SocialMessage(message_id=message.message_id, text=message.text * 3)
        return [Emit(Topic.MESSAGES_ENRICHED, EnrichedMessage(message=tripled))]


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    opened = laid_out_bus(tmp_path / "bus", 1)
    yield opened
    opened.close()


@contextmanager
def running(
    bus: EmbeddedBus, processor: Tripler, producer: LimitedProducer
) -> Iterator[threading.Thread]:
    loop = ConsumerLoop(
        bus,
        group="tripler",
        topics=processor.topics,
        processor=processor,
        producer=producer,
        poll_timeout_s=0.05,
        commit_interval_s=0.1,
        max_backoff_s=0.2,
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        loop.stop()
        thread.join(10)
        producer.close()


def publish_texts(bus: EmbeddedBus, *texts: str) -> None:
    producer = bus.producer("test")
    for text in texts:
        message = SocialMessage(message_id=f"m-{len(text)}-{text[:8]}", text=text)
        publish(producer, RAW, message, key="k", event_id=message.message_id, source="test")
    producer.flush()
    producer.close()


def enriched_texts(bus: EmbeddedBus) -> list[str]:
    texts = []
    for record in bus.replay(ENRICHED):
        enriched = EnrichedMessage()
        enriched.ParseFromString(record.value)
        texts.append(enriched.message.text)
    return texts


def test_a_record_whose_effect_is_too_large_is_dead_lettered_and_the_batch_goes_on(
    bus: EmbeddedBus,
) -> None:
    big = "b" * 1_000  # fits as a record (and as its dead letter); tripled it does not
    huge = "h" * 3_000  # its dead letter cannot hold it either
    publish_texts(bus, "a", big, "c", huge, "d")
    raw = list(bus.replay(RAW))
    tripler = Tripler()
    with running(bus, tripler, LimitedProducer(bus.producer("tripler"))) as thread:
        wait_until(lambda: "ddd" in enriched_texts(bus), DEADLINE_S, thread)
        wait_until(lambda: False, 0.3, thread)  # a loop retrying the batch would show
    assert enriched_texts(bus) == ["aaa", "ccc", "ddd"]
    assert tripler.seen == ["a", big, "c", huge, "d"], "each record once"

    whole, headless = list(bus.replay(RAW_DLQ))
    assert whole.value == raw[1].value and whole.header("dlq-original-offset") == b"1"
    reason = (whole.header("dlq-reason") or b"").decode()
    assert reason.startswith(f"its effect on {ENRICHED} is ")
    assert reason.endswith(" bytes, over the bus's 2,500-byte record limit")
    assert whole.header("event-id") == raw[1].header("event-id"), "the record's own headers"

    assert headless.value == b"" and headless.key == b"k"
    assert headless.header("dlq-original-offset") == b"3"
    assert headless.header("dlq-original-topic") == RAW.encode()
    assert (headless.header("dlq-reason") or b"").startswith(b"its effect on ")
    omitted = (headless.header("dlq-value-omitted") or b"").decode()
    assert f"{len(raw[3].value):,} bytes not copied" in omitted
    assert hashlib.sha256(raw[3].value).hexdigest() in omitted

    # Committed past all five: the next member of the group starts at the sixth.
    publish_texts(bus, "e")
    again = Tripler()
    with running(bus, again, LimitedProducer(bus.producer("tripler"))) as thread:
        wait_until(lambda: "eee" in enriched_texts(bus), DEADLINE_S, thread)
    assert again.seen == ["e"]
    assert len(list(bus.replay(RAW_DLQ))) == 2


def test_a_batch_retried_for_an_outage_does_not_dead_letter_its_records_again(
    bus: EmbeddedBus,
) -> None:
    publish_texts(bus, "poison", "b" * 1_000, "a")
    producer = LimitedProducer(bus.producer("tripler"), flush_failures=3)
    tripler = Tripler()
    with running(bus, tripler, producer) as thread:
        wait_until(lambda: producer.flushes > 3 and "aaa" in enriched_texts(bus), 15, thread)
        wait_until(lambda: False, 0.3, thread)
    letters = list(bus.replay(RAW_DLQ))
    assert [letter.header("dlq-original-offset") for letter in letters] == [b"0", b"1"]
    assert letters[0].header("dlq-reason") == b"text is poison"
    # Retried three times, the batch's dead-lettered records were not processed again.
    assert tripler.seen.count("poison") == 1
    assert tripler.seen.count("b" * 1_000) == 1
    assert tripler.seen.count("a") == 4
