"""The webhook doors of the channel connectors: Meta, X, LinkedIn and generic sources.

    GET  /v1/channels/meta/webhook       Meta's subscription handshake (hub.*)
    POST /v1/channels/meta/webhook       Facebook, Instagram and WhatsApp changes
    GET  /v1/channels/x/webhook          X's challenge-response check (crc_token)
    POST /v1/channels/x/webhook          X Account Activity events
    GET  /v1/channels/linkedin/webhook   LinkedIn's validation (challengeCode)
    POST /v1/channels/linkedin/webhook   LinkedIn organisation social-action notifications
    POST /v1/channels/generic/{source}   a configured source's signed JSON (our format)

A POST is checked in this order, and refused at the first failure with the platform's one
error body (`core.http_errors`), nothing processed:

    404 `unknown_connector` / `unknown_source`  no brand has this connector's secret
    413 `payload_too_large`       Content-Length, or the body as it streams, is over the cap
    415 `unsupported_media_type`  Content-Type is not application/json
    401 `invalid_signature`       signature header missing or not made with a brand's secret
    429 `rate_limited`            the sender's token bucket is empty; `Retry-After` says when
    400 `invalid_json`            not JSON (or a string with a lone surrogate)
    422 `invalid_request`         JSON, but not the platform's documented shape; `field` names
                                  where (`entry.0.changes.1.value.from.id`)
    503 `bus_unavailable`         not durable; `Retry-After`; the platform re-delivers
    200 {"accepted", "duplicates", "deliveries", "skipped"}  all of it is durable

The body is read here as raw bytes, capped while it streams, because the signature is over
exactly those bytes; FastAPI never parses it first. The signature is checked before the
JSON is parsed, so an unsigned request costs an HMAC, not a parse. A 2xx promises what
`POST /v1/messages` promises: the messages parsed from the body, the reply deliveries it
reported and the raw body itself (on `social.payloads.raw`, for audit) are durable; a
re-delivered webhook is answered 200 again with its messages counted as duplicates. Meta
and X want a 200 quickly and re-deliver otherwise, so nothing slower than the bus wait
happens before answering.

Brands: every brand with the connector's secret is a candidate, and the request belongs to
those whose secret signed it (one Meta app may serve several brands' pages). A message goes
to the matching brand that lists its account (`accounts`), else to one that lists none
(which takes every account), else to the first match. `?brand=<name>` on the URL limits the
candidates to that brand: the GET handshakes of X and LinkedIn do not say which app they
are for, so when brands have different X (or LinkedIn) apps, register each app's webhook URL
with its brand.

Never a 5xx other than 503 for the bus: whatever a sender posts is a 4xx naming the cause.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, ClassVar, ParamSpec, TypeVar

import grpc
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse
from opentelemetry import propagate
from opentelemetry.context import Context
from prometheus_client import Counter
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from socialcare.channels import signatures
from socialcare.channels.generic import parse_generic
from socialcare.channels.linkedin import parse_linkedin
from socialcare.channels.meta import parse_meta
from socialcare.channels.parsed import ParsedWebhook, PayloadError
from socialcare.channels.ratelimit import RateKey, RateLimiter, retry_after_s
from socialcare.channels.x import parse_x
from socialcare.core.clock import Clock, to_timestamp, utc_now
from socialcare.core.domain.brands import Brand, GenericSource
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.errors import (
    InvalidRequestError,
    MalformedRequestError,
    NotFoundError,
    SocialcareError,
    UnsupportedMediaTypeError,
    as_socialcare_error,
    field_problems,
    has_lone_surrogates,
)
from socialcare.core.events import derived_id
from socialcare.core.http_errors import error_responses
from socialcare.ingestion.ingestor import Ingestor, IngestResult
from socialcare.ingestion.models import MessageCreate
from socialcare.v1 import delivery_pb2

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
"""Room for a generic batch of 500 long messages or a Meta batch of 1000 changes."""

_INLINE_BODY_BYTES = 64 * 1024
"""Bodies up to this size are checked and parsed on the event loop (well under a
millisecond); a bigger one goes to the threadpool, so it cannot hold up other requests."""

DEFAULT_PLATFORM_RATE_PER_S = 1000.0
DEFAULT_PLATFORM_BURST = 5000
"""Meta, X and LinkedIn per brand and process. These senders are the platforms themselves
(signed with our app secret) and batch their changes, so the cap is set far above a busy
brand's traffic: it only keeps a runaway re-delivery from starving the other senders, and
what it refuses (429) the platform re-delivers later.
Generic sources set their own (`rate_per_s`, `burst`)."""

WEBHOOKS = Counter(
    "socialcare_webhooks_total",
    "Webhook requests by connector (meta, x, linkedin, generic) and outcome: accepted, "
    "verified (a handshake answered), or the error code it was refused with "
    "(invalid_signature, rate_limited, payload_too_large, bus_unavailable, ...).",
    ["connector", "outcome"],
)

_P = ParamSpec("_P")
_T = TypeVar("_T")
_JSON = "application/json"
_CHALLENGE = re.compile(r"^[A-Za-z0-9._~-]{1,256}$")
_ESCAPED_SURROGATE = re.compile(rb"\\[uU][dD][89a-fA-F]")


class InvalidSignatureError(SocialcareError):
    """The request is not signed by a sender we share a secret with: 401."""

    http_status: ClassVar[HTTPStatus] = HTTPStatus.UNAUTHORIZED
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNAUTHENTICATED
    default_code: ClassVar[str] = "invalid_signature"


class VerificationFailedError(SocialcareError):
    """A subscription handshake with a wrong verify token: 403 (Meta shows it as failed)."""

    http_status: ClassVar[HTTPStatus] = HTTPStatus.FORBIDDEN
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.PERMISSION_DENIED
    default_code: ClassVar[str] = "verification_failed"


class PayloadTooLargeError(InvalidRequestError):
    """The body is over the size cap: 413."""

    http_status: ClassVar[HTTPStatus] = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_code: ClassVar[str] = "payload_too_large"


class RateLimitedError(SocialcareError):
    """The sender posts faster than its rate: 429 with `Retry-After`."""

    http_status: ClassVar[HTTPStatus] = HTTPStatus.TOO_MANY_REQUESTS
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_code: ClassVar[str] = "rate_limited"


class WebhookReceipt(BaseModel):
    """What a webhook POST answers once everything in it is durable."""

    accepted: int = Field(description="New messages, now durable.")
    duplicates: int = Field(description="Messages accepted before (a re-delivery).")
    deliveries: int = Field(description="Reply delivery statuses reported (sent, read, ...).")
    skipped: int = Field(
        description="Changes that are not customer messages (likes, edits, "
        "our own replies echoed back); the raw body keeps them for audit."
    )


PlatformParser = Callable[..., ParsedWebhook]


@dataclass(frozen=True, slots=True)
class Platform:
    """What differs between the Meta, X and LinkedIn doors."""

    connector: str
    title: str
    signature_header: str
    verify: Callable[[str, bytes, str | None], bool]
    secret: Callable[[Brand], str | None]
    accounts: Callable[[Brand], Sequence[str]]
    parse: PlatformParser


META = Platform(
    connector="meta",
    title="Meta",
    signature_header=signatures.META_HEADER,
    verify=signatures.verify_meta,
    secret=lambda brand: brand.meta.app_secret if brand.meta else None,
    accounts=lambda brand: brand.meta.accounts if brand.meta else (),
    parse=parse_meta,
)
X = Platform(
    connector="x",
    title="X",
    signature_header=signatures.X_HEADER,
    verify=signatures.verify_x,
    secret=lambda brand: brand.x.consumer_secret if brand.x else None,
    accounts=lambda brand: brand.x.accounts if brand.x else (),
    parse=parse_x,
)
LINKEDIN = Platform(
    connector="linkedin",
    title="LinkedIn",
    signature_header=signatures.LINKEDIN_HEADER,
    verify=signatures.verify_linkedin,
    secret=lambda brand: brand.linkedin.client_secret if brand.linkedin else None,
    accounts=lambda brand: brand.linkedin.accounts if brand.linkedin else (),
    parse=parse_linkedin,
)


@dataclass(frozen=True, slots=True)
class _Signer:
    """A brand that may have signed a request, with the secret to check it."""

    brand: Brand
    secret: str


@dataclass(frozen=True, slots=True)
class _Source:
    """A brand's generic source that may have signed a request."""

    brand: Brand
    source: GenericSource
    secret: str


@dataclass(frozen=True, slots=True)
class _Sent:
    """What the request says about its body beyond the bytes."""

    content_type: str
    parent: Context

    @classmethod
    def of(cls, request: Request) -> _Sent:
        headers = request.headers
        return cls(headers.get("content-type", ""), propagate.extract(dict(headers)))


BrandQuery = Annotated[
    str | None,
    Query(
        description="Only this brand's app; needed on X and LinkedIn webhook URLs when "
        "brands have different apps."
    ),
]

_SIGNED_BODY = {
    "required": True,
    "content": {_JSON: {"schema": {"type": "object", "additionalProperties": True}}},
}


def channels_router(
    ingestor: Ingestor,
    care: CareConfig,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    clock: Clock = utc_now,
    platform_rate_per_s: float = DEFAULT_PLATFORM_RATE_PER_S,
    platform_burst: int = DEFAULT_PLATFORM_BURST,
    limiter: RateLimiter | None = None,
) -> APIRouter:
    """The connectors' webhook endpoints, for the brands of `care`, publishing through
    `ingestor`. Secrets are read from the environment on every request (rotation needs no
    restart); `clock` gives `received_at` and the generic signatures' "now"."""
    door = _WebhookDoor(
        ingestor,
        care,
        max_body_bytes=max_body_bytes,
        clock=clock,
        platform_rate_per_s=platform_rate_per_s,
        platform_burst=platform_burst,
        limiter=limiter or RateLimiter(),
    )
    router = APIRouter(tags=["channels"])
    post_errors = error_responses(400, 401, 404, 413, 415, 422, 429, 503, descriptions=_POST_ERRORS)

    @router.get(
        "/v1/channels/meta/webhook",
        response_class=Response,  # the 200 is text/plain, the errors the one JSON body
        summary="Meta webhook subscription handshake",
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "The verify token matched: `hub.challenge`, echoed.",
            },
            **error_responses(403, 404, 422, descriptions=_GET_ERRORS),
        },
    )
    async def meta_handshake(
        mode: Annotated[str | None, Query(alias="hub.mode")] = None,
        verify_token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
        challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
        brand: BrandQuery = None,
    ) -> PlainTextResponse:
        """Meta calls this when the webhook is subscribed in the app dashboard: answer the
        challenge if the verify token is one of the brands' `verify_token`."""
        return door.counted(
            META.connector, "verified", door.meta_handshake, mode, verify_token, challenge, brand
        )

    @router.get(
        "/v1/channels/x/webhook",
        summary="X challenge-response check (CRC)",
        responses={
            200: {"description": '`{"response_token": "sha256=<base64 HMAC>"}`.'},
            **error_responses(404, 422, descriptions=_GET_ERRORS),
        },
    )
    async def x_crc(
        crc_token: Annotated[str | None, Query()] = None,
        brand: BrandQuery = None,
    ) -> dict[str, str]:
        """X calls this on registration and about daily; an unanswered CRC stops delivery."""
        return door.counted(X.connector, "verified", door.x_crc, crc_token, brand)

    @router.get(
        "/v1/channels/linkedin/webhook",
        summary="LinkedIn webhook validation",
        responses={
            200: {"description": '`{"challengeCode", "challengeResponse": <hex HMAC>}`.'},
            **error_responses(404, 422, descriptions=_GET_ERRORS),
        },
    )
    async def linkedin_validation(
        challenge_code: Annotated[str | None, Query(alias="challengeCode")] = None,
        application_id: Annotated[str | None, Query(alias="applicationId")] = None,
        brand: BrandQuery = None,
    ) -> dict[str, str]:
        """LinkedIn calls this on registration and every 2 hours; three failures in a row
        block the webhook."""
        return door.counted(
            LINKEDIN.connector, "verified", door.linkedin_validation, challenge_code, brand
        )

    for platform in (META, X, LINKEDIN):
        router.add_api_route(
            f"/v1/channels/{platform.connector}/webhook",
            _platform_endpoint(door, platform),
            methods=["POST"],
            response_model=WebhookReceipt,
            summary=f"{platform.title} webhook events",
            description=f"Signed by {platform.title} (`{platform.signature_header}`); see "
            "the module documentation for the answers.",
            responses=post_errors,
            openapi_extra={"requestBody": _SIGNED_BODY},
        )

    @router.post(
        "/v1/channels/generic/{source}",
        response_model=WebhookReceipt,
        summary="A generic source's signed messages",
        responses=post_errors,
        openapi_extra={"requestBody": _SIGNED_BODY},
    )
    async def generic_webhook(source: str, request: Request) -> Response:
        """One message object, or `{"messages": [...]}` (up to 500), each what
        `POST /v1/messages` takes without `channel` (the source's channel is used).
        Signed with `X-Socialcare-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
        "<t>." + body>` with the source's secret; at most 5 minutes old. An invalid message
        refuses the whole request (422 naming `messages.3.author.id`)."""
        return await door.counted_async("generic", door.receive_generic, source, request)

    return router


def _platform_endpoint(door: _WebhookDoor, platform: Platform) -> Callable[..., Any]:
    async def receive(request: Request, brand: BrandQuery = None) -> Response:
        return await door.counted_async(
            platform.connector, door.receive_platform, platform, request, brand
        )

    receive.__name__ = f"{platform.connector}_webhook"
    return receive


_POST_ERRORS = {
    400: "The body is not JSON (`invalid_json`).",
    401: "Not signed with a configured secret (`invalid_signature`); nothing processed.",
    404: "The connector or source is not configured (`unknown_connector`, `unknown_source`).",
    413: "The body is over the size cap (`payload_too_large`).",
    415: "Not sent as application/json (`unsupported_media_type`).",
    422: "Not the documented payload shape; `field` names where (`invalid_request`).",
    429: "The sender posts too fast (`rate_limited`); retry after `Retry-After` seconds.",
    503: "The event bus is unavailable (`bus_unavailable`): nothing accepted; re-deliver.",
}
_GET_ERRORS = {
    403: "The verify token matches no brand's (`verification_failed`).",
    404: "The connector is not configured (`unknown_connector`).",
    422: "The challenge is missing, or several brands' apps could answer (name `brand`).",
}


class _WebhookDoor:
    """The checks every webhook request goes through, in the documented order."""

    def __init__(
        self,
        ingestor: Ingestor,
        care: CareConfig,
        *,
        max_body_bytes: int,
        clock: Clock,
        platform_rate_per_s: float,
        platform_burst: int,
        limiter: RateLimiter,
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1")
        self._ingestor = ingestor
        self._care = care
        self._max_body_bytes = max_body_bytes
        self._clock = clock
        self._platform_rate = (platform_rate_per_s, platform_burst)
        self._limiter = limiter

    # Metrics ---------------------------------------------------------------------------

    def counted(
        self,
        connector: str,
        success: str,
        handle: Callable[_P, _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        """`handle(...)`, counted as `success` or as the error code it raised."""
        try:
            answer = handle(*args, **kwargs)
        except Exception as exc:
            WEBHOOKS.labels(connector, _outcome(exc)).inc()
            raise
        WEBHOOKS.labels(connector, success).inc()
        return answer

    async def counted_async(
        self,
        connector: str,
        handle: Callable[_P, Awaitable[_T]],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        """`await handle(...)`, counted as accepted, or as the error code it raised."""
        try:
            answer = await handle(*args, **kwargs)
        except Exception as exc:
            WEBHOOKS.labels(connector, _outcome(exc)).inc()
            raise
        WEBHOOKS.labels(connector, "accepted").inc()
        return answer

    # Handshakes ------------------------------------------------------------------------

    def meta_handshake(
        self, mode: str | None, verify_token: str | None, challenge: str | None, brand: str | None
    ) -> PlainTextResponse:
        signers = self._signers(META, brand)
        tokens = [s.brand.meta.verify_token for s in signers if s.brand.meta]
        matched = verify_token is not None and any(
            signatures.constant_time_equal(token, verify_token) for token in tokens if token
        )
        if mode != "subscribe" or not matched:
            raise VerificationFailedError(
                "hub.mode must be subscribe and hub.verify_token a brand's Meta verify token"
            )
        if challenge is None or not _CHALLENGE.match(challenge):
            raise VerificationFailedError("hub.challenge is missing or not a token")
        return PlainTextResponse(challenge, headers={"X-Content-Type-Options": "nosniff"})

    def x_crc(self, crc_token: str | None, brand: str | None) -> dict[str, str]:
        if not crc_token:
            raise InvalidRequestError("crc_token is required", field="crc_token")
        return signatures.x_crc_response(self._only_secret(X, brand), crc_token)

    def linkedin_validation(self, challenge_code: str | None, brand: str | None) -> dict[str, str]:
        if not challenge_code:
            raise InvalidRequestError("challengeCode is required", field="challengeCode")
        secret = self._only_secret(LINKEDIN, brand)
        return signatures.linkedin_challenge_response(secret, challenge_code)

    def _only_secret(self, platform: Platform, brand: str | None) -> str:
        secrets = {s.secret for s in self._signers(platform, brand)}
        if len(secrets) > 1:
            raise InvalidRequestError(
                f"several brands have their own {platform.title} app: register each app's "
                "webhook URL with ?brand=<name>",
                field="brand",
            )
        return secrets.pop()

    # Events ----------------------------------------------------------------------------

    async def receive_platform(
        self, platform: Platform, request: Request, brand: str | None
    ) -> Response:
        signers = self._signers(platform, brand)
        body = await self._read_body(request)
        header = request.headers.get(platform.signature_header)
        sent = _Sent.of(request)
        if len(body) > _INLINE_BODY_BYTES:
            return await run_in_threadpool(
                self._accept_platform, platform, signers, body, header, sent
            )
        return await self._ingest_async(self._check_platform(platform, signers, body, header, sent))

    def _accept_platform(
        self,
        platform: Platform,
        signers: Sequence[_Signer],
        body: bytes,
        header: str | None,
        sent: _Sent,
    ) -> Response:
        return self._ingest(self._check_platform(platform, signers, body, header, sent))

    def _check_platform(
        self,
        platform: Platform,
        signers: Sequence[_Signer],
        body: bytes,
        header: str | None,
        sent: _Sent,
    ) -> _Checked:
        matched = [s.brand for s in signers if platform.verify(s.secret, body, header)]
        if not matched:
            log.info("webhook signature refused", extra={"connector": platform.connector})
            raise InvalidSignatureError(
                f"{platform.signature_header} is missing or not signed with the "
                f"{platform.title} app secret of a configured brand"
            )
        self._take_token((platform.connector, matched[0].name), *self._platform_rate)
        return self._parse(
            platform.connector,
            body,
            sent,
            matched,
            lambda document, name: platform.parse(document, brand=name),
            platform.accounts,
        )

    async def receive_generic(self, source: str, request: Request) -> Response:
        sources = [
            _Source(brand, configured, secret)
            for brand in self._care.effective_brands
            if (configured := brand.generic_source(source)) is not None
            and (secret := configured.secret) is not None
        ]
        if not sources:
            raise NotFoundError(
                f"no brand has a generic source {source!r} with its secret set",
                code="unknown_source",
            )
        body = await self._read_body(request)
        header = request.headers.get(signatures.GENERIC_HEADER)
        sent = _Sent.of(request)
        if len(body) > _INLINE_BODY_BYTES:
            return await run_in_threadpool(
                self._accept_generic, source, sources, body, header, sent
            )
        return await self._ingest_async(self._check_generic(source, sources, body, header, sent))

    def _accept_generic(
        self,
        source: str,
        sources: Sequence[_Source],
        body: bytes,
        header: str | None,
        sent: _Sent,
    ) -> Response:
        return self._ingest(self._check_generic(source, sources, body, header, sent))

    def _check_generic(
        self,
        source: str,
        sources: Sequence[_Source],
        body: bytes,
        header: str | None,
        sent: _Sent,
    ) -> _Checked:
        now = self._clock().timestamp()
        signed = next(
            (s for s in sources if signatures.verify_generic(s.secret, body, header, now=now)),
            None,
        )
        if signed is None:
            log.info("webhook signature refused", extra={"connector": "generic"})
            raise InvalidSignatureError(
                f"{signatures.GENERIC_HEADER} is missing, more than "
                f"{signatures.GENERIC_TOLERANCE_S} s off, or not signed with the source's "
                "secret"
            )
        configured = signed.source
        self._take_token(
            ("generic", f"{signed.brand.name}/{source}"), configured.rate_per_s, configured.burst
        )
        return self._parse(
            f"generic/{source}",
            body,
            sent,
            [signed.brand],
            lambda document, name: parse_generic(
                document, brand=name, source=source, channel=configured.channel
            ),
            lambda _brand: (),
        )

    def _signers(self, platform: Platform, brand: str | None) -> list[_Signer]:
        """The brands with this connector's secret (only `brand`, if named); 404 if none."""
        signers = [
            _Signer(candidate, secret)
            for candidate in self._care.effective_brands
            if (brand is None or candidate.name == brand)
            and (secret := platform.secret(candidate)) is not None
        ]
        if not signers:
            whose = f"brand {brand!r}" if brand is not None else "any brand"
            raise NotFoundError(
                f"the {platform.title} connector is not configured for {whose} "
                "(its secret is not set)",
                code="unknown_connector",
            )
        return signers

    async def _read_body(self, request: Request) -> bytes:
        """The raw body, refused (413) as soon as it is known to be over the cap, then
        refused (415) unless sent as JSON."""
        limit = self._max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLargeError(_too_large(limit))
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise PayloadTooLargeError(_too_large(limit))
        except ClientDisconnect:
            # Nobody is left to answer; a 400 keeps it out of the internal-error log.
            raise MalformedRequestError("the sender went away before the body ended") from None
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != _JSON:
            raise UnsupportedMediaTypeError(f"send the body with Content-Type: {_JSON}")
        return bytes(body)

    def _take_token(self, key: RateKey, rate_per_s: float, burst: int) -> None:
        wait_s = self._limiter.acquire(key, rate_per_s=rate_per_s, burst=burst)
        if wait_s > 0:
            raise RateLimitedError(
                f"too many requests from this sender; retry in {retry_after_s(wait_s)} s",
                retry_after_s=retry_after_s(wait_s),
            )

    def _parse(
        self,
        connector: str,
        body: bytes,
        sent: _Sent,
        brands: Sequence[Brand],
        parse: Callable[[Mapping[str, Any], str], ParsedWebhook],
        accounts: Callable[[Brand], Sequence[str]],
    ) -> _Checked:
        """JSON (400), then the platform's shape (422): what goes to the ingestor."""
        document = _json_object(body)
        first = brands[0]
        try:
            parsed = parse(document, first.name)
        except PayloadError as exc:
            raise InvalidRequestError(exc.reason, field=exc.field) from exc
        except ValidationError as exc:
            raise InvalidRequestError.from_problems(field_problems(exc.errors())) from exc
        raw = delivery_pb2.RawPayload(
            payload_id=derived_id(connector, hashlib.sha256(body).hexdigest()),
            connector=connector,
            brand=first.name,
            received_at=to_timestamp(self._clock()),
            content_type=sent.content_type,
            body=body,
        )
        return _Checked(
            _assign_brands(parsed.messages, brands, accounts),
            raw,
            parsed.deliveries,
            len(parsed.skipped),
            sent.parent,
        )

    def _ingest(self, checked: _Checked) -> Response:
        """Everything to the ingestor; blocks until durable (503 if not), so it runs in
        the threadpool."""
        results = self._ingestor.ingest_batch(
            checked.messages, parent=checked.parent, raw=checked.raw, deliveries=checked.deliveries
        )
        return checked.receipt(results)

    async def _ingest_async(self, checked: _Checked) -> Response:
        """`_ingest` without a thread of its own (`Ingestor.ingest_batch_async`)."""
        results = await self._ingestor.ingest_batch_async(
            checked.messages, parent=checked.parent, raw=checked.raw, deliveries=checked.deliveries
        )
        return checked.receipt(results)


@dataclass(frozen=True, slots=True)
class _Checked:
    """A signed, parsed webhook: its records, ready for the ingestor."""

    messages: list[MessageCreate]
    raw: delivery_pb2.RawPayload
    deliveries: Sequence[delivery_pb2.ReplyDelivery]
    skipped: int
    parent: Context

    def receipt(self, results: Sequence[IngestResult]) -> Response:
        """The `WebhookReceipt` as the answer itself: FastAPI would validate and serialise
        the model again (and trace that) on every request."""
        duplicates = sum(result.duplicate for result in results)
        receipt = {
            "accepted": len(results) - duplicates,
            "duplicates": duplicates,
            "deliveries": len(self.deliveries),
            "skipped": self.skipped,
        }
        return Response(json.dumps(receipt, separators=(",", ":")), media_type=_JSON)


def _outcome(exc: Exception) -> str:
    """The metric's outcome for a refused request: the error code the client reads
    (`bus_unavailable` for a BusError, `internal` for a bug)."""
    return as_socialcare_error(exc).code


def _assign_brands(
    messages: list[MessageCreate],
    brands: Sequence[Brand],
    accounts: Callable[[Brand], Sequence[str]],
) -> list[MessageCreate]:
    """Messages parsed for `brands[0]`, each given to the brand whose accounts list its
    account, else to a brand that lists none (it takes every account), else left as is."""
    if len(brands) == 1:
        return messages
    catch_all = next((b for b in brands if not accounts(b)), brands[0])
    assigned = []
    for message in messages:
        owner = next(
            (b for b in brands if message.account_id and message.account_id in accounts(b)),
            catch_all,
        )
        if owner.name != message.brand:
            message = message.model_copy(update={"brand": owner.name})
        assigned.append(message)
    return assigned


def _json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object: 400 for anything that is not JSON (or carries a lone
    surrogate, which no channel can mean and protobuf cannot encode), 422 for JSON that is
    not an object."""
    try:
        document = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "malformed"
        raise MalformedRequestError(f"request body is not valid JSON: {reason}") from None
    if _ESCAPED_SURROGATE.search(body) and _has_lone_surrogate(document):
        raise MalformedRequestError(
            "request body is not valid JSON text: a \\u escape is a lone surrogate"
        )
    if not isinstance(document, dict):
        raise InvalidRequestError("the body must be a JSON object", field="body")
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _has_lone_surrogate(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_lone_surrogates(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _too_large(limit: int) -> str:
    return f"request body is over {limit} bytes"
