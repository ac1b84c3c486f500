"""What finding and redacting personal data costs where issue 13 put it: enrichment's
`pii_matches` per message (the budget: the whole enrichment <= 0.3 ms/message) and the
indexer's redaction per case event.

1. Enrichment: `enrichment.pii.pii_matches` over real tweets, the train splits of
   cardiffnlp/xlm-t in training/sentiment/data/xlm-t/*/train.tsv (never the test splits),
   `--messages` per language: the share that skips the scan (no digit, no address; a
   mention " @user" is not one), microseconds per message for those and for the rest (best
   of `--rounds`), p99 and max of single calls, and how many held personal data. Then the
   odd inputs of tests/unit/enrichment/bad_inputs.py (50,000 characters, ...) once each.
2. Indexer: `indexer.redaction.redact_documents` on the documents of one case event (a case
   with 3 messages full of personal data, one with 20 plain messages) beside
   `indexer.domain.case_documents`, which builds them, in microseconds per event.

Figures only, never assertions.

    python bench/pii.py [--messages 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from socialcare.core.domain.pii_policy import REDACT_ALL  # noqa: E402
from socialcare.core.pii import _may_hold  # noqa: E402
from socialcare.enrichment.pii import pii_matches  # noqa: E402
from socialcare.indexer.domain import case_documents  # noqa: E402
from socialcare.indexer.redaction import redact_documents  # noqa: E402
from tests.unit.enrichment.bad_inputs import BAD_TEXTS  # noqa: E402
from tests.unit.indexer.test_indexer_processor import case_event  # noqa: E402
from tests.unit.indexer.test_indexer_redaction import whatsapp_case  # noqa: E402

DATA = REPO / "training/sentiment/data/xlm-t"


def tweets(per_language: int) -> list[str]:
    texts: list[str] = []
    for path in sorted(DATA.glob("*/train.tsv")):
        lines = path.read_text(encoding="utf-8").splitlines()[:per_language]
        texts += [line.split("\t", 1)[-1] for line in lines]
    return texts


def per_call_us(texts: Sequence[str], rounds: int) -> float:
    if not texts:
        return 0.0
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            pii_matches(text)
        best = min(best, (time.perf_counter() - started) / len(texts))
    return best * 1e6


def timed_us(action: Callable[[], object], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        action()
    return (time.perf_counter() - started) / repeat * 1e6


def enrichment(per_language: int, rounds: int) -> None:
    texts = tweets(per_language)
    scanned = [t for t in texts if _may_hold(t)]
    skipped = [t for t in texts if not _may_hold(t)]
    holding = sum(1 for t in texts if pii_matches(t))
    singles = []
    for text in texts:
        started = time.perf_counter()
        pii_matches(text)
        singles.append(time.perf_counter() - started)
    singles.sort()
    print(f"enrichment: pii_matches over {len(texts)} xlm-t train tweets")
    for label, part in (("skip the scan", skipped), ("scanned", scanned), ("all", texts)):
        share = len(part) / len(texts)
        print(f"  {label:14} {share:6.1%}  {per_call_us(part, rounds):7.2f} us/message")
    print(
        f"  single calls: p99 {singles[int(len(singles) * 0.99)] * 1e6:.1f} us, "
        f"max {singles[-1] * 1e6:.1f} us; personal data found in {holding} messages"
    )
    print("  odd inputs (one call each):")
    for name, text in BAD_TEXTS.items():
        started = time.perf_counter()
        found = pii_matches(text)
        elapsed = (time.perf_counter() - started) * 1e3
        print(f"    {name:36} {len(text):6} chars {elapsed:8.2f} ms  {len(found)} found")


def indexer(repeat: int) -> None:
    print("indexer: per case event")
    for name, case in (
        ("3 messages with personal data", whatsapp_case()),
        ("20 messages without", case_event("c", 20).case),
    ):
        documents = case_documents(case)
        build = timed_us(partial(case_documents, case), repeat)
        redact = timed_us(partial(redact_documents, documents, REDACT_ALL), repeat)
        print(
            f"  {name:30} {len(documents):3} documents: case_documents {build:6.0f} us, "
            f"redaction {redact:6.0f} us"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="tweets per language")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    enrichment(args.messages, args.rounds)
    indexer(repeat=1000)


if __name__ == "__main__":
    main()
