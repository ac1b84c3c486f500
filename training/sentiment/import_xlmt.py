"""Copy the train and validation splits of cardiffnlp/xlm-t's sentiment data into the repo.

Why: the training script must run offline from files under version control, in one plain
format for every source (`label<TAB>text`). The test splits are the issue's acceptance set
and are never read here. Source: https://github.com/cardiffnlp/xlm-t (Apache-2.0), a clone
or a bare git directory of it.

    python training/sentiment/import_xlmt.py /path/to/xlm-t [--git]
"""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Callable
from pathlib import Path

LANGUAGES = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
}
LABELS = {"0": "negative", "1": "neutral", "2": "positive"}
SPLITS = ("train", "val")
OUT = Path(__file__).resolve().parent / "data" / "xlm-t"


def _reader(source: Path, bare: bool) -> Callable[[str], str]:
    def read(relative: str) -> str:
        if bare:
            return subprocess.run(
                ["git", "-C", str(source), "show", f"HEAD:{relative}"],
                check=True,
                capture_output=True,
                text=True,
                encoding="utf-8",
            ).stdout
        return (source / relative).read_text(encoding="utf-8")

    return read


def clean(text: str) -> str:
    """One line, no tabs: the TSV's only two separators."""
    return text.replace("\t", " ").replace("\r", " ").strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="xlm-t checkout (or bare git dir with --git)")
    parser.add_argument("--git", action="store_true", help="source is a bare git directory")
    args = parser.parse_args()
    read = _reader(args.source, args.git)
    for code, name in LANGUAGES.items():
        for split in SPLITS:
            texts = read(f"data/sentiment/{name}/{split}_text.txt").rstrip("\n").split("\n")
            labels = read(f"data/sentiment/{name}/{split}_labels.txt").split()
            if len(texts) != len(labels):
                raise SystemExit(f"{name}/{split}: texts and labels differ in length")
            pairs = [(LABELS[lab], clean(t)) for lab, t in zip(labels, texts, strict=True)]
            out = OUT / code / f"{split}.tsv"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("".join(f"{lab}\t{t}\n" for lab, t in pairs), encoding="utf-8")
            print(f"{out}: {len(pairs)}")
    (OUT / "LICENSE").write_text(read("LICENSE"), encoding="utf-8")


if __name__ == "__main__":
    main()
