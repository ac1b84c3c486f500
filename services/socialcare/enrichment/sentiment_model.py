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
    tokens,
)

__all__ = ["LABELS", "MODEL_DIR", "MODEL_NAME", "LinearModel", "ModelFiles"]

MODEL_NAME: Final = "sentiment-linear-1"
MODEL_DIR: Final = Path(__file__).resolve().parent / "models"
LABELS: Final = ("negative", "neutral", "positive")
_WORD_MEMO: Final = 200_000


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
        self._dense = weights[size:].astype(np.float64)
        self._bias = bias.astype(np.float64)
        # word -> (its character n-grams' summed contributions to the 3 logits, idf^2 sum);
        # bounded, racing threads store equal values.
        self._words: dict[str, tuple[float, float, float, float]] = {}

    @classmethod
    def load(cls, directory: Path = MODEL_DIR, name: str = MODEL_NAME) -> LinearModel:
        files = ModelFiles(directory, name)
        metadata = json.loads(files.metadata.read_text(encoding="utf-8"))
        vocabulary = json.loads(files.vocabulary.read_text(encoding="utf-8"))
        with np.load(files.weights) as arrays:
            weights, bias, idf = arrays["weights"], arrays["bias"], arrays["idf"]
        config = FeatureConfig.from_dict(metadata["features"])
        return cls(Vectoriser(vocabulary, idf, config), weights, bias, metadata)

    def _word(self, word: str) -> tuple[float, float, float, float]:
        known = self._words.get(word)
        if known is None:
            columns = self.vectoriser.char_columns(word)
            a, b, c = self._contribution[columns].sum(axis=0).tolist()
            known = (a, b, c, float(self._square[columns].sum()))
            if len(self._words) < _WORD_MEMO:
                self._words[word] = known
        return known

    def logits(self, text: str, language: str) -> list[float]:
        """The same as `values @ weights[columns] + bias` over `Vectoriser.transform`, summed
        from memoised per-word parts (a few microseconds instead of tens)."""
        vectoriser = self.vectoriser
        toks = tokens(text, language)
        words, copies, _ = vectoriser.blocks(toks, language, chars=False)
        logits = self._bias.copy()
        for block in (words, copies):
            if block:
                logits += self._contribution[block].sum(axis=0) / math.sqrt(
                    float(self._square[block].sum())
                )
        a = b = c = square = 0.0
        for token in toks:
            if is_word(token):
                da, db, dc, ds = self._word(token)
                a += da
                b += db
                c += dc
                square += ds
        if square > 0.0:
            norm = math.sqrt(square)
            logits += np.array((a / norm, b / norm, c / norm))
        if vectoriser.config.lexicon:
            logits += np.asarray(dense_features(text, language)) @ self._dense
        result: list[float] = logits.tolist()
        return result

    def probabilities(self, text: str, language: str) -> list[float]:
        """P(negative), P(neutral), P(positive)."""
        logits = self.logits(text, language)
        top = max(logits)
        exp = [math.exp(v - top) for v in logits]
        total = sum(exp)
        return [v / total for v in exp]
