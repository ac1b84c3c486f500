"""The escalation consumer-loop plug-in (group `escalation`): care.sla, care.cases and
care.commands in, care.escalations out.

State: one `EscalationBook` per owned partition number. All four topics are keyed by case
id and co-partitioned (equal partition counts, checked in `prepare`), so the partition of
a record is the partition of its case on every topic. When partitions arrive, their books
are rebuilt from what is durable: the same partitions of the compacted care.cases changelog
(each case and the escalations routing applied to it) and of care.escalations (every
escalation event, including those routing has not applied yet; the highest revision of
each escalation wins). So a crash between emitting an escalation event and committing its
input loses nothing and repeats nothing: the redelivered input finds the escalation, and
every event id is derived (see `escalation.domain`).

`tick()` moves overdue escalations up their ladders; it runs on the loop's thread, so no
locks are needed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from prometheus_client import Counter

from socialcare.core.bus import Bus, Record, TopicPartition
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain import erasure
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import enum_name
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import ERASURE_ID_HEADER, Emit
from socialcare.core.events import InvalidRecordError, decode, header_text, key_text
from socialcare.escalation.domain import EscalationBook, incident_command
from socialcare.escalation.policy import Roster
from socialcare.escalation.triggers import Triggers
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2, incident_pb2, sla_pb2

log = logging.getLogger(__name__)

GROUP = "escalation"
INCIDENT_GROUP = "escalation-incidents"

ESCALATIONS_RAISED = Counter(
    "socialcare_escalations_total",
    "Escalations raised, by trigger, tier and queue.",
    ["trigger", "tier", "queue"],
)
ESCALATIONS_MOVED = Counter(
    "socialcare_escalations_re_escalated_total",
    "Escalations moved up a tier (not acknowledged in time, or a stronger trigger of the "
    "same family), by the tier reached.",
    ["tier"],
)


class EscalationProcessor(TypedProcessor):
    """See the module docstring. `changelog` is the bus the books are rebuilt from."""

    def __init__(self, care: CareConfig, clock: Clock, *, changelog: Bus) -> None:
        super().__init__()
        self._clock = clock
        self._bus = changelog
        self._roster = Roster.of(care)
        self._triggers = Triggers(care.escalation)
        self._books: dict[int, EscalationBook] = {}
        self._owned: set[TopicPartition] = set()
        self.on(Topic.SLA, sla_pb2.SlaEvent, self._on_sla)
        self.on(Topic.CASES, case_pb2.CaseEvent, self._on_case)
        self.on(Topic.COMMANDS, commands_pb2.AgentCommand, self._on_command)

    # -- lifecycle -----------------------------------------------------------------------
    def prepare(self) -> None:
        """The inputs and care.escalations must be co-partitioned (see the docstring)."""
        topics = (*self.topics, Topic.ESCALATIONS.value)
        counts = {topic: self._bus.partition_count(topic) for topic in topics}
        if len(set(counts.values())) != 1:
            raise RuntimeError(
                f"escalation needs co-partitioned topics (equal partition counts), found "
                f"{counts}; create them with the same SOCIALCARE_TOPIC_PARTITIONS"
            )

    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        self._owned |= partitions
        missing = sorted({tp.partition for tp in partitions} - set(self._books))
        if missing:
            self._rebuild(missing)

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        self._owned -= partitions
        still = {tp.partition for tp in self._owned}
        for number in [n for n in self._books if n not in still]:
            del self._books[number]

    def discard(self) -> None:
        """A flush failed: the books may hold escalations that never reached the bus; the
        loop calls `assigned` again, which rebuilds them from what is durable."""
        self._books.clear()

    def _rebuild(self, numbers: Sequence[int]) -> None:
        books = {n: EscalationBook(self._roster, self._triggers) for n in numbers}
        for record in self._bus.replay(Topic.CASES, partitions=numbers):
            if record.tombstone:
                if (case_id := key_text(record)) is not None:
                    books[record.partition].forget(case_id)  # an erased case
                continue
            try:
                books[record.partition].restore_case(decode(record, case_pb2.CaseEvent))
            except InvalidRecordError as exc:
                log.warning("skipping unreadable case event", extra={"error": str(exc)})
        for record in self._bus.replay(Topic.ESCALATIONS, partitions=numbers):
            try:
                event = decode(record, escalation_pb2.EscalationEvent)
            except InvalidRecordError as exc:
                log.warning("skipping unreadable escalation event", extra={"error": str(exc)})
                continue
            books[record.partition].restore_escalation(event)
        self._books.update(books)
        log.info(
            "escalation partitions rebuilt",
            extra={
                "partitions": list(numbers),
                "escalations": sum(
                    len(v.escalations) for b in books.values() for v in b.cases.values()
                ),
            },
        )

    def tick(self) -> Sequence[Emit]:
        now = self._clock()
        effects: list[Emit] = []
        for book in self._books.values():
            effects += book.due(now)
        return _counted(effects)

    # -- handlers ------------------------------------------------------------------------
    def _book(self, record: Record) -> EscalationBook:
        book = self._books.get(record.partition)
        if book is None:
            # The loop rebuilds a partition before handing over its records; reaching this
            # is a bug, and raising makes the loop retry the record rather than lose it.
            raise RuntimeError(f"no escalation book for {record.topic}[{record.partition}]")
        return book

    def _on_sla(self, event: sla_pb2.SlaEvent, record: Record) -> Sequence[Emit]:
        return _counted(self._book(record).on_sla(event, self._clock()))

    def _on_case(self, event: case_pb2.CaseEvent, record: Record) -> Sequence[Emit]:
        return _counted(self._book(record).on_case(event, self._clock()))

    def tombstone(self, record: Record) -> Sequence[Emit]:
        """An erased case: its escalations are forgotten (none climbs or notifies again),
        reported as ErasureStep "escalation" when the tombstone names its erasure."""
        case_id = key_text(record)
        if case_id is None:
            raise InvalidRecordError("a care.cases tombstone needs a UTF-8 key (the case id)")
        erasure_id = header_text(record, ERASURE_ID_HEADER)
        items = self._book(record).forget(case_id)
        if erasure_id is None:
            return ()
        return [
            erasure.step(
                erasure_id,
                erasure.ESCALATION,
                service=GROUP,
                items=items,
                case_ids=[case_id],
                now=self._clock(),
                note="the case's escalations forgotten; their events on care.escalations "
                "expire with the topic's retention",
            )
        ]

    def _on_command(self, command: commands_pb2.AgentCommand, record: Record) -> Sequence[Emit]:
        return _counted(self._book(record).on_command(command, self._clock()))


class IncidentCommandProcessor(TypedProcessor):
    """Group `escalation-incidents`: care.incidents in, care.commands out. An incident that
    opens or closes becomes an `incident` command on its first case, which the
    `escalation` group turns into (or out of) the incident's NEGATIVE_SPIKE escalation
    (see `domain.incident_command`). Stateless: the command id derives from the incident
    and its transition, so a redelivered incident event is the same command."""

    def __init__(self) -> None:
        super().__init__()
        self.on(Topic.INCIDENTS, incident_pb2.IncidentEvent, self._on_incident)

    def _on_incident(self, event: incident_pb2.IncidentEvent, record: Record) -> Sequence[Emit]:
        command = incident_command(event)
        return [] if command is None else [Emit(Topic.COMMANDS, command)]


def _counted(effects: list[Emit]) -> list[Emit]:
    """Count what the effects raise and move (once per event emitted; a re-emission after a
    crash counts again, which a counter of notifications sent may do)."""
    for effect in effects:
        event = effect.message
        if not isinstance(event, escalation_pb2.EscalationEvent):
            continue
        escalation = event.escalation
        tier = enum_name(escalation_pb2.EscalationTier, escalation.tier, "ESCALATION_TIER_")
        if event.type == escalation_pb2.ESCALATION_EVENT_TYPE_RAISED:
            trigger = enum_name(
                escalation_pb2.EscalationTrigger, escalation.trigger, "ESCALATION_TRIGGER_"
            )
            ESCALATIONS_RAISED.labels(trigger, tier, escalation.queue).inc()
        elif event.type == escalation_pb2.ESCALATION_EVENT_TYPE_RE_ESCALATED:
            ESCALATIONS_MOVED.labels(tier).inc()
    return effects
