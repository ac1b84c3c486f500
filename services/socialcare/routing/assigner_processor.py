"""The assigner on the bus (group `routing-assigner`, ADR 0005).

`AssignerProcessor` runs the single-writer assigner on the one partition of
routing.assignment-requests, rebuilt from routing.assignments.changelog (who holds which
case) and routing.agents.changelog (presence, last grant) when the partition arrives. The
gRPC CaseService reads its state from other threads (ListAgentStates), hence the lock around
every use of the assigner: a reader never sees a request half applied.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from socialcare.core.bus import Bus, Record, TopicPartition
from socialcare.core.clock import Clock
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, decode, key_text
from socialcare.routing.assignment import Assigner
from socialcare.v1 import routing_pb2

T = TypeVar("T")

log = logging.getLogger(__name__)

ASSIGNER_GROUP = "routing-assigner"
# How often the assigner re-predicts breaches and gives waiting cases to agents who came on
# shift when no request arrives (the loop ticks after every poll, far more often).
ASSIGNER_TICK_SECONDS = 5.0
# How often the tick also predicts breaches over the whole backlog (its cost grows with the
# backlog, see bench/routing_decision.py; a case is predicted when it starts waiting anyway).
ASSIGNER_PREDICT_SECONDS = 30.0


class AssignerProcessor(TypedProcessor):
    """The single writer of agent assignments, on partition 0 of its request topic."""

    def __init__(self, care: CareConfig, bus: Bus, clock: Clock) -> None:
        super().__init__()
        self._care = care
        self._bus = bus
        self._clock = clock
        self._assigner: Assigner | None = None
        self._last_tick: datetime | None = None
        self._last_prediction: datetime | None = None
        self._lock = threading.RLock()
        self.on(Topic.ASSIGNMENT_REQUESTS, routing_pb2.AssignmentRequest, self._on_request)

    @property
    def assigner(self) -> Assigner | None:
        """The assigner's state while this instance is the writer, else None. Other threads
        read it through `read`, which holds the lock."""
        return self._assigner

    def now(self) -> datetime:
        """The assigner's clock (on-shift answers are about this instant)."""
        return self._clock()

    def read(self, query: Callable[[Assigner | None], T]) -> T:
        """Run `query` on the assigner (None when this instance is not the writer) while no
        request, tick or rebuild changes it."""
        with self._lock:
            return query(self._assigner)

    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        self._rebuild()

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        with self._lock:
            self._assigner = None

    def discard(self) -> None:
        """A flush failed; `assigned` follows and rebuilds from the changelogs."""
        with self._lock:
            self._assigner = None

    def tick(self) -> Sequence[Emit]:
        """Time-driven assignment work: owners offline past the grace period, breach
        prediction (AT_RISK, overflow) as queues age, and waiting cases for agents whose
        shift started."""
        now = self._clock()
        with self._lock:
            if self._assigner is None:
                return ()
            if (
                self._last_tick is not None
                and (now - self._last_tick).total_seconds() < ASSIGNER_TICK_SECONDS
            ):
                return ()
            self._last_tick = now
            predict = (
                self._last_prediction is None
                or (now - self._last_prediction).total_seconds() >= ASSIGNER_PREDICT_SECONDS
            )
            if predict:
                self._last_prediction = now
            return self._assigner.tick(now, predict=predict)

    def _rebuild(self) -> None:
        assigner = Assigner(self._care)
        for record in self._bus.replay(Topic.ASSIGNMENTS_CHANGELOG):
            if record.tombstone:
                if (case_id := key_text(record)) is not None:
                    assigner.drop(case_id)  # an erased case
                continue
            try:
                assigner.restore(decode(record, routing_pb2.AssignmentHolding))
            except InvalidRecordError as exc:
                log.warning("skipping unreadable assignment record", extra={"error": str(exc)})
        for record in self._bus.replay(Topic.AGENTS_CHANGELOG):
            try:
                assigner.restore_agent(decode(record, routing_pb2.AgentState))
            except InvalidRecordError as exc:
                log.warning("skipping unreadable agent record", extra={"error": str(exc)})
        with self._lock:
            self._assigner = assigner
        log.info(
            "assigner rebuilt",
            extra={
                "holdings": len(assigner.holdings),
                "waiting": len(assigner.waiting()),
                "agents": len(assigner.agent_states),
            },
        )

    def _on_request(self, request: routing_pb2.AssignmentRequest, record: Record) -> list[Emit]:
        with self._lock:
            if self._assigner is None:
                raise RuntimeError("assigner state is not built")  # the loop retries the record
            return self._assigner.on_request(request, self._clock())
