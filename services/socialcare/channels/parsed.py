"""What a connector makes of one webhook body: canonical messages, reply deliveries, and
what it skipped.

A platform batches many changes into one webhook (Meta's `entry[].changes[]`, X's
`tweet_create_events[]`), and not all of them are customer messages (a like, an edit, our
own reply echoed back). Parsers keep the messages and delivery statuses, and say in
`skipped` why the rest was left out, so an operator reading the audit log sees it was
deliberate. A body that is not what the platform documents raises `PayloadError` naming
the field (answered 422), never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from socialcare.ingestion.models import MessageCreate
from socialcare.v1 import delivery_pb2


class PayloadError(ValueError):
    """The body does not have the platform's documented shape; `field` is a dotted path
    into it (`entry.0.changes.1.value.from.id`)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass
class ParsedWebhook:
    messages: list[MessageCreate] = field(default_factory=list)
    deliveries: list[delivery_pb2.ReplyDelivery] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def extend(self, other: ParsedWebhook) -> None:
        self.messages.extend(other.messages)
        self.deliveries.extend(other.deliveries)
        self.skipped.extend(other.skipped)
