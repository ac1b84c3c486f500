"""Feeds: RSS 2.0, Atom 1.0 and JSON Feed items as messages, and the poller against a local
HTTP server that plays the feed hosts (ETag / Last-Modified, 429 with Retry-After, 500s,
oversized and compressed bodies), handing matching items to a real Ingestor.

Fixtures (tests/fixtures/feeds) are a Dutch energy forum (RSS 2.0 with dc:creator and
content:encoded), an English household-energy blog (Atom, html and xhtml content) and a
German energy-advice forum (JSON Feed 1.1) with posts about energy bills, labels and
subsidies and some that must not match.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from socialcare.channels.feeds import (
    MAX_RAW_ITEM_BYTES,
    FeedPoller,
    PollOutcome,
    feed_pollers,
    html_to_text,
    parse_feed,
)
from socialcare.channels.parsed import PayloadError
from socialcare.core.bus import BusError, Headers, Producer
from socialcare.core.bus.base import Delivery
from socialcare.core.domain.brands import Brand, Feed, Listening
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.topics import Topic
from socialcare.core.events import decode
from socialcare.ingestion.dedupe import SeenMessageIds
from socialcare.ingestion.ingestor import Ingestor
from socialcare.ingestion.models import MAX_TEXT_LENGTH
from socialcare.v1 import delivery_pb2, message_pb2
from tests.unit.memory_log import MemoryLog
from tests.unit.metrics import sample

FIXTURES = Path(__file__).parents[2] / "fixtures" / "feeds"
NOW = datetime(2024, 11, 6, 12, 0, tzinfo=UTC)
RSS = (FIXTURES / "energieforum-nl.rss.xml").read_bytes()
ATOM = (FIXTURES / "home-energy-blog.atom.xml").read_bytes()
JSON_FEED = (FIXTURES / "energieberatung-de.feed.json").read_bytes()

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


def feed(
    name: str = "energieforum", url: str = "https://www.energieforum.example/f.rss", **extra: Any
) -> Feed:
    return Feed.model_validate({"name": name, "url": url, "channel": "forum", **extra})


def brand(*feeds: Feed, name: str = "energieloket") -> Brand:
    return Brand(name=name, listening=LISTENING, feeds=list(feeds))


# --- parsing ---------------------------------------------------------------------------


def test_rss_items_become_forum_posts_with_author_date_link_language_and_enclosures() -> None:
    parsed = parse_feed(RSS, feed=feed(), brand="energieloket", now=NOW)

    assert parsed.format == "rss"
    assert parsed.skipped == []
    first, second = parsed.items[0].message, parsed.items[1].message
    assert first.channel == "forum"
    assert first.kind == "post"
    assert first.brand == "energieloket"
    # A guid that is not a URI is only unique on its site: scoped by the site's host.
    assert first.external_id == "www.energieforum.example#energieforum.example-topic-48213"
    assert first.thread_id == first.external_id
    assert first.author.id == "www.energieforum.example/jvdberg_zzp"
    assert first.author.name == "jvdberg_zzp"
    assert first.author.followers == 0
    assert first.created_at == datetime(2024, 11, 5, 8, 14, 3, tzinfo=UTC)
    assert first.language_hint == "nl-NL"
    assert first.url == (
        "https://www.energieforum.example/t/energierekening-veel-hoger-dan-verwacht/48213"
    )
    # A relative link is resolved against the channel's link.
    assert (
        second.url == "https://www.energieforum.example/t/isde-subsidie-warmtepomp-aanvraag/48190"
    )
    assert [a.model_dump(exclude_none=True) for a in second.attachments] == [
        {
            "type": "file",
            "url": "https://www.energieforum.example/uploads/offerte.pdf",
            "mime_type": "application/pdf",
        }
    ]
    assert parsed.items[0].content_type == "application/rss+xml"
    assert b"<title>Energierekening veel hoger dan verwacht" in parsed.items[0].raw


def test_rss_text_is_the_title_and_the_full_content_as_plain_text_without_scripts() -> None:
    [first, second, *_] = parse_feed(RSS, feed=feed(), brand="b", now=NOW).items

    assert first.message.text == (
        "Energierekening veel hoger dan verwacht \u2013 wat is mijn energielabel?\n\n"
        "Ik werk als zzp'er vanuit huis en mijn jaarafrekening is € 1.240 hoger dan "
        "verwacht.\n\nTwee vragen:\n\n"
        "Hoe kom ik erachter wat het energielabel van mijn woning is?\n\n"
        "Kan ik subsidie krijgen voor spouwmuurisolatie?\n\nAlvast bedankt!"
    )
    assert "document.cookie" not in first.message.text
    # Without content:encoded the description is the body.
    assert second.message.text.endswith("Nog niets gehoord. Is dat normaal?")


def test_atom_entries_with_html_and_xhtml_content_and_the_feed_author_as_fallback() -> None:
    blog = feed("home-energy", "https://homeenergynotes.example/feed.atom", channel="blog")

    parsed = parse_feed(ATOM, feed=blog, brand="energieloket", now=NOW)

    assert parsed.format == "atom"
    doubled, epc, sourdough = (item.message for item in parsed.items)
    assert doubled.channel == "blog"
    assert doubled.external_id == "tag:homeenergynotes.example,2024-11-05:/energy-bill-doubled"
    assert doubled.text == (
        "Why my energy bill doubled & what I\u2019m doing about it\n\n"
        "The direct debit went from £96 to £190 a month.\n\n"
        "Is there a grant or subsidy for loft insulation, and where do I find my flat's "
        "energy-label?"
    )
    assert doubled.created_at == datetime(2024, 11, 5, 8, 30, tzinfo=UTC)  # published
    assert doubled.author.id == "https://homeenergynotes.example/about"  # the feed's author
    assert doubled.author.name == "Priya Shah"
    assert doubled.language_hint == "en-GB"
    assert doubled.attachments[0].type == "image"
    assert doubled.attachments[0].mime_type == "image/jpeg"
    assert epc.text == (
        "Do I need an Energy Performance Certificate to sell my flat?\n\n"
        "Our estate agent says we need an energy label before listing.\n\nGuest post by Tom."
    )
    assert epc.created_at == datetime(2024, 11, 2, 19, 12, 44, tzinfo=UTC)  # updated
    assert epc.author.name == "Tom Okafor"
    assert epc.author.id == "homeenergynotes.example/tom@homeenergynotes.example"
    assert epc.url == "https://homeenergynotes.example/2024/11/epc-to-sell"
    assert sourdough.text.startswith("Recipe: no-knead sourdough")
    assert parsed.items[0].content_type == "application/atom+xml"


def test_json_feed_items_with_authors_attachments_numeric_ids_and_a_broken_item() -> None:
    forum = feed("energieberatung", "https://forum.energieberatung.example/feed.json")

    parsed = parse_feed(JSON_FEED, feed=forum, brand="energieloket", now=NOW)

    assert parsed.format == "json"
    assert parsed.skipped == ["items.3: not an object"]
    foerderung, forderung, ausweis = (item.message for item in parsed.items)
    assert foerderung.external_id == "https://forum.energieberatung.example/thread/9921"
    assert foerderung.author.id == "https://forum.energieberatung.example/user/sabine-k"
    assert foerderung.author.name == "Sabine K."
    assert foerderung.language_hint == "de-DE"
    assert "Unsere Stromrechnung ist explodiert." in foerderung.text
    assert "<b>" not in foerderung.text
    assert foerderung.attachments[0].mime_type == "application/pdf"
    assert forderung.text.endswith("Ist das rechtens?")  # content_text as it is
    assert forderung.author.id == "forum.energieberatung.example/mieter_hh"
    # A 1.0-style numeric id, no title, no author (the feed's), the item's own language.
    assert ausweis.external_id == "forum.energieberatung.example#9915"
    assert ausweis.text.startswith("Kurze Frage: gilt der ENERGIEAUSWEIS")
    assert ausweis.author.name == "Forum-Team"
    assert ausweis.language_hint == "de"
    assert ausweis.created_at == datetime(2024, 11, 4, 9, 3, tzinfo=UTC)  # date_modified
    assert [a.type for a in ausweis.attachments] == ["image"]
    assert json.loads(parsed.items[2].raw)["id"] == 9915
    assert parsed.items[0].content_type == "application/feed+json"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<rss version="2.0"><channel><title>&lol4;</title></channel></rss>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><item><title>&secret;</title><guid>1</guid></item></channel></rss>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "xxe"])
def test_entity_declarations_are_refused_not_expanded(body: bytes) -> None:
    with pytest.raises(PayloadError) as refused:
        parse_feed(body, feed=feed(), brand="b", now=NOW)

    assert refused.value.field == "body"
    assert "EntitiesForbidden" in refused.value.reason


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"<!doctype html><html><body>Not a feed</body></html>", "body"),
        (b"<html><body>Not a feed</body></html>", "body"),
        (b'<rss version="2.0"></rss>', "rss.channel"),
        (b"<rss><channel><item>", "body"),
        (b'{"title": "no version", "items": []}', "version"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "items"),
        (b"[1, 2, 3]", "body"),
        (b"{not json", "body"),
        (b"[" * 100_000 + b"]" * 100_000, "body"),
    ],
)
def test_a_document_that_is_not_a_feed_names_what_is_wrong(body: bytes, field: str) -> None:
    with pytest.raises(PayloadError) as refused:
        parse_feed(body, feed=feed(), brand="b", now=NOW)

    assert refused.value.field == field


def rss(*items: str, language: str = "nl") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Forum</title><link>https://forum.example/</link><language>{language}</language>"
        + "".join(f"<item>{item}</item>" for item in items)
        + "</channel></rss>"
    ).encode()


def test_items_that_cannot_be_messages_are_skipped_with_the_reason_and_the_rest_kept() -> None:
    body = rss(
        "<title>Geen id, geen link</title>",
        "<guid>no-text</guid>",
        "<guid>ok</guid><title>Energielabel?</title>",
        f"<guid>huge</guid><title>groot</title><description>{'x' * MAX_RAW_ITEM_BYTES}"
        "</description>",
    )

    parsed = parse_feed(body, feed=feed(), brand="b", now=NOW)

    assert [i.message.external_id for i in parsed.items] == ["forum.example#ok"]
    assert parsed.skipped[:2] == ["item 0: no id and no link", "item 1: no title and no text"]
    assert parsed.skipped[2].startswith("item 3: ") and "bytes, over" in parsed.skipped[2]


def test_dates_links_and_ids_are_made_safe() -> None:
    body = rss(
        "<guid>future</guid><title>t</title><pubDate>Sat, 01 Jan 2031 10:00:00 GMT</pubDate>"
        "<link>javascript:alert(1)</link>",
        "<guid>no-date</guid><title>t</title><pubDate>gisteren</pubDate>",
        "<guid>iso</guid><title>t</title><pubDate>2024-11-05T09:14:03+01:00</pubDate>",
        f"<link>https://forum.example/{'p' * 300}</link><title>t</title>",
        "<guid isPermaLink='true'>https://forum.example/t/1</guid><title>t</title>",
        "<guid>author</guid><title>t</title><author>jan@forum.example (Jan Jansen)</author>",
        language="nonsense language",
    )

    future, undated, iso, long_link, permalink, author = (
        i.message for i in parse_feed(body, feed=feed(), brand="b", now=NOW).items
    )

    assert future.created_at == NOW  # never after the poll
    assert future.url is None  # only http(s) links reach an agent's screen
    assert undated.created_at == NOW
    assert iso.created_at == datetime(2024, 11, 5, 8, 14, 3, tzinfo=UTC)
    assert iso.language_hint is None  # not a language tag
    assert long_link.external_id.startswith("sha256:")
    assert long_link.url is not None and long_link.url.endswith("p" * 300)
    assert permalink.url == "https://forum.example/t/1"
    assert permalink.external_id == "https://forum.example/t/1"
    assert author.author.name == "Jan Jansen"
    assert author.author.id == "forum.example/jan@forum.example"


def test_a_long_post_is_cut_at_a_word_to_the_message_limit() -> None:
    body = rss(
        f"<guid>long</guid><title>Energielabel</title><description>{'woord ' * 3000}</description>"
    )

    [item] = parse_feed(body, feed=feed(), brand="b", now=NOW).items

    assert len(item.message.text) <= MAX_TEXT_LENGTH
    assert item.message.text.endswith("woord…")


def test_html_to_text_keeps_what_a_reader_sees() -> None:
    html = (
        "<h2>Vraag</h2><p>Mijn <a href='x'>energie&shy;label</a> is &lt;C&gt; &amp; ik "
        "wil&nbsp;subsidie.<br>Tweede regel</p><style>p{}</style><script>alert(1)</script>"
        "<ul><li>een</li><li>twee</li></ul>"
    )

    assert html_to_text(html) == (
        "Vraag\n\nMijn energie\u00adlabel is <C> & ik wil\u00a0subsidie.\nTweede regel"
        "\n\neen\n\ntwee"
    ).replace("\u00a0", " ")


# --- polling ---------------------------------------------------------------------------


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

    new_post = (
        b"<item><title>Energierekening na verhuizing?</title>"
        b"<guid isPermaLink='false'>energieforum.example-topic-48230</guid>"
        b"<pubDate>Wed, 06 Nov 2024 08:00:00 +0100</pubDate></item>"
    )
    host.feeds["/energieforum.rss"] = Served(
        RSS.replace(b"<item>", new_post + b"<item>", 1), etag='W/"v2"'
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
    new_post = (
        b"<item><title>Energielabel na verbouwing opnieuw aanvragen?</title>"
        b"<guid isPermaLink='false'>energieforum.example-topic-48231</guid>"
        b"<pubDate>Wed, 06 Nov 2024 08:00:00 +0100</pubDate></item>"
    )
    host.feeds["/energieforum.rss"] = Served(
        RSS.replace(b"<item>", new_post + b"<item>", 1), etag='"v2"'
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
