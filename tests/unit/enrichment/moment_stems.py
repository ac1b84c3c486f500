"""The word stems a moment pattern cannot match without, derived from its parsed regular
expression: the proof that `moment_phrases.ANCHORS` (the fast path's gate) never hides a
match.

A pattern is compiled as a whole-word expression, so a literal at its start or after a
non-word character (a space, an apostrophe, a hyphen) starts a word of the text. Along a
sequence every mandatory item must match, so any one item's stems will do (the longest
shortest stem is kept: the most selective); an alternation needs a stem from each branch;
an optional item needs nothing. None: no stem is certain (the gate could hide a match).
"""

from __future__ import annotations

import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants as c
    import sre_parse

from socialcare.enrichment.moment_phrases import KINDS, LEXICONS, compile_phrase

Stems = frozenset[str]


def _word_char(code: int) -> bool:
    char = chr(code)
    return char.isalnum() or char == "_"


def _ends_non_word(item: tuple[Any, Any]) -> bool:
    """Whether every way the item matches ends with a non-word character."""
    op, av = item
    if op is c.LITERAL:
        return not _word_char(av)
    if op is c.IN:
        return all(
            (o is c.LITERAL and not _word_char(a))
            or (o is c.CATEGORY and a in (c.CATEGORY_SPACE, c.CATEGORY_NOT_WORD))
            for o, a in av
        )
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        low, _high, body = av
        return bool(low >= 1 and body and _ends_non_word(body[-1]))
    if op is c.SUBPATTERN:
        body = av[-1]
        return bool(body) and _ends_non_word(body[-1])
    if op is c.BRANCH:
        return all(branch and _ends_non_word(branch[-1]) for branch in av[1])
    return False


def _zero_width(op: Any) -> bool:
    return op in (c.ASSERT, c.ASSERT_NOT, c.AT)


def sequence_stems(items: Any, at_word_start: bool, prefix: str = "") -> Stems | None:
    """Stems one of which starts a word of any text the sequence matches; `prefix`: the
    word characters just before the sequence, when a word started there."""
    options: list[Stems] = []
    word = prefix
    word_start = at_word_start
    collecting = at_word_start
    for item in items:
        op, av = item
        if _zero_width(op):
            continue
        if op is c.LITERAL and _word_char(av):
            if collecting:
                word += chr(av)
            word_start = False
            continue
        # A group right after the start of a word continues that word ("c(?:âncer|ancro)").
        ahead = word if collecting and word else ""
        if word:
            options.append(frozenset({word}))
        word = ""
        if op is c.LITERAL:
            collecting = word_start = True
            continue
        start = word_start or bool(ahead)
        if op is c.SUBPATTERN:
            inner = sequence_stems(av[-1], start, ahead)
            if inner is not None:
                options.append(inner)
        elif op is c.BRANCH:
            branches = [sequence_stems(branch, start, ahead) for branch in av[1]]
            if all(b is not None for b in branches):
                options.append(frozenset().union(*(b for b in branches if b is not None)))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
            inner = sequence_stems(av[2], word_start)
            if inner is not None:
                options.append(inner)
        optional = op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] == 0
        ends = _ends_non_word(item if not optional else (op, (1, av[1], av[2])))
        word_start = (word_start and ends) if optional else ends
        collecting = word_start
    if word:
        options.append(frozenset({word}))
    if not options:
        return None
    return max(options, key=lambda stems: (_selectivity(stems), min(map(len, stems))))


# Words too common to gate on: a stem that is one of them counts as one character.
_COMMON_WORDS = (
    "have had has got get going go just new first day off late start be is are was",  # en
    "the and you your for with that this from not can will our",  # en
    "met van een wordt eerste nieuw het die dat ook voor niet naar",  # nl
    "mein meine unser sein ihr neue wird der die das den dem und ich mit für nicht",  # de
    "les des une que pour pas dans sur avec",  # fr
    "primer los las una con por para del",  # es
    "che per non gli sono",  # it
    "fui vamos anos dar não com uma dos das",  # pt
)
_COMMON = frozenset(" ".join(_COMMON_WORDS).split())


def _selectivity(stems: Stems) -> int:
    """How rarely a text has a word starting with one of the stems, roughly: the shortest
    stem's length."""
    return min(1 if stem in _COMMON else len(stem) for stem in stems)


def pattern_stems(compiled_source: str) -> Stems | None:
    """The stems of one whole-word pattern (as `moments._compile` builds it)."""
    return sequence_stems(sre_parse.parse(compiled_source), True)


def derived_anchors() -> dict[str, dict[str, tuple[str, ...]]]:
    """`moment_phrases.ANCHORS` as the patterns require them: per language and kind, the
    stems of every pattern, without a stem another one starts. Raises ValueError for a
    pattern with no certain stem."""
    anchors: dict[str, dict[str, tuple[str, ...]]] = {}
    for language, lexicon in LEXICONS.items():
        anchors[language] = {}
        for kind in KINDS:
            if kind not in lexicon:
                continue
            stems: set[str] = set()
            for pattern in lexicon[kind].patterns:
                found = pattern_stems(compile_phrase(pattern))
                if found is None:
                    raise ValueError(f"{language} {kind}: no word is certain in {pattern!r}")
                stems |= found
            anchors[language][kind] = tuple(
                sorted(s for s in stems if not any(s != t and s.startswith(t) for t in stems))
            )
    return anchors


if __name__ == "__main__":
    # Prints ANCHORS for moment_phrases.py after a change of patterns.
    print("ANCHORS: Mapping[str, Mapping[str, tuple[str, ...]]] = {")
    for language, kinds in derived_anchors().items():
        print(f'    "{language}": {{')
        for kind, stems in kinds.items():
            print(f'        "{kind}": (')
            line = "           "
            for stem in stems:
                piece = f' "{stem}",'
                if len(line) + len(piece) > 92:
                    print(line)
                    line = "           "
                line += piece
            print(line)
            print("        ),")
        print("    },")
    print("}  # fmt: skip")
