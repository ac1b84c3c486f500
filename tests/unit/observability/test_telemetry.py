"""Trace settings, the switchable provider, which service a span names, and continuing a
stored trace (`core/telemetry.py`)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

from socialcare.core import telemetry
from socialcare.core.telemetry import SERVICE_ATTRIBUTE, TelemetrySettings

OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Collector:
    """A real local HTTP server standing in for an OTLP/HTTP collector: it keeps each
    request's path, headers and body and answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.received.append((self.path, headers, body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Collector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as running:
        yield running


def export_one_span(provider: TracerProvider) -> None:
    """Record one span on `provider` and push it through its exporter now."""
    with provider.get_tracer("socialcare.routing.test").start_as_current_span("exported-span"):
        pass
    assert provider.force_flush(10_000)
    provider.shutdown()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in ("OTLP_ENDPOINT", "OTLP_PROTOCOL", "OTLP_HEADERS", "TRACE_SAMPLE_RATIO"):
        monkeypatch.delenv(f"SOCIALCARE_{name}", raising=False)


class TestSettings:
    def test_no_endpoint_records_nothing(self) -> None:
        provider = telemetry.build_provider("socialcare-routing", TelemetrySettings())
        assert provider.sampler is ALWAYS_OFF
        span = provider.get_tracer("t").start_span("s")
        assert not span.is_recording()
        assert span.get_span_context().is_valid  # ids still propagate

    def test_our_endpoint_and_headers(
        self, monkeypatch: pytest.MonkeyPatch, collector: Collector
    ) -> None:
        monkeypatch.setenv("SOCIALCARE_OTLP_ENDPOINT", f"{collector.url}/custom/traces")
        monkeypatch.setenv("SOCIALCARE_OTLP_HEADERS", "Api-Key=s%3Dcret, x-team=care ,")
        settings = TelemetrySettings()
        assert settings.headers() == {"api-key": "s=cret", "x-team": "care"}
        assert settings.protocol() == "http/protobuf"
        export_one_span(telemetry.build_provider("socialcare-routing", settings))
        [(path, headers, body)] = collector.received
        assert path == "/custom/traces"
        assert headers["api-key"] == "s=cret"
        assert headers["x-team"] == "care"
        assert headers["content-type"] == "application/x-protobuf"
        assert b"exported-span" in body
        assert b"socialcare-routing" in body

    def test_standard_variables_apply_when_ours_are_unset(
        self, monkeypatch: pytest.MonkeyPatch, collector: Collector
    ) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=from-otel")
        settings = TelemetrySettings()
        assert settings.endpoint() == collector.url
        export_one_span(telemetry.build_provider("socialcare-all", settings))
        [(path, headers, _)] = collector.received
        # The exporter appends the signal's path to the base endpoint.
        assert path == "/v1/traces"
        assert headers["api-key"] == "from-otel"

    def test_a_header_without_value_is_refused_naming_the_setting(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SOCIALCARE_OTLP_HEADERS", "api-key")
        with pytest.raises(ValueError, match="SOCIALCARE_OTLP_HEADERS"):
            TelemetrySettings().headers()

    def test_sample_ratio_is_parent_based(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SOCIALCARE_TRACE_SAMPLE_RATIO", "0.25")
        sampler = telemetry.sampler(TelemetrySettings())
        assert isinstance(sampler, ParentBased)
        assert "0.25" in sampler.get_description()  # type: ignore[no-untyped-call]

    def test_sample_ratio_out_of_range_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SOCIALCARE_TRACE_SAMPLE_RATIO", "1.5")
        with pytest.raises(ValueError, match="trace_sample_ratio"):
            TelemetrySettings()

    def test_unknown_protocol_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        with pytest.raises(ValueError, match="http/json"):
            TelemetrySettings().protocol()

    def test_grpc_protocol_exports_to_a_real_grpc_collector(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        received: list[tuple[dict[str, str], trace_service_pb2.ExportTraceServiceRequest]] = []

        class Collector(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(  # noqa: N802 (the generated method's name)
                self,
                request: trace_service_pb2.ExportTraceServiceRequest,
                context: grpc.ServicerContext,
            ) -> trace_service_pb2.ExportTraceServiceResponse:
                received.append(({k: str(v) for k, v in context.invocation_metadata()}, request))
                return trace_service_pb2.ExportTraceServiceResponse()

        server = grpc.server(ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            Collector(), server
        )
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            monkeypatch.setenv("SOCIALCARE_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
            monkeypatch.setenv("SOCIALCARE_OTLP_HEADERS", "api-key=grpc-secret")
            settings = TelemetrySettings()
            assert settings.protocol() == "grpc"
            export_one_span(telemetry.build_provider("socialcare-sla", settings))
        finally:
            server.stop(None)
        [(metadata, request)] = received
        assert metadata["api-key"] == "grpc-secret"
        [resource_spans] = request.resource_spans
        names = [s.name for scope in resource_spans.scope_spans for s in scope.spans]
        assert names == ["exported-span"]
        service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        assert service["service.name"] == "socialcare-sla"

    def test_grpc_protocol_without_its_package_names_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SOCIALCARE_OTLP_PROTOCOL", "grpc")
        real_import = importlib.import_module

        def without_grpc_exporter(name: str, package: str | None = None) -> Any:
            if name.startswith("opentelemetry.exporter.otlp.proto.grpc"):
                raise ImportError(f"No module named {name!r}")
            return real_import(name, package)

        monkeypatch.setattr(importlib, "import_module", without_grpc_exporter)
        with pytest.raises(RuntimeError, match="opentelemetry-exporter-otlp-proto-grpc"):
            telemetry.build_exporter(TelemetrySettings())


class TestProvider:
    def test_tracers_made_before_a_swap_use_the_new_provider(
        self, spans: InMemorySpanExporter
    ) -> None:
        early = telemetry.tracer("socialcare.routing.test")
        with early.start_as_current_span("before"):
            pass
        assert [s.name for s in spans.get_finished_spans()] == ["before"]
        assert telemetry.recording()

    def test_restoring_the_previous_provider_stops_recording(self) -> None:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        previous = telemetry.install_tracer_provider(provider)
        tracer = telemetry.tracer("socialcare.sla.test")
        with tracer.start_as_current_span("recorded"):
            pass
        telemetry.install_tracer_provider(previous)
        with tracer.start_as_current_span("after"):
            pass
        assert [s.name for s in exporter.get_finished_spans()] == ["recorded"]


class TestServiceAttribution:
    def test_tracer_name_names_the_service(self, spans: InMemorySpanExporter) -> None:
        with telemetry.tracer("socialcare.enrichment.consumer").start_as_current_span("x"):
            pass
        [span] = spans.get_finished_spans()
        assert span.attributes is not None
        assert span.attributes[SERVICE_ATTRIBUTE] == "enrichment"

    def test_generic_tracer_inherits_from_the_parent_span(
        self, spans: InMemorySpanExporter
    ) -> None:
        with (
            telemetry.tracer("socialcare.indexer.consumer").start_as_current_span("parent"),
            telemetry.tracer("socialcare.events").start_as_current_span("publish"),
        ):
            pass
        by_name = {s.name: s for s in spans.get_finished_spans()}
        assert by_name["publish"].attributes is not None
        assert by_name["publish"].attributes[SERVICE_ATTRIBUTE] == "indexer"

    def test_generic_tracer_without_parent_is_the_running_service(
        self, spans: InMemorySpanExporter
    ) -> None:
        import contextvars

        def in_a_loop_thread() -> None:
            telemetry.set_service("sla")
            with telemetry.tracer("socialcare.events").start_as_current_span("publish"):
                pass

        contextvars.Context().run(in_a_loop_thread)
        with telemetry.tracer("socialcare.events").start_as_current_span("elsewhere"):
            pass
        by_name = {s.name: s for s in spans.get_finished_spans()}
        assert by_name["publish"].attributes is not None
        assert by_name["publish"].attributes[SERVICE_ATTRIBUTE] == "sla"
        # Outside that context: the process's service (from the resource's service.name).
        assert by_name["elsewhere"].attributes is not None
        assert by_name["elsewhere"].attributes[SERVICE_ATTRIBUTE] == "test"

    def test_an_explicit_attribute_wins(self, spans: InMemorySpanExporter) -> None:
        tracer = telemetry.tracer("socialcare.routing.consumer")
        with tracer.start_as_current_span("x", attributes={SERVICE_ATTRIBUTE: "channels"}):
            pass
        [span] = spans.get_finished_spans()
        assert span.attributes is not None
        assert span.attributes[SERVICE_ATTRIBUTE] == "channels"

    @pytest.mark.parametrize(
        ("module", "service"),
        [
            ("socialcare.routing.assigner_processor", "routing"),
            ("socialcare.channels.outbound.processor", "channels"),
            ("socialcare.core.runtime", "platform"),
            ("tests.unit.whatever", "other"),
            ("socialcare", "other"),
        ],
    )
    def test_service_of_module(self, module: str, service: str) -> None:
        assert telemetry.service_of_module(module) == service


class TestContinueTrace:
    def test_joins_the_stored_trace_and_links_the_current_span(
        self, spans: InMemorySpanExporter
    ) -> None:
        request_tracer = telemetry.tracer("socialcare.gateway.http")
        with (
            request_tracer.start_as_current_span("POST /v1/cases/{case_id}/reply") as request,
            telemetry.continue_trace(TRACEPARENT, "socialcare.gateway.actions", "cmd"),
        ):
            carried = telemetry.current_traceparent()
        by_name = {s.name: s for s in spans.get_finished_spans()}
        command = by_name["cmd"]
        assert format(command.context.trace_id, "032x") == TRACEPARENT.split("-")[1]
        assert command.parent is not None
        assert format(command.parent.span_id, "016x") == TRACEPARENT.split("-")[2]
        [link] = command.links
        assert link.context.span_id == request.get_span_context().span_id
        # What the command's record carries is the command span, in the stored trace.
        assert carried.split("-")[1] == TRACEPARENT.split("-")[1]
        assert carried.split("-")[2] == format(command.context.span_id, "016x")

    @pytest.mark.parametrize("stored", ["", "00-not-a-trace-01", "garbage"])
    def test_without_a_valid_traceparent_it_is_a_child_of_the_current_span(
        self, spans: InMemorySpanExporter, stored: str
    ) -> None:
        request_tracer = telemetry.tracer("socialcare.gateway.http")
        with (
            request_tracer.start_as_current_span("request") as rq,
            telemetry.continue_trace(stored, "socialcare.gateway.actions", "cmd"),
        ):
            pass
        command = {s.name: s for s in spans.get_finished_spans()}["cmd"]
        assert command.context.trace_id == rq.get_span_context().trace_id
        assert command.links == ()

    def test_context_of(self) -> None:
        assert telemetry.context_of("") is None
        assert (
            telemetry.context_of("00-00000000000000000000000000000000-b7ad6b7169203331-01") is None
        )
        context = telemetry.context_of(TRACEPARENT)
        assert context is not None
        assert trace.get_current_span(context).get_span_context().trace_id == int(
            TRACEPARENT.split("-")[1], 16
        )

    def test_caller_or_current(self, spans: InMemorySpanExporter) -> None:
        from opentelemetry import propagate

        # A request without traceparent: continue from the current span (None).
        assert telemetry.caller_or_current(propagate.extract({})) is None
        assert telemetry.caller_or_current(None) is None
        caller = propagate.extract({"traceparent": TRACEPARENT})
        assert telemetry.caller_or_current(caller) is caller
        with telemetry.tracer("socialcare.ingestion.http").start_as_current_span("request") as rq:
            child = telemetry.tracer("socialcare.ingestion").start_span(
                "publish", context=telemetry.caller_or_current(propagate.extract({}))
            )
            child.end()
        assert child.get_span_context().trace_id == rq.get_span_context().trace_id
