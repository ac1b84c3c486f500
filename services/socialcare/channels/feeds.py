"""Feeds: blogs, forums and news sites a brand listens to, polled as RSS, Atom or JSON Feed.

Most of what people write about an energy bill is not addressed to the energy agency: it
is a blog post or a forum thread (scenario 1). Those sites publish feeds, so the brand
lists them (`brands[].feeds`) and `FeedPoller` reads them on a schedule, keeps the posts
that match the brand's listening rules (`channels.listening`) and hands them to ingestion
like any other message (channel = the feed's channel, kind `post`).

Parsing (`parse_feed`) is pure and accepts RSS 2.0, Atom 1.0 (RFC 4287) and JSON Feed
1.0/1.1. The XML comes from the internet, so it is parsed with defusedxml: entity
declarations (billion laughs, external entities) are refused, never expanded. HTML in a
description or content is reduced to plain text by a tag-stripping parser that keeps no
markup, drops scripts and styles and decodes entities; links and media are only kept when
they are http(s). An item is mapped as follows:
- external_id: the guid / Atom id / JSON Feed id, else the link. An id that is not a URI
  ("1234") is only unique within its site, so it is prefixed with the site's host
  (`forum.example#1234`); one over 256 characters is replaced by its SHA-256.
- text: the title, a blank line, and the full content (content:encoded, Atom content,
  content_text / content_html) or else the summary (description, Atom summary, summary),
  as plain text, cut at 10,000 characters. Listening matches this text, so an agent sees
  the words that made the post a case.
- author: dc:creator / RSS author / Atom author / JSON Feed authors, else the feed's author
  or title; its id is the author's URI, or host + e-mail or name, so two sites' "Redactie"
  are two authors. Followers are unknown (0).
- created_at: pubDate (RFC 822), published / updated / dc:date, date_published /
  date_modified (RFC 3339); without a usable date, or with one in the future, the time of
  the poll. thread_id: the item itself (each post is its own conversation; a feed says
  nothing about threads), url: its link, language_hint: the item's or the feed's language,
  attachments: enclosures / JSON Feed attachments and image.
A feed that is not one of the three formats raises `PayloadError`; an item that cannot
become a message (no id, no text, an invalid field) is skipped with the reason, the others
are kept.

Polling (`FeedPoller`, one thread for every feed of every brand): a conditional GET
(If-None-Match / If-Modified-Since from the last 200's ETag / Last-Modified; 304 = nothing
new), a timeout and a cap on the decoded body (a gzip bomb stops at the cap), Retry-After
honoured on 429 and 503, and exponential backoff with jitter after any failure. New items
(not handed over before by this process) are judged in the order they were written: a
matching item younger than `max_item_age_s` (so adding a feed does not turn years of
archive into cases) goes to `Ingestor.ingest_batch` with the item as its raw payload
(`social.payloads.raw`, connector `feed/<name>`: the item's XML element re-serialised, whose
namespace prefixes may differ from the document's, or its JSON object), and the poll waits
until it is durable. If the bus fails, the poll stops there and is retried later without
this response's validators (they are kept only once every item was handed over), so no
item is lost; de-duplication of re-sent items is the ingestor's (message id from channel +
external id). The log says for each taken item which keyword matched.

After a restart every item still in a feed is judged again; items already ingested come
back as duplicates (not published again), but their raw payload is published once more
with the same payload id.

Metrics: `socialcare_feed_polls_total{feed, outcome}` and
`socialcare_feed_items_total{feed, outcome}`.
"""

from __future__ import annotations

import collections
import email.utils
import hashlib
import json
import logging
import random
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring, tostring
from prometheus_client import Counter
from pydantic import ValidationError

from socialcare import __version__
from socialcare.channels.listening import ListeningRules
from socialcare.channels.parsed import PayloadError
from socialcare.core.bus import BusError
from socialcare.core.clock import Clock, to_timestamp, utc_now
from socialcare.core.domain.brands import Brand, Feed
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.events import derived_id
from socialcare.ingestion.ingestor import Ingestor
from socialcare.ingestion.models import (
    MAX_ATTACHMENTS,
    MAX_ID_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_URL_LENGTH,
    MessageCreate,
)
from socialcare.v1 import delivery_pb2

log = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
JSON_FEED_VERSION = "https://jsonfeed.org/version/"

RSS_CONTENT_TYPE = "application/rss+xml"
ATOM_CONTENT_TYPE = "application/atom+xml"
JSON_FEED_CONTENT_TYPE = "application/feed+json"
ACCEPT = (
    f"{RSS_CONTENT_TYPE}, {ATOM_CONTENT_TYPE}, {JSON_FEED_CONTENT_TYPE}, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.9, */*;q=0.1"
)

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
# One item is one record on social.payloads.raw; Kafka's default record limit is 1 MB.
MAX_RAW_ITEM_BYTES = 512 * 1024
DEFAULT_TIMEOUT_S = 20.0
DEFAULT_MAX_ITEM_AGE_S = 7 * 24 * 3600.0
DEFAULT_MAX_BACKOFF_S = 3600.0
MAX_RETRY_AFTER_S = 24 * 3600.0
MIN_INTERVAL_S = 1.0
# Items remembered per feed as handed over; a feed lists far fewer at a time.
REMEMBERED_ITEMS = 10_000

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_RSS_AUTHOR = re.compile(r"^\s*(?P<email>[^\s()]+@[^\s()]+)\s*(?:\((?P<name>[^)]*)\))?\s*$")

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


# --- parsing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One item as a message, with the item as found in the feed (for the audit)."""

    message: MessageCreate
    raw: bytes
    content_type: str


@dataclass
class ParsedFeed:
    format: str  # "rss", "atom" or "json"
    items: list[FeedItem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class _Entry:
    """An item in the terms the three formats share, before it becomes a message."""

    index: int
    scope: str  # the site's host: what makes a bare id ("1234") unique
    id: str | None
    url: str | None
    title: str
    body: str
    author_name: str | None
    author_key: str | None
    published: datetime | None
    language: str | None
    attachments: list[dict[str, str]]
    raw: bytes


def parse_feed(body: bytes, *, feed: Feed, brand: str, now: datetime) -> ParsedFeed:
    """The items of an RSS 2.0, Atom 1.0 or JSON Feed document as messages for `brand` on
    `feed.channel`. Raises PayloadError (field `body`, `rss.channel`, `items`, ...) when
    the document is none of these; skips (with the reason) items that cannot be messages.
    """
    try:
        start = body.lstrip(b"\xef\xbb\xbf \t\r\n")
        if start[:1] in (b"{", b"["):
            return _to_feed("json", _json_entries(body, feed.url), feed, brand, now)
        try:
            root = fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
        except DefusedXmlException as exc:
            raise PayloadError("body", f"refused XML ({type(exc).__name__}): {exc}") from None
        except ParseError as exc:
            raise PayloadError("body", f"neither JSON nor well-formed XML: {exc}") from None
        if root.tag == "rss":
            return _to_feed("rss", _rss_entries(root, feed.url), feed, brand, now)
        if root.tag == f"{{{ATOM_NS}}}feed":
            return _to_feed("atom", _atom_entries(root, feed.url), feed, brand, now)
        raise PayloadError("body", f"<{root.tag}> is not an RSS 2.0 or Atom 1.0 feed")
    except RecursionError:
        raise PayloadError("body", "nested too deeply") from None


def _to_feed(
    kind: str,
    entries: Iterable[_Entry | str],
    feed: Feed,
    brand: str,
    now: datetime,
) -> ParsedFeed:
    content_type = {
        "rss": RSS_CONTENT_TYPE,
        "atom": ATOM_CONTENT_TYPE,
        "json": JSON_FEED_CONTENT_TYPE,
    }[kind]
    parsed = ParsedFeed(kind)
    for entry in entries:
        if isinstance(entry, str):
            parsed.skipped.append(entry)
            continue
        message = _message(entry, feed, brand, now)
        if isinstance(message, str):
            parsed.skipped.append(f"item {entry.index}: {message}")
        elif len(entry.raw) > MAX_RAW_ITEM_BYTES:
            parsed.skipped.append(
                f"item {entry.index}: {len(entry.raw)} bytes, over {MAX_RAW_ITEM_BYTES}"
            )
        else:
            parsed.items.append(FeedItem(message, entry.raw, content_type))
    return parsed


def _message(entry: _Entry, feed: Feed, brand: str, now: datetime) -> MessageCreate | str:
    """The entry as a message, or why it cannot be one."""
    external_id = _scoped_id(entry.id or entry.url, entry.scope)
    if external_id is None:
        return "no id and no link"
    parts = [entry.title] if entry.title else []
    if entry.body and entry.body != entry.title:
        parts.append(entry.body)
    text = _cut("\n\n".join(parts), MAX_TEXT_LENGTH)
    if not text:
        return "no title and no text"
    author_name = entry.author_name or None
    author_id = _scoped_id(entry.author_key or author_name or feed.name, entry.scope, sep="/")
    created_at = entry.published if entry.published and entry.published <= now else now
    language = entry.language if entry.language and _LANGUAGE.match(entry.language) else None
    try:
        return MessageCreate.model_validate(
            {
                "channel": feed.channel,
                "kind": "post",
                "external_id": external_id,
                "thread_id": external_id,
                "author": {"id": author_id, "name": _cut(author_name or "", MAX_ID_LENGTH)},
                "text": text,
                "created_at": created_at,
                "brand": brand,
                "url": entry.url,
                "language_hint": language,
                "attachments": entry.attachments[:MAX_ATTACHMENTS],
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}"


def _scoped_id(value: str | None, scope: str, *, sep: str = "#") -> str | None:
    """A channel-wide id: a URI as it is, anything else prefixed with the site's host
    (`scope`); a too long one replaced by its hash."""
    value = (value or "").strip()
    if not value:
        return None
    if not _URI_SCHEME.match(value):
        value = f"{scope}{sep}{value}"
    if len(value) > MAX_ID_LENGTH:
        value = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return value


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _cut(text: str, limit: int) -> str:
    """`text` of at most `limit` characters, cut at a word with an ellipsis if needed."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _http_url(value: str | None, base: str) -> str | None:
    """An absolute http(s) URL (relative ones resolved against the feed), else None: a
    `javascript:` link must never reach an agent's screen."""
    if not value or not value.strip():
        return None
    url = urljoin(base, value.strip())
    if urlsplit(url).scheme not in ("http", "https") or len(url) > MAX_URL_LENGTH:
        return None
    return url


def _attachment(
    url: str | None, mime_type: str | None, base: str, kind: str | None = None
) -> dict[str, str] | None:
    """An attachment of type image, video, audio or file (by its MIME type)."""
    resolved = _http_url(url, base)
    if resolved is None:
        return None
    mime = (mime_type or "").strip().lower()
    major = mime.split("/", 1)[0]
    kind = kind or (major if major in ("image", "video", "audio") else "file")
    attachment = {"type": kind, "url": resolved}
    if mime and len(mime) <= 128:
        attachment["mime_type"] = mime
    return attachment


# HTML to text.

# fmt: off
_BLOCKS = frozenset((
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
    "p", "pre", "section", "table", "td", "th", "tr", "ul",
))
_HIDDEN = frozenset((
    "head", "script", "style", "template", "noscript", "iframe", "object", "svg", "math",
))
# fmt: on


class _TextOnly(HTMLParser):
    """Collects the text a reader would see; keeps no markup and runs nothing."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags removed, entities decoded, scripts and styles
    dropped, paragraphs kept as blank-line-separated blocks."""
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    return _tidy("".join(parser.parts))


def _tidy(text: str) -> str:
    """White space collapsed within lines; at most one blank line between paragraphs."""
    lines = [" ".join(line.split()) for line in text.replace("\r", "\n").split("\n")]
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return "\n\n".join(paragraphs)


# Dates.


def _rfc822(value: str | None) -> datetime | None:
    if not value or not value.strip():
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return _rfc3339(value)  # some RSS feeds write ISO dates in pubDate
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rfc3339(value: str | None) -> datetime | None:
    if not value or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# RSS 2.0.


def _text(element: Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _rss_entries(root: Element, feed_url: str) -> Iterator[_Entry | str]:
    channel = root.find("channel")
    if channel is None:
        raise PayloadError("rss.channel", "missing: an RSS 2.0 document has one <channel>")
    feed_title = html_to_text(_text(channel.find("title"))) or None
    language = _text(channel.find("language")) or None
    base = _http_url(_text(channel.find("link")), feed_url) or feed_url
    for index, item in enumerate(channel.findall("item")):
        guid = item.find("guid")
        link = _http_url(_text(item.find("link")), base)
        if link is None and guid is not None and guid.get("isPermaLink", "true") == "true":
            link = _http_url(_text(guid), "")  # only an absolute URL is a permalink
        content = _text(item.find(f"{{{CONTENT_NS}}}encoded"))
        summary = _text(item.find("description"))
        name, key = _rss_author(item)
        yield _Entry(
            index=index,
            scope=_host(base),
            id=_text(guid) or None,
            url=link,
            title=html_to_text(_text(item.find("title"))),
            body=html_to_text(content or summary),
            author_name=name or feed_title,
            author_key=key,
            published=_rfc822(_text(item.find("pubDate")))
            or _rfc3339(_text(item.find(f"{{{DC_NS}}}date"))),
            language=_text(item.find(f"{{{DC_NS}}}language")) or language,
            attachments=[
                a
                for e in item.findall("enclosure")
                if (a := _attachment(e.get("url"), e.get("type"), base)) is not None
            ],
            raw=tostring(item, encoding="utf-8"),
        )


def _rss_author(item: Element) -> tuple[str | None, str | None]:
    """(name, e-mail) from dc:creator or RSS's `author` ("jan@example.nl (Jan Jansen)")."""
    creator = _text(item.find(f"{{{DC_NS}}}creator"))
    if creator:
        return creator, None
    author = _text(item.find("author"))
    if not author:
        return None, None
    match = _RSS_AUTHOR.match(author)
    if match is None:
        return author, None
    return (match.group("name") or "").strip() or None, match.group("email")


# Atom 1.0.


def _atom(tag: str) -> str:
    return f"{{{ATOM_NS}}}{tag}"


def _atom_text(element: Element | None) -> str:
    """An Atom text construct as plain text (type text, html or xhtml); out-of-line
    content (`src`) has none."""
    if element is None or element.get("src"):
        return ""
    kind = element.get("type", "text")
    if kind == "xhtml":
        parts: list[str] = []
        for child in element:
            _xhtml_text(child, parts)
        return _tidy("".join(parts))
    if kind in ("html", "text/html"):
        return html_to_text(_text(element))
    return _tidy(_text(element))


def _xhtml_text(element: Element, parts: list[str]) -> None:
    """The text of inline XHTML (Atom `type="xhtml"`), blocks on their own lines."""
    local = element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""
    block = local in _BLOCKS
    if block:
        parts.append("\n")
    if local not in _HIDDEN:
        parts.append(element.text or "")
        for child in element:
            _xhtml_text(child, parts)
    if block:
        parts.append("\n")
    parts.append(element.tail or "")


def _atom_person(entry: Element | None) -> tuple[str | None, str | None]:
    if entry is None:
        return None, None
    for author in entry.findall(_atom("author")):
        name = _text(author.find(_atom("name"))) or None
        key = _text(author.find(_atom("uri"))) or _text(author.find(_atom("email"))) or None
        if name or key:
            return name, key
    return None, None


def _atom_entries(root: Element, feed_url: str) -> Iterator[_Entry | str]:
    feed_title = _atom_text(root.find(_atom("title"))) or None
    feed_author = _atom_person(root)
    feed_language = root.get(XML_LANG)
    site = feed_url
    for element in root.findall(_atom("link")):
        if element.get("rel", "alternate") == "alternate":
            site = _http_url(element.get("href"), feed_url) or feed_url
            break
    for index, entry in enumerate(root.findall(_atom("entry"))):
        link: str | None = None
        attachments: list[dict[str, str]] = []
        for element in entry.findall(_atom("link")):
            rel = element.get("rel", "alternate")
            if rel == "alternate" and link is None:
                link = _http_url(element.get("href"), feed_url)
            elif rel == "enclosure":
                attachment = _attachment(element.get("href"), element.get("type"), feed_url)
                if attachment is not None:
                    attachments.append(attachment)
        name, key = _atom_person(entry)
        if not (name or key):
            name, key = _atom_person(entry.find(_atom("source")))
        if not (name or key):
            name, key = feed_author
        yield _Entry(
            index=index,
            scope=_host(site),
            id=_text(entry.find(_atom("id"))) or None,
            url=link,
            title=_atom_text(entry.find(_atom("title"))),
            body=_atom_text(entry.find(_atom("content")))
            or _atom_text(entry.find(_atom("summary"))),
            author_name=name or (None if key else feed_title),
            author_key=key,
            published=_rfc3339(_text(entry.find(_atom("published"))))
            or _rfc3339(_text(entry.find(_atom("updated")))),
            language=entry.get(XML_LANG) or feed_language,
            attachments=attachments,
            raw=tostring(entry, encoding="utf-8"),
        )


# JSON Feed 1.0 / 1.1.


def _json_entries(body: bytes, feed_url: str) -> Iterator[_Entry | str]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadError("body", f"invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadError("body", "a JSON Feed is an object")
    version = document.get("version")
    if not isinstance(version, str) or not version.startswith(JSON_FEED_VERSION):
        raise PayloadError("version", f"must start with {JSON_FEED_VERSION}")
    items = document.get("items")
    if not isinstance(items, list):
        raise PayloadError("items", "must be a list")
    feed_title = _string(document.get("title"))
    feed_author = _json_person(document)
    feed_language = _string(document.get("language"))
    base = _http_url(_string(document.get("home_page_url")), feed_url) or feed_url
    return _json_items(items, base, feed_title, feed_author, feed_language)


def _json_items(
    items: list[Any],
    base: str,
    feed_title: str | None,
    feed_author: tuple[str | None, str | None],
    feed_language: str | None,
) -> Iterator[_Entry | str]:
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            yield f"items.{index}: not an object"
            continue
        raw_id = item.get("id")
        # JSON Feed says a string; version 1.0 feeds in the wild also send numbers.
        item_id = str(raw_id) if isinstance(raw_id, str | int) and raw_id != "" else None
        text = _string(item.get("content_text"))
        body = _tidy(text) if text else html_to_text(_string(item.get("content_html")) or "")
        if not body:
            body = _tidy(_string(item.get("summary")) or "")
        name, key = _json_person(item)
        if not (name or key):
            name, key = feed_author
        attachments = [
            a
            for entry in _list(item.get("attachments"))
            if isinstance(entry, dict)
            and (a := _attachment(_string(entry.get("url")), _string(entry.get("mime_type")), base))
            is not None
        ]
        image = _attachment(_string(item.get("image")), None, base, kind="image")
        if image is not None:
            attachments.insert(0, image)
        yield _Entry(
            index=index,
            scope=_host(base),
            id=item_id,
            url=_http_url(_string(item.get("url")), base),
            title=_tidy(_string(item.get("title")) or ""),
            body=body,
            author_name=name or (None if key else feed_title),
            author_key=key,
            published=_rfc3339(_string(item.get("date_published")))
            or _rfc3339(_string(item.get("date_modified"))),
            language=_string(item.get("language")) or feed_language,
            attachments=attachments,
            raw=json.dumps(item, ensure_ascii=False).encode(),
        )


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _json_person(holder: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(name, url) of the first author: `authors` (1.1) or `author` (1.0)."""
    people = [*_list(holder.get("authors")), holder.get("author")]
    for person in people:
        if isinstance(person, dict):
            name, url = _string(person.get("name")), _string(person.get("url"))
            if name or url:
                return name, url
    return None, None


# --- polling ---------------------------------------------------------------------------


class PollOutcome(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    THROTTLED = "throttled"
    HTTP_ERROR = "http_error"
    UNREACHABLE = "unreachable"
    TOO_LARGE = "too_large"
    INVALID = "invalid"
    BUS_ERROR = "bus_error"
    ERROR = "error"


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


class _PollError(Exception):
    """A poll that got no feed: its outcome, what happened, and a Retry-After if any."""

    def __init__(self, outcome: PollOutcome, detail: str, retry_after_s: float | None = None):
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class _Fetched:
    body: bytes
    etag: str | None
    last_modified: str | None


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
        self._client = client or httpx.Client(
            follow_redirects=True,
            max_redirects=5,
            headers={"User-Agent": f"socialcare/{__version__} (feed listening)"},
        )
        self._clock = clock
        self._monotonic = monotonic
        self._jitter = jitter
        self._max_body_bytes = max_body_bytes
        self._timeout_s = timeout_s
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
        except _PollError as failure:
            report = self._failed(state, started, failure)
        except Exception as exc:  # a bug must not stop the other feeds
            log.exception("feed poll failed", extra={"feed": state.feed.name})
            report = self._failed(state, started, _PollError(PollOutcome.ERROR, repr(exc)))
        FEED_POLLS.labels(state.feed.name, report.outcome.value).inc()
        return report

    def _failed(self, state: _FeedState, started: float, failure: _PollError) -> PollReport:
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
        fetched = self._fetch(state)
        if fetched is None:
            state.failures = 0
            state.due = started + state.interval_s
            return PollReport(state.feed.name, PollOutcome.NOT_MODIFIED, state.interval_s)
        try:
            parsed = parse_feed(fetched.body, feed=state.feed, brand=state.brand, now=received_at)
        except PayloadError as exc:
            raise _PollError(PollOutcome.INVALID, str(exc)) from None
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
            raise _PollError(PollOutcome.BUS_ERROR, str(exc)) from None
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

    def _fetch(self, state: _FeedState) -> _Fetched | None:
        """The feed's body, or None when unchanged (304). Raises _PollError."""
        headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        deadline = self._monotonic() + self._timeout_s
        try:
            with self._client.stream(
                "GET", state.feed.url, headers=headers, timeout=self._timeout_s
            ) as response:
                status = response.status_code
                if status == 304:
                    return None
                if status in (429, 503):
                    raise _PollError(
                        PollOutcome.THROTTLED,
                        f"http_{status}",
                        self._retry_after(response.headers.get("Retry-After")),
                    )
                if not 200 <= status < 300:
                    raise _PollError(PollOutcome.HTTP_ERROR, f"http_{status}")
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self._max_body_bytes:
                    raise _PollError(PollOutcome.TOO_LARGE, f"Content-Length {declared}")
                body = bytearray()
                for chunk in _decoded(response, self._max_body_bytes):
                    body += chunk
                    if len(body) > self._max_body_bytes:
                        raise _PollError(
                            PollOutcome.TOO_LARGE, f"over {self._max_body_bytes} bytes"
                        )
                    if self._monotonic() > deadline:
                        raise _PollError(
                            PollOutcome.UNREACHABLE, f"slower than {self._timeout_s:g} s"
                        )
                return _Fetched(
                    bytes(body),
                    response.headers.get("ETag"),
                    response.headers.get("Last-Modified"),
                )
        except httpx.HTTPError as exc:
            raise _PollError(PollOutcome.UNREACHABLE, f"{type(exc).__name__}: {exc}") from None

    def _retry_after(self, value: str | None) -> float | None:
        """Retry-After in seconds: a number of seconds or an HTTP date."""
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, (moment - self._clock()).total_seconds())


def _decoded(response: httpx.Response, limit: int) -> Iterator[bytes]:
    """The body decoded (gzip, deflate) at most `limit` + 1 bytes at a time, so the
    caller's cap stops a compression bomb before it is inflated. Raises _PollError for an
    encoding we did not ask for."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        yield from response.iter_raw()
        return
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflater = zlib.decompressobj()
    else:
        raise _PollError(PollOutcome.INVALID, f"unsupported Content-Encoding {encoding!r}")
    try:
        for data in response.iter_raw():
            while data:
                yield inflater.decompress(data, limit + 1)
                data = inflater.unconsumed_tail
        yield inflater.flush()
    except zlib.error as exc:
        raise _PollError(PollOutcome.INVALID, f"corrupt {encoding} body: {exc}") from None


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
