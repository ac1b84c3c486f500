"""The search indices the platform keeps, with their schemas: the indexer writes them,
the gateway reads them. A projection of the topics, rebuildable at any time."""

from __future__ import annotations

from socialcare.core.search.base import FieldKind, IndexSchema

CASES = "cases"
MESSAGES = "messages"
ESCALATIONS = "escalations"

K = FieldKind.KEYWORD

SCHEMAS: dict[str, IndexSchema] = {
    CASES: IndexSchema(
        {
            "id": K,
            "status": K,
            "language": K,
            "channel": K,
            "queue": K,
            "assignee": K,
            "priority": K,
            "sentiment_label": K,
            "sla_state": K,
            "customer_handle": K,
            "customer_id": K,
            "brand": K,
            # The kinds of personal data found (email, phone, iban, card), kept or redacted.
            "pii_kinds": K,
            "opened_at": FieldKind.DATE,
            "updated_at": FieldKind.DATE,
            "sla_due_at": FieldKind.DATE,
            "sentiment_score": FieldKind.NUMBER,
            "text": FieldKind.TEXT,
            "customer_name": FieldKind.TEXT,
        }
    ),
    MESSAGES: IndexSchema(
        {
            "id": K,
            "case_id": K,
            "direction": K,
            "language": K,
            "channel": K,
            "queue": K,
            "author": K,
            "sentiment_label": K,
            # The case's brand (its configured name): retention deletes by brand and age.
            "brand": K,
            # The taxonomy names of the questions an inbound message asked (the case's
            # intents from it): the least-asked-questions report counts them.
            "intents": K,
            "pii_kinds": K,
            "created_at": FieldKind.DATE,
            "text": FieldKind.TEXT,
        }
    ),
    ESCALATIONS: IndexSchema(
        {
            "id": K,
            "case_id": K,
            "trigger": K,
            "tier": K,
            "language": K,
            "queue": K,
            "status": K,
            "brand": K,
            "incident_id": K,
            "raised_at": FieldKind.DATE,
            "reason": FieldKind.TEXT,
        }
    ),
}
