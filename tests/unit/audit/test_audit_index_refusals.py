"""The audit indexer when the search store refuses one record's document: the other
documents of the bulk are written, and `flush` names the refused record (with the store's
reason) in `RecordsRejectedError`, for its loop to dead-letter instead of retrying the batch
forever (the loop's side: tests/unit/test_loop_rejected_documents.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialcare.core.audit_index import AUDIT, AuditIndexingProcessor
from socialcare.core.consumer_loop import RecordsRejectedError
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.v1 import audit_pb2
from tests.unit.memory_log import MemoryLog
from tests.unit.test_loop_rejected_documents import REASON, RefusingSearch


def test_a_refused_audit_document_names_its_record_and_the_rest_is_written(
    tmp_path: Path,
) -> None:
    search = RefusingSearch(tmp_path / "search", refuse={"r2"})
    processor = AuditIndexingProcessor(search)
    processor.prepare()
    records = MemoryLog(1).append(
        [
            Emit(Topic.AUDIT_LOG, audit_pb2.AuditRecord(record_id=f"r{n}", actor_id="u-1"))
            for n in (1, 2, 3)
        ]
    )
    try:
        for record in records:
            assert processor.process(record) == ()
        with pytest.raises(RecordsRejectedError) as refused:
            processor.flush()
        [(record, reason)] = refused.value.rejected
        assert record is records[1]
        assert reason == f"{AUDIT} document 'r2' refused by the search store: {REASON}"
        assert search.get(AUDIT, "r1") is not None
        assert search.get(AUDIT, "r3") is not None
        assert search.get(AUDIT, "r2") is None
        processor.flush()  # nothing pending is left to refuse again
    finally:
        search.close()
