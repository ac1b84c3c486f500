"""The console's live picture of the cases: a projection of `care.cases` kept in memory,
and the fan-out of its changes to the browsers watching (server-sent events).

Why a projection of its own rather than the search index: a browser told "case c-17
changed" re-renders its inbox at once, and must then see the change. The search index
lags `care.cases` by the indexer's delay, routing's CaseService answers one case at a
time; the board applies each event before it tells anyone about it, so what a page
renders after an event includes that event. It is also what the wall aggregates.

What it keeps: every case that is not resolved, and resolved cases for `keep_resolved`
(24 h by default, the wall's window), as small summaries (no message texts but the last
customer message's first words). `care.cases` is compacted (the latest snapshot per
case), so rebuilding at start costs the number of live cases, not the history.

`CaseFollower` feeds it: one thread per process that replays `care.cases` from the start
and then follows it in a consumer group of its own (one member: every partition), never
committing (as `ingestion.seen_follower`: the position is only worth anything to this
process, which rebuilds on restart).

An erased case (its tombstone on `care.cases`, issue 12) leaves the board at once; the
browsers that could see it get an `erased` event without the case (nothing of it is sent
again), and reload their inbox. The board keeps nothing durable, so it reports no
erasure step.

Subscribers (`subscribe`) are asyncio queues of the event loop that serves the stream: the
follower's thread hands each change over with `call_soon_threadsafe`, never blocking on a
slow browser. A subscriber that falls `SUBSCRIBER_BACKLOG` events behind gets a single
`resync` instead of the rest (its page reloads its fragments).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from socialcare.core.bus import Bus, Record
from socialcare.core.clock import from_timestamp, utc_now
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import (
    SENTIMENT_NAMES,
    SLA_STATE_NAMES,
    STATUS_NAMES,
    channel_name,
    enum_name,
)
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError, decode, key_text
from socialcare.core.follower import TopicFollower
from socialcare.v1 import case_pb2

log = logging.getLogger(__name__)

SUBSCRIBER_BACKLOG = 200
PREVIEW_CHARS = 140

EVENT_NAMES: dict[int, str] = {
    value: case_pb2.CaseEventType.Name(value).removeprefix("CASE_EVENT_TYPE_").lower()
    for value in case_pb2.CaseEventType.values()
}


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """What the inbox, the stream and the wall need of one case."""

    id: str
    brand: str  # the configured brand's name (a case naming none: the first brand)
    status: str
    language: str
    channel: str
    queue: str
    assignee: str
    priority: str
    sentiment_label: str
    sentiment_score: float
    customer_id: str
    customer_name: str
    customer_handle: str
    followers: int
    opened_at: datetime
    updated_at: datetime
    sla_state: str
    sla_due_at: datetime | None
    # The response clock passed a warning threshold or a breach is predicted (and it is
    # still running): the wall counts these before they become breaches.
    sla_at_risk: bool
    first_response_s: float | None
    escalations: int
    consultants: tuple[str, ...]
    preview: str
    version: int
    message_count: int
    # (when, score) of every customer message, for the wall's sentiment trend.
    inbound_sentiment: tuple[tuple[datetime, float], ...] = ()
    # A resolution was proposed: the customer is asked to confirm until then.
    confirmation_due_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Not over yet: resolved (until it reopens) and closed cases are."""
        return self.status not in ("resolved", "closed")

    def as_json(self) -> dict[str, object]:
        """The summary a stream event carries (no message text: a browser fetches the
        case page for that)."""
        return {
            "id": self.id,
            "brand": self.brand,
            "status": self.status,
            "language": self.language,
            "channel": self.channel,
            "queue": self.queue,
            "assignee": self.assignee or None,
            "priority": self.priority,
            "sla_state": self.sla_state,
            "sla_due_at": self.sla_due_at.isoformat() if self.sla_due_at else None,
            "version": self.version,
        }


def status_name(status: case_pb2.CaseStatus.ValueType) -> str:
    """The REST name of a case status ("new", "open", ..., "closed"), also for a status
    `core.domain.cases.STATUS_NAMES` does not list (the enum's own name, lower case)."""
    name = STATUS_NAMES.get(status)
    if name is not None:
        return name
    if status == case_pb2.CASE_STATUS_UNSPECIFIED:
        return "open"
    return enum_name(case_pb2.CaseStatus, status, "CASE_STATUS_")


def summarize(case: case_pb2.Case, care: CareConfig) -> CaseSummary:
    inbound = [m for m in case.messages if m.direction == case_pb2.DIRECTION_INBOUND]
    last_text = inbound[-1].text if inbound else ""
    sla = case.sla
    first_response_s: float | None = None
    if sla.HasField("first_response_at") and sla.HasField("started_at"):
        first_response_s = max(
            0.0,
            (
                from_timestamp(sla.first_response_at) - from_timestamp(sla.started_at)
            ).total_seconds(),
        )
    return CaseSummary(
        id=case.id,
        brand=care.brand(case.brand).name,
        status=status_name(case.status),
        language=case.language,
        channel=channel_name(case.channel),
        queue=case.queue,
        assignee=case.assignee,
        priority=case.priority or "normal",
        sentiment_label=SENTIMENT_NAMES.get(case.sentiment.label, "neutral"),
        sentiment_score=case.sentiment.score,
        customer_id=case.customer.id,
        customer_name=case.customer.name,
        customer_handle=case.customer.handle,
        followers=case.customer.followers,
        opened_at=from_timestamp(case.opened_at),
        updated_at=from_timestamp(case.updated_at),
        sla_state=SLA_STATE_NAMES.get(sla.state, "running"),
        sla_due_at=from_timestamp(sla.due_at) if sla.HasField("due_at") else None,
        sla_at_risk=sla.state == case_pb2.SLA_STATE_RUNNING and (sla.at_risk or bool(sla.warned)),
        first_response_s=first_response_s,
        escalations=len(case.escalation_ids),
        # Asked through a consult command, or (before those) a note's `consult`.
        consultants=tuple(
            dict.fromkeys([*case.consultants, *(c.specialist for c in case.consultations)])
        ),
        preview=last_text[:PREVIEW_CHARS] + ("…" if len(last_text) > PREVIEW_CHARS else ""),
        version=case.version,
        message_count=len(case.messages),
        confirmation_due_at=from_timestamp(case.resolution_check.due_at)
        if case.resolution_check.outcome == case_pb2.RESOLUTION_OUTCOME_PENDING
        and case.resolution_check.HasField("due_at")
        else None,
        inbound_sentiment=tuple(
            (from_timestamp(m.created_at), m.sentiment.score)
            for m in inbound
            if m.HasField("created_at")
        ),
    )


@dataclass(frozen=True, slots=True)
class BoardEvent:
    """One change, as the stream sends it: `type` is the case event's (`opened`,
    `assigned`, ...) or `resync`."""

    type: str
    case: CaseSummary | None = None
    rejection: str | None = None  # routing's reason, on `command_rejected`


@dataclass(eq=False)
class Subscription:
    """One browser's stream. `accepts` decides which changes it is sent (its principal's
    brands and queues); `agent_id` marks the agent as at the console (the wall's presence)."""

    loop: asyncio.AbstractEventLoop
    accepts: Callable[[CaseSummary], bool]
    agent_id: str | None = None
    queue: asyncio.Queue[BoardEvent] = field(
        default_factory=lambda: asyncio.Queue(maxsize=SUBSCRIBER_BACKLOG)
    )
    overflowed: bool = False

    def offer(self, event: BoardEvent) -> None:
        """Runs on the subscriber's loop: queue the event, or once full a single resync."""
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(BoardEvent("resync"))

    def resume(self) -> None:
        """After the consumer read a resync: deliver changes again."""
        self.overflowed = False


class CaseBoard:
    """The cases this process knows of, newest snapshot each. Thread-safe."""

    def __init__(
        self,
        care: CareConfig,
        *,
        keep_resolved: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.care = care
        self.keep_resolved = keep_resolved
        self._clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._cases: dict[str, CaseSummary] = {}
        self._subscribers: list[Subscription] = []
        self._ready = threading.Event()
        self._last_prune = 0.0

    @property
    def ready(self) -> bool:
        """True once the start-up replay of `care.cases` is done."""
        return self._ready.is_set()

    def mark_ready(self) -> None:
        self._ready.set()

    def apply(self, event: case_pb2.CaseEvent, *, notify: bool = True) -> CaseSummary | None:
        """Take in one case event (an older version than known is ignored) and tell the
        subscribers that accept the case. Returns the summary kept, or None."""
        summary = summarize(event.case, self.care)
        with self._lock:
            known = self._cases.get(summary.id)
            if known is not None and known.version > summary.version:
                return None
            if summary.open or summary.updated_at >= self._clock() - self.keep_resolved:
                self._cases[summary.id] = summary
            else:
                self._cases.pop(summary.id, None)
            self._changed.notify_all()
            subscribers = list(self._subscribers) if notify else []
        self._prune()
        if subscribers:
            rejected = event.type == case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED
            change = BoardEvent(
                EVENT_NAMES.get(event.type, "changed"),
                summary,
                rejection=event.rejection.reason if rejected else None,
            )
            for subscriber in subscribers:
                if subscriber.accepts(summary):
                    self._hand_over(subscriber, change)
        return summary

    def forget(self, case_id: str, *, notify: bool = True) -> bool:
        """Drop an erased case; the subscribers that could see it hear `erased` (without
        the case). Returns whether the board had it."""
        with self._lock:
            summary = self._cases.pop(case_id, None)
            self._changed.notify_all()
            subscribers = list(self._subscribers) if notify and summary is not None else []
        if summary is not None:
            for subscriber in subscribers:
                if subscriber.accepts(summary):
                    self._hand_over(subscriber, BoardEvent("erased"))
        return summary is not None

    def _prune(self) -> None:
        """Drop resolved cases older than `keep_resolved`, at most once a minute."""
        now = time.monotonic()
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        horizon = self._clock() - self.keep_resolved
        with self._lock:
            stale = [c.id for c in self._cases.values() if not c.open and c.updated_at < horizon]
            for case_id in stale:
                del self._cases[case_id]

    def get(self, case_id: str) -> CaseSummary | None:
        with self._lock:
            return self._cases.get(case_id)

    def wait_for_version(self, case_id: str, after: int, timeout_s: float) -> bool:
        """Block until the board holds `case_id` at a version above `after` (a change the
        caller made has been applied), at most `timeout_s`; whether it came. Routing
        refusing a command leaves the version as it was: that waits the whole timeout."""

        def newer() -> bool:
            known = self._cases.get(case_id)
            return known is not None and known.version > after

        with self._changed:
            return self._changed.wait_for(newer, timeout=max(0.0, timeout_s))

    def cases(self, keep: Callable[[CaseSummary], bool] | None = None) -> list[CaseSummary]:
        with self._lock:
            found = list(self._cases.values())
        return [c for c in found if keep is None or keep(c)]

    # -- subscribers -----------------------------------------------------------------

    def subscribe(
        self, accepts: Callable[[CaseSummary], bool], *, agent_id: str | None = None
    ) -> Subscription:
        """A subscription for the running event loop (call from a coroutine)."""
        subscription = Subscription(asyncio.get_running_loop(), accepts, agent_id)
        with self._lock:
            self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)

    def agents_present(self) -> set[str]:
        """Roster agents with a console open on this process now."""
        with self._lock:
            return {s.agent_id for s in self._subscribers if s.agent_id}

    def _hand_over(self, subscriber: Subscription, event: BoardEvent) -> None:
        try:
            subscriber.loop.call_soon_threadsafe(subscriber.offer, event)
        except RuntimeError:  # its event loop is closed: the browser is long gone
            self.unsubscribe(subscriber)


class CaseFollower(TopicFollower):
    """A `Component`: the thread that fills `board` from `care.cases` and keeps it current
    (`TopicFollower`). It rebuilds on its own thread (the console serves meanwhile and
    says the board is loading): before connecting, while the board is not ready, it
    replays the topic without telling subscribers, then marks the board ready; from then
    on every change is told."""

    def __init__(self, bus: Bus, board: CaseBoard) -> None:
        self._board = board
        super().__init__(
            bus,
            [Topic.CASES.value],
            self._apply_live,
            name="console-case-follower",
            group="console-board",
            prepare=self._rebuild_unless_ready,
        )

    def _rebuild_unless_ready(self) -> None:
        if self._board.ready:
            return
        started = time.monotonic()
        count = 0

        def rebuild(records: Iterable[Record]) -> None:
            nonlocal count
            for record in records:
                self._apply(record, notify=False)
                count += 1

        self.replay(rebuild)
        self._board.mark_ready()
        log.info(
            "console board rebuilt from care.cases",
            extra={"records": count, "seconds": round(time.monotonic() - started, 3)},
        )

    def _apply_live(self, records: list[Record]) -> None:
        for record in records:
            self._apply(record, notify=True)

    def _apply(self, record: Record, *, notify: bool) -> None:
        if record.tombstone:
            if (case_id := key_text(record)) is not None:
                self._board.forget(case_id, notify=notify)
            return
        try:
            event = decode(record, case_pb2.CaseEvent)
        except InvalidRecordError as exc:  # one bad record must not stop the console
            log.warning("skipping a record of care.cases", extra={"error": str(exc)})
            return
        self._board.apply(event, notify=notify)
