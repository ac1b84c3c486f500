"""The inbound message as clients send it, and what ingestion answers.

`MessageCreate` is the single definition of "a valid message": the REST endpoint validates
its JSON body with it and the gRPC service converts each proto into the same model
(`domain.validate_proto`), so both doors accept and refuse exactly the same things and
say so with the same field names (`author.id`, `created_at`, ...).

Unknown fields are ignored: channel webhooks carry far more than we keep, and an integrator
adding a field must not break ingestion. Numbers sent where an id is expected (X and
Facebook ids are often numeric JSON) are accepted as their decimal string.

Everything the model accepts can become a `SocialMessage`: strings are valid Unicode
(`RequestModel`), `author.followers` fits protobuf's int64, and `created_at` lies within
what a protobuf Timestamp can hold (0001-01-01 to 9999-12-31 in UTC). A value outside those
is the client's mistake, refused here naming the field, not a failure later on encoding.
Invalid requests are answered by the platform's one error model (`core.http_errors`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SkipValidation,
    StringConstraints,
    field_validator,
)

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.http_errors import ErrorBody, RequestModel

ChannelName = Literal[
    "x",
    "facebook",
    "instagram",
    "whatsapp",
    "linkedin",
    "forum",
    "blog",
    "review",
    "email",
    "generic",
]
"""The channels ingestion accepts; the same names as `core.cases.CHANNELS` (a test checks)."""

ACCEPTED_CHANNELS: tuple[str, ...] = get_args(ChannelName)

MessageKindName = Literal["post", "comment", "mention", "direct_message", "review"]
"""How the message was written on its channel; the names of proto `MessageKind`."""

MESSAGE_KINDS: tuple[str, ...] = get_args(MessageKindName)
MAX_ATTACHMENTS = 20
MAX_URL_LENGTH = 2048

# Shapes only: routing normalises these (core.domain.identities) before linking on them.
_EMAIL = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
_PHONE = r"^\+?[0-9 ()./-]{6,40}$"

MAX_BATCH = 500
MAX_ID_LENGTH = 256
MAX_TEXT_LENGTH = 10_000
# `Author.followers` is an int64 in the proto.
MAX_FOLLOWERS = 2**63 - 1
_CALENDAR = "must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z in UTC"

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
OptionalIdentifier = Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH)] | None


def _blank_to_none(value: object) -> object:
    """An empty optional string means "not given": proto3 cannot tell the two apart."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


class MessageAuthor(RequestModel):
    """Who wrote the message, as the channel knows them."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, str_strip_whitespace=True)

    id: Identifier = Field(description="The author's stable id on the channel.")
    handle: OptionalIdentifier = Field(default=None, description="e.g. `@jan_energie`.")
    name: OptionalIdentifier = Field(default=None, description="Display name.")
    followers: int = Field(
        default=0,
        ge=0,
        le=MAX_FOLLOWERS,
        description="Reach on the channel; weighs priority and escalation.",
    )
    tier: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="The customer's tier when the source knows it (e.g. `vip`); one of the "
        "care config's `customer_tiers`, else the default tier applies.",
    )
    email: Annotated[str, StringConstraints(max_length=320, pattern=_EMAIL)] | None = Field(
        default=None,
        description="The customer's e-mail address when the source states it (a complaint "
        "form): contacts of one customer across channels join one case through it.",
        examples=["jan@example.nl"],
    )
    phone: Annotated[str, StringConstraints(max_length=40, pattern=_PHONE)] | None = Field(
        default=None,
        description="The customer's phone number with its country code (a phone note, a "
        "form), e.g. `+31 6 1234 5678`: links contacts across channels like `email`.",
    )
    crm_id: OptionalIdentifier = Field(
        default=None, description="The customer's id in the brand's CRM (links contacts)."
    )
    customer_value: float = Field(
        default=0.0,
        ge=0,
        le=1e15,
        description="What the customer is worth to the brand (e.g. yearly revenue), when "
        "known; weighs in the case's priority (care config `routing.priority`).",
    )

    _blank = field_validator("handle", "name", "tier", "email", "phone", "crm_id", mode="before")(
        _blank_to_none
    )

    @field_validator("customer_value", mode="before")
    @classmethod
    def _null_value(cls, value: object) -> object:
        return 0.0 if value is None else value

    @field_validator("followers", mode="before")
    @classmethod
    def _null_followers(cls, value: object) -> object:
        return 0 if value is None else value


class MessageAttachment(RequestModel):
    """Media or a link sent with the message, as the channel described it."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, str_strip_whitespace=True)

    type: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="image, video, audio, file, link, sticker, location, ..."
    )
    url: Annotated[str, StringConstraints(max_length=MAX_URL_LENGTH)] | None = None
    mime_type: Annotated[str, StringConstraints(max_length=128)] | None = None
    external_id: OptionalIdentifier = Field(
        default=None, description="The channel's id of the media (e.g. a WhatsApp media id)."
    )


class MessageCreate(RequestModel):
    """One customer message from a channel (`POST /v1/messages`, gRPC `Ingest`)."""

    model_config = ConfigDict(
        extra="ignore",
        coerce_numbers_to_str=True,
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "channel": "x",
                    "external_id": "1790012345678901234",
                    "author": {
                        "id": "48213377",
                        "handle": "@jvdberg_zzp",
                        "name": "Jeroen van den Berg",
                        "followers": 812,
                    },
                    "text": "@Energieloket Mijn energierekening is veel hoger dan verwacht. "
                    "Wat is mijn energielabel en hoe vraag ik subsidie aan?",
                    "created_at": "2024-11-05T09:14:03+01:00",
                    "brand": "energieloket",
                }
            ]
        },
    )

    channel: ChannelName
    external_id: Identifier = Field(description="The channel's id of the message.")
    author: MessageAuthor
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_LENGTH)]
    created_at: AwareDatetime = Field(
        description="When the customer wrote it: RFC 3339 with a timezone offset or `Z`."
    )
    thread_id: OptionalIdentifier = Field(
        default=None, description="The channel's conversation/thread id, when it has one."
    )
    in_reply_to: OptionalIdentifier = Field(
        default=None, description="external_id of the message this one answers."
    )
    brand: OptionalIdentifier = Field(
        default=None, description="The brand or account the message is addressed to."
    )
    kind: MessageKindName | None = Field(
        default=None,
        description="post, comment, mention, direct_message or review: a reply leaves the "
        "same way (in the thread, or privately).",
    )
    account_id: OptionalIdentifier = Field(
        default=None,
        description="The brand's account that received it (page id, WhatsApp phone number "
        "id, X user id, ...); the reply leaves through it.",
    )
    attachments: list[MessageAttachment] = Field(
        default_factory=list, max_length=MAX_ATTACHMENTS, description="Media and links."
    )
    language_hint: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")] | None
    ) = Field(default=None, description="A language the channel stated (ISO 639-1 or BCP 47).")
    url: Annotated[str, StringConstraints(max_length=MAX_URL_LENGTH)] | None = Field(
        default=None, description="Where the message can be seen, when there is a link."
    )

    _blank = field_validator(
        "thread_id",
        "in_reply_to",
        "brand",
        "account_id",
        "language_hint",
        "url",
        "kind",
        mode="before",
    )(_blank_to_none)

    @field_validator("created_at", mode="before")
    @classmethod
    def _rfc3339_only(cls, value: object) -> object:
        # Pydantic would also take a Unix number; a number carries no timezone and
        # channels disagree on its unit, so we insist on RFC 3339 text. gRPC's door passes
        # the proto's Timestamp, which may itself be outside the calendar.
        if isinstance(value, Timestamp):
            try:
                return from_timestamp(value)
            except (ValueError, OverflowError):
                raise ValueError(_CALENDAR) from None
        if isinstance(value, str | datetime):
            return value
        raise ValueError(
            "must be an RFC 3339 date-time with a timezone, e.g. 2024-11-05T09:14:03+01:00"
        )

    @field_validator("created_at", mode="after")
    @classmethod
    def _within_the_calendar(cls, value: datetime) -> datetime:
        # `0001-01-01T00:00:00+01:00` parses, but is in year 0 in UTC: no datetime (and no
        # Timestamp) can hold it, and converting it would fail after validation.
        try:
            to_timestamp(value)
        except (ValueError, OverflowError):
            raise ValueError(_CALENDAR) from None
        return value


class MessageReceipt(BaseModel):
    """What ingestion answers: 202 for a new message, 200 for one it already accepted."""

    message_id: str = Field(description="Derived from (channel, external_id); stable on retry.")
    duplicate: bool = Field(description="True when this message was accepted before.")


class MessageBatch(RequestModel):
    """`POST /v1/messages:batch`: up to `MAX_BATCH` messages, each a `MessageCreate`.

    Only the list is validated here (1 to `MAX_BATCH` items; otherwise the whole request is
    a 422 naming `messages`). The items are left as sent (`SkipValidation`, while the
    OpenAPI document still shows them as `MessageCreate`): each is validated on its own,
    so one invalid message is reported in its result and does not refuse the others.
    """

    model_config = ConfigDict(extra="ignore")

    messages: list[SkipValidation[MessageCreate]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} messages, each as `POST /v1/messages` takes it.",
    )


class BatchResults(BaseModel):
    """What `POST /v1/messages:batch` answers: one result per message, in request order."""

    results: list[MessageReceipt | ErrorBody] = Field(
        description="For an accepted or duplicate message its receipt; for an invalid one "
        "the error `POST /v1/messages` would answer for it (fields named relative to the "
        "message: `author.id`; `body` when the item is not a JSON object)."
    )
