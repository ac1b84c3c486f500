"""Reading Prometheus samples in tests: the process-wide registry, 0.0 for a series that has
not been touched yet (a counter child exists only after its first `labels()` call)."""

from __future__ import annotations

from prometheus_client import REGISTRY


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0
