"""Feed fetch: one HTTP GET of a feed, as a careful client of someone else's web server.

A feed host owes us nothing, so a poll must be cheap for it and safe for us (`FeedFetcher`):
- Conditional: If-None-Match / If-Modified-Since from the validators of the last 200 the
  caller kept (its ETag / Last-Modified); a 304 means nothing new and costs no body.
- Bounded: a timeout for the whole body, not only per read, and a cap on the decoded body,
  checked against Content-Length first and then while reading; gzip and deflate are
  inflated a little at a time, so a compression bomb stops at the cap.
- Polite: a 429 or 503 reports the server's Retry-After (seconds or an HTTP date, read
  as the outbound connectors read it: `core.retry.parse_retry_after`) so the caller
  waits at least that long.
Every way a fetch can get no feed is a `PollError` with its `PollOutcome`; backoff and
the decision when to poll again are the caller's (`channels.feeds.FeedPoller`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

import httpx

from socialcare import __version__
from socialcare.channels.feed_formats import (
    ATOM_CONTENT_TYPE,
    JSON_FEED_CONTENT_TYPE,
    RSS_CONTENT_TYPE,
)
from socialcare.core.clock import Clock
from socialcare.core.retry import parse_retry_after

ACCEPT = (
    f"{RSS_CONTENT_TYPE}, {ATOM_CONTENT_TYPE}, {JSON_FEED_CONTENT_TYPE}, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.9, */*;q=0.1"
)
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT_S = 20.0


class PollOutcome(StrEnum):
    """How one poll of one feed ended (the `outcome` label of socialcare_feed_polls_total).
    A fetch decides all but ok, bus_error and error, which are the poller's."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    THROTTLED = "throttled"
    HTTP_ERROR = "http_error"
    UNREACHABLE = "unreachable"
    TOO_LARGE = "too_large"
    INVALID = "invalid"
    BUS_ERROR = "bus_error"
    ERROR = "error"


class PollError(Exception):
    """A poll that got no feed: its outcome, what happened, and a Retry-After if any."""

    def __init__(self, outcome: PollOutcome, detail: str, retry_after_s: float | None = None):
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Fetched:
    """A feed's body and the validators to send with the next request."""

    body: bytes
    etag: str | None
    last_modified: str | None


def feed_client() -> httpx.Client:
    """The HTTP client feeds are fetched with: a few redirects (sites move their feeds),
    and a User-Agent that tells a site's owner who polls it."""
    return httpx.Client(
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": f"socialcare/{__version__} (feed listening)"},
    )


@dataclass(frozen=True, slots=True)
class FeedFetcher:
    """Fetches feeds through `client` (the caller's: it closes it). `clock` turns a
    Retry-After date into seconds; `monotonic` times the body against `timeout_s`."""

    client: httpx.Client
    clock: Clock
    monotonic: Callable[[], float]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    timeout_s: float = DEFAULT_TIMEOUT_S

    def fetch(self, url: str, *, etag: str | None, last_modified: str | None) -> Fetched | None:
        """The feed's body, or None when unchanged (304). Blocks for at most about
        `timeout_s`. Raises PollError."""
        headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        deadline = self.monotonic() + self.timeout_s
        try:
            with self.client.stream(
                "GET", url, headers=headers, timeout=self.timeout_s
            ) as response:
                status = response.status_code
                if status == 304:
                    return None
                if status in (429, 503):
                    raise PollError(
                        PollOutcome.THROTTLED,
                        f"http_{status}",
                        parse_retry_after(response.headers.get("Retry-After"), self.clock()),
                    )
                if not 200 <= status < 300:
                    raise PollError(PollOutcome.HTTP_ERROR, f"http_{status}")
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.max_body_bytes:
                    raise PollError(PollOutcome.TOO_LARGE, f"Content-Length {declared}")
                body = bytearray()
                for chunk in _decoded(response, self.max_body_bytes):
                    body += chunk
                    if len(body) > self.max_body_bytes:
                        raise PollError(PollOutcome.TOO_LARGE, f"over {self.max_body_bytes} bytes")
                    if self.monotonic() > deadline:
                        raise PollError(
                            PollOutcome.UNREACHABLE, f"slower than {self.timeout_s:g} s"
                        )
                return Fetched(
                    bytes(body),
                    response.headers.get("ETag"),
                    response.headers.get("Last-Modified"),
                )
        except httpx.HTTPError as exc:
            raise PollError(PollOutcome.UNREACHABLE, f"{type(exc).__name__}: {exc}") from None


def _decoded(response: httpx.Response, limit: int) -> Iterator[bytes]:
    """The body decoded (gzip, deflate) at most `limit` + 1 bytes at a time, so the
    caller's cap stops a compression bomb before it is inflated. Raises PollError for an
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
        raise PollError(PollOutcome.INVALID, f"unsupported Content-Encoding {encoding!r}")
    try:
        for data in response.iter_raw():
            while data:
                yield inflater.decompress(data, limit + 1)
                data = inflater.unconsumed_tail
        yield inflater.flush()
    except zlib.error as exc:
        raise PollError(PollOutcome.INVALID, f"corrupt {encoding} body: {exc}") from None
