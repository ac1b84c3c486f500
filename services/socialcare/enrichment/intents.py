"""Intents and urgency: which questions and leads a message contains, and how urgent it
reads.

Scenario 1: "what is my energy label, and how do I apply for a subsidy?" is two questions,
and the case is not solved until both are answered; scenario 8: a question about a product
is a sales lead and goes to the sales queue, not to complaints. So a message is split into
its questions (sentences, and clauses where "and" / "en" / "und" / "et" / "y" / "e" or a
comma starts a new question), each clause is matched against the brand's taxonomy (care
config `intents`), and every intent found becomes one `Intent` (at most one per intent
name: the first clause that asked it), in the order the customer asked them.

Keywords match as everywhere else (`core.domain.keywords`: whole words, `word*` prefixes,
phrases, Unicode case folding) in the message's language, the `*` list and English (people
mix English terms into every language; an undetermined language gets all lists). A clause
no keyword matches is compared with the intents' example messages in the same languages
(`intent_examples`: TF-IDF likeness); the intent it is most like, if like enough, is found
with the likeness as its confidence. Keyword hits read 0.6-0.95 (more keywords, a question).

Urgency (0..1) is the most urgent intent found (its taxonomy `urgency`) or the wording
("urgent", "asap", "dringend", "spoed", "urgente", "!!!", in en, nl, de, fr, es, it, pt),
whichever is higher; "no rush" and its kin cancel the wording.

Pure and deterministic, and thread-safe: a detector compiles each brand's (and
language's) keywords and examples once, under a lock, and only reads them afterwards
(`warm_up` compiles them all at start-up, so no message waits 35-50 ms for its brand's
first). Any text is accepted: empty, emoji only, 50,000 characters, lone surrogates.

Cost (issue 13's budget is 0.3 ms for all of enrichment): a clause is case-folded once and
its folded form serves the keywords, the examples and the question test; the urgent and
calm wording runs its alternation of dozens of phrases only when the text has every word
of one of them (`_Wording`: one alternation scanned ~30 us per tweet, ~200 us for an
undetermined language's seven lists; the word check ~5 us).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.keywords import Terms, fold, keyword_pattern
from socialcare.core.domain.routing_config import IntentDefinition
from socialcare.core.domain.validators import ANY_LANGUAGE
from socialcare.enrichment.intent_examples import THRESHOLD, ExampleMatcher, stop_words_for
from socialcare.v1 import message_pb2

__all__ = ["MAX_QUESTION_CHARS", "MAX_TEXT_CHARS", "IntentDetector", "clauses", "wording_urgency"]

UNDETERMINED = "und"
# Only this much of a message is read: a customer's questions are in its first pages; a
# 50,000-character blog post must not cost more than a long message.
MAX_TEXT_CHARS = 20_000
# An intent's `question` keeps at most this much of its clause (the case shows it).
MAX_QUESTION_CHARS = 500
# Only a message's first clauses are compared with the examples (a keyword is cheap to look
# for in a long text; a comparison per clause of a 20,000-character post is not).
MAX_EXAMPLE_CLAUSES = 20

# Words that start a question, per language: a conjunction or comma before one of these
# starts a second question ("... energy label, and how do I apply ...").
_INTERROGATIVES: dict[str, tuple[str, ...]] = {
    "en": ("what", "how", "when", "where", "why", "who", "which", "can", "could", "will",
           "would", "is", "are", "do", "does", "did", "should", "may", "shall"),
    "nl": ("wat", "hoe", "wanneer", "waar", "waarom", "wie", "welke", "welk", "kan", "kun",
           "kunnen", "kunt", "mag", "moet", "is", "zijn", "wordt", "heb", "hebben", "krijg",
           "waarmee", "hoeveel"),
    "de": ("was", "wie", "wann", "wo", "warum", "wer", "welche", "welcher", "welches", "kann",
           "können", "könnt", "ist", "sind", "gibt", "muss", "habe", "wieso", "weshalb",
           "woher", "wohin", "wieviel", "wie viel"),
    "fr": ("que", "quoi", "comment", "quand", "où", "pourquoi", "qui", "quel", "quelle",
           "quels", "quelles", "est-ce", "puis-je", "pouvez", "pourriez", "combien", "y a-t-il"),
    "es": ("qué", "que", "cómo", "cuándo", "dónde", "por qué", "quién", "cuál", "cuáles",
           "puedo", "pueden", "puede", "hay", "cuánto", "cuánta"),
    "it": ("che", "cosa", "come", "quando", "dove", "perché", "chi", "quale", "quali",
           "posso", "potete", "può", "è", "quanto", "quanta"),
    "pt": ("que", "o que", "como", "quando", "onde", "por que", "porque", "quem", "qual",
           "quais", "posso", "podem", "pode", "é", "quanto", "quanta"),
}  # fmt: skip
# Conjunctions that join two questions in one sentence.
_CONJUNCTIONS: dict[str, tuple[str, ...]] = {
    "en": ("and", "or", "also"),
    "nl": ("en", "of", "ook"),
    "de": ("und", "oder", "auch"),
    "fr": ("et", "ou", "aussi"),
    "es": ("y", "e", "o", "también"),
    "it": ("e", "ed", "o", "anche"),
    "pt": ("e", "ou", "também"),
}
# Urgent wording per language (keywords syntax); "!!!" is counted apart.
_URGENT: dict[str, tuple[str, ...]] = {
    "en": ("urgent", "urgently", "asap", "a.s.a.p", "as soon as possible", "emergency",
           "immediately", "right now", "right away", "critical"),
    "nl": ("dringend", "spoed", "spoedig", "zo snel mogelijk", "zsm", "z.s.m", "noodgeval",
           "onmiddellijk", "meteen", "urgent"),
    "de": ("dringend", "eilig", "sofort", "so schnell wie möglich", "notfall", "umgehend",
           "unverzüglich", "asap"),
    "fr": ("urgent", "urgente", "urgence", "au plus vite", "dès que possible",
           "immédiatement", "tout de suite"),
    "es": ("urgente", "urgencia", "lo antes posible", "cuanto antes", "inmediatamente",
           "emergencia", "ya mismo"),
    "it": ("urgente", "urgenza", "al più presto", "immediatamente", "emergenza",
           "quanto prima", "il prima possibile"),
    "pt": ("urgente", "urgência", "o mais rápido possível", "o quanto antes", "imediatamente",
           "emergência"),
}  # fmt: skip
# Wording that says it is NOT urgent; it cancels the urgent words (not the intents).
_CALM: dict[str, tuple[str, ...]] = {
    "en": ("not urgent", "no rush", "no hurry", "whenever you can"),
    "nl": ("niet dringend", "geen haast", "geen spoed", "niet urgent"),
    "de": ("nicht dringend", "keine eile", "nicht eilig"),
    "fr": ("pas urgent", "pas pressé", "rien ne presse"),
    "es": ("no es urgente", "sin prisa", "no hay prisa"),
    "it": ("non è urgente", "non urgente", "nessuna fretta", "con calma"),
    "pt": ("não é urgente", "sem pressa", "não há pressa"),
}
# Urgency of the wording: one urgent word, two or more, "!!!" alone.
URGENT_WORD = 0.7
URGENT_WORDS = 0.85
EXCLAMATIONS = 0.4
# How urgent wording adds to what an exclamation run already says.
_SHOUT_BONUS = 0.1

# Ends a sentence: . ! ? ; … and their full-width forms, newlines; not a dot inside a
# number or abbreviation-like token ("3.5", "e.g.").
_ENDS = "!?;\u2026\uff01\uff1f\uff1b\u3002"  # ! ? ; … and the full-width forms, 。
_SENTENCE_END = re.compile(rf"(?<=[{_ENDS}])(?![{_ENDS}])\s*|(?<=\.)\s+|\n+")
_EXCLAMATION_RUN = re.compile("[!\uff01]{3,}")
_WORD = re.compile(r"\w+")
# How many leading characters of a keyword's anchor index it (`_Taxonomy.by_head`).
_HEAD = 3
# How many distinct words a taxonomy remembers the keywords of (`_Taxonomy.anchored`,
# ~100 bytes each: 1 MB per taxonomy at most; a word past it is looked up each time).
_MEMO_WORDS = 10_000
# Typographic apostrophes (phones type them) read as the ASCII one keywords are written with.
_APOSTROPHES = dict.fromkeys(map(ord, "\u2019\u2018\u02bc\u00b4\u0060"), "'")


@dataclass(frozen=True, slots=True)
class _Keyword:
    """One configured keyword: its expression (`keyword_pattern`), and the run of word
    characters every match starts a word of the text with (its `anchor`), so a text
    without such a word is skipped without running the expression."""

    term: str
    anchor: str
    regex: re.Pattern[str]
    intents: tuple[str, ...]  # the intents listing it, in taxonomy order


@dataclass(frozen=True, slots=True)
class _Taxonomy:
    """One brand's intents compiled for one message language."""

    entries: dict[str, IntentDefinition]
    keywords: tuple[_Keyword, ...]
    examples: ExampleMatcher | None  # None: no intent has examples in these languages
    # Keywords (their places in `keywords`) by the first _HEAD characters of their anchor
    # (a shorter anchor by all of it), and those without an anchor.
    by_head: dict[str, tuple[int, ...]]
    unanchored: tuple[int, ...]
    # Words seen -> `_anchored(word)`, up to _MEMO_WORDS of them (a dict read and written
    # without a lock: each item is computed from read-only fields, so a race only repeats
    # the work; the GIL keeps the dict whole).
    anchored: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def present(self, folded: str) -> list[_Keyword]:
        """The keywords found in `folded` text, in taxonomy order. One alternation of
        hundreds of keywords costs hundreds of attempts at every character (seconds for a
        long text); here a keyword runs only when a word of the text starts with its
        anchor, and the words find those keywords through `by_head` (a message of ten
        words looks at a handful of the hundred-odd keywords, not at each)."""
        candidates = set(self.unanchored)
        memo = self.anchored
        for word in set(_WORD.findall(folded)):
            places = memo.get(word)
            if places is None:
                places = self._anchored(word)
                if len(memo) < _MEMO_WORDS:
                    memo[word] = places
            candidates.update(places)
        found = []
        for at in sorted(candidates):
            keyword = self.keywords[at]
            if keyword.regex.search(folded):
                found.append(keyword)
        return found

    def _anchored(self, word: str) -> tuple[int, ...]:
        """The keywords (places) whose anchor `word` starts with."""
        return tuple(
            at
            for size in range(1, _HEAD + 1)
            for at in self.by_head.get(word[:size], ())
            if word.startswith(self.keywords[at].anchor)
        )


def _sentence_split(text: str) -> list[str]:
    return [part for part in _SENTENCE_END.split(text) if part and part.strip()]


def _clause_pattern(language: str) -> re.Pattern[str]:
    languages = _languages(language, _INTERROGATIVES)
    starts = sorted(
        {w for code in languages for w in _INTERROGATIVES[code]}, key=lambda w: (-len(w), w)
    )
    joins = sorted({w for code in languages for w in _CONJUNCTIONS[code]}, key=len, reverse=True)
    start = "|".join(re.escape(w) for w in starts)
    join = "|".join(re.escape(w) for w in joins)
    # Split before: ", and how", " and how", ", how" (the conjunction/comma is dropped).
    return re.compile(
        rf"\s*(?:,\s*(?:(?:{join})\s+)?|\s(?:{join})\s+)(?=(?:¿\s*)?(?:{start})(?!\w))",
        re.IGNORECASE,
    )


_CLAUSE_PATTERNS: dict[str, re.Pattern[str]] = {}
_CLAUSE_LOCK = threading.Lock()


def _clause_splitter(language: str) -> re.Pattern[str]:
    key = language if language in _INTERROGATIVES else UNDETERMINED
    found = _CLAUSE_PATTERNS.get(key)
    if found is None:
        with _CLAUSE_LOCK:
            found = _CLAUSE_PATTERNS.setdefault(key, _clause_pattern(key))
    return found


def _languages(language: str, table: dict[str, tuple[str, ...]]) -> list[str]:
    """The tables' languages to use for a message in `language`: its own and English; all
    of them when the language is unknown (a misdetected short text)."""
    if language in table:
        return sorted({language, "en"})
    return sorted(table)


def clauses(text: str, language: str = UNDETERMINED) -> list[str]:
    """`text` split into its questions: sentences, then clauses where a conjunction or
    comma starts another question. Empty strings never appear; each clause is stripped."""
    splitter = _clause_splitter(language)
    found = []
    for sentence in _sentence_split(_clean(text)):
        for clause in splitter.split(sentence):
            stripped = clause.strip(" \t\r\n,")
            if stripped:
                found.append(stripped)
    return found


def wording_urgency(text: str, language: str = UNDETERMINED) -> float:
    """How urgent the words of `text` read (0..1): urgent words in the message's language
    and English (all languages when unknown), "!!!"; "no rush" cancels the words."""
    cleaned = _clean(text)
    folded = _fold(cleaned)
    urgent, calm = _wording_terms(language)
    shouting = EXCLAMATIONS if _EXCLAMATION_RUN.search(cleaned) else 0.0
    words = frozenset(_WORD.findall(folded))
    if calm.search(folded, words):
        return shouting
    count = len(urgent.found(folded, words))
    if count == 0:
        return shouting
    level = URGENT_WORD if count == 1 else URGENT_WORDS
    return min(level + (_SHOUT_BONUS if shouting else 0.0), 1.0)


class _Wording:
    r"""`Terms` behind a check of the text's words: a phrase matches only where the text has
    each of its words (the runs of word characters of the folded phrase, whole: the
    phrase's expression ends each with a non-word character or `(?!\w)`), so a text that
    lacks a word of every phrase skips the alternation, with the same answer."""

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms = Terms(terms)
        self._needs = tuple(_words_needed(term) for term in self.terms.terms)

    def _may_match(self, words: frozenset[str]) -> bool:
        return any(needed <= words for needed in self._needs)

    def search(self, folded: str, words: frozenset[str]) -> bool:
        return self._may_match(words) and self.terms.search(folded)

    def found(self, folded: str, words: frozenset[str]) -> tuple[str, ...]:
        return self.terms.found(folded) if self._may_match(words) else ()


def _words_needed(term: str) -> frozenset[str]:
    """The words a text must have for `term` to match (a `word*` prefix's last word is
    not required whole: fewer words needed is never wrong, only slower)."""
    folded = fold(term).strip()
    words = _WORD.findall(folded)
    if folded.endswith("*") and words:
        words.pop()
    return frozenset(words)


_WORDING: dict[str, tuple[_Wording, _Wording]] = {}


def _wording_terms(language: str) -> tuple[_Wording, _Wording]:
    key = language if language in _URGENT else UNDETERMINED
    found = _WORDING.get(key)
    if found is None:
        languages = _languages(key, _URGENT)
        compiled = (
            _Wording(w for code in languages for w in _URGENT[code]),
            _Wording(w for code in languages for w in _CALM[code]),
        )
        with _CLAUSE_LOCK:
            found = _WORDING.setdefault(key, compiled)
    return found


class IntentDetector:
    """The intents of messages per the care config's taxonomy (`intents_for(brand)`).

    Compiles a brand's keywords for a message language on first use and keeps them (the
    config is fixed for the process's life); safe to call from several threads.
    """

    def __init__(self, care: CareConfig, *, example_threshold: float = THRESHOLD) -> None:
        self._care = care
        self._threshold = example_threshold
        self._compiled: dict[tuple[str, str], _Taxonomy] = {}
        self._shared: dict[tuple[tuple[str, ...], str], _Taxonomy] = {}
        self._lock = threading.Lock()
        self._named_languages = frozenset(
            code
            for entry in care.intents
            for code in (*entry.keywords, *entry.examples)
            if code != ANY_LANGUAGE
        )

    def detect(self, text: str, *, language: str, brand: str) -> list[message_pb2.Intent]:
        """The intents of `text` (in `language`, addressed to `brand`, a brand name), in
        the order asked, one per intent name; each with the clause that asked it."""
        taxonomy = self._taxonomy(self._care.brand(brand).name, language)
        if not taxonomy.entries:
            return []
        parts = clauses(text, language)
        whole = " ".join(parts)
        folded_whole = _fold(whole)
        present = taxonomy.present(folded_whole)
        examples = taxonomy.examples
        if not present and examples is None:
            return []
        hits: dict[str, tuple[str, float]] = {}  # intent -> (clause, confidence)
        for index, clause in enumerate(parts):
            folded = _fold(clause)
            counts: dict[str, int] = {}
            first: dict[str, int] = {}  # intent -> where the clause first names it
            for keyword in present:
                match = keyword.regex.search(folded)
                if match is not None:
                    for name in keyword.intents:
                        counts[name] = counts.get(name, 0) + 1
                        first[name] = min(first.get(name, match.start()), match.start())
            if counts:
                asks = _asks(clause, folded, language)
                for name in sorted(counts, key=first.__getitem__):
                    if name not in hits:
                        hits[name] = (clause, _confidence(counts[name], asks))
            elif examples is not None and index < MAX_EXAMPLE_CLAUSES:
                like = examples.best(folded, asking=_asks(clause, folded, language))
                if like is not None:
                    hits.setdefault(like.name, (clause, round(like.similarity, 2)))
        # A phrase a clause split cut in two still counts, with the whole text as question.
        for keyword in present:
            for name in keyword.intents:
                if name not in hits:
                    hits[name] = (whole, _confidence(1, _asks(whole, folded_whole, language)))
        intents = []
        for name, (clause, confidence) in hits.items():
            entry = taxonomy.entries[name]
            intents.append(
                message_pb2.Intent(
                    name=name,
                    confidence=confidence,
                    question=_question(clause),
                    sales=entry.sales,
                    product=entry.product or "",
                )
            )
        return intents

    def urgency(
        self, text: str, intents: Sequence[message_pb2.Intent], *, language: str, brand: str
    ) -> float:
        """How urgent the message is (0..1): its most urgent intent or its wording."""
        taxonomy = self._taxonomy(self._care.brand(brand).name, language)
        by_intent = max(
            (taxonomy.entries[i.name].urgency for i in intents if i.name in taxonomy.entries),
            default=0.0,
        )
        return max(by_intent, wording_urgency(text, language))

    def warm_up(self) -> None:
        """Compile every brand's taxonomy for every language it can be asked in (those the
        config names, and "und" for the rest) before taking traffic: each takes 35-50 ms,
        which would otherwise stall the first message of each brand and language."""
        for code in (*sorted(self._named_languages), UNDETERMINED):
            _clause_splitter(code)
            _wording_terms(code)
            _question_words(code)
            for brand in self._care.effective_brands:
                self._taxonomy(brand.name, code)

    def _taxonomy(self, brand: str, language: str) -> _Taxonomy:
        # Languages no keyword or example list names share one entry: the cache stays
        # bounded by the config, whatever the detector returns.
        code = language if language in self._named_languages else UNDETERMINED
        key = (brand, code)
        found = self._compiled.get(key)
        if found is None:
            entries = self._care.intents_for(brand)
            # Brands with the same intents share one compiled taxonomy.
            same = (tuple(entry.name for entry in entries), code)
            built = self._shared.get(same)
            if built is None:
                built = _compile(entries, code, self._named_languages, self._threshold)
            with self._lock:
                built = self._shared.setdefault(same, built)
                found = self._compiled.setdefault(key, built)
        return found


def _compile(
    entries: Iterable[IntentDefinition], language: str, known: frozenset[str], threshold: float
) -> _Taxonomy:
    """The brand's intents for a message in `language`: its keywords and examples, `*`'s
    and English's; every language's when it is undetermined."""
    lists = {language, ANY_LANGUAGE, "en"} if language != UNDETERMINED else {*known, ANY_LANGUAGE}
    by_name: dict[str, IntentDefinition] = {}
    intents_of: dict[str, list[str]] = {}
    examples: list[tuple[str, str]] = []
    for entry in entries:
        by_name[entry.name] = entry
        examples.extend(
            (entry.name, _fold(text))
            for code in sorted(entry.examples)
            if code in lists
            for text in entry.examples[code]
        )
        for code, words in entry.keywords.items():
            if code not in lists:
                continue
            for word in words:
                names = intents_of.setdefault(word.strip(), [])
                if entry.name not in names:
                    names.append(entry.name)
    keywords = []
    for term, names in intents_of.items():
        pattern = keyword_pattern(term)
        run = _WORD.search(fold(term))
        keywords.append(
            _Keyword(
                term=term,
                anchor=run.group() if run else "",
                regex=re.compile(pattern),
                intents=tuple(names),
            )
        )
    matcher = None
    if examples:
        statements = frozenset(name for name, entry in by_name.items() if not entry.question)
        matcher = ExampleMatcher(examples, threshold, stop_words_for(lists), statements)
    by_head: dict[str, list[int]] = {}
    for at, keyword in enumerate(keywords):
        if keyword.anchor:
            by_head.setdefault(keyword.anchor[:_HEAD], []).append(at)
    return _Taxonomy(
        entries=by_name,
        keywords=tuple(keywords),
        examples=matcher,
        by_head={head: tuple(places) for head, places in by_head.items()},
        unanchored=tuple(at for at, keyword in enumerate(keywords) if not keyword.anchor),
    )


def _fold(text: str) -> str:
    return fold(text).translate(_APOSTROPHES)


def _confidence(keywords: int, asks: bool) -> float:
    """0.6 for one keyword, more for each further one and for a clause that reads as a
    question (`asks`); at most 0.95."""
    score = 0.6 + 0.1 * min(keywords - 1, 2)
    if asks:
        score += 0.15
    return round(min(score, 0.95), 2)


def _asks(clause: str, folded: str, language: str) -> bool:
    """Whether the clause reads as a question: a "?" or an interrogative first word (read
    in its `folded` form: no interrogative has an apostrophe, the one thing `_fold`
    changes beyond `fold`)."""
    return clause.rstrip().endswith(("?", "\uff1f")) or _starts_as_question(folded, language)


def _starts_as_question(folded: str, language: str) -> bool:
    words = folded.lstrip("¿¡ \t").split(maxsplit=1)
    if not words:
        return False
    return words[0].strip(",:;") in _question_words(language)


_QUESTION_WORDS: dict[str, frozenset[str]] = {}


def _question_words(language: str) -> frozenset[str]:
    """The interrogatives of `language` and English (all of them when unknown), one set."""
    key = language if language in _INTERROGATIVES else UNDETERMINED
    found = _QUESTION_WORDS.get(key)
    if found is None:
        words = frozenset(
            w for code in _languages(key, _INTERROGATIVES) for w in _INTERROGATIVES[code]
        )
        with _CLAUSE_LOCK:
            found = _QUESTION_WORDS.setdefault(key, words)
    return found


def _question(clause: str) -> str:
    if len(clause) <= MAX_QUESTION_CHARS:
        return clause
    return clause[: MAX_QUESTION_CHARS - 1].rstrip() + "…"


def _clean(text: str) -> str:
    """`text` cut to MAX_TEXT_CHARS, lone surrogates replaced (they cannot be encoded in
    the protobuf strings the intents travel in)."""
    return text[:MAX_TEXT_CHARS].encode("utf-8", "replace").decode("utf-8")
