"""The crisis consumer-loop plug-in: escalation.crisis-signals in, care.incidents out, the
detector's state kept in the compacted escalation.crisis-state.

One partition of signals, one detector. Its state (a day of per-minute counts) is too
costly to rebuild from the signals on every start, so it is snapshotted: `tick` emits a
StateSnapshot (key `crisis`) whose `through_offset` is the last signal offset it
includes, whenever incident events were emitted since the last one, else at most every
`snapshot_interval_s` while the state changes (a snapshot per poll would be a big record
many times a second under load).

Restoring (`assigned`, and after `discard`): the latest snapshot, then the signals after
its `through_offset` up to the end of the topic are replayed into the detector. The
incident events that replay produces are kept by offset and returned when the loop
delivers that offset again: the loop resumes at its committed offset, and every record
from there on may not have had its effects made durable, so they are emitted again (same
derived ids: consumers see duplicates at worst, never a gap); records before it were
committed, so their events were durable. So nothing is counted twice (replayed offsets are
not observed again) and nothing is lost (neither counts nor events).

Time: signals carry their own `at`; `tick` lets wall time close a quiet incident, but
only after an empty poll (a backlog being read is judged by its own timestamps, not by
the wall clock).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence

from prometheus_client import Gauge

from socialcare.core.bus import Record, TopicPartition
from socialcare.core.clock import Clock, to_timestamp
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, decode, derived_id
from socialcare.core.snapshots import ReplayLog
from socialcare.escalation.crisis import CrisisDetector, Signal
from socialcare.v1 import incident_pb2

log = logging.getLogger(__name__)

GROUP = "crisis"
SNAPSHOT_KEY = "crisis"

INCIDENTS_OPEN = Gauge(
    "socialcare_incidents_open", "Crisis incidents open now, by brand.", ["brand"]
)


class CrisisProcessor(TypedProcessor):
    """Group `crisis`; see the module docstring."""

    def __init__(
        self,
        care: CareConfig,
        clock: Clock,
        *,
        changelog: ReplayLog,
        snapshot_interval_s: float = 10.0,
    ) -> None:
        super().__init__()
        self._care = care
        self._clock = clock
        self._changelog = changelog
        self._snapshot_interval_s = snapshot_interval_s
        self._detector: CrisisDetector | None = None
        self._through = -1  # last signal offset included in the state
        self._replayed: dict[int, list[incident_pb2.IncidentEvent]] = {}
        self._dirty = False
        self._emitted = False  # incident events since the last snapshot
        self._last_snapshot = float("-inf")
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
        # durable snapshot and the signals after it in `assigned` (the loop calls it again).
        self._detector = None
        self._dirty = False
        self._replayed = {}

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
        detector = CrisisDetector(self._care.crisis)
        self._through = -1
        if latest is not None:
            try:
                detector = CrisisDetector.from_bytes(self._care.crisis, latest.state)
                self._through = latest.through_offset
            except ValueError as exc:
                # Starting empty loses the baseline (nothing opens for an hour, then
                # against a young baseline), which beats not starting at all.
                log.error("crisis snapshot unusable, starting empty", extra={"error": str(exc)})
        snapshot_through = self._through
        self._replayed = {}
        for record in self._changelog.replay(
            Topic.CRISIS_SIGNALS, partitions=[0], start={0: self._through + 1}
        ):
            try:
                signal = decode(record, incident_pb2.CrisisSignal)
            except InvalidRecordError:
                continue  # the loop dead-letters it when it gets there
            if record.offset <= self._through or not signal.signal_id:
                continue
            events = detector.observe(Signal.from_proto(signal))
            if events:
                self._replayed[record.offset] = events
            self._through = record.offset
        self._detector = detector
        self._dirty = self._through != snapshot_through
        self._emitted = False
        self._show_open()
        log.info(
            "crisis state restored",
            extra={"snapshot_through": snapshot_through, "through_offset": self._through},
        )

    # -- records -------------------------------------------------------------------------
    def _on_signal(self, signal: incident_pb2.CrisisSignal, record: Record) -> Sequence[Emit]:
        detector = self._detector
        if detector is None:
            raise RuntimeError("crisis state not restored")  # the loop rebuilds first
        if record.offset <= self._through:
            # Already counted (in the snapshot or replayed); its events, if it had any,
            # may not have been durable: emit them again (same ids).
            return [Emit(Topic.INCIDENTS, e) for e in self._replayed.pop(record.offset, [])]
        if not signal.signal_id:
            raise InvalidRecordError("crisis signal without a signal_id")
        events = detector.observe(Signal.from_proto(signal))
        self._through = record.offset
        self._dirty = True
        self._busy = True
        if events:
            self._emitted = True
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
                self._dirty = self._emitted = True
                self._show_open()
                effects.extend(Emit(Topic.INCIDENTS, e) for e in events)
        self._busy = False
        now = time.monotonic()
        due = now - self._last_snapshot >= self._snapshot_interval_s
        if self._dirty and (self._emitted or due):
            effects.append(Emit(Topic.CRISIS_STATE, self._snapshot(detector)))
            self._dirty = self._emitted = False
            self._last_snapshot = now
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
