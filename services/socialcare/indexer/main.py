"""Wiring for the search indexer: care.cases and care.escalations into the SearchIndex."""

from __future__ import annotations

from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.indexer.processor import GROUP, IndexingProcessor


def parts(runtime: Runtime) -> ServiceParts:
    loop = runtime.consumer_loop(GROUP, IndexingProcessor(runtime.search))
    return ServiceParts(components=[loop])
