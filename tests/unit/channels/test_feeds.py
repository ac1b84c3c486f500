"""Feed polling: the poller against a local HTTP server that plays the feed hosts (ETag /
Last-Modified, 429 with Retry-After, 500s, oversized and compressed bodies), handing
matching items to a real Ingestor. The fixtures and helpers are test_feeds_formats.py's.
"""

from __future__ import annotations

import email.utils
import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from socialcare.channels.feed_fetch import PollOutcome
from socialcare.channels.feeds import FeedPoller, feed_pollers
from socialcare.core.bus import BusError, Headers, Producer
from socialcare.core.bus.base import Delivery
from socialcare.core.domain.brands import Brand, Feed, Listening
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode
from socialcare.ingestion.dedupe import SeenMessageIds
from socialcare.ingestion.ingestor import Ingestor
from socialcare.v1 import delivery_pb2, message_pb2
from tests.unit.channels.test_feeds_formats import (
    ATOM,
    BILLION_LAUGHS,
    NOW,
    RSS,
    feed,
    rss,
)
from tests.unit.memory_log import MemoryLog
from tests.unit.metrics import sample

LISTENING = Listening(
    keywords=[
        "energielabel",
        "energie label",
        "energierekening",
        "subsidie*",
        "energy label",
        "energy bill",
        "Förderung",
        "Energieausweis",
    ],
    exclude=["vacature", "te koop"],
)


def brand(*feeds: Feed, name: str = "energieloket") -> Brand:
    return Brand(name=name, listening=LISTENING, feeds=list(feeds))


@dataclass
class Served:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False


@dataclass
class Request:
    path: str
    headers: dict[str, str]


@dataclass
class FeedHost:
    """Feeds served on 127.0.0.1 as a web server does: validators, 304, and scripted
    faults (status + headers) answered before the feed."""

    feeds: dict[str, Served] = field(default_factory=dict)
    faults: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requested(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def host() -> Iterator[FeedHost]:
    state = FeedHost()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(
                Request(self.path, {k.lower(): v for k, v in self.headers.items()})
            )
            if state.faults.get(self.path):
                status, headers = state.faults[self.path].pop(0)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            served = state.feeds.get(self.path)
            if served is None:
                self.send_error(404)
                return
            validators = {
                name: value
                for name, value in (("ETag", served.etag), ("Last-Modified", served.last_modified))
                if value
            }
            if (served.etag and self.headers.get("If-None-Match") == served.etag) or (
                served.last_modified
                and not self.headers.get("If-None-Match")
                and self.headers.get("If-Modified-Since") == served.last_modified
            ):
                self.send_response(304)
                for name, value in validators.items():
                    self.send_header(name, value)
                self.end_headers()
                return
            body = served.body
            self.send_response(200)
            if served.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body)
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Type", served.content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in validators.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FailingProducer(Producer):
    """Refuses every record until `healthy` is set, as a bus that is down."""

    def __init__(self, log: MemoryLog) -> None:
        self.log = log
        self.healthy = False

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        if not self.healthy:
            raise BusError("bus unavailable")
        return self.log.send(topic, value, key=key, headers=headers)

    def flush(self, timeout_s: float = 30.0) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Harness:
    host: FeedHost
    log: MemoryLog
    monotonic: FakeMonotonic
    poller: FeedPoller

    def messages(self) -> list[message_pb2.SocialMessage]:
        return [
            decode(r, message_pb2.SocialMessage)
            for r in self.log.sent
            if r.topic == Topic.MESSAGES_RAW.value
        ]

    def raws(self) -> list[delivery_pb2.RawPayload]:
        return [
            decode(r, delivery_pb2.RawPayload)
            for r in self.log.sent
            if r.topic == Topic.PAYLOADS_RAW.value
        ]


def harness(
    host: FeedHost,
    *feeds: Feed,
    producer: Producer | None = None,
    log: MemoryLog | None = None,
    **options: Any,
) -> Harness:
    log = log or MemoryLog(4)
    monotonic = FakeMonotonic()
    ingestor = Ingestor(producer or log, SeenMessageIds(10_000), clock=lambda: NOW)
    poller = FeedPoller(
        ingestor,
        [(brand(*feeds), f) for f in feeds],
        clock=lambda: NOW,
        monotonic=monotonic,
        **{"jitter": lambda low, high: high, **options},
    )
    return Harness(host, log, monotonic, poller)


def forum_feed(host: FeedHost, name: str = "energieforum", every: str = "5m") -> Feed:
    return feed(name, host.url(f"/{name}.rss"), every=every)


def with_new_post(title: str, topic: int, *, etag: str) -> Served:
    """The forum's feed after someone posted: one new post on top, and a new ETag."""
    post = (
        f"<item><title>{title}</title>"
        f"<guid isPermaLink='false'>energieforum.example-topic-{topic}</guid>"
        "<pubDate>Wed, 06 Nov 2024 08:00:00 +0100</pubDate></item>"
    ).encode()
    return Served(RSS.replace(b"<item>", post + b"<item>", 1), etag=etag)


def test_a_poll_takes_the_matching_recent_posts_oldest_first_with_their_raw_items(
    host: FeedHost,
) -> None:
    host.feeds["/energieforum.rss"] = Served(RSS, etag='"v1"')
    h = harness(host, forum_feed(host))
    taken_before = sample("socialcare_feed_items_total", feed="energieforum", outcome="taken")
    polls_before = sample("socialcare_feed_polls_total", feed="energieforum", outcome="ok")

    report = h.poller.poll("energieforum")

    assert report.outcome is PollOutcome.OK
    # Taken: the energy bill + label question and the subsidy question. Not matching: the
    # job advert (excluded) and the stove for sale (no keyword). Too old: the 2019 topic.
    assert (report.taken, report.not_matching, report.too_old, report.invalid) == (2, 2, 1, 0)
    assert report.next_poll_in_s == 300
    messages = h.messages()
    assert [m.external_id for m in messages] == [
        "www.energieforum.example#energieforum.example-topic-48190",
        "www.energieforum.example#energieforum.example-topic-48213",
    ]
    assert all(m.channel == message_pb2.CHANNEL_FORUM for m in messages)
    assert all(m.kind == message_pb2.MESSAGE_KIND_POST for m in messages)
    assert all(m.brand == "energieloket" for m in messages)
    raws = h.raws()
    assert [r.connector for r in raws] == ["feed/energieforum"] * 2
    assert [r.brand for r in raws] == ["energieloket"] * 2
    assert [list(r.message_ids) for r in raws] == [[m.message_id] for m in messages]
    assert [m.payload_id for m in messages] == [r.payload_id for r in raws]
    assert raws[1].content_type == "application/rss+xml"
    assert b"jvdberg_zzp" in raws[1].body and b"Marloes_T" not in raws[1].body
    assert sample("socialcare_feed_items_total", feed="energieforum", outcome="taken") == (
        taken_before + 2
    )
    assert sample("socialcare_feed_polls_total", feed="energieforum", outcome="ok") == (
        polls_before + 1
    )


def test_conditional_gets_bring_only_new_posts(host: FeedHost) -> None:
    lm = "Tue, 05 Nov 2024 09:02:41 GMT"
    host.feeds["/energieforum.rss"] = Served(RSS, etag='W/"v1"', last_modified=lm)
    h = harness(host, forum_feed(host))
    h.poller.poll("energieforum")
    published = len(h.log.sent)

    unchanged = h.poller.poll("energieforum")

    assert unchanged.outcome is PollOutcome.NOT_MODIFIED
    assert h.host.requests[-1].headers["if-none-match"] == 'W/"v1"'
    assert h.host.requests[-1].headers["if-modified-since"] == lm
    assert len(h.log.sent) == published

    host.feeds["/energieforum.rss"] = with_new_post(
        "Energierekening na verhuizing?", 48230, etag='W/"v2"'
    )

    changed = h.poller.poll("energieforum")

    assert changed.outcome is PollOutcome.OK
    assert (changed.taken, changed.not_matching, changed.too_old) == (1, 0, 0)
    assert h.messages()[-1].external_id.endswith("topic-48230")
    assert len(h.raws()) == 3


def test_a_server_without_validators_does_not_make_posts_published_twice(host: FeedHost) -> None:
    host.feeds["/energieforum.rss"] = Served(RSS)
    h = harness(host, forum_feed(host))
    h.poller.poll("energieforum")
    published = len(h.log.sent)

    again = h.poller.poll("energieforum")

    assert again.outcome is PollOutcome.OK
    assert (again.taken, again.not_matching, again.too_old, again.duplicates) == (0, 0, 0, 0)
    assert "if-none-match" not in h.host.requests[-1].headers
    assert len(h.log.sent) == published


def test_a_post_ingested_before_a_restart_is_a_duplicate_not_a_second_message(
    host: FeedHost,
) -> None:
    host.feeds["/energieforum.rss"] = Served(RSS)
    log = MemoryLog(4)
    harness(host, forum_feed(host), log=log).poller.poll("energieforum")
    seen = SeenMessageIds(100)
    for record in log.sent:
        if record.topic == Topic.MESSAGES_RAW.value:
            seen.remember(decode(record, message_pb2.SocialMessage).message_id)
    restarted = FeedPoller(
        Ingestor(log, seen, clock=lambda: NOW),
        [(brand(forum_feed(host)), forum_feed(host))],
        clock=lambda: NOW,
    )

    report = restarted.poll("energieforum")

    assert (report.taken, report.duplicates) == (0, 2)
    assert len([r for r in log.sent if r.topic == Topic.MESSAGES_RAW.value]) == 2


def test_429_retry_after_in_seconds_is_honoured_before_the_next_request(host: FeedHost) -> None:
    host.feeds["/energieforum.rss"] = Served(RSS)
    host.faults["/energieforum.rss"] = [(429, {"Retry-After": "3600"})]
    h = harness(host, forum_feed(host))
    throttled_before = sample(
        "socialcare_feed_polls_total", feed="energieforum", outcome="throttled"
    )

    report = h.poller.poll("energieforum")

    assert report.outcome is PollOutcome.THROTTLED
    assert report.next_poll_in_s == 3600  # longer than the backoff (600 s)
    assert sample("socialcare_feed_polls_total", feed="energieforum", outcome="throttled") == (
        throttled_before + 1
    )
    h.monotonic.now += 3599
    assert h.poller.poll_due() == 1
    assert len(host.requested("/energieforum.rss")) == 1
    h.monotonic.now += 1
    assert h.poller.poll_due() == 300
    assert len(host.requested("/energieforum.rss")) == 2
    assert len(h.messages()) == 2


def test_503_retry_after_as_an_http_date_is_honoured(host: FeedHost) -> None:
    later = email.utils.format_datetime(NOW + timedelta(hours=2), usegmt=True)
    host.feeds["/energieforum.rss"] = Served(RSS)
    host.faults["/energieforum.rss"] = [(503, {"Retry-After": later})]
    h = harness(host, forum_feed(host))

    report = h.poller.poll("energieforum")

    assert report.outcome is PollOutcome.THROTTLED
    assert report.next_poll_in_s == 7200


def test_server_errors_back_off_exponentially_up_to_the_cap_and_reset_on_success(
    host: FeedHost,
) -> None:
    host.feeds["/energieforum.rss"] = Served(RSS)
    host.faults["/energieforum.rss"] = [(500, {})] * 4
    h = harness(host, forum_feed(host))
    delays = []

    for _ in range(5):
        report = h.poller.poll("energieforum")
        delays.append((report.outcome, report.next_poll_in_s))

    assert delays == [
        (PollOutcome.HTTP_ERROR, 600),
        (PollOutcome.HTTP_ERROR, 1200),
        (PollOutcome.HTTP_ERROR, 2400),
        (PollOutcome.HTTP_ERROR, 3600),  # the cap
        (PollOutcome.OK, 300),
    ]
    assert h.poller.poll("energieforum").next_poll_in_s == 300


def test_the_backoff_is_jittered_within_its_upper_half(host: FeedHost) -> None:
    host.faults["/energieforum.rss"] = [(500, {})]
    asked: list[tuple[float, float]] = []

    def lowest(low: float, high: float) -> float:
        asked.append((low, high))
        return low

    h = harness(host, forum_feed(host), jitter=lowest)

    assert h.poller.poll("energieforum").next_poll_in_s == 300
    assert asked == [(300, 600)]


def test_a_body_over_the_cap_is_not_read_to_the_end(host: FeedHost) -> None:
    host.feeds["/big.rss"] = Served(RSS)
    h = harness(host, feed("big", host.url("/big.rss")), max_body_bytes=1024)

    report = h.poller.poll("big")

    assert report.outcome is PollOutcome.TOO_LARGE
    assert h.messages() == []


def test_a_compressed_feed_is_inflated_and_a_compression_bomb_stops_at_the_cap(
    host: FeedHost,
) -> None:
    bomb = rss("<guid>x</guid><title>energielabel</title><description>" + " " * 50_000_000)
    host.feeds["/energieforum.rss"] = Served(RSS, gzip=True)
    host.feeds["/bomb.rss"] = Served(bomb, gzip=True)
    h = harness(host, forum_feed(host), feed("bomb", host.url("/bomb.rss")))

    assert h.poller.poll("energieforum").taken == 2
    assert host.requests[0].headers["accept-encoding"] == "gzip, deflate"
    assert h.poller.poll("bomb").outcome is PollOutcome.TOO_LARGE


@pytest.mark.parametrize(
    ("served", "outcome"),
    [
        (Served(b"<html><body>Onderhoud</body></html>", "text/html"), PollOutcome.INVALID),
        (Served(BILLION_LAUGHS), PollOutcome.INVALID),
    ],
)
def test_a_document_that_is_not_a_feed_is_an_invalid_poll(
    host: FeedHost, served: Served, outcome: PollOutcome
) -> None:
    host.feeds["/energieforum.rss"] = served
    h = harness(host, forum_feed(host))

    report = h.poller.poll("energieforum")

    assert report.outcome is outcome
    assert report.next_poll_in_s == 600
    assert report.detail is not None and report.detail.startswith("body:")


def test_a_missing_feed_and_an_unreachable_host_are_failures_not_crashes(host: FeedHost) -> None:
    gone = feed("gone", host.url("/gone.rss"))
    closed = feed("closed", "http://127.0.0.1:9/feed.rss")  # discard port: nothing listens
    h = harness(host, gone, closed)

    assert h.poller.poll("gone").outcome is PollOutcome.HTTP_ERROR
    assert h.poller.poll("gone").detail == "http_404"
    assert h.poller.poll("closed").outcome is PollOutcome.UNREACHABLE


def test_when_the_bus_fails_the_new_items_are_taken_by_a_later_poll(host: FeedHost) -> None:
    host.feeds["/energieforum.rss"] = Served(RSS, etag='"v1"')
    log = MemoryLog(4)
    producer = FailingProducer(log)
    producer.healthy = True
    h = harness(host, forum_feed(host), producer=producer, log=log)
    h.poller.poll("energieforum")
    host.feeds["/energieforum.rss"] = with_new_post(
        "Energielabel na verbouwing opnieuw aanvragen?", 48231, etag='"v2"'
    )
    producer.healthy = False

    failed = h.poller.poll("energieforum")

    assert failed.outcome is PollOutcome.BUS_ERROR
    assert failed.detail == "bus unavailable"
    assert len(h.messages()) == 2

    producer.healthy = True
    retried = h.poller.poll("energieforum")

    # The failed poll's validators were not kept: the server answers the full feed.
    assert host.requests[-1].headers["if-none-match"] == '"v1"'
    assert retried.outcome is PollOutcome.OK
    assert retried.taken == 1
    assert h.messages()[-1].external_id.endswith("topic-48231")


def test_a_feed_with_its_own_keywords_takes_only_those_posts(host: FeedHost) -> None:
    host.feeds["/blog.atom"] = Served(ATOM, "application/atom+xml")
    bread = feed("bread", host.url("/blog.atom"), keywords=["sourdough"], channel="blog")
    h = harness(host, bread, max_item_age_s=30 * 24 * 3600)

    report = h.poller.poll("bread")

    assert (report.taken, report.not_matching) == (1, 2)
    [message] = h.messages()
    assert message.text.startswith("Recipe: no-knead sourdough")
    assert message.channel == message_pb2.CHANNEL_BLOG


def test_poll_due_polls_each_feed_when_its_time_has_come(host: FeedHost) -> None:
    host.feeds["/fast.rss"] = Served(RSS)
    host.feeds["/slow.rss"] = Served(RSS)
    fast = feed("fast", host.url("/fast.rss"), every="1m")
    slow = feed("slow", host.url("/slow.rss"), every="10m")
    h = harness(host, fast, slow)

    assert h.poller.poll_due() == 60  # both polled at start; fast is next
    assert [r.path for r in host.requests] == ["/fast.rss", "/slow.rss"]
    h.monotonic.now += 60
    assert h.poller.poll_due() == 60
    h.monotonic.now += 59
    assert h.poller.poll_due() == 1
    assert [r.path for r in host.requests] == ["/fast.rss", "/slow.rss", "/fast.rss"]


def test_the_poller_thread_publishes_and_stops_on_request(host: FeedHost) -> None:
    host.feeds["/energieforum.rss"] = Served(RSS)
    log = MemoryLog(4)
    ingestor = Ingestor(log, SeenMessageIds(100), clock=lambda: NOW)
    poller = FeedPoller(ingestor, [(brand(forum_feed(host)), forum_feed(host))], clock=lambda: NOW)

    poller.start()
    try:
        for _ in range(500):  # waits for the first poll, not for a duration
            if len([r for r in log.sent if r.topic == Topic.MESSAGES_RAW.value]) == 2:
                break
            threading.Event().wait(0.01)
    finally:
        poller.stop()
        poller.join(10)

    assert len([r for r in log.sent if r.topic == Topic.MESSAGES_RAW.value]) == 2
    assert not poller._thread.is_alive()


def care(*brands: Brand) -> CareConfig:
    return load_care_config().model_copy(update={"brands": list(brands)})


def test_the_factory_builds_one_poller_for_every_feed_of_every_brand() -> None:
    ingestor = Ingestor(MemoryLog(4), SeenMessageIds(100))
    a = feed("forum-a", "https://a.example/f.rss")
    b = feed("forum-b", "https://b.example/f.rss")

    assert feed_pollers(ingestor, care()) is None  # the default brand lists no feeds
    assert feed_pollers(ingestor, care(brand())) is None
    poller = feed_pollers(ingestor, care(brand(a), brand(b, name="other")))
    assert poller is not None
    assert poller.name == "feeds"
    assert poller.feeds == ("forum-a", "forum-b")
    with pytest.raises(ValueError, match="feed name 'forum-a' is used twice"):
        feed_pollers(ingestor, care(brand(a), brand(a, name="other")))
    bad = Brand(name="bad", listening=Listening(keywords=["*"]), feeds=[a])
    with pytest.raises(ValueError, match="brand bad, feed forum-a"):
        feed_pollers(ingestor, care(bad))
