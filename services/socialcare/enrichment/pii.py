"""The personal data in a message's text, as `EnrichedMessage.pii`: e-mail addresses,
phone numbers, IBANs and card numbers (`core.pii.find`), with their spans.

Enrichment marks the spans and changes nothing: the event keeps the customer's words (the
agent answers them); whoever stores the text where it should not be read (search, logs)
redacts it by the brand's policy (`core.domain.pii_policy`). Offsets are Unicode code
points, as Python indexes a `str`, so an emoji before an address counts as one.

Most messages hold neither a digit nor an "@": `find` returns at once for those, so the
common case costs one scan of the text in C.
"""

from __future__ import annotations

from socialcare.core.pii import find
from socialcare.v1 import message_pb2


def pii_matches(text: str) -> list[message_pb2.PiiMatch]:
    """The personal data in `text`, in order and not overlapping."""
    return [
        message_pb2.PiiMatch(kind=match.kind, start=match.start, end=match.end)
        for match in find(text)
    ]
