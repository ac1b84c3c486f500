"""The crisis consumer-loop plug-in: escalation.crisis-signals in, care.incidents out, the
detector's state kept in the compacted escalation.crisis-state.

One partition of signals, one detector. Its state (24 h of per-minute counts) is too
costly to rebuild from the signals on every start, so it is snapshotted: after every loop
iteration that changed it, `tick` emits a StateSnapshot (key `crisis`) whose
`through_offset` is the last signal offset it includes. The loop publishes it with the
incident events, flushes, then commits the signal offsets: so the snapshot is durable
whenever the offsets after it are committed. On assignment the latest snapshot is read
back and signals at or before its `through_offset` are skipped (they are in it): a
restart resumes without counting anything twice, and a crash before the commit replays
the signals after the durable snapshot, re-emitting the same (derived-id) events.

Time: signals carry their own `at`; `tick` lets wall time close a quiet incident, but
only after an empty poll (a backlog being read is judged by its own timestamps, not by
the wall clock).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Protocol

from prometheus_client import Gauge

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.clock import Clock, to_timestamp
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, decode, derived_id
from socialcare.escalation.crisis import CrisisDetector, Signal
from socialcare.v1 import incident_pb2

log = logging.getLogger(__name__)

GROUP = "crisis"
SNAPSHOT_KEY = "crisis"

INCIDENTS_OPEN = Gauge(
    "socialcare_incidents_open", "Crisis incidents open now, by brand.", ["brand"]
)


class StateLog(Protocol):
    """What the processor needs of the bus (a `Bus` is one): replay the state topic."""

    def replay(
        self,
        topic: str,
        partitions: Collection[int] | None = None,
        start: Mapping[int, int] | None = None,
    ) -> Iterator[Record]:
        """Every record of these partitions of `topic`, up to their ends at the call."""
        ...


class CrisisProcessor(TypedProcessor):
    """Group `crisis`; see the module docstring."""

    def __init__(self, care: CareConfig, clock: Clock, *, changelog: StateLog) -> None:
        super().__init__()
        self._care = care
        self._clock = clock
        self._changelog = changelog
        self._detector: CrisisDetector | None = None
        self._through = -1  # last signal offset included in the state
        self._dirty = False
        self._busy = False
        self._brands_shown: set[str] = set()
        self.on(Topic.CRISIS_SIGNALS, incident_pb2.CrisisSignal, self._on_signal)

    # -- lifecycle -----------------------------------------------------------------------
    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        if any(tp.topic == Topic.CRISIS_SIGNALS for tp in partitions):
            self._restore()

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        if any(tp.topic == Topic.CRISIS_SIGNALS for tp in partitions):
            self._detector = None
            self._dirty = False

    def discard(self) -> None:
        # The snapshot and events since the last durable point are lost: rebuild from the
        # durable snapshot in `assigned` (the loop calls it again).
        self._detector = None
        self._dirty = False

    def _restore(self) -> None:
        latest: incident_pb2.StateSnapshot | None = None
        for record in self._changelog.replay(Topic.CRISIS_STATE):
            try:
                snapshot = decode(record, incident_pb2.StateSnapshot)
            except InvalidRecordError as exc:
                log.warning("skipping unreadable crisis snapshot", extra={"error": str(exc)})
                continue
            if snapshot.key == SNAPSHOT_KEY:
                latest = snapshot
        self._detector = CrisisDetector(self._care.crisis)
        self._through = -1
        if latest is not None:
            try:
                self._detector = CrisisDetector.from_bytes(self._care.crisis, latest.state)
                self._through = latest.through_offset
            except ValueError as exc:
                # Starting empty loses the baseline (alerts come from min_volume for a
                # day), which beats not starting at all.
                log.error("crisis snapshot unusable, starting empty", extra={"error": str(exc)})
        self._dirty = False
        self._show_open()
        log.info("crisis state restored", extra={"through_offset": self._through})

    # -- records -------------------------------------------------------------------------
    def _on_signal(self, signal: incident_pb2.CrisisSignal, record: Record) -> Sequence[Emit]:
        detector = self._detector
        if detector is None:
            raise RuntimeError("crisis state not restored")  # the loop rebuilds first
        if record.offset <= self._through:
            return []  # already in the snapshot
        if not signal.signal_id:
            raise InvalidRecordError("crisis signal without a signal_id")
        events = detector.observe(Signal.from_proto(signal))
        self._through = record.offset
        self._dirty = True
        self._busy = True
        if events:
            self._show_open()
        return [Emit(Topic.INCIDENTS, e) for e in events]

    def tick(self) -> Sequence[Emit]:
        detector = self._detector
        if detector is None:
            return ()
        effects: list[Emit] = []
        if not self._busy:
            events = detector.tick(self._clock().timestamp())
            if events:
                self._dirty = True
                self._show_open()
                effects.extend(Emit(Topic.INCIDENTS, e) for e in events)
        self._busy = False
        if self._dirty:
            effects.append(Emit(Topic.CRISIS_STATE, self._snapshot(detector)))
            self._dirty = False
        return effects

    def _snapshot(self, detector: CrisisDetector) -> incident_pb2.StateSnapshot:
        state = detector.to_bytes()
        return incident_pb2.StateSnapshot(
            key=SNAPSHOT_KEY,
            through_offset=self._through,
            state=state,
            # The same state through the same offset is the same snapshot.
            snapshot_id=derived_id(
                SNAPSHOT_KEY, str(self._through), hashlib.sha256(state).hexdigest()
            ),
            taken_at=to_timestamp(self._clock()),
        )

    def _show_open(self) -> None:
        detector = self._detector
        if detector is None:
            return
        counts: dict[str, int] = {}
        for (brand, _, _), _ in detector.open_incidents():
            counts[brand] = counts.get(brand, 0) + 1
        for brand in self._brands_shown | set(counts):
            INCIDENTS_OPEN.labels(brand).set(counts.get(brand, 0))
        self._brands_shown |= set(counts)
