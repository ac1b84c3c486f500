"""Logs, traces and trace propagation shared by every process.

* Logs are one JSON object per line on stderr, with the trace id when a span is active,
  so a log line can be found from a trace and the other way round.
* Traces use the OpenTelemetry SDK. Spans are recorded and exported over OTLP (HTTP or
  gRPC) only when an endpoint is configured (`SOCIALCARE_OTLP_ENDPOINT`, or the standard
  `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`); otherwise contexts
  still get trace ids and still propagate, marked not sampled, and no span is recorded
  (recording them cost a third of a webhook's CPU for spans nobody could read).
* The W3C `traceparent` travels in every bus record's headers: `inject_headers` when
  producing, `extract_context` when consuming (producer/consumer span kinds), so one trace
  runs from a webhook through every Kafka hop to the assignment, the reply, its delivery
  and the SLA events (see README "Tracing").
* Every span says which service made it, in attribute `socialcare.service`: in one process
  (`socialcare run all`) the Resource's `service.name` is shared, so the attribute is what
  tells ingestion's spans from routing's. `ServiceAttribution` sets it at span start.
* `install_tracer_provider` swaps the provider every tracer delegates to, at any time (the
  OpenTelemetry API allows setting the global provider only once): `configure` uses it, and
  a test installs an SDK provider with an in-memory exporter the same way.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import logging
import os
import sys
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from socialcare.core.bus import Headers
from socialcare.core.pii import redact_value

SERVICE_ATTRIBUTE = "socialcare.service"
"""The span attribute naming the service that made a span (ingestion, routing, ...)."""

Protocol = Literal["http/protobuf", "grpc"]

_configured = threading.Lock()
_done = False

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}


class TelemetrySettings(BaseSettings):
    """Where and how spans are exported (prefix `SOCIALCARE_`). The standard OpenTelemetry
    variables apply where these are unset: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
    `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`,
    `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`, `OTEL_TRACES_SAMPLER(_ARG)`."""

    model_config = SettingsConfigDict(env_prefix="SOCIALCARE_", extra="ignore")

    otlp_endpoint: str | None = Field(
        default=None,
        description="SOCIALCARE_OTLP_ENDPOINT: OTLP traces endpoint, e.g. "
        "http://collector:4318/v1/traces (HTTP) or http://collector:4317 (gRPC); with neither "
        "this nor OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT set, no span is recorded.",
    )
    otlp_protocol: Protocol | None = Field(
        default=None,
        description="SOCIALCARE_OTLP_PROTOCOL: `http/protobuf` or `grpc` (needs the package "
        "opentelemetry-exporter-otlp-proto-grpc); default: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, "
        "OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf.",
    )
    otlp_headers: str | None = Field(
        default=None,
        description="SOCIALCARE_OTLP_HEADERS: headers sent with every export, "
        "`key=value,key2=value2` (values URL-encoded), e.g. an API key of a tracing vendor; "
        "default: OTEL_EXPORTER_OTLP_(TRACES_)HEADERS.",
    )
    trace_sample_ratio: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="SOCIALCARE_TRACE_SAMPLE_RATIO: share of new traces recorded (0..1), "
        "parent-based: a record or request whose trace was sampled upstream is always "
        "recorded, one that was not never is. Default: OTEL_TRACES_SAMPLER(_ARG), else 1.",
    )

    def endpoint(self) -> str | None:
        """Where spans go: ours, else the standard variables' (None: nowhere)."""
        return (
            self.otlp_endpoint
            or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or None
        )

    def protocol(self) -> Protocol:
        chosen = (
            self.otlp_protocol
            or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        )
        if chosen not in ("http/protobuf", "grpc"):
            raise ValueError(
                f"OTLP protocol {chosen!r} is not supported: use http/protobuf or grpc "
                "(SOCIALCARE_OTLP_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL)"
            )
        return "grpc" if chosen == "grpc" else "http/protobuf"

    def headers(self) -> dict[str, str] | None:
        """SOCIALCARE_OTLP_HEADERS parsed; None leaves the exporter to read the standard
        variables."""
        if not self.otlp_headers:
            return None
        parsed: dict[str, str] = {}
        for pair in self.otlp_headers.split(","):
            if not pair.strip():
                continue
            name, sep, value = pair.partition("=")
            if not sep or not name.strip():
                raise ValueError(
                    f"SOCIALCARE_OTLP_HEADERS: {pair.strip()!r} is not `key=value` "
                    "(separate pairs with commas)"
                )
            parsed[unquote(name.strip()).lower()] = unquote(value.strip())
        return parsed


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # No personal data in logs (core.pii): the message, the fields and the traceback.
        for key in entry.keys() - {"ts", "level", "logger", "trace_id", "span_id"}:
            entry[key] = redact_value(entry[key])
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(service_name: str, log_level: str = "INFO", otlp_endpoint: str | None = None) -> None:
    """Set up JSON logging and the tracer provider once per process (later calls are no-ops).

    `otlp_endpoint` overrides the settings' endpoint (the platform settings pass theirs);
    the rest of the export comes from `TelemetrySettings`."""
    global _done
    with _configured:
        if _done:
            return
        _done = True
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(log_level.upper())
        for noisy in ("kafka", "elastic_transport", "uvicorn.access", "httpx"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        settings = TelemetrySettings()
        if otlp_endpoint:
            settings.otlp_endpoint = otlp_endpoint
        install_tracer_provider(build_provider(service_name, settings))


def build_provider(service_name: str, settings: TelemetrySettings) -> TracerProvider:
    """The process's tracer provider: exporting in batches to the configured endpoint, or,
    with no endpoint, recording nothing (contexts still propagate, marked not sampled)."""
    resource = Resource.create({"service.name": service_name})
    endpoint = settings.endpoint()
    if not endpoint:
        return TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    provider = TracerProvider(resource=resource, sampler=sampler(settings))
    provider.add_span_processor(BatchSpanProcessor(build_exporter(settings)))
    return provider


def sampler(settings: TelemetrySettings) -> Sampler | None:
    """Parent-based ratio sampling from SOCIALCARE_TRACE_SAMPLE_RATIO; None (the SDK reads
    OTEL_TRACES_SAMPLER, default parent-based always-on) when unset."""
    if settings.trace_sample_ratio is None:
        return None
    return ParentBased(TraceIdRatioBased(settings.trace_sample_ratio))


def build_exporter(settings: TelemetrySettings) -> SpanExporter:
    """An OTLP span exporter for the settings' protocol. Only SOCIALCARE_OTLP_ENDPOINT and
    SOCIALCARE_OTLP_HEADERS are passed; left unset, the exporter reads the standard
    OTEL_EXPORTER_OTLP_* variables itself (the base endpoint gets `/v1/traces` over HTTP)."""
    headers = settings.headers()
    if settings.protocol() == "grpc":
        try:
            # Optional package: imported by name so the module works without it.
            grpc_exporter = importlib.import_module(
                "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"
            )
        except ImportError as exc:
            raise RuntimeError(
                "OTLP over gRPC needs the package opentelemetry-exporter-otlp-proto-grpc; "
                "install it or set SOCIALCARE_OTLP_PROTOCOL=http/protobuf"
            ) from exc
        exporter: SpanExporter = grpc_exporter.OTLPSpanExporter(
            endpoint=settings.otlp_endpoint, headers=headers
        )
        return exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=settings.otlp_endpoint, headers=headers)


# -- one switchable provider behind every tracer ----------------------------------------


class _SwitchableProvider(trace.TracerProvider):
    """The global provider: hands out tracers that delegate to whichever SDK provider is
    installed now, so a provider can be replaced after tracers were created."""

    def __init__(self) -> None:
        self.current: trace.TracerProvider = TracerProvider(sampler=ALWAYS_OFF)

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes | None = None,
    ) -> trace.Tracer:
        return _SwitchableTracer(
            self, instrumenting_module_name, instrumenting_library_version, schema_url
        )


class _SwitchableTracer(trace.Tracer):
    def __init__(
        self,
        switch: _SwitchableProvider,
        name: str,
        version: str | None,
        schema_url: str | None,
    ) -> None:
        self._switch = switch
        self._name = name
        self._version = version
        self._schema_url = schema_url
        self._provider: trace.TracerProvider | None = None
        self._delegate: trace.Tracer = trace.NoOpTracer()

    def _tracer(self) -> trace.Tracer:
        current = self._switch.current
        if current is not self._provider:
            self._delegate = current.get_tracer(self._name, self._version, self._schema_url)
            self._provider = current
        return self._delegate

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        return self._tracer().start_span(name, *args, **kwargs)

    def start_as_current_span(  # type: ignore[override]
        self, name: str, *args: Any, **kwargs: Any
    ) -> AbstractContextManager[trace.Span]:
        # The delegate's own context manager, not a wrapper around it: one per record.
        return self._tracer().start_as_current_span(name, *args, **kwargs)


_switch = _SwitchableProvider()
_switch_lock = threading.Lock()
_switch_installed = False
_attributed: weakref.WeakSet[TracerProvider] = weakref.WeakSet()


def install_tracer_provider(provider: trace.TracerProvider) -> trace.TracerProvider:
    """Make `provider` the one every tracer of this process (ours and FastAPI's) uses from
    now on; returns the one it replaces, to restore later (a test). An SDK provider gets
    `ServiceAttribution`, so its spans name their service."""
    global _switch_installed
    with _switch_lock:
        if not _switch_installed:
            trace.set_tracer_provider(_switch)
            _switch_installed = True
        if isinstance(provider, TracerProvider) and provider not in _attributed:
            provider.add_span_processor(ServiceAttribution(_resource_service(provider)))
            _attributed.add(provider)
        previous, _switch.current = _switch.current, provider
        return previous


def recording() -> bool:
    """Whether spans are recorded at all (a provider that may sample is installed): what
    decides FastAPI's request spans (`runtime.build_app`)."""
    current = _switch.current
    if not isinstance(current, TracerProvider):
        return False
    return current.sampler is not ALWAYS_OFF


def _resource_service(provider: TracerProvider) -> str:
    name = provider.resource.attributes.get("service.name", "")
    return str(name).removeprefix("socialcare-") or "unknown"


# -- which service made a span ------------------------------------------------------------

_current_service: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "socialcare_service", default=None
)
# Tracer names "socialcare.<service>..." name their service, except these generic ones (the
# service is then the one running: `set_service`, or the parent span's).
_GENERIC_SCOPES = frozenset({"events", "consumer", "core", "http", "grpc"})


def set_service(service: str) -> None:
    """Spans started from now on in this thread (or async context) without a service of
    their own are this service's: a consumer loop calls it once on its thread."""
    _current_service.set(service)


def service_of_module(module: str) -> str:
    """The service a Python module belongs to: `socialcare.routing.processor` -> `routing`,
    `socialcare.core...` -> `platform`; anything else -> `other`."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "socialcare":
        return "other"
    return "platform" if parts[1] == "core" else parts[1]


class ServiceAttribution(SpanProcessor):
    """Sets `socialcare.service` on every span at its start, unless the span has it: from
    its tracer's name (`socialcare.<service>...`), else the service running in this
    thread (`set_service`), else its in-process parent's, else the process's."""

    def __init__(self, default: str) -> None:
        self._default = default

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if span.attributes and SERVICE_ATTRIBUTE in span.attributes:
            return
        span.set_attribute(SERVICE_ATTRIBUTE, self._service(span, parent_context))

    def _service(self, span: Span, parent_context: Context | None) -> str:
        scope = span.instrumentation_scope
        if scope is not None:
            parts = scope.name.split(".")
            if len(parts) >= 2 and parts[0] == "socialcare" and parts[1] not in _GENERIC_SCOPES:
                return parts[1]
        running = _current_service.get()
        if running is not None:
            return running
        parent = trace.get_current_span(parent_context)
        if isinstance(parent, ReadableSpan) and parent.attributes:
            inherited = parent.attributes.get(SERVICE_ATTRIBUTE)
            if isinstance(inherited, str):
                return inherited
        return self._default

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# -- propagation --------------------------------------------------------------------------


def tracer(name: str) -> trace.Tracer:
    """A tracer; name it `socialcare.<service>[.<part>]` so its spans name their service."""
    return trace.get_tracer(name)


def inject_headers(headers: Headers = ()) -> Headers:
    """Headers plus the current trace context (`traceparent`, and `tracestate` if any)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return (*headers, *((k, v.encode()) for k, v in carrier.items()))


def extract_context(headers: Headers) -> Context:
    """The trace context a record was produced in (empty context when it has none)."""
    carrier: Mapping[str, str] = {
        k: v.decode("ascii", "replace") for k, v in headers if k in ("traceparent", "tracestate")
    }
    return propagate.extract(carrier)


def context_of(traceparent: str) -> Context | None:
    """The trace context a W3C `traceparent` names; None when it is empty or not valid."""
    if not traceparent:
        return None
    context = propagate.extract({"traceparent": traceparent})
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def caller_or_current(context: Context | None) -> Context | None:
    """`context` (a caller's, extracted from a request's `traceparent`) when it names a
    span; otherwise None, i.e. the current context: a request without `traceparent` is
    then continued from the span current in the handler (the request's own server span,
    when request spans are recorded) instead of starting a trace of its own."""
    if context is None or not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def current_traceparent() -> str:
    """The current span's W3C `traceparent` ("" when there is none): what a record or a
    case stores to be continued later."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def continue_trace(
    traceparent: str,
    tracer_name: str,
    span_name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str] | None = None,
) -> Iterator[trace.Span]:
    """A span in the trace `traceparent` names (e.g. a case's: its latest inbound message),
    linked to the span current now (e.g. the HTTP request that caused it), so the work
    joins the trace it belongs to and the request's own trace still finds it. Without a
    valid `traceparent` the span is simply a child of the current one."""
    here = trace.get_current_span().get_span_context()
    parent = context_of(traceparent)
    links: Sequence[Link] = [Link(here)] if parent is not None and here.is_valid else []
    with tracer(tracer_name).start_as_current_span(
        span_name, context=parent, kind=kind, links=links, attributes=dict(attributes or {})
    ) as span:
        yield span
