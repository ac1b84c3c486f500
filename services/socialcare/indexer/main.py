"""Wiring for the search indexer: care.cases and care.escalations into the SearchIndex
(with erasures and the brands' retention sweep), and the audit log into the `audit` index
(a group of its own, so neither index waits on the other)."""

from __future__ import annotations

from datetime import timedelta

from socialcare.core.audit_index import GROUP as AUDIT_GROUP
from socialcare.core.audit_index import AuditIndexingProcessor
from socialcare.core.clock import utc_now
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.indexer.processor import GROUP, IndexingProcessor
from socialcare.routing.settings import ErasureSettings


def parts(runtime: Runtime) -> ServiceParts:
    erasure = ErasureSettings.from_platform(runtime.settings)
    processor = IndexingProcessor(
        runtime.search,
        care=runtime.care,
        clock=utc_now,
        retention_interval=timedelta(seconds=erasure.retention_sweep_interval),
    )
    loop = runtime.consumer_loop(GROUP, processor)
    audit_loop = runtime.consumer_loop(AUDIT_GROUP, AuditIndexingProcessor(runtime.search))
    return ServiceParts(components=[loop, audit_loop])
