"""A search store refusing a document is the record's fault, not an outage.

Real `ConsumerLoop`s on the embedded bus. The indexer's batch goes to a store that refuses
chosen documents as Elasticsearch refuses a value of the wrong type for its mapped field
(`DocumentRejectedError`, the rest of the bulk written: the search contract, checked on
both backends in tests/contract): the record that produced a refused document goes to the
DLQ once, with the store's reason; the other records of the batch are indexed and
committed (a second member of the group finds nothing left to do); an outage is still
retried until the store is back, and nothing is dead-lettered for it. A
`DocumentRejectedError` raised by `process` (a processor that writes per record) is
dead-lettered the same way, here with the embedded store's own type check.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import pytest

from socialcare.core.bus import Record
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.consumer_loop import RecordsRejectedError, TypedProcessor
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import publish
from socialcare.core.search import (
    DocumentRejectedError,
    FieldKind,
    IndexedDocument,
    IndexSchema,
    SearchError,
    SearchIndex,
)
from socialcare.core.search.embedded import EmbeddedSearchIndex
from socialcare.core.search.indices import CASES, MESSAGES
from socialcare.indexer.processor import IndexingProcessor
from socialcare.v1 import case_pb2
from socialcare.v1.message_pb2 import SocialMessage
from tests.unit.indexer.test_indexer_processor import case_event
from tests.unit.loop_support import laid_out_bus, loop_thread, wait_until

DEADLINE_S = 15.0
CASES_TOPIC = Topic.CASES.value
CASES_DLQ = Topic.CASES.dlq
REASON = "document_parsing_exception: failed to parse field [sla_due_at] of type [date]"


class RefusingSearch(EmbeddedSearchIndex):
    """The embedded store, refusing the documents in `refuse` the way the contract says a
    store refuses a document (the others written, then `DocumentRejectedError`), after
    `outages` bulk writes that fail as a store that is down does (plain `SearchError`)."""

    def __init__(self, directory: Path, refuse: Collection[str] = (), outages: int = 0) -> None:
        super().__init__(directory)
        self.refuse = set(refuse)
        self.outages = outages
        self.upserts = 0

    def upsert(self, index: str, documents: Sequence[IndexedDocument]) -> None:
        self.upserts += 1
        if self.outages:
            self.outages -= 1
            raise SearchError("Elasticsearch at http://127.0.0.1:9 is unreachable (test)")
        refused = {d.id: REASON for d in documents if d.id in self.refuse}
        super().upsert(index, [d for d in documents if d.id not in refused])
        if refused:
            raise DocumentRejectedError(index, refused)


class CountingIndexer(IndexingProcessor):
    """The indexer, counting the records it is given (a redelivery shows)."""

    def __init__(self, search: SearchIndex) -> None:
        super().__init__(search)
        self.seen: list[tuple[int, int]] = []

    def process(self, record: Record) -> Sequence[Emit]:
        self.seen.append((record.partition, record.offset))
        return super().process(record)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    opened = laid_out_bus(tmp_path / "bus", 1)
    yield opened
    opened.close()


def publish_cases(bus: EmbeddedBus, *events: case_pb2.CaseEvent) -> None:
    producer = bus.producer("test")
    for event in events:
        publish(
            producer,
            CASES_TOPIC,
            event,
            key=event.case.id,
            event_id=event.event_id,
            source="test",
        )
    producer.flush()
    producer.close()


def dead_letters(bus: EmbeddedBus, topic: str = CASES_DLQ) -> list[Record]:
    return list(bus.replay(topic))


def test_only_the_record_of_a_refused_document_is_dead_lettered_and_the_batch_commits(
    bus: EmbeddedBus, tmp_path: Path
) -> None:
    # c2's case document and one of its message documents are refused; everything else
    # of the batch (c1, c3, c2's other message) is written.
    publish_cases(bus, case_event("c1", 1), case_event("c2", 2), case_event("c3", 1))
    search = RefusingSearch(tmp_path / "search", refuse={"c2", "c2-m1"})
    indexer = CountingIndexer(search)
    indexer.prepare()  # the indices exist before the test looks (the loop prepares again)
    try:
        with loop_thread(bus, indexer, "indexer-test") as thread:
            wait_until(
                lambda: search.get(CASES, "c3") is not None and len(dead_letters(bus)) > 0,
                DEADLINE_S,
                thread,
            )
            # A moment more: a loop that retried the batch would dead-letter c2 again.
            wait_until(lambda: search.upserts > 20, 0.5, thread)
        assert search.get(CASES, "c1") is not None
        assert search.get(CASES, "c3") is not None
        assert search.get(CASES, "c2") is None
        assert search.get(MESSAGES, "c2-m0") is not None, "the record's other documents stay"
        assert search.get(MESSAGES, "c2-m1") is None

        [letter] = dead_letters(bus)
        assert letter.key == b"c2"
        assert letter.header("dlq-original-topic") == CASES_TOPIC.encode()
        assert letter.header("dlq-original-offset") == b"1"
        assert letter.header("dlq-consumer-group") == b"indexer-test"
        reason = (letter.header("dlq-reason") or b"").decode()
        assert f"{CASES} document 'c2' refused by the search store: {REASON}" in reason
        assert f"{MESSAGES} document 'c2-m1' refused by the search store" in reason
        assert sorted(indexer.seen) == [(0, 0), (0, 1), (0, 2)], "each record once"

        # Committed past all three: another member of the group has nothing to redo.
        again = CountingIndexer(EmbeddedSearchIndex(tmp_path / "search"))
        publish_cases(bus, case_event("c4", 1))
        with loop_thread(bus, again, "indexer-test") as thread:
            wait_until(lambda: len(again.seen) > 0, DEADLINE_S, thread)
            wait_until(lambda: search.get(CASES, "c4") is not None, DEADLINE_S, thread)
        assert again.seen == [(0, 3)]
        assert len(dead_letters(bus)) == 1
    finally:
        search.close()


def test_an_outage_is_still_retried_and_nothing_is_dead_lettered(
    bus: EmbeddedBus, tmp_path: Path
) -> None:
    publish_cases(bus, case_event("c1", 1), case_event("c2", 1))
    search = RefusingSearch(tmp_path / "search", outages=3)
    indexer = IndexingProcessor(search)
    indexer.prepare()
    try:
        with loop_thread(bus, indexer, "indexer-test") as thread:
            wait_until(
                lambda: search.get(CASES, "c1") is not None and search.get(CASES, "c2") is not None,
                DEADLINE_S,
                thread,
            )
        assert search.outages == 0 and search.upserts > 3
        assert dead_letters(bus) == []
    finally:
        search.close()


class PerRecordWriter(TypedProcessor):
    """Writes each message at once, in `process`, into an index whose `priority` is a
    NUMBER: a message whose text is not a number is refused by the embedded store itself."""

    INDEX = "notes"

    def __init__(self, search: EmbeddedSearchIndex) -> None:
        super().__init__()
        self.search = search
        self.on(Topic.MESSAGES_RAW, SocialMessage, self._on_message)

    def prepare(self) -> None:
        self.search.ensure_index(self.INDEX, IndexSchema({"priority": FieldKind.NUMBER}))

    def _on_message(self, message: SocialMessage, record: Record) -> Sequence[Emit]:
        document = IndexedDocument(message.message_id, {"priority": message.text})
        self.search.upsert(self.INDEX, [document])
        return ()


def test_a_refusal_raised_by_process_dead_letters_that_record(
    bus: EmbeddedBus, tmp_path: Path
) -> None:
    raw = Topic.MESSAGES_RAW.value
    producer = bus.producer("test")
    for n, text in enumerate(["1", "hoog", "3"]):
        message = SocialMessage(message_id=f"m{n}", text=text)
        publish(producer, raw, message, key="k", event_id=f"e{n}", source="test")
    producer.flush()
    producer.close()
    search = EmbeddedSearchIndex(tmp_path / "search")
    writer = PerRecordWriter(search)
    writer.prepare()
    try:
        with loop_thread(bus, writer, "writer-test") as thread:
            wait_until(lambda: search.get("notes", "m2") is not None, DEADLINE_S, thread)
        assert search.get("notes", "m0") == {"priority": "1"}
        assert search.get("notes", "m1") is None
        [letter] = dead_letters(bus, Topic.MESSAGES_RAW.dlq)
        assert letter.header("event-id") == b"e1"
        reason = (letter.header("dlq-reason") or b"").decode()
        assert reason.startswith("refused by the search store: document 'm1'")
        assert "hoog" in reason
    finally:
        search.close()


def test_a_refused_document_of_no_known_record_is_left_out() -> None:
    first = Record(CASES_TOPIC, 0, 7, b"c1", b"", ())
    error = DocumentRejectedError(CASES, {"c1": "too big", "orphan": "bad type"})
    rejected = RecordsRejectedError.of_documents(error, {"c1": first})
    assert [(r.offset, why) for r, why in rejected.rejected] == [
        (7, f"{CASES} document 'c1' refused by the search store: too big")
    ]
