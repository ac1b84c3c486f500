"""The sentiment model's featurizer: what a message becomes, shared by training and serving."""

from __future__ import annotations

import numpy as np

from socialcare.enrichment.sentiment_features import (
    MAX_CHARS,
    FeatureConfig,
    Vectoriser,
    feature_strings,
    tokens,
)


def test_negation_marks_the_words_up_to_punctuation() -> None:
    assert tokens("not good at all, great", "en") == [
        "not",
        "good_NEG",
        "at_NEG",
        "all_NEG",
        "",
        "great",
    ]
    assert tokens("Das ist nicht gut!", "de") == ["das", "ist", "nicht", "gut_NEG", "!"]
    assert tokens("het werkt niet goed", "nl")[-1] == "goed_NEG"
    assert tokens("ce n'est pas bon", "fr") == ["ce", "n'", "est_NEG", "pas", "bon_NEG"]
    assert tokens("não é bom", "pt") == ["não", "é_NEG", "bom_NEG"]
    assert tokens("I don't like it", "en")[-2:] == ["like_NEG", "it_NEG"]


def test_negation_cues_are_per_language() -> None:
    # Portuguese "no" is "in the", not a negation.
    assert tokens("no Brasil é bom", "pt") == ["no", "brasil", "é", "bom"]
    assert tokens("no good", "en") == ["no", "good_NEG"]


def test_placeholders_elongation_caps_and_emphasis() -> None:
    assert tokens("@AcmeCare sooooo slow https://t.co/x 45 min???", "en") == [
        "<user>",
        "sooo",
        "slow",
        "<url>",
        "<num>",
        "min",
        "?",
        "?",
        "?",
    ]
    assert tokens("WORST service", "en") == ["<caps>", "worst", "service"]


def test_emoji_and_emoticons_are_tokens_without_skin_tones() -> None:
    assert tokens("top 👍🏽👍 :) <3 ❤️", "nl") == ["top", "👍", "👍", ":)", "<3", "❤"]


def test_features_are_words_bigrams_char_ngrams_and_language_copies() -> None:
    features = feature_strings("Sehr gut", "de", FeatureConfig())
    assert {"w:sehr", "w:gut", "w:sehr gut", "c: gu", "c:gut ", "l:de|sehr gut"} <= set(features)
    assert not any(f.startswith("l:") for f in feature_strings("Sehr gut", "xx", FeatureConfig()))
    no_copies = FeatureConfig(language_copies=False, bigrams=False)
    assert "w:sehr gut" not in feature_strings("Sehr gut", "de", no_copies)


def test_bad_input_is_bounded_and_never_raises() -> None:
    for text in ["", " ", "\ud800\udc00\ud800", "x" * 50_000, "\x00\x1f", "مرحبا 你好 Привет"]:
        tokens(text, "en")
    assert len(tokens("ab " * 50_000, "en")) == MAX_CHARS // 3 + 1


def test_transform_normalises_each_block_and_appends_the_lexicon_scores() -> None:
    config = FeatureConfig()
    vocabulary = sorted(set(feature_strings("not good at all 😡", "en", config)))
    vectoriser = Vectoriser(vocabulary, np.ones(len(vocabulary), dtype=np.float32), config)
    columns, values = vectoriser.transform("not good at all 😡", "en")
    assert vectoriser.width == len(vocabulary) + 3
    assert list(columns[-3:]) == [len(vocabulary), len(vocabulary) + 1, len(vocabulary) + 2]
    sparse = values[:-3]
    blocks = np.array([vocabulary[c][0] for c in columns[:-3]])
    for block in "wcl":
        assert np.isclose(np.sum(sparse[blocks == block] ** 2), 1.0), block
    compound, positive, negative = values[-3:]
    assert compound < 0 and negative < 0 <= positive
