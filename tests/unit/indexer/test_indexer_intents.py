"""Message documents carry the intents their message asked (the least-asked-questions
report counts them), searchable as a keyword with brand, language, channel and time."""

from __future__ import annotations

from pathlib import Path

from socialcare.core.clock import to_timestamp
from socialcare.core.search import CountQuery, SearchQuery
from socialcare.core.search.embedded import EmbeddedSearchIndex
from socialcare.core.search.indices import MESSAGES, SCHEMAS
from socialcare.indexer.domain import case_documents, message_intents
from socialcare.v1 import case_pb2, message_pb2
from tests.unit.factories import T0


def two_question_case() -> case_pb2.Case:
    case = case_pb2.Case(
        id="case-1",
        version=3,
        language="nl",
        brand="acme",
        channel=message_pb2.CHANNEL_X,
        queue="care-nl",
    )
    stamp = to_timestamp(T0)
    case.messages.add(
        message_id="m1",
        direction=case_pb2.DIRECTION_INBOUND,
        text="Waar blijft mijn pakket? En waarom is mijn rekening zo hoog?",
        created_at=stamp,
    )
    case.messages.add(
        message_id="r1",
        direction=case_pb2.DIRECTION_OUTBOUND,
        text="Ik kijk het na.",
        created_at=stamp,
    )
    case.messages.add(
        message_id="n1", direction=case_pb2.DIRECTION_INTERNAL, text="billing?", created_at=stamp
    )
    case.messages.add(
        message_id="m2", direction=case_pb2.DIRECTION_INBOUND, text="Dank je!", created_at=stamp
    )
    case.intents.add(name="delivery", message_id="m1")
    case.intents.add(name="billing", message_id="m1")
    # Answered, then asked again by the same message id (a replay): named once.
    case.intents.add(name="billing", message_id="m1", answered=True)
    # Intents of replies and notes never count, even if a record says so.
    case.intents.add(name="complaint", message_id="r1")
    case.intents.add(name="complaint", message_id="n1")
    return case


def test_each_inbound_message_names_its_own_intents_once() -> None:
    case = two_question_case()
    by_id = {m.message_id: message_intents(case, m) for m in case.messages}
    assert by_id == {"m1": ["delivery", "billing"], "r1": [], "n1": [], "m2": []}


def test_the_message_documents_are_counted_by_intent(tmp_path: Path) -> None:
    search = EmbeddedSearchIndex(tmp_path)
    try:
        search.ensure_index(MESSAGES, SCHEMAS[MESSAGES])
        documents = [doc for index, doc in case_documents(two_question_case()) if index == MESSAGES]
        search.upsert(MESSAGES, documents)
        first = search.get(MESSAGES, "m1")
        assert first is not None
        assert (first["intents"], first["brand"], first["language"], first["channel"]) == (
            ["delivery", "billing"],
            "acme",
            "nl",
            "x",
        )
        inbound = search.count(
            MESSAGES, CountQuery(by="intents", filters={"direction": "inbound", "brand": "acme"})
        )
        assert {b.key: b.count for b in inbound.buckets} == {"billing": 1, "delivery": 1, None: 1}
        assert inbound.total == 2
        found = search.search(MESSAGES, SearchQuery(filters={"intents": "billing"}))
        assert [hit.id for hit in found.hits] == ["m1"]
    finally:
        search.close()
