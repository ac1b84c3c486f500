"""Crisis detection: a spike of negative messages on one (brand, topic, language) opens ONE
incident, which groups the cases it touches and closes once the rate is back to normal.

Pure: signals in (each with its own time), incident events out; no clock, no I/O. Time is
the signals' own `at` (so a replayed backlog is judged by when messages were written, not
when they are read); `tick(now)` lets wall time close incidents when no signal comes.

Per key the detector keeps negatives per minute for the baseline span (24 h by default)
and the (minute, case) of each negative inside the window. The rule, in negatives per
window:

* baseline = negatives per window expected now: the larger of the rolling rate over
  [now - baseline, now - window) (only minutes the detector has seen, leaving out minutes
  inside an incident of the key: a crisis must not become the new normal) and the rate
  at this time of day yesterday (the median window of the two hours around it: the
  afternoon peak is not compared with a 24 h mean that the night pulls down), floored
  at `min_volume / factor` (so a quiet key, baseline ~0, opens at `min_volume`, not 1).
  Nothing opens before the detector has seen `WARM_UP_WINDOWS` windows of traffic
  (a baseline of a few minutes makes every busy key look like a crisis; a restart
  resumes from the snapshot, so this is the very first start only);
* open when the window holds >= `factor` * baseline negatives;
* close when the window stays below `close_factor` * baseline (the baseline frozen at
  opening, or this time of day yesterday if higher) for `cooldown`: hysteresis, so a
  rate around the threshold does not flap.

While an incident is open every negative of its key joins it (its case grouped once);
UPDATED events are throttled (every `update_every_cases` new cases, or after
`update_every_seconds` with any). Signals are deduplicated by id within the window (a
message redelivered is counted once); the consumer loop's snapshot offset covers the rest.
Ids are derived (incident from key and opening minute; event from incident and revision),
so a re-run after a crash emits the same events.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.crisis_config import CrisisConfig, CrisisThresholds
from socialcare.core.events import derived_id
from socialcare.v1 import incident_pb2

# Cases listed on an incident event (all are counted in case_count).
MAX_LISTED_CASES = 200
STATE_VERSION = 1
# Windows of traffic the detector must have seen before it opens anything.
WARM_UP_WINDOWS = 4
# Signal ids remembered for deduplication (64-bit digests, insertion order): at most this
# many, so a snapshot stays far below Kafka's default 1 MB message limit.
MAX_SEEN = 20_000
DAY_SECONDS = 86400.0
YESTERDAY_SPAN_MINUTES = 120

Key = tuple[str, str, str]  # brand, topic, language


@dataclass(frozen=True, slots=True)
class Signal:
    """One inbound message as the detector counts it (a CrisisSignal, decoded)."""

    signal_id: str
    brand: str
    topic: str
    language: str
    negative: bool
    case_id: str
    at: float  # Unix seconds

    @classmethod
    def from_proto(cls, signal: incident_pb2.CrisisSignal) -> Signal:
        return cls(
            signal_id=signal.signal_id,
            brand=signal.brand,
            topic=signal.topic,
            language=signal.language,
            negative=signal.negative,
            case_id=signal.case_id,
            at=signal.at.seconds + signal.at.nanos / 1e9,
        )


@dataclass(slots=True)
class _Incident:
    id: str
    opened_at: float
    baseline: float  # negatives per window, frozen at opening
    revision: int = 0
    case_ids: list[str] = field(default_factory=list)
    case_set: set[str] = field(default_factory=set)
    updated_at: float = 0.0
    reported_cases: int = 0
    below_since: float | None = None


@dataclass(slots=True)
class _KeyState:
    counts: dict[int, int] = field(default_factory=dict)  # minute -> negatives
    window: deque[tuple[int, str]] = field(default_factory=deque)  # (minute, case id)
    excluded: list[list[int]] = field(default_factory=list)  # [first, last] incident minutes
    incident: _Incident | None = None
    # The baseline depends on the minute only: computed once a minute (not snapshotted).
    cached: tuple[int, float | None] | None = None


class CrisisDetector:
    """The detector's whole state; see the module docstring for the rule."""

    def __init__(self, config: CrisisConfig) -> None:
        self._config = config
        self._thresholds: dict[str, CrisisThresholds] = {}
        self._keys: dict[Key, _KeyState] = {}
        self._seen: dict[str, int] = {}  # signal id -> minute, for the window
        self._started: int | None = None  # first minute seen
        self._now = 0.0  # the latest signal time
        self._pruned_at = -1  # the minute old counts were last dropped
        self._seen_limit = 4096  # size of `_seen` at which old ids are dropped

    # -- input ---------------------------------------------------------------------------
    def observe(self, signal: Signal) -> list[incident_pb2.IncidentEvent]:
        """Count one signal; the incident events it causes (none, OPENED, UPDATED, CLOSED)."""
        minute = int(signal.at // 60)
        if self._started is None:
            self._started = minute
        self._now = max(self._now, signal.at)
        seen_key = _seen_key(signal.signal_id)
        if seen_key in self._seen:
            return []
        limits = self._limits(signal.brand)
        if minute <= self._minute(self._now - limits.baseline_seconds - 2 * 3600):
            return []  # older than anything the baseline still counts
        self._seen[seen_key] = minute
        self._forget_seen()
        key = (signal.brand, signal.topic, signal.language)
        state = self._keys.setdefault(key, _KeyState())
        events: list[incident_pb2.IncidentEvent] = []
        if signal.negative:
            state.counts[minute] = state.counts.get(minute, 0) + 1
            if minute > self._minute(self._now - limits.window_seconds):
                state.window.append((minute, signal.case_id))
            incident = state.incident
            if incident is not None and signal.case_id and signal.case_id not in incident.case_set:
                incident.case_set.add(signal.case_id)
                if len(incident.case_ids) < MAX_LISTED_CASES:
                    incident.case_ids.append(signal.case_id)
        events.extend(self._evaluate(key, state, self._now))
        return events

    def tick(self, now: float) -> list[incident_pb2.IncidentEvent]:
        """Wall time moved on with no signals: re-judge open incidents at `now` (they may
        have been quiet for their cooldown). Never moves time backwards."""
        at = max(now, self._now)
        events: list[incident_pb2.IncidentEvent] = []
        prune = self._minute(at) != self._pruned_at
        self._pruned_at = self._minute(at)
        for key, state in list(self._keys.items()):
            if state.incident is not None:
                events.extend(self._evaluate(key, state, at))
            if prune:
                self._prune(key, state, at)
        return events

    # -- the rule ------------------------------------------------------------------------
    def _evaluate(self, key: Key, state: _KeyState, now: float) -> list[incident_pb2.IncidentEvent]:
        limits = self._limits(key[0])
        self._trim_window(state, now, limits)
        in_window = len(state.window)
        incident = state.incident
        if incident is None:
            if in_window < limits.min_volume:
                return []
            minute = self._minute(now)
            if state.cached is None or state.cached[0] != minute:
                state.cached = (minute, self.baseline(key, now))
            baseline = state.cached[1]
            if baseline is None or in_window < limits.factor * baseline:
                return []
            return [self._open(key, state, now, baseline)]
        self._mark_excluded(state, now)
        if in_window < limits.close_factor * self._normal(key, state, incident, now):
            if incident.below_since is None:
                incident.below_since = now
            if now - incident.below_since >= limits.cooldown_seconds:
                return [self._close(key, state, now)]
        else:
            incident.below_since = None
        joined = len(incident.case_set) - incident.reported_cases
        if joined >= self._config.update_every_cases or (
            joined > 0 and now - incident.updated_at >= self._config.update_every_seconds
        ):
            return [self._event(key, state, now, incident_pb2.INCIDENT_EVENT_TYPE_UPDATED)]
        return []

    def baseline(self, key: Key, now: float) -> float | None:
        """Negatives per window expected for `key` at `now`, or None while the detector
        has seen less than `WARM_UP_WINDOWS` windows of traffic (it then opens nothing:
        a baseline from a few minutes would make any busy key look like a crisis).

        The larger of the rolling rate over [now - baseline, now - window) and the rate
        at the same time of day yesterday (an hour around it, when the baseline spans a
        day), so the afternoon peak is not compared with the night; incident minutes
        are left out of both; floored at `min_volume / factor`.
        """
        limits = self._limits(key[0])
        state = self._keys.get(key) or _KeyState()
        window_minutes = max(1, round(limits.window_seconds / 60))
        end = self._minute(now - limits.window_seconds)  # last baseline minute
        start = max(self._minute(now - limits.baseline_seconds) + 1, self._started or end + 1)
        rolling, covered = _rate(state, start, end)
        if covered < WARM_UP_WINDOWS * window_minutes:
            return None
        rate = rolling
        if limits.baseline_seconds >= DAY_SECONDS:
            rate = max(rate, self._yesterday(state, now, window_minutes))
        return max(limits.min_volume / limits.factor, rate * window_minutes)

    def _normal(self, key: Key, state: _KeyState, incident: _Incident, now: float) -> float:
        """What an open incident's window is compared with to close it: the baseline
        frozen at opening, or this time of day yesterday if that is higher (an incident
        opened in the quiet morning must not outlive the normal afternoon peak).
        Computed once a minute."""
        minute = self._minute(now)
        if state.cached is None or state.cached[0] != minute:
            window_minutes = max(1, round(self._limits(key[0]).window_seconds / 60))
            daily = self._yesterday(state, now, window_minutes) * window_minutes
            state.cached = (minute, daily)
        return max(incident.baseline, state.cached[1] or 0.0)

    def _yesterday(self, state: _KeyState, now: float, window_minutes: int) -> float:
        """Negatives per minute at this time of day yesterday: the median of the window
        counts in the two hours either side (the median, so yesterday's incidents, even
        false alarms, neither inflate nor hide it); 0 before a day of history."""
        then = self._minute(now - DAY_SECONDS)
        first = then - YESTERDAY_SPAN_MINUTES
        if self._started is None or first < self._started:
            return 0.0
        windows = [
            sum(state.counts.get(m, 0) for m in range(lo, lo + window_minutes))
            for lo in range(first, then + YESTERDAY_SPAN_MINUTES, window_minutes)
        ]
        return statistics.median(windows) / window_minutes if windows else 0.0

    # -- incidents -----------------------------------------------------------------------
    def _open(
        self, key: Key, state: _KeyState, now: float, baseline: float
    ) -> incident_pb2.IncidentEvent:
        opened_minute = self._minute(now)
        incident = _Incident(
            id=derived_id("incident", *key, str(opened_minute)),
            opened_at=now,
            baseline=baseline,
        )
        for _, case_id in state.window:
            if case_id and case_id not in incident.case_set:
                incident.case_set.add(case_id)
                if len(incident.case_ids) < MAX_LISTED_CASES:
                    incident.case_ids.append(case_id)
        state.incident = incident
        state.cached = None  # now caches the closing reference (see `_normal`)
        # The window that made the incident is incident time too: left out of the baseline.
        window_start = self._minute(now - self._limits(key[0]).window_seconds) + 1
        state.excluded.append([window_start, opened_minute])
        return self._event(key, state, now, incident_pb2.INCIDENT_EVENT_TYPE_OPENED)

    def _close(self, key: Key, state: _KeyState, now: float) -> incident_pb2.IncidentEvent:
        event = self._event(key, state, now, incident_pb2.INCIDENT_EVENT_TYPE_CLOSED)
        state.incident = None
        state.cached = None  # the incident's minutes just left the baseline
        return event

    def _event(
        self,
        key: Key,
        state: _KeyState,
        now: float,
        kind: incident_pb2.IncidentEventType.ValueType,
    ) -> incident_pb2.IncidentEvent:
        incident = state.incident
        assert incident is not None
        limits = self._limits(key[0])
        incident.revision += 1
        incident.updated_at = now
        incident.reported_cases = len(incident.case_set)
        per_hour = 3600 / limits.window_seconds
        closed = kind == incident_pb2.INCIDENT_EVENT_TYPE_CLOSED
        message = incident_pb2.Incident(
            id=incident.id,
            brand=key[0],
            topic=key[1],
            language=key[2],
            status=(
                incident_pb2.INCIDENT_STATUS_CLOSED if closed else incident_pb2.INCIDENT_STATUS_OPEN
            ),
            opened_at=to_timestamp(_utc(incident.opened_at)),
            updated_at=to_timestamp(_utc(now)),
            negative_per_hour=len(state.window) * per_hour,
            baseline_per_hour=incident.baseline * per_hour,
            negatives_in_window=len(state.window),
            case_ids=incident.case_ids,
            case_count=len(incident.case_set),
            revision=incident.revision,
            summary=_summary(key, incident, len(state.window), limits, closed=closed),
        )
        if closed:
            message.closed_at.CopyFrom(to_timestamp(_utc(now)))
        return incident_pb2.IncidentEvent(
            event_id=derived_id(incident.id, str(incident.revision)),
            type=kind,
            incident=message,
            occurred_at=to_timestamp(_utc(now)),
        )

    def open_incidents(self) -> list[tuple[Key, str]]:
        """(key, incident id) of every open incident."""
        return [(k, s.incident.id) for k, s in self._keys.items() if s.incident is not None]

    # -- bookkeeping ---------------------------------------------------------------------
    def _limits(self, brand: str) -> CrisisThresholds:
        found = self._thresholds.get(brand)
        if found is None:
            found = self._thresholds[brand] = self._config.thresholds(brand)
        return found

    @staticmethod
    def _minute(at: float) -> int:
        return int(at // 60)

    def _trim_window(self, state: _KeyState, now: float, limits: CrisisThresholds) -> None:
        oldest = self._minute(now - limits.window_seconds)
        while state.window and state.window[0][0] <= oldest:
            state.window.popleft()

    def _mark_excluded(self, state: _KeyState, now: float) -> None:
        """Stretch the open incident's excluded span (the last one) up to `now`."""
        minute = self._minute(now)
        if state.excluded:
            state.excluded[-1][1] = max(state.excluded[-1][1], minute)
        else:  # pruned away by an incident older than the baseline
            state.excluded.append([minute, minute])

    def _prune(self, key: Key, state: _KeyState, now: float) -> None:
        limits = self._limits(key[0])
        oldest = self._minute(now - limits.baseline_seconds - 2 * 3600)  # + yesterday's hours
        for minute in [m for m in state.counts if m <= oldest]:
            del state.counts[minute]
        state.excluded = [span for span in state.excluded if span[1] > oldest]
        self._trim_window(state, now, limits)
        if not state.counts and not state.window and state.incident is None:
            del self._keys[key]

    def _forget_seen(self) -> None:
        """Drop ids older than the longest window, and the oldest beyond `MAX_SEEN`
        (bounded memory and snapshot size; a duplicate that old is kept out by the
        snapshot offset instead). Runs when the set doubled since the last pass, so its
        cost per signal stays constant."""
        if len(self._seen) < self._seen_limit:
            return
        longest = max(
            [self._config.window_seconds] + [t.window_seconds for t in self._thresholds.values()]
        )
        oldest = self._minute(self._now - longest)
        kept = [(s, m) for s, m in self._seen.items() if m > oldest]
        self._seen = dict(kept[-MAX_SEEN:])
        self._seen_limit = max(4096, min(2 * len(self._seen), MAX_SEEN + MAX_SEEN // 2))

    # -- snapshots -----------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The whole state, for the compacted escalation.crisis-state (json + zlib)."""
        state = {
            "version": STATE_VERSION,
            "started": self._started,
            "now": self._now,
            "seen": dict(list(self._seen.items())[-MAX_SEEN:]),
            "keys": [
                {
                    "key": list(key),
                    "counts": [[m, c] for m, c in s.counts.items()],
                    "window": [list(entry) for entry in s.window],
                    "excluded": s.excluded,
                    "incident": None
                    if s.incident is None
                    else {
                        "id": s.incident.id,
                        "opened_at": s.incident.opened_at,
                        "baseline": s.incident.baseline,
                        "revision": s.incident.revision,
                        "case_ids": s.incident.case_ids,
                        "cases": sorted(s.incident.case_set),
                        "updated_at": s.incident.updated_at,
                        "reported_cases": s.incident.reported_cases,
                        "below_since": s.incident.below_since,
                    },
                }
                for key, s in self._keys.items()
            ],
        }
        return zlib.compress(json.dumps(state, separators=(",", ":")).encode())

    @classmethod
    def from_bytes(cls, config: CrisisConfig, data: bytes) -> CrisisDetector:
        """A detector resuming a snapshot `to_bytes` made; ValueError if it is not one."""
        try:
            state = json.loads(zlib.decompress(data))
        except (zlib.error, ValueError) as exc:
            raise ValueError(f"not a crisis snapshot: {exc}") from exc
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError("not a crisis snapshot of this version")
        detector = cls(config)
        detector._started = state["started"]
        detector._now = float(state["now"])
        detector._seen = {str(k): int(v) for k, v in state["seen"].items()}
        for entry in state["keys"]:
            key_state = _KeyState(
                counts={int(m): int(c) for m, c in entry["counts"]},
                window=deque((int(m), str(c)) for m, c in entry["window"]),
                excluded=[[int(a), int(b)] for a, b in entry["excluded"]],
            )
            raw = entry["incident"]
            if raw is not None:
                key_state.incident = _Incident(
                    id=raw["id"],
                    opened_at=float(raw["opened_at"]),
                    baseline=float(raw["baseline"]),
                    revision=int(raw["revision"]),
                    case_ids=list(raw["case_ids"]),
                    case_set=set(raw["cases"]),
                    updated_at=float(raw["updated_at"]),
                    reported_cases=int(raw["reported_cases"]),
                    below_since=raw["below_since"],
                )
            brand, topic, language = entry["key"]
            detector._keys[(brand, topic, language)] = key_state
        return detector


def _rate(state: _KeyState, start: int, end: int) -> tuple[float, int]:
    """Negatives per minute of `state` over minutes [start, end] outside incidents, and
    how many such minutes there were."""
    if end < start:
        return 0.0, 0
    excluded = 0
    for first, last in state.excluded:
        lo, hi = max(first, start), min(last, end)
        if lo <= hi:
            excluded += hi - lo + 1
    covered = (end - start + 1) - excluded
    if covered <= 0:
        return 0.0, 0
    total = sum(
        count
        for minute, count in state.counts.items()
        if start <= minute <= end and not _inside(state.excluded, minute)
    )
    return total / covered, covered


def _seen_key(signal_id: str) -> str:
    """A 64-bit digest of a signal id: what dedupe remembers (short, fixed size)."""
    return hashlib.blake2b(signal_id.encode(), digest_size=8).hexdigest()


def _inside(spans: list[list[int]], minute: int) -> bool:
    return any(first <= minute <= last for first, last in spans)


def _utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def _summary(
    key: Key, incident: _Incident, in_window: int, limits: CrisisThresholds, *, closed: bool
) -> str:
    brand, topic, language = key
    minutes = round(limits.window_seconds / 60)
    cases = len(incident.case_set)
    if closed:
        return (
            f"Over: negative messages about {topic} for {brand} ({language}) are back near "
            f"normal ({in_window} in the last {minutes} min); {cases} cases were grouped."
        )
    return (
        f"{in_window} negative messages about {topic} for {brand} ({language}) in the last "
        f"{minutes} min, against about {incident.baseline:.1f} normally; {cases} cases grouped."
    )
