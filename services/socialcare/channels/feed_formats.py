"""Feed formats: an RSS 2.0, Atom 1.0 (RFC 4287) or JSON Feed 1.0/1.1 document as messages.

A feed is the way a blog, forum or news site publishes its posts (`channels.feeds` polls
them). This module is pure: bytes and the feed's configuration in, items out; no I/O, no
clock (the caller passes `now`), so every rule below is tested on fixtures alone.

The XML comes from the internet, so it is parsed with defusedxml: entity declarations
(billion laughs, external entities) are refused, never expanded. HTML in a description or
content is reduced to plain text by a tag-stripping parser that keeps no markup, drops
scripts and styles and decodes entities; links and media are only kept when they are
http(s). An item is mapped as follows:
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
  date_modified (RFC 3339); without a usable date, or with one in the future, `now` (the
  time of the poll). thread_id: the item itself (each post is its own conversation; a feed
  says nothing about threads), url: its link, language_hint: the item's or the feed's
  language, attachments: enclosures / JSON Feed attachments and image.
- raw: the item as found, for the audit (`social.payloads.raw`): its XML element
  re-serialised, whose namespace prefixes may differ from the document's, or its JSON
  object. An item whose raw form is over `MAX_RAW_ITEM_BYTES` is skipped.
A document that is not one of the three formats raises `PayloadError`; an item that cannot
become a message (no id, no text, an invalid field) is skipped with the reason, the others
are kept.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring, tostring
from pydantic import ValidationError

from socialcare.channels.parsed import PayloadError
from socialcare.core.domain.brands import Feed
from socialcare.ingestion.models import (
    MAX_ATTACHMENTS,
    MAX_ID_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_URL_LENGTH,
    MessageCreate,
)

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
JSON_FEED_VERSION = "https://jsonfeed.org/version/"

RSS_CONTENT_TYPE = "application/rss+xml"
ATOM_CONTENT_TYPE = "application/atom+xml"
JSON_FEED_CONTENT_TYPE = "application/feed+json"

# One item is one record on social.payloads.raw; Kafka's default record limit is 1 MB.
MAX_RAW_ITEM_BYTES = 512 * 1024

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_RSS_AUTHOR = re.compile(r"^\s*(?P<email>[^\s()]+@[^\s()]+)\s*(?:\((?P<name>[^)]*)\))?\s*$")


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One item as a message, with the item as found in the feed (for the audit)."""

    message: MessageCreate
    raw: bytes
    content_type: str


@dataclass
class ParsedFeed:
    """A document's items that became messages, and why the others did not."""

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
