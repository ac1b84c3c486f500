"""One local fake of the platforms replies are posted to: Graph API (Facebook, Instagram,
Messenger, WhatsApp Cloud API), X API v2, LinkedIn, and generic reply URLs.

    with FakePlatforms(fail_rate=0.1, throttle_rate=0.05, seed=7) as fake:
        env = fake.env()          # SOCIALCARE_META_GRAPH_URL, ..._X_API_URL, tokens, ...
        ...                       # point the connectors at it and post replies
        fake.sent("whatsapp")     # accepted posts (one per distinct post)
        fake.duplicates           # repeats of an Idempotency-Key already accepted

A `ThreadingHTTPServer` on 127.0.0.1 (a free port) in a daemon thread. Paths under
`fake.url`:

    /graph/{comment or post id}/comments          facebook      → 200 {"id"}
    /graph/{ig comment id}/replies                instagram     → 200 {"id"}
    /graph/{page or ig account id}/messages       messenger     → 200 {"recipient_id", "message_id"}
      (body "messaging_product": "whatsapp")      whatsapp      → 200 {"messaging_product",
                                                                   "contacts", "messages": [{"id"}]}
    /x/2/tweets                                   x             → 201 {"data": {"id", "text"}}
    /x/2/dm_conversations/with/{user id}/messages x_dm          → 201 {"data":
                                                         {"dm_conversation_id", "dm_event_id"}}
    /linkedin/rest/socialActions/{urn}/comments   linkedin      → 201, x-restli-id: comment urn
    /generic/{source}                             generic       → 200 {"id"}

Every request but generic needs `Authorization: Bearer <token>` (any token, or one of
`tokens` when given) else 401 in the platform's error format; generic requests are checked
against `generic_secrets[source]` (the `X-Socialcare-Signature` scheme) when one is set.
Bodies are checked for the fields the platforms require (400 in their format otherwise).

Order of answers for a request: auth → scripted refusal (`refuse`) → random faults (429 with
`Retry-After: retry_after_s` at `throttle_rate`, a 5xx at `fail_rate`) → body check →
Idempotency-Key already accepted (when `honour_idempotency_key`: the first answer again,
`duplicates` += 1) → accepted and recorded → at `lost_rate` the answer is replaced by a 502
(the post stands: a lost response, which only the Idempotency-Key makes safe to retry).

Errors are the platforms' documented shapes; ready-made permanent ones: WHATSAPP_REENGAGEMENT
(131047), WHATSAPP_UNDELIVERABLE (131026), GRAPH_INVALID_PARAMETER ((#100)), X_DUPLICATE,
LINKEDIN_FORBIDDEN.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from socialcare.core.domain.brands import (
    Brand,
    GenericSource,
    LinkedInAccounts,
    MessageTemplateRef,
    MetaAccounts,
    XAccounts,
)

GRAPH = ("facebook", "instagram", "messenger", "whatsapp")
PLATFORMS = (*GRAPH, "x", "x_dm", "linkedin", "generic")


@dataclass(frozen=True, slots=True)
class PlatformError:
    """An answer the fake gives instead of accepting: status, JSON body, extra headers."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


def graph_error(status: int, code: int, message: str, details: str = "") -> PlatformError:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGhIjK",
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return PlatformError(status, {"error": error})


def x_problem(status: int, title: str, detail: str) -> PlatformError:
    return PlatformError(
        status, {"title": title, "detail": detail, "type": "about:blank", "status": status}
    )


def linkedin_error(status: int, message: str, service_code: int, code: str) -> PlatformError:
    return PlatformError(
        status,
        {"status": status, "serviceErrorCode": service_code, "code": code, "message": message},
    )


WHATSAPP_REENGAGEMENT = graph_error(
    400,
    131047,
    "(#131047) Re-engagement message",
    "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number.",
)
WHATSAPP_UNDELIVERABLE = graph_error(
    400, 131026, "(#131026) Message undeliverable", "Unable to deliver message."
)
GRAPH_INVALID_PARAMETER = graph_error(400, 100, "(#100) Invalid parameter")
X_DUPLICATE = x_problem(
    403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."
)
LINKEDIN_FORBIDDEN = linkedin_error(
    403, "Not enough permissions to access: partnerApiSocialActions.CREATE", 100, "ACCESS_DENIED"
)


@dataclass(frozen=True, slots=True)
class PlatformRequest:
    """One request as the fake saw it, and what it answered."""

    platform: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: Any  # parsed JSON, None when not JSON
    raw: bytes
    idempotency_key: str
    status: int
    platform_id: str  # the id given when accepted, else ""
    outcome: str  # accepted, duplicate, throttled, failed, lost, refused, invalid, unauthorized


@dataclass
class _Refusal:
    match: str
    error: PlatformError
    times: int | None


class FakePlatforms:
    """See the module docstring. Thread-safe; all knobs may be changed between requests."""

    def __init__(
        self,
        *,
        fail_rate: float = 0.0,
        throttle_rate: float = 0.0,
        lost_rate: float = 0.0,
        retry_after_s: int = 1,
        latency_s: float = 0.0,
        seed: int | None = 0,
        honour_idempotency_key: bool = True,
        generic_secrets: Mapping[str, str] | None = None,
        tokens: set[str] | None = None,
    ) -> None:
        self.fail_rate = fail_rate
        self.throttle_rate = throttle_rate
        self.lost_rate = lost_rate
        self.retry_after_s = retry_after_s
        self.latency_s = latency_s
        self.honour_idempotency_key = honour_idempotency_key
        self.generic_secrets = dict(generic_secrets or {})
        self.tokens = tokens
        self._rand = random.Random(seed)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._requests: list[PlatformRequest] = []
        self._accepted: dict[tuple[str, str], tuple[int, dict[str, str], bytes]] = {}
        self._refusals: list[_Refusal] = []
        self.duplicates = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> FakePlatforms:
        fake = self

        class Handler(_Handler):
            platforms = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-platforms",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakePlatforms:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake platforms are not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def graph_url(self) -> str:
        return f"{self.url}/graph"

    @property
    def x_url(self) -> str:
        return f"{self.url}/x/2"

    @property
    def linkedin_url(self) -> str:
        return f"{self.url}/linkedin"

    def generic_url(self, source: str) -> str:
        return f"{self.url}/generic/{source}"

    def env(self, token: str = "fake-token") -> dict[str, str]:
        """Environment for the default brand to post here (base URLs and tokens)."""
        return {
            "SOCIALCARE_META_GRAPH_URL": self.graph_url,
            "SOCIALCARE_META_ACCESS_TOKEN": token,
            "SOCIALCARE_X_API_URL": self.x_url,
            "SOCIALCARE_X_BEARER_TOKEN": token,
            "SOCIALCARE_LINKEDIN_API_URL": self.linkedin_url,
            "SOCIALCARE_LINKEDIN_ACCESS_TOKEN": token,
        }

    # -- scripting and reading -------------------------------------------------------------
    def refuse(self, match: str, error: PlatformError, *, times: int | None = None) -> None:
        """Answer `error` to requests that name `match`: as their Idempotency-Key, a path
        segment (comment, post, account or user id), WhatsApp's `to`, or the tweet replied
        to. `times`: only that many times (None: always)."""
        with self._lock:
            self._refusals.append(_Refusal(match, error, times))

    def requests(self, platform: str | None = None) -> list[PlatformRequest]:
        """Every request answered, faults included, in arrival order."""
        with self._lock:
            return [r for r in self._requests if platform in (None, r.platform)]

    def sent(self, platform: str | None = None) -> list[PlatformRequest]:
        """Accepted posts, one per post made (a lost answer's post included)."""
        return [r for r in self.requests(platform) if r.outcome in ("accepted", "lost")]

    def posted_twice(self) -> int:
        """Idempotency keys posted more than once (only possible when the fake does not
        honour the key): replies a customer would see twice."""
        counts = Counter((r.platform, r.idempotency_key) for r in self.sent())
        return sum(1 for n in counts.values() if n > 1)

    def outcomes(self) -> Counter[str]:
        return Counter(r.outcome for r in self.requests())

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._accepted.clear()
            self._refusals.clear()
            self.duplicates = 0

    # -- answering (called by the handler threads) ----------------------------------------
    def answer(
        self, path: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if self.latency_s:
            time.sleep(self.latency_s)
        route = _route(path, raw)
        if route is None:
            return _encode(PlatformError(404, {"message": f"no such endpoint: {path}"}))
        platform, segments = route
        body = _json(raw)
        key = headers.get("idempotency-key", "")
        with self._lock:
            status, out_headers, payload, outcome, platform_id = self._decide(
                platform, segments, headers, body, raw, key
            )
            self._requests.append(
                PlatformRequest(
                    platform, path, dict(headers), body, raw, key, status, platform_id, outcome
                )
            )
        return status, out_headers, payload

    def _decide(
        self,
        platform: str,
        segments: list[str],
        headers: Mapping[str, str],
        body: Any,
        raw: bytes,
        key: str,
    ) -> tuple[int, dict[str, str], bytes, str, str]:
        unauthorized = self._check_auth(platform, segments, headers, raw)
        if unauthorized is not None:
            return (*_encode(unauthorized), "unauthorized", "")
        refusal = self._refusal(platform, segments, body, key)
        if refusal is not None:
            return (*_encode(refusal), "refused", "")
        roll = self._rand.random()
        if roll < self.throttle_rate:
            return (*_encode(self._throttled(platform)), "throttled", "")
        if roll < self.throttle_rate + self.fail_rate:
            return (*_encode(_server_error(platform)), "failed", "")
        invalid = _validate(platform, body)
        if invalid is not None:
            return (*_encode(_invalid(platform, invalid)), "invalid", "")
        if key and (platform, key) in self._accepted and self.honour_idempotency_key:
            self.duplicates += 1
            status, out_headers, payload = self._accepted[(platform, key)]
            return status, out_headers, payload, "duplicate", ""
        platform_id, status, out_headers, payload = self._accept(platform, segments, body)
        if key:
            self._accepted[(platform, key)] = (status, out_headers, payload)
        if self._rand.random() < self.lost_rate:
            return (*_encode(PlatformError(502, {"message": "Bad Gateway"})), "lost", platform_id)
        return status, out_headers, payload, "accepted", platform_id

    def _check_auth(
        self, platform: str, segments: list[str], headers: Mapping[str, str], raw: bytes
    ) -> PlatformError | None:
        if platform == "generic":
            secret = self.generic_secrets.get(segments[0])
            if secret is None:
                return None
            if _generic_signature_ok(secret, headers.get("x-socialcare-signature", ""), raw):
                return None
            return PlatformError(401, {"message": "invalid signature"})
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if token and (self.tokens is None or token in self.tokens):
            return None
        if platform in GRAPH:
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if platform in ("x", "x_dm"):
            return x_problem(401, "Unauthorized", "Unauthorized")
        return linkedin_error(401, "Invalid access token", 65600, "INVALID_ACCESS_TOKEN")

    def _refusal(
        self, platform: str, segments: list[str], body: Any, key: str
    ) -> PlatformError | None:
        names = {key, *segments}
        if isinstance(body, dict):
            names.add(str(body.get("to", "")))
            reply = body.get("reply")
            if isinstance(reply, dict):
                names.add(str(reply.get("in_reply_to_tweet_id", "")))
        names.discard("")
        for refusal in self._refusals:
            if refusal.match in names and refusal.times != 0:
                if refusal.times is not None:
                    refusal.times -= 1
                return refusal.error
        return None

    def _throttled(self, platform: str) -> PlatformError:
        retry = {"Retry-After": str(self.retry_after_s)}
        if platform in GRAPH:
            code = 130429 if platform == "whatsapp" else 4
            error = graph_error(429, code, f"(#{code}) Rate limit hit")
            return PlatformError(429, error.body, retry)
        if platform in ("x", "x_dm"):
            reset = str(int(time.time()) + self.retry_after_s)
            return PlatformError(
                429,
                x_problem(429, "Too Many Requests", "Too Many Requests").body,
                {**retry, "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset},
            )
        if platform == "linkedin":
            return PlatformError(
                429, linkedin_error(429, "Resource level throttle limit", 0, "").body, retry
            )
        return PlatformError(429, {"message": "slow down"}, retry)

    def _accept(
        self, platform: str, segments: list[str], body: Any
    ) -> tuple[str, int, dict[str, str], bytes]:
        n = next(self._ids)
        if platform in ("facebook", "instagram"):
            platform_id = f"{segments[0]}_{17_000_000_000 + n}"
            return platform_id, 200, {}, _dump({"id": platform_id})
        if platform == "messenger":
            platform_id = f"m_fake{n:010d}"
            recipient = body["recipient"]["id"]
            return (
                platform_id,
                200,
                {},
                _dump({"recipient_id": recipient, "message_id": platform_id}),
            )
        if platform == "whatsapp":
            platform_id = f"wamid.FAKE{n:012d}"
            to = body["to"]
            answer: dict[str, Any] = {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": platform_id}],
            }
            return platform_id, 200, {}, _dump(answer)
        if platform == "x":
            platform_id = str(1_800_000_000_000_000_000 + n)
            return platform_id, 201, {}, _dump({"data": {"id": platform_id, "text": body["text"]}})
        if platform == "x_dm":
            platform_id = str(1_700_000_000_000_000_000 + n)
            answer = {
                "data": {"dm_conversation_id": f"{segments[0]}-1", "dm_event_id": platform_id}
            }
            return platform_id, 201, {}, _dump(answer)
        if platform == "linkedin":
            platform_id = f"urn:li:comment:({body['object']},{7_000_000_000_000_000_000 + n})"
            answer = {
                "actor": body["actor"],
                "object": body["object"],
                "message": body["message"],
                "commentUrn": platform_id,
            }
            return platform_id, 201, {"x-restli-id": platform_id}, _dump(answer)
        platform_id = f"generic-{n}"
        return platform_id, 200, {}, _dump({"id": platform_id})


class _Server(ThreadingHTTPServer):
    # Many concurrent senders connect at once; the default backlog of 5 would refuse some.
    request_queue_size = 256
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    platforms: FakePlatforms
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out_headers, payload = self.platforms.answer(self.path, headers, raw)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in out_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests()` instead."""


_ROUTES = (
    ("facebook", re.compile(r"^/graph/([^/]+)/comments$")),
    ("instagram", re.compile(r"^/graph/([^/]+)/replies$")),
    ("messenger", re.compile(r"^/graph/([^/]+)/messages$")),
    ("x", re.compile(r"^/x/2/tweets$")),
    ("x_dm", re.compile(r"^/x/2/dm_conversations/with/([^/]+)/messages$")),
    ("linkedin", re.compile(r"^/linkedin/rest/socialActions/([^/]+)/comments$")),
    ("generic", re.compile(r"^/generic/([^/]+)$")),
)


def _route(path: str, raw: bytes) -> tuple[str, list[str]] | None:
    path = path.split("?", 1)[0]
    for platform, pattern in _ROUTES:
        found = pattern.match(path)
        if found:
            segments = [unquote(g) for g in found.groups()]
            if platform == "messenger":
                body = _json(raw)
                if isinstance(body, dict) and body.get("messaging_product") == "whatsapp":
                    return "whatsapp", segments
            return platform, segments
    return None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode()


def _encode(error: PlatformError) -> tuple[int, dict[str, str], bytes]:
    return error.status, dict(error.headers), _dump(error.body)


def _server_error(platform: str) -> PlatformError:
    if platform in GRAPH:
        return graph_error(
            500, 2, "An unexpected error has occurred. Please retry your request later."
        )
    if platform in ("x", "x_dm"):
        return x_problem(503, "Service Unavailable", "Service Unavailable")
    if platform == "linkedin":
        return linkedin_error(500, "Internal Server Error", 0, "INTERNAL_SERVER_ERROR")
    return PlatformError(503, {"message": "unavailable"})


def _invalid(platform: str, problem: str) -> PlatformError:
    if platform in GRAPH:
        return graph_error(400, 100, f"(#100) {problem}")
    if platform in ("x", "x_dm"):
        return x_problem(400, "Invalid Request", problem)
    if platform == "linkedin":
        return linkedin_error(400, problem, 100, "INVALID_REQUEST")
    return PlatformError(400, {"message": problem})


def _text_at(body: Any, *path: str) -> str:
    value = body
    for part in path:
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    return value if isinstance(value, str) else ""


def _validate(platform: str, body: Any) -> str | None:
    """What a platform would reject in the body (its required fields), or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    required: dict[str, tuple[tuple[str, ...], ...]] = {
        "facebook": (("message",),),
        "instagram": (("message",),),
        "messenger": (("recipient", "id"), ("message", "text")),
        "x": (("text",),),
        "x_dm": (("text",),),
        "linkedin": (("actor",), ("object",), ("message", "text")),
        "generic": (("reply_id",), ("text",)),
    }
    if platform == "whatsapp":
        if body.get("messaging_product") != "whatsapp" or not _text_at(body, "to"):
            return "messaging_product and to are required"
        if body.get("type") == "text" and _text_at(body, "text", "body"):
            return None
        if body.get("type") == "template" and _text_at(body, "template", "name"):
            return None
        return "a text body or a template is required"
    for path in required.get(platform, ()):
        if not _text_at(body, *path):
            return f"{'.'.join(path)} is required"
    return None


def _generic_signature_ok(secret: str, header: str, raw: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    timestamp, signature = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), signature)


def fake_brand(
    fake: FakePlatforms,
    name: str = "default",
    *,
    whatsapp_templates: Sequence[tuple[str, str]] = (),
    generic: list[GenericSource] | None = None,
) -> Brand:
    """A brand whose Meta, X and LinkedIn accounts post to `fake` (tokens from the default
    environment variables, which `fake.env()` sets)."""
    return Brand(
        name=name,
        meta=MetaAccounts(
            graph_url=fake.graph_url,
            whatsapp_templates=[
                MessageTemplateRef(name=n, language=lang) for n, lang in whatsapp_templates
            ],
        ),
        x=XAccounts(api_url=fake.x_url),
        linkedin=LinkedInAccounts(api_url=fake.linkedin_url),
        generic=generic or [],
    )
