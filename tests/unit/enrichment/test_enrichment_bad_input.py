"""Bad input through the REAL enrichment consumer loop on the embedded bus: every odd
text is enriched (no crash, one enriched message each), and a record that cannot be
enriched goes to social.messages.raw.dlq with a reason that says what is wrong, while the
loop goes on with the next record."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socialcare.core.bus import Record
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.clock import utc_now
from socialcare.core.domain.care_config import load_care_config
from socialcare.core.domain.cases import author_key
from socialcare.core.domain.topics import Topic, dlq_of
from socialcare.core.events import publish
from socialcare.core.telemetry import JsonFormatter
from socialcare.enrichment.processor import GROUP, EnrichmentProcessor
from socialcare.v1 import message_pb2
from tests.unit.enrichment.bad_inputs import BAD_TEXTS
from tests.unit.factories import enriched
from tests.unit.loop_support import laid_out_bus, loop_thread, wait_until

RAW = Topic.MESSAGES_RAW.value
SOCIAL_MESSAGE = message_pb2.SocialMessage.DESCRIPTOR.full_name.encode()


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    bus = laid_out_bus(tmp_path / "bus", 2)
    yield bus
    bus.close()


def raw_message(name: str, text: str) -> message_pb2.SocialMessage:
    return enriched(name, text=text).message


def with_bytes(message: message_pb2.SocialMessage, placeholder: bytes, bad: bytes) -> bytes:
    """`message` serialised, with `placeholder` (in one string field) replaced by `bad`
    bytes of the same length: what a producer writing CESU-8 or cutting a character in
    half puts on the topic."""
    assert len(placeholder) == len(bad)
    value = message.SerializeToString()
    assert value.count(placeholder) == 1
    return value.replace(placeholder, bad)


def send_raw(bus: EmbeddedBus, value: bytes, key: str) -> None:
    producer = bus.producer("ingestion")
    producer.send(RAW, value, key=key.encode(), headers=(("event-type", SOCIAL_MESSAGE),))
    producer.flush()
    producer.close()


def run_until(bus: EmbeddedBus, done: Callable[[], bool], for_s: float = 90.0) -> None:
    processor = EnrichmentProcessor(utc_now, load_care_config())
    with loop_thread(bus, processor, GROUP) as thread:
        wait_until(done, for_s, thread)
        assert done(), "timed out"
        assert thread.is_alive()


def outputs(bus: EmbeddedBus) -> dict[str, message_pb2.EnrichedMessage]:
    found = {}
    for record in bus.replay(Topic.MESSAGES_ENRICHED.value):
        message = message_pb2.EnrichedMessage()
        message.ParseFromString(record.value)
        found[message.message.message_id] = message
    return found


def dead_letters(bus: EmbeddedBus) -> list[Record]:
    return list(bus.replay(dlq_of(RAW)))


def reason(record: Record) -> str:
    value = record.header("dlq-reason")
    assert value is not None
    return value.decode()


def test_odd_texts_are_enriched_and_poison_goes_to_the_dlq_with_its_reason(
    bus: EmbeddedBus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    producer = bus.producer("ingestion")
    good: dict[str, str] = {}
    poison = 0

    def publish_good(name: str, text: str) -> None:
        message = raw_message(name, text)
        good[message.message_id] = text
        publish(
            producer,
            RAW,
            message,
            key=author_key(message),
            event_id=message.message_id,
            source="ingestion",
        )

    for name, text in BAD_TEXTS.items():
        publish_good(name, text)
    producer.flush()

    # Poison between the good ones: each must be dead-lettered, the next one still enriched.
    no_id = raw_message("no-id", "hallo")
    no_id.ClearField("message_id")
    no_author = raw_message("no-author", "hallo")
    no_author.author.ClearField("id")
    surrogate = raw_message("surrogate", "Hoi ABC daar")  # ABC -> a lone surrogate (CESU-8)
    cut = raw_message("cut", "prima")
    cut.author.name = "Jan XY"  # XY -> the first two bytes of a three-byte character
    for value in (
        no_id.SerializeToString(),
        no_author.SerializeToString(),
        with_bytes(surrogate, b"ABC", b"\xed\xa0\xbd"),
        with_bytes(cut, b"XY", b"\xe2\x82"),
        b"\xff\xff\xff\xff",  # not protobuf at all
    ):
        send_raw(bus, value, key="x:author:poison")
        poison += 1
    publish_good("after the poison", "Dank jullie wel, opgelost! 👍")
    producer.flush()
    producer.close()

    run_until(bus, lambda: len(outputs(bus)) == len(good) and len(dead_letters(bus)) == poison)

    enriched_messages = outputs(bus)
    assert set(enriched_messages) == set(good)
    for message_id, text in good.items():
        out = enriched_messages[message_id]
        assert out.message.text == text
        assert out.language
        assert -1.0 <= out.sentiment.score <= 1.0
        for match in out.pii:
            assert 0 <= match.start < match.end <= len(text)
    emoji_first = raw_message(
        "emoji before an e-mail address", BAD_TEXTS["emoji before an e-mail address"]
    )
    [email] = enriched_messages[emoji_first.message_id].pii
    assert (email.kind, email.start, email.end) == ("email", 16, 30)

    reasons = [reason(record) for record in dead_letters(bus)]
    assert reasons[0] == (
        "raw message lacks message_id (the enriched event's id is derived from it)"
    )
    assert reasons[1] == (
        f"raw message {no_author.message_id!r} lacks author.id (the customer it is keyed "
        "and threaded by)"
    )
    assert reasons[2].endswith(
        "field text is not valid UTF-8 (byte 4 of 12: ed a0 bd; a lone surrogate or a "
        "character cut in half)"
    )
    assert reasons[2].startswith("value is not a valid socialcare.v1.SocialMessage")
    assert reasons[3].endswith(
        "field author.name is not valid UTF-8 (byte 4 of 6: e2 82; a lone surrogate or a "
        "character cut in half)"
    )
    assert "not protobuf wire format" in reasons[4]
    for record in dead_letters(bus):
        assert record.header("dlq-original-topic") == RAW.encode()
        assert record.header("dlq-consumer-group") == GROUP.encode()

    # The log says what went to the DLQ and why, and never a customer's words.
    lines = [JsonFormatter().format(record) for record in caplog.records]
    assert sum('"msg": "record sent to DLQ"' in line for line in lines) == poison
    assert not any("processing failed" in line for line in lines)
    for line in lines:
        for words in ("jan@example.nl", "Dank jullie wel", "pakket", "Hoi", "06 06 06"):
            assert words not in line
