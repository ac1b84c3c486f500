"""Spans recorded in memory: an SDK provider installed the way `telemetry.configure`
installs the process's, restored after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from socialcare.core import telemetry


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "socialcare-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = telemetry.install_tracer_provider(provider)
    try:
        yield exporter
    finally:
        telemetry.install_tracer_provider(previous)
        provider.shutdown()
