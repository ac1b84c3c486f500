"""Free text for the embedded store: Elasticsearch's ``simple_query_string`` as SQLite FTS5.

Its own module because it is a language translator, not storage: a port of Lucene's
SimpleQueryParser (what ``simple_query_string`` runs) with ``default_operator: and`` over
every TEXT field: every term must match (each in any field), ``"phrase"``, ``-not``,
``a | b``, ``+``, ``(...)``, ``prefix*`` and ``"phrase"~slop`` work, and no input raises (the
output is always valid FTS5). Deliberate differences from Elasticsearch: ``term~N`` (fuzzy)
is an exact term, ``"phrase"~N`` becomes FTS5 ``NEAR`` (order-free), and tokenisation is
FTS5's (``don't`` is ``don`` + ``t``, so ``don`` finds it; ES's standard tokenizer keeps
``don't`` whole), so results agree on ordinary words and may differ on edge cases. A query
whose operators nest deeper than FTS5 allows (some 40 alternations of ``|`` and AND, which no
person types) raises InvalidQueryError.

The parser runs left to right with no operator precedence, lenient: it never fails. Each
clause becomes a set of documents in a small algebra: ("pos", e) = documents matching FTS5
expression e, ("neg", e) = all documents except those, plus "all" and "none". Lucene's "-x"
is "all except x", so every combination stays expressible with FTS5's binary NOT.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Final

from socialcare.core.search.base import InvalidQueryError

__all__ = ["FtsNode", "TextMatch", "fold_text", "parse_simple_query"]

# FTS5's parser overflows its stack at about 96 nested parentheses.
MAX_EXPRESSION_DEPTH: Final = 80

# Letters that Unicode does not decompose but Elasticsearch's asciifolding folds; applied to
# indexed and queried text so "Strasse" finds "Straße" in both backends.
_FOLD_EXTRA = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "þ": "th",
        "Þ": "TH",
        "\u0131": "i",  # dotless i
    }
)


def fold_text(text: str) -> str:
    """`text` with the letters asciifolding folds but FTS5's tokenizer keeps (ß, æ, ø, ...)
    spelled out; the store applies it to indexed text, as the parser does to query terms."""
    return text.translate(_FOLD_EXTRA)


@dataclass(frozen=True, slots=True)
class FtsNode:
    """An FTS5 expression: a quoted leaf, or AND/OR over children, or NOT (children[0] minus
    children[1]). `depth` is the nesting of parentheses in its rendering, which FTS5 limits."""

    op: str
    leaf: str = ""
    children: tuple[FtsNode, ...] = ()
    depth: int = dataclass_field(init=False)

    def __post_init__(self) -> None:
        own = {"leaf": 0, "NOT": 2}.get(self.op, 1)  # the parentheses render() adds
        depth = own + max((child.depth for child in self.children), default=0)
        if depth > MAX_EXPRESSION_DEPTH:
            raise InvalidQueryError(
                "the search text is too complex (too many alternating operators): simplify it"
            )
        object.__setattr__(self, "depth", depth)

    def render(self) -> str:
        # Iterative, so that a deep expression cannot exhaust Python's recursion limit.
        parts: list[str] = []
        stack: list[FtsNode | str] = [self]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                parts.append(item)
            elif item.op == "leaf":
                parts.append(item.leaf)
            elif item.op == "NOT":
                left, right = item.children
                stack.extend(["))", right, ") NOT (", left, "(("])
            else:
                pieces: list[FtsNode | str] = ["("]
                for i, child in enumerate(item.children):
                    pieces.extend([f" {item.op} ", child] if i else [child])
                pieces.append(")")
                stack.extend(reversed(pieces))
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class TextMatch:
    """The compiled free text: 'pos' (the documents matching `node`), 'neg' (all documents
    except those), 'all' or 'none'."""

    kind: str
    node: FtsNode | None = None

    @property
    def expression(self) -> str:
        assert self.node is not None
        return self.node.render()


_ALL = TextMatch("all")
_NONE = TextMatch("none")
_WHITESPACE = " \t\n\r"
_TERM_END = '"|+()' + _WHITESPACE
_MAX_DEPTH = 32  # deeper parentheses are treated as plain characters


def parse_simple_query(text: str) -> TextMatch:
    """Compile simple_query_string syntax (default operator AND) to an FTS5 plan."""
    text = text.replace("\x00", " ")
    if text.strip() == "*":
        return _ALL  # Elasticsearch matches every document for a lone "*"
    parsed = _Parser(text).parse(0, len(text), 0)
    if parsed is None:
        return _NONE
    return parsed


_Add = Callable[[TextMatch | None], None]


class _Parser:
    def __init__(self, data: str) -> None:
        self.data = data

    def parse(self, start: int, end: int, depth: int) -> TextMatch | None:
        data = self.data
        top: TextMatch | None = None
        operation: str | None = None
        negations = 0
        i = start

        def add(branch: TextMatch | None) -> None:
            nonlocal top, operation
            if branch is None:
                return
            if negations % 2 == 1:
                branch = _negate(branch)
            if top is None:
                top = branch
            elif operation == "or":
                top = _union(top, branch)
            else:
                top = _intersect(top, branch)
            operation = None

        while i < end:
            char = data[i]
            if char == "(" and depth < _MAX_DEPTH:
                close = self._closing_parenthesis(i + 1, end)
                if close is None:
                    i += 1  # never closed: the "(" is ignored
                elif close == i + 1:
                    operation = None
                    i = close + 1
                else:
                    add(self.parse(i + 1, close, depth + 1))
                    i = close + 1
            elif char in "()":
                i += 1  # extraneous
            elif char == '"':
                i = self._phrase(i, end, add)
                if i < 0:  # an empty phrase "" resets the pending operator, as in Lucene
                    i = -i
                    operation = None
            elif char == "+":
                if operation is None and top is not None:
                    operation = "and"
                i += 1
            elif char == "|":
                if operation is None and top is not None:
                    operation = "or"
                i += 1
            elif char == "-":
                negations += 1
                i += 1
                continue
            elif char in _WHITESPACE:
                i += 1
            else:
                i = self._term(i, end, add)
            negations = 0
        return top

    def _closing_parenthesis(self, start: int, end: int) -> int | None:
        data, level, escaped, j = self.data, 1, False, start
        while j < end:
            char = data[j]
            if not escaped:
                if char == "\\":
                    escaped = True
                    j += 1
                    continue
                if char == "(":
                    level += 1
                elif char == ")":
                    level -= 1
                    if level == 0:
                        return j
            escaped = False
            j += 1
        return None

    def _phrase(self, i: int, end: int, add: _Add) -> int:
        """Consume a quoted phrase at i; the next index (negated if the phrase was empty)."""
        data, start, j = self.data, i + 1, i + 1
        chars: list[str] = []
        escaped = has_slop = False
        while j < end:
            char = data[j]
            if not escaped:
                if char == "\\":
                    escaped = True
                    j += 1
                    continue
                if char == '"':
                    if j + 1 < end and data[j + 1] == "~":
                        j += 1
                        has_slop = j + 1 < end
                    break
            escaped = False
            chars.append(char)
            j += 1
        if j >= end:
            return start  # never closed: the '"' is ignored
        if j == start:
            return -(j + 1)
        slop = 0
        if has_slop:
            slop, j = self._fuzziness(j, end)
        add(_phrase_match("".join(chars), slop))
        return j + 1

    def _term(self, i: int, end: int, add: _Add) -> int:
        data, j = self.data, i
        chars: list[str] = []
        escaped = prefix = fuzzy = False
        while j < end:
            char = data[j]
            if not escaped:
                if char == "\\":
                    escaped = True
                    prefix = False
                    j += 1
                    continue
                if char in _TERM_END:
                    break
                if chars and char == "~":
                    fuzzy = True
                    break
                prefix = bool(chars) and char == "*"
            escaped = False
            chars.append(char)
            j += 1
        if not chars:
            return max(j, i + 1)
        if fuzzy:
            _, j = self._fuzziness(j, end)  # fuzziness is not supported: an exact term
            add(_term_match("".join(chars)))
        elif prefix:
            add(_prefix_match("".join(chars[:-1])))
        else:
            add(_term_match("".join(chars)))
        return j

    def _fuzziness(self, j: int, end: int) -> tuple[int, int]:
        """Parse "~N" at j; (N, index where it stopped), Lucene's defaults for bad input."""
        data, digits = self.data, []
        while j < end:
            j += 1
            if j < end:
                if data[j] in _TERM_END:
                    break
                digits.append(data[j])
        text = "".join(digits)
        try:
            value = 2 if not text else int(text)
        except ValueError:
            value = 0
        return max(value, 0), j


def _has_token(text: str) -> bool:
    return any(char.isalnum() for char in text)


def _quote(text: str) -> str:
    return '"' + fold_text(text).replace('"', '""') + '"'


def _leaf(expression: str) -> TextMatch:
    return TextMatch("pos", FtsNode("leaf", leaf=expression))


def _term_match(text: str) -> TextMatch | None:
    # A term that analyses to no token is dropped, as in Lucene. A term FTS5 splits into
    # several tokens ("e-mail", "3.5") becomes a phrase of them.
    return _leaf(_quote(text)) if _has_token(text) else None


def _prefix_match(text: str) -> TextMatch:
    return _leaf(_quote(text) + "*") if _has_token(text) else _NONE


def _phrase_match(text: str, slop: int) -> TextMatch | None:
    if not _has_token(text):
        return None
    tokens = re.findall(r"[^\W_]+", text)
    if slop > 0 and len(tokens) > 1:
        return _leaf(f"NEAR({' '.join(_quote(t) for t in tokens)}, {slop})")
    return _leaf(_quote(text))


def _negate(match: TextMatch) -> TextMatch:
    if match.kind == "pos":
        return TextMatch("neg", match.node)
    if match.kind == "neg":
        return TextMatch("pos", match.node)
    return _NONE if match.kind == "all" else _ALL


def _intersect(a: TextMatch, b: TextMatch) -> TextMatch:
    if a.kind == "none" or b.kind == "none":
        return _NONE
    if a.kind == "all":
        return b
    if b.kind == "all":
        return a
    assert a.node is not None and b.node is not None
    if a.kind == "pos" and b.kind == "pos":
        return TextMatch("pos", _combine("AND", a.node, b.node))
    if a.kind == "neg" and b.kind == "neg":
        return TextMatch("neg", _combine("OR", a.node, b.node))
    positive, negative = (a.node, b.node) if a.kind == "pos" else (b.node, a.node)
    return TextMatch("pos", FtsNode("NOT", children=(positive, negative)))


def _union(a: TextMatch, b: TextMatch) -> TextMatch:
    # De Morgan: a or b = not (not a and not b); _intersect already covers every kind pair.
    return _negate(_intersect(_negate(a), _negate(b)))


def _combine(op: str, left: FtsNode, right: FtsNode) -> FtsNode:
    """``left op right``, flattening runs of the same operator to keep the expression shallow."""
    children: list[FtsNode] = []
    for side in (left, right):
        children.extend(side.children if side.op == op else (side,))
    return FtsNode(op, children=tuple(children))
