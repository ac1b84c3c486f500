"""Crisis over real records: care.cases events become one signal per new inbound message;
signals become incidents on care.incidents plus a snapshot of the detector, from which a
restarted processor resumes without counting a signal twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from socialcare.core.bus import TopicPartition
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError
from socialcare.escalation.crisis_processor import SNAPSHOT_KEY, CrisisProcessor
from socialcare.escalation.signals import SignalsProcessor
from socialcare.v1 import case_pb2, incident_pb2, message_pb2
from tests.unit.memory_log import MemoryLog

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SIGNALS = frozenset({TopicPartition(Topic.CRISIS_SIGNALS, 0)})
NEGATIVE = message_pb2.Sentiment(score=-0.6, label=message_pb2.SENTIMENT_LABEL_NEGATIVE)


def care() -> CareConfig:
    base = load_care_config()
    crisis = base.crisis.model_validate({"topics": [{"name": "outage", "keywords": ["storing"]}]})
    return base.model_copy(update={"crisis": crisis})


def case_event(
    kind: case_pb2.CaseEventType.ValueType,
    *,
    message_id: str = "m1",
    text: str = "Alweer een storing!",
    language: str = "nl",
    cause: str | None = None,
    direction: case_pb2.Direction.ValueType = case_pb2.DIRECTION_INBOUND,
    at: datetime = T0,
) -> case_pb2.CaseEvent:
    message = case_pb2.CaseMessage(
        message_id=message_id,
        direction=direction,
        text=text,
        created_at=to_timestamp(at),
        sentiment=NEGATIVE,
        language=language,
    )
    case = case_pb2.Case(id="case-1", brand="unknown-brand", language=language, messages=[message])
    return case_pb2.CaseEvent(
        event_id=f"e-{message_id}",
        type=kind,
        case=case,
        cause_id=message_id if cause is None else cause,
        occurred_at=to_timestamp(at + timedelta(seconds=3)),
    )


def test_an_inbound_message_becomes_one_signal() -> None:
    log = MemoryLog(1)
    processor = SignalsProcessor(care())
    record = log.record(Emit(Topic.CASES, case_event(case_pb2.CASE_EVENT_TYPE_OPENED)))
    [effect] = processor.process(record)
    signal = effect.message
    assert isinstance(signal, incident_pb2.CrisisSignal)
    assert effect.topic == Topic.CRISIS_SIGNALS
    assert signal.signal_id == "m1"
    assert signal.topic == "outage"
    assert signal.negative
    assert signal.case_id == "case-1"
    assert signal.brand == "other"  # not a configured brand: bounded
    assert signal.at == to_timestamp(T0)


@pytest.mark.parametrize(
    "event",
    [
        case_event(case_pb2.CASE_EVENT_TYPE_REPLIED),
        case_event(case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED, cause="a-command"),
        case_event(case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED, direction=case_pb2.DIRECTION_OUTBOUND),
    ],
    ids=["reply", "cause-not-a-message", "outbound"],
)
def test_events_without_a_new_inbound_message_give_no_signal(event: case_pb2.CaseEvent) -> None:
    log = MemoryLog(1)
    assert SignalsProcessor(care()).process(log.record(Emit(Topic.CASES, event))) == []


def test_an_unconfigured_language_is_other() -> None:
    log = MemoryLog(1)
    event = case_event(case_pb2.CASE_EVENT_TYPE_OPENED, language="xh")
    [effect] = SignalsProcessor(care()).process(log.record(Emit(Topic.CASES, event)))
    assert isinstance(effect.message, incident_pb2.CrisisSignal)
    assert effect.message.language == "other"


def signal(n: int, at: datetime, *, negative: bool = True) -> incident_pb2.CrisisSignal:
    return incident_pb2.CrisisSignal(
        signal_id=f"m{n}",
        brand="default",
        topic="outage",
        language="nl",
        negative=negative,
        case_id=f"case-{n}",
        at=to_timestamp(at),
    )


def warm_up(log: MemoryLog, processor: CrisisProcessor) -> None:
    """A quiet message two hours before: the detector is past its warm-up hour."""
    record = log.record(
        Emit(Topic.CRISIS_SIGNALS, signal(-1, T0 - timedelta(hours=2), negative=False))
    )
    assert processor.process(record) == []


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_spike_opens_an_incident_and_snapshots_state() -> None:
    log, clock = MemoryLog(1), Clock()
    processor = CrisisProcessor(care(), clock, changelog=log)
    processor.assigned(SIGNALS)
    warm_up(log, processor)
    effects: list[Emit] = []
    for n in range(12):
        record = log.record(Emit(Topic.CRISIS_SIGNALS, signal(n, T0 + timedelta(seconds=n))))
        effects += processor.process(record)
    effects += processor.tick()
    incidents = [e.message for e in effects if e.topic == Topic.INCIDENTS]
    assert [i.type for i in incidents if isinstance(i, incident_pb2.IncidentEvent)] == [
        incident_pb2.INCIDENT_EVENT_TYPE_OPENED
    ]
    [snapshot] = [e.message for e in effects if e.topic == Topic.CRISIS_STATE]
    assert isinstance(snapshot, incident_pb2.StateSnapshot)
    assert snapshot.key == SNAPSHOT_KEY and snapshot.through_offset == 12
    assert processor.tick() == []  # nothing changed: no new snapshot


def test_restart_resumes_from_the_snapshot_without_counting_twice() -> None:
    log, clock = MemoryLog(1), Clock()
    first = CrisisProcessor(care(), clock, changelog=log)
    first.assigned(SIGNALS)
    warm_up(log, first)
    records = [
        log.record(Emit(Topic.CRISIS_SIGNALS, signal(n, T0 + timedelta(seconds=n))))
        for n in range(9)
    ]
    for record in records:
        assert first.process(record) == []
    log.append(first.tick())  # the snapshot through offset 8 becomes durable
    # A new member: the offsets were committed only up to 5, so 6..9 come again.
    second = CrisisProcessor(care(), clock, changelog=log)
    second.assigned(SIGNALS)
    for record in records[5:]:
        assert second.process(record) == []  # in the snapshot: not counted again
    # One more opens (ten negatives in total), as it would have without the restart.
    record = log.record(Emit(Topic.CRISIS_SIGNALS, signal(9, T0 + timedelta(seconds=9))))
    [opened] = second.process(record)
    assert isinstance(opened.message, incident_pb2.IncidentEvent)
    assert opened.message.incident.case_count == 10


def test_a_quiet_incident_is_closed_by_wall_time_after_an_empty_poll() -> None:
    log, clock = MemoryLog(1), Clock()
    processor = CrisisProcessor(care(), clock, changelog=log)
    processor.assigned(SIGNALS)
    warm_up(log, processor)
    for n in range(12):
        processor.process(
            log.record(Emit(Topic.CRISIS_SIGNALS, signal(n, T0 + timedelta(seconds=n))))
        )
    processor.tick()  # the poll that carried the signals: judged by their own time
    clock.now = T0 + timedelta(minutes=20)
    early = [e.message for e in processor.tick() if e.topic == Topic.INCIDENTS]
    # Two cases joined after the opening: reported; quiet since now, the cooldown starts.
    assert [e.type for e in early if isinstance(e, incident_pb2.IncidentEvent)] == [
        incident_pb2.INCIDENT_EVENT_TYPE_UPDATED
    ]
    clock.now = T0 + timedelta(minutes=51)
    effects = processor.tick()
    closed = [e.message for e in effects if e.topic == Topic.INCIDENTS]
    assert [c.type for c in closed if isinstance(c, incident_pb2.IncidentEvent)] == [
        incident_pb2.INCIDENT_EVENT_TYPE_CLOSED
    ]
    assert any(e.topic == Topic.CRISIS_STATE for e in effects)


def test_a_signal_without_id_is_dead_lettered() -> None:
    log, clock = MemoryLog(1), Clock()
    processor = CrisisProcessor(care(), clock, changelog=log)
    processor.assigned(SIGNALS)
    warm_up(log, processor)
    bad = signal(1, T0)
    bad.signal_id = ""
    with pytest.raises(InvalidRecordError):
        processor.process(log.record(Emit(Topic.CRISIS_SIGNALS, bad)))


def test_snapshots_are_throttled_unless_incident_events_were_emitted() -> None:
    log, clock = MemoryLog(1), Clock()
    processor = CrisisProcessor(care(), clock, changelog=log, snapshot_interval_s=3600)
    processor.assigned(SIGNALS)
    warm_up(log, processor)
    assert [e.topic for e in processor.tick()] == [Topic.CRISIS_STATE]  # the first one
    for n in range(5):
        processor.process(
            log.record(Emit(Topic.CRISIS_SIGNALS, signal(n, T0 + timedelta(seconds=n))))
        )
    assert processor.tick() == []  # changed, but no events and not due
    for n in range(5, 10):
        processor.process(
            log.record(Emit(Topic.CRISIS_SIGNALS, signal(n, T0 + timedelta(seconds=n))))
        )
    # The tenth negative opened an incident: snapshot at once.
    assert [e.topic for e in processor.tick()] == [Topic.CRISIS_STATE]


def test_events_lost_with_a_failed_flush_are_emitted_again_after_the_restore() -> None:
    log, clock = MemoryLog(1), Clock()
    first = CrisisProcessor(care(), clock, changelog=log, snapshot_interval_s=3600)
    first.assigned(SIGNALS)
    warm_up(log, first)
    log.append(first.tick())  # snapshot through offset 0, durable
    records = [
        log.record(Emit(Topic.CRISIS_SIGNALS, signal(n, T0 + timedelta(seconds=n))))
        for n in range(10)
    ]
    lost: list[Emit] = []
    for record in records:
        lost += first.process(record)
    [opened] = lost  # emitted, but the flush failed: never durable, offsets not committed
    first.discard()
    first.assigned(SIGNALS)  # what the loop does next: restore, then redeliver
    again: list[Emit] = []
    for record in records:
        again += first.process(record)
    assert [e.event_id for e in again] == [opened.event_id]
    assert first.process(records[-1]) == []  # once


def test_a_snapshot_stays_small_under_heavy_traffic() -> None:
    log, clock = MemoryLog(1), Clock()
    processor = CrisisProcessor(care(), clock, changelog=log)
    processor.assigned(SIGNALS)
    detector_signals = [signal(n, T0 + timedelta(milliseconds=20 * n)) for n in range(40_000)]
    for n, item in enumerate(detector_signals):
        item.negative = n % 7 == 0
        item.topic = ("outage", "billing", "other")[n % 3]
    for item in detector_signals:
        processor.process(log.record(Emit(Topic.CRISIS_SIGNALS, item)))
    snapshots = [e.message for e in processor.tick() if e.topic == Topic.CRISIS_STATE]
    assert snapshots and isinstance(snapshots[0], incident_pb2.StateSnapshot)
    assert len(snapshots[0].SerializeToString()) < 1_000_000
