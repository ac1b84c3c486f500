"""The channel's stated language settles what our detector cannot, never what it can."""

from __future__ import annotations

from datetime import UTC, datetime

from socialcare.enrichment.domain import HINT_WINS_BELOW, enrich, with_hint
from socialcare.enrichment.language import LanguageGuess
from socialcare.v1 import message_pb2

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_an_undetermined_or_unsure_guess_yields_to_the_hint() -> None:
    assert with_hint(LanguageGuess("und", 0.0), "nl") == LanguageGuess("nl", HINT_WINS_BELOW)
    assert with_hint(LanguageGuess("en", 0.55), "de-DE").code == "de"
    assert with_hint(LanguageGuess("en", 0.55), "pt_BR").code == "pt"
    assert with_hint(LanguageGuess("da", 0.6), "no").code == "nb"


def test_a_confident_guess_stands_and_unknown_hints_are_ignored() -> None:
    confident = LanguageGuess("en", 0.99)
    assert with_hint(confident, "nl") == confident
    unsure = LanguageGuess("und", 0.0)
    assert with_hint(unsure, "und") == unsure  # X's "undetermined"
    assert with_hint(unsure, "qme") == unsure  # X's "media only"
    assert with_hint(unsure, "hi") == unsure  # not a language we route on


def test_enrich_uses_the_hint_of_a_two_word_tweet() -> None:
    message = message_pb2.SocialMessage(message_id="m1", text="ok top", language_hint="nl")
    assert enrich(message, NOW).language == "nl"
    without = message_pb2.SocialMessage(message_id="m2", text="ok top")
    assert enrich(without, NOW).language != "nl"
