"""The escalation processor over real records: care.sla, care.cases and care.commands in,
care.escalations out, per partition; rebuilt after a restart from care.cases and
care.escalations so that nothing is raised twice and a re-escalation made again is the
same event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import load_care_config
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.events import InvalidRecordError
from socialcare.escalation.processor import EscalationProcessor, IncidentCommandProcessor
from socialcare.v1 import commands_pb2, escalation_pb2, incident_pb2, sla_pb2
from tests.unit.escalation.support import DUE, case_event, command, events, one, sla
from tests.unit.memory_log import MemoryLog
from tests.unit.metrics import sample

PARTITIONS = 3
CARE = load_care_config()
E = escalation_pb2


class World:
    """A processor on an embedded bus, its records placed like the buses place them, and a
    clock the test moves."""

    def __init__(self, bus: EmbeddedBus) -> None:
        self.bus = bus
        self.now: datetime = DUE
        self.records = MemoryLog(PARTITIONS)
        self.producer = bus.producer("escalation")
        self.processor = self.start()

    def start(self) -> EscalationProcessor:
        processor = EscalationProcessor(CARE, lambda: self.now, changelog=self.bus)
        processor.prepare()
        processor.assigned(
            frozenset(
                TopicPartition(topic, p) for topic in processor.topics for p in range(PARTITIONS)
            )
        )
        return processor

    def publish(self, effects: list[Emit]) -> list[Emit]:
        """What the loop does with the effects: they become durable on the bus."""
        publish_effects(self.producer, effects, source="escalation")
        self.producer.flush()
        return effects

    def process(self, effect: Emit) -> list[Emit]:
        record = self.records.record(effect)
        return self.publish(list(self.processor.process(record)))

    def tick(self) -> list[Emit]:
        return self.publish(list(self.processor.tick()))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    bus = EmbeddedBus(tmp_path, default_partitions=PARTITIONS, sync="normal")
    try:
        yield World(bus)
    finally:
        bus.close()


def raised(trigger: str, tier: str, queue: str = "care-nl") -> float:
    return sample("socialcare_escalations_total", trigger=trigger, tier=tier, queue=queue)


def test_it_reads_sla_cases_and_commands(world: World) -> None:
    assert set(world.processor.topics) == {
        Topic.SLA.value,
        Topic.CASES.value,
        Topic.COMMANDS.value,
    }


def test_a_breach_escalates_once_and_is_counted(world: World) -> None:
    before = raised("sla_breach", "team_lead")
    [effect] = world.process(Emit(Topic.SLA, sla(sla_pb2.SLA_EVENT_TYPE_BREACHED)))
    assert effect.topic is Topic.ESCALATIONS and effect.key == "case-7"
    escalation = one([effect]).escalation
    assert escalation.tier == E.ESCALATION_TIER_TEAM_LEAD
    assert escalation.trigger == E.ESCALATION_TRIGGER_SLA_BREACH
    assert "assigned to olivia" in escalation.reason
    assert raised("sla_breach", "team_lead") == before + 1
    assert world.process(Emit(Topic.SLA, sla(sla_pb2.SLA_EVENT_TYPE_BREACHED))) == []
    assert raised("sla_breach", "team_lead") == before + 1


def test_after_a_restart_nothing_is_raised_twice_and_moves_are_the_same_events(
    world: World,
) -> None:
    warning = Emit(Topic.SLA, sla(sla_pb2.SLA_EVENT_TYPE_WARNING, threshold=0.75))
    first = one(world.process(warning)).escalation
    message = Emit(Topic.CASES, case_event("Ik schakel mijn advocaat in", case_id="case-3"))
    legal = one(world.process(message)).escalation
    assert legal.keyword_category == "legal_threat"
    ack = commands_pb2.AcknowledgeEscalation(escalation_id=legal.id, by="sanne")
    world.process(Emit(Topic.COMMANDS, command("case-3", "ack-1", acknowledge_escalation=ack)))

    world.now = DUE + timedelta(minutes=20)
    moved = one(world.tick())  # the warning was not acknowledged; the legal threat was
    assert moved.escalation.id == first.id and moved.type == E.ESCALATION_EVENT_TYPE_RE_ESCALATED

    # The process dies; a new one rebuilds from the bus. Inputs since the last commit come
    # again: they find their escalations. The move, made again, is the same event.
    world.processor = world.start()
    assert world.process(warning) == []
    assert world.process(message) == []
    again = world.process(
        Emit(Topic.COMMANDS, command("case-3", "ack-1", acknowledge_escalation=ack))
    )
    assert again == []
    world.now = DUE + timedelta(minutes=30)
    assert world.tick() == []  # the next deadline of the moved one is later still
    world.now = DUE + timedelta(hours=2)
    second = events(world.tick())
    assert [(e.escalation.id, e.escalation.revision) for e in second] == [(first.id, 3)]


def test_a_record_of_another_type_is_poison(world: World) -> None:
    record = Record(
        topic=Topic.SLA.value,
        partition=0,
        offset=0,
        key=b"case-7",
        value=b"\x0a\x01x",
        headers=(("event-type", b"socialcare.v1.CaseEvent"),),
    )
    with pytest.raises(InvalidRecordError):
        world.processor.process(record)


def test_revoked_partitions_are_forgotten_and_rebuilt_when_they_return(world: World) -> None:
    breach = Emit(Topic.SLA, sla(sla_pb2.SLA_EVENT_TYPE_BREACHED, case_id="case-5"))
    one(world.process(breach))
    number = world.records.partition_of("case-5")
    owned = frozenset(TopicPartition(t, number) for t in world.processor.topics)
    world.processor.revoked(owned)
    with pytest.raises(RuntimeError, match="no escalation book"):
        world.process(breach)
    world.processor.assigned(owned)
    assert world.process(breach) == []


def incident_event(
    kind: incident_pb2.IncidentEventType.ValueType, case_ids: tuple[str, ...] = ("case-4", "case-6")
) -> incident_pb2.IncidentEvent:
    return incident_pb2.IncidentEvent(
        event_id=f"incident-1-{kind}",
        type=kind,
        incident=incident_pb2.Incident(
            id="incident-1",
            brand="acme",
            topic="delivery",
            language="nl",
            case_ids=case_ids,
            summary="42 negative messages about delivery in 15 minutes (baseline 3)",
        ),
        occurred_at=to_timestamp(DUE),
    )


def test_a_crisis_incident_escalates_its_first_case_to_pr_until_it_closes(world: World) -> None:
    hop = IncidentCommandProcessor()
    assert hop.topics == (Topic.INCIDENTS.value,)

    def through(kind: incident_pb2.IncidentEventType.ValueType) -> list[Emit]:
        commands = list(
            hop.process(world.records.record(Emit(Topic.INCIDENTS, incident_event(kind))))
        )
        assert all(c.topic is Topic.COMMANDS and c.key == "case-4" for c in commands)
        return [effect for command in commands for effect in world.process(command)]

    opened = one(through(incident_pb2.INCIDENT_EVENT_TYPE_OPENED)).escalation
    assert opened.trigger == E.ESCALATION_TRIGGER_NEGATIVE_SPIKE
    assert (opened.case_id, opened.incident_id, opened.tier) == (
        "case-4",
        "incident-1",
        E.ESCALATION_TIER_PR,
    )
    assert "42 negative messages" in opened.reason
    assert through(incident_pb2.INCIDENT_EVENT_TYPE_UPDATED) == []
    assert through(incident_pb2.INCIDENT_EVENT_TYPE_OPENED) == []  # redelivered
    closed = one(through(incident_pb2.INCIDENT_EVENT_TYPE_CLOSED))
    assert closed.type == E.ESCALATION_EVENT_TYPE_RESOLVED
    assert closed.escalation.resolution == "the crisis incident closed"
    assert through(incident_pb2.INCIDENT_EVENT_TYPE_CLOSED) == []
    empty = incident_event(incident_pb2.INCIDENT_EVENT_TYPE_OPENED, case_ids=())
    assert hop.process(world.records.record(Emit(Topic.INCIDENTS, empty))) == []


def test_it_refuses_to_start_on_topics_that_are_not_co_partitioned(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path, default_partitions=PARTITIONS, sync="normal")
    try:
        bus.create_topics([Topic.ESCALATIONS.value], partitions=PARTITIONS + 1)
        processor = EscalationProcessor(CARE, lambda: DUE, changelog=bus)
        with pytest.raises(RuntimeError, match="co-partitioned"):
            processor.prepare()
    finally:
        bus.close()


def test_after_a_failed_flush_the_books_are_rebuilt_from_the_bus(world: World) -> None:
    breach = Emit(Topic.SLA, sla(sla_pb2.SLA_EVENT_TYPE_BREACHED, case_id="case-5"))
    raised_event = one(world.process(breach))
    lost = Emit(Topic.SLA, sla(sla_pb2.SLA_EVENT_TYPE_BREACHED, case_id="case-6"))
    record = world.records.record(lost)
    [first] = world.processor.process(record)  # never made durable: the flush failed
    world.processor.discard()
    world.processor.assigned(
        frozenset(
            TopicPartition(topic, p) for topic in world.processor.topics for p in range(PARTITIONS)
        )
    )
    assert world.process(breach) == []  # durable: known
    [again] = world.processor.process(record)  # not durable: raised again, the same event
    assert again.event_id == first.event_id and again.message == first.message
    assert world.process(breach) == [] and raised_event.escalation.case_id == "case-5"
