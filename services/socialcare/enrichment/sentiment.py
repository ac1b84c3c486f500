"""Multilingual sentiment of social-care messages: three classes, a score and a confidence.

Why it is built this way: the hand-written lexicons alone called most real tweets neutral
(macro-F1 about 45, French, Spanish and Italian below 40). The model is now a linear
classifier trained on labelled tweets (training/sentiment/train.py, data and licences in
training/sentiment/SOURCES.md) over word and character n-grams with negation scope, emoji
and the lexicon scorer's scores as features (sentiment_features.py), served with numpy
only. Languages without training data (and unknown codes) are still scored: characters,
emoji and the shared features carry over, and the lexicon scorer knows Dutch.

score = P(positive) - P(negative) in [-1, 1]; label = the most probable class; confidence =
its probability. The model loads once per process under a lock (`warm_up` at service
start, or on the first message); scoring only reads it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final

from socialcare.enrichment.sentiment_model import LABELS, LinearModel
from socialcare.enrichment.sentiment_rules import NEGATIVE, NEUTRAL, POSITIVE
from socialcare.enrichment.sentiment_rules import warm_up as _warm_up_lexicons

__all__ = ["NEGATIVE", "NEUTRAL", "POSITIVE", "Sentiment", "score_sentiment", "warm_up"]


@dataclass(frozen=True, slots=True)
class Sentiment:
    """score in [-1, 1] (P(positive) - P(negative)), label, the label's probability, and
    the model that said so."""

    score: float
    label: str
    confidence: float
    model: str


_lock = threading.Lock()
_model: LinearModel | None = None
_NEG: Final = LABELS.index(NEGATIVE)
_POS: Final = LABELS.index(POSITIVE)


def _loaded() -> LinearModel:
    global _model
    model = _model
    if model is None:
        with _lock:
            model = _model
            if model is None:
                _warm_up_lexicons()
                model = LinearModel.load()
                _model = model
    return model


def warm_up() -> LinearModel:
    """Load the model and the lexicons now (service start) instead of on the first message."""
    return _loaded()


def score_sentiment(text: str, language: str) -> Sentiment:
    """Score one message; `language` is an ISO 639-1 code, any other value is accepted."""
    model = _loaded()
    probabilities = model.probabilities(text, language)
    best = max(range(len(LABELS)), key=probabilities.__getitem__)
    score = probabilities[_POS] - probabilities[_NEG]
    return Sentiment(
        round(max(-1.0, min(1.0, score)), 4),
        LABELS[best],
        round(probabilities[best], 4),
        model.name,
    )
