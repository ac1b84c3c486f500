"""The indexer over real records and the embedded search store: pending documents per
partition, a revoked partition's documents dropped, versioned upserts, one flush."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest

from socialcare.core.bus import TopicPartition
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.search import SearchError
from socialcare.core.search.embedded import EmbeddedSearchIndex
from socialcare.core.search.indices import CASES, ESCALATIONS, MESSAGES
from socialcare.indexer.processor import IndexingProcessor
from socialcare.v1 import case_pb2, escalation_pb2, message_pb2
from tests.unit.factories import T0
from tests.unit.memory_log import MemoryLog

PARTITIONS = 3


def case_event(case_id: str, version: int, status: str = "open") -> case_pb2.CaseEvent:
    case = case_pb2.Case(
        id=case_id,
        version=version,
        status=case_pb2.CASE_STATUS_RESOLVED if status == "resolved" else case_pb2.CASE_STATUS_OPEN,
        language="nl",
        channel=message_pb2.CHANNEL_X,
        queue="care-nl",
        customer=message_pb2.Author(id=f"cust-{case_id}", handle=f"@{case_id}"),
        opened_at=to_timestamp(T0),
        updated_at=to_timestamp(T0 + timedelta(minutes=version)),
    )
    for n in range(version):
        case.messages.add(
            message_id=f"{case_id}-m{n}",
            direction=case_pb2.DIRECTION_INBOUND,
            author=f"@{case_id}",
            text=f"bericht {n} over mijn pakket",
            created_at=to_timestamp(T0 + timedelta(minutes=n)),
        )
    return case_pb2.CaseEvent(event_id=f"{case_id}-v{version}", case=case)


def escalation_event(case_id: str) -> escalation_pb2.EscalationEvent:
    return escalation_pb2.EscalationEvent(
        event_id=f"esc-event-{case_id}",
        escalation=escalation_pb2.Escalation(
            id=f"esc-{case_id}",
            case_id=case_id,
            trigger=escalation_pb2.ESCALATION_TRIGGER_SLA_BREACH,
            tier=escalation_pb2.ESCALATION_TIER_TEAM_LEAD,
            reason="first response overdue",
            queue="care-nl",
            raised_at=to_timestamp(T0),
        ),
    )


def case_in(log: MemoryLog, partition: int) -> str:
    return next(
        i for i in (f"case-{n}" for n in itertools.count()) if log.partition_of(i) == partition
    )


@pytest.fixture
def search(tmp_path: Path) -> EmbeddedSearchIndex:
    return EmbeddedSearchIndex(tmp_path)


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog(PARTITIONS)


@pytest.fixture
def indexer(search: EmbeddedSearchIndex) -> IndexingProcessor:
    processor = IndexingProcessor(search)
    processor.prepare()
    return processor


def test_it_handles_cases_and_escalations(indexer: IndexingProcessor) -> None:
    assert indexer.topics == (Topic.CASES.value, Topic.ESCALATIONS.value)


def test_a_flush_writes_cases_their_messages_and_escalations_and_emits_nothing(
    log: MemoryLog, search: EmbeddedSearchIndex, indexer: IndexingProcessor
) -> None:
    case_id = case_in(log, 1)
    records = log.append(
        [
            Emit(Topic.CASES, case_event(case_id, 2)),
            Emit(Topic.ESCALATIONS, escalation_event(case_id)),
        ]
    )
    assert [indexer.process(r) for r in records] == [(), ()]
    assert search.get(CASES, case_id) is None, "nothing is written before the flush"
    indexer.flush()
    case = search.get(CASES, case_id)
    assert case is not None and case["message_count"] == 2
    assert search.get(MESSAGES, f"{case_id}-m1") is not None
    escalation = search.get(ESCALATIONS, f"esc-{case_id}")
    assert escalation is not None and escalation["case_id"] == case_id
    assert len(indexer.pending) == 0


def test_an_older_snapshot_never_rolls_the_index_back(
    log: MemoryLog, search: EmbeddedSearchIndex, indexer: IndexingProcessor
) -> None:
    case_id = case_in(log, 0)
    newer, older = log.append(
        [
            Emit(Topic.CASES, case_event(case_id, 3, "resolved")),
            Emit(Topic.CASES, case_event(case_id, 2)),
        ]
    )
    indexer.process(newer)
    indexer.process(older)
    indexer.flush()
    indexer.process(older)
    indexer.flush()
    case = search.get(CASES, case_id)
    assert case is not None and (case["version"], case["status"]) == (3, "resolved")


def test_a_revoked_partition_s_pending_documents_are_dropped(
    log: MemoryLog, search: EmbeddedSearchIndex, indexer: IndexingProcessor
) -> None:
    kept, moved = case_in(log, 0), case_in(log, 2)
    for record in log.append(
        [
            Emit(Topic.CASES, case_event(kept, 1)),
            Emit(Topic.CASES, case_event(moved, 1)),
            Emit(Topic.ESCALATIONS, escalation_event(moved)),
        ]
    ):
        indexer.process(record)
    assert indexer.pending.partitions == {
        TopicPartition(Topic.CASES, 0),
        TopicPartition(Topic.CASES, 2),
        TopicPartition(Topic.ESCALATIONS, 2),
    }
    indexer.revoked(
        frozenset({TopicPartition(Topic.CASES, 2), TopicPartition(Topic.ESCALATIONS, 2)})
    )
    indexer.flush()
    assert search.get(CASES, kept) is not None
    assert search.get(CASES, moved) is None
    assert search.get(MESSAGES, f"{moved}-m0") is None
    assert search.get(ESCALATIONS, f"esc-{moved}") is None


def test_a_failed_flush_surfaces_and_discard_drops_what_was_pending(
    log: MemoryLog, tmp_path: Path
) -> None:
    search = EmbeddedSearchIndex(tmp_path)
    processor = IndexingProcessor(search)  # not prepared: the indices do not exist
    processor.process(log.record(Emit(Topic.CASES, case_event(case_in(log, 1), 1))))
    with pytest.raises(SearchError):
        processor.flush()
    processor.process(log.record(Emit(Topic.CASES, case_event(case_in(log, 1), 2))))
    processor.discard()
    assert len(processor.pending) == 0
