"""Who may send which messages in (ADR 0007): the `ingest` permission and the brand.

An API key is scoped to one brand: it may ingest messages for that brand only. A message
that names another brand is refused (403 `forbidden` naming `brand`; per item in a batch or
a stream), and a message that names none is taken as addressed to the key's brand. A
principal of every brand (an admin) sends what it likes.
"""

from __future__ import annotations

from socialcare.core.auth import Principal
from socialcare.core.errors import ForbiddenError
from socialcare.ingestion.models import MessageCreate


def within_brands(principal: Principal, message: MessageCreate) -> MessageCreate:
    """`message` as `principal` may send it: unchanged, or with the principal's one brand
    when it names none. ForbiddenError (field `brand`) for a brand not theirs."""
    brands = principal.brands
    if brands is None:
        return message
    if message.brand is None:
        if len(brands) == 1:
            return message.model_copy(update={"brand": next(iter(brands))})
        raise ForbiddenError(
            "name the message's brand: this credential may ingest for "
            f"{', '.join(sorted(brands)) or 'no brand'} only",
            field="brand",
        )
    if message.brand not in brands:
        raise ForbiddenError(
            f"this credential may not ingest messages for brand {message.brand!r}",
            field="brand",
        )
    return message
