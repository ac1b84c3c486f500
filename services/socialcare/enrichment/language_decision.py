"""The language a message is read and routed in: detected among the brand's languages, or,
for a text too short or too mixed to tell, what the author or the channel states.

Order of evidence (`decide_language`):

1. DETECTED: the detector (socialcare.enrichment.language) is at least `DETECTED_FROM`
   sure among the brand's languages and found one language only.
2. AUTHOR: the customer's known language (Author.language, else the CRM's).
3. CHANNEL_HINT: the channel's statement (`language_hint`; X tags every tweet).
4. DETECTED with the detector's low confidence, when nothing is stated.
5. BRAND_DEFAULT: a text of one or two letters ("ok", "ja") from nobody we know, when the
   brand configures languages: its first, with 1/len(languages) as confidence (the chance
   of a blind pick; a one-language brand is simply right).
6. UNDETERMINED ("und"): no letters (emoji, a link) or a script none of the candidates is
   written in, and nothing stated.

A stated language counts only when the brand answers in it (or, for a brand without
languages, when enrichment supports it): a customer known to write German is still read
in the text's language by a brand that has no German desk.

Thresholds, measured on the repository's labelled texts (training/sentiment/data, train and
held-out files; each text labelled with the language of its directory, some of them wrongly:
an English tweet in the German set), candidates en nl de fr es it pt; on xlm-t's 12,978
tweets (en de fr es it pt) and, in brackets, on all 81,481 texts of five sources:

* `DETECTED_FROM` = 0.85. At or above it are 93.3 % (93.7 %) of the texts, and the detector
  agrees with their label 99.6 % (99.9 %) of the time; below it 84 % (85 %): 0.7-0.85 95 %
  (98 %), 0.5-0.7 85 % (88 %), below 0.5 62 % (61 %). A language the customer or the
  channel states is right more often than that, so below 0.85 the statement wins; at
  0.85-0.9 the detector is still right 97 % (99 %), which a statement does not beat.
  Without a statement the detection stands whatever its confidence: even below 0.5 it is
  right more often than a fixed default on a desk of several languages (the brand's
  first language is right only for its share of the traffic).
* Code-mixed: two clauses of 15+ letters each read at >= 0.9 as different candidates (the
  detector's `mixed`; 28 of the tweets, 0.22 %). Such a text has no single language, so a
  stated one wins whatever the detector's confidence, reported at `MIXED_CONFIDENCE` (one
  of the text's languages, not the only one); without a statement the detector's winner
  stands (the label's language for 23 of the 28) with the share of the letters it wrote
  as confidence.
* A statement on a text the detector could not read is reported at `STATED_CONFIDENCE` =
  `DETECTED_FROM`: as sure as the least sure detection we accept.

`python -m socialcare.enrichment.language_quality --split all` prints the per-language
figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from socialcare.enrichment.language import SUPPORTED_LANGUAGES, UNDETERMINED, detect_language
from socialcare.v1 import message_pb2

__all__ = [
    "DETECTED_FROM",
    "MIXED_CONFIDENCE",
    "STATED_CONFIDENCE",
    "LanguageDecision",
    "decide_language",
    "stated_language",
]

DETECTED_FROM: Final = 0.85
STATED_CONFIDENCE: Final = DETECTED_FROM
MIXED_CONFIDENCE: Final = 0.5

# Codes channels and CRMs send for our languages: X's "no" is Norwegian, "nn" Nynorsk
# (routed with Bokmål), and the withdrawn codes for Hebrew and Indonesian.
_ALIASES: Final[dict[str, str]] = {"no": "nb", "nn": "nb", "iw": "he", "in": "id"}

Source: TypeAlias = message_pb2.LanguageSource.ValueType


@dataclass(frozen=True, slots=True)
class LanguageDecision:
    """An ISO 639-1 code (or "und"), how sure we are of it (0-1) and where it came from."""

    code: str
    confidence: float
    source: Source


def stated_language(value: str) -> str:
    """A language as a channel, an integrator or a CRM writes it ("pt-BR", "de_DE", "NO")
    as the ISO 639-1 code we route on ("pt", "de", "nb"); "" for nothing usable."""
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    code = _ALIASES.get(primary, primary)
    return code if len(code) == 2 and code.isascii() and code.isalpha() else ""


def decide_language(
    text: str,
    languages: Sequence[str] = (),
    *,
    author_language: str = "",
    hint: str = "",
) -> LanguageDecision:
    """The language to read and route `text` in, among the brand's `languages` (main one
    first; empty = every supported language), given the author's known language and the
    channel's hint (either may be empty)."""
    guess = detect_language(text, languages)
    if guess.code != UNDETERMINED and not guess.mixed and guess.confidence >= DETECTED_FROM:
        return LanguageDecision(guess.code, guess.confidence, message_pb2.LANGUAGE_SOURCE_DETECTED)
    answered = frozenset(languages) or SUPPORTED_LANGUAGES
    for stated, source in (
        (author_language, message_pb2.LANGUAGE_SOURCE_AUTHOR),
        (hint, message_pb2.LANGUAGE_SOURCE_CHANNEL_HINT),
    ):
        code = stated_language(stated)
        if code and code in answered:
            confidence = MIXED_CONFIDENCE if guess.mixed else STATED_CONFIDENCE
            return LanguageDecision(code, confidence, source)
    if guess.code != UNDETERMINED:
        return LanguageDecision(guess.code, guess.confidence, message_pb2.LANGUAGE_SOURCE_DETECTED)
    if guess.short and languages:
        return LanguageDecision(
            languages[0], round(1 / len(languages), 4), message_pb2.LANGUAGE_SOURCE_BRAND_DEFAULT
        )
    return LanguageDecision(UNDETERMINED, 0.0, message_pb2.LANGUAGE_SOURCE_UNDETERMINED)
