"""Logs, traces and trace propagation shared by every process.

* Logs are one JSON object per line on stderr, with the trace id when a span is active,
  so a log line can be found from a trace and the other way round.
* Traces use the OpenTelemetry SDK; spans are exported over OTLP/HTTP only when
  SOCIALCARE_OTLP_ENDPOINT is set (otherwise they still exist, so trace ids propagate).
* The W3C `traceparent` travels in every bus record's headers: `inject_headers` when
  producing, `extract_context` when consuming (producer/consumer span kinds).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from socialcare.core.bus import Headers

_configured = threading.Lock()
_done = False

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}


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
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(service_name: str, log_level: str = "INFO", otlp_endpoint: str | None = None) -> None:
    """Set up JSON logging and the tracer provider once per process (later calls are no-ops)."""
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
        resource = Resource.create({"service.name": service_name})
        if not otlp_endpoint:
            # Nowhere to send spans: record none (a third of a webhook's CPU went to spans
            # nobody could read). Contexts still get trace ids and still propagate, marked
            # not sampled, so logs and records stay correlated.
            trace.set_tracer_provider(TracerProvider(resource=resource, sampler=ALWAYS_OFF))
            return
        provider = TracerProvider(resource=resource)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(otlp_endpoint)))
        trace.set_tracer_provider(provider)


def tracer(name: str) -> trace.Tracer:
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
