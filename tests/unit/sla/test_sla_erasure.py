"""An erased case's SLA clocks (issue 12): its tombstone on care.cases stops them for good
-- no warning or breach fires, it leaves the gauges, a rebuild from a changelog that still
holds its history keeps it stopped -- and the sla service reports ErasureStep "sla"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest

from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone
from socialcare.sla.processor import SlaProcessor
from socialcare.v1 import audit_pb2, sla_pb2
from tests.unit.memory_log import MemoryLog
from tests.unit.sla.lives import Life, minutes
from tests.unit.sla.test_sla_processor import PARTITIONS, cases, cases_in


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def care() -> CareConfig:
    return load_care_config()


def sla_cases(effects: Sequence[Emit]) -> set[str]:
    found = set()
    for effect in effects:
        if isinstance(effect.message, sla_pb2.SlaEvent):
            found.add(effect.message.case_id)
    return found


def test_a_tombstone_stops_the_case_s_clocks_for_good(care: CareConfig) -> None:
    log = MemoryLog(PARTITIONS)
    erased, kept = cases_in(log, 1, 2)
    clock = Clock(minutes(0))
    processor = SlaProcessor(care, log, clock)
    processor.assigned(cases(1))
    for record in log.append(
        [
            Emit(Topic.CASES, Life(erased).open(minutes(0))),
            Emit(Topic.CASES, Life(kept).open(minutes(0))),
        ]
    ):
        processor.process(record)
    depth_before = sum(d for *_, d, _r in processor.gauges())
    assert depth_before == 2

    [tombstone] = log.append([Tombstone.of(Topic.CASES, erased, erasure_id="er-1")])
    [effect] = processor.process(tombstone)
    assert isinstance(effect.message, audit_pb2.PrivacyEvent)
    step = effect.message.step
    assert (step.erasure_id, step.store, step.service) == ("er-1", "sla", "sla")
    assert (list(step.case_ids), step.items) == ([erased], 2)  # response and resolution
    assert sum(d for *_, d, _r in processor.gauges()) == 1

    # Past the due time only the kept case breaches; the erased one never again.
    clock.now = minutes(61)
    assert sla_cases(processor.tick()) == {kept}
    # A snapshot of the erased case that still arrives is stale.
    [late] = log.append([Emit(Topic.CASES, Life(erased).open(minutes(0)))])
    assert list(processor.process(late)) == []
    # Again: nothing left to stop, still reported.
    [again] = processor.process(tombstone)
    assert isinstance(again.message, audit_pb2.PrivacyEvent)
    assert again.message.step.items == 0


def test_a_rebuild_applies_the_tombstone(care: CareConfig) -> None:
    log = MemoryLog(PARTITIONS)
    erased, kept = cases_in(log, 3, 2)
    log.append([Emit(Topic.CASES, Life(erased).open(minutes(0)))])
    log.append([Emit(Topic.CASES, Life(kept).open(minutes(0)))])
    log.append([Tombstone.of(Topic.CASES, erased)])  # not yet compacted away
    processor = SlaProcessor(care, log, Clock(minutes(61)))
    processor.assigned(cases(3))
    assert sla_cases(processor.tick()) == {kept}
    assert processor.books[3].clock(erased, 0) is None
