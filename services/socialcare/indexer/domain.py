"""What the search projection stores: documents derived from case and escalation events.

Each case snapshot yields one case document and one document per message, versioned by
the case version, so replays and late duplicates never roll the index back.
"""

from __future__ import annotations

from socialcare.core.domain.cases import case_json, case_message_json, channel_name, escalation_json
from socialcare.core.search import IndexedDocument
from socialcare.core.search.indices import CASES, ESCALATIONS, MESSAGES
from socialcare.v1 import case_pb2, escalation_pb2


def case_documents(case: case_pb2.Case) -> list[tuple[str, IndexedDocument]]:
    view = case_json(case, with_messages=False)
    view.update(
        sentiment_label=view["sentiment"]["label"],
        sentiment_score=view["sentiment"]["score"],
        sla_state=view["sla"]["state"],
        sla_due_at=view["sla"]["due_at"],
        customer_handle=case.customer.handle,
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
        )
        documents.append((MESSAGES, IndexedDocument(message.message_id, body, case.version)))
    return documents


def escalation_document(escalation: escalation_pb2.Escalation) -> tuple[str, IndexedDocument]:
    return ESCALATIONS, IndexedDocument(escalation.id, escalation_json(escalation))
