"""An erased case's escalations (issue 12): its tombstone on care.cases makes the escalation
service forget them -- none climbs again, nothing later about the case raises one -- also
after a rebuild from the bus, and reports ErasureStep "escalation"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone
from socialcare.v1 import audit_pb2, sla_pb2
from tests.unit.escalation.support import DUE, case_event, one, sla
from tests.unit.escalation.test_escalation import PARTITIONS, World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    bus = EmbeddedBus(tmp_path, default_partitions=PARTITIONS, sync="normal")
    try:
        yield World(bus)
    finally:
        bus.close()


def test_an_erased_case_s_escalations_never_climb_and_nothing_raises_again(
    world: World,
) -> None:
    one(world.process(Emit(Topic.SLA, sla(sla_pb2.SLA_EVENT_TYPE_WARNING, threshold=0.75))))
    # The same warning on another case: the control, it climbs.
    kept = one(
        world.process(
            Emit(Topic.SLA, sla(sla_pb2.SLA_EVENT_TYPE_WARNING, case_id="case-8", threshold=0.75))
        )
    ).escalation
    # The case on care.cases (routing's changelog, on the bus), then its tombstone.
    opened = Emit(Topic.CASES, case_event("Waar blijft mijn pakket?", case_id="case-7"))
    tombstone = Tombstone.of(Topic.CASES, "case-7", erasure_id="er-1")
    world.publish([opened, tombstone])
    world.process(opened)
    [step] = world.process(tombstone)
    assert isinstance(step.message, audit_pb2.PrivacyEvent)
    assert (step.message.step.store, step.message.step.items) == ("escalation", 1)
    assert list(step.message.step.case_ids) == ["case-7"]

    # The unacknowledged warning of case-7 would have climbed by now; only case-8 moves.
    world.now = DUE + timedelta(minutes=20)
    moved = [e.message for e in world.tick()]
    assert {m.escalation.case_id for m in moved} == {"case-8"}  # type: ignore[attr-defined]
    assert {m.escalation.id for m in moved} == {kept.id}  # type: ignore[attr-defined]
    # A late breach, or a legal threat on the case, raises nothing.
    assert world.process(Emit(Topic.SLA, sla(sla_pb2.SLA_EVENT_TYPE_BREACHED))) == []
    threat = case_event("Ik schakel mijn advocaat in", case_id="case-7")
    assert world.process(Emit(Topic.CASES, threat)) == []

    # Rebuilt from the bus (care.cases with the tombstone, care.escalations with the
    # warning's events): still forgotten.
    world.processor = world.start()
    world.now = DUE + timedelta(hours=3)
    assert {m.escalation.case_id for m in (e.message for e in world.tick())} <= {"case-8"}  # type: ignore[attr-defined]
    assert world.process(Emit(Topic.SLA, sla(sla_pb2.SLA_EVENT_TYPE_BREACHED))) == []
