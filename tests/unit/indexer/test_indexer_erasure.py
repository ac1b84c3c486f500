"""The indexer forgets an erased case on its care.cases tombstone (issue 12) and deletes
message documents past their brand's retention, on the embedded search store."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from socialcare.core.bus import TopicPartition
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone
from socialcare.core.search import SearchError, SearchQuery
from socialcare.core.search.embedded import EmbeddedSearchIndex
from socialcare.core.search.indices import CASES, ESCALATIONS, MESSAGES
from socialcare.indexer.processor import IndexingProcessor
from socialcare.v1 import audit_pb2
from tests.unit.factories import T0
from tests.unit.indexer.test_indexer_processor import case_event, case_in, escalation_event
from tests.unit.memory_log import MemoryLog

PARTITIONS = 3
CARE = CareConfig.model_validate(
    {
        "sla_policies": [{"name": "all-1h", "languages": ["*"], "first_response": "1h"}],
        "queues": [{"name": "care", "languages": ["*"]}],
        "agents": [{"id": "sanne", "name": "Sanne", "languages": ["nl"], "capacity": 5}],
        "brands": [{"name": "acme", "retention_days": 30}, {"name": "globex"}],
    }
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def search(tmp_path: Path) -> EmbeddedSearchIndex:
    return EmbeddedSearchIndex(tmp_path)


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog(PARTITIONS)


def indexer_for(search: EmbeddedSearchIndex, clock: Clock) -> IndexingProcessor:
    processor = IndexingProcessor(search, care=CARE, clock=clock)
    processor.prepare()
    return processor


def index(log: MemoryLog, processor: IndexingProcessor, *effects: Emit) -> None:
    for record in log.append(list(effects)):
        processor.process(record)
    processor.flush()


def message_ids(search: EmbeddedSearchIndex, **filters: str) -> set[str]:
    result = search.search(MESSAGES, SearchQuery(filters=filters, limit=100))
    return {hit.id for hit in result.hits}


def test_a_case_tombstone_deletes_its_documents_and_reports_the_step(
    log: MemoryLog, search: EmbeddedSearchIndex
) -> None:
    clock = Clock(T0 + timedelta(hours=1))
    indexer = indexer_for(search, clock)
    erased, kept = case_in(log, 0), case_in(log, 1)
    index(
        log,
        indexer,
        Emit(Topic.CASES, case_event(erased, 3)),
        Emit(Topic.ESCALATIONS, escalation_event(erased)),
        Emit(Topic.CASES, case_event(kept, 2)),
        Emit(Topic.ESCALATIONS, escalation_event(kept)),
    )
    assert message_ids(search, case_id=erased) == {f"{erased}-m{n}" for n in range(3)}

    [record] = log.append([Tombstone.of(Topic.CASES, erased, erasure_id="er-1")])
    [effect] = indexer.process(record)

    assert search.get(CASES, erased) is None
    assert message_ids(search, case_id=erased) == set()
    assert search.get(ESCALATIONS, f"esc-{erased}") is None
    assert search.get(CASES, kept) is not None
    assert message_ids(search, case_id=kept) == {f"{kept}-m0", f"{kept}-m1"}
    assert search.get(ESCALATIONS, f"esc-{kept}") is not None
    assert isinstance(effect.message, audit_pb2.PrivacyEvent)
    step = effect.message.step
    assert (step.erasure_id, step.store, step.service) == ("er-1", "search", "indexer")
    assert (step.items, list(step.case_ids)) == (1 + 3 + 1, [erased])
    # Again (a redelivery): nothing left, still reported, under the same event id.
    [again] = indexer.process(record)
    assert isinstance(again.message, audit_pb2.PrivacyEvent)
    assert again.message.step.items == 0
    assert again.event_id == effect.event_id


def test_pending_documents_of_an_erased_case_are_never_written(
    log: MemoryLog, search: EmbeddedSearchIndex
) -> None:
    indexer = indexer_for(search, Clock(T0))
    erased, kept = case_in(log, 2), case_in(log, 0)
    records = log.append(
        [
            Emit(Topic.CASES, case_event(erased, 2)),
            Emit(Topic.ESCALATIONS, escalation_event(erased)),
            Emit(Topic.CASES, case_event(kept, 1)),
            Tombstone.of(Topic.CASES, erased, erasure_id="er-2"),
        ]
    )
    effects = [effect for record in records for effect in indexer.process(record)]
    indexer.flush()  # after the tombstone, in the same batch
    assert search.get(CASES, erased) is None
    assert message_ids(search, case_id=erased) == set()
    assert search.get(ESCALATIONS, f"esc-{erased}") is None
    assert search.get(CASES, kept) is not None
    [step] = effects
    assert isinstance(step.message, audit_pb2.PrivacyEvent)
    assert step.message.step.items == 0  # nothing of it had reached the index


def test_a_tombstone_without_an_erasure_deletes_but_reports_nothing(
    log: MemoryLog, search: EmbeddedSearchIndex
) -> None:
    indexer = indexer_for(search, Clock(T0))
    case_id = case_in(log, 1)
    index(log, indexer, Emit(Topic.CASES, case_event(case_id, 1)))
    [record] = log.append([Tombstone.of(Topic.CASES, case_id)])
    assert list(indexer.process(record)) == []
    assert search.get(CASES, case_id) is None


def test_a_failed_delete_raises_for_the_loop_to_retry(log: MemoryLog, tmp_path: Path) -> None:
    search = EmbeddedSearchIndex(tmp_path)
    indexer = IndexingProcessor(search, care=CARE)  # not prepared: the indices do not exist
    [record] = log.append([Tombstone.of(Topic.CASES, "case-9", erasure_id="er-3")])
    with pytest.raises(SearchError):
        indexer.process(record)


def test_retention_deletes_a_brands_old_message_documents(
    log: MemoryLog, search: EmbeddedSearchIndex
) -> None:
    clock = Clock(T0)
    indexer = indexer_for(search, clock)
    old, recent, other = case_in(log, 0), case_in(log, 1), case_in(log, 2)
    old_event, recent_event, other_event = (
        case_event(old, 3),
        case_event(recent, 2),
        case_event(other, 2),
    )
    old_event.case.brand = "acme"
    recent_event.case.brand = ""  # no brand: the first configured one, acme
    for n, message in enumerate(recent_event.case.messages):
        message.created_at.FromDatetime(T0 + timedelta(days=20, minutes=n))
    other_event.case.brand = "globex"  # keeps everything
    index(
        log,
        indexer,
        Emit(Topic.CASES, old_event),
        Emit(Topic.CASES, recent_event),
        Emit(Topic.CASES, other_event),
    )
    assert message_ids(search, brand="acme") == {
        *(f"{old}-m{n}" for n in range(3)),
        *(f"{recent}-m{n}" for n in range(2)),
    }

    # Only the member that owns care.cases[0] sweeps.
    clock.now = T0 + timedelta(days=31)
    indexer.tick()
    assert len(message_ids(search, brand="acme")) == 5
    indexer.assigned(frozenset({TopicPartition(Topic.CASES.value, 0)}))
    assert indexer.tick() == ()
    assert message_ids(search, brand="acme") == {f"{recent}-m0", f"{recent}-m1"}
    assert message_ids(search, brand="globex") == {f"{other}-m0", f"{other}-m1"}
    assert search.get(CASES, old) is not None  # the case is routing's to erase

    # Within the interval nothing runs; after it, what is past the retention goes.
    late = case_in(log, 0)
    late_event = case_event(late if late != old else f"{late}-late", 1)
    late_event.case.brand = "acme"  # its one message was written at T0: long past
    index(log, indexer, Emit(Topic.CASES, late_event))
    late_message = f"{late_event.case.id}-m0"
    clock.now = T0 + timedelta(days=31, minutes=30)
    indexer.tick()
    assert late_message in message_ids(search, brand="acme")
    clock.now = T0 + timedelta(days=31, hours=1)
    indexer.tick()
    assert message_ids(search, brand="acme") == {f"{recent}-m0", f"{recent}-m1"}
    assert message_ids(search, brand="globex") == {f"{other}-m0", f"{other}-m1"}


def test_without_a_care_config_nothing_is_swept(
    log: MemoryLog, search: EmbeddedSearchIndex
) -> None:
    indexer = IndexingProcessor(search)
    indexer.prepare()
    indexer.assigned(frozenset({TopicPartition(Topic.CASES.value, 0)}))
    case_id = case_in(log, 0)
    index(log, indexer, Emit(Topic.CASES, case_event(case_id, 2)))
    assert indexer.sweep_messages(T0 + timedelta(days=3650)) == 0
    assert len(message_ids(search, case_id=case_id)) == 2
