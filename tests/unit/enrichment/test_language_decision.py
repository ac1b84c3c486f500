"""The language a message is read in: detected among the brand's languages when the text
says so clearly, else what the author or the channel states, else the brand's main
language for a word too short to read, and each answer says where it came from."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from socialcare.core.domain.care_config import CareConfig
from socialcare.enrichment.domain import enrich
from socialcare.enrichment.language import SUPPORTED_LANGUAGES, detect_language
from socialcare.enrichment.language_decision import (
    DETECTED_FROM,
    MIXED_CONFIDENCE,
    STATED_CONFIDENCE,
    LanguageDecision,
    decide_language,
    stated_language,
)
from socialcare.v1 import message_pb2
from tests.unit.enrichment.language_samples import MESSAGES

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DETECTED = message_pb2.LANGUAGE_SOURCE_DETECTED
AUTHOR = message_pb2.LANGUAGE_SOURCE_AUTHOR
CHANNEL_HINT = message_pb2.LANGUAGE_SOURCE_CHANNEL_HINT
BRAND_DEFAULT = message_pb2.LANGUAGE_SOURCE_BRAND_DEFAULT
UNDETERMINED = message_pb2.LANGUAGE_SOURCE_UNDETERMINED
EUROPE = ("en", "nl", "de", "fr", "es", "it", "pt")
MIXED = (
    "Ik wacht al drie weken op mijn pakket en niemand reageert. "
    "This is really unacceptable, I want a refund now."
)


def care() -> CareConfig:
    return CareConfig.model_validate(
        {
            "sla_policies": [{"name": "default", "languages": ["*"], "first_response": "1h"}],
            "queues": [{"name": "care", "languages": ["*"]}],
            "agents": [{"id": "ann", "name": "Ann", "languages": ["nl"], "capacity": 5}],
            "brands": [
                {"name": "acme", "languages": ["nl", "en"]},
                {"name": "globex"},
            ],
        }
    )


def raw(
    text: str, brand: str = "acme", hint: str = "", author: str = ""
) -> message_pb2.SocialMessage:
    return message_pb2.SocialMessage(
        message_id="m1",
        brand=brand,
        text=text,
        language_hint=hint,
        author=message_pb2.Author(id="a1", language=author),
    )


# --- detection restricted to the brand's languages ---------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "unrestricted"),
    [
        ("@user Ah, super. Starke Karikatur.", "de", "nb"),
        ("@user Grazie Wendy:)", "it", "pl"),
    ],
)
def test_restricting_to_the_brands_languages_settles_short_texts(
    text: str, expected: str, unrestricted: str
) -> None:
    """Real tweets (xlm-t) the 17-language detector reads as a language no desk answers."""
    assert detect_language(text).code == unrestricted
    assert detect_language(text, EUROPE).code == expected
    decision = decide_language(text, EUROPE)
    assert decision.code == expected


@pytest.mark.parametrize(("expected", "text"), MESSAGES)
def test_every_answer_is_one_of_the_brands_languages(expected: str, text: str) -> None:
    """Or "und" for a script none of them is written in (Cyrillic, Arabic, CJK)."""
    brand = ("nl", "en", "de")
    expected_codes = {*brand, "und"} if expected in {"ar", "ru", "uk", "ja", "zh"} else brand
    assert detect_language(text, brand).code in expected_codes
    assert decide_language(text, brand).code in expected_codes


def test_a_brand_without_supported_languages_is_read_among_all() -> None:
    assert detect_language("Wo bleibt meine Lieferung?", ("xx", "hi")).code == "de"
    assert detect_language("Wo bleibt meine Lieferung?", ()).code == "de"


def test_a_one_language_brand_reads_everything_with_letters_in_it() -> None:
    decision = decide_language("thanks a lot mate", ("nl",))
    assert decision == LanguageDecision("nl", 1.0, DETECTED)


def test_a_script_none_of_the_brands_languages_use_is_undetermined() -> None:
    assert detect_language("Где моя посылка?", ("nl", "en")).code == "und"
    assert detect_language("Где моя посылка?", ("nl", "ru")).code == "ru"
    assert decide_language("नमस्ते, मेरा पैकेज कहाँ है", ("nl", "en")) == LanguageDecision(
        "und", 0.0, UNDETERMINED
    )


def test_stock_phrases_of_languages_the_brand_lacks_are_not_used() -> None:
    assert detect_language("merci", ("nl", "fr")).code == "fr"
    assert detect_language("merci", ("nl", "fr")).confidence == 0.9
    assert detect_language("merci", ("nl", "en")).code in {"nl", "en"}


# --- the fallbacks and their sources ------------------------------------------------------


def test_a_clear_text_is_detected_whatever_is_stated() -> None:
    """A Dutch customer writing English is answered in English."""
    decision = decide_language(
        "My parcel still has not arrived after three weeks", EUROPE, author_language="nl", hint="nl"
    )
    assert decision.code == "en"
    assert decision.source == DETECTED
    assert decision.confidence >= DETECTED_FROM


def test_a_text_too_short_to_tell_is_read_in_the_authors_language() -> None:
    assert detect_language("ok top", EUROPE).confidence < DETECTED_FROM
    decision = decide_language("ok top", EUROPE, author_language="nl", hint="en")
    assert decision == LanguageDecision("nl", STATED_CONFIDENCE, AUTHOR)
    assert decide_language("ok", EUROPE, author_language="de").source == AUTHOR


def test_else_in_the_channels_hint() -> None:
    assert decide_language("ok top", EUROPE, hint="nl") == LanguageDecision(
        "nl", STATED_CONFIDENCE, CHANNEL_HINT
    )
    assert decide_language("ok top", hint="de-DE").code == "de"
    assert decide_language("ok top", hint="pt_BR").code == "pt"
    assert decide_language("ok top", hint="no").code == "nb"
    assert decide_language("😡😡", EUROPE, hint="fr") == LanguageDecision(
        "fr", STATED_CONFIDENCE, CHANNEL_HINT
    )


def test_statements_in_languages_the_brand_does_not_answer_are_ignored() -> None:
    decision = decide_language("ok top", ("nl", "en"), author_language="de", hint="en")
    assert decision.source == CHANNEL_HINT
    assert decision.code == "en"
    for hint in ("und", "qme", "hi", "zxx", "", "english"):  # X's codes, unsupported, junk
        assert decide_language("ok", hint=hint).source == UNDETERMINED, hint


def test_an_unsure_text_with_nothing_stated_keeps_its_detection() -> None:
    guess = detect_language("ok top", EUROPE)
    decision = decide_language("ok top", EUROPE)
    assert decision == LanguageDecision(guess.code, guess.confidence, DETECTED)
    assert decision.confidence < DETECTED_FROM


def test_a_word_too_short_from_nobody_known_is_read_in_the_brands_main_language() -> None:
    assert decide_language("ok", ("nl", "en")) == LanguageDecision("nl", 0.5, BRAND_DEFAULT)
    assert decide_language("Ja!", ("de",)) == LanguageDecision("de", 1.0, BRAND_DEFAULT)
    assert decide_language("ok", ()) == LanguageDecision("und", 0.0, UNDETERMINED)


def test_no_letters_and_nothing_stated_is_undetermined_even_for_a_brand() -> None:
    for text in ("", "   ", "😡😡😡", "https://t.co/abc", "@AcmeCare", "123 456"):
        assert decide_language(text, ("nl", "en")) == LanguageDecision("und", 0.0, UNDETERMINED), (
            text
        )


def test_a_foreign_script_falls_back_to_a_stated_language_the_brand_answers() -> None:
    decision = decide_language("Где моя посылка?", ("nl", "en"), author_language="nl")
    assert decision == LanguageDecision("nl", STATED_CONFIDENCE, AUTHOR)


def test_stated_languages_are_written_as_iso_639_1() -> None:
    assert stated_language("pt-BR") == "pt"
    assert stated_language(" NL ") == "nl"
    assert stated_language("de_AT") == "de"
    assert stated_language("nn") == "nb"
    assert stated_language("und") == ""
    assert stated_language("e1") == ""
    assert stated_language("") == ""


# --- code-mixed texts ---------------------------------------------------------------------


def test_a_code_mixed_text_is_flagged_with_a_lower_confidence() -> None:
    guess = detect_language(MIXED, EUROPE)
    assert guess.mixed
    assert guess.code in {"nl", "en"}
    assert guess.confidence < DETECTED_FROM
    decision = decide_language(MIXED, EUROPE)
    assert decision.source == DETECTED
    assert decision.confidence == guess.confidence


def test_a_code_mixed_text_is_read_in_the_authors_language() -> None:
    decision = decide_language(MIXED, EUROPE, author_language="nl")
    assert decision == LanguageDecision("nl", MIXED_CONFIDENCE, AUTHOR)
    assert decide_language(MIXED, EUROPE, hint="en") == LanguageDecision(
        "en", MIXED_CONFIDENCE, CHANNEL_HINT
    )


def test_one_language_in_several_sentences_is_not_mixed() -> None:
    text = (
        "Mijn pakket is nog steeds niet bezorgd. Ik heb al drie keer gebeld. "
        "Niemand weet waar het is!"
    )
    guess = detect_language(text, EUROPE)
    assert (guess.code, guess.mixed) == ("nl", False)
    assert guess.confidence >= DETECTED_FROM


def test_a_one_language_brand_never_sees_mixed_text() -> None:
    assert not detect_language(MIXED, ("nl",)).mixed


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "😡" * 200,
        "\ud83d",  # a lone surrogate (a JSON escape cut in half)
        "Waar blijft \udc00mijn pakket\ud800?",
        "\x00\x01\x02 control \u200b\u200d characters",
        "Mix Ελληνικά и русский 中文 العربية English Nederlands",
        "A" * 50_000,
        "Waar blijft mijn pakket? " * 2_000,
    ],
)
def test_bad_input_never_crashes(text: str) -> None:
    for languages in ((), EUROPE, ("nl",)):
        decision = decide_language(text, languages, author_language="xx", hint="\ud800")
        assert decision.code == "und" or decision.code in SUPPORTED_LANGUAGES
        assert 0.0 <= decision.confidence <= 1.0


def test_fifty_thousand_characters_take_no_longer_than_five_hundred() -> None:
    long = "Ik wacht al weken op een reactie. " * 1_500
    started = time.perf_counter()
    decision = decide_language(long, EUROPE)
    assert time.perf_counter() - started < 0.05
    assert decision.code == "nl"


# --- enrich() and the care config ---------------------------------------------------------


def test_the_care_config_gives_each_brand_its_languages() -> None:
    config = care()
    assert config.brand_languages("acme") == ("nl", "en")
    assert config.brand_languages("globex") == ()
    assert config.brand_languages("unknown") == ()
    assert config.brand_languages("acme") is config.brand_languages("acme")


def test_enrich_reads_among_the_brands_languages_and_says_how() -> None:
    config = care()
    enriched = enrich(raw("@user Ah, super. Starke Karikatur."), NOW, care=config)
    assert enriched.language in {"nl", "en"}
    assert enriched.language_source in {DETECTED, BRAND_DEFAULT}
    other = enrich(raw("@user Ah, super. Starke Karikatur.", brand="globex"), NOW, care=config)
    assert other.language == "nb"  # every supported language for a brand without any
    assert enrich(raw("ok", brand="acme"), NOW, care=config).language_source == BRAND_DEFAULT
    assert enrich(raw("ok", brand="nobody"), NOW, care=config).language == "und"


def test_enrich_uses_the_authors_language_then_the_hint() -> None:
    config = care()
    by_author = enrich(raw("ok top", author="en", hint="nl"), NOW, care=config)
    assert (by_author.language, by_author.language_source) == ("en", AUTHOR)
    by_hint = enrich(raw("ok top", hint="nl"), NOW, care=config)
    assert (by_hint.language, by_hint.language_source) == ("nl", CHANNEL_HINT)
    assert by_hint.language_confidence == pytest.approx(STATED_CONFIDENCE)
    detected = enrich(raw("Waar blijft mijn pakket nou?", hint="en"), NOW)
    assert (detected.language, detected.language_source) == ("nl", DETECTED)
