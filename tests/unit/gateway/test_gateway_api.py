"""The gateway's REST contract, end to end inside one process: HTTP in, then what it read
from the search store and from routing's gRPC service, and what it put on `care.commands`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from socialcare.core.bus import BusError, Headers, Producer, Record
from socialcare.core.bus.base import Delivery
from socialcare.core.domain.cases import STATUSES, case_json
from socialcare.core.domain.pii_policy import REDACT_ALL
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode
from socialcare.core.runtime import Runtime
from socialcare.core.search import SearchError, SearchIndex, SearchQuery, SearchResult
from socialcare.core.search.base import CountQuery, CountResult, IndexedDocument, IndexSchema
from socialcare.core.search.indices import CASES, MESSAGES
from socialcare.gateway.api import CaseStatusName, router
from socialcare.gateway.cases import CaseClient, CaseServiceError
from socialcare.gateway.escalations import escalations_router
from socialcare.indexer.domain import case_documents
from socialcare.indexer.redaction import redact_documents
from socialcare.v1 import case_pb2, commands_pb2
from tests.unit.auth_support import admin_client

from .conftest import CASE_DONE, CASE_EN, CASE_NL, CASE_NL_OLD, RoutingServer, make_case

DEADLINE_S = 10.0


def commands_on_bus(runtime: Runtime, expected: int) -> list[Record]:
    """Read `care.commands` from the start until `expected` records arrived (or time out)."""
    consumer = runtime.bus.consumer("gateway-test-reader", [Topic.COMMANDS.value])
    try:
        records: list[Record] = []
        deadline = time.monotonic() + DEADLINE_S
        while len(records) < expected and time.monotonic() < deadline:
            records.extend(consumer.poll(timeout_s=0.2))
        return records
    finally:
        consumer.close()


def no_commands_on_bus(runtime: Runtime) -> bool:
    """True when `care.commands` is empty. The gateway flushes before it answers 202, so
    after any answer whatever it published is already there to read."""
    consumer = runtime.bus.consumer("gateway-test-empty", [Topic.COMMANDS.value])
    try:
        return not consumer.poll(timeout_s=0.2)
    finally:
        consumer.close()


# --- lists and search (the search projection) -------------------------------------------


def test_list_cases_newest_first_without_index_only_fields(client: TestClient) -> None:
    response = client.get("/v1/cases")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 4
    assert [c["id"] for c in body["cases"]] == [
        CASE_NL.id,
        CASE_EN.id,
        CASE_DONE.id,
        CASE_NL_OLD.id,
    ]
    first = body["cases"][0]
    assert first == case_json(CASE_NL, with_messages=False)
    assert "text" not in first


def test_list_cases_filters_by_language(client: TestClient) -> None:
    body = client.get("/v1/cases", params={"language": "nl"}).json()
    assert body["total"] == 2
    assert {c["language"] for c in body["cases"]} == {"nl"}


def test_list_cases_filters_combine(client: TestClient) -> None:
    body = client.get(
        "/v1/cases", params={"language": "nl", "status": "assigned", "assignee": "sanne"}
    ).json()
    assert [c["id"] for c in body["cases"]] == [CASE_NL_OLD.id]
    assert client.get("/v1/cases", params={"queue": "care-en"}).json()["total"] == 2


def test_list_cases_pages(client: TestClient) -> None:
    body = client.get("/v1/cases", params={"limit": 1, "offset": 1}).json()
    assert body["total"] == 4
    assert [c["id"] for c in body["cases"]] == [CASE_EN.id]


def test_list_cases_rejects_unknown_status_naming_it(client: TestClient) -> None:
    response = client.get("/v1/cases", params={"status": "archived"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_request", "status")
    assert error["details"][0]["code"] == "literal_error"
    assert "archived" not in response.text, "the input is never echoed"


@pytest.mark.parametrize("limit", [0, 201])
def test_list_cases_bounds_limit(client: TestClient, limit: int) -> None:
    response = client.get("/v1/cases", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "limit"


def test_status_names_match_core() -> None:
    assert set(get_args(CaseStatusName)) == set(STATUSES)


def test_search_finds_messages_by_text(client: TestClient) -> None:
    response = client.get("/v1/search", params={"q": "pakket"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2
    assert {h["document"]["case_id"] for h in body["hits"]} == {CASE_NL.id}
    assert all(h["score"] > 0 for h in body["hits"])
    assert {h["id"] for h in body["hits"]} == {m.message_id for m in CASE_NL.messages}


def test_search_cases_by_text_and_language(client: TestClient) -> None:
    body = client.get("/v1/search", params={"q": "invoice", "index": "cases"}).json()
    assert [h["id"] for h in body["hits"]] == [CASE_EN.id]
    assert "text" not in body["hits"][0]["document"]
    nothing = client.get(
        "/v1/search", params={"q": "invoice", "index": "cases", "language": "nl"}
    ).json()
    assert nothing == {"total": 0, "hits": []}


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}])
def test_search_needs_q(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/v1/search", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "q"


def test_search_rejects_unknown_index(client: TestClient) -> None:
    response = client.get("/v1/search", params={"q": "x", "index": "escalations"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "index"


def test_escalations_newest_first_and_by_case(client: TestClient) -> None:
    body = client.get("/v1/escalations").json()
    assert body["total"] == 3
    assert [e["id"] for e in body["escalations"]] == ["esc-2", "esc-1", "esc-3"]
    for_case = client.get("/v1/escalations", params={"case_id": CASE_EN.id}).json()
    assert [e["id"] for e in for_case["escalations"]] == ["esc-3"]
    assert for_case["escalations"][0]["tier"] == "management"


def test_agents_and_queues_come_from_the_roster(client: TestClient, runtime: Runtime) -> None:
    agents = client.get("/v1/agents").json()
    assert len(agents) == len(runtime.care.agents)
    sanne = agents[0]
    assert {k: sanne[k] for k in ("id", "name", "languages", "capacity")} == {
        "id": "sanne",
        "name": "Sanne de Vries",
        "languages": ["nl", "en"],
        "capacity": 8,
    }
    # Live state from the assigner (routing's ListAgentStates).
    assert (sanne["presence"], sanne["load"], sanne["load_by_channel"]) == ("online", 2, {"x": 2})
    assert (sanne["on_shift"], sanne["last_assigned_at"]) == (True, "2025-03-01T09:03:00Z")
    assert sanne["skills"]["language:nl"] >= 1
    # An agent the assigner has not seen: the default presence, nothing held, never assigned.
    other = agents[1]
    assert (other["presence"], other["load"], other["last_assigned_at"]) == ("online", 0, None)
    queues = client.get("/v1/queues").json()
    assert {"name": "care-nl", "languages": ["nl"]} in queues
    assert {"name": "care-global", "languages": ["*"]} in queues


def test_openapi_documents_every_route_with_tag_and_summary(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, methods in paths.items():
        if not path.startswith("/v1/"):
            continue
        for operation in methods.values():
            assert operation["tags"], path
            assert operation["summary"], path


def test_openapi_documents_the_one_error_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, methods in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for operation in methods.values():
            errors = {s: r for s, r in operation["responses"].items() if int(s) >= 400}
            assert "500" in errors, path
            for response in errors.values():
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, path


# --- one case (routing's CaseService) ---------------------------------------------------


def test_get_case_reads_routing(client: TestClient) -> None:
    response = client.get(f"/v1/cases/{CASE_NL.id}")
    assert response.status_code == 200
    body = response.json()
    assert body == case_json(CASE_NL)
    assert [m["text"] for m in body["messages"]] == [m.text for m in CASE_NL.messages]
    assert body["sla"]["policy"] == "first-response-nl"
    assert body["sentiment"] == {"score": -0.6, "label": "negative"}


def test_get_case_is_authoritative_not_the_index(
    client: TestClient, routing: RoutingServer
) -> None:
    moved = type(CASE_NL)()
    moved.CopyFrom(CASE_NL)
    moved.assignee = "daan"
    routing.cases[CASE_NL.id] = moved
    assert client.get(f"/v1/cases/{CASE_NL.id}").json()["assignee"] == "daan"


def test_get_unknown_case_is_404(client: TestClient) -> None:
    response = client.get("/v1/cases/nope")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "case nope not found"}}


def test_get_case_when_routing_is_down_is_503(client: TestClient, routing: RoutingServer) -> None:
    routing.stop()
    started = time.monotonic()
    response = client.get(f"/v1/cases/{CASE_NL.id}")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "routing_unavailable"
    assert error["message"].startswith("routing unavailable: ")
    assert response.headers["retry-after"].isdigit()
    assert time.monotonic() - started < 5.0


# --- agent actions (commands on care.commands) --------------------------------------------


def test_reply_publishes_an_agent_command(client: TestClient, runtime: Runtime) -> None:
    response = client.post(
        f"/v1/cases/{CASE_NL.id}/replies",
        json={"agent": "sanne", "text": "  Wat vervelend! Stuur je ons je ordernummer?  "},
    )
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["case_id"] == CASE_NL.id
    assert accepted["status"] == "accepted"

    [record] = commands_on_bus(runtime, 1)
    assert record.key == CASE_NL.id.encode()
    assert record.header("producer") == b"gateway"
    assert record.header("event-id") == accepted["command_id"].encode()
    assert record.header("event-type") == b"socialcare.v1.AgentCommand"
    command = decode(record, commands_pb2.AgentCommand)
    assert command.command_id == accepted["command_id"]
    assert command.case_id == CASE_NL.id
    assert command.WhichOneof("action") == "reply"
    assert command.reply.agent == "sanne"
    assert command.reply.text == "Wat vervelend! Stuur je ons je ordernummer?"
    assert command.issued_at.seconds > 0
    assert not no_commands_on_bus(runtime)


def test_reply_with_same_idempotency_key_is_one_command(client: TestClient) -> None:
    url = f"/v1/cases/{CASE_NL.id}/replies"
    body = {"agent": "sanne", "text": "We kijken ernaar."}
    first = client.post(url, json=body, headers={"Idempotency-Key": "k-1"}).json()
    again = client.post(url, json=body, headers={"Idempotency-Key": "k-1"}).json()
    other = client.post(url, json=body, headers={"Idempotency-Key": "k-2"}).json()
    plain = client.post(url, json=body).json()
    assert first["command_id"] == again["command_id"]
    assert len({first["command_id"], other["command_id"], plain["command_id"]}) == 3


def test_reply_by_unknown_agent_is_422(client: TestClient, runtime: Runtime) -> None:
    response = client.post(
        f"/v1/cases/{CASE_NL.id}/replies", json={"agent": "mallory", "text": "hi"}
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": {"code": "unknown_agent", "message": "unknown agent 'mallory'", "field": "agent"}
    }
    assert no_commands_on_bus(runtime)


@pytest.mark.parametrize("text", ["", "   \n"])
def test_reply_needs_text(client: TestClient, text: str) -> None:
    response = client.post(f"/v1/cases/{CASE_NL.id}/replies", json={"agent": "sanne", "text": text})
    assert response.status_code == 422
    [problem] = response.json()["error"]["details"]
    assert problem["field"] == "text"
    assert "blank" in problem["message"]


def test_reply_too_long_for_x_with_the_signature_is_422(
    client: TestClient, runtime: Runtime
) -> None:
    # 275 characters fit X's 280, but the customer gets them signed " ^Sanne" (7 more).
    response = client.post(
        f"/v1/cases/{CASE_NL.id}/replies", json={"agent": "sanne", "text": "a" * 275}
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "reply_too_long",
            "message": "282 characters including the signature (7 characters), x allows 280",
            "field": "text",
        }
    }
    assert no_commands_on_bus(runtime)
    # Exactly 280 with the signature fits X; longer text fits Facebook's limit.
    fits = client.post(
        f"/v1/cases/{CASE_NL.id}/replies", json={"agent": "sanne", "text": "a" * 273}
    )
    assert fits.status_code == 202
    longer = client.post(
        f"/v1/cases/{CASE_EN.id}/replies", json={"agent": "olivia", "text": "a" * 312}
    )
    assert longer.status_code == 202
    assert len(commands_on_bus(runtime, 2)) == 2


def test_reply_to_unknown_case_is_404(client: TestClient) -> None:
    response = client.post("/v1/cases/nope/replies", json={"agent": "sanne", "text": "hi"})
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "case nope not found"}


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("replies", {"agent": "olivia", "text": "hi"}),
        ("assign", {"agent": "olivia"}),
        ("resolve", {"agent": "olivia"}),
    ],
)
def test_any_action_on_a_resolved_case_is_409_case_resolved(
    client: TestClient, runtime: Runtime, action: str, body: dict[str, str]
) -> None:
    response = client.post(f"/v1/cases/{CASE_DONE.id}/{action}", json=body)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "case_resolved"
    assert CASE_DONE.id in error["message"]
    assert no_commands_on_bus(runtime)


def test_reply_when_routing_is_down_is_503(
    client: TestClient, routing: RoutingServer, runtime: Runtime
) -> None:
    routing.stop()
    response = client.post(f"/v1/cases/{CASE_NL.id}/replies", json={"agent": "sanne", "text": "x"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "routing_unavailable"


def test_assign_checks_the_agent_speaks_the_language(client: TestClient, runtime: Runtime) -> None:
    url = f"/v1/cases/{CASE_NL.id}/assign"
    refused = client.post(url, json={"agent": "olivia"})
    assert refused.status_code == 422
    assert refused.json() == {
        "error": {
            "code": "language_not_spoken",
            "message": "'olivia' does not speak 'nl' (speaks en)",
            "field": "agent",
        }
    }

    accepted = client.post(url, json={"agent": "daan"})
    assert accepted.status_code == 202
    [record] = commands_on_bus(runtime, 1)
    command = decode(record, commands_pb2.AgentCommand)
    assert command.WhichOneof("action") == "assign"
    assert command.assign.agent == "daan"
    assert command.command_id == accepted.json()["command_id"]


def test_resolve_publishes_and_refuses_resolved(client: TestClient, runtime: Runtime) -> None:
    accepted = client.post(f"/v1/cases/{CASE_EN.id}/resolve", json={"agent": "olivia"})
    assert accepted.status_code == 202
    [record] = commands_on_bus(runtime, 1)
    command = decode(record, commands_pb2.AgentCommand)
    assert (command.WhichOneof("action"), command.resolve.agent) == ("resolve", "olivia")

    again = client.post(f"/v1/cases/{CASE_DONE.id}/resolve", json={"agent": "olivia"})
    assert again.status_code == 409
    unknown = client.post(f"/v1/cases/{CASE_EN.id}/resolve", json={"agent": "nobody"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_agent"


def test_action_body_rejects_unknown_fields(client: TestClient) -> None:
    response = client.post(
        f"/v1/cases/{CASE_EN.id}/resolve", json={"agent": "olivia", "force": True}
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "force"


# --- client mistakes that were 500s or 503s (found by fuzzing) ---------------------------


def post_json_text(client: TestClient, url: str, body: dict[str, Any]) -> Any:
    """POST `body` as JSON text with \\u escapes, as a client may send a lone surrogate
    (httpx itself refuses to encode one)."""
    return client.post(url, content=json.dumps(body), headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("replies", {"agent": "sanne", "text": "Hallo \ud800"}, "text"),
        ("replies", {"agent": "sanne\udfff", "text": "Hallo"}, "agent"),
        ("assign", {"agent": "\ud800"}, "agent"),
        ("resolve", {"agent": "daan", "note": "\ud800"}, "note"),
    ],
    ids=["reply-text", "reply-agent", "assign-agent", "unknown-field"],
)
def test_a_lone_surrogate_is_422_naming_the_field(
    client: TestClient, runtime: Runtime, action: str, body: dict[str, str], field: str
) -> None:
    response = post_json_text(client, f"/v1/cases/{CASE_NL.id}/{action}", body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == field
    assert "\\ud" not in response.text and "Hallo" not in response.text
    assert no_commands_on_bus(runtime)


@pytest.mark.parametrize(
    ("path", "params", "items"),
    [("/v1/cases", {}, "cases"), ("/v1/search", {"q": "pakket"}, "hits")],
    ids=["list", "search"],
)
def test_paging_past_the_result_window_is_422_naming_offset(
    client: TestClient, path: str, params: dict[str, str], items: str
) -> None:
    response = client.get(path, params={**params, "offset": 9_950, "limit": 100})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_request", "offset")
    assert error["details"][0]["code"] == "result_window_exceeded"
    assert "10000" in error["message"]
    deepest = client.get(path, params={**params, "offset": 9_900, "limit": 100})
    assert deepest.status_code == 200
    assert deepest.json()[items] == []


def test_offset_at_the_result_window_is_422(client: TestClient) -> None:
    response = client.get("/v1/cases", params={"offset": 10_000})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "offset"


def test_idempotency_key_is_bounded_and_named(client: TestClient) -> None:
    response = client.post(
        f"/v1/cases/{CASE_NL.id}/resolve",
        json={"agent": "sanne"},
        headers={"Idempotency-Key": "k" * 201},
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "idempotency-key"


def test_a_body_that_is_not_json_is_400_and_not_sent_as_json_415(client: TestClient) -> None:
    url = f"/v1/cases/{CASE_NL.id}/resolve"
    broken = client.post(url, content=b"{", headers={"content-type": "application/json"})
    assert (broken.status_code, broken.json()["error"]["code"]) == (400, "invalid_json")
    plain = client.post(url, content=b'{"agent": "sanne"}', headers={"content-type": "text/plain"})
    assert (plain.status_code, plain.json()["error"]["code"]) == (415, "unsupported_media_type")


def test_unknown_path_and_wrong_method_have_the_one_error_shape(client: TestClient) -> None:
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "Not Found"}}
    wrong = client.delete("/v1/cases")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "GET"


# --- backends down ------------------------------------------------------------------------


class _DownProducer(Producer):
    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        raise BusError("broker 127.0.0.1:9092 unreachable")

    def flush(self, timeout_s: float = 30.0) -> None:
        raise BusError("broker 127.0.0.1:9092 unreachable")

    def close(self) -> None:
        pass


class _DownSearch(SearchIndex):
    def ensure_index(self, name: str, schema: IndexSchema) -> None:
        raise SearchError("connection refused")

    def upsert(self, index: str, documents: Sequence[IndexedDocument]) -> None:
        raise SearchError("connection refused")

    def get(self, index: str, doc_id: str) -> dict[str, Any] | None:
        raise SearchError("connection refused")

    def search(self, index: str, query: SearchQuery) -> SearchResult:
        raise SearchError("http://127.0.0.1:9200: connection refused")

    def refresh(self, index: str) -> None:
        raise SearchError("connection refused")

    def delete(self, index: str, ids: Sequence[str]) -> int:
        raise SearchError("connection refused")

    def delete_where(
        self,
        index: str,
        filters: Mapping[str, str | Sequence[str]],
        *,
        date_field: str | None = None,
        before: str | None = None,
    ) -> int:
        raise SearchError("connection refused")

    def count(self, index: str, query: CountQuery) -> CountResult:
        raise SearchError("connection refused")

    def delete_index(self, index: str) -> None:
        raise SearchError("connection refused")

    def close(self) -> None:
        pass


@pytest.fixture
def broken_client(runtime: Runtime, routing: RoutingServer) -> Iterator[TestClient]:
    """The gateway with the bus and the search backend down (routing still up)."""
    cases = CaseClient(routing.address, timeout_s=2.0)
    search, producer = _DownSearch(), _DownProducer()
    api = router(care=runtime.care, search=search, producer=producer, cases=cases)
    escalations = escalations_router(
        care=runtime.care, search=search, producer=producer, cases=cases
    )
    yield admin_client(runtime, [escalations, api])
    cases.close()


def test_bus_down_is_503(broken_client: TestClient) -> None:
    response = broken_client.post(
        f"/v1/cases/{CASE_NL.id}/replies", json={"agent": "sanne", "text": "hoi"}
    )
    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "code": "bus_unavailable",
            "message": "event bus unavailable: broker 127.0.0.1:9092 unreachable",
        }
    }
    assert response.headers["retry-after"].isdigit()


@pytest.mark.parametrize(
    "url",
    [
        "/v1/search?q=pakket",
        "/v1/search?q=pakket&index=cases",
        "/v1/cases?pii=email",
        "/v1/escalations",
    ],
    ids=["search", "search-cases", "list-by-pii", "esc"],
)
def test_search_down_is_503(broken_client: TestClient, url: str) -> None:
    """Only what exists in the projection alone: full-text search, the `pii` filter (the
    kinds the indexer found), the escalation lists."""
    response = broken_client.get(url)
    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "code": "search_unavailable",
            "message": "search unavailable: http://127.0.0.1:9200: connection refused",
        }
    }
    assert response.headers["retry-after"].isdigit()


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"language": "nl"},
        {"language": "nl", "status": "assigned", "assignee": "sanne"},
        {"queue": "care-en"},
        {"status": "resolved"},
        {"assignee": "nobody"},
        {"limit": 1, "offset": 1},
        {"limit": 2, "offset": 3},
    ],
    ids=["all", "language", "combined", "queue", "status", "no-match", "page", "last-page"],
)
def test_search_down_lists_the_same_cases_from_routing(
    client: TestClient, broken_client: TestClient, params: dict[str, Any]
) -> None:
    """The inbox keeps working while the search backend is down: the same answer as the
    projection's (routing and the index agree in the fixture world), marked degraded."""
    healthy = client.get("/v1/cases", params=params)
    degraded = broken_client.get("/v1/cases", params=params)
    assert healthy.status_code == degraded.status_code == 200
    assert degraded.json() == healthy.json()
    assert degraded.headers["x-socialcare-degraded"] == "search"
    assert "x-socialcare-degraded" not in healthy.headers


def test_search_down_list_is_routings_state_now(
    broken_client: TestClient, routing: RoutingServer
) -> None:
    """A case routing opened a moment ago (not indexed yet) is in the degraded inbox, and a
    case's current status decides the status filter."""
    fresh = make_case("case-nl-2", language="nl", opened_minutes=20)
    routing.cases[fresh.id] = fresh
    body = broken_client.get("/v1/cases", params={"language": "nl"}).json()
    assert body["total"] == 3
    assert [c["id"] for c in body["cases"]] == [fresh.id, CASE_NL.id, CASE_NL_OLD.id]
    assert body["cases"][0] == case_json(fresh, with_messages=False)
    open_ones = broken_client.get("/v1/cases", params={"status": "open"}).json()
    assert [c["id"] for c in open_ones["cases"]] == [fresh.id, CASE_NL.id, CASE_EN.id]


def test_search_down_case_view_still_answers(broken_client: TestClient) -> None:
    response = broken_client.get(f"/v1/cases/{CASE_NL.id}")
    assert response.status_code == 200
    assert response.json() == case_json(CASE_NL)


def test_search_and_routing_down_list_is_503_routing_unavailable(
    broken_client: TestClient, routing: RoutingServer
) -> None:
    routing.stop()
    response = broken_client.get("/v1/cases")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "routing_unavailable"
    assert error["message"].startswith("search and routing unavailable: ")
    assert response.headers["retry-after"].isdigit()
    assert "x-socialcare-degraded" not in response.headers


def test_missing_index_lists_nothing(runtime: Runtime, routing: RoutingServer) -> None:
    """Before the indexer has created its indices there is nothing to list, not an outage."""
    cases = CaseClient(routing.address)
    api = router(care=runtime.care, search=runtime.search, producer=runtime.producer, cases=cases)
    try:
        response = admin_client(runtime, [api]).get("/v1/cases")
    finally:
        cases.close()
    assert response.status_code == 200
    assert response.json() == {"total": 0, "cases": []}


class _FailingCaseClient(CaseClient):
    """Routing answers, but with an error of its own (not unreachable)."""

    def get_case(self, case_id: str) -> case_pb2.Case | None:
        raise CaseServiceError("CaseService.GetCase: INTERNAL boom")


def test_routing_failing_on_the_request_is_502_routing_failed(runtime: Runtime) -> None:
    cases = _FailingCaseClient("127.0.0.1:1")
    api = router(care=runtime.care, search=runtime.search, producer=runtime.producer, cases=cases)
    try:
        with admin_client(runtime, [api]) as client:
            read = client.get(f"/v1/cases/{CASE_NL.id}")
            act = client.post(f"/v1/cases/{CASE_NL.id}/resolve", json={"agent": "sanne"})
    finally:
        cases.close()
    assert (read.status_code, read.json()["error"]["code"]) == (502, "routing_failed")
    assert (act.status_code, act.json()["error"]["code"]) == (502, "routing_failed")


def test_escalations_page_past_the_result_window_like_every_list(client: TestClient) -> None:
    """The escalation list reads through the same helpers as the case list: the same 422."""
    response = client.get("/v1/escalations", params={"offset": 9_950, "limit": 100})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_request", "offset")
    assert error["details"][0]["code"] == "result_window_exceeded"
    deepest = client.get("/v1/escalations", params={"offset": 9_900, "limit": 100})
    assert (deepest.status_code, deepest.json()["escalations"]) == (200, [])


def test_cases_and_messages_filter_by_the_kind_of_personal_data_they_held(
    client: TestClient, seeded: Runtime
) -> None:
    """The index holds the text redacted, so the kind is what stays searchable."""
    case = make_case(
        "case-card-1",
        language="en",
        texts=("Charge my card 4111 1111 1111 1111 again, my invoice is wrong",),
    )
    documents = redact_documents(case_documents(case), REDACT_ALL)
    seeded.search.upsert(CASES, [doc for index, doc in documents if index == CASES])
    seeded.search.upsert(MESSAGES, [doc for index, doc in documents if index == MESSAGES])
    seeded.search.refresh(CASES)
    seeded.search.refresh(MESSAGES)

    cases = client.get("/v1/cases", params={"pii": "card"}).json()
    assert [c["id"] for c in cases["cases"]] == ["case-card-1"]
    assert client.get("/v1/cases", params={"pii": "iban"}).json()["total"] == 0
    found = client.get("/v1/search", params={"q": "invoice", "pii": "card"}).json()
    assert found["total"] == 1
    assert "4111" not in json.dumps(found)
    refused = client.get("/v1/cases", params={"pii": "passport"})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "pii"
