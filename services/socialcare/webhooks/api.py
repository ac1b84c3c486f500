"""The webhook REST API (ADR 0012): integrators manage their subscriptions, read the
delivery log, replay dead letters and past events, and send a test ping.

Who: a credential with `manage_webhooks` — an integrator's API key, scoped to its one
brand (it sees and manages only that brand's subscriptions), or an admin (any brand). A
subscription of a brand the caller does not see is 404, as if it did not exist.

* `POST /v1/webhooks` — subscribe: `url`, `event_types` (names or `<noun>.*` from the
  catalogue; empty = every type), `description`, `brand` (default: the key's). 201 with
  the subscription and its signing `secret`, shown this once.
* `GET /v1/webhooks`, `GET /v1/webhooks/{id}` — without the secret.
* `GET /v1/webhooks/event-types` — the catalogue (name, source topic, description).
* `PATCH /v1/webhooks/{id}` — `url`, `event_types`, `active`, `description`.
* `DELETE /v1/webhooks/{id}` — 204; nothing more is sent, pending deliveries are dropped.
* `POST /v1/webhooks/{id}/rotate-secret` — a new secret, shown once; the previous one
  keeps signing too (a second `v1=`) for 24 hours, so receivers can switch without a gap.
* `GET /v1/webhooks/{id}/deliveries?state=&limit=&cursor=` — the delivery log, newest
  first; `GET .../deliveries/{delivery_id}` adds the body exactly as sent.
* `POST /v1/webhooks/{id}/deliveries/replay` — send dead deliveries again (the listed
  ones, or all): 202.
* `POST /v1/webhooks/{id}/replay` — send again every event of the subscription's brand
  and types in `[since, until)`, read back from the event topics, with new delivery ids:
  202.
* `POST /v1/webhooks/{id}/ping` — a `webhook.ping` event now, through the sender like any
  delivery: 202 with its delivery id, whose outcome the delivery log shows.

Where things are: subscriptions in the `SubscriptionStore` (webhooks/subscriptions.py,
the compacted `webhooks.subscriptions`); the log in `DeliveryLog` (webhooks/delivery_log.py,
a follower of `webhooks.deliveries`); replays go to the engine as `WebhookCommand`s on
`webhooks.commands`; a ping is a new PENDING delivery on `webhooks.deliveries`, which the
sender takes up (a new key: the sender is its only writer from then on).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Annotated, Literal, Protocol

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AwareDatetime, BaseModel, Field

from socialcare.core.audit import note
from socialcare.core.auth import Permission, Principal, require
from socialcare.core.bus import Producer
from socialcare.core.clock import Clock, from_timestamp, to_timestamp, utc_now
from socialcare.core.domain import event_types
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.errors import (
    ConflictError,
    FieldProblem,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    UnavailableError,
)
from socialcare.core.events import derived_id, new_event_id
from socialcare.core.http_errors import RequestModel, error_responses
from socialcare.v1 import webhook_pb2
from socialcare.webhooks.delivery_log import (
    DEAD,
    DELIVERED,
    PENDING,
    DeliveryLog,
    InvalidCursorError,
)
from socialcare.webhooks.targets import Resolver, check_target, resolve_host

SOURCE = "webhooks-api"
SECRET_PREFIX = "whsec_"
ROTATION_OVERLAP = timedelta(hours=24)
MAX_SUBSCRIPTIONS_PER_BRAND = 100
MAX_EVENT_TYPES = 100
MAX_REPLAY_IDS = 1000
WRITE_TIMEOUT_S = 10.0

StateName = Literal["pending", "delivered", "dead"]
_STATES: dict[str, int] = {"pending": PENDING, "delivered": DELIVERED, "dead": DEAD}
_STATE_NAMES: dict[int, StateName] = {PENDING: "pending", DELIVERED: "delivered", DEAD: "dead"}


class SubscriptionStore(Protocol):
    """What the API needs of the subscriptions directory (webhooks/subscriptions.py)."""

    def subscription(self, subscription_id: str) -> webhook_pb2.WebhookSubscription | None:
        """A copy; None when unknown or deleted."""

    def subscriptions(self, brand: str | None = None) -> list[webhook_pb2.WebhookSubscription]:
        """Copies of every subscription not deleted (of `brand`, or all)."""

    def save(self, subscription: webhook_pb2.WebhookSubscription) -> None:
        """Publish the subscription's new state durably and apply it (BusError: 503)."""


# -- request and response bodies ------------------------------------------------------------

Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        description="Where deliveries are POSTed: https:// and a public address.",
        examples=["https://hooks.example.com/socialcare"],
    ),
]
EventTypes = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]],
    Field(
        max_length=MAX_EVENT_TYPES,
        description="Event types from the catalogue (`case.opened`) or every type of a noun "
        "(`sla.*`); empty: every type.",
        examples=[["case.opened", "case.assigned", "sla.*"]],
    ),
]
Description = Annotated[str, Field(max_length=500, description="For people; shown in lists.")]


class WebhookCreate(RequestModel):
    url: Url
    event_types: EventTypes = []
    description: Description = ""
    brand: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The brand whose events are sent; default: the API key's brand (an "
        "admin's default: the first configured brand).",
    )
    active: bool = Field(default=True, description="False: created paused.")


class WebhookUpdate(RequestModel):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    active: bool | None = Field(
        default=None, description="False pauses: no new deliveries, pending ones wait."
    )


class WebhookRead(BaseModel):
    id: str
    brand: str
    url: str
    event_types: list[str] = Field(description="Empty: every type.")
    description: str
    active: bool
    created_by: str
    created_at: datetime | None
    updated_at: datetime | None
    previous_secret_valid_until: datetime | None = Field(
        description="After a rotation: until when the previous secret signs too."
    )


class WebhookCreated(WebhookRead):
    secret: str = Field(description="The signing secret; shown this once, keep it safe.")


class WebhookList(BaseModel):
    webhooks: list[WebhookRead]


class WebhookSecret(BaseModel):
    id: str
    secret: str = Field(description="The new signing secret; shown this once.")
    previous_secret_valid_until: datetime = Field(
        description="Until then deliveries are signed with the previous secret too."
    )


class DeliveryRead(BaseModel):
    id: str = Field(description="The delivery id, sent as X-Socialcare-Delivery.")
    subscription_id: str
    event_type: str
    event_id: str = Field(description="The event's id (the CloudEvents `id`).")
    case_id: str
    state: StateName
    attempts: int
    last_status: int | None = Field(
        description="HTTP status of the last attempt; null without an answer (timeout, "
        "refused connection) or before the first attempt."
    )
    last_error: str
    created_at: datetime | None
    event_at: datetime | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(description="Pending only: when it is tried next.")
    delivered_at: datetime | None
    replay_id: str = Field(description="Set on deliveries made by a replay.")


class DeliveryDetail(DeliveryRead):
    body: str = Field(description="The JSON body exactly as sent (a CloudEvents envelope).")


class DeliveryList(BaseModel):
    deliveries: list[DeliveryRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done.")


class ReplayDead(RequestModel):
    delivery_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default=[],
        max_length=MAX_REPLAY_IDS,
        description="Dead deliveries to send again; empty: every dead delivery.",
    )


class ReplaySince(RequestModel):
    since: AwareDatetime = Field(description="Events at or after this time (with a time zone).")
    until: AwareDatetime | None = Field(
        default=None, description="Events before this time; default: now."
    )


class EventTypeRead(BaseModel):
    name: str = Field(examples=["case.opened"])
    topic: str = Field(description="The topic the event comes from.", examples=["care.cases"])
    description: str


class EventTypeList(BaseModel):
    event_types: list[EventTypeRead]
    patterns: list[str] = Field(
        description="`<noun>.*` entries a subscription may name instead of types.",
        examples=[["case.*", "sla.*"]],
    )


class ReplayAccepted(BaseModel):
    command_id: str
    subscription_id: str


class PingAccepted(BaseModel):
    delivery_id: str = Field(description="Follow it at GET .../deliveries/{delivery_id}.")
    subscription_id: str


# -- the router -----------------------------------------------------------------------------

Manager = Annotated[Principal, Depends(require(Permission.MANAGE_WEBHOOKS))]
WebhookId = Annotated[str, Path(min_length=1, max_length=100, description="The webhook id.")]
DeliveryId = Annotated[str, Path(min_length=1, max_length=100, description="The delivery id.")]

_NOT_FOUND = "No such webhook (or delivery) among the caller's brands (`not_found`)."
_UNAVAILABLE = (
    "The event bus is unavailable, or the delivery log is still loading "
    "(`delivery_log_loading`); retry after `Retry-After` seconds."
)
_FORBIDDEN = "The credential lacks `manage_webhooks`, or the brand is not its own (`forbidden`)."
_BODY_ERRORS = error_responses(
    400,
    401,
    403,
    404,
    409,
    415,
    422,
    503,
    descriptions={
        403: _FORBIDDEN,
        404: _NOT_FOUND,
        409: "Not possible in the current state (`too_many_webhooks`, `no_dead_deliveries`, "
        "`delivery_not_dead`, `webhook_paused`).",
        422: "Invalid request; `field` names it (`invalid_request`, `invalid_url`, "
        "`unknown_event_type`, `unknown_brand`, `brand_required`).",
        503: _UNAVAILABLE,
    },
)
_READ_ERRORS = error_responses(
    401, 403, 404, 422, 503, descriptions={403: _FORBIDDEN, 404: _NOT_FOUND, 503: _UNAVAILABLE}
)


def webhooks_router(
    *,
    care: CareConfig,
    subscriptions: SubscriptionStore,
    delivery_log: DeliveryLog,
    producer: Producer,
    allow_http: bool = False,
    allow_private_targets: bool = False,
    resolve: Resolver = resolve_host,
    clock: Clock = utc_now,
) -> APIRouter:
    """The webhook routes (see the module docstring). `allow_http` and
    `allow_private_targets` are SOCIALCARE_WEBHOOK_ALLOW_HTTP and
    SOCIALCARE_WEBHOOK_ALLOW_PRIVATE_TARGETS (webhooks/targets.py)."""
    api = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
    brand_names = [b.name for b in care.effective_brands]

    def target(url: str) -> str:
        return check_target(
            url, allow_http=allow_http, allow_private=allow_private_targets, resolve=resolve
        )

    def owned(webhook_id: str, principal: Principal) -> webhook_pb2.WebhookSubscription:
        found = subscriptions.subscription(webhook_id)
        if found is None or found.deleted or not principal.sees_brand(found.brand):
            raise NotFoundError(f"webhook {webhook_id} not found")
        return found

    def save(subscription: webhook_pb2.WebhookSubscription) -> None:
        subscription.updated_at.CopyFrom(to_timestamp(clock()))
        subscriptions.save(subscription)

    def brand_for(requested: str | None, principal: Principal) -> str:
        if requested is not None:
            # A key learns nothing about other brands: not its own is 403, whatever it is.
            if not principal.sees_brand(requested):
                raise ForbiddenError(
                    f"this credential manages the webhooks of {_brands_of(principal)} only",
                    field="brand",
                )
            if requested not in brand_names:
                raise _invalid("brand", "unknown_brand", f"choose one of {brand_names}")
            return requested
        if principal.brands is None:
            return brand_names[0]
        mine = [b for b in brand_names if b in principal.brands]
        if len(mine) == 1:
            return mine[0]
        raise _invalid("brand", "brand_required", f"say which brand: one of {mine}")

    @api.post(
        "",
        summary="Subscribe a URL to a brand's events (the secret is shown once)",
        status_code=HTTPStatus.CREATED,
        response_model=WebhookCreated,
        responses=_BODY_ERRORS,
    )
    def create_webhook(body: WebhookCreate, principal: Manager, request: Request) -> WebhookCreated:
        brand = brand_for(body.brand, principal)
        note(request, brand=brand)
        url = target(body.url)
        chosen = _event_types(body.event_types)
        if len(subscriptions.subscriptions(brand)) >= MAX_SUBSCRIPTIONS_PER_BRAND:
            raise ConflictError(
                f"brand {brand} has {MAX_SUBSCRIPTIONS_PER_BRAND} webhooks already; delete one "
                "first",
                code="too_many_webhooks",
            )
        now = to_timestamp(clock())
        subscription = webhook_pb2.WebhookSubscription(
            id=uuid.uuid4().hex,
            brand=brand,
            event_types=chosen,
            url=url,
            secret=new_secret(),
            description=body.description.strip(),
            active=body.active,
            created_by=principal.id,
            created_at=now,
        )
        save(subscription)
        note(request, target_id=subscription.id)
        return WebhookCreated(
            **_read(subscription, clock()).model_dump(), secret=subscription.secret
        )

    @api.get(
        "",
        summary="The webhooks of the caller's brands",
        response_model=WebhookList,
        responses=error_responses(401, 403, descriptions={403: _FORBIDDEN}),
    )
    def list_webhooks(principal: Manager) -> WebhookList:
        now = clock()
        found = [s for s in subscriptions.subscriptions() if principal.sees_brand(s.brand)]
        found.sort(key=lambda s: (s.created_at.seconds, s.created_at.nanos, s.id))
        return WebhookList(webhooks=[_read(s, now) for s in found])

    @api.get(
        "/event-types",
        summary="The event catalogue: every type a webhook can subscribe to",
        response_model=EventTypeList,
        responses=error_responses(401, 403, descriptions={403: _FORBIDDEN}),
    )
    def list_event_types(principal: Manager) -> EventTypeList:
        return EventTypeList(
            event_types=[EventTypeRead(**row) for row in event_types.catalogue()],
            patterns=sorted({f"{name.split('.')[0]}.*" for name in event_types.EVENT_TYPES}),
        )

    @api.get(
        "/{webhook_id}",
        summary="One webhook (without its secret)",
        response_model=WebhookRead,
        responses=_READ_ERRORS,
    )
    def get_webhook(webhook_id: WebhookId, principal: Manager) -> WebhookRead:
        return _read(owned(webhook_id, principal), clock())

    @api.patch(
        "/{webhook_id}",
        summary="Change a webhook's URL, event types, description, or pause/resume it",
        response_model=WebhookRead,
        responses=_BODY_ERRORS,
    )
    def update_webhook(
        webhook_id: WebhookId, body: WebhookUpdate, principal: Manager, request: Request
    ) -> WebhookRead:
        subscription = owned(webhook_id, principal)
        note(request, brand=subscription.brand)
        if body.url is not None:
            subscription.url = target(body.url)
        if body.event_types is not None:
            subscription.ClearField("event_types")
            subscription.event_types.extend(_event_types(body.event_types))
        if body.description is not None:
            subscription.description = body.description.strip()
        if body.active is not None:
            subscription.active = body.active
        save(subscription)
        return _read(subscription, clock())

    @api.delete(
        "/{webhook_id}",
        summary="Delete a webhook: nothing more is sent to it",
        status_code=HTTPStatus.NO_CONTENT,
        response_class=Response,
        responses=_READ_ERRORS,
    )
    def delete_webhook(webhook_id: WebhookId, principal: Manager, request: Request) -> Response:
        subscription = owned(webhook_id, principal)
        note(request, brand=subscription.brand)
        subscription.deleted = True
        subscription.active = False
        save(subscription)
        return Response(status_code=HTTPStatus.NO_CONTENT)

    @api.post(
        "/{webhook_id}/rotate-secret",
        summary="A new signing secret (shown once); the previous one signs too for 24 h",
        response_model=WebhookSecret,
        responses=_READ_ERRORS,
    )
    def rotate_secret(webhook_id: WebhookId, principal: Manager, request: Request) -> WebhookSecret:
        subscription = owned(webhook_id, principal)
        note(request, brand=subscription.brand)
        until = clock() + ROTATION_OVERLAP
        subscription.previous_secret = subscription.secret
        subscription.previous_secret_until.CopyFrom(to_timestamp(until))
        subscription.secret = new_secret()
        save(subscription)
        return WebhookSecret(
            id=subscription.id, secret=subscription.secret, previous_secret_valid_until=until
        )

    def readable_log() -> DeliveryLog:
        if not delivery_log.ready:
            raise UnavailableError(
                "the delivery log is still being read from webhooks.deliveries; retry shortly",
                code="delivery_log_loading",
                retry_after_s=2,
            )
        return delivery_log

    @api.get(
        "/{webhook_id}/deliveries",
        summary="The delivery log: pending, delivered and dead deliveries, newest first",
        response_model=DeliveryList,
        responses=_READ_ERRORS,
    )
    def list_deliveries(
        webhook_id: WebhookId,
        principal: Manager,
        state: Annotated[StateName | None, Query(description="Only this state.")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[
            str | None, Query(min_length=1, max_length=300, description="From next_cursor.")
        ] = None,
    ) -> DeliveryList:
        subscription = owned(webhook_id, principal)
        try:
            page = readable_log().page(
                subscription.id,
                state=None if state is None else _STATES[state],
                limit=limit,
                cursor=cursor,
            )
        except InvalidCursorError as exc:
            raise _invalid("cursor", "invalid_cursor", str(exc)) from exc
        return DeliveryList(
            deliveries=[_delivery(d) for d in page.deliveries], next_cursor=page.next_cursor
        )

    @api.get(
        "/{webhook_id}/deliveries/{delivery_id}",
        summary="One delivery with its body exactly as sent",
        response_model=DeliveryDetail,
        responses=_READ_ERRORS,
    )
    def get_delivery(
        webhook_id: WebhookId, delivery_id: DeliveryId, principal: Manager
    ) -> DeliveryDetail:
        subscription = owned(webhook_id, principal)
        found = readable_log().delivery(subscription.id, delivery_id)
        if found is None:
            raise NotFoundError(f"delivery {delivery_id} of webhook {webhook_id} not found")
        return DeliveryDetail(
            **_delivery(found).model_dump(), body=bytes(found.body).decode("utf-8", "replace")
        )

    def command(
        subscription: webhook_pb2.WebhookSubscription, principal: Principal
    ) -> webhook_pb2.WebhookCommand:
        return webhook_pb2.WebhookCommand(
            command_id=new_event_id(),
            subscription_id=subscription.id,
            issued_by=principal.id,
            issued_at=to_timestamp(clock()),
        )

    def publish(emit: Emit) -> None:
        for delivery in publish_effects(producer, [emit], source=SOURCE):
            delivery.wait(WRITE_TIMEOUT_S)

    @api.post(
        "/{webhook_id}/deliveries/replay",
        summary="Send dead deliveries again (the listed ones, or all)",
        status_code=HTTPStatus.ACCEPTED,
        response_model=ReplayAccepted,
        responses=_BODY_ERRORS,
    )
    def replay_dead(
        webhook_id: WebhookId,
        principal: Manager,
        request: Request,
        body: ReplayDead | None = None,
    ) -> ReplayAccepted:
        subscription = owned(webhook_id, principal)
        note(request, brand=subscription.brand)
        wanted = list(dict.fromkeys(body.delivery_ids)) if body else []
        dead = readable_log().dead_ids(subscription.id)
        if not wanted and not dead:
            raise ConflictError(
                f"webhook {webhook_id} has no dead deliveries", code="no_dead_deliveries"
            )
        for delivery_id in wanted:
            if delivery_id in dead:
                continue
            if delivery_log.delivery(subscription.id, delivery_id) is None:
                raise NotFoundError(
                    f"delivery {delivery_id} of webhook {webhook_id} not found",
                    field="delivery_ids",
                )
            raise ConflictError(
                f"delivery {delivery_id} is not dead; only dead deliveries are replayed",
                code="delivery_not_dead",
                field="delivery_ids",
            )
        replay = command(subscription, principal)
        replay.replay_dead.delivery_ids.extend(wanted)
        publish(Emit(Topic.WEBHOOK_COMMANDS, replay))
        return ReplayAccepted(command_id=replay.command_id, subscription_id=subscription.id)

    @api.post(
        "/{webhook_id}/replay",
        summary="Send every event since a point in time again (new delivery ids)",
        status_code=HTTPStatus.ACCEPTED,
        response_model=ReplayAccepted,
        responses=_BODY_ERRORS,
    )
    def replay_since(
        webhook_id: WebhookId, body: ReplaySince, principal: Manager, request: Request
    ) -> ReplayAccepted:
        subscription = owned(webhook_id, principal)
        note(request, brand=subscription.brand)
        now = clock()
        if body.since > now:
            raise _invalid("since", "invalid_request", "must not be in the future")
        if body.until is not None and body.until <= body.since:
            raise _invalid("until", "invalid_request", "must be after since")
        replay = command(subscription, principal)
        replay.replay_since.since.CopyFrom(to_timestamp(body.since))
        if body.until is not None:
            replay.replay_since.until.CopyFrom(to_timestamp(body.until))
        publish(Emit(Topic.WEBHOOK_COMMANDS, replay))
        return ReplayAccepted(command_id=replay.command_id, subscription_id=subscription.id)

    @api.post(
        "/{webhook_id}/ping",
        summary="Send a webhook.ping event now (through the sender, like any delivery)",
        status_code=HTTPStatus.ACCEPTED,
        response_model=PingAccepted,
        responses=error_responses(
            401,
            403,
            404,
            409,
            422,
            503,
            descriptions={
                403: _FORBIDDEN,
                404: _NOT_FOUND,
                409: "The webhook is paused (`webhook_paused`).",
                503: _UNAVAILABLE,
            },
        ),
    )
    def ping(webhook_id: WebhookId, principal: Manager, request: Request) -> PingAccepted:
        subscription = owned(webhook_id, principal)
        note(request, brand=subscription.brand)
        if not subscription.active:
            raise ConflictError(
                f"webhook {webhook_id} is paused; resume it (PATCH active: true) first",
                code="webhook_paused",
            )
        delivery = ping_delivery(subscription, clock())
        publish(Emit(Topic.WEBHOOK_DELIVERIES, delivery))
        delivery_log.apply(delivery)  # read-your-writes: the follower sees it a moment later
        return PingAccepted(delivery_id=delivery.delivery_id, subscription_id=subscription.id)

    return api


def new_secret() -> str:
    """A signing secret: `whsec_` and 256 random bits (URL-safe base64)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def ping_delivery(
    subscription: webhook_pb2.WebhookSubscription, now: datetime
) -> webhook_pb2.WebhookDelivery:
    """A new PENDING delivery of a `webhook.ping` event to `subscription`, due now."""
    event_id = new_event_id()
    stamp = to_timestamp(now)
    return webhook_pb2.WebhookDelivery(
        delivery_id=derived_id("ping", subscription.id, event_id),
        subscription_id=subscription.id,
        brand=subscription.brand,
        event_type=event_types.PING_TYPE,
        event_id=event_id,
        body=event_types.ping_body(
            subscription_id=subscription.id, brand=subscription.brand, event_id=event_id, now=now
        ),
        event_at=stamp,
        created_at=stamp,
        state=PENDING,
        attempts=0,
        next_attempt_at=stamp,
        cause_id=event_id,
        version=1,
        source="api:ping",
    )


def _event_types(requested: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(name.strip() for name in requested))
    unknown = event_types.unknown_event_types(chosen)
    if unknown:
        raise _invalid(
            "event_types",
            "unknown_event_type",
            f"unknown event types {unknown}; see the catalogue (`case.opened`, `sla.*`, ...)",
        )
    return chosen


def _brands_of(principal: Principal) -> str:
    return ", ".join(sorted(principal.brands or ())) or "no brand"


def _invalid(field: str, code: str, message: str) -> InvalidRequestError:
    return InvalidRequestError.from_problems([FieldProblem(field, code, message)])


def _when(stamp: Timestamp) -> datetime | None:
    """The time, or None for an unset timestamp."""
    return from_timestamp(stamp) if stamp.seconds or stamp.nanos else None


def _read(subscription: webhook_pb2.WebhookSubscription, now: datetime) -> WebhookRead:
    until = _when(subscription.previous_secret_until)
    return WebhookRead(
        id=subscription.id,
        brand=subscription.brand,
        url=subscription.url,
        event_types=list(subscription.event_types),
        description=subscription.description,
        active=subscription.active,
        created_by=subscription.created_by,
        created_at=_when(subscription.created_at),
        updated_at=_when(subscription.updated_at),
        previous_secret_valid_until=until if until is not None and until > now else None,
    )


def _delivery(delivery: webhook_pb2.WebhookDelivery) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.delivery_id,
        subscription_id=delivery.subscription_id,
        event_type=delivery.event_type,
        event_id=delivery.event_id,
        case_id=delivery.case_id,
        state=_STATE_NAMES.get(delivery.state, "pending"),
        attempts=delivery.attempts,
        last_status=delivery.last_status or None,
        last_error=delivery.last_error,
        created_at=_when(delivery.created_at),
        event_at=_when(delivery.event_at),
        last_attempt_at=_when(delivery.last_attempt_at),
        next_attempt_at=_when(delivery.next_attempt_at) if delivery.state == PENDING else None,
        delivered_at=_when(delivery.delivered_at),
        replay_id=delivery.replay_id,
    )
