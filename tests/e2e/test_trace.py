"""One trace from a customer's webhook to the agent's reply, its delivery and the SLA event.

The whole platform runs in this process, as `socialcare run all` assembles it (every
service's parts, embedded backends, the gateway's sign-in), with an OpenTelemetry SDK
provider whose spans go to an in-memory exporter, installed the way `telemetry.configure`
installs the process's (`telemetry.install_tracer_provider`). A forum sends a signed
generic-source webhook; the case is assigned; its agent replies through REST; the reply is
POSTed to the forum's `reply_url` (a real local HTTP server) and the delivery and the SLA
clock's MET event come back. Then one trace id, started by the webhook's request span, must
hold spans of every service: ingestion, enrichment, routing (its case book and its
assigner), sla, indexer, the gateway (the reply) and the channels' outbound connector. A
failure prints that trace's span tree.

Another test leaves a Dutch message unanswered past its 2 s target: the breach, fired by
the sla service's timer, must join the message's trace too.

A last test runs `socialcare run all` as a process configured by environment variables
only, exporting over OTLP/HTTP to a real local receiver: the spans arrive, with the
configured headers and each span's service.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from socialcare import cli
from socialcare.channels import signatures
from socialcare.core import telemetry
from socialcare.core.bus import Record
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode
from socialcare.core.runtime import Component, Runtime, build_app
from socialcare.core.telemetry import SERVICE_ATTRIBUTE
from socialcare.v1 import delivery_pb2, sla_pb2
from tests.e2e.platform import free_port, make_platform
from tests.e2e.test_care_flow import english_question
from tests.unit.auth_support import admin_headers, open_test_auth

FORUM_SECRET = "trace-forum-secret"
DEADLINE_S = 60.0
SERVICES = {"ingestion", "enrichment", "routing", "sla", "indexer", "gateway", "channels"}
T = TypeVar("T")

CARE_YAML = """
sla_policies:
  - {{name: first-response-en, languages: [en], first_response: 1h}}
  - {{name: first-response-nl-fast, languages: [nl], first_response: 2s}}
  - {{name: first-response-other, languages: ["*"], first_response: 24h}}
queues:
  - {{name: care-en, languages: [en]}}
  - {{name: care-nl, languages: [nl]}}
  - {{name: care-global, languages: ["*"]}}
agents:
  - {{id: olivia, name: Olivia Carter, languages: [en], capacity: 5}}
brands:
  - name: acme
    generic:
      - source: forum
        secret_env: SOCIALCARE_TRACE_TEST_FORUM_SECRET
        channel: forum
        reply_url: {reply_url}
"""


class Forum:
    """The forum's side: a real local HTTP server receiving the agents' replies."""

    def __init__(self) -> None:
        self.replies: list[dict[str, Any]] = []
        forum = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                forum.replies.append(json.loads(body))
                answer = json.dumps({"id": f"forum-reply-{len(forum.replies)}"}).encode()
                self.send_response(201)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/replies"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "socialcare-all"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = telemetry.install_tracer_provider(provider)
    try:
        yield exporter
    finally:
        telemetry.install_tracer_provider(previous)
        provider.shutdown()


@pytest.fixture
def forum() -> Iterator[Forum]:
    running = Forum()
    yield running
    running.close()


class InProcessPlatform:
    """`socialcare run all` in this process: its components on their threads, its app
    behind a TestClient."""

    def __init__(self, runtime: Runtime, components: list[Component], client: TestClient):
        self.runtime = runtime
        self.components = components
        self.client = client

    def records(self, topic: Topic) -> list[Record]:
        """Everything on `topic` so far (a fresh consumer group reads from the start)."""
        consumer = self.runtime.bus.consumer(f"trace-{uuid.uuid4().hex[:8]}", [topic.value])
        try:
            found: list[Record] = []
            while batch := consumer.poll(500, timeout_s=0.3):
                found.extend(batch)
            return found
        finally:
            consumer.close()


@pytest.fixture
def running(
    spans: InMemorySpanExporter,
    forum: Forum,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[InProcessPlatform]:
    care = tmp_path / "care.yaml"
    care.write_text(CARE_YAML.format(reply_url=forum.url))
    for attempt in range(3):
        # routing's and sla's gRPC addresses must be known before they bind (the gateway
        # is told where they are): another process may take a free port first, then the
        # platform is built again on new ones.
        for name, value in {
            "SOCIALCARE_BUS": "embedded",
            "SOCIALCARE_SEARCH": "embedded",
            "SOCIALCARE_DATA_DIR": str(tmp_path / f"data-{attempt}"),
            "SOCIALCARE_CARE_CONFIG": str(care),
            "SOCIALCARE_HTTP_PORT": str(free_port()),
            "SOCIALCARE_INGEST_GRPC_PORT": "0",
            "SOCIALCARE_CASE_GRPC_ADDRESS": f"127.0.0.1:{free_port()}",
            "SOCIALCARE_SLA_GRPC_ADDRESS": f"127.0.0.1:{free_port()}",
            "SOCIALCARE_GATEWAY_GRPC_ADDRESS": "127.0.0.1:0",
            "SOCIALCARE_EMBEDDED_SYNC": "normal",
            "SOCIALCARE_TRACE_TEST_FORUM_SECRET": FORUM_SECRET,
            "SOCIALCARE_FEEDS_ENABLED": "false",
        }.items():
            monkeypatch.setenv(name, value)
        runtime = Runtime(PlatformSettings())
        auth = open_test_auth(runtime)
        parts = cli.assemble(runtime, list(cli.SERVICES))
        components = [*auth.components, *parts.components]
        # Built after the provider is installed: FastAPI's request spans are on (as with an
        # OTLP endpoint configured).
        app = build_app("socialcare all", parts.routers, components, auth.authenticator)
        started: list[Component] = []
        try:
            try:
                for component in components:
                    component.start()
                    started.append(component)
            except RuntimeError as exc:
                if "cannot serve gRPC" in str(exc) and attempt < 2:
                    continue  # the finally below stops what started
                raise
            with TestClient(app, headers=admin_headers(runtime)) as client:
                platform = InProcessPlatform(runtime, components, client)
                wait_for(
                    "the platform to be ready", lambda: client.get("/readyz").status_code == 200
                )
                yield platform
                return
        finally:
            for component in started:
                component.stop()
            for component in started:
                component.join(30.0)
            runtime.close()


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = DEADLINE_S) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def trace_id_of(record: Record) -> str:
    traceparent = record.header("traceparent")
    assert traceparent is not None, f"a record on {record.topic} without traceparent"
    return traceparent.decode().split("-")[1]


def span_tree(spans: list[ReadableSpan]) -> str:
    """The spans of one trace as an indented tree: name, service, consumer group."""
    children: dict[int | None, list[ReadableSpan]] = defaultdict(list)
    ids = {s.context.span_id for s in spans}
    for s in spans:
        parent = s.parent.span_id if s.parent is not None else None
        children[parent if parent in ids else None].append(s)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for s in sorted(children[parent], key=lambda s: s.start_time or 0):
            attributes = s.attributes or {}
            group = attributes.get("messaging.consumer.group.name", "")
            lines.append(
                f"{'  ' * depth}{s.name} [{attributes.get(SERVICE_ATTRIBUTE)}]"
                + (f" group={group}" if group else "")
                + (f" links={len(s.links)}" if s.links else "")
            )
            walk(s.context.span_id, depth + 1)

    walk(None, 0)
    return "\n".join(lines)


def post_to_forum(platform: InProcessPlatform, external_id: str, author: str, text: str) -> None:
    """A signed generic-source webhook from the forum with one message."""
    body = json.dumps(
        {
            "external_id": external_id,
            "author": {"id": author, "name": "Jan de Vries"},
            "text": text,
            "created_at": datetime.now(UTC).isoformat(),
        }
    ).encode()
    signed = signatures.generic_signature(FORUM_SECRET, body, timestamp=int(time.time()))
    answer = platform.client.post(
        "/v1/channels/generic/forum",
        content=body,
        headers={"Content-Type": "application/json", signatures.GENERIC_HEADER: signed},
    )
    assert answer.status_code in (200, 202), answer.text


def test_a_timer_breach_joins_the_trace_of_the_message(
    running: InProcessPlatform, spans: InMemorySpanExporter
) -> None:
    """A Dutch message nobody answers (no Dutch agent; a 2 s first-response target): the
    breach comes from the sla service's timer (`tick`), no record caused it, and it still
    belongs to the message's trace (the trace of the last record about the case)."""
    platform = running
    run = uuid.uuid4().hex[:8]
    post_to_forum(
        platform,
        f"topic-12-post-{run}",
        f"forum-user-nl-{run}",
        "Mijn energierekening is veel hoger dan verwacht. Waarom reageert niemand?",
    )

    def breached() -> list[Record]:
        return [
            r
            for r in platform.records(Topic.SLA)
            if decode(r, sla_pb2.SlaEvent).type == sla_pb2.SLA_EVENT_TYPE_BREACHED
        ]

    [breach] = wait_for("the SLA breach", breached)
    [message] = platform.records(Topic.MESSAGES_RAW)
    trace_id = trace_id_of(message)
    in_trace = [
        s for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id
    ]
    assert trace_id_of(breach) == trace_id, span_tree(in_trace)
    publishes = [
        s
        for s in in_trace
        if s.name == "care.sla publish" and (s.attributes or {}).get(SERVICE_ATTRIBUTE) == "sla"
    ]
    breach_id = decode(breach, sla_pb2.SlaEvent).event_id
    assert any((s.attributes or {}).get("messaging.message.id") == breach_id for s in publishes), (
        span_tree(in_trace)
    )


def test_one_trace_from_webhook_to_reply_delivery_and_sla(
    running: InProcessPlatform, spans: InMemorySpanExporter, forum: Forum
) -> None:
    platform = running
    run = uuid.uuid4().hex[:8]
    body = json.dumps(
        {
            "external_id": f"topic-77-post-{run}",
            "author": {"id": f"forum-user-{run}", "name": "Emma Wilson"},
            "text": "Hi, my DVD player stopped working in the middle of a film. "
            "How can I get it repaired?",
            "created_at": datetime.now(UTC).isoformat(),
        }
    ).encode()
    signed = signatures.generic_signature(FORUM_SECRET, body, timestamp=int(time.time()))
    answer = platform.client.post(
        "/v1/channels/generic/forum",
        content=body,
        headers={"Content-Type": "application/json", signatures.GENERIC_HEADER: signed},
    )
    assert answer.status_code in (200, 202), answer.text

    def assigned_case() -> dict[str, Any] | None:
        listing = platform.client.get("/v1/cases", params={"limit": 10})
        for summary in listing.json().get("cases", []):
            case = platform.client.get(f"/v1/cases/{summary['id']}").json()
            if case.get("assignee"):
                return dict(case)
        return None

    case = wait_for("the case to be assigned", assigned_case)
    reply = platform.client.post(
        f"/v1/cases/{case['id']}/replies",
        json={"agent": case["assignee"], "text": "So sorry to hear that, Emma! Olivia here."},
    )
    assert reply.status_code == 202, reply.text
    wait_for("the reply at the forum", lambda: forum.replies)

    def delivered() -> list[Record]:
        return [
            r
            for r in platform.records(Topic.DELIVERIES)
            if decode(r, delivery_pb2.ReplyDelivery).case_id == case["id"]
        ]

    def met() -> list[Record]:
        return [
            r
            for r in platform.records(Topic.SLA)
            if (event := decode(r, sla_pb2.SlaEvent)).case_id == case["id"]
            and event.type == sla_pb2.SLA_EVENT_TYPE_MET
        ]

    [delivery] = wait_for("the reply's delivery", delivered)
    [sla_met] = wait_for("the SLA clock's MET event", met)
    [message] = platform.records(Topic.MESSAGES_RAW)
    trace_id = trace_id_of(message)

    def services_in_trace() -> set[str] | None:
        found = {
            str((s.attributes or {}).get(SERVICE_ATTRIBUTE))
            for s in spans.get_finished_spans()
            if format(s.context.trace_id, "032x") == trace_id
        }
        return found if found >= SERVICES else None

    # The last spans (e.g. the indexer's of the delivery) may end a moment after the records.
    # On a timeout the assertions below say what is missing, with the tree.
    with contextlib.suppress(AssertionError):
        wait_for("every service's spans in the trace", services_in_trace, timeout_s=15.0)
    in_trace = [
        s for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id
    ]
    tree = span_tree(in_trace)
    services = {str((s.attributes or {}).get(SERVICE_ATTRIBUTE)) for s in in_trace}
    groups = {
        str((s.attributes or {}).get("messaging.consumer.group.name"))
        for s in in_trace
        if s.kind.name == "CONSUMER"
    }
    assert services >= SERVICES, f"missing {SERVICES - services} in trace {trace_id}:\n{tree}"
    assert {"routing", "routing-assigner", "sla", "indexer", "connectors"} <= groups, tree
    # The trace starts at the webhook's request (FastAPI's server span, ingestion's producer
    # span its child).
    ids = {s.context.span_id for s in in_trace}
    roots = [s for s in in_trace if s.parent is None or s.parent.span_id not in ids]
    assert [(s.name, s.kind.name) for s in roots] == [
        ("POST /v1/channels/generic/{source}", "SERVER")
    ], tree
    # The records the reply caused carry the message's trace: the delivery and the MET event.
    assert trace_id_of(delivery) == trace_id, tree
    assert trace_id_of(sla_met) == trace_id, tree
    # The gateway's command span joined the case's trace, linked to its HTTP request.
    [command] = [s for s in in_trace if s.name == "agent command"]
    assert command.links, tree
    request_trace = command.links[0].context.trace_id
    assert format(request_trace, "032x") != trace_id, "the request had a trace of its own"


class OtlpCollector:
    """A real local OTLP/HTTP receiver: keeps every exported span with its resource's
    `service.name`, and the request headers."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []  # (service.name, Span)
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                with collector._lock:
                    collector.headers.append({k.lower(): v for k, v in self.headers.items()})
                    for resource_spans in request.resource_spans:
                        names = {
                            a.key: a.value.string_value for a in resource_spans.resource.attributes
                        }
                        for scope in resource_spans.scope_spans:
                            for span in scope.spans:
                                collector.spans.append((names.get("service.name", ""), span))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def services_of_trace(self, trace_id: bytes) -> set[str]:
        with self._lock:
            return {
                a.value.string_value
                for _, span in self.spans
                if span.trace_id == trace_id
                for a in span.attributes
                if a.key == SERVICE_ATTRIBUTE
            }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_run_all_exports_its_spans_over_otlp(tmp_path: Path) -> None:
    """`socialcare run all` as a process, configured only by environment variables
    (telemetry.configure): its spans reach an OTLP/HTTP collector with the configured
    headers, the service name and each span's service."""
    collector = OtlpCollector()
    platform = make_platform(tmp_path, "embedded", "embedded")
    platform.env.update(
        {
            "SOCIALCARE_OTLP_ENDPOINT": collector.url,
            "SOCIALCARE_OTLP_HEADERS": "x-tenant=socialcare-e2e",
            "SOCIALCARE_TRACE_SAMPLE_RATIO": "1",
        }
    )
    platform.start()
    try:
        run = uuid.uuid4().hex[:8]
        accepted = platform.post("/v1/messages", english_question(run))
        assert accepted.status_code == 202, accepted.text
        ingested = wait_for(
            "ingestion's span at the collector",
            lambda: [
                span
                for _, span in list(collector.spans)
                if span.name == "social.messages.raw publish"
            ],
        )
        trace_id = ingested[0].trace_id
        wanted = {"ingestion", "enrichment", "routing", "sla", "indexer"}
        found = wait_for(
            "the message's trace across the services",
            lambda: got if wanted <= (got := collector.services_of_trace(trace_id)) else None,
        )
        assert wanted <= found
        assert {name for name, _ in collector.spans} == {"socialcare-all"}
        assert all(h.get("x-tenant") == "socialcare-e2e" for h in collector.headers)
        # The trace starts at the request (FastAPI's server span, on with an endpoint).
        roots = [
            span
            for _, span in list(collector.spans)
            if span.trace_id == trace_id and not span.parent_span_id
        ]
        assert [span.name for span in roots] == ["POST /v1/messages"], roots
    finally:
        platform.stop()
        collector.close()
