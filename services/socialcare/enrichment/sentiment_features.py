"""Features of the sentiment model, shared by the training script and the service.

Why one module: a model is only as good as the agreement between the features it was
trained on and the features it is served (train/serve parity). training/sentiment/train.py
builds its vocabulary from `feature_strings` and its matrix with `Vectoriser.transform`, the
very function the service calls per message.

What a message becomes:

* Normalised: a bounded prefix (tweets are short; a 50,000-character paste is read as its
  first `MAX_CHARS`), lone surrogates replaced, URLs, @users and numbers as placeholders,
  elongations capped ("soooooo" -> "sooo", which still differs from "so").
* Word unigrams and bigrams, lower-cased. Words after a negation cue of the message's
  language, up to the next punctuation, carry a `_NEG` suffix ("not good" -> "not",
  "good_NEG"), so "good" and "not good" are different evidence. ALL-CAPS words add a
  `<caps>` token, "!" and "?" are tokens, and each emoji or emoticon is one token (skin
  tones and variation selectors removed: 👍🏽 is 👍).
* Character 2-5-grams inside word boundaries: inflections, compounds and misspellings
  ("waardeloze", "pésimas") share n-grams with forms seen in training.
* Optionally language-tagged copies of the word features (`l:de|gut`), so a word can mean
  something else in another language while the shared copy carries what languages share.
* The lexicon scorer's compound, positive and negative scores (sentiment_rules.py) as three
  dense features: intensifiers, dampeners and tens of thousands of dictionary words that a
  few thousand tweets never show.

Values: term frequency times idf, normalised within each block (words, characters,
language copies) by the square root of the sum of squared idf over the block's
occurrences (`Vectoriser.transform`).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from socialcare.enrichment.sentiment_lexicon import RULES
from socialcare.enrichment.sentiment_rules import lexicon_score

__all__ = [
    "DENSE_FEATURES",
    "MAX_CHARS",
    "FeatureConfig",
    "Vectoriser",
    "feature_strings",
    "is_word",
    "language_code",
    "tokens",
    "word_features",
]

MAX_CHARS: Final = 1000
DENSE_FEATURES: Final = ("lexicon_compound", "lexicon_positive", "lexicon_negative")
NEG: Final = "_NEG"
_WORD_MEMO: Final = 200_000

_TOKEN: Final = re.compile(
    r"(?P<url>https?://\S+|www\.\S+)"
    r"|(?P<user>(?<!\w)@\w+)"
    r"|(?P<emoticon>(?<![\w:;=<])(?:[:;=]['-]?[()\[\]dDpP/\\|@*]|<3|\^\^|xD+)(?![\w()\[\]]))"
    r"|(?P<word>[^\W\d_]+(?:['\u2019][^\W\d_]+)*)"
    r"|(?P<number>\d+(?:[.,:]\d+)*)"
    r"|(?P<symbol>[^\w\s])"
)
_ELONGATION: Final = re.compile(r"(.)\1{3,}")
_APOSTROPHE: Final = re.compile("['\u2019]")
# Not tokens: variation selectors, zero-width joiner, skin-tone modifiers, combining marks.
_IGNORED: Final = frozenset(
    ["\ufe0e", "\ufe0f", "\u200d", "\u20e3"] + [chr(c) for c in range(0x1F3FB, 0x1F400)]
)
_BREAKS: Final = frozenset('.,;:!?…()"')
_EMPHASIS: Final = frozenset("!?")
_ALL_NEGATIONS: Final = frozenset(RULES["en"].negations)


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    """Which features the model uses (stored in the model's metadata)."""

    char_min: int = 2
    char_max: int = 5
    bigrams: bool = True
    language_copies: bool = True
    lexicon: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureConfig:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def language_code(language: str) -> str:
    """ "nl-BE" -> "nl"; "" or unknown stays as given (lower-cased primary subtag)."""
    return language.strip().lower().replace("_", "-").split("-", 1)[0]


def _clean(text: str) -> str:
    text = text[:MAX_CHARS]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (broken UTF-16 from a channel)
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _ELONGATION.sub(r"\1\1\1", text)


def _split_word(word: str) -> list[str]:
    """ "l'appli" -> "l'", "appli"; "don't" stays (a Romance article or pronoun only)."""
    parts = _APOSTROPHE.split(word)
    if len(parts) == 1:
        return [word]
    out: list[str] = []
    for i, part in enumerate(parts[:-1]):
        if len(part) <= 2 or part == "qu":
            out.append(part + "'")
        else:
            out.append("'".join(parts[i:]))
            return out
    out.append(parts[-1])
    return out


def tokens(text: str, language: str) -> list[str]:
    """Word-level tokens: words (lower-cased, `_NEG` in a negation's scope), placeholders,
    emoji, emoticons, "!" and "?"; "" marks a clause break (never a feature)."""
    code = language_code(language)
    rules = RULES.get(code)
    negations = rules.negations if rules is not None else _ALL_NEGATIONS
    out: list[str] = []
    negated = False
    for match in _TOKEN.finditer(_clean(text)):
        kind = match.lastgroup
        token = match.group()
        if kind == "word":
            if len(token) > 2 and token.isupper():
                out.append("<caps>")
            for part in _split_word(token.lower().replace("\u2019", "'")):
                bare = part.rstrip("'")
                if bare in negations or part.endswith("n't"):
                    negated = True
                    out.append(part)
                else:
                    out.append(part + NEG if negated else part)
        elif kind == "symbol":
            if token in _BREAKS:
                negated = False
                if token in _EMPHASIS:
                    out.append(token)
                elif out and out[-1]:
                    out.append("")
            elif token not in _IGNORED and not token.isascii():
                out.append(token)
        elif kind == "emoticon":
            out.append(token.lower())
        elif kind == "url":
            out.append("<url>")
        elif kind == "user":
            out.append("<user>")
        else:
            out.append("<num>")
    return out


def is_word(token: str) -> bool:
    return len(token) > 1 and token[0].isalpha()


def char_grams(word: str, config: FeatureConfig) -> list[str]:
    """Character n-grams of one word (no `_NEG`), padded with spaces at its boundaries."""
    if word.endswith(NEG):
        word = word[: -len(NEG)]
    padded = f" {word} "
    size = len(padded)
    return [
        "c:" + padded[i : i + n]
        for n in range(config.char_min, config.char_max + 1)
        for i in range(size - n + 1)
    ]


def word_features(toks: Sequence[str], config: FeatureConfig) -> list[str]:
    words = [t for t in toks if t]
    out = ["w:" + t for t in words]
    if config.bigrams:
        out.extend(f"w:{a} {b}" for a, b in itertools.pairwise(words))
    return out


def feature_strings(text: str, language: str, config: FeatureConfig) -> list[str]:
    """Every sparse feature of a message, repeated as often as it occurs (vocabulary input)."""
    toks = tokens(text, language)
    words = word_features(toks, config)
    out = list(words)
    for token in toks:
        if is_word(token):
            out.extend(char_grams(token, config))
    if config.language_copies and language_code(language) in RULES:
        prefix = f"l:{language_code(language)}|"
        out.extend(prefix + w[2:] for w in words)
    return out


def dense_features(text: str, language: str) -> tuple[float, float, float]:
    score = lexicon_score(text[:MAX_CHARS], language)
    return score.compound, score.positive, score.negative


class Vectoriser:
    """Message -> (column indices, values) over a fixed vocabulary; dense features last.

    Thread-safe: the only mutable state is a bounded memo of word -> its character n-gram
    columns (two threads racing on a word store the same list).
    """

    def __init__(
        self, vocabulary: Sequence[str], idf: npt.NDArray[np.float32], config: FeatureConfig
    ) -> None:
        self.config = config
        self.vocabulary = list(vocabulary)
        self.index = {feature: i for i, feature in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self._idf = self.idf.astype(np.float64)
        self._memo: dict[str, list[int]] = {}
        self.width = len(self.vocabulary) + (len(DENSE_FEATURES) if config.lexicon else 0)

    def char_columns(self, word: str) -> list[int]:
        """Columns of a word's character n-grams in the vocabulary (memoised)."""
        columns = self._memo.get(word)
        if columns is None:
            index = self.index
            columns = [c for g in char_grams(word, self.config) if (c := index.get(g)) is not None]
            if len(self._memo) < _WORD_MEMO:
                self._memo[word] = columns
        return columns

    def blocks(
        self, toks: Sequence[str], language: str, chars: bool = True
    ) -> tuple[list[int], list[int], list[int]]:
        """Columns of the word, language-copy and character blocks, once per occurrence."""
        config = self.config
        index = self.index
        words = word_features(toks, config)
        word_columns = [c for w in words if (c := index.get(w)) is not None]
        copies: list[int] = []
        code = language_code(language)
        if config.language_copies and code in RULES:
            prefix = f"l:{code}|"
            copies = [c for w in words if (c := index.get(prefix + w[2:])) is not None]
        char_columns: list[int] = []
        if chars:
            for token in toks:
                if is_word(token):
                    char_columns.extend(self.char_columns(token))
        return word_columns, copies, char_columns

    def transform(
        self, text: str, language: str
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Each occurrence of a feature adds idf / sqrt(sum of idf^2 over its block's
        occurrences): tf-idf with a norm that adds up word by word, so the service can sum
        memoised per-word contributions (sentiment_model.py) and get the same logits."""
        parts_idx: list[npt.NDArray[np.int64]] = []
        parts_val: list[npt.NDArray[np.float64]] = []
        for block in self.blocks(tokens(text, language), language):
            if block:
                idx = np.asarray(block, dtype=np.int64)
                weights = self._idf[idx]
                parts_idx.append(idx)
                parts_val.append(weights / math.sqrt(float(weights @ weights)))
        if self.config.lexicon:
            parts_idx.append(np.arange(len(self.vocabulary), self.width, dtype=np.int64))
            parts_val.append(np.asarray(dense_features(text, language), dtype=np.float64))
        if not parts_idx:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        return np.concatenate(parts_idx), np.concatenate(parts_val)


def document_frequencies(documents: Iterable[Iterable[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for features in documents:
        for feature in set(features):
            counts[feature] = counts.get(feature, 0) + 1
    return counts


def smooth_idf(df: int, documents: int) -> float:
    """scikit-learn's smoothed idf: as if one extra document held every feature."""
    return math.log((1 + documents) / (1 + df)) + 1.0
