"""Enrichment over real records: a raw message on social.messages.raw becomes one
enriched message, keyed by its customer, under an id derived from the message."""

from __future__ import annotations

import gc

import pytest

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import load_care_config
from socialcare.core.domain.cases import author_key
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, derived_id
from socialcare.enrichment.processor import EnrichmentProcessor
from socialcare.v1 import message_pb2
from tests.unit.factories import T0, enriched
from tests.unit.memory_log import MemoryLog
from tests.unit.metrics import sample


def enriched_count() -> float:
    return sample(
        "socialcare_messages_enriched_total", language="nl", channel="x", sentiment="negative"
    )


@pytest.fixture
def processor() -> EnrichmentProcessor:
    return EnrichmentProcessor(lambda: T0, load_care_config())


def test_it_handles_raw_messages(processor: EnrichmentProcessor) -> None:
    assert processor.topics == (Topic.MESSAGES_RAW.value,)


def test_a_raw_message_is_enriched_keyed_by_its_customer(processor: EnrichmentProcessor) -> None:
    raw = enriched("e1", text="Mijn pakket is nog steeds niet bezorgd, belachelijk!").message
    record = MemoryLog(3).record(Emit(Topic.MESSAGES_RAW, raw))
    before = enriched_count()
    [effect] = processor.process(record)
    assert effect.topic is Topic.MESSAGES_ENRICHED
    assert record.key is not None
    assert effect.key == author_key(raw) == record.key.decode()
    assert effect.event_id == derived_id("enriched", raw.message_id)
    message = effect.message
    assert isinstance(message, message_pb2.EnrichedMessage)
    assert message.message == raw
    assert message.language == "nl"
    assert message.sentiment.label == message_pb2.SENTIMENT_LABEL_NEGATIVE
    assert message.enriched_at == to_timestamp(T0)
    assert enriched_count() == before + 1
    # The packaged taxonomy: a parcel not delivered, and a complaint ("belachelijk").
    assert [i.name for i in message.intents] == ["delivery", "complaint"]
    assert message.intents[0].question == "Mijn pakket is nog steeds niet bezorgd, belachelijk!"
    assert 0 < message.urgency < 1


def test_a_sales_question_is_a_lead_and_counted(processor: EnrichmentProcessor) -> None:
    raw = enriched("e3", text="What is the price of the outlet laptop? Is it in stock?").message
    before = sample("socialcare_intents_found_total", intent="sales_lead", sales="true")
    [effect] = processor.process(MemoryLog(3).record(Emit(Topic.MESSAGES_RAW, raw)))
    message = effect.message
    assert isinstance(message, message_pb2.EnrichedMessage)
    [lead] = message.intents
    assert (lead.name, lead.sales) == ("sales_lead", True)
    assert lead.question == "What is the price of the outlet laptop?"
    assert sample("socialcare_intents_found_total", intent="sales_lead", sales="true") == (
        before + 1
    )


def test_a_message_without_its_id_is_poison(processor: EnrichmentProcessor) -> None:
    raw = enriched("e2").message
    raw.ClearField("message_id")
    with pytest.raises(InvalidRecordError, match="message_id"):
        processor.process(MemoryLog(3).record(Emit(Topic.MESSAGES_RAW, raw)))


def test_a_message_without_its_author_is_poison(processor: EnrichmentProcessor) -> None:
    raw = enriched("e3").message
    raw.author.ClearField("id")
    with pytest.raises(InvalidRecordError, match="author"):
        processor.process(MemoryLog(3).record(Emit(Topic.MESSAGES_RAW, raw)))


def test_prepare_puts_the_loaded_models_out_of_the_collectors_reach(
    processor: EnrichmentProcessor,
) -> None:
    """A full collection over the models stalled one message for ~50 ms; frozen, they are
    skipped."""
    gc.unfreeze()
    try:
        processor.prepare()
        assert gc.get_freeze_count() > 100_000
    finally:
        gc.unfreeze()
