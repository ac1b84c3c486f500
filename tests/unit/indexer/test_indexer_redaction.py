"""What the indexer writes to search holds no personal data the brand's policy does not
keep: case and message text, the customer's handle and name, authors, intents' questions,
moments' quotes and escalation reasons are redacted; identifiers stay joinable; every
document says which kinds it held (`pii_kinds`), so such cases can still be found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.brands import Brand
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.pii_policy import PiiPolicy
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.search import SearchIndex, SearchQuery
from socialcare.core.search.embedded import EmbeddedSearchIndex
from socialcare.core.search.indices import CASES, ESCALATIONS, MESSAGES
from socialcare.indexer.processor import IndexingProcessor
from socialcare.indexer.redaction import redact_body
from socialcare.v1 import case_pb2, escalation_pb2, message_pb2
from tests.unit.factories import T0
from tests.unit.memory_log import MemoryLog

EMAIL = "jan.devries@example.nl"
PHONE = "+31 6 1234 5678"
CARD = "4111 1111 1111 1111"
IBAN = "NL91 ABNA 0417 1643 00"
QUESTION = f"Kunnen jullie mij terugbellen op {PHONE}?"


def care(keep: frozenset[str] = frozenset()) -> CareConfig:
    brand = Brand.model_validate({"name": "acme", "pii": {"keep": sorted(keep)}})
    return load_care_config().model_copy(update={"brands": [brand]})


def whatsapp_case() -> case_pb2.Case:
    stamp = to_timestamp(T0)
    case = case_pb2.Case(
        id="case-1",
        version=2,
        language="nl",
        brand="acme",
        channel=message_pb2.CHANNEL_WHATSAPP,
        queue="care-nl",
        conversation_key="whatsapp:author:31612345678",
        customer=message_pb2.Author(id="31612345678", handle=EMAIL, name=f"Jan ({PHONE})"),
        opened_at=stamp,
        updated_at=stamp,
    )
    case.messages.add(
        message_id="m1",
        direction=case_pb2.DIRECTION_INBOUND,
        author=EMAIL,
        text=f"😀 Mijn kaart {CARD} is dubbel belast, stort terug op {IBAN}. {QUESTION}",
        created_at=stamp,
    )
    case.messages.add(
        message_id="r1",
        direction=case_pb2.DIRECTION_OUTBOUND,
        author="agent-7",
        text=f"We mailen u op {EMAIL}.",
        created_at=stamp,
    )
    case.messages.add(
        message_id="m2",
        direction=case_pb2.DIRECTION_INBOUND,
        author="Jan",
        text="Dank je wel!",
        created_at=stamp,
    )
    case.intents.add(name="callback", question=QUESTION, message_id="m1")
    case.moments.add(kind="trip", quote=f"op reis, bel {PHONE}")
    case.identities.add(kind="email", value=EMAIL)
    return case


def escalation() -> escalation_pb2.Escalation:
    return escalation_pb2.Escalation(
        id="esc-1",
        case_id="case-1",
        brand="acme",
        reason=f"keyword 'advocaat' from {EMAIL}",
        raised_at=to_timestamp(T0),
    )


def index(search: SearchIndex, config: CareConfig) -> None:
    indexer = IndexingProcessor(search, care=config)
    indexer.prepare()
    log = MemoryLog(1)
    records = log.append(
        [
            Emit(Topic.CASES, case_pb2.CaseEvent(event_id="e1", case=whatsapp_case())),
            Emit(Topic.ESCALATIONS, escalation_pb2.EscalationEvent(escalation=escalation())),
        ]
    )
    for record in records:
        assert not indexer.process(record)
    indexer.flush()


def document(search: EmbeddedSearchIndex, index_name: str, doc_id: str) -> dict[str, Any]:
    [hit] = search.search(index_name, SearchQuery(filters={"id": doc_id})).hits
    return dict(hit.document)


def found(search: EmbeddedSearchIndex, index_name: str, **query: object) -> set[str]:
    return {hit.id for hit in search.search(index_name, SearchQuery(**query)).hits}  # type: ignore[arg-type]


@pytest.fixture
def search(tmp_path: Path) -> EmbeddedSearchIndex:
    return EmbeddedSearchIndex(tmp_path)


def test_by_default_everything_is_redacted(search: EmbeddedSearchIndex) -> None:
    index(search, care())
    case = document(search, CASES, "case-1")
    redacted_question = "Kunnen jullie mij terugbellen op [phone]?"
    inbound = f"😀 Mijn kaart [card] is dubbel belast, stort terug op [iban]. {redacted_question}"
    assert case["text"] == f"{inbound}\nWe mailen u op [email].\nDank je wel!"
    assert case["customer_handle"] == "[email]"
    assert case["customer_name"] == "Jan ([phone])"
    assert case["customer"] == {
        "id": "31612345678",
        "handle": "[email]",
        "name": "Jan ([phone])",
        "followers": 0,
    }
    assert [i["question"] for i in case["intents"]] == [redacted_question]
    assert case["moments"] == [{"kind": "trip", "quote": "op reis, bel [phone]"}]
    [identity] = case["identities"]
    assert (identity["value"], identity["display"]) == ("[email]", "[email] (email)")
    assert case["conversation_key"] == "whatsapp:author:31612345678"
    assert found(search, CASES, filters={"customer_id": "31612345678"}) == {"case-1"}
    assert case["pii_kinds"] == ["card", "email", "iban", "phone"]

    message = document(search, MESSAGES, "m1")
    assert message["text"] == inbound
    assert message["author"] == "[email]"
    assert message["pii_kinds"] == ["card", "email", "iban", "phone"]
    assert document(search, MESSAGES, "r1")["pii_kinds"] == ["email"]
    assert document(search, MESSAGES, "m2")["pii_kinds"] == []

    assert document(search, ESCALATIONS, "esc-1")["reason"] == "keyword 'advocaat' from [email]"


def test_full_text_search_for_redacted_data_finds_nothing_but_the_kind_is_a_filter(
    search: EmbeddedSearchIndex,
) -> None:
    index(search, care())
    for text in (EMAIL, "jan.devries", "example.nl", "4111", "0417", "1234 5678"):
        assert found(search, MESSAGES, text=text) == set(), text
        assert found(search, CASES, text=text) == set(), text
    assert found(search, MESSAGES, text="dubbel belast") == {"m1"}
    assert found(search, CASES, filters={"pii_kinds": "card"}) == {"case-1"}
    assert found(search, MESSAGES, filters={"pii_kinds": "card"}) == {"m1"}
    assert found(search, MESSAGES, filters={"pii_kinds": ["email", "phone"]}) == {"m1", "r1"}


def test_a_brand_that_keeps_e_mail_finds_its_customers_by_address(
    search: EmbeddedSearchIndex,
) -> None:
    index(search, care(frozenset({"email"})))
    assert found(search, MESSAGES, text=EMAIL) == {"r1"}
    message = document(search, MESSAGES, "m1")
    assert message["author"] == EMAIL
    assert message["text"] == (
        "😀 Mijn kaart [card] is dubbel belast, stort terug op [iban]. "
        "Kunnen jullie mij terugbellen op [phone]?"
    )
    assert document(search, CASES, "case-1")["customer_handle"] == EMAIL
    assert document(search, ESCALATIONS, "esc-1")["reason"] == f"keyword 'advocaat' from {EMAIL}"


def test_without_a_care_config_everything_is_redacted(search: EmbeddedSearchIndex) -> None:
    indexer = IndexingProcessor(search)
    indexer.prepare()
    [record] = MemoryLog(1).append(
        [Emit(Topic.CASES, case_pb2.CaseEvent(event_id="e1", case=whatsapp_case()))]
    )
    indexer.process(record)
    indexer.flush()
    assert document(search, MESSAGES, "r1")["text"] == "We mailen u op [email]."


def test_identifiers_and_timestamps_are_left_alone() -> None:
    body = {
        "id": "+31 6 1234 5678",
        "case_id": "06-12345678",
        "escalation_ids": ["06-12345678"],
        "opened_at": "2026-11-27T01:00:00+00:00",
        "attachments": [{"url": f"https://cdn.example/{EMAIL}", "type": "image"}],
        "note": f"bel {PHONE}",
        "pii_kinds": ["stale"],
    }
    assert redact_body(body, PiiPolicy()) == {
        **body,
        "note": "bel [phone]",
        "pii_kinds": ["phone"],
    }
