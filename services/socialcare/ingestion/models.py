"""The inbound message as clients send it, and what ingestion answers.

`MessageCreate` is the single definition of "a valid message": the REST endpoint validates
its JSON body with it and the gRPC service converts each proto into the same model
(`domain.validate_proto`), so both doors accept and refuse exactly the same things and
say so with the same field names (`author.id`, `created_at`, ...).

Unknown fields are ignored: channel webhooks carry far more than we keep, and an integrator
adding a field must not break ingestion. Numbers sent where an id is expected (X and
Facebook ids are often numeric JSON) are accepted as their decimal string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

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

MAX_ID_LENGTH = 256
MAX_TEXT_LENGTH = 10_000

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
OptionalIdentifier = Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH)] | None


def _blank_to_none(value: object) -> object:
    """An empty optional string means "not given": proto3 cannot tell the two apart."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


class MessageAuthor(BaseModel):
    """Who wrote the message, as the channel knows them."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, str_strip_whitespace=True)

    id: Identifier = Field(description="The author's stable id on the channel.")
    handle: OptionalIdentifier = Field(default=None, description="e.g. `@jan_energie`.")
    name: OptionalIdentifier = Field(default=None, description="Display name.")
    followers: int = Field(
        default=0, ge=0, description="Reach on the channel; weighs priority and escalation."
    )

    _blank = field_validator("handle", "name", mode="before")(_blank_to_none)

    @field_validator("followers", mode="before")
    @classmethod
    def _null_followers(cls, value: object) -> object:
        return 0 if value is None else value


class MessageCreate(BaseModel):
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

    _blank = field_validator("thread_id", "in_reply_to", "brand", mode="before")(_blank_to_none)

    @field_validator("created_at", mode="before")
    @classmethod
    def _rfc3339_only(cls, value: object) -> object:
        # Pydantic would also take a Unix number; a number carries no timezone and
        # channels disagree on its unit, so we insist on RFC 3339 text.
        if isinstance(value, str | datetime):
            return value
        raise ValueError(
            "must be an RFC 3339 date-time with a timezone, e.g. 2024-11-05T09:14:03+01:00"
        )


class MessageReceipt(BaseModel):
    """What ingestion answers: 202 for a new message, 200 for one it already accepted."""

    message_id: str = Field(description="Derived from (channel, external_id); stable on retry.")
    duplicate: bool = Field(description="True when this message was accepted before.")


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. `author.id`.")
    loc: list[str | int]
    type: str
    msg: str


class ValidationProblem(BaseModel):
    """The 422 body: a readable `detail` plus the structured list behind it."""

    detail: str
    errors: list[FieldError]


class ErrorDetail(BaseModel):
    detail: str


def field_path(loc: Sequence[str | int]) -> str:
    """`("body", "author", "id")` → `author.id`; the request body itself is `body`."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic/FastAPI errors without `input` and `ctx`, which would echo customer text."""
    out: list[FieldError] = []
    for error in errors:
        loc = [p for p in error.get("loc", ()) if isinstance(p, str | int)]
        if loc and loc[0] == "body":
            loc = loc[1:]
        out.append(
            FieldError(
                field=field_path(loc),
                loc=loc,
                type=str(error.get("type", "value_error")),
                msg=str(error.get("msg", "invalid")),
            )
        )
    return out


def describe(errors: Sequence[FieldError]) -> str:
    """One line naming every bad field: `author.id: Field required; text: ...`."""
    return "; ".join(f"{e.field}: {e.msg}" for e in errors) or "invalid message"
