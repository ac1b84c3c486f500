"""The labelled messages under training/sentiment/data, split into training and test files.

Layout: data/<source>/<language>/<split>.tsv, one `label<TAB>text` per line, label one of
negative, neutral, positive. Training files are every `train.tsv`. The test split (what the
quality check reports, never trained or tuned on) is xlm-t's `val.tsv` per language plus
every other source's `test.tsv`. xlm-t's own test files are the issue's acceptance set and
are not in the repository.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DATA: Final = Path(__file__).resolve().parent / "data"
LABELS: Final = ("negative", "neutral", "positive")
TRAIN_FILES: Final = ("train.tsv",)
TEST_FILES: Final = ("val.tsv", "test.tsv")


@dataclass(frozen=True, slots=True)
class Example:
    source: str
    language: str
    label: str
    text: str


def _read(path: Path, source: str, language: str) -> list[Example]:
    out: list[Example] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            label, sep, text = line.partition("\t")
            if not sep or label not in LABELS:
                raise ValueError(f"{path}:{number}: expected label<TAB>text")
            out.append(Example(source, language, label, text))
    return out


def files(names: tuple[str, ...], data: Path = DATA) -> list[Path]:
    """Sorted, so every run reads the same examples in the same order."""
    return sorted(p for p in data.glob("*/*/*.tsv") if p.name in names)


def load(names: tuple[str, ...], data: Path = DATA) -> list[Example]:
    examples: list[Example] = []
    for path in files(names, data):
        examples.extend(_read(path, path.parent.parent.name, path.parent.name))
    return examples


def training(data: Path = DATA) -> list[Example]:
    return load(TRAIN_FILES, data)


def test(data: Path = DATA) -> list[Example]:
    return load(TEST_FILES, data)


def digests(names: tuple[str, ...], data: Path = DATA) -> dict[str, str]:
    """sha256 of each file, keyed by its path under data/ (recorded in the model)."""
    return {
        str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files(names, data)
    }
