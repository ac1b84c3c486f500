"""Keyword matching: whether a text mentions configured words, phrases or word prefixes.

One implementation for every place that matches configured words against what people
write: the listening rules of the channels (`channels/listening.py`), the keyword
categories that escalate a case (`escalation/triggers.py`) and the topics of the crisis
config (`core/domain/crisis_config.py`).

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

A list of keywords is compiled once (`Terms`: one regular expression per list) and is pure:
safe to share between threads.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

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


def keyword_pattern(keyword: str) -> str:
    """The regular expression (over folded text) for one configured keyword; ValueError
    when it cannot match anything (empty, or `*` alone)."""
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


class Terms:
    """A list of keywords compiled into one expression; `found` names those present.

    Raises ValueError naming a keyword that cannot match anything (see `keyword_pattern`).
    """

    def __init__(self, terms: Iterable[str]) -> None:
        unique = list(dict.fromkeys(t.strip() for t in terms))
        self.terms: tuple[str, ...] = tuple(unique)
        patterns = [keyword_pattern(term) for term in unique]
        # Longer patterns first: at one position the longest phrase is the one reported.
        order = sorted(range(len(patterns)), key=lambda i: -len(patterns[i]))
        self._regex = (
            re.compile("|".join(f"(?P<k{i}>{patterns[i]})" for i in order)) if patterns else None
        )

    def found(self, folded: str, *, first_only: bool = False) -> tuple[str, ...]:
        """The terms present in `folded` text (see `fold`), in order of first appearance."""
        if self._regex is None:
            return ()
        seen: dict[str, None] = {}
        for match in self._regex.finditer(folded):
            assert match.lastgroup is not None
            seen.setdefault(self.terms[int(match.lastgroup[1:])], None)
            if first_only:
                break
        return tuple(seen)

    def search(self, folded: str) -> bool:
        """Whether any term is present in `folded` text (see `fold`)."""
        return self._regex is not None and self._regex.search(folded) is not None
