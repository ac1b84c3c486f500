"""`CaseViewService.WatchCases`: the console's live stream (`GET /v1/stream/cases`) as a
gRPC server stream, for integrators who want case changes without Kafka access.

The changes come from the console's `CaseBoard` (the gateway's projection of
`care.cases`) through its own subscriptions (`board.subscribe`). A caller sees the cases
the REST API shows them (`GET /v1/cases`, `GET /v1/cases/{id}`: `read_cases`, the cases of
their brands, `gateway.access.BrandScope`), narrowed by the request's filter (brands,
queues, statuses, assignee). The console's own stream narrows an agent further to their
queues and languages; that is the inbox's view, not an access rule, and an integrator's key
has no queues: the filter does that narrowing here. Naming a brand the caller does not see
is PERMISSION_DENIED (field `brands`).

How a stream runs:
* the first message is `ready` (whether the board has replayed care.cases yet); with
  `since`, the cases the board holds that changed at or after it follow as `snapshot`
  changes (oldest change first), then the live changes, in the order the board applied
  them (so per case in version order). A snapshot and a live change may overlap: the
  version tells a client which is newer.
* each subscription's queue is bounded (`backlog`, default the console's
  `SUBSCRIBER_BACKLOG`): a caller that falls that far behind gets one `resync` instead of
  the rest (it re-reads what it needs), then changes again;
* after `keepalive_s` without a change a `keep_alive` message goes out;
* a client that cancels or goes away ends the call: the subscription is dropped at once
  (the call's done-callback wakes the waiting worker);
* a gRPC worker thread is held per stream (the server is synchronous), so at most
  `max_watches` streams run at once; one more is RESOURCE_EXHAUSTED (retry later).

The board hands changes over on an asyncio loop of the subscriber's (its subscriptions
were made for the console's event loop): the watcher runs one such loop in a thread of its
own for all its streams, so a change is queued (or the queue overflows into `resync`)
promptly, whether or not the stream's worker is busy sending.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from typing import Any, TypeVar

import grpc

from socialcare.console.board import (
    SUBSCRIBER_BACKLOG,
    BoardEvent,
    CaseBoard,
    CaseSummary,
    Subscription,
)
from socialcare.core.auth import Permission, Principal
from socialcare.core.auth.authenticator import Authenticator
from socialcare.core.auth.grpc_auth import grpc_principal
from socialcare.core.clock import from_timestamp, to_timestamp, utc_now
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import STATUS_NAMES
from socialcare.core.errors import (
    ForbiddenError,
    InvalidRequestError,
    TooManyRequestsError,
    UnavailableError,
    abort_call,
)
from socialcare.gateway.access import BrandScope
from socialcare.v1 import services_pb2

log = logging.getLogger(__name__)

T = TypeVar("T")

KEEPALIVE_S = 15.0
# Changes taken from a subscription's queue at once (a stream holds at most the queue's
# bound plus this many).
TAKE_BATCH = 64
CLOSE_WAIT_S = 5.0
MAX_WATCHES = 4
_STATUS_NAMES = frozenset(STATUS_NAMES.values())


def case_view(summary: CaseSummary) -> services_pb2.CaseView:
    """The public view of a case in the stream (what the console's stream sends)."""
    view = services_pb2.CaseView(
        id=summary.id,
        brand=summary.brand,
        status=summary.status,
        language=summary.language,
        channel=summary.channel,
        queue=summary.queue,
        assignee=summary.assignee,
        priority=summary.priority,
        sla_state=summary.sla_state,
        version=summary.version,
        opened_at=to_timestamp(summary.opened_at),
        updated_at=to_timestamp(summary.updated_at),
    )
    if summary.sla_due_at is not None:
        view.sla_due_at.CopyFrom(to_timestamp(summary.sla_due_at))
    return view


def change_message(event: BoardEvent) -> services_pb2.WatchCasesResponse:
    if event.type == "resync" or event.case is None:
        return services_pb2.WatchCasesResponse(resync=services_pb2.WatchResync())
    return services_pb2.WatchCasesResponse(
        change=services_pb2.CaseChange(
            type=event.type, case=case_view(event.case), rejection=event.rejection or ""
        )
    )


class WatchFilter:
    """The request's narrowing of what the caller may see anyway."""

    def __init__(
        self,
        care: CareConfig,
        principal: Principal,
        request: services_pb2.WatchCasesRequest,
    ) -> None:
        self.scope = BrandScope.of(care, principal)
        brands = {name.strip() for name in request.brands if name.strip()}
        known = {brand.name for brand in care.effective_brands}
        if brands - known:
            raise InvalidRequestError(
                f"{', '.join(sorted(brands - known))}: not a brand ({', '.join(sorted(known))})",
                field="brands",
            )
        unseen = sorted(b for b in brands if not self.scope.sees(b))
        if unseen:
            raise ForbiddenError(
                f"brand {', '.join(unseen)} is not among the caller's brands", field="brands"
            )
        unknown = sorted(set(request.statuses) - _STATUS_NAMES)
        if unknown:
            raise InvalidRequestError(
                f"{', '.join(unknown)}: not a case status ({', '.join(sorted(_STATUS_NAMES))})",
                field="statuses",
            )
        self.brands = frozenset(brands)
        self.queues = frozenset(q for q in request.queues if q)
        self.statuses = frozenset(request.statuses)
        self.assignee = request.assignee
        self.since: datetime | None = (
            from_timestamp(request.since) if request.HasField("since") else None
        )

    def accepts(self, case: CaseSummary) -> bool:
        return (
            self.scope.sees(case.brand)
            and (not self.brands or case.brand in self.brands)
            and (not self.queues or case.queue in self.queues)
            and (not self.statuses or case.status in self.statuses)
            and (not self.assignee or case.assignee == self.assignee)
        )


class _Watch:
    """One stream's subscription and the wait for its next event."""

    def __init__(self, watcher: CaseWatcher, accepts: Callable[[CaseSummary], bool]) -> None:
        self._watcher = watcher
        self.closed = threading.Event()
        self._pending: concurrent.futures.Future[list[BoardEvent]] | None = None
        self._taken: deque[BoardEvent] = deque()
        self._lock = threading.Lock()
        self.subscription = watcher.on_loop(self._subscribe(accepts))

    async def _subscribe(self, accepts: Callable[[CaseSummary], bool]) -> Subscription:
        subscription = self._watcher.board.subscribe(accepts)
        # The bound this watcher promises, set before any change can reach the queue:
        # changes arrive through this loop, which is busy running this coroutine.
        subscription.queue = asyncio.Queue(maxsize=self._watcher.backlog)
        return subscription

    def next(self, timeout_s: float) -> BoardEvent | None:
        """The next event, or None after `timeout_s` quiet or once closed.

        Events are taken from the subscription's queue in batches (all it holds, at most
        TAKE_BATCH), one hop to the loop for many changes. A wait that times out stays
        pending and is waited on again next time (cancelling it could lose events taken
        from the queue at that very moment)."""
        if self._taken:
            return self._taken.popleft()
        with self._lock:
            if self.closed.is_set():
                return None
            if self._pending is None:
                self._pending = asyncio.run_coroutine_threadsafe(self._take(), self._watcher.loop)
            pending = self._pending
        try:
            batch = pending.result(timeout_s)
        except TimeoutError:
            return None
        except concurrent.futures.CancelledError:
            return None
        with self._lock:
            self._pending = None
        self._taken.extend(batch)
        return self._taken.popleft()

    async def _take(self) -> list[BoardEvent]:
        queue = self.subscription.queue
        batch = [await queue.get()]
        while len(batch) < TAKE_BATCH and not queue.empty():
            batch.append(queue.get_nowait())
        return batch

    def resume(self) -> None:
        """After the resync was read: changes are queued again."""
        self._watcher.loop.call_soon_threadsafe(self.subscription.resume)

    def close(self) -> None:
        """End the stream: drop the subscription and wake the worker waiting on it."""
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
            if self._pending is not None:
                self._pending.cancel()
        self._watcher.board.unsubscribe(self.subscription)


class CaseWatcher:
    """Serves WatchCases over `board`; `close` ends every stream (the server's stop)."""

    def __init__(
        self,
        board: CaseBoard,
        care: CareConfig,
        authenticator: Authenticator,
        *,
        keepalive_s: float = KEEPALIVE_S,
        backlog: int = SUBSCRIBER_BACKLOG,
        max_watches: int = MAX_WATCHES,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.board = board
        self.care = care
        self.backlog = backlog
        self._authenticator = authenticator
        self._keepalive_s = keepalive_s
        self._max_watches = max_watches
        self._clock = clock
        self._watches: set[_Watch] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the subscriptions are handed changes on (from `start`)."""
        if self._loop is None:
            raise UnavailableError("WatchCases is not serving (the server has not started)")
        return self._loop

    def start(self) -> None:
        """Create and run that loop in a thread of its own (the server's start)."""
        with self._lock:
            if self._loop is not None or self._closed:
                return
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="gateway-watch-loop", daemon=True
            )
            self._thread.start()

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def active(self) -> int:
        """Streams running now."""
        with self._lock:
            return len(self._watches)

    def on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the watcher's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def watch(
        self, request: services_pb2.WatchCasesRequest, context: grpc.ServicerContext
    ) -> Iterator[services_pb2.WatchCasesResponse]:
        try:
            principal = grpc_principal(self._authenticator, context, Permission.READ_CASES)
            wanted = WatchFilter(self.care, principal, request)
            watch = self._open(wanted)
        except Exception as exc:
            abort_call(context, exc, method="CaseViewService.WatchCases")
        context.add_callback(watch.close)
        try:
            yield from self._stream(watch, wanted, context)
        finally:
            watch.close()
            with self._lock:
                self._watches.discard(watch)

    def _open(self, wanted: WatchFilter) -> _Watch:
        with self._lock:
            if self._closed or not self._running():
                raise UnavailableError("this gateway is not serving WatchCases now (stopping)")
            if len(self._watches) >= self._max_watches:
                raise TooManyRequestsError(
                    f"{self._max_watches} WatchCases streams run on this gateway already; "
                    "retry later",
                    code="too_many_watches",
                )
            watch = _Watch(self, wanted.accepts)
            self._watches.add(watch)
        return watch

    def _stream(
        self, watch: _Watch, wanted: WatchFilter, context: grpc.ServicerContext
    ) -> Iterator[services_pb2.WatchCasesResponse]:
        yield services_pb2.WatchCasesResponse(
            ready=services_pb2.WatchReady(board_ready=self.board.ready)
        )
        if wanted.since is not None:
            since = wanted.since
            held = self.board.cases(lambda c: c.updated_at >= since and wanted.accepts(c))
            for summary in sorted(held, key=lambda c: (c.updated_at, c.id)):
                yield change_message(BoardEvent("snapshot", summary))
        while not watch.closed.is_set() and context.is_active():
            event = watch.next(self._keepalive_s)
            if event is None:
                if watch.closed.is_set():
                    return
                yield services_pb2.WatchCasesResponse(
                    keep_alive=services_pb2.WatchKeepAlive(at=to_timestamp(self._clock()))
                )
                continue
            if event.type == "resync":
                watch.resume()
                yield change_message(event)
                continue
            yield change_message(event)

    def close(self) -> None:
        """End every stream (their calls finish normally) and stop the loop."""
        with self._lock:
            self._closed = True
            watches = list(self._watches)
        for watch in watches:
            watch.close()
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(_cancel_tasks(), loop).result(CLOSE_WAIT_S)
            except (TimeoutError, RuntimeError):
                log.warning("WatchCases: waits still pending at close")
            loop.call_soon_threadsafe(loop.stop)
            thread.join(CLOSE_WAIT_S)
        if not thread.is_alive() and not loop.is_closed():
            loop.close()


async def _cancel_tasks() -> None:
    """The streams' waits still on the loop, cancelled and finished (before it stops)."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
