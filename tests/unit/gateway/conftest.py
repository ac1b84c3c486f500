"""Fixtures for the gateway: a real app on an embedded bus and search store, and a real
gRPC CaseService standing in for routing (the one edge we stub: routing is another
service, and the gateway must work against whatever answers on that port).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from fastapi.testclient import TestClient

from socialcare.core.clock import to_timestamp
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.cases import CHANNELS, STATUSES
from socialcare.core.runtime import Runtime, build_app
from socialcare.core.search import IndexedDocument
from socialcare.core.search.indices import CASES, ESCALATIONS, MESSAGES, SCHEMAS
from socialcare.gateway.main import parts
from socialcare.gateway.settings import GatewaySettings
from socialcare.indexer.domain import case_documents
from socialcare.v1 import case_pb2, message_pb2, routing_pb2, services_pb2
from tests.unit.auth_support import admin_headers, open_test_auth
from tests.unit.fake_routing import FakeRouting, serve

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def make_case(
    case_id: str,
    *,
    language: str,
    channel: str = "x",
    status: str = "open",
    queue: str | None = None,
    assignee: str = "",
    opened_minutes: int = 0,
    texts: tuple[str, ...] = ("Hello?",),
) -> case_pb2.Case:
    """A case as routing would hold it: inbound messages from one customer."""
    opened = T0 + timedelta(minutes=opened_minutes)
    case = case_pb2.Case(
        id=case_id,
        status=case_pb2.CaseStatus.ValueType(STATUSES[status]),
        language=language,
        channel=message_pb2.Channel.ValueType(CHANNELS[channel]),
        queue=queue or f"care-{language}",
        assignee=assignee,
        conversation_key=f"{channel}:author:{case_id}",
        customer=message_pb2.Author(id=f"cust-{case_id}", handle=f"@{case_id}", name="Kim"),
        opened_at=to_timestamp(opened),
        updated_at=to_timestamp(opened),
        version=len(texts),
        priority="normal",
    )
    case.sentiment.score = -0.6
    case.sentiment.label = message_pb2.SENTIMENT_LABEL_NEGATIVE
    case.sla.policy = f"first-response-{language}"
    case.sla.due_at.CopyFrom(to_timestamp(opened + timedelta(hours=1)))
    case.sla.state = case_pb2.SLA_STATE_RUNNING
    for n, text in enumerate(texts):
        case.messages.add(
            message_id=f"{case_id}-m{n}",
            direction=case_pb2.DIRECTION_INBOUND,
            author=f"@{case_id}",
            text=text,
            created_at=to_timestamp(opened + timedelta(seconds=n)),
            language=language,
            sentiment=case.sentiment,
        )
    return case


# The fixture world: what routing knows and what the index shows.
CASE_NL = make_case(
    "case-nl-1",
    language="nl",
    texts=("Mijn pakket is niet aangekomen", "Nog steeds geen pakket!"),
    opened_minutes=10,
)
CASE_NL_OLD = make_case(
    "case-nl-0", language="nl", status="assigned", assignee="sanne", opened_minutes=1
)
CASE_EN = make_case(
    "case-en-1",
    language="en",
    channel="facebook",
    texts=("My invoice shows the wrong amount",),
    opened_minutes=5,
)
CASE_DONE = make_case("case-en-done", language="en", status="resolved", opened_minutes=2)
ALL_CASES = (CASE_NL, CASE_NL_OLD, CASE_EN, CASE_DONE)

ESCALATION_DOCS = (
    {
        "id": "esc-1",
        "case_id": CASE_NL.id,
        "trigger": "sla_breach",
        "tier": "team_lead",
        "reason": "first response overdue",
        "language": "nl",
        "queue": "care-nl",
        "raised_at": "2025-03-01T10:11:00.000Z",
        "cause_id": "sla-1",
    },
    {
        "id": "esc-2",
        "case_id": CASE_NL.id,
        "trigger": "keyword",
        "tier": "specialist",
        "reason": "mentions a lawyer",
        "language": "nl",
        "queue": "care-nl",
        "raised_at": "2025-03-01T10:30:00.000Z",
        "cause_id": "msg-9",
    },
    {
        "id": "esc-3",
        "case_id": CASE_EN.id,
        "trigger": "influencer",
        "tier": "management",
        "reason": "negative post by an account with 1M followers",
        "language": "en",
        "queue": "care-en",
        "raised_at": "2025-03-01T09:20:00.000Z",
        "cause_id": "msg-3",
    },
)


# The assigner's view of the default roster's agents (sanne online with two cases).
AGENT_STATES = services_pb2.ListAgentStatesResponse(
    agents=[
        services_pb2.AgentStatus(
            agent="sanne",
            presence=routing_pb2.PRESENCE_ONLINE,
            presence_since=to_timestamp(T0),
            load=2,
            load_by_channel={"x": 2},
            last_assigned_at=to_timestamp(T0 + timedelta(minutes=3)),
            on_shift=True,
        ),
    ],
    waiting_by_queue={"care-nl": 1},
)

# Survey answers per (kind, channel, language): CSAT on X in Dutch (scores 5, 5, 4, 2 of 6
# sent), NPS on Facebook in English (10, 9, 7, 3 of 4 sent).
SATISFACTION_ROWS = [
    services_pb2.SatisfactionRow(
        kind=case_pb2.SURVEY_KIND_CSAT,
        channel="x",
        language="nl",
        sent=6,
        answered=4,
        score_counts=[0, 0, 1, 0, 1, 2],
    ),
    services_pb2.SatisfactionRow(
        kind=case_pb2.SURVEY_KIND_NPS,
        channel="facebook",
        language="en",
        sent=4,
        answered=4,
        score_counts=[0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1],
    ),
]


@dataclass
class RoutingServer:
    address: str
    server: grpc.Server
    cases: dict[str, case_pb2.Case] = field(default_factory=dict)

    def stop(self) -> None:
        self.server.stop(grace=None).wait()


@pytest.fixture
def routing() -> Iterator[RoutingServer]:
    cases = {c.id: c for c in ALL_CASES}
    server, address = serve(FakeRouting(cases, agents=AGENT_STATES, satisfaction=SATISFACTION_ROWS))
    running = RoutingServer(address, server, cases)
    yield running
    running.stop()


@pytest.fixture
def runtime(tmp_path: Path, routing: RoutingServer) -> Iterator[Runtime]:
    settings = PlatformSettings(
        data_dir=tmp_path, case_grpc_address=routing.address, embedded_sync="normal"
    )
    runtime = Runtime(settings)
    yield runtime
    runtime.close()


@pytest.fixture
def seeded(runtime: Runtime) -> Runtime:
    """The runtime with the fixture world in the search projection."""
    search = runtime.search
    for name, schema in SCHEMAS.items():
        search.ensure_index(name, schema)
    # Seeded with the search indexer's own projection, so the gateway reads what it writes.
    projected = [pair for case in ALL_CASES for pair in case_documents(case)]
    search.upsert(CASES, [doc for index, doc in projected if index == CASES])
    search.upsert(MESSAGES, [doc for index, doc in projected if index == MESSAGES])
    search.upsert(ESCALATIONS, [IndexedDocument(str(d["id"]), d) for d in ESCALATION_DOCS])
    for name in SCHEMAS:
        search.refresh(name)
    return runtime


@pytest.fixture
def client(seeded: Runtime) -> Iterator[TestClient]:
    """The gateway as a process mounts it: `main.parts` on the runtime, in `build_app` with
    the runtime's authenticator; every request carries the admin's bearer token."""
    auth = open_test_auth(seeded)
    gateway = parts(
        seeded,
        GatewaySettings.from_platform(seeded.settings).model_copy(
            update={"case_rpc_timeout_s": 2.0, "gateway_grpc_address": "127.0.0.1:0"}
        ),
    )
    app = build_app("gateway-test", gateway.routers, gateway.components, auth.authenticator)
    for component in gateway.components:
        component.start()
    with TestClient(app, headers=admin_headers(seeded)) as test_client:
        yield test_client
    for component in gateway.components:
        component.stop()
    for component in gateway.components:
        component.join(5.0)
