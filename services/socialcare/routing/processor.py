"""Routing on the bus: the case processor (ADR 0005).

`CaseProcessor` (group `routing`) owns the case books of the partitions the group gives this
instance. It rebuilds a partition's book from the same partition of the compacted
care.cases changelog when the partition arrives and forgets it when it leaves, so state
and committed offsets stay consistent across restarts and rebalances: case events are
durable before their inputs are committed, and inputs redelivered after a crash are
recognised as applied by their ids.

The assigner's processor lives in `assigner_processor.py`, the identity linker's in
`linker.py`.

Both are read by the gRPC CaseService from other threads, hence the lock around state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from prometheus_client import Counter

from socialcare.core.bus import Bus, Record, TopicPartition
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import channel_name, enum_name
from socialcare.core.domain.deliveries import STATUS_NAMES
from socialcare.core.domain.identities import identity_key
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, decode, key_text
from socialcare.routing.domain import CaseBook, newest_first, partition_of_case, satisfaction_rows
from socialcare.routing.erasure import RetentionPolicy
from socialcare.v1 import (
    case_pb2,
    commands_pb2,
    delivery_pb2,
    escalation_pb2,
    message_pb2,
    routing_pb2,
    services_pb2,
    sla_pb2,
)

log = logging.getLogger(__name__)

REPLY_DELIVERIES = Counter(
    "socialcare_reply_deliveries_total",
    "Reply delivery reports that moved a reply on (sent, delivered, read, failed); "
    "repeated and out-of-date reports are not counted.",
    ["channel", "status"],
)

SURVEY_ANSWERS = Counter(
    "socialcare_survey_answers_total",
    "Satisfaction answers (CSAT 1-5, NPS 0-10) customers gave after resolution, by score.",
    ["kind", "channel", "language", "score"],
)

CASE_GROUP = "routing"
# How often the tick fires the books' timers (confirmation timeouts, closing, silent owners).
BOOK_TICK = timedelta(seconds=1)


class PartitionNotOwnedError(Exception):
    """This instance does not own the partition of the case asked for (another does)."""


class CaseProcessor(TypedProcessor):
    """Messages, commands, SLA events, escalations, assignment decisions and reply
    deliveries, per partition."""

    def __init__(
        self,
        care: CareConfig,
        bus: Bus,
        clock: Clock,
        *,
        retention: RetentionPolicy | None = None,
    ) -> None:
        super().__init__()
        self._care = care
        self._bus = bus
        self._clock = clock
        self._retention = retention or RetentionPolicy()
        self._lock = threading.RLock()
        self._books: dict[int, CaseBook] = {}
        self._owned: set[TopicPartition] = set()
        self._partitions = 0
        self._reconcile: list[Emit] = []
        self._next_book_tick: datetime | None = None
        self.on(Topic.MESSAGES_ENRICHED, message_pb2.EnrichedMessage, self._on_message)
        self.on(Topic.COMMANDS, commands_pb2.AgentCommand, self._on_command)
        self.on(Topic.SLA, sla_pb2.SlaEvent, self._on_sla)
        self.on(Topic.ESCALATIONS, escalation_pb2.EscalationEvent, self._on_escalation)
        self.on(Topic.ASSIGNMENT_DECISIONS, routing_pb2.AssignmentDecision, self._on_decision)
        self.on(Topic.DELIVERIES, delivery_pb2.ReplyDelivery, self._on_delivery)

    # -- lifecycle -----------------------------------------------------------------------
    def prepare(self) -> None:
        """Learn the partition count, which every input and care.cases must share."""
        counts = {topic: self._bus.partition_count(topic) for topic in (*self.topics, Topic.CASES)}
        if len(set(counts.values())) != 1:
            raise RuntimeError(
                f"routing needs co-partitioned topics (equal partition counts), found {counts}; "
                "create them with the same SOCIALCARE_TOPIC_PARTITIONS"
            )
        self._partitions = next(iter(counts.values()))

    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        self._owned |= partitions
        numbers = {tp.partition for tp in partitions}
        with self._lock:
            missing = sorted(numbers - set(self._books))
        if missing:
            self._rebuild(missing)

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        self._owned -= partitions
        still = {tp.partition for tp in self._owned}
        with self._lock:
            for number in [n for n in self._books if n not in still]:
                del self._books[number]

    def discard(self) -> None:
        """A flush failed: the books may hold changes that never reached care.cases; the
        loop calls `assigned` again, which rebuilds them from it."""
        with self._lock:
            self._books.clear()
        self._reconcile.clear()

    def _rebuild(self, numbers: Sequence[int]) -> None:
        books = {
            n: CaseBook(self._care, n, self._partitions, retention=self._retention) for n in numbers
        }
        for record in self._bus.replay(Topic.CASES, partitions=numbers):
            if record.tombstone:
                # An erased case (until compaction drops it with its history): gone.
                if (case_id := key_text(record)) is not None:
                    books[record.partition].forget(case_id)
                continue
            try:
                event = decode(record, case_pb2.CaseEvent)
                if not event.case.id:
                    raise InvalidRecordError("a case event without a case id")
                books[record.partition].restore(event)
            except InvalidRecordError as exc:
                log.warning("skipping unreadable case event", extra={"error": str(exc)})
        now = self._clock()
        with self._lock:
            self._books.update(books)
        for book in books.values():
            self._reconcile += book.pending_requests(now)
        log.info(
            "routing partitions rebuilt",
            extra={
                "partitions": list(numbers),
                "cases": sum(len(b.cases) for b in books.values()),
            },
        )

    def tick(self) -> Sequence[Emit]:
        """Requests a rebuild owes the assigner, and, about once a second, what the books'
        timers produce."""
        pending, self._reconcile = self._reconcile, []
        now = self._clock()
        if self._next_book_tick is None or now >= self._next_book_tick:
            self._next_book_tick = now + BOOK_TICK
            with self._lock:
                for book in self._books.values():
                    pending += book.tick(now)
        return pending

    # -- handlers ------------------------------------------------------------------------
    def _book(self, record: Record) -> CaseBook:
        book = self._books.get(record.partition)
        if book is None:
            # The loop rebuilds a partition before handing over its records; reaching this
            # is a bug, and raising makes the loop retry the record rather than lose it.
            raise RuntimeError(f"no case book for {record.topic}[{record.partition}]")
        return book

    def _on_message(self, message: message_pb2.EnrichedMessage, record: Record) -> list[Emit]:
        with self._lock:
            return self._counted(self._book(record).on_message(message, self._clock()))

    def _on_command(self, command: commands_pb2.AgentCommand, record: Record) -> list[Emit]:
        with self._lock:
            return self._counted(self._book(record).on_command(command, self._clock()))

    def _on_sla(self, event: sla_pb2.SlaEvent, record: Record) -> list[Emit]:
        with self._lock:
            return self._book(record).on_sla(event, self._clock())

    def _on_escalation(self, event: escalation_pb2.EscalationEvent, record: Record) -> list[Emit]:
        with self._lock:
            return self._book(record).on_escalation(event, self._clock())

    def _on_decision(self, decision: routing_pb2.AssignmentDecision, record: Record) -> list[Emit]:
        with self._lock:
            return self._book(record).on_decision(decision, self._clock())

    def _on_delivery(self, report: delivery_pb2.ReplyDelivery, record: Record) -> list[Emit]:
        with self._lock:
            effects = self._book(record).on_delivery(report, self._clock())
        for effect in effects:
            if isinstance(effect.message, case_pb2.CaseEvent):
                REPLY_DELIVERIES.labels(
                    channel_name(effect.message.case.channel),
                    STATUS_NAMES.get(report.status, "unspecified"),
                ).inc()
        return effects

    def _counted(self, effects: list[Emit]) -> list[Emit]:
        """Count the survey answers among `effects` (once: an answer is applied once)."""
        for effect in effects:
            event = effect.message
            if (
                isinstance(event, case_pb2.CaseEvent)
                and event.type == case_pb2.CASE_EVENT_TYPE_SURVEY_ANSWERED
            ):
                case = event.case
                SURVEY_ANSWERS.labels(
                    enum_name(case_pb2.SurveyKind, case.survey.kind, "SURVEY_KIND_"),
                    self._care.metric_channel(case.channel),
                    self._care.metric_language(case.language),
                    str(case.survey.score),
                ).inc()
        return effects

    # -- reads (gRPC threads) --------------------------------------------------------------
    def get_case(self, case_id: str) -> case_pb2.Case | None:
        """A copy of the case, None if this instance owns its partition and has no such case;
        PartitionNotOwnedError if another instance owns it (or none does, mid-rebalance)."""
        if not self._partitions:
            raise PartitionNotOwnedError("routing has not joined its group yet")
        number = partition_of_case(case_id, self._partitions)
        with self._lock:
            book = self._books.get(number)
            if book is None:
                raise PartitionNotOwnedError(
                    f"case partition {number} is not owned by this instance"
                )
            found = book.cases.get(case_id)
            if found is None:
                return None
            answer = case_pb2.Case()
            answer.CopyFrom(found)
            return answer

    def list_cases(
        self, *, status: int = 0, language: str = "", queue: str = "", limit: int = 100
    ) -> list[case_pb2.Case]:
        """The newest matching cases of the partitions this instance owns."""
        with self._lock:
            found = [
                case
                for book in self._books.values()
                for case in book.matching(status=status, language=language, queue=queue)
            ]
            return [_copy(case) for case in newest_first(found, limit)]

    def satisfaction(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        brands: Sequence[str] = (),
    ) -> list[services_pb2.SatisfactionRow]:
        """The survey tallies of the partitions this instance owns (see
        `domain.satisfaction_rows`)."""
        with self._lock:
            cases = [case for book in self._books.values() for case in book.cases.values()]
            return satisfaction_rows(
                cases, self._care, since=since, until=until, brands=frozenset(brands)
            )

    def find_customer_cases(
        self, brand: str, identities: Sequence[str]
    ) -> list[tuple[str, list[str]]]:
        """The cases of `brand` (a configured brand's name) in the partitions this instance
        owns that hold any of `identities` ("kind:value"), each with the ones it holds,
        oldest case first. PrivacyService.FindCustomerCases; every instance answers for its
        own partitions."""
        wanted = {identity_key_of(identity) for identity in identities if identity}
        if not wanted:
            return []
        found: list[tuple[tuple[int, int, str], str, list[str]]] = []
        with self._lock:
            for book in self._books.values():
                for case in book.cases.values():
                    if self._care.brand(case.brand).name != brand:
                        continue
                    held = {identity_key(identity) for identity in case.identities}
                    matched = sorted(held & wanted)
                    if matched:
                        order = (case.opened_at.seconds, case.opened_at.nanos, case.id)
                        found.append((order, case.id, matched))
        return [(case_id, matched) for _order, case_id, matched in sorted(found)]

    @property
    def owned_partitions(self) -> list[int]:
        with self._lock:
            return sorted(self._books)


def identity_key_of(identity: str) -> str:
    """An identity as asked for ("kind:value"), compared as the book keys them: the kind
    lower-cased, the value as given (callers normalise with `core.domain.identities`)."""
    kind, _, value = identity.strip().partition(":")
    return f"{kind.lower()}:{value}"


def _copy(case: case_pb2.Case) -> case_pb2.Case:
    clone = case_pb2.Case()
    clone.CopyFrom(case)
    return clone
