"""The personal moments a customer mentioned (scenario 4: a birth, a wedding, a nephew from
Australia who wants to see a match), kept on their case for the agent.

One per kind, newest last: a new mention of a kind replaces the older one and moves to the
end, so the case view reads "what is going on in their life" in the order they told it,
with the latest words for each. Enrichment already bounds the quotes and the kinds; the
case bounds them again because it outlives many messages and takes whatever the wire
carries (`MAX_CASE_MOMENTS` kinds, the oldest dropped first; `MAX_QUOTE_CHARS` a quote).
When one customer's cases merge, the survivor keeps its own words for a kind and takes the
kinds only the merged-away case heard, before its own.
"""

from __future__ import annotations

from socialcare.v1 import case_pb2, message_pb2

__all__ = ["MAX_CASE_MOMENTS", "MAX_QUOTE_CHARS", "add_moments", "take_moments"]

# As many as enrichment has kinds (enrichment/moment_phrases.py KINDS).
MAX_CASE_MOMENTS = 11
MAX_QUOTE_CHARS = 200


def add_moments(case: case_pb2.Case, enriched: message_pb2.EnrichedMessage) -> None:
    """The message's moments onto `case` (in place): one per kind, the newest quote and
    last; a message without moments leaves the case's as they are."""
    if not enriched.moments:
        return
    kept = {m.kind: m for m in case.moments}
    for moment in enriched.moments:
        if not moment.kind:
            continue
        kept.pop(moment.kind, None)
        kept[moment.kind] = message_pb2.SpecialMoment(
            kind=moment.kind, quote=moment.quote[:MAX_QUOTE_CHARS]
        )
    del case.moments[:]
    case.moments.extend(list(kept.values())[-MAX_CASE_MOMENTS:])


def take_moments(case: case_pb2.Case, source: case_pb2.Case) -> None:
    """The moments of `source` (a case merged into `case`) that `case` has no kind of,
    onto `case` (in place), before its own: what the survivor heard is the latest it
    knows of."""
    have = {m.kind for m in case.moments}
    taken = [
        message_pb2.SpecialMoment(kind=m.kind, quote=m.quote[:MAX_QUOTE_CHARS])
        for m in source.moments
        if m.kind and m.kind not in have
    ]
    if not taken:
        return
    merged = [*taken, *case.moments][-MAX_CASE_MOMENTS:]
    del case.moments[:]
    case.moments.extend(merged)
