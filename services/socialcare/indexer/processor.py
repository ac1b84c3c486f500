"""The indexer consumer-loop plug-in: decode inputs, apply the domain, emit effects."""

from __future__ import annotations

from socialcare.core.bus import Record
from socialcare.core.consumer_loop import RecordProcessor
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode
from socialcare.core.search import IndexedDocument, SearchIndex
from socialcare.core.search.indices import SCHEMAS
from socialcare.indexer.domain import case_documents, escalation_document
from socialcare.v1 import case_pb2, escalation_pb2

GROUP = "indexer"


class IndexingProcessor(RecordProcessor):
    def __init__(self, search: SearchIndex) -> None:
        self._search = search
        self._pending: dict[str, dict[str, IndexedDocument]] = {}

    def prepare(self) -> None:
        for name, schema in SCHEMAS.items():
            self._search.ensure_index(name, schema)

    def process(self, record: Record) -> None:
        if record.topic == Topic.CASES:
            documents = case_documents(decode(record, case_pb2.CaseEvent).case)
        elif record.topic == Topic.ESCALATIONS:
            event = decode(record, escalation_pb2.EscalationEvent)
            documents = [escalation_document(event.escalation)]
        else:
            return
        for index, document in documents:
            bucket = self._pending.setdefault(index, {})
            known = bucket.get(document.id)
            if known is None or (document.version or 0) >= (known.version or 0):
                bucket[document.id] = document

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for index, documents in pending.items():
            self._search.upsert(index, list(documents.values()))

    def discard(self) -> None:
        self._pending = {}
