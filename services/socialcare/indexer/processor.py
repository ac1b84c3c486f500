"""The indexer consumer-loop plug-in: case and escalation events in, search documents out.

Documents collect per source partition during a batch and go out as one bulk upsert per
index in `flush()`, before the loop commits; if the bulk fails, the loop calls `discard`
and reads the batch again. A document the store refuses for what it holds is not a failure
of the bulk: its record is dead-lettered with the reason (`flush`), the rest committed.
A revoked partition's pending documents are dropped: its offsets are not committed, so the
new owner indexes those records itself.

Erasure (issue 12): a tombstone on care.cases (an erased case) deletes the case's document,
its message documents and its escalation documents at once (pending ones are dropped
first, so nothing of the case is written after), and, when the tombstone names its erasure
(`erasure-id` header), reports `ErasureStep(store="search")` for the case, also with 0
items. A delete that fails is a `SearchError`: the loop retries the record.

Retention: every `retention_interval`, the member that owns partition 0 of care.cases
deletes the message documents older than their brand's `retention_days` (by `created_at`).
Closed cases past the retention are erased by routing, whose tombstones bring them here.
Otherwise the indexer emits nothing on the bus.

Personal data: every document is redacted by its brand's PII policy before it is pending
(`indexer.redaction`: e-mail addresses, phone numbers, IBANs and card numbers become
`[email]`, ..., unless `Brand.pii.keep` lists the kind), and carries `pii_kinds`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.clock import Clock, utc_now
from socialcare.core.consumer_loop import RecordsRejectedError, TypedProcessor
from socialcare.core.domain import erasure
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import ERASURE_ID_HEADER, Emit
from socialcare.core.events import InvalidRecordError, header_text, key_text
from socialcare.core.search import DocumentRejectedError, IndexedDocument, SearchIndex
from socialcare.core.search.indices import CASES, ESCALATIONS, MESSAGES, SCHEMAS
from socialcare.core.search.schema import DocumentError, serialise_document
from socialcare.indexer.domain import PendingDocuments, case_documents, escalation_document
from socialcare.indexer.redaction import policy_of, redact_documents
from socialcare.v1 import case_pb2, escalation_pb2

log = logging.getLogger(__name__)

GROUP = "indexer"
SERVICE = "indexer"


class IndexingProcessor(TypedProcessor):
    def __init__(
        self,
        search: SearchIndex,
        *,
        care: CareConfig | None = None,
        clock: Clock = utc_now,
        retention_interval: timedelta = timedelta(hours=1),
    ) -> None:
        super().__init__()
        self._search = search
        self._care = care
        self._clock = clock
        self._retention_interval = retention_interval
        self._next_retention: datetime | None = None
        self._owned: set[TopicPartition] = set()
        self.pending = PendingDocuments()
        self.on(Topic.CASES, case_pb2.CaseEvent, self._on_case)
        self.on(Topic.ESCALATIONS, escalation_pb2.EscalationEvent, self._on_escalation)

    def prepare(self) -> None:
        """Create the indices (or widen their schemas); a `SearchError` is retried."""
        for name, schema in SCHEMAS.items():
            self._search.ensure_index(name, schema)

    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        self._owned |= partitions

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        self._owned -= partitions
        self.pending.drop(partitions)

    def flush(self) -> None:
        """One bulk upsert per index. Documents the store refuses for what they hold
        (`DocumentRejectedError`: e.g. a value of the wrong type for its mapped field,
        which the checks in `indexable` cannot see) are the records' fault: once every
        index is written, their records go to the loop as `RecordsRejectedError`, to be
        dead-lettered with the store's reason, instead of failing the batch forever."""
        rejected: list[tuple[Record, str]] = []
        for index, pending in self.pending.take_pending().items():
            try:
                self._search.upsert(index, [p.document for p in pending])
            except DocumentRejectedError as exc:
                sources = {p.document.id: p.source for p in pending if p.source is not None}
                rejected += RecordsRejectedError.of_documents(exc, sources).rejected
        if rejected:
            raise RecordsRejectedError(rejected)

    def discard(self) -> None:
        self.pending.clear()

    def tick(self) -> Sequence[Emit]:
        """The retention sweep of message documents, on one member (see the docstring)."""
        if self._care is None or TopicPartition(Topic.CASES.value, 0) not in self._owned:
            return ()
        now = self._clock()
        if self._next_retention is not None and now < self._next_retention:
            return ()
        self._next_retention = now + self._retention_interval
        self.sweep_messages(now)
        return ()

    def sweep_messages(self, now: datetime) -> int:
        """Delete the message documents older than their brand's retention; how many went."""
        if self._care is None:
            return 0
        deleted = 0
        for brand in self._care.effective_brands:
            if brand.retention_days is None:
                continue
            cutoff = erasure.retention_cutoff(now, brand.retention_days)
            gone = self._search.delete_where(
                MESSAGES,
                {"brand": brand.name},
                date_field="created_at",
                before=cutoff.isoformat(),
            )
            if gone:
                log.info(
                    "message documents past their brand's retention deleted",
                    extra={"brand": brand.name, "documents": gone, "before": cutoff.isoformat()},
                )
            deleted += gone
        return deleted

    def tombstone(self, record: Record) -> Sequence[Emit]:
        if record.topic != Topic.CASES.value:
            return ()  # care.escalations is not compacted: it has no tombstones
        case_id = key_text(record)
        if case_id is None:
            raise InvalidRecordError("a care.cases tombstone needs a UTF-8 key (the case id)")
        erasure_id = header_text(record, ERASURE_ID_HEADER)
        self.pending.forget_case(case_id)
        items = self._search.delete(CASES, [case_id])
        items += self._search.delete_where(MESSAGES, {"case_id": case_id})
        items += self._search.delete_where(ESCALATIONS, {"case_id": case_id})
        if erasure_id is None:
            return ()
        return [
            erasure.step(
                erasure_id,
                erasure.SEARCH,
                service=SERVICE,
                items=items,
                case_ids=[case_id],
                now=self._clock(),
                note=f"{items} document(s) of the case (case, messages, escalations) deleted",
            )
        ]

    def _on_case(self, event: case_pb2.CaseEvent, record: Record) -> Sequence[Emit]:
        brand = self._care.brand(event.case.brand).name if self._care is not None else None
        documents = case_documents(event.case, brand=brand)
        # Personal data redacted by the brand's policy before anything reaches search.
        documents = redact_documents(documents, policy_of(self._care, event.case.brand))
        self.pending.add(record.topic_partition, indexable(documents), record)
        return ()

    def _on_escalation(
        self, event: escalation_pb2.EscalationEvent, record: Record
    ) -> Sequence[Emit]:
        documents = [escalation_document(event.escalation)]
        documents = redact_documents(documents, policy_of(self._care, event.escalation.brand))
        self.pending.add(record.topic_partition, indexable(documents), record)
        return ()


def indexable(
    documents: Sequence[tuple[str, IndexedDocument]],
) -> Sequence[tuple[str, IndexedDocument]]:
    """`documents`, after the checks both search backends make on a document (its id, e.g.
    a case id that is empty or longer than 512 bytes, and its body as JSON).

    A document these checks refuse is refused by both stores anyway (`flush` would then
    dead-letter its record); refusing the record here (`InvalidRecordError`) does it before
    anything of it is pending, and names the check that failed. What only the store can
    see (a value of the wrong type for its mapped field) is left to `flush`."""
    for index, document in documents:
        try:
            serialise_document(document)
        except DocumentError as exc:
            raise InvalidRecordError(
                f"{index} document {str(document.id)[:80]!r} cannot be indexed: {exc}"
            ) from exc
    return documents
