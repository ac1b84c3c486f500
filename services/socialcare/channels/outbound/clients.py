"""Each platform's reply endpoint: the request a reply becomes, and what the answer means.

Pure: an `OutboundReply` and the brand's accounts in, a `PlatformRequest` out (method, URL,
headers, the exact JSON bytes); a status, headers and body in, `Posted` or `Refused` out.
The sender does the I/O and the retrying, so every endpoint below is testable without a
network, and the fake platforms in tests speak the same documented shapes.

Endpoints (the platforms' documented ones; base URLs come from the brand's accounts):

* Facebook comment → `POST {graph}/{comment or post id}/comments {"message"}` → `{"id"}`.
* Messenger (Facebook DM) → `POST {graph}/{page id}/messages {"recipient": {"id": PSID},
  "messaging_type": "RESPONSE", "message": {"text"}}` → `{"recipient_id", "message_id"}`.
* Instagram comment → `POST {graph}/{comment id}/replies {"message"}` → `{"id"}`.
* Instagram DM → `POST {graph}/{ig account id}/messages` (as Messenger) → `{"message_id"}`.
* WhatsApp → `POST {graph}/{phone number id}/messages {"messaging_product": "whatsapp",
  "recipient_type": "individual", "to", "type": "text", "text": {"body", "preview_url"},
  "context": {"message_id"}, "biz_opaque_callback_data"}` (or `"type": "template"`) →
  `{"messages": [{"id": "wamid..."}]}`. The callback data (`sc1:<case>:<reply>`) comes back
  in every status webhook, which is how delivered/read/failed find their case.
* X reply → `POST {api}/tweets {"text", "reply": {"in_reply_to_tweet_id"}}` → `{"data": {"id"}}`.
* X DM → `POST {api}/dm_conversations/with/{user id}/messages {"text"}` →
  `{"data": {"dm_conversation_id", "dm_event_id"}}`.
* LinkedIn comment → `POST {api}/rest/socialActions/{urlencoded target urn}/comments
  {"actor": org urn, "object": post urn, "message": {"text"}, "parentComment"?}` → 201 with
  the comment's id in `x-restli-id` (and the body's `commentUrn`).
* Generic source with a `reply_url` → `POST reply_url` with our JSON (below), signed like
  inbound generic webhooks: `X-Socialcare-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
  "<t>." + body)>`; any 2xx accepts, an optional `{"id"}` names the reply there.

Every request carries `Authorization: Bearer <token>` (Graph takes the access token that
way too) and `Idempotency-Key: <reply id>`: a retry after a lost answer names the same
reply, so a platform (or proxy) that de-duplicates on it posts once.

Errors: Graph `{"error": {"message", "type", "code", "error_subcode", "error_data":
{"details"}, "fbtrace_id"}}`; X problems `{"title", "detail", "type", "status"}` or
`{"errors": [...]}`; LinkedIn `{"status", "serviceErrorCode", "code", "message"}`. 429, 408
and 5xx are transient (as are Graph's throttling codes, whatever the status); other 4xx are
the platform's final word, kept verbatim as the delivery's reason and code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from socialcare.channels.signatures import GENERIC_HEADER, generic_signature
from socialcare.core.clock import rfc3339
from socialcare.core.domain.brands import Brand, GenericSource
from socialcare.core.domain.cases import channel_name
from socialcare.core.domain.deliveries import callback_data
from socialcare.core.retry import parse_reset_epoch, parse_retry_after
from socialcare.v1 import commands_pb2, message_pb2

# LinkedIn's versioned APIs want `LinkedIn-Version: YYYYMM`; each version is sunset about a
# year after release, so the deployment can move it on without a code change.
LINKEDIN_VERSION_ENV = "SOCIALCARE_LINKEDIN_VERSION"
DEFAULT_LINKEDIN_VERSION = "202610"
DM = message_pb2.MESSAGE_KIND_DIRECT_MESSAGE

# Graph error codes that mean "slow down / try later" even on a 400 (application, page,
# WhatsApp account and pair rate limits; "temporarily unavailable").
GRAPH_TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 613, 80007, 130429, 131056})
# X v1.1-style error codes that mean rate limited / over capacity.
X_TRANSIENT_CODES = frozenset({88, 130, 131})


class NotSendableError(Exception):
    """The reply cannot go out through any connector (nothing to call): a FAILED delivery
    with this reason and code, without calling a platform."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True, slots=True)
class PlatformRequest:
    """One HTTP call to make. `endpoint` names it for metrics and the fake platforms:
    facebook, messenger, instagram, instagram_dm, whatsapp, x, x_dm, linkedin, generic."""

    endpoint: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Posted:
    """The platform took the reply; its id there ("" when it names none)."""

    platform_message_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The platform did not take the reply. `transient`: trying again may work (after
    `retry_after_s` when the platform said so)."""

    reason: str
    code: str
    transient: bool
    retry_after_s: float | None = field(default=None)


Outcome = Posted | Refused


# -- building requests -------------------------------------------------------------------
def build_request(
    reply: commands_pb2.OutboundReply, brand: Brand, *, now: datetime
) -> PlatformRequest:
    """The call that posts `reply` for `brand`; NotSendableError when there is none."""
    channel = reply.channel
    if channel in (
        message_pb2.CHANNEL_FACEBOOK,
        message_pb2.CHANNEL_INSTAGRAM,
        message_pb2.CHANNEL_WHATSAPP,
    ):
        return _graph_request(reply, brand)
    if channel == message_pb2.CHANNEL_X:
        return _x_request(reply, brand)
    if channel == message_pb2.CHANNEL_LINKEDIN:
        return _linkedin_request(reply, brand)
    return _generic_request(reply, brand, now=now)


def _headers(token: str, reply_id: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Idempotency-Key": reply_id,
    }


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _recipient(reply: commands_pb2.OutboundReply) -> str:
    """The customer's id on the channel; a DM's thread id is the sender's id when the
    reply predates `recipient_id`."""
    recipient = reply.recipient_id or reply.thread_id
    if not recipient:
        raise NotSendableError("the reply names no recipient on the channel", "no_recipient")
    return recipient


def _target(reply: commands_pb2.OutboundReply, what: str) -> str:
    target = reply.in_reply_to or reply.thread_id
    if not target:
        raise NotSendableError(f"the reply names no {what} to answer", "no_target")
    return target


def _graph_request(reply: commands_pb2.OutboundReply, brand: Brand) -> PlatformRequest:
    meta = brand.meta
    token = meta.access_token if meta else None
    if meta is None or not token:
        env = meta.access_token_env if meta else "SOCIALCARE_META_ACCESS_TOKEN"
        raise NotSendableError(
            f"brand {brand.name!r} has no Meta access token (set {env})", "not_configured"
        )
    base = meta.base_url
    headers = _headers(token, reply.reply_id)
    if reply.channel == message_pb2.CHANNEL_WHATSAPP:
        return PlatformRequest(
            "whatsapp",
            "POST",
            f"{base}/{_account(reply)}/messages",
            headers,
            _json(whatsapp_body(reply)),
        )
    if reply.kind == DM:
        endpoint = "messenger" if reply.channel == message_pb2.CHANNEL_FACEBOOK else "instagram_dm"
        body = {
            "recipient": {"id": _recipient(reply)},
            "messaging_type": "RESPONSE",
            "message": {"text": reply.text},
        }
        return PlatformRequest(
            endpoint, "POST", f"{base}/{_account(reply)}/messages", headers, _json(body)
        )
    if reply.channel == message_pb2.CHANNEL_FACEBOOK:
        target = _target(reply, "comment or post")
        return PlatformRequest(
            "facebook",
            "POST",
            f"{base}/{quote(target, safe='')}/comments",
            headers,
            _json({"message": reply.text}),
        )
    target = _target(reply, "comment")
    return PlatformRequest(
        "instagram",
        "POST",
        f"{base}/{quote(target, safe='')}/replies",
        headers,
        _json({"message": reply.text}),
    )


def _account(reply: commands_pb2.OutboundReply) -> str:
    if not reply.account_id:
        raise NotSendableError(
            "the reply names no account to send from (page, Instagram or phone number id)",
            "no_account",
        )
    return quote(reply.account_id, safe="")


def whatsapp_body(reply: commands_pb2.OutboundReply) -> dict[str, Any]:
    """The Cloud API message: free text inside the customer-service window, a template
    (body parameters in order) otherwise; answering the customer's message in context."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": _recipient(reply),
    }
    if reply.template.name:
        template: dict[str, Any] = {
            "name": reply.template.name,
            "language": {"code": reply.template.language},
        }
        if reply.template.parameters:
            template["components"] = [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": p} for p in reply.template.parameters],
                }
            ]
        body["type"] = "template"
        body["template"] = template
    else:
        body["type"] = "text"
        body["text"] = {"body": reply.text, "preview_url": False}
    if reply.in_reply_to:
        body["context"] = {"message_id": reply.in_reply_to}
    body["biz_opaque_callback_data"] = callback_data(reply.case_id, reply.reply_id)
    return body


def _x_request(reply: commands_pb2.OutboundReply, brand: Brand) -> PlatformRequest:
    x = brand.x
    token = x.bearer_token if x else None
    if x is None or not token:
        env = x.bearer_token_env if x else "SOCIALCARE_X_BEARER_TOKEN"
        raise NotSendableError(
            f"brand {brand.name!r} has no X user access token (set {env})", "not_configured"
        )
    headers = _headers(token, reply.reply_id)
    if reply.kind == DM:
        recipient = quote(_recipient(reply), safe="")
        return PlatformRequest(
            "x_dm",
            "POST",
            f"{x.base_url}/dm_conversations/with/{recipient}/messages",
            headers,
            _json({"text": reply.text}),
        )
    body = {"text": reply.text, "reply": {"in_reply_to_tweet_id": _target(reply, "post")}}
    return PlatformRequest("x", "POST", f"{x.base_url}/tweets", headers, _json(body))


def _linkedin_request(reply: commands_pb2.OutboundReply, brand: Brand) -> PlatformRequest:
    linkedin = brand.linkedin
    token = linkedin.access_token if linkedin else None
    if linkedin is None or not token:
        env = linkedin.access_token_env if linkedin else "SOCIALCARE_LINKEDIN_ACCESS_TOKEN"
        raise NotSendableError(
            f"brand {brand.name!r} has no LinkedIn access token (set {env})", "not_configured"
        )
    if reply.kind == DM:
        raise NotSendableError(
            "LinkedIn has no API for organisations to answer private messages; post it by hand",
            "unsupported",
        )
    if not reply.account_id:
        raise NotSendableError("the reply names no organisation to comment as", "no_account")
    post = reply.thread_id or reply.in_reply_to
    if not post:
        raise NotSendableError("the reply names no LinkedIn post to comment on", "no_target")
    body: dict[str, Any] = {
        "actor": reply.account_id,
        "object": post,
        "message": {"text": reply.text},
    }
    # A comment on a comment goes to the parent comment's socialActions (a nested comment).
    target = post
    if reply.in_reply_to.startswith("urn:li:comment:"):
        target = reply.in_reply_to
        body["parentComment"] = reply.in_reply_to
    headers = _headers(token, reply.reply_id)
    headers["LinkedIn-Version"] = os.environ.get(LINKEDIN_VERSION_ENV) or DEFAULT_LINKEDIN_VERSION
    headers["X-Restli-Protocol-Version"] = "2.0.0"
    url = f"{linkedin.base_url}/rest/socialActions/{quote(target, safe='')}/comments"
    return PlatformRequest("linkedin", "POST", url, headers, _json(body))


def generic_source_for(reply: commands_pb2.OutboundReply, brand: Brand) -> GenericSource | None:
    """The brand's generic source a reply goes back through: the one named by the reply's
    account id, else the only source of the reply's channel that has a reply URL."""
    for source in brand.generic:
        if source.source == reply.account_id:
            return source
    channel = channel_name(reply.channel)
    candidates = [s for s in brand.generic if s.channel == channel and s.reply_url]
    return candidates[0] if len(candidates) == 1 else None


def _generic_request(
    reply: commands_pb2.OutboundReply, brand: Brand, *, now: datetime
) -> PlatformRequest:
    source = generic_source_for(reply, brand)
    channel = channel_name(reply.channel)
    if source is None or not source.reply_url:
        raise NotSendableError(
            f"no connector posts replies to {channel} for brand {brand.name!r} "
            "(configure a generic source with a reply_url); post it by hand",
            "no_connector",
        )
    secret = source.secret
    if not secret:
        raise NotSendableError(
            f"generic source {source.source!r} has no secret (set {source.secret_env})",
            "not_configured",
        )
    body = _json(
        {
            "reply_id": reply.reply_id,
            "case_id": reply.case_id,
            "channel": channel,
            "source": source.source,
            "in_reply_to": reply.in_reply_to,
            "thread_id": reply.thread_id,
            "recipient_id": reply.recipient_id,
            "text": reply.text,
            "agent_name": reply.agent_name,
            "brand": reply.brand or brand.name,
            "created_at": rfc3339(reply.created_at),
        }
    )
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": reply.reply_id,
        GENERIC_HEADER: generic_signature(secret, body, timestamp=int(now.timestamp())),
    }
    return PlatformRequest("generic", "POST", source.reply_url, headers, body)


# -- reading answers ---------------------------------------------------------------------
def interpret(
    endpoint: str, status: int, headers: Mapping[str, str], body: bytes, *, now: datetime
) -> Outcome:
    """What the platform's answer means. `headers` keys are matched case-insensitively."""
    lowered = {k.lower(): v for k, v in headers.items()}
    payload = _load(body)
    if 200 <= status < 300:
        return Posted(_posted_id(endpoint, payload, lowered))
    retry_after = parse_retry_after(lowered.get("retry-after"), now)
    if retry_after is None and endpoint in ("x", "x_dm"):
        retry_after = parse_reset_epoch(lowered.get("x-rate-limit-reset"), now)
    reason, code, platform_transient = _error(endpoint, status, payload)
    transient = status in (408, 429) or status >= 500 or platform_transient
    return Refused(reason, code, transient, retry_after if transient else None)


def _load(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _posted_id(endpoint: str, payload: Any, headers: Mapping[str, str]) -> str:
    data = payload if isinstance(payload, dict) else {}
    if endpoint == "whatsapp":
        messages = data.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            return _text(messages[0].get("id"))
        return ""
    if endpoint in ("messenger", "instagram_dm"):
        return _text(data.get("message_id"))
    if endpoint in ("x", "x_dm"):
        inner = data.get("data")
        if isinstance(inner, dict):
            return _text(inner.get("dm_event_id" if endpoint == "x_dm" else "id"))
        return ""
    if endpoint == "linkedin":
        return (
            headers.get("x-restli-id")
            or _text(data.get("commentUrn"))
            or _text(data.get("$URN"))
            or _text(data.get("id"))
        )
    return _text(data.get("id"))


def _error(endpoint: str, status: int, payload: Any) -> tuple[str, str, bool]:
    """(reason, code, the platform's code says transient) from an error body."""
    fallback = (f"HTTP {status} from {endpoint}", f"http_{status}", False)
    if not isinstance(payload, dict):
        return fallback
    error = payload.get("error")
    if isinstance(error, dict):  # Graph API (Facebook, Instagram, Messenger, WhatsApp)
        message = _text(error.get("message")) or fallback[0]
        data = error.get("error_data")
        details = _text(data.get("details")) if isinstance(data, dict) else ""
        if details and details not in message:
            message = f"{message}: {details}"
        code = error.get("code")
        if isinstance(code, int):
            return message, str(code), code in GRAPH_TRANSIENT_CODES
        return message, fallback[1], False
    errors = payload.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):  # X
        first = errors[0]
        message = (
            _text(first.get("detail")) or _text(first.get("message")) or _text(first.get("title"))
        )
        code = first.get("code")
        if isinstance(code, int):
            return message or fallback[0], str(code), code in X_TRANSIENT_CODES
        return message or fallback[0], fallback[1], False
    if "detail" in payload or "title" in payload:  # X problem (RFC 7807 style)
        message = _text(payload.get("detail")) or _text(payload.get("title"))
        return message or fallback[0], fallback[1], False
    if "message" in payload:  # LinkedIn, generic
        code = payload.get("serviceErrorCode")
        return (
            _text(payload.get("message")) or fallback[0],
            str(code) if isinstance(code, int) else fallback[1],
            False,
        )
    return fallback
