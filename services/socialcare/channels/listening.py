"""Listening: which posts beyond direct mentions a brand wants its agents to see.

A government energy agency does not only answer people who name it; it watches blogs and
forums for anyone asking about energy bills, energy labels or subsidies (scenario 1). A
brand lists `listening.keywords` (a feed may override them with its own `keywords`) and
`listening.exclude`; a post is taken when it contains at least one keyword and no excluded
term. Every decision says which keyword matched (or which term excluded it), so the audit
can show why a stranger's post became a case.

How a keyword matches, and why:
- Case-insensitively with Unicode case folding and NFKC normalisation, so "ENERGIELABEL"
  matches "energielabel", "STRASSE" matches "Straße" and a composed "é" matches a decomposed
  one. Accents are NOT folded away: German "Förderung" (a subsidy) must not match
  "Forderung" (a claim). Soft hyphens and zero-width characters, which HTML puts inside long
  Dutch compounds ("energie&shy;label"), are ignored.
- As whole words: "label" does not match "labelled" or "energielabel"; letters and digits
  of any script count as word characters. A keyword ending in `*` matches words starting
  with it: "subsidie*" matches "subsidie", "subsidies" and "subsidieregeling" (Dutch and
  German glue words together, so a stem is often what one means).
- A phrase ("energy label", "hoge energierekening") matches its words in order with any
  run of spaces or hyphens between them: "energy label", "energy-label", "energy\\n label".
  It does not match the words glued together: list "energielabel" and "energie label"
  separately when both spellings occur.
- Everything else in a keyword is literal: "#energielabel", "@energieloket", "C++".
- No keywords at all means every post is taken (a feed of the brand's own forum); the
  exclude list still applies.

Rules are compiled once (one regular expression per list) and are pure: safe to share
between threads.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from socialcare.core.domain.brands import Brand, Feed

# Characters that are invisible in the text a reader sees and must not split a word:
# soft hyphen, zero-width space / non-joiner / joiner, word joiner, BOM.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
# Between the words of a phrase: any run of white space or hyphens (ASCII and Unicode).
_WORD_GAP = r"[\s\-\u2010-\u2015\u2212]+"
_SEPARATORS = re.compile(_WORD_GAP)
PREFIX = "*"


def fold(text: str) -> str:
    """`text` in the form keywords are compared in: NFKC, case-folded, without invisible
    characters. Folding twice changes nothing."""
    text = unicodedata.normalize("NFKC", text.translate(_INVISIBLE))
    return unicodedata.normalize("NFKC", text.casefold())


def _keyword_pattern(keyword: str) -> str:
    """The regular expression (over folded text) for one configured keyword."""
    words = [w for w in _SEPARATORS.split(fold(keyword).strip()) if w]
    if not words:
        raise ValueError(f"{keyword!r}: a keyword needs at least one word")
    prefix = words[-1].endswith(PREFIX)
    if prefix:
        words[-1] = words[-1].rstrip(PREFIX)
        if not words[-1]:
            raise ValueError(f"{keyword!r}: {PREFIX} needs a word before it (e.g. subsidie*)")
    body = _WORD_GAP.join(re.escape(word) for word in words)
    end = r"\w*" if prefix else r"(?!\w)"
    return rf"(?<!\w){body}{end}"


class _Terms:
    """A list of keywords compiled into one expression; `found` names those present."""

    def __init__(self, terms: Iterable[str]) -> None:
        unique = list(dict.fromkeys(t.strip() for t in terms))
        self.terms: tuple[str, ...] = tuple(unique)
        patterns = [_keyword_pattern(term) for term in unique]
        # Longer patterns first: at one position the longest phrase is the one reported.
        order = sorted(range(len(patterns)), key=lambda i: -len(patterns[i]))
        self._regex = (
            re.compile("|".join(f"(?P<k{i}>{patterns[i]})" for i in order)) if patterns else None
        )

    def found(self, folded: str, *, first_only: bool = False) -> tuple[str, ...]:
        """The terms present in `folded` text, in order of first appearance."""
        if self._regex is None:
            return ()
        seen: dict[str, None] = {}
        for match in self._regex.finditer(folded):
            assert match.lastgroup is not None
            seen.setdefault(self.terms[int(match.lastgroup[1:])], None)
            if first_only:
                break
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a post is taken, and why: the keywords found (in the order they occur, as
    configured) or the excluded term that ruled it out."""

    matched: bool
    keywords: tuple[str, ...] = ()
    excluded_by: str | None = None
    everything: bool = False

    @property
    def reason(self) -> str:
        """One line for the audit log."""
        if self.excluded_by is not None:
            return f"excluded by {self.excluded_by!r}"
        if self.everything:
            return "no keywords: every post is taken"
        if self.matched:
            return "matched " + ", ".join(repr(k) for k in self.keywords)
        return "no keyword found"


class ListeningRules:
    """Compiled keyword and exclude lists; `judge(text)` decides about one post."""

    def __init__(self, keywords: Sequence[str], exclude: Sequence[str] = ()) -> None:
        """Raises ValueError naming a keyword that cannot match anything (empty, or `*`
        alone)."""
        self._keywords = _Terms(keywords)
        self._exclude = _Terms(exclude)

    @classmethod
    def for_feed(cls, brand: Brand, feed: Feed) -> ListeningRules:
        """The brand's listening rules, with the feed's own keywords when it lists any
        (an explicitly empty list takes every post); the brand's exclude list applies."""
        keywords = brand.listening.keywords if feed.keywords is None else feed.keywords
        return cls(keywords, brand.listening.exclude)

    @property
    def keywords(self) -> tuple[str, ...]:
        return self._keywords.terms

    @property
    def exclude(self) -> tuple[str, ...]:
        return self._exclude.terms

    def judge(self, text: str) -> Verdict:
        folded = fold(text)
        excluded = self._exclude.found(folded, first_only=True)
        if excluded:
            return Verdict(matched=False, excluded_by=excluded[0])
        if not self._keywords.terms:
            return Verdict(matched=True, everything=True)
        found = self._keywords.found(folded)
        return Verdict(matched=bool(found), keywords=found)
