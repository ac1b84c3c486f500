"""Build the non-xlm-t sentiment data under training/sentiment/data from fetched git mirrors.

Why: xlm-t has no Dutch and few examples per language; these public, licensed, human-annotated
sources add a Dutch train and test split, more social-media text for en, de and pt, and test
splits of their own (nl, en, pt).
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
import csv
import hashlib
import io
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable
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
    "goemotions": Repo("monologg/GoEmotions-pytorch", "b75f9d3a8b76bc1060687925b04ca98a1b8ea66b"),
    "potts": Repo("WladimirSidorenko/CGSA", "386d02cb6e62d7fddf949a9acfea2e6c51d18943"),
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


# GoEmotions' own grouping of its 27 emotions (goemotions/data/sentiment_dict.json in
# google-research/google-research); ambiguous: realization, surprise, curiosity, confusion.
GOEMOTIONS_POSITIVE: Final = frozenset(
    [
        "amusement",
        "excitement",
        "joy",
        "love",
        "desire",
        "optimism",
        "caring",
        "pride",
        "admiration",
        "gratitude",
        "relief",
        "approval",
    ]
)
GOEMOTIONS_NEGATIVE: Final = frozenset(
    [
        "fear",
        "nervousness",
        "remorse",
        "embarrassment",
        "disappointment",
        "sadness",
        "grief",
        "disgust",
        "anger",
        "annoyance",
        "disapproval",
    ]
)


def goemotions_polarity(emotions: set[str]) -> str | None:
    """Neutral only if that is the sole label; ambiguous-only or mixed polarity: none."""
    negative = bool(emotions & GOEMOTIONS_NEGATIVE)
    positive = bool(emotions & GOEMOTIONS_POSITIVE)
    if negative != positive:
        return "negative" if negative else "positive"
    if emotions == {"neutral"}:
        return "neutral"
    return None


def goemotions(read: Reader) -> list[Row]:
    """English Reddit comments (GoEmotions), emotions by three raters, kept if 2+ agreed."""
    names = read("data/original/labels.txt").split()
    rows: list[Row] = []
    for path, split in (
        ("data/original/train.tsv", "train"),
        ("data/original/dev.tsv", "train"),
        ("data/original/test.tsv", "test"),
    ):
        for line in read(path).splitlines():
            fields = line.split("\t")
            if len(fields) != 3:
                continue
            label = goemotions_polarity({names[int(i)] for i in fields[1].split(",")})
            if label and clean(fields[0]):
                rows.append(Row("en", split, label, clean(fields[0])))
    return rows


_DETOKENISE: Final = (
    (re.compile(r" ([,.!?;])(?= |$)"), r"\1"),
    (re.compile(r"(\w) ' (\w)"), r"\1'\2"),
    (re.compile(r"&gt;"), ">"),
    (re.compile(r"&lt;"), "<"),
    (re.compile(r"&amp;"), "&"),
)


def detokenise(text: str) -> str:
    """Undo the corpus's tokenisation where it is unambiguous (space before , . ! ? ;)."""
    for pattern, replacement in _DETOKENISE:
        text = pattern.sub(replacement, text)
    return text


def potts(read: Reader) -> list[Row]:
    """German tweets (PotTS); message polarity induced from its human span annotations."""
    listing = tree_files(read, "data/PotTS/not-preprocessed")
    rows: list[Row] = []
    for path in listing:
        for line in read(path).splitlines():
            fields = line.split("\t")
            if len(fields) > 2 and fields[1] in LABELS and clean(fields[2]):
                rows.append(Row("de", "train", fields[1], detokenise(clean(fields[2]))))
    return rows


def tree_files(read: Reader, folder: str) -> list[str]:
    """The per-topic files of the train, dev and test folders (`git show` of a tree lists them)."""
    paths: list[str] = []
    for split in ("train", "dev", "test"):
        listing = read(f"{folder}/{split}/")
        names = [n for n in listing.splitlines()[2:] if n.endswith(".tsv")]
        paths.extend(f"{folder}/{split}/{name}" for name in sorted(names))
    return paths


BUILDERS: Final[dict[str, tuple[Callable[[Reader], list[Row]], str]]] = {
    # source -> (builder, licence file in the source repository)
    "ecosent": (ecosent, "LICENSE"),
    "afrisenti": (afrisenti, "README.md"),
    "goemotions": (goemotions, "LICENSE"),
    "potts": (potts, "LICENSE"),
}
CREDITS: Final = {
    "ecosent": "Wouter van Atteveldt, Mariken A. C. G. van der Velden and Mark Boukes (2021).\n"
    "The Validity of Sentiment Analysis: Comparing Manual Annotation, Crowd-Coding,\n"
    "Dictionary Approaches, and Machine Learning Algorithms. Communication Methods and\n"
    "Measures 15(2). https://doi.org/10.1080/19312458.2020.1869198",
    "afrisenti": "Shamsuddeen Hassan Muhammad et al. (2023). AfriSenti: A Twitter Sentiment\n"
    "Analysis Benchmark for African Languages. EMNLP 2023; and SemEval-2023 Task 12.\n"
    "Only the Mozambican Portuguese (pt-MZ) part is used.",
    "goemotions": "Dorottya Demszky, Dana Movshovitz-Attias, Jeongwoo Ko, Alan Cowen, Gaurav\n"
    "Nemade and Sujith Ravi (2020). GoEmotions: A Dataset of Fine-Grained Emotions. ACL\n"
    "2020. Data from google-research/google-research (goemotions/data, Apache-2.0), as\n"
    "copied into monologg/GoEmotions-pytorch (data/original, Apache-2.0).",
    "potts": "Uladzimir Sidarenka (2016). PotTS: The Potsdam Twitter Sentiment Corpus. LREC\n"
    "2016. Corpus: https://github.com/WladimirSidorenko/PotTS (MIT); message-level labels\n"
    "and tokenised text from https://github.com/WladimirSidorenko/CGSA (MIT).",
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
        if re.match(r"#*\s*licen[cs]e\b", line.strip(), re.IGNORECASE):
            return "\n".join(lines[number : number + 15]).strip() + "\n"
    raise SystemExit(f"{source}: no licence statement found in README.md")


if __name__ == "__main__":
    main()
