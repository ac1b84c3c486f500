"""Tombstone effects and the consumer loop's tombstone hook (no backend needed)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from socialcare.core.bus import Record
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone
from socialcare.core.events import InvalidRecordError, decode
from socialcare.v1 import case_pb2
from tests.unit.memory_log import MemoryLog


class Recorder(TypedProcessor):
    def __init__(self, *, hook: bool) -> None:
        super().__init__()
        self.cases: list[str] = []
        self.tombstones: list[bytes | None] = []
        self._hook = hook
        self.on(Topic.CASES, case_pb2.CaseEvent, self._on_case)

    def _on_case(self, event: case_pb2.CaseEvent, record: Record) -> Sequence[Emit]:
        self.cases.append(event.case.id)
        return ()

    def tombstone(self, record: Record) -> Sequence[Emit]:
        if not self._hook:
            return super().tombstone(record)
        self.tombstones.append(record.key)
        return [Tombstone.of(Topic.ASSIGNMENTS_CHANGELOG, (record.key or b"").decode())]


def case_event(case_id: str) -> case_pb2.CaseEvent:
    return case_pb2.CaseEvent(event_id=f"e-{case_id}", case=case_pb2.Case(id=case_id))


def test_a_tombstone_effect_becomes_a_tombstone_record_under_its_key() -> None:
    log = MemoryLog(partitions=4)
    [alive, gone] = log.append(
        [Emit(Topic.CASES, case_event("c1")), Tombstone.of(Topic.CASES, "c1")]
    )
    assert (alive.tombstone, gone.tombstone) == (False, True)
    assert gone.key == b"c1" and gone.value == b""
    assert gone.partition == alive.partition
    assert gone.header("producer") == b"test"
    assert gone.header("event-type") is None  # it carries no message
    assert gone.header("erasure-id") is None
    [erased] = log.append([Tombstone.of(Topic.CASES, "c2", erasure_id="er-9")])
    assert erased.tombstone and erased.header("erasure-id") == b"er-9"


def test_a_tombstone_needs_a_key_and_a_registry_topic() -> None:
    with pytest.raises(ValueError, match="needs a key"):
        Tombstone.of(Topic.CASES, "")
    tombstone = Tombstone.of(Topic.IDENTITIES_CHANGELOG, "twitter:42")
    assert tombstone.key == "twitter:42"
    assert isinstance(tombstone, Emit)
    assert tombstone.event_id != Tombstone.of(Topic.IDENTITIES_CHANGELOG, "twitter:43").event_id


def test_typed_handlers_never_see_a_tombstone() -> None:
    log = MemoryLog(partitions=4)
    records = log.append([Emit(Topic.CASES, case_event("c1")), Tombstone.of(Topic.CASES, "c1")])
    ignoring = Recorder(hook=False)
    assert [list(ignoring.process(r)) for r in records] == [[], []]
    assert ignoring.cases == ["c1"]

    hooked = Recorder(hook=True)
    effects = [e for r in records for e in hooked.process(r)]
    assert hooked.cases == ["c1"] and hooked.tombstones == [b"c1"]
    assert effects == [Tombstone.of(Topic.ASSIGNMENTS_CHANGELOG, "c1")]


def test_decode_refuses_a_tombstone() -> None:
    tombstone = Record("care.cases", 0, 3, b"c1", b"", (), tombstone=True)
    with pytest.raises(InvalidRecordError, match="tombstone"):
        decode(tombstone, case_pb2.CaseEvent)
