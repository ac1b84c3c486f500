"""Wiring for the search indexer: care.cases and care.escalations into the SearchIndex.

Documents collect during a batch and go out as one bulk upsert per index in `flush()`,
before the loop commits; if the bulk fails, the batch is read again.
"""

from __future__ import annotations

from socialcare.core.domain.topics import Topic
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.indexer.processor import GROUP, IndexingProcessor


def parts(runtime: Runtime) -> ServiceParts:
    loop = runtime.consumer_loop(
        GROUP,
        [Topic.CASES.value, Topic.ESCALATIONS.value],
        lambda _producer: IndexingProcessor(runtime.search),
    )
    return ServiceParts(components=[loop])
