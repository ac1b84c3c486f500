"""What the least-asked-questions report costs: `SearchIndex.count` over a messages index
as the indexer writes it, on the embedded store (and on Elasticsearch with `--elasticsearch
URL`), and the whole report (`gateway.intent_report.run_intent_report`) on top.

`--messages` inbound message documents over the last 30 days (one every few seconds,
spread evenly), each with 0-2 intents drawn from a Zipf-like taxonomy of `--intents`
names (a few common, a long tail asked a handful of times), in 3 brands and 4 languages.
Printed per backend: the load time, then the median and best of `--repeat` runs of

* a count per intent over the window (no interval),
* the same per day in Europe/Amsterdam (the report's default for 30 days),
* the same per week, filtered to one brand and one language,
* the whole report for one brand (count + taxonomy + series),

with the number of buckets each returned. Figures only, never assertions.

    python bench/intent_counts.py [--messages 100000] [--intents 300] [--repeat 5]
        [--elasticsearch http://127.0.0.1:9200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.search import CountQuery, IndexedDocument, Interval, SearchIndex
from socialcare.core.search.elastic import ElasticsearchIndex
from socialcare.core.search.embedded import EmbeddedSearchIndex
from socialcare.core.search.indices import MESSAGES, SCHEMAS
from socialcare.gateway.intent_report import IntentReportQuery, run_intent_report

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)
BRANDS = ("acme", "globex", "initech")
LANGUAGES = ("nl", "en", "de", "fr")
BATCH = 2000


def documents(count: int, intents: int, seed: int = 7) -> list[IndexedDocument]:
    rng = random.Random(seed)
    names = [f"intent-{i:03d}" for i in range(intents)]
    weights = [1 / (rank + 1) ** 1.2 for rank in range(intents)]
    step = WINDOW / count
    found = []
    for n in range(count):
        asked = rng.choices(names, weights, k=rng.choice((0, 1, 1, 1, 2)))
        found.append(
            IndexedDocument(
                f"m-{n}",
                {
                    "id": f"m-{n}",
                    "case_id": f"c-{n // 3}",
                    "direction": "inbound",
                    "brand": rng.choice(BRANDS),
                    "language": rng.choice(LANGUAGES),
                    "channel": "x",
                    "created_at": (NOW - WINDOW + n * step).isoformat(),
                    "intents": sorted(set(asked)),
                    "text": "…",
                },
            )
        )
    return found


def timed(run: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), result


def bench(name: str, search: SearchIndex, docs: list[IndexedDocument], args: Any) -> None:
    search.ensure_index(MESSAGES, SCHEMAS[MESSAGES])
    start = time.perf_counter()
    for at in range(0, len(docs), BATCH):
        search.upsert(MESSAGES, docs[at : at + BATCH])
    search.refresh(MESSAGES)
    print(
        f"\n{name}: {len(docs):,} message documents loaded in {time.perf_counter() - start:.1f} s"
    )
    since, until = (NOW - WINDOW).isoformat(), NOW.isoformat()
    care = CareConfig.model_validate(
        yaml.safe_load(
            "sla_policies: [{name: any, languages: ['*'], first_response: 1h}]\n"
            "queues: [{name: q, languages: ['*']}]\n"
            "agents: [{id: a, name: A, languages: [en], capacity: 1}]\n"
            "brands: [{name: acme}, {name: globex}, {name: initech}]\n"
            "intents:\n"
            + "".join(
                f"  - {{name: intent-{i:03d}, keywords: {{'*': [w{i}]}}}}\n"
                for i in range(args.intents + 20)  # 20 never asked
            )
        )
    )
    cases: list[tuple[str, Callable[[], Any]]] = [
        (
            "count per intent, 30 days",
            lambda: search.count(
                MESSAGES,
                CountQuery(by="intents", date_field="created_at", since=since, until=until),
            ),
        ),
        (
            "per intent per day (Europe/Amsterdam)",
            lambda: search.count(
                MESSAGES,
                CountQuery(
                    by="intents",
                    date_field="created_at",
                    since=since,
                    until=until,
                    interval=Interval.DAY,
                    time_zone="Europe/Amsterdam",
                ),
            ),
        ),
        (
            "per week, one brand and language",
            lambda: search.count(
                MESSAGES,
                CountQuery(
                    by="intents",
                    filters={"brand": "acme", "language": "nl"},
                    date_field="created_at",
                    since=since,
                    until=until,
                    interval=Interval.WEEK,
                ),
            ),
        ),
        (
            "whole report, one brand, per day",
            lambda: run_intent_report(
                care,
                search,
                IntentReportQuery(
                    start=NOW - WINDOW,
                    end=NOW,
                    interval=Interval.DAY,
                    time_zone="Europe/Amsterdam",
                    brands=["acme"],
                    languages=[],
                    channels=[],
                ),
            ),
        ),
    ]
    for label, run in cases:
        median, best, result = timed(run, args.repeat)
        size = len(result["intents"]) if isinstance(result, dict) else len(result.buckets)
        unit = "intent rows" if isinstance(result, dict) else "buckets"
        print(
            f"  {label:40s} median {median * 1000:8.1f} ms  best {best * 1000:8.1f} ms  "
            f"{size:6,} {unit}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--intents", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--elasticsearch", default=None, help="an Elasticsearch URL")
    args = parser.parse_args()
    docs = documents(args.messages, args.intents)
    with tempfile.TemporaryDirectory() as directory:
        embedded = EmbeddedSearchIndex(directory)
        try:
            bench("embedded (SQLite)", embedded, docs, args)
        finally:
            embedded.close()
    if args.elasticsearch:
        elastic = ElasticsearchIndex(
            args.elasticsearch, index_prefix=f"bench-{uuid.uuid4().hex[:8]}-"
        )
        try:
            bench("Elasticsearch", elastic, docs, args)
        finally:
            elastic.delete_index(MESSAGES)
            elastic.close()


if __name__ == "__main__":
    main()
