"""The trained sentiment model's files and its forward pass (no scikit-learn at run time).

training/sentiment/train.py writes three files into `models/`: the weights (numpy npz: a
float32 matrix of one row per feature and one column per class, the bias, the idf), the
vocabulary (JSON list: row i's feature string) and metadata (JSON: model name, feature
configuration, training data digests, cross-validation figures). Serving is a softmax over
`values @ weights[columns] + bias`, a few microseconds of numpy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from socialcare.enrichment.sentiment_features import (
    FeatureConfig,
    Vectoriser,
    dense_features,
    is_word,
    language_code,
    tokens,
    word_features,
)
from socialcare.enrichment.sentiment_lexicon import RULES

__all__ = ["LABELS", "MODEL_DIR", "MODEL_NAME", "LinearModel", "ModelFiles"]

MODEL_NAME: Final = "sentiment-linear-1"
MODEL_DIR: Final = Path(__file__).resolve().parent / "models"
LABELS: Final = ("negative", "neutral", "positive")
_WORD_MEMO: Final = 200_000
_FEATURE_MEMO: Final = 400_000
# A feature's (or a word's character n-grams') contribution to the three logits and to the
# squared norm of its block.
_Part = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class ModelFiles:
    directory: Path
    name: str = MODEL_NAME

    @property
    def weights(self) -> Path:
        return self.directory / f"{self.name}.npz"

    @property
    def vocabulary(self) -> Path:
        return self.directory / f"{self.name}.vocab.json"

    @property
    def metadata(self) -> Path:
        return self.directory / f"{self.name}.json"


class LinearModel:
    """Multinomial logistic regression over `Vectoriser` features; immutable once loaded."""

    def __init__(
        self,
        vectoriser: Vectoriser,
        weights: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        metadata: dict[str, Any],
    ) -> None:
        if weights.shape != (vectoriser.width, len(LABELS)) or bias.shape != (len(LABELS),):
            raise ValueError(f"weights {weights.shape} do not fit {vectoriser.width} features")
        self.vectoriser = vectoriser
        self.weights = weights
        self.bias = bias
        self.metadata = metadata
        self.name = str(metadata.get("model", MODEL_NAME))
        size = len(vectoriser.vocabulary)
        idf = vectoriser.idf.astype(np.float64)
        # Row i's weights times its idf, and idf^2: a feature occurrence's share of the logits
        # and of its block's norm (sentiment_features.Vectoriser.transform).
        self._contribution = weights[:size].astype(np.float64) * idf[:, None]
        self._square = idf * idf
        self._dense_rows: list[list[float]] = weights[size:].astype(np.float64).tolist()
        self._bias_list: list[float] = bias.astype(np.float64).tolist()
        # feature string -> its part (contributions to the 3 logits, idf^2); bounded.
        self._features: dict[str, _Part] = {}
        # word -> (its character n-grams' summed contributions to the 3 logits, idf^2 sum);
        # bounded, racing threads store equal values.
        self._words: dict[str, _Part] = {}

    @classmethod
    def load(cls, directory: Path = MODEL_DIR, name: str = MODEL_NAME) -> LinearModel:
        files = ModelFiles(directory, name)
        metadata = json.loads(files.metadata.read_text(encoding="utf-8"))
        vocabulary = json.loads(files.vocabulary.read_text(encoding="utf-8"))
        with np.load(files.weights) as arrays:
            weights, bias, idf = arrays["weights"], arrays["bias"], arrays["idf"]
        config = FeatureConfig.from_dict(metadata["features"])
        return cls(Vectoriser(vocabulary, idf, config), weights, bias, metadata)

    def _word(self, word: str) -> _Part:
        known = self._words.get(word)
        if known is None:
            columns = self.vectoriser.char_columns(word)
            a, b, c = self._contribution[columns].sum(axis=0).tolist()
            known = (a, b, c, float(self._square[columns].sum()))
            if len(self._words) < _WORD_MEMO:
                self._words[word] = known
        return known

    def _feature(self, feature: str) -> _Part | None:
        part = self._features.get(feature)
        if part is None:
            column = self.vectoriser.index.get(feature)
            if column is None:
                return None
            a, b, c = self._contribution[column].tolist()
            part = (a, b, c, float(self._square[column]))
            if len(self._features) < _FEATURE_MEMO:
                self._features[feature] = part
        return part

    @staticmethod
    def _add_block(logits: list[float], parts: Iterable[_Part | None]) -> None:
        """One block's parts summed, divided by the block's norm, added to `logits`."""
        a = b = c = square = 0.0
        for part in parts:
            if part is not None:
                a += part[0]
                b += part[1]
                c += part[2]
                square += part[3]
        if square > 0.0:
            norm = math.sqrt(square)
            logits[0] += a / norm
            logits[1] += b / norm
            logits[2] += c / norm

    def logits(self, text: str, language: str) -> list[float]:
        """The same as `values @ weights[columns] + bias` over `Vectoriser.transform`, summed
        in plain Python from memoised per-feature and per-word parts (no numpy call per
        message: at this size its per-call overhead is most of the cost)."""
        config = self.vectoriser.config
        toks = tokens(text, language)
        words = word_features(toks, config)
        logits = list(self._bias_list)
        feature = self._feature
        self._add_block(logits, [feature(w) for w in words])
        code = language_code(language)
        if config.language_copies and code in RULES:
            prefix = f"l:{code}|"
            self._add_block(logits, [feature(prefix + w[2:]) for w in words])
        self._add_block(logits, [self._word(t) for t in toks if is_word(t)])
        if config.lexicon:
            for value, row in zip(dense_features(text, language), self._dense_rows, strict=True):
                logits[0] += value * row[0]
                logits[1] += value * row[1]
                logits[2] += value * row[2]
        return logits

    def probabilities(self, text: str, language: str) -> list[float]:
        """P(negative), P(neutral), P(positive)."""
        logits = self.logits(text, language)
        top = max(logits)
        exp = [math.exp(v - top) for v in logits]
        total = sum(exp)
        return [v / total for v in exp]
