"""The intent detector's shortcuts (issue 13: 0.3 ms per message for all of enrichment)
answer as the long way does: the urgent/calm wording's word check never hides a phrase the
alternation finds, and `warm_up` leaves nothing to compile for a message."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcare.core.domain.care_config import load_care_config
from socialcare.core.domain.keywords import fold
from socialcare.enrichment import intents
from socialcare.enrichment.intents import (
    _CALM,
    _URGENT,
    IntentDetector,
    _fold,
    _wording_terms,
    wording_urgency,
)

LANGUAGES = (*sorted(_URGENT), "und", "ja")
PHRASES = sorted({p for table in (_URGENT, _CALM) for ps in table.values() for p in ps})
FRAMES = (
    "{}",
    "Please help, {}!!!",
    "{}: the power is out since this morning",
    "Is this {}? No idea.",
    "(({})) - ok",
    "my order.{}.now",
    "xx{} {}yy",
)


def _same_answers(text: str, language: str) -> None:
    folded = _fold(text)
    words = frozenset(intents._WORD.findall(folded))
    for wording in _wording_terms(language):
        assert wording.found(folded, words) == wording.terms.found(folded)
        assert wording.search(folded, words) == wording.terms.search(folded)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_word_check_finds_every_phrase_in_any_frame(language: str) -> None:
    for phrase in PHRASES:
        for frame in FRAMES:
            for variant in (phrase, phrase.upper(), phrase.title(), phrase.replace(" ", "-")):
                _same_answers(frame.format(variant, variant), language)


def test_the_word_check_skips_the_alternation_only_without_a_phrase() -> None:
    urgent, calm = _wording_terms("en")
    text = _fold("My invoice is wrong, could you have a look?")
    words = frozenset(intents._WORD.findall(text))
    assert urgent.found(text, words) == ()
    assert not calm.search(text, words)
    text = _fold("Not urgent, but please fix it ASAP")
    words = frozenset(intents._WORD.findall(text))
    assert calm.search(text, words)
    assert urgent.found(text, words) == ("urgent", "asap")
    assert wording_urgency("Not urgent, but please fix it ASAP", "en") == 0.0


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(PHRASES),
            st.sampled_from(["a", "as", "so", "o", "no", "ya", "z", "p", "s", ".", "!", "-"]),
            st.text(max_size=8),
        ),
        max_size=12,
    ),
    st.sampled_from(LANGUAGES),
    st.sampled_from([" ", "", ".", "-", ", "]),
)
def test_the_word_check_agrees_with_the_alternation_on_any_text(
    parts: list[str], language: str, glue: str
) -> None:
    _same_answers(glue.join(parts), language)


def test_a_prefix_term_needs_no_whole_last_word() -> None:
    assert intents._words_needed("Subsidie*") == frozenset()
    assert intents._words_needed("energie label*") == frozenset({"energie"})
    assert intents._words_needed("z.s.m") == frozenset({"z", "s", "m"})
    assert intents._words_needed("Dès que possible") == frozenset({fold("dès"), "que", "possible"})


def test_warm_up_compiles_every_brand_and_language_so_no_message_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    care = load_care_config()
    detector = IntentDetector(care)
    detector.warm_up()

    def compiling(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("compiled while detecting")

    monkeypatch.setattr(intents, "_compile", compiling)
    for brand in ("", *(b.name for b in care.effective_brands), "unknown brand"):
        for language in ("en", "nl", "de", "fr", "es", "it", "pt", "und", "ja", "pl"):
            found = detector.detect(
                "My invoice is wrong and when is the outage fixed?", language=language, brand=brand
            )
            detector.urgency("Urgent!!!", found, language=language, brand=brand)


TEXTS = (
    "My invoice is wrong and when is the outage fixed?",
    "Mijn factuur klopt niet, en wanneer is de storing opgelost?",
    "Ich möchte meinen Vertrag kündigen. Wie lange dauert die Lieferung?",
    "Bonjour, ma facture est trop élevée et comment résilier mon contrat ?",
    "hello",
    "",
)


def test_the_remembered_keywords_of_a_word_are_those_looked_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    care = load_care_config()
    remembering = IntentDetector(care)
    first = [remembering.detect(t, language="und", brand="") for t in TEXTS]
    again = [remembering.detect(t, language="und", brand="") for t in TEXTS]
    taxonomy = remembering._taxonomy(care.brand("").name, "und")
    assert "invoice" in taxonomy.anchored
    monkeypatch.setattr(intents, "_MEMO_WORDS", 0)
    forgetting = IntentDetector(care)
    fresh = [forgetting.detect(t, language="und", brand="") for t in TEXTS]
    assert forgetting._taxonomy(care.brand("").name, "und").anchored == {}
    assert first == again == fresh
    assert any(first)
