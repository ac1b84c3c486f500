"""Fixtures for the console: the gateway's console router on an embedded bus and search
store, a real gRPC CaseService standing in for routing, a care config with two brands,
and principals chosen per request by a test header (`core.auth` is replaced at the one
seam the router offers, `authenticate`)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from socialcare.console.access import Permission, Principal
from socialcare.console.board import CaseBoard
from socialcare.console.routes import console_router
from socialcare.core.clock import to_timestamp
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import CHANNELS, STATUSES
from socialcare.core.errors import UnauthenticatedError
from socialcare.core.runtime import Runtime, build_app
from socialcare.core.search import IndexedDocument
from socialcare.core.search.indices import CASES, ESCALATIONS, SCHEMAS
from socialcare.gateway.cases import CaseClient
from socialcare.indexer.domain import case_documents
from socialcare.v1 import case_pb2, message_pb2, services_pb2, services_pb2_grpc

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

CARE_YAML = """
sla_policies:
  - {name: first-response-en, languages: [en], first_response: 1h}
  - {name: first-response-other, languages: ["*"], first_response: 24h}
queues:
  - {name: care-en, languages: [en]}
  - {name: care-nl, languages: [nl]}
  - {name: care-global, languages: ["*"]}
agents:
  - {id: sanne, name: Sanne de Vries, languages: [nl, en], capacity: 8, team: Benelux,
     time_zone: Europe/Amsterdam}
  - {id: olivia, name: Olivia Carter, languages: [en], capacity: 8, team: Global English,
     time_zone: Europe/London}
  - {id: pieter, name: Pieter Jansen, languages: [nl], capacity: 8, team: Benelux,
     time_zone: Europe/Amsterdam}
  - {id: gerrit, name: Gerrit Globe, languages: [en], capacity: 8, brands: [globex],
     team: Globex Nights, time_zone: America/New_York}
brands:
  - name: acme
    signature: "^{first_name}"
    meta:
      whatsapp_templates:
        - {name: pakket_update, language: nl}
        - {name: order_update, language: en_US}
  - {name: globex, signature: "- {name}, Globex care team"}
canned_answers:
  - id: en-order
    language: en
    channel: x
    title: Order late
    text: >-
      Hi {customer_first_name}, sorry! Could you DM us your order number?
      ^{agent_first_name} will check.
  - id: en-any
    language: en
    title: Anything else?
    text: "Hi {customer_first_name}, is there anything else we can do?"
  - id: en-globex
    brand: globex
    language: en
    title: Globex only
    text: "Globex answer"
  - id: nl-order
    language: nl
    title: Pakket
    text: "Hoi {customer_first_name}, stuur je ons je ordernummer?"
"""


def make_case(
    case_id: str,
    *,
    brand: str,
    language: str = "en",
    channel: str = "x",
    status: str = "open",
    assignee: str = "",
    queue: str | None = None,
    texts: tuple[str, ...] = ("Where is my order?",),
    customer: str = "Kim Jansen",
    handle: str | None = None,
    opened: datetime = NOW - timedelta(minutes=20),
    version: int = 1,
) -> case_pb2.Case:
    case = case_pb2.Case(
        id=case_id,
        status=case_pb2.CaseStatus.ValueType(STATUSES[status]),
        language=language,
        channel=message_pb2.Channel.ValueType(CHANNELS[channel]),
        queue=queue or f"care-{language}",
        assignee=assignee,
        brand=brand,
        conversation_key=f"{channel}:author:{case_id}",
        customer=message_pb2.Author(
            id=f"cust-{case_id}", handle=handle or f"@{case_id}", name=customer, followers=245000
        ),
        opened_at=to_timestamp(opened),
        updated_at=to_timestamp(opened),
        version=version,
        priority="normal",
    )
    case.sentiment.score = -0.6
    case.sentiment.label = message_pb2.SENTIMENT_LABEL_NEGATIVE
    case.sla.policy = f"first-response-{language}"
    case.sla.started_at.CopyFrom(to_timestamp(opened))
    case.sla.due_at.CopyFrom(to_timestamp(opened + timedelta(hours=1)))
    case.sla.state = case_pb2.SLA_STATE_RUNNING
    for n, text in enumerate(texts):
        case.messages.add(
            message_id=f"{case_id}-m{n}",
            direction=case_pb2.DIRECTION_INBOUND,
            author=handle or f"@{case_id}",
            text=text,
            created_at=to_timestamp(opened + timedelta(seconds=n)),
            language=language,
            sentiment=case.sentiment,
        )
    return case


def event(case: case_pb2.Case, kind: int = case_pb2.CASE_EVENT_TYPE_OPENED) -> case_pb2.CaseEvent:
    return case_pb2.CaseEvent(
        event_id=f"ev-{case.id}-{case.version}",
        type=case_pb2.CaseEventType.ValueType(kind),
        case=case,
        occurred_at=case.updated_at,
    )


ACME_EN = make_case("acme-1", brand="acme", texts=("Where is my order? <script>alert(1)</script>",))
ACME_MINE = make_case("acme-2", brand="acme", status="assigned", assignee="olivia")
ACME_NL = make_case("acme-nl", brand="acme", language="nl", texts=("Waar blijft mijn pakket?",))
GLOBEX_EN = make_case("globex-1", brand="globex", texts=("Globex secret complaint",))
ALL_CASES = (ACME_EN, ACME_MINE, ACME_NL, GLOBEX_EN)


def principal(
    user: str,
    *,
    roles: frozenset[str] = frozenset({"agent"}),
    brands: frozenset[str] | None = frozenset({"acme"}),
    agent_id: str | None = None,
    permissions: frozenset[Permission] = frozenset({Permission.READ_CASES, Permission.ACT}),
) -> Principal:
    return Principal(
        kind="user",
        id=user,
        name=user.title(),
        roles=roles,
        brands=brands,
        agent_id=agent_id,
        permissions=permissions,
    )


PRINCIPALS = {
    "olivia": principal("olivia", agent_id="olivia"),
    "sanne": principal("sanne", agent_id="sanne"),
    "pieter-globex": principal("pieter", agent_id="pieter", brands=frozenset({"globex"})),
    "olivia-globex": principal("olivia", agent_id="olivia", brands=frozenset({"globex"})),
    "ops": principal(
        "ops",
        roles=frozenset({"operations"}),
        permissions=frozenset({Permission.READ_CASES, Permission.READ_OPERATIONS}),
    ),
    "integrator": principal(
        "integrator", roles=frozenset({"integrator"}), permissions=frozenset({Permission.INGEST})
    ),
    "admin": principal(
        "admin",
        roles=frozenset({"admin"}),
        brands=None,
        permissions=frozenset(Permission),
    ),
}


def authenticate(request: Request) -> Principal:
    user = request.headers.get("x-test-user")
    if user is None or user not in PRINCIPALS:
        raise UnauthenticatedError("sign in first")
    return PRINCIPALS[user]


class FakeRouting(services_pb2_grpc.CaseServiceServicer):
    def __init__(self, cases: dict[str, case_pb2.Case]) -> None:
        self.cases = cases

    def GetCase(  # noqa: N802 (gRPC method name)
        self, request: services_pb2.GetCaseRequest, context: grpc.ServicerContext
    ) -> case_pb2.Case:
        case = self.cases.get(request.case_id)
        if case is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such case")
        return case

    def ListCases(  # noqa: N802
        self, request: services_pb2.ListCasesRequest, context: grpc.ServicerContext
    ) -> services_pb2.ListCasesResponse:
        return services_pb2.ListCasesResponse(cases=list(self.cases.values()))


@dataclass
class Console:
    client: TestClient
    board: CaseBoard
    runtime: Runtime
    cases: dict[str, case_pb2.Case] = field(default_factory=dict)

    def add(self, case: case_pb2.Case, kind: int = case_pb2.CASE_EVENT_TYPE_OPENED) -> None:
        """A case routing has and the board heard of."""
        self.cases[case.id] = case
        self.board.apply(event(case, kind))

    def get(self, path: str, user: str | None = "olivia", **headers: str) -> httpx.Response:
        if user is not None:
            headers["x-test-user"] = user
        response: httpx.Response = self.client.get(path, headers=headers, follow_redirects=False)
        return response


@pytest.fixture
def care_path(tmp_path: Path) -> Path:
    path = tmp_path / "care.yaml"
    path.write_text(CARE_YAML)
    return path


@pytest.fixture
def console(tmp_path: Path, care_path: Path) -> Iterator[Console]:
    cases: dict[str, case_pb2.Case] = {}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    services_pb2_grpc.add_CaseServiceServicer_to_server(FakeRouting(cases), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    settings = PlatformSettings(
        data_dir=tmp_path / "data",
        care_config=care_path,
        case_grpc_address=f"127.0.0.1:{port}",
        embedded_sync="normal",
    )
    runtime = Runtime(settings)
    search = runtime.search
    for name, schema in SCHEMAS.items():
        search.ensure_index(name, schema)
    board = CaseBoard(runtime.care, clock=lambda: NOW)
    board.mark_ready()
    client_for_cases = CaseClient(f"127.0.0.1:{port}", timeout_s=2.0)
    router = console_router(
        care=runtime.care,
        board=board,
        cases=client_for_cases,
        search=search,
        authenticate=authenticate,
        sso_enabled=False,
        clock=lambda: NOW,
    )
    app = build_app("console-test", [router], [])
    harness = Console(TestClient(app), board, runtime, cases)
    for case in ALL_CASES:
        harness.add(case)
    try:
        yield harness
    finally:
        harness.client.close()
        client_for_cases.close()
        server.stop(grace=None).wait()
        runtime.close()


def index_cases(runtime: Runtime, *cases: case_pb2.Case) -> None:
    """Put cases in the search projection as the indexer would."""
    docs = [doc for case in cases for index, doc in case_documents(case) if index == CASES]
    runtime.search.upsert(CASES, docs)
    runtime.search.refresh(CASES)


def index_escalation(runtime: Runtime, body: dict[str, str]) -> None:
    runtime.search.upsert(ESCALATIONS, [IndexedDocument(body["id"], body)])
    runtime.search.refresh(ESCALATIONS)


def care_of(console: Console) -> CareConfig:
    return console.runtime.care
