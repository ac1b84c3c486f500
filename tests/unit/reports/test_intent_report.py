"""`GET /v1/reports/intents` (scenario 7: the least-asked questions) on the embedded search
store, with message documents as the indexer writes them: least asked first, the
taxonomy's never-asked intents, messages without an intent, series per day/week/month in
a time zone, brand isolation, and 400s naming the parameter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from socialcare.core.runtime import Runtime
from socialcare.core.search import IndexedDocument
from socialcare.core.search.indices import MESSAGES, SCHEMAS
from socialcare.gateway.intent_report import intent_report_router
from tests.unit.auth_support import admin_headers, authed_app, care_runtime, user_headers

NOW = datetime(2026, 11, 26, 18, 40, tzinfo=UTC)
DAY = timedelta(days=1)

CARE_YAML = """
sla_policies:
  - {name: any, languages: ["*"], first_response: 1h}
queues:
  - {name: care-global, languages: ["*"]}
agents:
  - {id: sanne, name: Sanne, languages: [en, nl], capacity: 8}
brands:
  - {name: acme}
  - {name: globex}
intents:
  - {name: billing, keywords: {"*": [invoice]}}
  - {name: delivery, keywords: {"*": [parcel]}}
  - {name: outage, keywords: {"*": [outage]}}
  - {name: safety, keywords: {"*": [fire]}, brands: [acme]}
  - {name: legal_threat, keywords: {"*": [lawyer]}, brands: [globex]}
"""


def message(
    doc_id: str,
    at: datetime,
    intents: list[str],
    *,
    brand: str = "acme",
    language: str = "nl",
    channel: str = "x",
    direction: str = "inbound",
) -> IndexedDocument:
    return IndexedDocument(
        doc_id,
        {
            "id": doc_id,
            "case_id": f"case-{doc_id}",
            "direction": direction,
            "brand": brand,
            "language": language,
            "channel": channel,
            "created_at": at.isoformat(),
            "intents": intents,
            "text": "…",
        },
    )


MESSAGES_DOCS = [
    message("a1", NOW - 2 * DAY, ["billing"]),
    message("a2", NOW - 2 * DAY, ["billing", "delivery"]),
    message("a3", NOW - DAY, ["billing"], language="en", channel="facebook"),
    message("a4", NOW - 10 * DAY, ["delivery"]),
    message("a5", NOW - 3 * DAY, []),  # no intent found
    message("a6", NOW - DAY, ["warranty"]),  # an intent the taxonomy no longer has
    # 23:30Z on 20 November is 00:30 on the 21st in Amsterdam.
    message("a7", datetime(2026, 11, 20, 23, 30, tzinfo=UTC), ["outage"]),
    message("r1", NOW - DAY, ["billing"], direction="outbound"),  # replies never count
    message("old", NOW - 40 * DAY, ["outage"]),  # before the default window
    message("g1", NOW - 2 * DAY, ["legal_threat"], brand="globex"),
    message("g2", NOW - 2 * DAY, ["billing"], brand="globex"),
]


def indexed_runtime(data_dir: Path, **settings: Any) -> Runtime:
    """A runtime whose messages index holds `MESSAGES_DOCS`, as the indexer writes them."""
    runtime = care_runtime(data_dir, CARE_YAML, **settings)
    runtime.search.ensure_index(MESSAGES, SCHEMAS[MESSAGES])
    runtime.search.upsert(MESSAGES, MESSAGES_DOCS)
    return runtime


@dataclass
class World:
    runtime: Runtime
    client: TestClient
    admin: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    runtime = indexed_runtime(tmp_path_factory.mktemp("intent-report"), embedded_sync="normal")
    app = authed_app(
        runtime, [intent_report_router(care=runtime.care, search=runtime.search, clock=lambda: NOW)]
    )
    with TestClient(app) as client:
        yield World(runtime, client, admin_headers(runtime))
    runtime.close()


def get(world: World, headers: dict[str, str] | None = None, /, **params: str) -> Any:
    return world.client.get(
        "/v1/reports/intents", params=params, headers=world.admin if headers is None else headers
    )


def report(world: World, **params: str) -> dict[str, Any]:
    response = get(world, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def totals(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(row["name"], row["total"]) for row in body["intents"]]


def test_least_asked_first_with_the_never_asked_and_the_unrecognised(world: World) -> None:
    body = report(world, brand="acme")
    assert body["window"] == {"from": "2026-10-27T18:40:00Z", "to": "2026-11-26T18:40:00Z"}
    assert (body["interval"], body["time_zone"]) == ("day", "UTC")
    assert body["messages"] == 7  # a1..a7: not the reply, not the old one, not globex's
    assert totals(body) == [
        ("safety", 0),  # the taxonomy's, never asked: first
        ("outage", 1),
        ("warranty", 1),
        ("delivery", 2),
        ("billing", 3),
    ]
    by_name = {row["name"]: row for row in body["intents"]}
    assert by_name["warranty"]["in_taxonomy"] is False
    assert by_name["safety"]["in_taxonomy"] is True
    assert "legal_threat" not in by_name  # globex's taxonomy, not acme's
    assert by_name["billing"]["share"] == pytest.approx(3 / 7)
    assert by_name["safety"]["share"] == 0
    assert by_name["safety"]["first_seen"] is None
    assert body["without_intent"]["total"] == 1
    assert body["without_intent"]["share"] == pytest.approx(1 / 7)


def test_series_per_day_with_first_and_last_seen(world: World) -> None:
    body = report(world, brand="acme")
    days = body["intervals"]
    assert (days[0], days[-1], len(days)) == (
        "2026-10-27T00:00:00Z",
        "2026-11-26T00:00:00Z",
        31,
    )
    billing = next(row for row in body["intents"] if row["name"] == "billing")
    assert len(billing["series"]) == 31
    assert sum(billing["series"]) == billing["total"] == 3
    assert billing["series"][days.index("2026-11-24T00:00:00Z")] == 2  # a1 and a2
    assert billing["series"][days.index("2026-11-25T00:00:00Z")] == 1
    assert (billing["first_seen"], billing["last_seen"]) == (
        "2026-11-24T00:00:00Z",
        "2026-11-25T00:00:00Z",
    )
    missing = body["without_intent"]["series"]
    assert missing[days.index("2026-11-23T00:00:00Z")] == 1 and sum(missing) == 1


def test_days_are_the_time_zones_own(world: World) -> None:
    utc = report(world, brand="acme", **{"from": "2026-11-20", "to": "2026-11-23"})
    ams = report(
        world,
        brand="acme",
        time_zone="Europe/Amsterdam",
        **{"from": "2026-11-20", "to": "2026-11-23"},
    )
    outage_utc = next(r for r in utc["intents"] if r["name"] == "outage")
    outage_ams = next(r for r in ams["intents"] if r["name"] == "outage")
    assert outage_utc["first_seen"] == "2026-11-20T00:00:00Z"
    assert outage_ams["first_seen"] == "2026-11-21T00:00:00+01:00"
    # Dates are UTC midnights, 01:00 in Amsterdam: there the window touches a 4th day.
    assert ams["intervals"][0] == "2026-11-20T00:00:00+01:00"
    assert ams["intervals"][-1] == "2026-11-23T00:00:00+01:00"
    assert len(ams["intervals"]) == 4 and len(utc["intervals"]) == 3


def test_weeks_months_and_the_default_interval_for_long_windows(world: World) -> None:
    weekly = report(world, brand="acme", interval="week")
    assert weekly["intervals"][0] == "2026-10-26T00:00:00Z"  # a Monday
    billing = next(r for r in weekly["intents"] if r["name"] == "billing")
    assert billing["series"][-1] == 3  # the week from Monday 23 November
    monthly = report(world, brand="acme", interval="month")
    assert monthly["intervals"] == ["2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"]
    outage = next(r for r in monthly["intents"] if r["name"] == "outage")
    assert outage["series"] == [0, 1]  # the October one is outside the window
    long = report(world, brand="acme", **{"from": "2026-06-01"})
    assert long["interval"] == "week"
    longer = report(world, brand="acme", **{"from": "2023-01-01"})
    assert longer["interval"] == "month"
    assert sum(r["total"] for r in longer["intents"] if r["name"] == "outage") == 2


def test_filters_by_language_and_channel(world: World) -> None:
    body = report(world, brand="acme", language="en")
    assert body["messages"] == 1
    assert [name for name, total in totals(body) if total] == ["billing"]
    assert body["filters"] == {"brand": ["acme"], "language": ["en"], "channel": []}
    by_channel = report(world, brand="acme", channel="x,facebook")
    assert by_channel["messages"] == 7
    assert report(world, channel="whatsapp")["messages"] == 0


def test_an_empty_window_lists_the_taxonomy_with_zeros(world: World) -> None:
    body = report(world, **{"from": "2026-01-01", "to": "2026-01-08"})
    assert body["messages"] == 0
    assert totals(body) == [
        ("billing", 0),
        ("delivery", 0),
        ("legal_threat", 0),
        ("outage", 0),
        ("safety", 0),
    ]
    assert all(r["share"] is None and r["series"] == [0] * 7 for r in body["intents"])
    assert body["without_intent"] == {
        "total": 0,
        "share": None,
        "first_seen": None,
        "last_seen": None,
        "series": [0] * 7,
    }


def test_a_viewer_of_one_brand_counts_that_brand_only(world: World) -> None:
    ops = user_headers(world.runtime, "ops-globex", roles=["operations"], brands=["globex"])
    response = get(world, ops)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["messages"] == 2
    assert body["filters"]["brand"] == ["globex"]
    assert totals(body) == [
        ("delivery", 0),
        ("outage", 0),
        ("billing", 1),
        ("legal_threat", 1),
    ]
    forbidden = get(world, ops, brand="acme")
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["field"] == "brand"
    everything = report(world)  # the admin, every brand
    assert everything["messages"] == 9 and everything["filters"]["brand"] is None


def test_agents_may_not_read_it(world: World) -> None:
    agent = user_headers(world.runtime, "agent-1", roles=["agent"], all_brands=True)
    assert get(world, agent).status_code == 403
    assert world.client.get("/v1/reports/intents").status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-11-26T10:00:00"}, "to"),  # no offset
        ({"from": "2026-11-26", "to": "2026-11-25"}, "from"),
        ({"interval": "fortnight"}, "interval"),
        ({"interval": "day", "from": "2020-01-01"}, "interval"),  # over 1,000 days
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"channel": "pigeon"}, "channel"),
        ({"language": "NL!"}, "language"),
        ({"brand": "x" * 1001}, "brand"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    world: World, params: dict[str, str], field: str
) -> None:
    response = get(world, **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_parameter", field)


def test_before_the_indexer_made_its_index_the_report_is_empty(tmp_path: Path) -> None:
    runtime = care_runtime(tmp_path, CARE_YAML)
    try:
        app = authed_app(runtime, [intent_report_router(care=runtime.care, search=runtime.search)])
        with TestClient(app) as client:
            response = client.get("/v1/reports/intents", headers=admin_headers(runtime))
        assert response.status_code == 200, response.text
        assert response.json()["messages"] == 0
    finally:
        runtime.close()
