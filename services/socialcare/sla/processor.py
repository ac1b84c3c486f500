"""The sla consumer-loop plug-in: decode inputs, apply the domain, emit effects."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram

from socialcare.core.bus import Bus, Producer, Record
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import RecordProcessor
from socialcare.core.domain.cases import channel_name
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError, decode, event_id_of, publish
from socialcare.sla.domain import SlaBook
from socialcare.v1 import case_pb2, sla_pb2

log = logging.getLogger(__name__)
GROUP = "sla"

FIRST_RESPONSE_SECONDS = Histogram(
    "socialcare_first_response_seconds",
    "Time from a case's first customer message reaching the platform to the first agent reply.",
    ["language", "channel", "queue"],
    buckets=(30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 259200),
)
SLA_BREACHES = Counter(
    "socialcare_sla_breaches_total",
    "First-response SLA breaches (cases unanswered past their due time).",
    ["language", "channel", "queue"],
)


class SlaProcessor(RecordProcessor):
    def __init__(self, bus: Bus, producer: Producer, clock: Clock) -> None:
        self._bus = bus
        self._producer = producer
        self._clock = clock
        self._book = SlaBook()

    def prepare(self) -> None:
        """Rebuild clocks from care.cases and the ids already on care.sla, observing nothing:
        what happened before this start was observed by the process that saw it."""
        self._book = SlaBook()
        now = self._clock()
        for record in self._bus.replay(Topic.SLA):
            self._book.remember_emitted(event_id_of(record))
        for record in self._bus.replay(Topic.CASES):
            try:
                self._book.on_case(decode(record, case_pb2.CaseEvent), now)
            except InvalidRecordError as exc:
                log.warning("skipping unreadable case event", extra={"error": str(exc)})
        log.info("sla clocks rebuilt", extra={"clocks": len(self._book.clocks)})

    def discard(self) -> None:
        self.prepare()

    def process(self, record: Record) -> None:
        events, observation = self._book.on_case(decode(record, case_pb2.CaseEvent), self._clock())
        if observation is not None:
            FIRST_RESPONSE_SECONDS.labels(
                observation.language, observation.channel, observation.queue
            ).observe(observation.seconds)
        self._publish(events)

    def tick(self) -> None:
        breaches = self._book.due(self._clock())
        for breach in breaches:
            SLA_BREACHES.labels(breach.language, channel_name(breach.channel), breach.queue).inc()
        self._publish(breaches)

    def _publish(self, events: list[sla_pb2.SlaEvent]) -> None:
        for event in events:
            publish(
                self._producer,
                Topic.SLA,
                event,
                key=event.case_id,
                event_id=event.event_id,
                source="sla",
            )
