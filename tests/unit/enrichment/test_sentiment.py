"""The committed sentiment model as the enrichment service calls it."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from socialcare.enrichment import sentiment
from socialcare.enrichment.sentiment import (
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    Sentiment,
    score_sentiment,
)
from socialcare.enrichment.sentiment_model import MODEL_NAME, LinearModel

CLEAR: list[tuple[str, str, str]] = [
    ("en", NEGATIVE, "worst customer service ever, still no refund after 3 weeks"),
    ("en", POSITIVE, "thanks so much for sorting this out so quickly, great job"),
    ("nl", NEGATIVE, "Waardeloze service, al drie weken geen reactie. Belachelijk!"),
    ("nl", POSITIVE, "Super bedankt voor de snelle hulp, echt top!"),
    ("de", NEGATIVE, "Der Kundenservice ist eine Katastrophe, einfach nur schlecht"),
    ("de", POSITIVE, "Vielen Dank, super freundliche Beratung!"),
    ("fr", NEGATIVE, "Service client nul, toujours rien reçu, c'est honteux"),
    ("fr", POSITIVE, "Merci beaucoup, super service, je suis ravie !"),
    ("es", NEGATIVE, "El servicio es pésimo, qué vergüenza"),
    ("es", POSITIVE, "Muchas gracias, me encanta, todo perfecto"),
    ("it", NEGATIVE, "servizio pessimo, che schifo"),
    ("it", POSITIVE, "Grazie mille, bellissimo, siete fantastici"),
    ("pt", NEGATIVE, "serviço péssimo, que raiva"),
    ("pt", POSITIVE, "Obrigado, adorei, vocês são demais"),
]


def score(text: str, language: str) -> float:
    return score_sentiment(text, language).score


@pytest.mark.parametrize(("language", "expected", "text"), CLEAR)
def test_clear_messages_in_every_language(language: str, expected: str, text: str) -> None:
    assert score_sentiment(text, language).label == expected


@pytest.mark.parametrize(
    ("language", "plain", "negated"),
    [
        ("en", "this is good", "this is not good"),
        ("nl", "het is goed", "het is niet goed"),
        ("de", "das ist gut", "das ist nicht gut"),
        ("fr", "c'est bien", "ce n'est pas bien"),
        ("es", "es bueno", "no es bueno"),
        ("it", "è bello", "non è bello"),
        ("pt", "é bom", "não é bom"),
    ],
)
def test_negation_lowers_the_score(language: str, plain: str, negated: str) -> None:
    assert score(negated, language) < score(plain, language) - 0.2


@pytest.mark.parametrize(
    ("language", "plain", "boosted"),
    [
        ("en", "the service was bad", "the service was really bad"),
        ("en", "bad service", "very bad service"),
        ("nl", "slechte service", "heel slechte service"),
        ("de", "der Service ist schlecht", "der Service ist sehr schlecht"),
        ("fr", "le service est mauvais", "le service est très mauvais"),
        ("es", "el servicio es malo", "el servicio es muy malo"),
        ("it", "il servizio è pessimo", "il servizio è davvero pessimo"),
    ],
)
def test_intensifiers_strengthen(language: str, plain: str, boosted: str) -> None:
    # Through the lexicon scores (its boosters) and bigrams; not a rule of the model: one
    # more word also dilutes the others' n-grams, so it holds in context, not everywhere.
    assert score(boosted, language) < score(plain, language) < 0


def test_intensifiers_strengthen_praise() -> None:
    assert score("ik ben super blij", "nl") > score("ik ben blij", "nl") > 0
    assert score("muy bueno", "es") > score("bueno", "es") > 0


@pytest.mark.parametrize("language", ["en", "nl", "de", "xx", "und", ""])
def test_emoji_count_in_every_language(language: str) -> None:
    assert score_sentiment("😡😡", language).label == NEGATIVE
    assert score_sentiment("😍😍", language).label == POSITIVE
    assert score_sentiment("👍🏽", language) == score_sentiment("👍", language)
    assert score("ok 😡", language) < score("ok", language) < score("ok 😍", language)


def test_unknown_language_is_still_scored() -> None:
    assert score_sentiment("terrible service, I hate it", "sv").label == NEGATIVE
    assert score_sentiment("I love it, thank you ❤️", "xx").label == POSITIVE


def test_score_confidence_and_label_agree() -> None:
    for language, _, text in [*CLEAR, ("en", NEUTRAL, ""), ("nl", NEUTRAL, "12345")]:
        result = score_sentiment(text, language)
        assert -1.0 <= result.score <= 1.0
        assert 1 / 3 <= result.confidence <= 1.0
        assert result.model == MODEL_NAME
        assert result.label in (NEGATIVE, NEUTRAL, POSITIVE)
        if result.label == POSITIVE:
            assert result.score > 0
        elif result.label == NEGATIVE:
            assert result.score < 0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\ud83d",  # a lone surrogate
        "bad \udc00 service \ud800",
        "😡" * 10_000,
        "slecht " * 8_000,
        "\x00\x07\x1b[31m",
        "مرحبا 你好 Привет hello",
        "https://t.co/x @user #tag",
    ],
)
def test_bad_input_is_scored_within_bounds(text: str) -> None:
    result = score_sentiment(text, "nl")
    assert -1.0 <= result.score <= 1.0
    assert 0.0 < result.confidence <= 1.0


def test_a_50000_character_message_reads_a_bounded_prefix() -> None:
    score_sentiment("warm", "en")
    started = time.perf_counter()
    result = score_sentiment("x" * 49_000 + " terrible", "en")
    assert time.perf_counter() - started < 0.05
    assert result == score_sentiment("x" * 60_000, "en")


def test_sentiment_is_immutable() -> None:
    result = score_sentiment("top", "nl")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.score = 0.0  # type: ignore[misc]


def test_served_logits_equal_the_training_features_times_the_weights() -> None:
    model = sentiment.warm_up()
    texts = [text for _, _, text in CLEAR] + ["NOT GOOD!!! 😡", "", "soooo goood :)"]
    for language, text in [(c[0], c[2]) for c in CLEAR] + [("xx", t) for t in texts]:
        columns, values = model.vectoriser.transform(text, language)
        expected = values @ model.weights[columns].astype(np.float64) + model.bias
        np.testing.assert_allclose(model.logits(text, language), expected, rtol=1e-9, atol=1e-9)


def test_the_model_loads_once_and_scoring_is_thread_safe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loads: list[int] = []
    original = LinearModel.load

    def counted() -> LinearModel:
        loads.append(1)
        return original()

    monkeypatch.setattr(sentiment, "_model", None)
    monkeypatch.setattr(LinearModel, "load", staticmethod(counted))
    cases = [(text, language) for language, _, text in CLEAR] * 5
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda case: score_sentiment(*case), cases))
    assert loads == [1]
    assert concurrent == [score_sentiment(text, language) for text, language in cases]
    assert all(isinstance(r, Sentiment) for r in concurrent)
