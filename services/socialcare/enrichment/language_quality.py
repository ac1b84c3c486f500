"""How often the language detector names the language of real short social texts.

The texts are the repository's labelled sentiment data (training/sentiment/data): xlm-t's
tweets in en de fr es it pt (each labelled with the language of its directory) and the
Dutch set the data scout found; the label column is ignored, the directory is the
language. Some tweets in a directory are written in another language (an English tweet in
the German set): those count as errors here, so no language reaches 100 % and German,
the noisiest set, sits lowest. The figures are for comparing detectors and catching a
collapse, not a certificate.

`python -m socialcare.enrichment.language_quality [--split val|train|all]` prints accuracy
per language, overall and on short texts (<= 80 and <= 40 characters) for the brand set
en nl de fr es it pt and for every supported language, and the time per message.
tests/quality/test_language_quality.py runs the same on the validation files.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from socialcare.enrichment.language import detect_language

__all__ = [
    "BRAND_LANGUAGES",
    "DATA",
    "Accuracy",
    "labelled_texts",
    "main",
    "measure",
]

DATA: Final = Path(__file__).resolve().parents[3] / "training" / "sentiment" / "data"
# A European brand's desks; the languages the labelled data covers.
BRAND_LANGUAGES: Final = ("en", "nl", "de", "fr", "es", "it", "pt")
_SHORT: Final = (80, 40)
# File names per split: xlm-t has train/val, the Dutch set train/test (its test is held out
# from sentiment training, never from language checks).
_FILES: Final[dict[str, tuple[str, ...]]] = {
    "val": ("val.tsv", "test.tsv"),
    "train": ("train.tsv",),
    "all": ("train.tsv", "val.tsv", "test.tsv"),
}


@dataclass(frozen=True, slots=True)
class Accuracy:
    """Right answers per language and per text length, and the time per message."""

    right: dict[str, int]
    total: dict[str, int]
    short_right: dict[int, int]
    short_total: dict[int, int]
    ms_per_message: float

    def rate(self, language: str) -> float:
        return self.right[language] / self.total[language]

    @property
    def overall(self) -> float:
        return sum(self.right.values()) / sum(self.total.values())

    def short(self, limit: int) -> float:
        return self.short_right[limit] / max(1, self.short_total[limit])


def labelled_texts(
    split: str = "val", root: Path = DATA, languages: Collection[str] = BRAND_LANGUAGES
) -> dict[str, dict[str, list[str]]]:
    """Texts per source and language: the `split` files of every source's `<language>/`
    directory, except xlm-t's test splits, which are never read (the sentiment acceptance
    set)."""
    texts: dict[str, dict[str, list[str]]] = {}
    for source in sorted(p for p in root.iterdir() if p.is_dir()):
        for language in sorted(languages):
            for name in _FILES[split]:
                path = source / language / name
                if (source.name == "xlm-t" and name.startswith("test")) or not path.is_file():
                    continue
                lines = path.read_text(encoding="utf-8").splitlines()
                texts.setdefault(source.name, {}).setdefault(language, []).extend(
                    line.split("\t", 1)[1] for line in lines if "\t" in line
                )
    return texts


def measure(texts: dict[str, list[str]], detect: Callable[[str], str], passes: int = 1) -> Accuracy:
    """Accuracy of `detect` (text -> code) on `texts`, and its best time per message."""
    pairs = [(language, text) for language, items in texts.items() for text in items]
    best = float("inf")
    answers: list[str] = []
    if pairs:
        detect(pairs[0][1])  # load the model and build the candidate set before timing
    for _ in range(max(1, passes)):
        started = time.perf_counter()
        answers = [detect(text) for _, text in pairs]
        best = min(best, time.perf_counter() - started)
    right = dict.fromkeys(texts, 0)
    short_right = dict.fromkeys(_SHORT, 0)
    short_total = dict.fromkeys(_SHORT, 0)
    for (language, text), answer in zip(pairs, answers, strict=True):
        right[language] += answer == language
        for limit in _SHORT:
            if len(text) <= limit:
                short_total[limit] += 1
                short_right[limit] += answer == language
    return Accuracy(
        right,
        {language: len(items) for language, items in texts.items()},
        short_right,
        short_total,
        1000 * best / max(1, len(pairs)),
    )


def report(name: str, accuracy: Accuracy) -> str:
    """One line: accuracy per language, overall, on short texts, and the time."""
    per_language = " ".join(
        f"{language} {100 * accuracy.rate(language):5.1f}" for language in accuracy.total
    )
    short = " ".join(
        f"<={limit}: {100 * accuracy.short(limit):5.1f} (n={accuracy.short_total[limit]})"
        for limit in _SHORT
    )
    return (
        f"{name:<22} {per_language} | all {100 * accuracy.overall:5.2f} | {short} | "
        f"{accuracy.ms_per_message:.4f} ms/message"
    )


def _detector(languages: Collection[str]) -> Callable[[str], str]:
    return lambda text: detect_language(text, languages).code


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=sorted(_FILES), default="val")
    parser.add_argument("--passes", type=int, default=3, help="timing passes (best counts)")
    options = parser.parse_args(argv)
    for source, texts in labelled_texts(options.split).items():
        sizes = ", ".join(f"{language} {len(items)}" for language, items in texts.items())
        print(f"{source} ({options.split}: {sizes})")
        for name, languages in (
            ("brand " + ",".join(BRAND_LANGUAGES), BRAND_LANGUAGES),
            ("all 17 supported", ()),
        ):
            accuracy = measure(texts, _detector(languages), options.passes)
            print("  " + report(name, accuracy))


if __name__ == "__main__":
    main()
