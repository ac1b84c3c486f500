"""Posting one reply to its platform, with retries, and saying what became of it.

`ReplySender.send` turns an `OutboundReply` into exactly one `ReplyDelivery`: SENT with the
platform's id, or FAILED with the platform's own words (or ours, when the reply breaks a
channel rule or no connector can post it). It never raises for a platform's failure: a
reply that cannot be posted is a fact for the agent to see on the case, not an error for
the consumer loop to retry forever.

Before any call the channel's rules are checked again (routing checked them when the agent
replied, but the reply may have waited since): the length limit, and WhatsApp's 24-hour
customer-service window, outside which only an approved template may be sent. Checking
here saves a call the platform would refuse, and names the rule instead of an error code.

`send_all` posts a batch concurrently, one worker per case: replies to the same case go out
one after the other in their order (a customer reads them in the order written), replies to
different cases in parallel, so one slow or throttled platform delays only its own replies.
Its `settle` callback runs on the worker right after each reply's answer, before that worker
posts anything else: the caller records the delivery there (durably), so a crash finds
unrecorded at most the replies whose calls were in flight, one per worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx

from socialcare.channels.outbound.clients import (
    NotSendableError,
    Outcome,
    PlatformRequest,
    Posted,
    Refused,
    build_request,
    interpret,
)
from socialcare.core.clock import Clock
from socialcare.core.domain.brands import Brand
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.case_rules import CommandRejectedError, check_outbound
from socialcare.core.domain.deliveries import FAILED, SENT, delivery_event
from socialcare.core.retry import RetryPolicy
from socialcare.v1 import commands_pb2, delivery_pb2

log = logging.getLogger(__name__)


def check_channel_rules(
    reply: commands_pb2.OutboundReply, brand: Brand, now: datetime
) -> tuple[str, str] | None:
    """(reason, code) when the channel would refuse `reply` as it stands, else None: the
    case rules routing applied when the agent wrote it, checked again right before sending
    (WhatsApp's 24-hour window may have closed since)."""
    try:
        check_outbound(reply, brand, now)
    except CommandRejectedError as exc:
        return exc.reason, exc.code.value
    return None


class ReplySender:
    """Posts replies over one pooled HTTP client. Thread-safe: `send` may run on many
    threads (that is what `send_all` does).

    `sleep` and `monotonic` are injectable so tests run the retry schedule without waiting.
    """

    def __init__(
        self,
        care: CareConfig,
        clock: Clock,
        *,
        policy: RetryPolicy | None = None,
        http: httpx.Client | None = None,
        timeout_s: float = 15.0,
        concurrency: int = 16,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._care = care
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._own_http = http is None
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,
        )
        self._concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._sleep = sleep
        self._monotonic = monotonic

    # -- one reply ---------------------------------------------------------------------
    def send(
        self, reply: commands_pb2.OutboundReply, *, deadline: float | None = None
    ) -> delivery_pb2.ReplyDelivery:
        """Post `reply`, retrying transient failures within the policy and before
        `deadline` (a `monotonic` time); never raises for what the platform (or the
        network) did."""
        brand = self._care.brand(reply.brand)
        problem = check_channel_rules(reply, brand, self._clock())
        if problem is not None:
            return self._delivery(reply, FAILED, reason=problem[0], code=problem[1], attempts=0)
        started = self._monotonic()
        attempt = 0
        while True:
            try:
                # Built per attempt: a signed request (generic) carries a fresh timestamp.
                request = build_request(reply, brand, now=self._clock())
            except NotSendableError as exc:
                return self._delivery(reply, FAILED, reason=exc.reason, code=exc.code, attempts=0)
            attempt += 1
            outcome = self._call(request)
            if isinstance(outcome, Posted):
                return self._delivery(
                    reply, SENT, platform_id=outcome.platform_message_id, attempts=attempt
                )
            if not outcome.transient:
                return self._delivery(
                    reply, FAILED, reason=outcome.reason, code=outcome.code, attempts=attempt
                )
            wait = self._policy.next_wait(
                attempt, self._monotonic() - started, outcome.retry_after_s
            )
            if wait is not None and deadline is not None and self._monotonic() + wait > deadline:
                wait = None
            if wait is None:
                return self._delivery(
                    reply,
                    FAILED,
                    reason=f"gave up after {attempt} attempts: {outcome.reason}",
                    code=outcome.code,
                    attempts=attempt,
                )
            log.info(
                "reply not taken yet, retrying",
                extra={
                    "reply_id": reply.reply_id,
                    "endpoint": request.endpoint,
                    "attempt": attempt,
                    "code": outcome.code,
                    "wait_s": round(wait, 3),
                },
            )
            self._sleep(wait)

    def _call(self, request: PlatformRequest) -> Outcome:
        try:
            response = self._http.request(
                request.method, request.url, headers=dict(request.headers), content=request.body
            )
        except httpx.TimeoutException as exc:
            # The platform may have taken it; the retry carries the same Idempotency-Key.
            return Refused(f"no answer from {request.endpoint} in time ({exc})", "timeout", True)
        except httpx.HTTPError as exc:
            return Refused(f"could not reach {request.endpoint}: {exc}", "network", True)
        return interpret(
            request.endpoint,
            response.status_code,
            response.headers,
            response.content,
            now=self._clock(),
        )

    def _delivery(
        self,
        reply: commands_pb2.OutboundReply,
        status: delivery_pb2.DeliveryStatus.ValueType,
        *,
        platform_id: str = "",
        reason: str = "",
        code: str = "",
        attempts: int,
    ) -> delivery_pb2.ReplyDelivery:
        if status == FAILED:
            log.warning(
                "reply failed",
                extra={"reply_id": reply.reply_id, "case_id": reply.case_id, "code": code},
            )
        return delivery_event(
            reply_id=reply.reply_id,
            case_id=reply.case_id,
            channel=reply.channel,
            status=status,
            occurred_at=self._clock(),
            platform_message_id=platform_id,
            reason=reason,
            error_code=code,
            attempts=attempts,
        )

    # -- a batch -----------------------------------------------------------------------
    def send_all(
        self,
        replies: Sequence[commands_pb2.OutboundReply],
        settle: Callable[[delivery_pb2.ReplyDelivery], None] | None = None,
    ) -> list[delivery_pb2.ReplyDelivery]:
        """One delivery per reply, in the order given; replies of one case in sequence,
        cases in parallel (at most `concurrency` at once), all settled within the policy's
        budget (plus at most one call's timeout): a reply whose turn comes after the budget
        is spent gets one attempt, and no retry.

        `settle(delivery)` is called on the posting worker as soon as a reply's outcome is
        known, before that worker starts its next reply; it may block (to make the delivery
        durable). If it raises, no worker starts another reply (calls in flight finish and
        are settled, or fail to be, in turn), and `send_all` raises the first such error
        once every worker stopped: the replies not posted are the caller's to post again."""
        by_case: dict[str, list[int]] = {}
        for index, reply in enumerate(replies):
            by_case.setdefault(reply.case_id, []).append(index)
        results: list[delivery_pb2.ReplyDelivery | None] = [None] * len(replies)
        # One budget for the whole batch, not per reply: several replies of one case go in
        # sequence, and the batch must settle within the consumer's max poll interval.
        deadline = self._monotonic() + self._policy.budget_s
        halted = threading.Event()
        errors: list[Exception] = []

        def run(indices: list[int]) -> None:
            for index in indices:
                if halted.is_set():
                    return
                delivery = self._send_contained(replies[index], deadline)
                results[index] = delivery
                if settle is None:
                    continue
                try:
                    settle(delivery)
                except Exception as exc:
                    # Whatever failed (the bus, most likely), posting on would only widen
                    # what a crash now would leave unrecorded.
                    errors.append(exc)
                    halted.set()
                    return

        if len(by_case) <= 1:
            for indices in by_case.values():
                run(indices)
        else:
            for future in [self._executor().submit(run, ix) for ix in by_case.values()]:
                future.result()
        if errors:
            raise errors[0]
        return [r for r in results if r is not None]

    def _send_contained(
        self, reply: commands_pb2.OutboundReply, deadline: float
    ) -> delivery_pb2.ReplyDelivery:
        """`send`, with a bug in it reported as this reply's failure: a batch must settle
        every reply (the loop commits their offsets next), and one bad reply must not take
        the others' deliveries with it."""
        try:
            return self.send(reply, deadline=deadline)
        except Exception as exc:
            log.exception("sending a reply failed unexpectedly", extra={"reply_id": reply.reply_id})
            return self._delivery(
                reply,
                FAILED,
                reason=f"connector error: {type(exc).__name__}: {exc}",
                code="connector_error",
                attempts=0,
            )

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self._concurrency, thread_name_prefix="outbound-send"
                )
            return self._pool

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        if self._own_http:
            self._http.close()
