"""The indexer consumer-loop plug-in: case and escalation events in, search documents out.

Documents collect per source partition during a batch and go out as one bulk upsert per
index in `flush()`, before the loop commits; if the bulk fails, the loop calls `discard`
and reads the batch again. A revoked partition's pending documents are dropped: its
offsets are not committed, so the new owner indexes those records itself. The indexer
emits nothing on the bus.
"""

from __future__ import annotations

from collections.abc import Sequence

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.search import SearchIndex
from socialcare.core.search.indices import SCHEMAS
from socialcare.indexer.domain import PendingDocuments, case_documents, escalation_document
from socialcare.v1 import case_pb2, escalation_pb2

GROUP = "indexer"


class IndexingProcessor(TypedProcessor):
    def __init__(self, search: SearchIndex) -> None:
        super().__init__()
        self._search = search
        self.pending = PendingDocuments()
        self.on(Topic.CASES, case_pb2.CaseEvent, self._on_case)
        self.on(Topic.ESCALATIONS, escalation_pb2.EscalationEvent, self._on_escalation)

    def prepare(self) -> None:
        """Create the indices (or widen their schemas); a `SearchError` is retried."""
        for name, schema in SCHEMAS.items():
            self._search.ensure_index(name, schema)

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        self.pending.drop(partitions)

    def flush(self) -> None:
        for index, documents in self.pending.take().items():
            self._search.upsert(index, documents)

    def discard(self) -> None:
        self.pending.clear()

    def _on_case(self, event: case_pb2.CaseEvent, record: Record) -> Sequence[Emit]:
        self.pending.add(record.topic_partition, case_documents(event.case))
        return ()

    def _on_escalation(
        self, event: escalation_pb2.EscalationEvent, record: Record
    ) -> Sequence[Emit]:
        self.pending.add(record.topic_partition, [escalation_document(event.escalation)])
        return ()
