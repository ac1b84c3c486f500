"""Build the non-xlm-t sentiment data under training/sentiment/data from fetched git mirrors.

Why: xlm-t has no Dutch and few examples per language; these public, licensed, human-labelled
sources add a Dutch train and test split and more training text for the other languages.
Every file is read from a pinned commit of the source repository, so a rerun on the same
mirrors writes byte-identical files. See SOURCES.md for what each source is and its caveats.

Mirrors are bare git directories (as the `fetch` tool or `git clone --mirror` leaves them):
<mirrors>/<owner>+<name>/repo for each repository in REPOS.

    python training/sentiment/prepare_data.py [--mirrors /work/.mirror]

Output: data/<source>/<language>/{train,test}.tsv, one `label<TAB>text` per line, labels
negative|neutral|positive, deduplicated, sorted; the source's licence beside it.

Contamination guard: the texts of xlm-t's test splits (the issue's acceptance set) are hashed
here after normalisation, only to drop any of our examples with the same normalised text.
Their labels are never read and the texts are never written anywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

OUT: Final = Path(__file__).resolve().parent / "data"
LABELS: Final = ("negative", "neutral", "positive")


@dataclass(frozen=True, slots=True)
class Repo:
    owner_name: str
    commit: str

    def mirror(self, root: Path) -> Path:
        return root / self.owner_name.replace("/", "+") / "repo"


REPOS: Final = {
    "ecosent": Repo("vanatteveldt/ecosent", "9c4c6120af2ef4a08494c27a4d9e077b98402b51"),
    "afrisenti": Repo(
        "afrisenti-semeval/afrisent-semeval-2023", "5aec3cfcf87b59f885e98641f72e52182776429d"
    ),
    "xed": Repo("Helsinki-NLP/XED", "76666d251f147cf518071bef4f8415dab6b96115"),
    "xlm-t": Repo("cardiffnlp/xlm-t", "874214d64d96599eb869a033c22ec2cc57d19256"),
}

# xlm-t's acceptance set: only the *_text.txt files, for the contamination guard.
XLMT_TEST_TEXTS: Final = tuple(
    f"data/sentiment/{name}/test_text.txt"
    for name in ("english", "german", "french", "spanish", "italian", "portuguese")
)


@dataclass(frozen=True, slots=True)
class Row:
    language: str
    split: str
    label: str
    text: str


Reader = Callable[[str], str]

_URL = re.compile(r"(?:https?://|www\.)\S+|\bhttps?\b", re.IGNORECASE)
_USER = re.compile(r"@\w+")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """The form two texts must share to count as the same message (lowercase, no URLs/@users)."""
    return _SPACE.sub(" ", _USER.sub(" ", _URL.sub(" ", text.lower()))).strip()


def digest(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def clean(text: str) -> str:
    """One line, no tabs: the TSV's only separators; runs of whitespace become one space."""
    return _SPACE.sub(" ", text).strip()


def reader(repo: Repo, mirrors: Path) -> Reader:
    git_dir = repo.mirror(mirrors)

    def read(path: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"{repo.commit}:{path}"],
            check=True,
            capture_output=True,
        ).stdout.decode("utf-8", errors="replace")

    return read


def hash_split(text: str, test_share: int = 5) -> str:
    """Deterministic 80/20 split on the normalised text, so duplicates land on the same side."""
    return "test" if int(digest(text)[:8], 16) % test_share == 0 else "train"


# --- sources -------------------------------------------------------------------------------


def ecosent(read: Reader) -> list[Row]:
    """Dutch economic news headlines, tone coded -1/0/1 by trained coders (gold: experts)."""
    import csv
    import io

    tone = {"-1": "negative", "0": "neutral", "1": "positive"}
    rows: list[Row] = []
    table = csv.DictReader(io.StringIO(read("data/intermediate/sentences_ml.csv")))
    for record in table:
        text = clean(record["headline"])
        if text and record["value"] in tone:
            rows.append(Row("nl", hash_split(text), tone[record["value"]], text))
    return rows


def afrisenti(read: Reader) -> list[Row]:
    """Mozambican Portuguese tweets (AfriSenti pt-MZ), three classes, native-speaker labels."""
    rows: list[Row] = []
    for path, split in (
        ("SubtaskA/train/pt_train.tsv", "train"),
        ("SubtaskA/dev/pt_dev.tsv", "train"),
        ("SubtaskA/test/pt_test.tsv", "test"),
    ):
        lines = read(path).splitlines()
        if lines[0].split("\t") != ["ID", "tweet", "label"]:
            raise SystemExit(f"afrisenti {path}: unexpected header {lines[0]!r}")
        for line in lines[1:]:
            fields = line.split("\t")
            if len(fields) == 3 and fields[2] in LABELS and clean(fields[1]):
                rows.append(Row("pt", split, fields[2], clean(fields[1])))
    return rows


# XED: anger 1, anticipation 2, disgust 3, fear 4, joy 5, sadness 6, surprise 7, trust 8.
XED_NEGATIVE: Final = frozenset({1, 3, 4, 6})
XED_POSITIVE: Final = frozenset({5, 8})
XED_PROJECTIONS: Final = {
    "nl": ("nl",),
    "de": ("de",),
    "fr": ("fr",),
    "es": ("es",),
    "it": ("it",),
    "pt": ("pt", "br"),
}


def xed_polarity(emotions: set[int]) -> str | None:
    """Plutchik emotions -> polarity; anticipation/surprise alone or mixed polarity: none."""
    negative, positive = bool(emotions & XED_NEGATIVE), bool(emotions & XED_POSITIVE)
    if negative == positive:
        return None
    return "negative" if negative else "positive"


def _xed_lines(text: str) -> Iterable[tuple[str, set[int]]]:
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 2:
            continue
        try:
            emotions = {int(x) for x in fields[1].replace(" ", "").split(",") if x}
        except ValueError:
            continue
        yield fields[0], emotions


def xed(read: Reader) -> list[Row]:
    """Movie subtitle lines with emotions; training only (projected labels, no social text)."""
    rows: list[Row] = []
    for language, codes in XED_PROJECTIONS.items():
        for code in codes:
            for text, emotions in _xed_lines(read(f"Projections/{code}-projections.tsv")):
                label = xed_polarity(emotions)
                if label and clean(text):
                    rows.append(Row(language, "train", label, clean(text)))
    for text, emotions in _xed_lines(read("AnnotatedData/en-annotated.tsv")):
        label = xed_polarity(emotions)
        if label and clean(text):
            rows.append(Row("en", "train", label, clean(text)))
    for line in read("AnnotatedData/neu_en.txt").splitlines():
        fields = line.split("\t")
        if len(fields) == 2 and fields[0] == "9" and clean(fields[1]):
            rows.append(Row("en", "train", "neutral", clean(fields[1])))
    return rows


BUILDERS: Final[dict[str, tuple[Callable[[Reader], list[Row]], str]]] = {
    # source -> (builder, licence file in the source repository)
    "ecosent": (ecosent, "LICENSE"),
    "afrisenti": (afrisenti, "README.md"),
    "xed": (xed, "README.md"),
}
CREDITS: Final = {
    "ecosent": "Wouter van Atteveldt, Mariken A. C. G. van der Velden and Mark Boukes (2021).\n"
    "The Validity of Sentiment Analysis: Comparing Manual Annotation, Crowd-Coding,\n"
    "Dictionary Approaches, and Machine Learning Algorithms. Communication Methods and\n"
    "Measures 15(2). https://doi.org/10.1080/19312458.2020.1869198",
    "afrisenti": "Shamsuddeen Hassan Muhammad et al. (2023). AfriSenti: A Twitter Sentiment\n"
    "Analysis Benchmark for African Languages. EMNLP 2023; and SemEval-2023 Task 12.\n"
    "Only the Mozambican Portuguese (pt-MZ) part is used.",
    "xed": "Emily Öhman, Marc Pàmies, Kaisla Kajava and Jörg Tiedemann (2020). XED: A\n"
    "Multilingual Dataset for Sentiment Analysis and Emotion Detection. COLING 2020.\n"
    "Subtitle lines from OPUS OpenSubtitles (http://opus.nlpl.eu/OpenSubtitles-v2018.php).",
}


# --- assembly ------------------------------------------------------------------------------


MIN_CHARS: Final = 3


def resolve(rows: list[Row]) -> tuple[list[Row], Counter[str]]:
    """One row per (language, split, normalised text); texts labelled two ways are dropped.

    Texts under MIN_CHARS once normalised (a lone letter, a bare URL) carry no sentiment.
    """
    groups: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    dropped: Counter[str] = Counter()
    for row in rows:
        if len(normalise(row.text)) < MIN_CHARS:
            dropped["too short"] += 1
            continue
        groups[(row.language, row.split, digest(row.text))].append(row)
    kept: list[Row] = []
    for group in groups.values():
        if len({row.label for row in group}) > 1:
            dropped["conflicting labels"] += len(group)
            continue
        dropped["duplicates"] += len(group) - 1
        kept.append(min(group, key=lambda row: row.text))
    return kept, dropped


def write(source: str, rows: list[Row], licence: str, attribution: str) -> None:
    target = OUT / source
    if target.exists():
        shutil.rmtree(target)
    by_file: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        by_file[(row.language, row.split)].append(row)
    for (language, split), group in sorted(by_file.items()):
        path = target / language / f"{split}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = sorted(f"{row.label}\t{row.text}\n" for row in group)
        path.write_text("".join(lines), encoding="utf-8")
        counts = Counter(row.label for row in group)
        print(f"{path.relative_to(OUT)}: {len(group)} " + str({k: counts[k] for k in LABELS}))
    (target / "LICENSE").write_text(licence, encoding="utf-8")
    (target / "ATTRIBUTION.md").write_text(attribution, encoding="utf-8")


def attribution(source: str, repo: Repo, licence_path: str) -> str:
    return (
        f"# {source}\n\n"
        f"Derived from https://github.com/{repo.owner_name} at commit {repo.commit}\n"
        f"by training/sentiment/prepare_data.py (relabelled to negative/neutral/positive,\n"
        f"deduplicated, split; see training/sentiment/SOURCES.md). The licence text is the\n"
        f"source's `{licence_path}` at that commit (LICENSE beside this file).\n\n"
        f"Credit:\n\n{CREDITS[source]}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    args = parser.parse_args()

    read_xlmt = reader(REPOS["xlm-t"], args.mirrors)
    acceptance = {digest(t) for path in XLMT_TEST_TEXTS for t in read_xlmt(path).splitlines()}

    built: dict[str, list[Row]] = {}
    for source, (build, _) in BUILDERS.items():
        rows, dropped = resolve(build(reader(REPOS[source], args.mirrors)))
        before = len(rows)
        rows = [row for row in rows if digest(row.text) not in acceptance]
        dropped["in xlm-t test"] += before - len(rows)
        built[source] = rows
        print(f"{source}: dropped {dict(dropped)}")

    # A text in any of our test splits is never trained on, whatever its source.
    held_out = {digest(row.text) for rows in built.values() for row in rows if row.split == "test"}
    for source, rows in built.items():
        kept = [r for r in rows if r.split == "test" or digest(r.text) not in held_out]
        print(f"{source}: dropped {len(rows) - len(kept)} training rows also in a test split")
        _, licence_path = BUILDERS[source]
        repo = REPOS[source]
        licence = reader(repo, args.mirrors)(licence_path)
        if licence_path == "README.md":
            licence = _licence_section(licence, source)
        write(source, kept, licence, attribution(source, repo, licence_path))


def _licence_section(readme: str, source: str) -> str:
    """The licence statement of a README (the source has no separate LICENSE file)."""
    lines = readme.splitlines()
    for number, line in enumerate(lines):
        if re.match(r"#*\s*licen[cs]e\b", line.strip(), re.IGNORECASE) or line.startswith(
            "License:"
        ):
            return "\n".join(lines[number : number + 15]).strip() + "\n"
    raise SystemExit(f"{source}: no licence statement found in README.md")


if __name__ == "__main__":
    main()
