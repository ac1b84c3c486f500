"""Scenario 7 (`../shared/SCENARIOS.md`: learning from the least-asked questions), end to
end on the embedded backends and on Kafka + Elasticsearch: customers' messages in through
`POST /v1/messages`, enrichment finds their intents, routing puts them on the case, the
indexer puts them on the message documents, and `GET /v1/reports/intents` counts them
(on Elasticsearch: the composite aggregation) least asked first, with the taxonomy's
never-asked intents and the messages without one.

On Kafka the broker's topics are shared by every e2e test, and the indexer replays the
cases earlier tests left; the messages here are of a brand only this module configures
(a fresh name per run), so the report of that brand holds exactly them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.platform import Platform, platform_on_backends, running

BRAND = f"questions-{uuid.uuid4().hex[:8]}"

CARE = f"""
sla_policies:
  - {{name: any, languages: ["*"], first_response: 24h}}
queues:
  - {{name: care-global, languages: ["*"]}}
agents:
  - {{id: qa-{BRAND}, name: Quinn Asker, languages: [en, nl], capacity: 10}}
brands:
  - {{name: default}}
  - {{name: {BRAND}}}
intents:
  - {{name: billing, keywords: {{"*": [invoice, factuur]}}}}
  - {{name: delivery, keywords: {{"*": [parcel, pakket]}}}}
  - {{name: outage, keywords: {{"*": [outage, storing]}}}}
  - {{name: safety, keywords: {{"*": [fire, brand]}}, brands: [{BRAND}]}}
"""

MESSAGES = [
    "Why is my invoice so high this month?",
    "Where is my parcel? And the invoice is wrong too.",
    "Mijn factuur klopt niet.",
    "Thanks, all good now!",  # no question the taxonomy knows
]


@pytest.fixture(scope="module", params=["embedded", "kafka-elasticsearch"])
def platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    where = tmp_path_factory.mktemp(f"questions-{request.param}")
    with running(platform_on_backends(request, where, CARE)) as started:
        yield started


def report(platform: Platform, **params: str) -> dict[str, Any]:
    answer = platform.get("/v1/reports/intents", brand=BRAND, **params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_scenario_7_the_least_asked_questions(platform: Platform) -> None:
    run = uuid.uuid4().hex[:8]
    for n, text in enumerate(MESSAGES):
        answer = platform.post(
            "/v1/messages",
            {
                "channel": "x",
                "brand": BRAND,
                "external_id": f"s7-{run}-{n}",
                "author": {"id": f"s7-{run}-{n}", "handle": f"@asker{n}", "followers": 10},
                "text": text,
                "created_at": datetime.now(UTC).isoformat(),
            },
        )
        assert answer.status_code == 202, answer.text

    def counted() -> dict[str, Any] | None:
        body = report(platform)
        totals = {row["name"]: row["total"] for row in body["intents"] if row["total"]}
        done = body["messages"] == len(MESSAGES) and totals == {"billing": 3, "delivery": 1}
        return body if done else None

    body = platform.wait_for("the intents counted", counted, timeout_s=90.0)
    assert [(row["name"], row["total"]) for row in body["intents"]] == [
        ("outage", 0),  # the taxonomy's, never asked: first
        ("safety", 0),
        ("delivery", 1),
        ("billing", 3),
    ]
    assert body["without_intent"]["total"] == 1
    assert body["intents"][-1]["share"] == pytest.approx(3 / 4)
    today = body["intervals"][-1]
    assert body["intents"][-1]["first_seen"] == body["intents"][-1]["last_seen"] == today
    weekly = report(platform, interval="week", time_zone="Europe/Amsterdam")
    billing = next(row for row in weekly["intents"] if row["name"] == "billing")
    assert sum(billing["series"]) == 3 and billing["series"][-1] >= 1
    dutch = report(platform, language="nl")
    assert [(r["name"], r["total"]) for r in dutch["intents"] if r["total"]] == [("billing", 1)]
