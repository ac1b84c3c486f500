"""Feeds: blogs, forums and news sites a brand listens to, polled as RSS, Atom or JSON Feed.

Most of what people write about an energy bill is not addressed to the energy agency: it
is a blog post or a forum thread (scenario 1). Those sites publish feeds, so the brand
lists them (`brands[].feeds`) and `FeedPoller` reads them on a schedule, keeps the posts
that match the brand's listening rules (`channels.listening`) and hands them to ingestion
like any other message (channel = the feed's channel, kind `post`).

Three modules, one concern each:
- `channels.feed_formats`: pure parsing, a document's bytes to items (RSS 2.0, Atom 1.0,
  JSON Feed 1.0/1.1, safe XML, HTML to text, dates) and how an item becomes a message.
- `channels.feed_fetch`: one HTTP poll (conditional GET, timeout, a cap on the decoded
  body, Retry-After) and the outcomes a poll can have.
- this module: when to poll, what to hand over, and backoff.

Polling (`FeedPoller`, one thread for every feed of every brand): each feed is fetched
every `every` (validators kept from its last 200, so an unchanged feed is a 304), and
after any failure with exponential backoff and jitter, never before the server's
Retry-After. New items (not handed over before by this process) are judged in the order
they were written: a matching item younger than `max_item_age_s` (so adding a feed does
not turn years of archive into cases) goes to `Ingestor.ingest_batch` with the item as its
raw payload (`social.payloads.raw`, connector `feed/<name>`), and the poll waits until it
is durable. If the bus fails, the poll stops there and is retried later without this
response's validators (they are kept only once every item was handed over), so no item is
lost; de-duplication of re-sent items is the ingestor's (message id from channel +
external id). The log says for each taken item which keyword matched.

After a restart every item still in a feed is judged again; items already ingested come
back as duplicates (not published again), but their raw payload is published once more
with the same payload id.

Metrics: `socialcare_feed_polls_total{feed, outcome}` and
`socialcare_feed_items_total{feed, outcome}`.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from prometheus_client import Counter

from socialcare.channels.feed_fetch import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_TIMEOUT_S,
    FeedFetcher,
    PollError,
    PollOutcome,
    feed_client,
)
from socialcare.channels.feed_formats import FeedItem, parse_feed
from socialcare.channels.listening import ListeningRules
from socialcare.channels.parsed import PayloadError
from socialcare.core.bus import BusError
from socialcare.core.clock import Clock, to_timestamp, utc_now
from socialcare.core.domain.brands import Brand, Feed
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.events import derived_id
from socialcare.ingestion.ingestor import Ingestor
from socialcare.v1 import delivery_pb2

log = logging.getLogger(__name__)

DEFAULT_MAX_ITEM_AGE_S = 7 * 24 * 3600.0
DEFAULT_MAX_BACKOFF_S = 3600.0
MAX_RETRY_AFTER_S = 24 * 3600.0
MIN_INTERVAL_S = 1.0
# Items remembered per feed as handed over; a feed lists far fewer at a time.
REMEMBERED_ITEMS = 10_000

FEED_POLLS = Counter(
    "socialcare_feed_polls_total",
    "Feed polls by feed and outcome: ok (fetched and handled), not_modified (304), "
    "throttled (429/503, Retry-After honoured), http_error (another 4xx/5xx), unreachable "
    "(connection, timeout, redirects), too_large (body over the cap), invalid (not an RSS, "
    "Atom or JSON feed), bus_error (ingestion could not publish; retried), error (a bug).",
    ["feed", "outcome"],
)
FEED_ITEMS = Counter(
    "socialcare_feed_items_total",
    "New feed items by feed and outcome: taken (published), duplicate (ingested before), "
    "not_matching (no keyword, or excluded), too_old, invalid (could not become a message).",
    ["feed", "outcome"],
)


@dataclass(frozen=True, slots=True)
class PollReport:
    """What one poll of one feed did, and when the next is due."""

    feed: str
    outcome: PollOutcome
    next_poll_in_s: float
    taken: int = 0
    duplicates: int = 0
    not_matching: int = 0
    too_old: int = 0
    invalid: int = 0
    detail: str | None = None


@dataclass
class _FeedState:
    """What the poller knows about one feed between polls: its validators, its backoff,
    when it is due, and the items it handed over (newest last)."""

    brand: str
    feed: Feed
    rules: ListeningRules
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    due: float = float("-inf")
    handled: collections.OrderedDict[str, None] = field(default_factory=collections.OrderedDict)

    @property
    def connector(self) -> str:
        return f"feed/{self.feed.name}"

    @property
    def interval_s(self) -> float:
        return max(MIN_INTERVAL_S, self.feed.every_seconds)

    def remember(self, external_id: str) -> None:
        self.handled[external_id] = None
        self.handled.move_to_end(external_id)
        while len(self.handled) > REMEMBERED_ITEMS:
            self.handled.popitem(last=False)


class FeedPoller:
    """Polls every configured feed on one thread (a `core.runtime.Component`).

    `poll(name)` polls one feed now and `poll_due()` every feed whose time has come; the
    thread only calls `poll_due()` and sleeps until the next is due, so tests drive the
    same code with a fake `monotonic` clock and no thread. A poll never raises: every
    failure is an outcome, counted, logged and retried with backoff.
    """

    name = "feeds"

    def __init__(
        self,
        ingestor: Ingestor,
        feeds: Sequence[tuple[Brand, Feed]],
        *,
        client: httpx.Client | None = None,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        jitter: Callable[[float, float], float] = random.uniform,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_item_age_s: float = DEFAULT_MAX_ITEM_AGE_S,
        max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
    ) -> None:
        """Raises ValueError for two feeds with one name (their metrics and raw payloads
        would be indistinguishable) or a listening keyword that cannot match."""
        self._ingestor = ingestor
        self._states: dict[str, _FeedState] = {}
        for brand, feed in feeds:
            if feed.name in self._states:
                raise ValueError(
                    f"brand {brand.name}: feed name {feed.name!r} is used twice; feed names "
                    "must be unique across brands"
                )
            try:
                rules = ListeningRules.for_feed(brand, feed)
            except ValueError as exc:
                raise ValueError(f"brand {brand.name}, feed {feed.name}: {exc}") from None
            self._states[feed.name] = _FeedState(brand.name, feed, rules)
        self._own_client = client is None
        self._client = client or feed_client()
        self._fetcher = FeedFetcher(
            self._client,
            clock=clock,
            monotonic=monotonic,
            max_body_bytes=max_body_bytes,
            timeout_s=timeout_s,
        )
        self._clock = clock
        self._monotonic = monotonic
        self._jitter = jitter
        self._max_item_age = timedelta(seconds=max_item_age_s)
        self._max_backoff_s = max_backoff_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    @property
    def feeds(self) -> tuple[str, ...]:
        return tuple(self._states)

    # Component.

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout_s: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        log.info("polling feeds", extra={"feeds": ",".join(self._states)})
        try:
            while not self._stopping.is_set():
                self._stopping.wait(self.poll_due())
        finally:
            if self._own_client:
                self._client.close()

    # Polling.

    def poll_due(self) -> float:
        """Poll every feed that is due (the longest overdue first); the seconds until the
        next one is due."""
        for state in sorted(self._states.values(), key=lambda s: s.due):
            if self._stopping.is_set() or state.due > self._monotonic():
                break
            self._poll(state)
        if not self._states:
            return MAX_RETRY_AFTER_S
        return max(0.0, min(s.due for s in self._states.values()) - self._monotonic())

    def poll(self, feed_name: str) -> PollReport:
        """Poll one feed now, whenever it is due; KeyError for an unknown name."""
        return self._poll(self._states[feed_name])

    def _poll(self, state: _FeedState) -> PollReport:
        started = self._monotonic()
        try:
            report = self._fetch_and_ingest(state, started)
        except PollError as failure:
            report = self._failed(state, started, failure)
        except Exception as exc:  # a bug must not stop the other feeds
            log.exception("feed poll failed", extra={"feed": state.feed.name})
            report = self._failed(state, started, PollError(PollOutcome.ERROR, repr(exc)))
        FEED_POLLS.labels(state.feed.name, report.outcome.value).inc()
        return report

    def _failed(self, state: _FeedState, started: float, failure: PollError) -> PollReport:
        """Back off: a random delay in [d/2, d] for d = interval x 2^failures (capped),
        and never before the server's Retry-After."""
        state.failures += 1
        cap = max(self._max_backoff_s, state.interval_s)
        ceiling = min(cap, state.interval_s * 2 ** min(state.failures, 32))
        delay = self._jitter(ceiling / 2, ceiling)
        if failure.retry_after_s is not None:
            delay = max(delay, min(failure.retry_after_s, MAX_RETRY_AFTER_S))
        state.due = started + delay
        log.warning(
            "feed poll failed; retrying later",
            extra={
                "feed": state.feed.name,
                "outcome": failure.outcome.value,
                "error": failure.detail,
                "retry_in_s": round(delay, 1),
            },
        )
        return PollReport(state.feed.name, failure.outcome, delay, detail=failure.detail)

    def _fetch_and_ingest(self, state: _FeedState, started: float) -> PollReport:
        received_at = self._clock()
        fetched = self._fetcher.fetch(
            state.feed.url, etag=state.etag, last_modified=state.last_modified
        )
        if fetched is None:
            state.failures = 0
            state.due = started + state.interval_s
            return PollReport(state.feed.name, PollOutcome.NOT_MODIFIED, state.interval_s)
        try:
            parsed = parse_feed(fetched.body, feed=state.feed, brand=state.brand, now=received_at)
        except PayloadError as exc:
            raise PollError(PollOutcome.INVALID, str(exc)) from None
        counts: collections.Counter[str] = collections.Counter(invalid=len(parsed.skipped))
        for reason in parsed.skipped:
            log.info("feed item skipped", extra={"feed": state.feed.name, "reason": reason})
        fresh = [i for i in parsed.items if i.message.external_id not in state.handled]
        for item in parsed.items:
            if item.message.external_id in state.handled:
                state.handled.move_to_end(item.message.external_id)
        try:
            for item in sorted(fresh, key=lambda i: i.message.created_at):
                if item.message.external_id not in state.handled:
                    counts[self._handle(state, item, received_at)] += 1
        except BusError as exc:
            self._count_items(state, counts)
            raise PollError(PollOutcome.BUS_ERROR, str(exc)) from None
        self._count_items(state, counts)
        # Only now: had the validators been kept before every item was taken, the retry
        # would get a 304 and the rest would never be.
        state.etag, state.last_modified = fetched.etag, fetched.last_modified
        state.failures = 0
        state.due = started + state.interval_s
        return PollReport(
            state.feed.name,
            PollOutcome.OK,
            state.interval_s,
            taken=counts["taken"],
            duplicates=counts["duplicate"],
            not_matching=counts["not_matching"],
            too_old=counts["too_old"],
            invalid=counts["invalid"],
        )

    def _count_items(self, state: _FeedState, counts: Mapping[str, int]) -> None:
        for outcome, count in counts.items():
            if count:
                FEED_ITEMS.labels(state.feed.name, outcome).inc(count)

    def _handle(self, state: _FeedState, item: FeedItem, received_at: datetime) -> str:
        """Judge one new item and ingest it when it matches; its outcome. Raises BusError
        (the item is then not remembered, so the retry takes it)."""
        message = item.message
        verdict = state.rules.judge(message.text)
        if not verdict.matched:
            outcome = "not_matching"
        elif message.created_at < received_at - self._max_item_age:
            outcome = "too_old"
        else:
            raw = delivery_pb2.RawPayload(
                payload_id=derived_id(state.connector, hashlib.sha256(item.raw).hexdigest()),
                connector=state.connector,
                brand=state.brand,
                received_at=to_timestamp(received_at),
                content_type=item.content_type,
                body=item.raw,
            )
            [result] = self._ingestor.ingest_batch([message], raw=raw)
            outcome = "duplicate" if result.duplicate else "taken"
            log.info(
                "feed item taken" if outcome == "taken" else "feed item ingested before",
                extra={
                    "feed": state.feed.name,
                    "brand": state.brand,
                    "external_id": message.external_id,
                    "message_id": result.message_id,
                    "payload_id": raw.payload_id,
                    "why": verdict.reason,
                },
            )
        state.remember(message.external_id)
        return outcome


def feed_pollers(
    ingestor: Ingestor,
    care: CareConfig,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_item_age_s: float = DEFAULT_MAX_ITEM_AGE_S,
) -> FeedPoller | None:
    """The poller for every feed of every brand, or None when no brand lists a feed.
    Raises ValueError for a feed name used twice or a keyword that cannot match."""
    feeds = [(brand, feed) for brand in care.effective_brands for feed in brand.feeds]
    if not feeds:
        return None
    return FeedPoller(
        ingestor,
        feeds,
        max_body_bytes=max_body_bytes,
        timeout_s=timeout_s,
        max_item_age_s=max_item_age_s,
    )
