"""What fuzzing the consumers found, one test each, on the services' own processors (built by
their `parts(runtime)` on an embedded bus) without the loop: the fuzz test
(`test_fuzz_consumers.py`) finds such a bug; these say which one it was.

* A tombstone whose key is not UTF-8 on a topic a processor rebuilds from (care.cases,
  webhooks.deliveries, the assigner's and linker's changelogs) stopped that consumer for
  good: its rebuild decoded the key and raised. Now it is skipped on rebuild, and refused as
  invalid (DLQ) when it arrives as a record, as is a tombstone whose erasure-id is not UTF-8.
* A record the search store would reject (a case event without a case id, an audit record
  whose id is over 512 bytes) failed the indexer's bulk write, which the loop retries forever
  as an outage: the partition stalled. Now such a record is refused with the reason.
* A raw or enriched message with a 900 KB message id went all the way into a case that
  search could then never index; a command without a case id, and a case event without one
  on care.cases, made routing emit a case event for case "". Now refused where they enter.

And what `test_fuzz_processors.py` found: a Timestamp no calendar holds (seconds before year
1) made nine consumers raise ValueError (retried, then dead-lettered as "processing failed"),
now refused as invalid; an enum number this version does not define made `Enum.Name` raise,
now read as "unspecified".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from socialcare.cli import SERVICES, assemble
from socialcare.core.bus import Headers, Record, TopicPartition
from socialcare.core.bus.partitioner import partition_for
from socialcare.core.consumer_loop import RecordProcessor
from socialcare.core.domain.cases import escalation_json
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError
from socialcare.core.runtime import LoopComponent, Runtime
from socialcare.v1 import (
    audit_pb2,
    case_pb2,
    commands_pb2,
    escalation_pb2,
    incident_pb2,
    message_pb2,
)
from tests.fuzz.records import record_of, valid
from tests.fuzz.test_fuzz_consumers import open_runtime

BAD_KEY = b"\xff\xfe-not-utf-8"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = open_runtime(tmp_path)
    yield runtime
    runtime.close()


def processors(runtime: Runtime) -> dict[str, tuple[RecordProcessor, tuple[str, ...]]]:
    """Every consumer group's processor and topics, as `socialcare run all` wires them."""
    parts = assemble(runtime, list(SERVICES))
    return {
        c.name: (c.loop._processor, c.loop.topics)
        for c in parts.components
        if isinstance(c, LoopComponent)
    }


def assign_all(runtime: Runtime, processor: RecordProcessor, topics: tuple[str, ...]) -> None:
    processor.prepare()
    processor.assigned(
        frozenset(
            TopicPartition(topic, p)
            for topic in topics
            for p in range(runtime.bus.partition_count(topic))
        )
    )


def record(
    topic: Topic, value: bytes | None, key: bytes, headers: Headers = (), partition: int = 0
) -> Record:
    return Record(
        topic=topic.value,
        partition=partition,
        offset=7,
        key=key,
        value=value or b"",
        headers=headers,
        tombstone=value is None,
    )


def test_a_tombstone_with_a_key_that_is_not_utf8_stops_no_rebuild(runtime: Runtime) -> None:
    producer = runtime.bus.producer("fuzz")
    for topic in (
        Topic.CASES,
        Topic.WEBHOOK_DELIVERIES,
        Topic.ASSIGNMENTS_CHANGELOG,
        Topic.IDENTITIES_CHANGELOG,
    ):
        for partition_key in (BAD_KEY, BAD_KEY + b"-2", BAD_KEY + b"-3"):
            producer.tombstone(topic.value, key=partition_key)
    producer.close()
    for processor, topics in processors(runtime).values():
        assign_all(runtime, processor, topics)  # raised UnicodeDecodeError for five groups


@pytest.mark.parametrize("group", ["indexer", "sla", "escalation"])
def test_a_tombstone_with_a_key_or_erasure_id_that_is_not_utf8_is_refused(
    runtime: Runtime, group: str
) -> None:
    processor, topics = processors(runtime)[group]
    assign_all(runtime, processor, topics)
    with pytest.raises(InvalidRecordError, match="UTF-8"):
        processor.process(record(Topic.CASES, None, BAD_KEY))
    with pytest.raises(InvalidRecordError, match="erasure-id"):
        processor.process(record(Topic.CASES, None, b"case-1", (("erasure-id", b"\xff"),)))


def test_the_indexer_refuses_a_case_event_search_would_reject(runtime: Runtime) -> None:
    processor, topics = processors(runtime)["indexer"]
    assign_all(runtime, processor, topics)
    nameless = case_pb2.CaseEvent(event_id="e-1", type=case_pb2.CASE_EVENT_TYPE_OPENED)
    with pytest.raises(InvalidRecordError, match="cannot be indexed"):
        processor.process(record(Topic.CASES, nameless.SerializeToString(), b""))
    processor.flush()  # nothing pending that the store would reject


def test_the_audit_indexer_refuses_an_id_search_would_reject(runtime: Runtime) -> None:
    processor, topics = processors(runtime)["audit-indexer"]
    assign_all(runtime, processor, topics)
    huge = audit_pb2.AuditRecord(record_id="r" * 600, actor_id="agent-1", action="case.note")
    with pytest.raises(InvalidRecordError, match="cannot be indexed"):
        processor.process(record(Topic.AUDIT_LOG, huge.SerializeToString(), b"agent-1"))
    processor.flush()


def test_a_message_id_search_could_never_index_is_refused_where_it_enters(
    runtime: Runtime,
) -> None:
    every = processors(runtime)
    raw = valid(Topic.MESSAGES_RAW, 1)
    assert isinstance(raw, message_pb2.SocialMessage)
    raw.message_id = "m" * 900_000
    enrichment, topics = every["enrichment"]
    assign_all(runtime, enrichment, topics)
    with pytest.raises(InvalidRecordError, match="longer than 512 bytes"):
        enrichment.process(record(Topic.MESSAGES_RAW, raw.SerializeToString(), b"x:1"))
    enriched = valid(Topic.MESSAGES_ENRICHED, 1)
    assert isinstance(enriched, message_pb2.EnrichedMessage)
    enriched.message.message_id = "m" * 900_000
    routing, topics = every["routing"]
    assign_all(runtime, routing, topics)
    with pytest.raises(InvalidRecordError, match="longer than 512 bytes"):
        routing.process(record(Topic.MESSAGES_ENRICHED, enriched.SerializeToString(), b"x:1"))


def test_routing_makes_no_case_without_an_id(runtime: Runtime) -> None:
    """A case event without a case id on care.cases is skipped on rebuild, and a command
    without a case id is refused: no case event for case "" comes out."""
    producer = runtime.bus.producer("fuzz")
    producer.send(Topic.CASES.value, b"", key=b"")  # decodes as a CaseEvent about no case
    opened = record_of(Topic.CASES, valid(Topic.CASES, 1))
    assert opened.value is not None and opened.key is not None
    producer.send(Topic.CASES.value, opened.value, key=opened.key)
    producer.close()
    routing, topics = processors(runtime)["routing"]
    assign_all(runtime, routing, topics)
    # The partition whose book the empty key's case event was rebuilt into.
    partition = partition_for(b"", runtime.bus.partition_count(Topic.COMMANDS.value))
    nameless = commands_pb2.AgentCommand(command_id="c-1")
    with pytest.raises(InvalidRecordError, match="names no case_id"):
        routing.process(
            record(Topic.COMMANDS, nameless.SerializeToString(), b"", partition=partition)
        )


def test_a_timestamp_no_calendar_holds_is_refused_as_invalid(runtime: Runtime) -> None:
    """Seconds before year 1 (or nanos below 0) made `from_timestamp` raise ValueError: a
    crash the loop retried, then dead-lettered as "processing failed"."""
    incident = valid(Topic.INCIDENTS, 1)
    assert isinstance(incident, incident_pb2.IncidentEvent)
    incident.incident.opened_at.seconds = -62135596801
    processor, topics = processors(runtime)["notifications"]
    assign_all(runtime, processor, topics)
    with pytest.raises(InvalidRecordError, match="not a valid time"):
        processor.process(record(Topic.INCIDENTS, incident.SerializeToString(), b"i-1"))


def test_an_enum_number_no_version_defines_is_read(runtime: Runtime) -> None:
    """Proto3 enums are open: an escalation with a trigger number this version does not
    define made the indexer's and notifier's `EscalationTrigger.Name` raise ValueError."""
    event = valid(Topic.ESCALATIONS, 1)
    assert isinstance(event, escalation_pb2.EscalationEvent)
    event.escalation.trigger = -1  # type: ignore[assignment]
    event.escalation.tier = 99  # type: ignore[assignment]
    every = processors(runtime)
    for group in ("indexer", "notifications"):
        processor, topics = every[group]
        assign_all(runtime, processor, topics)
        processor.process(record(Topic.ESCALATIONS, event.SerializeToString(), b"c-1"))
        processor.flush()
    assert escalation_json(event.escalation)["trigger"] == "unspecified"
