"""Listening: which posts beyond direct mentions a brand wants its agents to see.

A government energy agency does not only answer people who name it; it watches blogs and
forums for anyone asking about energy bills, energy labels or subsidies (scenario 1). A
brand lists `listening.keywords` (a feed may override them with its own `keywords`) and
`listening.exclude`; a post is taken when it contains at least one keyword and no excluded
term. Every decision says which keyword matched (or which term excluded it), so the audit
can show why a stranger's post became a case.

Keywords match as whole words, phrases or `word*` prefixes, with Unicode case folding and
invisible characters ignored but accents kept; the rules, and why, are those of
`socialcare.core.domain.keywords` (shared with escalation keywords and crisis topics).
No keywords at all means every post is taken (a feed of the brand's own forum); the exclude
list still applies.

Rules are compiled once (one regular expression per list) and are pure: safe to share
between threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from socialcare.core.domain.brands import Brand, Feed
from socialcare.core.domain.keywords import Terms, fold

__all__ = ["ListeningRules", "Verdict", "fold"]


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
        self._keywords = Terms(keywords)
        self._exclude = Terms(exclude)

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
