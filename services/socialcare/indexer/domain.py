"""What the search projection stores: documents derived from case and escalation events.

Each case snapshot yields one case document and one document per message, versioned by
the case version, so replays and late duplicates never roll the index back. A message
document carries its case's brand (the configured brand's name), so a brand's retention can
delete its messages by age, and the intents it asked (the least-asked-questions report).

Documents wait in `PendingDocuments` until the next flush, grouped by the partition whose
record produced them: when a partition moves to another member, its documents are dropped
with its uncommitted offsets, and the new owner indexes those records again (harmless: the
upserts are versioned).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.domain.cases import case_json, case_message_json, channel_name, escalation_json
from socialcare.core.search import IndexedDocument
from socialcare.core.search.indices import CASES, ESCALATIONS, MESSAGES
from socialcare.v1 import case_pb2, escalation_pb2


def case_documents(
    case: case_pb2.Case, *, brand: str | None = None
) -> list[tuple[str, IndexedDocument]]:
    """The case's documents; `brand`: the configured name of its brand (default: the case's
    own `brand` field, None when empty)."""
    view = case_json(case, with_messages=False)
    view.update(
        sentiment_label=view["sentiment"]["label"],
        sentiment_score=view["sentiment"]["score"],
        sla_state=view["sla"]["state"],
        sla_due_at=view["sla"]["due_at"],
        customer_handle=case.customer.handle,
        # The customer's id is never redacted (a handle may be an e-mail address that
        # `Brand.pii` blanks): look a customer's cases up by it.
        customer_id=case.customer.id,
        customer_name=case.customer.name,
        text="\n".join(m.text for m in case.messages),
    )
    documents = [(CASES, IndexedDocument(case.id, view, case.version))]
    for message in case.messages:
        body = case_message_json(message)
        body.update(
            id=message.message_id,
            case_id=case.id,
            channel=channel_name(case.channel),
            queue=case.queue,
            language=message.language or case.language,
            sentiment_label=(body["sentiment"] or {}).get("label"),
            brand=brand if brand is not None else case.brand or None,
            intents=message_intents(case, message),
        )
        documents.append((MESSAGES, IndexedDocument(message.message_id, body, case.version)))
    return documents


def message_intents(case: case_pb2.Case, message: case_pb2.CaseMessage) -> list[str]:
    """The intents the message asked (the case's, by `message_id`), once each; none for
    a reply or a note. A question asked again while the case still has it open is not on
    the case twice (routing), so it counts once per case until answered."""
    if message.direction in (case_pb2.DIRECTION_OUTBOUND, case_pb2.DIRECTION_INTERNAL):
        return []
    return list(dict.fromkeys(i.name for i in case.intents if i.message_id == message.message_id))


def escalation_document(escalation: escalation_pb2.Escalation) -> tuple[str, IndexedDocument]:
    # Each event carries the whole escalation with a higher revision: the newest wins, and
    # a revision redelivered late never overwrites a newer one.
    return ESCALATIONS, IndexedDocument(
        escalation.id, escalation_json(escalation), escalation.revision or None
    )


@dataclass(frozen=True, slots=True)
class Pending:
    """A document waiting for the flush, and the record it came from (the one the loop
    dead-letters if the store refuses the document)."""

    document: IndexedDocument
    source: Record | None = None


@dataclass
class PendingDocuments:
    """Documents not yet written, per source partition, the newest version of each id."""

    _by_partition: dict[TopicPartition, dict[str, dict[str, Pending]]] = field(default_factory=dict)

    def add(
        self,
        partition: TopicPartition,
        documents: Iterable[tuple[str, IndexedDocument]],
        source: Record | None = None,
    ) -> None:
        """`source`: the record that produced them (kept with the newest version of each)."""
        indices = self._by_partition.setdefault(partition, {})
        for index, document in documents:
            _keep_newest(indices.setdefault(index, {}), Pending(document, source))

    def drop(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget what these partitions produced (they went to another member)."""
        for partition in partitions:
            self._by_partition.pop(partition, None)

    def take(self) -> dict[str, list[IndexedDocument]]:
        """Everything pending, per index (newest version of each id), and start empty."""
        return {
            index: [p.document for p in pending] for index, pending in self.take_pending().items()
        }

    def take_pending(self) -> dict[str, list[Pending]]:
        """As `take`, each document with the record it came from."""
        merged: dict[str, dict[str, Pending]] = {}
        for indices in self._by_partition.values():
            for index, documents in indices.items():
                bucket = merged.setdefault(index, {})
                for pending in documents.values():
                    _keep_newest(bucket, pending)
        self._by_partition = {}
        return {index: list(documents.values()) for index, documents in merged.items()}

    def clear(self) -> None:
        self._by_partition = {}

    def forget_case(self, case_id: str) -> int:
        """Drop the pending documents of an erased case (the case, its messages and its
        escalations); returns how many went."""
        dropped = 0
        for indices in self._by_partition.values():
            for index, documents in indices.items():
                gone = [
                    doc_id
                    for doc_id, pending in documents.items()
                    if (index == CASES and doc_id == case_id)
                    or (
                        index in (MESSAGES, ESCALATIONS)
                        and pending.document.body.get("case_id") == case_id
                    )
                ]
                for doc_id in gone:
                    del documents[doc_id]
                dropped += len(gone)
        return dropped

    @property
    def partitions(self) -> frozenset[TopicPartition]:
        """The partitions with documents pending."""
        return frozenset(p for p, indices in self._by_partition.items() if indices)

    def __len__(self) -> int:
        return sum(
            len(documents)
            for indices in self._by_partition.values()
            for documents in indices.values()
        )


def _keep_newest(bucket: dict[str, Pending], pending: Pending) -> None:
    document = pending.document
    known = bucket.get(document.id)
    if known is None or (document.version or 0) >= (known.document.version or 0):
        bucket[document.id] = pending
