"""Macro-F1 and accuracy of the committed sentiment model on the committed test split.

The test split per language (corpus.py): xlm-t's validation tweets for en, de, fr, es, it,
pt and ecosent's Dutch test headlines; other sources' test files are printed below them.
None of it is trained or tuned on. The old lexicon scorer (sentiment_rules.py, the model
before issue 13) is scored on the same messages in the same run, as the baseline.

    python -m training.sentiment.evaluate
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from socialcare.enrichment.sentiment import score_sentiment, warm_up
from socialcare.enrichment.sentiment_rules import lexicon_score
from training.sentiment import corpus

# The language's test set in the headline table: (source, language).
HEADLINE: Final = (
    ("xlm-t", "en"),
    ("ecosent", "nl"),
    ("xlm-t", "de"),
    ("xlm-t", "fr"),
    ("xlm-t", "es"),
    ("xlm-t", "it"),
    ("xlm-t", "pt"),
)


@dataclass(frozen=True, slots=True)
class Row:
    source: str
    language: str
    messages: int
    macro_f1: float
    accuracy: float
    baseline_macro_f1: float
    baseline_accuracy: float


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Mean over the three labels of F1 (0 for a label never given nor predicted), as
    scikit-learn's f1_score(average="macro", labels=LABELS)."""
    total = 0.0
    for label in corpus.LABELS:
        hits = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        given = sum(g == label for g in gold)
        said = sum(p == label for p in predicted)
        total += 2 * hits / (given + said) if given + said else 0.0
    return total / len(corpus.LABELS)


def _scores(gold: Sequence[str], predicted: Sequence[str]) -> tuple[float, float]:
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    return round(100.0 * macro_f1(gold, predicted), 1), round(100.0 * accuracy, 1)


def evaluate(
    examples: Sequence[corpus.Example] | None = None,
    model: Callable[[str, str], str] | None = None,
) -> list[Row]:
    """One row per (source, language) of the test split, headline languages first."""
    examples = corpus.test() if examples is None else examples
    if model is None:
        model = lambda text, language: score_sentiment(text, language).label  # noqa: E731
    groups: dict[tuple[str, str], list[corpus.Example]] = {}
    for e in examples:
        groups.setdefault((e.source, e.language), []).append(e)
    order = [key for key in HEADLINE if key in groups] + sorted(set(groups) - set(HEADLINE))
    rows: list[Row] = []
    for source, language in order:
        group = groups[(source, language)]
        gold = [e.label for e in group]
        f1, accuracy = _scores(gold, [model(e.text, language) for e in group])
        base_f1, base_accuracy = _scores(
            gold, [lexicon_score(e.text, language).label for e in group]
        )
        rows.append(Row(source, language, len(group), f1, accuracy, base_f1, base_accuracy))
    return rows


def headline(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if (r.source, r.language) in HEADLINE]


def report(rows: Sequence[Row]) -> str:
    lines = [
        "sentiment macro-F1 / accuracy on the test split (model vs the old lexicon scorer)",
        f"{'source':10} {'lang':4} {'n':>5}  {'F1':>5} {'acc':>5}  {'lex F1':>6} {'lex acc':>7}",
    ]
    for r in rows:
        lines.append(
            f"{r.source:10} {r.language:4} {r.messages:5d}  {r.macro_f1:5.1f} {r.accuracy:5.1f}"
            f"  {r.baseline_macro_f1:6.1f} {r.baseline_accuracy:7.1f}"
        )
    main = headline(rows)
    if main:
        mean = sum(r.macro_f1 for r in main) / len(main)
        base = sum(r.baseline_macro_f1 for r in main) / len(main)
        languages = ", ".join(r.language for r in main)
        lines.append(f"mean macro-F1 over {languages}: {mean:.1f} (lexicon {base:.1f})")
    return "\n".join(lines)


def main() -> None:
    started = time.perf_counter()
    warm_up()
    loaded = time.perf_counter()
    rows = evaluate()
    print(report(rows))
    print(f"model load {1000 * (loaded - started):.0f} ms")


if __name__ == "__main__":
    main()
