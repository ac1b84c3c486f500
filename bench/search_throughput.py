"""Bulk-index and query throughput of the search backends (printed, never asserted).

    python bench/search_throughput.py                       # embedded only
    python bench/search_throughput.py --elasticsearch http://127.0.0.1:9200

Indexes --docs small case documents in batches of --batch, refreshes, then times a few
queries. Elasticsearch indices get a unique prefix and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

from socialcare.core.search import (
    FieldKind,
    IndexedDocument,
    IndexSchema,
    SearchIndex,
    SearchQuery,
)
from socialcare.core.search.elastic import ElasticsearchIndex
from socialcare.core.search.embedded import EmbeddedSearchIndex

INDEX = "bench-cases"
SCHEMA = IndexSchema(
    fields={
        "subject": FieldKind.TEXT,
        "body": FieldKind.TEXT,
        "status": FieldKind.KEYWORD,
        "tags": FieldKind.KEYWORD,
        "created_at": FieldKind.DATE,
    }
)
WORDS = [
    "energierekening",
    "huur",
    "schulden",
    "uitzetting",
    "eenzaam",
    "zorg",
    "gemeente",
    "wijkteam",
    "betalen",
    "hulp",
    "landlord",
    "eviction",
    "lonely",
    "benefits",
    "debt",
    "help",
    "visit",
    "housing",
    "rent",
    "bill",
    "café",
    "naïeve",
]
QUERIES = [
    SearchQuery(text="energierekening betalen"),
    SearchQuery(text="eviction", filters={"status": "open"}),
    SearchQuery(filters={"tags": ["debt", "housing"]}, sort=[("created_at", "desc")]),
    SearchQuery(text="hulp -huur", limit=50, offset=100),
]


def documents(count: int, seed: int = 7) -> list[IndexedDocument]:
    rng = random.Random(seed)
    return [
        IndexedDocument(
            id=f"case-{n:07d}",
            body={
                "subject": " ".join(rng.choices(WORDS, k=3)),
                "body": " ".join(rng.choices(WORDS, k=25)),
                "status": rng.choice(["open", "in_progress", "closed"]),
                "tags": rng.sample(["debt", "housing", "energy", "loneliness", "care"], k=2),
                "created_at": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:00:00Z",
            },
            version=1,
        )
        for n in range(count)
    ]


def run(
    name: str, open_index: Callable[[], SearchIndex], docs: list[IndexedDocument], batch: int
) -> None:
    index = open_index()
    try:
        index.delete_index(INDEX)
        index.ensure_index(INDEX, SCHEMA)
        started = time.perf_counter()
        for start in range(0, len(docs), batch):
            index.upsert(INDEX, docs[start : start + batch])
        index.refresh(INDEX)
        seconds = time.perf_counter() - started
        rate = len(docs) / seconds
        print(f"{name}: indexed {len(docs)} docs in {seconds:.2f}s = {rate:,.0f} docs/s")
        for query in QUERIES:
            timings = []
            for _ in range(20):
                started = time.perf_counter()
                result = index.search(INDEX, query)
                timings.append((time.perf_counter() - started) * 1000)
            print(
                f"{name}:   {result.total:>6} hits, median {statistics.median(timings):6.1f} ms  "
                f"text={query.text!r} filters={dict(query.filters)} sort={list(query.sort)}"
            )
    finally:
        index.delete_index(INDEX)
        index.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--elasticsearch", metavar="URL", help="also measure this cluster")
    args = parser.parse_args()
    docs = documents(args.docs)
    with tempfile.TemporaryDirectory() as directory:
        run("embedded", lambda: EmbeddedSearchIndex(directory), docs, args.batch)
    if args.elasticsearch:
        prefix = f"bench-{uuid.uuid4().hex[:8]}-"
        url = args.elasticsearch
        run("elasticsearch", lambda: ElasticsearchIndex(url, index_prefix=prefix), docs, args.batch)


if __name__ == "__main__":
    main()
