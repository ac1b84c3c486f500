"""The customer as the brand knows them: the message's author, a CRM lookup, the brand's
VIP list, merged into the EnrichedMessage's CustomerProfile.

Scenario 5 weighs a valuable customer against an influencer; the author's followers come
with every message, their value only from the brand's CRM. Enrichment must never wait on
that CRM, so the lookup is a cache in front of a small thread pool, and every message gets
a profile at once, from what is known by then.

CRM protocol (SOCIALCARE_CRM_URL; empty = no lookup, the profile is the author's own)::

    GET <url>?brand=<brand>&channel=<channel>&author_id=<author id>
             [&handle=<handle>][&email=<e-mail>][&phone=<phone>][&crm_id=<CRM id>]
    Accept: application/json
    Authorization: Bearer <SOCIALCARE_CRM_TOKEN>        (only when the token is set)

`brand` is the brand's name in the care config, `channel` a channel name (x, facebook,
instagram, whatsapp, linkedin, forum, blog, review, email, generic), `author_id` the
author's id on that channel; `handle`, `email`, `phone` and `crm_id` are sent only when the
message states them (as the channel wrote them). The CRM answers:

* 200 with a JSON object, every field optional, others ignored::

      {"tier": "gold", "value": 12000, "vip": false, "crm_id": "C-4711", "language": "nl"}

  `tier` a string (a care config `customer_tiers` name; an unknown one is the default
  tier), `value` a number >= 0 (what the customer is worth, e.g. yearly revenue; 0 =
  unknown), `vip` a boolean, `crm_id` a string, `language` an ISO 639-1 code (a value that
  is not one is dropped); null is the same as absent.
* 404: the CRM does not know this customer (remembered for SOCIALCARE_CRM_UNKNOWN_TTL_S).
* anything else, no answer within SOCIALCARE_CRM_TIMEOUT_S, a body that is not such an
  object (bad JSON, a field of the wrong type, a negative or non-finite value, over 64 KiB):
  a failure, not cached, logged at most once a minute (without the token or the customer's
  data), never raised into the pipeline.

Per message (`CustomerLookup.customer`), never blocking longer than SOCIALCARE_CRM_WAIT_S:
1. cached answer (a known customer for SOCIALCARE_CRM_CACHE_TTL_S, an unknown one for
   SOCIALCARE_CRM_UNKNOWN_TTL_S; key brand, channel, author id; at most
   SOCIALCARE_CRM_CACHE_SIZE, least recently used dropped) -> used (source `crm_cache`);
2. otherwise a request on the pool (SOCIALCARE_CRM_WORKERS threads; one request in flight
   per customer, a second message of the same customer waits on the same one), waited for
   at most SOCIALCARE_CRM_WAIT_S: answered in time -> source `crm`; not in time -> the
   author's own data (source `fallback`), and the answer, when it comes, fills the cache
   for the customer's next message;
3. a circuit breaker: SOCIALCARE_CRM_FAILURES_TO_OPEN consecutive failed requests open it;
   while open no requests are made and messages fall back at once (no wait); after
   SOCIALCARE_CRM_COOLDOWN_S one probe request is let through, which closes it on an answer
   (200 or 404) or opens it again. A dead CRM costs a dictionary lookup per message.

Merging: the CRM's tier, value and crm_id win over the author's where it states them;
`language` is the author's stated one, else the CRM's (`Customer.language`, the language
decision's fallback for a text too short to read). VIP: the CRM says so, the tier is "vip",
or the brand's `vip` list names the author (core/domain/vip.py), by channel id, handle,
e-mail, phone or either CRM id.

Metrics: `socialcare_crm_lookups_total{outcome}` per message that needed the CRM: hit,
fresh (answered in time), unknown (a 404 in time), miss (no answer within the wait),
timeout / error (the request failed within the wait), circuit_open, busy (the pool's queue
was full); `socialcare_crm_requests_total{outcome}` per request (ok, unknown, timeout,
error) and `socialcare_crm_request_seconds`; `socialcare_crm_circuit_open` (0/1).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import Counter, Gauge, Histogram

from socialcare import __version__
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import channel_name
from socialcare.core.domain.vip import message_references
from socialcare.enrichment.settings import EnrichmentSettings
from socialcare.v1 import message_pb2

__all__ = [
    "CrmAnswerError",
    "CrmOptions",
    "CrmRecord",
    "Customer",
    "CustomerLookup",
    "customer_of",
    "parse_answer",
]

log = logging.getLogger(__name__)

SOURCE_AUTHOR = "author"
SOURCE_CRM = "crm"
SOURCE_CACHE = "crm_cache"
SOURCE_FALLBACK = "fallback"
VIP_TIER = "vip"
MAX_BODY = 64 * 1024
# Requests waiting for a worker, per worker, before lookups are skipped (`busy`).
QUEUE_PER_WORKER = 4
FAILURE_LOG_INTERVAL_S = 60.0
USER_AGENT = f"socialcare-enrichment/{__version__}"
_MAX_TEXT = 200

LOOKUPS = Counter(
    "socialcare_crm_lookups_total",
    "Customer profiles that needed the CRM, by outcome: hit (cache), fresh (answered within "
    "the wait), unknown (404 within the wait), miss (no answer within the wait: author data, "
    "the answer fills the cache), timeout, error (failed within the wait), circuit_open, "
    "busy (request queue full).",
    ["outcome"],
)
REQUESTS = Counter(
    "socialcare_crm_requests_total",
    "CRM lookup requests by outcome: ok (200, a valid answer), unknown (404), timeout, error "
    "(another status, a bad answer, no connection).",
    ["outcome"],
)
REQUEST_SECONDS = Histogram(
    "socialcare_crm_request_seconds",
    "How long CRM lookup requests took (answered or failed).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# The series made up front: one per outcome, and no label lookup on a message's path.
_LOOKED_UP = {
    outcome: LOOKUPS.labels(outcome)
    for outcome in ("hit", "fresh", "unknown", "miss", "timeout", "error", "circuit_open", "busy")
}
CIRCUIT_OPEN = Gauge(
    "socialcare_crm_circuit_open",
    "1 while the CRM circuit breaker is open (no lookups after consecutive failures).",
)


@dataclass(frozen=True, slots=True)
class CrmRecord:
    """The CRM's answer about one customer; `known` False for a 404."""

    known: bool
    tier: str = ""
    value: float = 0.0
    vip: bool = False
    crm_id: str = ""
    language: str = ""


UNKNOWN = CrmRecord(known=False)


class CrmAnswerError(ValueError):
    """A 200 whose body is not the protocol's object; the message says which field."""


def parse_answer(body: bytes) -> CrmRecord:
    """The record in a 200's body; CrmAnswerError when it breaks the protocol."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, nesting
        raise CrmAnswerError(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise CrmAnswerError(f"a JSON {type(data).__name__}, not an object")
    tier = _text(data, "tier").lower()
    crm_id = " ".join(_text(data, "crm_id").split())
    value = data.get("value")
    if value is None:
        value = 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CrmAnswerError(f"value is a {type(value).__name__}, not a number")
    if not math.isfinite(value) or value < 0:
        raise CrmAnswerError("value must be a finite number >= 0")
    vip = data.get("vip")
    if vip is None:
        vip = False
    if not isinstance(vip, bool):
        raise CrmAnswerError(f"vip is a {type(vip).__name__}, not a boolean")
    language = _text(data, "language").lower().replace("_", "-").split("-")[0]
    if not (2 <= len(language) <= 3 and language.isascii() and language.isalpha()):
        language = ""
    return CrmRecord(True, tier, float(value), vip, crm_id, language)


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CrmAnswerError(f"{name} is a {type(value).__name__}, not a string")
    if len(value) > _MAX_TEXT:
        raise CrmAnswerError(f"{name} is longer than {_MAX_TEXT} characters")
    return value.strip()


@dataclass(frozen=True, slots=True)
class Customer:
    """A message's customer profile, and the language the customer is known to write in
    ("" = not known) for the language decision's fallback."""

    profile: message_pb2.CustomerProfile
    language: str


@dataclass(frozen=True, slots=True)
class CrmOptions:
    """The lookup's settings (EnrichmentSettings' crm_* fields; see there)."""

    url: str
    token: str | None = None
    timeout_s: float = 2.0
    wait_s: float = 0.025
    cache_ttl_s: float = 900.0
    unknown_ttl_s: float = 300.0
    cache_size: int = 100_000
    workers: int = 8
    failures_to_open: int = 5
    cooldown_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: EnrichmentSettings) -> CrmOptions | None:
        """The options, or None when no CRM URL is set (no lookup)."""
        if not settings.crm_url:
            return None
        return cls(
            url=settings.crm_url,
            token=settings.crm_token.get_secret_value() if settings.crm_token else None,
            timeout_s=settings.crm_timeout_s,
            wait_s=settings.crm_wait_s,
            cache_ttl_s=settings.crm_cache_ttl_s,
            unknown_ttl_s=settings.crm_unknown_ttl_s,
            cache_size=settings.crm_cache_size,
            workers=settings.crm_workers,
            failures_to_open=settings.crm_failures_to_open,
            cooldown_s=settings.crm_cooldown_s,
        )

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"CrmOptions(url={self.url!r}, token={'***' if self.token else None})"


_Key = tuple[str, str, str]


class _Cache:
    """Answers by customer with their expiry; least recently used dropped past `size`.
    Written by the pool's threads, read by the enrichment loop's."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[_Key, tuple[float, CrmRecord]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: _Key, now: float) -> CrmRecord | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: _Key, record: CrmRecord, expires: float) -> None:
        with self._lock:
            self._entries[key] = (expires, record)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class CircuitBreaker:
    """Closed: requests go. `failures_to_open` consecutive failures open it: none go for
    `cooldown_s`; then one probe goes (half-open), whose answer closes it and whose
    failure opens it again."""

    def __init__(self, failures_to_open: int, cooldown_s: float, clock: Callable[[], float]):
        self._threshold = failures_to_open
        self._cooldown = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def allow(self) -> bool:
        """Whether a request may go now (taking the probe's place when half-open)."""
        if self._opened_at is None:
            return True
        with self._lock:
            if self._opened_at is None:
                return True
            if self._probing or self._clock() - self._opened_at < self._cooldown:
                return False
            self._probing = True
            return True

    def success(self) -> None:
        with self._lock:
            was_open = self._opened_at is not None
            self._failures, self._opened_at, self._probing = 0, None, False
        if was_open:
            CIRCUIT_OPEN.set(0)
            log.info("CRM lookup answers again: circuit closed")

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            reopened = self._probing
            opens = self._opened_at is None and self._failures >= self._threshold
            if reopened or opens:
                self._opened_at, self._probing = self._clock(), False
        if opens:
            CIRCUIT_OPEN.set(1)
            log.warning(
                "CRM lookup failed %d times in a row: circuit open, no lookups for %gs "
                "(profiles from the author's data)",
                self._threshold,
                self._cooldown,
            )


class _RequestFailedError(Exception):
    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


class _FailureLog:
    """One warning per interval for failed requests, with how many were not reported."""

    def __init__(self, clock: Callable[[], float], interval_s: float = FAILURE_LOG_INTERVAL_S):
        self._clock = clock
        self._interval = interval_s
        self._last: float | None = None
        self._suppressed = 0
        self._lock = threading.Lock()

    def failed(self, reason: str) -> None:
        with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last < self._interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        log.warning(
            "CRM lookup failed: %s (%d more failures not logged in the last %gs)",
            reason,
            suppressed,
            self._interval,
        )


class CustomerLookup:
    """Customer profiles for enrichment; see the module docstring. Thread-safe; `close`
    on shutdown. Without `options` (no CRM URL) no thread or connection is made; without
    `care` no brand has a VIP list."""

    def __init__(
        self,
        care: CareConfig | None,
        options: CrmOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        http: httpx.Client | None = None,
    ) -> None:
        self._options = options
        self._clock = clock
        self._vip: dict[str, tuple[frozenset[str], str | None]] = {}
        self._vip_default: tuple[frozenset[str], str | None] = (frozenset(), None)
        if care is not None:
            default = care.brand("")
            self._vip = {b.name: (frozenset(b.vip), b.phone_country) for b in care.effective_brands}
            self._vip_default = (frozenset(default.vip), default.phone_country)
        self._cache = _Cache(options.cache_size if options else 1)
        self._inflight: dict[_Key, Future[CrmRecord]] = {}
        self._lock = threading.Lock()
        self._failures = _FailureLog(clock)
        self._pool: ThreadPoolExecutor | None = None
        self._http: httpx.Client | None = None
        self._max_inflight = 0
        self._headers: dict[str, str] = {}
        self.breaker = CircuitBreaker(
            options.failures_to_open if options else 1, options.cooldown_s if options else 1, clock
        )
        if options is not None:
            self._max_inflight = options.workers * (1 + QUEUE_PER_WORKER)
            self._pool = ThreadPoolExecutor(options.workers, thread_name_prefix="crm-lookup")
            self._headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
            if options.token:
                self._headers["Authorization"] = f"Bearer {options.token}"
            self._http = http or httpx.Client(
                timeout=httpx.Timeout(options.timeout_s),
                follow_redirects=False,
                limits=httpx.Limits(max_connections=options.workers),
            )

    @classmethod
    def from_settings(cls, settings: EnrichmentSettings, care: CareConfig) -> CustomerLookup:
        return cls(care, CrmOptions.from_settings(settings))

    def customer(self, message: message_pb2.SocialMessage) -> Customer:
        """The message's customer now: never raises for the CRM's sake, never waits longer
        than the options' `wait_s`."""
        options = self._options
        if options is None:
            return self._merge(message, None, SOURCE_AUTHOR)
        key = (message.brand, channel_name(message.channel), message.author.id)
        cached = self._cache.get(key, self._clock())
        if cached is not None:
            _LOOKED_UP["hit"].inc()
            return self._merge(message, cached, SOURCE_CACHE)
        future = self._request(key, message)
        if isinstance(future, str):
            _LOOKED_UP[future].inc()
            return self._merge(message, None, SOURCE_FALLBACK)
        try:
            record = future.result(timeout=options.wait_s)
        except TimeoutError:
            _LOOKED_UP["miss"].inc()
            return self._merge(message, None, SOURCE_FALLBACK)
        except _RequestFailedError as failed:
            _LOOKED_UP[failed.outcome].inc()
            return self._merge(message, None, SOURCE_FALLBACK)
        except Exception as exc:  # cancelled on shutdown, or a fault of ours: never the pipeline's
            _LOOKED_UP["error"].inc()
            self._failures.failed(f"lookup broke: {type(exc).__name__}")
            return self._merge(message, None, SOURCE_FALLBACK)
        _LOOKED_UP["fresh" if record.known else "unknown"].inc()
        return self._merge(message, record, SOURCE_CRM)

    def close(self) -> None:
        """Stop making requests: queued ones are dropped, running ones end within the
        request timeout; the connections are closed."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._http is not None:
            self._http.close()

    # -- requests ----------------------------------------------------------------------
    def _request(self, key: _Key, message: message_pb2.SocialMessage) -> Future[CrmRecord] | str:
        """The customer's request in flight (a new one if none), or why none is made."""
        assert self._pool is not None
        with self._lock:
            running = self._inflight.get(key)
            if running is not None:
                return running
            if len(self._inflight) >= self._max_inflight:
                return "busy"
            if not self.breaker.allow():
                return "circuit_open"
            try:
                future = self._pool.submit(self._fetch, key, _params(message, key))
            except RuntimeError:  # shut down
                return "busy"
            self._inflight[key] = future
            return future

    def _fetch(self, key: _Key, params: dict[str, str]) -> CrmRecord:
        """One request on a pool thread: the answer cached, or _RequestFailedError."""
        assert self._http is not None and self._options is not None
        started = time.perf_counter()
        try:
            record = self._get(params)
            REQUEST_SECONDS.observe(time.perf_counter() - started)
            REQUESTS.labels("ok" if record.known else "unknown").inc()
            self.breaker.success()
            ttl = self._options.cache_ttl_s if record.known else self._options.unknown_ttl_s
            self._cache.put(key, record, self._clock() + ttl)
            return record
        except _RequestFailedError as failed:
            REQUEST_SECONDS.observe(time.perf_counter() - started)
            REQUESTS.labels(failed.outcome).inc()
            self.breaker.failure()
            self._failures.failed(failed.reason)
            raise
        finally:
            # After the cache holds the answer: a message in between finds one or the other.
            with self._lock:
                self._inflight.pop(key, None)

    def _get(self, params: dict[str, str]) -> CrmRecord:
        assert self._http is not None and self._options is not None
        try:
            with self._http.stream(
                "GET", self._options.url, params=params, headers=self._headers
            ) as response:
                if response.status_code == 404:
                    return UNKNOWN
                if response.status_code != 200:
                    raise _RequestFailedError("error", f"HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise _RequestFailedError("error", f"answer over {MAX_BODY} bytes")
        except httpx.TimeoutException as exc:
            raise _RequestFailedError(
                "timeout", f"no answer within {self._options.timeout_s:g}s ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise _RequestFailedError("error", type(exc).__name__) from None
        except RuntimeError as exc:  # the client was closed on shutdown
            raise _RequestFailedError("error", str(exc)[:_MAX_TEXT]) from None
        try:
            return parse_answer(bytes(body))
        except CrmAnswerError as exc:
            raise _RequestFailedError("error", f"bad answer: {exc}") from None

    # -- the profile -------------------------------------------------------------------
    def _merge(
        self, message: message_pb2.SocialMessage, record: CrmRecord | None, source: str
    ) -> Customer:
        author = message.author
        crm = record if record is not None and record.known else None
        tier = (crm.tier if crm and crm.tier else author.tier).strip().lower()
        value = crm.value if crm and crm.value > 0 else _amount(author.customer_value)
        crm_id = crm.crm_id if crm and crm.crm_id else author.crm_id
        vip = (crm is not None and crm.vip) or tier == VIP_TIER or self._listed(message, crm_id)
        profile = message_pb2.CustomerProfile(
            tier=tier, value=value, vip=vip, source=source, crm_id=crm_id
        )
        return Customer(profile, author.language or (crm.language if crm else ""))

    def _listed(self, message: message_pb2.SocialMessage, crm_id: str) -> bool:
        """Whether the brand's VIP list names the author (or the CRM's id for them)."""
        references, calling_code = self._vip.get(message.brand, self._vip_default)
        if not references:
            return False
        return not references.isdisjoint(message_references(message, crm_id, calling_code))


def _params(message: message_pb2.SocialMessage, key: _Key) -> dict[str, str]:
    brand, channel, author_id = key
    params = {"brand": brand, "channel": channel, "author_id": author_id}
    author = message.author
    for name, value in (
        ("handle", author.handle),
        ("email", author.email),
        ("phone", author.phone),
        ("crm_id", author.crm_id),
    ):
        if value:
            params[name] = value
    return params


def _amount(value: float) -> float:
    """A stated customer value, 0 when unknown or nonsense (negative, NaN)."""
    return float(value) if value > 0 and math.isfinite(value) else 0.0


def customer_of(
    message: message_pb2.SocialMessage,
    care: CareConfig | None = None,
    customers: CustomerLookup | None = None,
) -> Customer:
    """enrich()'s one call: the lookup's profile, or without one the author's own (with the
    care config's VIP lists when `care` is given)."""
    if customers is not None:
        return customers.customer(message)
    if care is not None:
        return _lookups(care).customer(message)
    return _AUTHOR_ONLY.customer(message)


_offline: dict[int, tuple[CareConfig, CustomerLookup]] = {}


def _lookups(care: CareConfig) -> CustomerLookup:
    """A lookup without a CRM for `care` (its VIP lists), built once per config."""
    entry = _offline.get(id(care))
    if entry is None or entry[0] is not care:
        entry = (care, CustomerLookup(care))
        _offline.clear()  # one config per process; a test's next config replaces it
        _offline[id(care)] = entry
    return entry[1]


_AUTHOR_ONLY = CustomerLookup(None)
