"""Intents and urgency (enrichment/intents.py): the questions and leads of a message from
the brand's taxonomy, one per intent, each with the clause that asked it; the packaged
taxonomy in seven languages; urgency from intents and wording; any input survives."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.enrichment.domain import enrich
from socialcare.enrichment.intents import (
    EXCLAMATIONS,
    MAX_QUESTION_CHARS,
    URGENT_WORD,
    URGENT_WORDS,
    IntentDetector,
    clauses,
    wording_urgency,
)
from socialcare.v1 import message_pb2

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def care(*intents: dict[str, Any], brands: list[str] | None = None) -> CareConfig:
    return CareConfig.model_validate(
        {
            "sla_policies": [{"name": "default", "languages": ["*"], "first_response": "1h"}],
            "queues": [{"name": "care", "languages": ["*"]}],
            "agents": [{"id": "ann", "name": "Ann", "languages": ["en"], "capacity": 5}],
            "brands": [{"name": b} for b in brands or []],
            "intents": list(intents),
        }
    )


# Scenario 1's taxonomy: the energy agency brings its own (not in the packaged default).
ENERGY = care(
    {
        "name": "energy_label",
        "keywords": {"nl": ["energielabel*", "energie label"], "en": ["energy label*"]},
    },
    {
        "name": "subsidy",
        "keywords": {"nl": ["subsidie*"], "de": ["förderung*"], "en": ["subsid*", "grant*"]},
        "product": "home-insulation",
    },
    {
        "name": "billing",
        "keywords": {"nl": ["energierekening", "rekening"], "en": ["bill", "invoice*"]},
        "urgency": 0.3,
    },
)
DEFAULT = load_care_config()


def names(intents: list[message_pb2.Intent]) -> list[str]:
    return [i.name for i in intents]


def detect(config: CareConfig, text: str, language: str, brand: str = "") -> list[str]:
    return names(IntentDetector(config).detect(text, language=language, brand=brand))


# -- scenario 1: two questions, two intents ---------------------------------------------
def test_the_freelancers_two_questions_are_two_intents_with_their_own_words() -> None:
    text = (
        "Mijn energierekening is veel hoger dan verwacht voor mijn kantoor aan huis. "
        "Wat is mijn energielabel, en hoe vraag ik subsidie aan?"
    )
    found = IntentDetector(ENERGY).detect(text, language="nl", brand="")
    assert names(found) == ["billing", "energy_label", "subsidy"]
    by_name = {i.name: i for i in found}
    assert by_name["energy_label"].question == "Wat is mijn energielabel"
    assert by_name["subsidy"].question == "hoe vraag ik subsidie aan?"
    assert by_name["subsidy"].product == "home-insulation"
    assert by_name["billing"].question.startswith("Mijn energierekening is veel hoger")
    # A question reads more certain than a statement.
    assert by_name["subsidy"].confidence > by_name["billing"].confidence


def test_the_same_in_english_and_german() -> None:
    english = "what is my energy label, and how do I apply for a subsidy?"
    assert detect(ENERGY, english, "en") == ["energy_label", "subsidy"]
    assert clauses(english, "en") == ["what is my energy label", "how do I apply for a subsidy?"]
    german = "Welches Energielabel habe ich und wie beantrage ich eine Förderung?"
    # German has no energy_label words of its own here: only the subsidy is found.
    assert detect(ENERGY, german, "de") == ["subsidy"]


def test_an_intent_asked_twice_is_one_intent_with_the_first_clause() -> None:
    found = IntentDetector(ENERGY).detect(
        "Krijg ik subsidie? En hoeveel subsidie dan precies?", language="nl", brand=""
    )
    [subsidy] = found
    assert subsidy.question == "Krijg ik subsidie?"


# -- the packaged taxonomy in seven languages ---------------------------------------------
@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("en", "My internet is down since this morning and I work from home", ["outage"]),
        ("en", "The DVD player stopped working while we were watching a film", ["defect"]),
        ("en", "Where is my order? The parcel hasn\u2019t arrived after 8 days", ["delivery"]),
        ("en", "Thank you so much, great service!", ["compliment"]),
        ("nl", "Al twee dagen storing in Utrecht, wanneer is het opgelost?", ["outage"]),
        ("nl", "Er is dubbel afgeschreven van mijn rekening", ["billing"]),
        ("nl", "Wat kost het nieuwe abonnement en is de laptop op voorraad?", ["sales_lead"]),
        (
            "de",
            "Meine Lieferung ist nicht angekommen und wie kann ich die Rechnung ändern?",
            ["delivery", "how_to", "billing"],
        ),
        ("de", "Der Akku ist überhitzt und hat Rauch entwickelt!", ["safety"]),
        ("fr", "Ma box est en panne depuis ce matin, c'est inacceptable", ["outage", "complaint"]),
        ("fr", "Je vais contacter mon avocat si rien ne bouge", ["legal_threat"]),
        ("es", "Mi pedido no ha llegado y ¿cuándo me devuelven el pago?", ["delivery", "billing"]),
        ("es", "¿Cuánto cuesta el portátil? Estoy interesado en comprar dos", ["sales_lead"]),
        ("it", "La lavatrice si è rotta dopo una settimana, è in garanzia?", ["defect"]),
        ("it", "Grazie mille, siete stati bravissimi", ["compliment"]),
        ("pt", "Estou sem internet há dois dias, é um absurdo", ["outage", "complaint"]),
        ("pt", "Quanto custa o plano de fibra? Quero comprar hoje", ["sales_lead"]),
        # Not leads, not defects, not orders: words that only look like them.
        ("en", "The price of my plan went up again, ridiculous", ["complaint"]),
        ("fr", "Le prix de l'abonnement a encore augmenté, c'est honteux", ["complaint"]),
        ("nl", "Dat is een stuk beter, bedankt!", ["compliment"]),
        ("it", "Tutto in ordine, grazie", ["compliment"]),
        ("de", "Wie teuer ist das neue Modell und ist es auf Lager?", ["sales_lead"]),
    ],
)
def test_the_packaged_taxonomy_recognises_real_messages(
    language: str, text: str, expected: list[str]
) -> None:
    assert detect(DEFAULT, text, language) == expected


def test_a_message_about_nothing_in_the_taxonomy_has_no_intents() -> None:
    assert detect(DEFAULT, "Just saw your ad on the train", "en") == []
    assert detect(DEFAULT, "Goedemorgen allemaal", "nl") == []


def test_sales_leads_are_marked_and_compliments_are_no_questions() -> None:
    [lead] = IntentDetector(DEFAULT).detect(
        "Is the XPS 13 from the outlet still in stock?", language="en", brand=""
    )
    assert (lead.name, lead.sales) == ("sales_lead", True)
    entry = DEFAULT.intent("compliment")
    assert entry is not None and entry.question is False


def test_english_words_count_in_every_language_and_undetermined_reads_all() -> None:
    assert detect(DEFAULT, "Mijn invoice klopt niet", "nl") == ["billing"]
    # Language unknown (a short text): every language's words apply.
    assert detect(DEFAULT, "factuur kapot", "und") == ["billing", "defect"]
    # Known language: another language's words do not (Dutch "stuk" is not English).
    assert detect(DEFAULT, "factuur", "en") == []


def test_an_intent_of_another_brand_is_not_found() -> None:
    config = care(
        {"name": "recall", "keywords": {"en": ["recall"]}, "brands": ["acme"]},
        {"name": "billing", "keywords": {"en": ["invoice"]}},
        brands=["acme", "globex"],
    )
    detector = IntentDetector(config)
    text = "Is my kettle part of the recall? And my invoice?"
    assert names(detector.detect(text, language="en", brand="acme")) == ["recall", "billing"]
    assert names(detector.detect(text, language="en", brand="globex")) == ["billing"]
    # No brand (or an unknown one) is the first brand.
    assert names(detector.detect(text, language="en", brand="")) == ["recall", "billing"]


def test_a_config_without_intents_finds_none() -> None:
    assert detect(care(), "what is my energy label?", "en") == []


# -- clauses ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("en", "bread and milk and cheese", ["bread and milk and cheese"]),
        (
            "en",
            "When does it arrive? Can I pay later?",
            ["When does it arrive?", "Can I pay later?"],
        ),
        ("nl", "Wanneer komt het en hoe betaal ik?", ["Wanneer komt het", "hoe betaal ik?"]),
        ("de", "Wann kommt es und wie zahle ich?", ["Wann kommt es", "wie zahle ich?"]),
        (
            "fr",
            "Quand arrive-t-il et comment je paie ?",
            ["Quand arrive-t-il", "comment je paie ?"],
        ),
        ("es", "¿Cuándo llega y cómo pago?", ["¿Cuándo llega", "cómo pago?"]),
        ("it", "Quando arriva e come pago?", ["Quando arriva", "come pago?"]),
        ("pt", "Quando chega e como pago?", ["Quando chega", "como pago?"]),
        ("en", "what?! no way", ["what?!", "no way"]),
        ("en", "line one\nline two", ["line one", "line two"]),
        ("en", "", []),
        ("en", "  ,  ", []),
    ],
)
def test_a_message_splits_into_its_questions(language: str, text: str, expected: list[str]) -> None:
    assert clauses(text, language) == expected


# -- urgency ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "Please call me back asap"),
        ("nl", "Graag met spoed contact"),
        ("de", "Bitte dringend zurückrufen"),
        ("fr", "C'est urgent, merci de me rappeler"),
        ("es", "Necesito ayuda urgente con mi cuenta"),
        ("it", "Ho bisogno di aiuto al più presto"),
        ("pt", "Preciso de ajuda o mais rápido possível"),
    ],
)
def test_urgent_wording_in_seven_languages(language: str, text: str) -> None:
    assert wording_urgency(text, language) == URGENT_WORD


def test_more_urgent_words_and_shouting_add_up() -> None:
    assert wording_urgency("Urgent: please fix this immediately", "en") == URGENT_WORDS
    assert wording_urgency("Help!!!", "en") == EXCLAMATIONS
    assert wording_urgency("URGENT!!!", "en") == pytest.approx(URGENT_WORD + 0.1)
    assert wording_urgency("Hello, a question about my plan", "en") == 0
    assert wording_urgency("Wow! Great!", "en") == 0


def test_no_rush_cancels_the_urgent_words() -> None:
    assert wording_urgency("Not urgent, but is there an update?", "en") == 0
    assert wording_urgency("Geen haast hoor, niet dringend", "nl") == 0
    assert wording_urgency("Keine Eile!!!", "de") == EXCLAMATIONS


def test_urgency_is_the_most_urgent_intent_or_the_wording() -> None:
    detector = IntentDetector(DEFAULT)
    text = "My charger caught fire"
    found = detector.detect(text, language="en", brand="")
    assert names(found) == ["safety"]
    assert detector.urgency(text, found, language="en", brand="") == 0.95
    text = "Question about my invoice, urgent please"
    found = detector.detect(text, language="en", brand="")
    assert detector.urgency(text, found, language="en", brand="") == URGENT_WORD
    # An intent no longer in the taxonomy weighs nothing.
    ghost = [message_pb2.Intent(name="gone")]
    assert detector.urgency("hello", ghost, language="en", brand="") == 0


# -- enrich ----------------------------------------------------------------------------------
def raw(text: str, brand: str = "") -> message_pb2.SocialMessage:
    return message_pb2.SocialMessage(
        message_id="m1",
        channel=message_pb2.CHANNEL_X,
        external_id="1",
        author=message_pb2.Author(id="a1", followers=120),
        text=text,
        brand=brand,
    )


def test_enrich_adds_the_intents_and_urgency_in_the_detected_language() -> None:
    message = raw(
        "Mijn energierekening is veel hoger dan verwacht. Wat is mijn energielabel, en hoe "
        "vraag ik subsidie aan? Graag snel antwoord, het is dringend!"
    )
    result = enrich(message, NOW, IntentDetector(ENERGY))
    assert result.language == "nl"
    assert names(list(result.intents)) == ["billing", "energy_label", "subsidy"]
    assert result.urgency == URGENT_WORD
    # Without a detector (old callers): no intents, no urgency.
    bare = enrich(message, NOW)
    assert list(bare.intents) == [] and bare.urgency == 0


# -- any input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "",
        "😡😡😡",
        "\ud800 invoice \udfff",
        "\x00\x01 factuur",
        "!!!!!!!!!!!!!!!!!!!!!!!!!",
        "?" * 5000,
        "e " * 20_000,
        ", and what " * 4_000,
    ],
)
def test_bad_input_never_crashes(text: str) -> None:
    detector = IntentDetector(DEFAULT)
    for language in ("en", "nl", "und", "zz"):
        found = detector.detect(text, language=language, brand="no-such-brand")
        detector.urgency(text, found, language=language, brand="")
        # The intents travel in protobuf strings: lone surrogates in a clause would fail here.
        message_pb2.EnrichedMessage(intents=found).SerializeToString()
        for intent in found:
            assert len(intent.question) <= MAX_QUESTION_CHARS
        # A protobuf message cannot hold a lone surrogate; what reaches enrich can.
        sendable = text.encode("utf-8", "replace").decode("utf-8")
        enrich(raw(sendable), NOW, detector).SerializeToString()


def test_a_50k_character_message_is_read_in_bounded_time() -> None:
    text = ("Mijn pakket is nog niet bezorgd en hoe kan ik betalen? " * 1000)[:50_000]
    detector = IntentDetector(DEFAULT)
    detector.detect("warm up", language="nl", brand="")
    started = time.perf_counter()
    found = detector.detect(text, language="nl", brand="")
    elapsed = time.perf_counter() - started
    assert names(found) == ["delivery", "how_to"]
    assert elapsed < 2.0


def test_one_detector_serves_many_threads() -> None:
    detector = IntentDetector(DEFAULT)
    texts = [
        ("nl", "Storing in Amsterdam, wanneer is het opgelost?"),
        ("fr", "Ma facture est fausse et comment obtenir un remboursement ?"),
        ("es", "¿Cuánto cuesta? Quiero comprar"),
        ("und", "factuur kapot"),
    ] * 50
    reference = IntentDetector(DEFAULT)
    expected = [names(reference.detect(t, language=lang, brand="")) for lang, t in texts]

    def run(item: tuple[str, str]) -> list[str]:
        language, text = item
        return names(detector.detect(text, language=language, brand=""))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(run, texts)) == expected


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=400), language=st.sampled_from(["en", "nl", "de", "und", "xx"]))
def test_any_text_gives_unique_valid_intents(text: str, language: str) -> None:
    detector = _SHARED
    found = detector.detect(text, language=language, brand="")
    assert len(names(found)) == len(set(names(found)))
    for intent in found:
        assert DEFAULT.intent(intent.name) is not None
        assert 0 < intent.confidence <= 1
        assert intent.question
    assert 0 <= detector.urgency(text, found, language=language, brand="") <= 1
    for part in clauses(text, language):
        assert part == part.strip(" \t\r\n,") and part


_SHARED = IntentDetector(DEFAULT)
