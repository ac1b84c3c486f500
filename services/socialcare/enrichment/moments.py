"""Special moments: the personal events a customer mentions (scenario 4), for the agent.

Agents of a messaging-first supplier reward special stories: a birth, a wedding, a nephew
from Australia who wants to see a football match. So enrichment marks the moments a
message mentions (`KINDS`: birth, wedding, trip, birthday, new_home, graduation, new_job,
anniversary, retirement, bereavement, illness) with the sentence that mentions each, and
the case view shows them. Bereavement and illness are there so the agent is careful, not
cheerful.

Precision over recall: a wrong "congratulations" is worse than none. The phrases
(`moment_phrases`) name the customer's own event, in en, nl, de, fr, es, it and pt, and
vetoes drop the product and process uses of the same words ("birth certificate", "trip
switch", "vakantiegeld"); an illness mentioned in the same sentence as a birth or a death
is the birth or the death ("our daughter was born in the hospital").

A message is read in its detected language and English (people mix English into every
language); an undetermined or other language is read in all of them. At most one moment
per kind, the first sentence that mentions it, in the order of the text.

Fast, pure and thread-safe: the patterns are compiled once at import and only read
afterwards. The common message mentions nothing, and costs one fold and one pass over its
words against the patterns' anchor stems (`ANCHORS`); only a message with an anchor word
runs the regular expressions of the patterns that anchor can start, sentence by sentence.
Any text is accepted: empty, emoji only, lone surrogates, and 50,000 characters (only the
first `MAX_TEXT_CHARS` are read). A quote is at most `MAX_QUOTE_CHARS`, with personal data
redacted (`core.pii`): it is shown and indexed apart from the message.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from socialcare.core import pii
from socialcare.core.domain.keywords import fold
from socialcare.enrichment.moment_phrases import ANCHORS, KINDS, LEXICONS, compile_phrase
from socialcare.v1 import message_pb2

__all__ = [
    "KINDS",
    "MAX_QUOTE_CHARS",
    "MAX_TEXT_CHARS",
    "Moment",
    "compile_phrase",
    "find_moments",
    "special_moments",
]

# Moments are told in a message's first lines; a 50,000-character paste must cost no more
# than a long message.
MAX_TEXT_CHARS = 8_000
# The proto's bound on SpecialMoment.quote.
MAX_QUOTE_CHARS = 200

# An illness in the same sentence as one of these is that event, not a separate moment.
_ABSORBS: Mapping[str, frozenset[str]] = {
    "illness": frozenset({"birth", "bereavement"}),
}
_APOSTROPHES = dict.fromkeys(map(ord, "\u2019\u2018\u02bc\u00b4\u0060"), "'")
# Typographic apostrophes and the invisible characters `fold` removes.
_UNUSUAL = re.compile("[\u2019\u2018\u02bc\u00b4\u0060\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_WORD = re.compile(r"\w+")
# The first `_KEY` characters of each word (see `_Gate`).
_WORD_START = re.compile(r"(?<!\w)\w{1,4}")
_WORD_START_SHORT = re.compile(r"(?<!\w)\w{1,3}")
_WHITE = re.compile(r"\s+")
# A sentence ends at . ! ? ; … (and full-width forms) followed by white space, or a newline.
_SENTENCE_END = re.compile(r"(?<=[.!?;\u2026\uff01\uff1f\u3002])\s+|\n+")
# A lone surrogate cannot be encoded (protobuf strings are UTF-8).
_SURROGATE = re.compile("[\ud800-\udfff]")
# The anchor prefix used as a dictionary key (see `_Gate`), and the shortest anchor.
_KEY = 4
_SHORT = 3
# How much of a long sentence around a mention is redacted and cut to the quote.
_REDACT_WINDOW = 1_000


@dataclass(frozen=True, slots=True)
class Moment:
    """A moment of `kind` the customer mentions, in their words (`quote`)."""

    kind: str
    quote: str


@dataclass(frozen=True, slots=True)
class _Pattern:
    """One kind's phrases in one language, and its vetoes."""

    language: str
    kind: str
    regex: re.Pattern[str]
    veto: re.Pattern[str] | None


class _Gate:
    """Which (language, kind) patterns a text's words could start. Anchor stems are looked
    up by their first four characters (three for the few that short), so a word costs a
    dictionary lookup or two, and a text none of whose words starts like an anchor costs
    two scans and a set operation, all in C."""

    def __init__(self, anchors: Mapping[str, Mapping[str, Iterable[str]]]) -> None:
        by_key: dict[str, dict[str, set[tuple[str, str]]]] = defaultdict(lambda: defaultdict(set))
        for language, kinds in anchors.items():
            for kind, stems in kinds.items():
                for stem in stems:
                    folded = _fold(stem)
                    if len(folded) < _SHORT:
                        raise ValueError(f"anchor {stem!r} is shorter than {_SHORT} characters")
                    by_key[folded[:_KEY]][folded].add((language, kind))
        self._by_key = {
            key: tuple((stem, frozenset(found)) for stem, found in stems.items())
            for key, stems in by_key.items()
        }
        self._keys = frozenset(key for key in self._by_key if len(key) == _KEY)
        self._short_keys = frozenset(key for key in self._by_key if len(key) < _KEY)

    def may_match(self, folded: str) -> bool:
        """Whether a word of `folded` text starts like an anchor."""
        return not self._keys.isdisjoint(
            _WORD_START.findall(folded)
        ) or not self._short_keys.isdisjoint(_WORD_START_SHORT.findall(folded))

    def patterns(self, words: Iterable[str]) -> dict[str, frozenset[tuple[str, str]]]:
        """The words (folded) that start an anchor, each with the (language, kind) pairs
        of the anchors it starts."""
        found: dict[str, frozenset[tuple[str, str]]] = {}
        by_key = self._by_key
        for word in words:
            for key in (word[:_KEY], word[:_SHORT]):
                stems = by_key.get(key)
                if stems is not None:
                    for stem, pairs in stems:
                        if word.startswith(stem):
                            found[word] = found.get(word, frozenset()) | pairs
        return found


class _Detector:
    """All languages' patterns, compiled once; read-only afterwards (thread-safe)."""

    def __init__(self) -> None:
        patterns = (
            _Pattern(
                language,
                kind,
                re.compile("|".join(compile_phrase(p) for p in phrases.patterns)),
                re.compile("|".join(compile_phrase(v) for v in phrases.vetoes))
                if phrases.vetoes
                else None,
            )
            for language, lexicon in LEXICONS.items()
            for kind, phrases in lexicon.items()
        )
        self._patterns = {(p.language, p.kind): p for p in patterns}
        # One gate per set of languages a text is read in: a Dutch anchor never sends an
        # English text to the patterns.
        self._gates = {
            languages: _Gate({lang: ANCHORS[lang] for lang in languages})
            for languages in {_EVERY_LANGUAGE, *_OWN_AND_ENGLISH.values()}
        }

    def find(self, text: str, language: str) -> list[Moment]:
        prefix = text[:MAX_TEXT_CHARS]
        folded = _fold(prefix)
        gate = self._gates[_readable_in(language)]
        if not gate.may_match(folded):
            return []
        anchored = gate.patterns(set(_WORD.findall(folded)))
        if not anchored:
            return []
        sentences = list(_sentences(prefix))
        moments: dict[str, Moment] = {}
        for sentence in sentences:
            folded_sentence = folded if sentence == prefix else _fold(sentence)
            hit: set[tuple[str, str]] = set()
            for word in _WORD.findall(folded_sentence):
                pairs = anchored.get(word)
                if pairs is not None:
                    hit |= pairs
            kinds: dict[str, int] = {}
            for pair in sorted(hit):  # one order in every process (str hashes vary)
                pattern = self._patterns[pair]
                if pattern.kind in moments or pattern.kind in kinds:
                    continue
                at = _first_unvetoed(pattern, folded_sentence)
                if at is not None:
                    kinds[pattern.kind] = at
            for kind in [k for k in kinds if _ABSORBS.get(k, frozenset()) & kinds.keys()]:
                del kinds[kind]
            for kind, at in sorted(kinds.items(), key=lambda item: item[1]):
                moments[kind] = Moment(kind, _quote(sentence, at, len(folded_sentence)))
            if len(moments) == len(KINDS):
                break
        return list(moments.values())


def _fold(text: str) -> str:
    """`core.domain.keywords.fold` with typographic apostrophes read as "'", cheaper on
    the common text: ASCII, or already normalised without invisible characters."""
    folded = text.casefold()
    if folded.isascii():
        return folded
    if _UNUSUAL.search(folded):
        return fold(folded).translate(_APOSTROPHES)
    if not unicodedata.is_normalized("NFKC", folded):
        folded = unicodedata.normalize("NFKC", folded)
    return folded


_EVERY_LANGUAGE = frozenset(LEXICONS)
_OWN_AND_ENGLISH = {language: frozenset({language, "en"}) for language in LEXICONS}


def _readable_in(language: str) -> frozenset[str]:
    """The lexicons a text in `language` is read with: its own and English; all of them
    when the language is undetermined or one we have no phrases for."""
    return _OWN_AND_ENGLISH.get(language, _EVERY_LANGUAGE)


def _first_unvetoed(pattern: _Pattern, text: str) -> int | None:
    """Where the first match of the pattern that none of its vetoes overlaps starts, or
    None."""
    vetoed: list[tuple[int, int]] | None = None
    for match in pattern.regex.finditer(text):
        if pattern.veto is None:
            return match.start()
        if vetoed is None:
            vetoed = [m.span() for m in pattern.veto.finditer(text)]
        start, end = match.span()
        if not any(v_start < end and start < v_end for v_start, v_end in vetoed):
            return start
    return None


def _sentences(text: str) -> Iterator[str]:
    at = 0
    for end in _SENTENCE_END.finditer(text):
        if end.start() > at:
            yield text[at : end.start()]
        at = end.end()
    if at < len(text):
        yield text[at:]


def _quote(sentence: str, at: int, folded_length: int) -> str:
    """The sentence as the customer wrote it, white space collapsed, personal data
    redacted, at most `MAX_QUOTE_CHARS`; a long one is cut around the mention (`at`, an
    offset in the folded sentence: folding rarely changes lengths, so it is scaled)."""
    share = at / max(folded_length, 1)
    text = _SURROGATE.sub("\ufffd", sentence)
    if len(text) > _REDACT_WINDOW:
        # Redact only what can be shown, with room on both sides so that no number is cut
        # where the quote's own window ends.
        centre = int(share * len(text))
        start = min(max(0, centre - _REDACT_WINDOW // 2), len(text) - _REDACT_WINDOW)
        share = (centre - start) / _REDACT_WINDOW
        text = text[start : start + _REDACT_WINDOW]
    quote = _WHITE.sub(" ", pii.redact(text)).strip()
    if len(quote) <= MAX_QUOTE_CHARS:
        return quote
    room = MAX_QUOTE_CHARS - 2  # an ellipsis on both sides
    start = min(max(0, int(share * len(quote)) - room // 4), len(quote) - room)
    end = start + room
    return ("…" if start else "") + quote[start:end] + ("…" if end < len(quote) else "")


_DETECTOR = _Detector()


def find_moments(text: str, language: str = "und") -> list[Moment]:
    """The moments `text` mentions, at most one per kind, in the order of the text;
    `language`: the message's detected language (ISO 639-1, "und" when unknown)."""
    return _DETECTOR.find(text, language)


def special_moments(text: str, language: str) -> list[message_pb2.SpecialMoment]:
    """`find_moments` as the EnrichedMessage field."""
    return [
        message_pb2.SpecialMoment(kind=moment.kind, quote=moment.quote)
        for moment in find_moments(text, language)
    ]
