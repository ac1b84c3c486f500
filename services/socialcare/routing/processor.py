"""Routing on the bus: decode inputs, run the CaseBook, publish what it emits.

State is rebuilt at start-up from care.cases (routing's own changelog), and again if a
flush fails, so in-memory state is always the fold of durable events: a crash between
publishing and committing replays the input, which the CaseBook then recognises as done.
"""

from __future__ import annotations

import logging
import threading

from socialcare.core.bus import Bus, Producer, Record
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import RecordProcessor
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError, decode, publish
from socialcare.routing.domain import CaseBook, Emitted
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2, message_pb2, sla_pb2

log = logging.getLogger(__name__)

INPUT_TOPICS = (
    Topic.MESSAGES_ENRICHED.value,
    Topic.COMMANDS.value,
    Topic.SLA.value,
    Topic.ESCALATIONS.value,
)


class RoutingProcessor(RecordProcessor):
    def __init__(
        self, book: CaseBook, lock: threading.RLock, bus: Bus, producer: Producer, clock: Clock
    ) -> None:
        self._book = book
        self._lock = lock
        self._bus = bus
        self._producer = producer
        self._clock = clock

    def prepare(self) -> None:
        with self._lock:
            self._book.clear()
            for record in self._bus.replay(Topic.CASES):
                try:
                    self._book.restore(decode(record, case_pb2.CaseEvent))
                except InvalidRecordError as exc:
                    log.warning("skipping unreadable case event", extra={"error": str(exc)})
        log.info("routing state rebuilt", extra={"cases": len(self._book.cases)})

    def discard(self) -> None:
        self.prepare()

    def process(self, record: Record) -> None:
        now = self._clock()
        with self._lock:
            if record.topic == Topic.MESSAGES_ENRICHED:
                emitted = self._book.on_message(decode(record, message_pb2.EnrichedMessage), now)
            elif record.topic == Topic.COMMANDS:
                emitted = self._book.on_command(decode(record, commands_pb2.AgentCommand), now)
            elif record.topic == Topic.SLA:
                emitted = self._book.on_sla(decode(record, sla_pb2.SlaEvent), now)
            elif record.topic == Topic.ESCALATIONS:
                emitted = self._book.on_escalation(
                    decode(record, escalation_pb2.EscalationEvent), now
                )
            else:
                return
        self._publish(emitted)

    def _publish(self, emitted: list[Emitted]) -> None:
        for item in emitted:
            publish(
                self._producer,
                item.topic,
                item.event,
                key=item.key,
                event_id=item.event_id,
                source="routing",
            )
