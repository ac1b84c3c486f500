"""The REST API as `socialcare run all` serves it (gateway + ingestion in one app), on the
embedded bus and search store in a temporary directory, with a real gRPC CaseService
standing in for routing over the gateway tests' fixture world (cases, the assigner's agent
states, satisfaction answers). Credentials are checked as
in production; the fuzzer sends the admin's bearer token (`admin_headers`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.schemas import BaseSchema

from socialcare.cli import SERVICES, assemble
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.sla_reports import BUCKET_BOUNDS, OutcomeKey, Tally
from socialcare.core.runtime import Runtime, build_app
from socialcare.core.search import IndexedDocument
from socialcare.core.search.indices import CASES, ESCALATIONS, MESSAGES, SCHEMAS
from socialcare.gateway import main as gateway_main
from socialcare.gateway.settings import GatewaySettings
from socialcare.indexer.domain import case_documents
from socialcare.ingestion import main as ingestion_main
from socialcare.sla.rpc import HourlyView, ReportServer, ReportServicer
from tests.unit.auth_support import admin_headers, open_test_auth
from tests.unit.fake_routing import FakeRouting, serve
from tests.unit.gateway.conftest import (
    AGENT_STATES,
    ALL_CASES,
    ESCALATION_DOCS,
    SATISFACTION_ROWS,
)
from tests.unit.service_credentials import service_guard


@pytest.fixture(scope="module")
def routing_address() -> Iterator[str]:
    server, address = serve(
        FakeRouting(
            {case.id: case for case in ALL_CASES},
            agents=AGENT_STATES,
            satisfaction=SATISFACTION_ROWS,
        )
    )
    yield address
    server.stop(grace=None).wait()


@pytest.fixture(scope="module")
def sla_address() -> Iterator[str]:
    """A real ReportService over a fixed view of every care.sla partition (the sla service
    is not in this process): the reports route must answer the fuzzer without a 5xx."""
    partitions = PlatformSettings().topic_partitions
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    key = OutcomeKey("first_response", "nl", "x", "care-nl", "normal", "", "default")
    tally = Tally(met=3, breached=1, buckets=(1, 2) + (0,) * (len(BUCKET_BOUNDS) - 1), observed=3)

    def read(start: datetime, end: datetime) -> HourlyView:
        rows = [(hour, key, tally)] if start <= hour < end else []
        return HourlyView(frozenset(range(partitions)), partitions, rows)

    server = ReportServer(
        ReportServicer(read, retention=timedelta(days=35)), "127.0.0.1:0", guard=service_guard()
    )
    server.start()
    yield f"127.0.0.1:{server.port}"
    server.stop()
    server.join(5.0)


@pytest.fixture(scope="module")
def runtime(
    tmp_path_factory: pytest.TempPathFactory, routing_address: str, sla_address: str
) -> Iterator[Runtime]:
    settings = PlatformSettings(
        data_dir=tmp_path_factory.mktemp("fuzz"),
        case_grpc_address=routing_address,
        sla_grpc_address=sla_address,
        ingest_grpc_port=0,
        embedded_sync="normal",
    )
    runtime = Runtime(settings)
    search = runtime.search
    for name, schema in SCHEMAS.items():
        search.ensure_index(name, schema)
    projected = [pair for case in ALL_CASES for pair in case_documents(case)]
    search.upsert(CASES, [doc for index, doc in projected if index == CASES])
    search.upsert(MESSAGES, [doc for index, doc in projected if index == MESSAGES])
    search.upsert(ESCALATIONS, [IndexedDocument(str(d["id"]), d) for d in ESCALATION_DOCS])
    for name in SCHEMAS:
        search.refresh(name)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def app(runtime: Runtime) -> Iterator[FastAPI]:
    """Gateway and ingestion routes in one app, built the way `serve` builds it."""
    auth = open_test_auth(runtime)
    # The gateway's gRPC AgentService on a free port (its own tests cover it).
    gateway = gateway_main.parts(
        runtime,
        GatewaySettings.from_platform(runtime.settings).model_copy(
            update={"gateway_grpc_address": "127.0.0.1:0"}
        ),
    )
    ingestion = ingestion_main.parts(runtime)
    components = [*gateway.components, *ingestion.components]
    for component in components:
        component.start()
    yield build_app(
        "socialcare-fuzz",
        [*gateway.routers, *ingestion.routers],
        components,
        auth.authenticator,
    )
    for component in components:
        component.stop()
    for component in components:
        component.join(5.0)


@pytest.fixture(scope="module")
def credentials(runtime: Runtime, app: FastAPI) -> dict[str, str]:
    """The headers every fuzzed request carries: the admin's token reaches every route."""
    return admin_headers(runtime)


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> BaseSchema:
    """The app's own OpenAPI document, requests sent in-process (ASGI); the public API only,
    without the console's live stream (an endless answer by design: tests/unit/console)."""
    return (
        schemathesis.openapi.from_asgi("/openapi.json", app)
        .include(path_regex="^/(v1/|healthz$|readyz$|metrics$)")
        .exclude(path="/v1/stream/cases")
    )


@pytest.fixture(scope="module")
def service_operations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[str, str]]]:
    """Per service, the (method, path) of every operation in the OpenAPI document of its app
    as `socialcare run <service>` builds it (its routers and the platform routes), read from
    the services' own wiring on a runtime of its own (nothing is started)."""
    runtime = Runtime(
        PlatformSettings(
            data_dir=tmp_path_factory.mktemp("fuzz-services"),
            embedded_sync="normal",
            ingest_grpc_port=0,
            case_grpc_address="127.0.0.1:1",
            sla_grpc_address="127.0.0.1:1",
        )
    )
    try:
        found: dict[str, set[tuple[str, str]]] = {}
        for service in SERVICES:
            parts = assemble(runtime, [service])
            document = build_app(f"socialcare {service}", parts.routers, []).openapi()
            found[service] = {
                (method.upper(), path)
                for path, operations in document["paths"].items()
                for method in operations
            }
        return found
    finally:
        runtime.close()
