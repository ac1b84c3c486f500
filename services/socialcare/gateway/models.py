"""Request and response bodies of the REST API: the public contract for agents and integrators.

Requests are validated here for shape only (present, non-blank, bounded, valid Unicode: see
`core.http_errors.RequestModel`); whether an agent exists or a reply fits the case's channel
needs the roster and the case, so the handlers check that with `core.domain.case_rules`.
Case JSON is not modelled field by field: `core.cases.case_json` is its one
definition, shared with the search documents, and a copy here would drift from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from socialcare.core.domain import case_rules
from socialcare.core.http_errors import RequestModel

# A reply names at most this many of the case's questions (intent names).
MAX_ANSWERS = 20
NAME_MAX_CHARS = 100
IDENTITY_MAX_CHARS = 320
CASE_ID_MAX_CHARS = 200

# Longer than any channel accepts; stops a runaway paste before it reaches the event bus.
REPLY_MAX_CHARS = 20_000
NOTE_MAX_CHARS = case_rules.NOTE_MAX_CHARS
AGENT_ID_MAX_CHARS = 100
# WhatsApp's bounds on a template's body parameters, generously rounded; the platform has
# the last word (a refused template reply is reported failed on the case).
TEMPLATE_MAX_PARAMETERS = 100
TEMPLATE_PARAMETER_MAX_CHARS = 1024


class AgentAction(RequestModel):
    """An action an agent takes on a case; `agent` is an id from the roster (GET /v1/agents).

    Unknown fields are refused (422 naming them): a misspelt field must not be ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent: str = Field(min_length=1, max_length=AGENT_ID_MAX_CHARS, examples=["sanne"])


class TemplateCreate(RequestModel):
    """A WhatsApp message template the brand had approved (care config
    `meta.whatsapp_templates`): outside WhatsApp's 24-hour customer-service window the
    only reply WhatsApp delivers."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(
        min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$", examples=["order_update"]
    )
    language: str = Field(
        min_length=2,
        max_length=10,
        pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$",
        description="The language the template was approved in, e.g. `en_US`, `nl`.",
        examples=["en_US"],
    )
    parameters: list[
        Annotated[str, StringConstraints(min_length=1, max_length=TEMPLATE_PARAMETER_MAX_CHARS)]
    ] = Field(
        default_factory=list,
        max_length=TEMPLATE_MAX_PARAMETERS,
        description="Values for the body's {{1}}, {{2}}, ... in order.",
        examples=[["A-1042", "Thursday"]],
    )


class ReplyCreate(AgentAction):
    """A reply to the customer, posted on the case's channel once routing applies it:
    either `text`, signed with the agent's name per the brand, or a WhatsApp `template`."""

    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=REPLY_MAX_CHARS,
        description="Sent without surrounding whitespace and signed with the agent's name "
        "(the brand's `signature`, e.g. ` ^Sanne`); with the signature it must fit the "
        "channel's limit (e.g. 280 characters on X). On WhatsApp only within 24 hours of "
        "the customer's last message. Leave out when sending a `template`.",
        examples=["Sorry to hear that! Could you send us your order number in a DM?"],
    )
    template: TemplateCreate | None = Field(
        default=None,
        description="WhatsApp only: an approved template instead of text (required more "
        "than 24 hours after the customer's last message).",
    )
    answers: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    ] = Field(
        default_factory=list,
        max_length=MAX_ANSWERS,
        description="The case's questions (its `intents[].name`) this reply answers: a case "
        "is not proposed as solved while one is unanswered (409 `questions_open`).",
        examples=[["order_status", "invoice"]],
    )

    @field_validator("text", mode="before")
    @classmethod
    def _not_blank(cls, value: object) -> object:
        # Runs before stripping, so a blank text gets this message rather than a length one.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be blank")
        return value


class AssignCreate(AgentAction):
    """Make `agent` the owner of the case; they must speak the case's language. A transfer
    says why (`reason`, kept on the case as an internal note) and who asks (`by`)."""

    reason: str | None = Field(
        default=None,
        max_length=NOTE_MAX_CHARS,
        description="Why the case moves, for its next owner.",
        examples=["Needs a Spanish speaker for the warranty claim"],
    )
    by: str | None = Field(
        default=None,
        min_length=1,
        max_length=AGENT_ID_MAX_CHARS,
        description="The agent or lead handing the case over, when not `agent`.",
    )


class NoteCreate(AgentAction):
    """An internal note on the case (never sent to the customer); naming `consult` asks
    that specialist for advice."""

    text: str = Field(min_length=1, max_length=NOTE_MAX_CHARS)
    consult: str | None = Field(
        default=None,
        min_length=1,
        max_length=AGENT_ID_MAX_CHARS,
        description="A specialist's agent id (GET /v1/agents) to consult.",
    )


def _not_blank(value: object) -> object:
    """Refuse a blank text before stripping, so it gets this message rather than a
    length one."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be blank")
    return value


class ResolveCreate(AgentAction):
    """Propose the case as solved: the customer is asked to confirm (in the case's
    language, signed by the agent); it resolves on their yes or after the confirmation
    timeout. Refused (409 `questions_open`) while a question of the customer's is
    unanswered."""

    note: str | None = Field(
        default=None,
        max_length=NOTE_MAX_CHARS,
        description="What solved it, kept on the case.",
        examples=["Replacement sent with tracking number 3SABC123"],
    )


class ClaimCreate(AgentAction):
    """Take a queued case (or one nobody holds) for yourself; the assigner grants it when
    nobody else holds it and you have room (else the case shows the rejection)."""


class TransferCreate(AgentAction):
    """Hand the case to `agent`, saying why (kept on the case for its next owner)."""

    reason: str = Field(
        min_length=1,
        max_length=NOTE_MAX_CHARS,
        description="Why the case moves; required.",
        examples=["Needs a Spanish speaker for the warranty claim"],
    )
    by: str | None = Field(
        default=None,
        min_length=1,
        max_length=AGENT_ID_MAX_CHARS,
        description="The agent or lead handing the case over (default: the caller's agent).",
    )

    _reason = field_validator("reason", mode="before")(_not_blank)


class ConsultCreate(AgentAction):
    """Ask a specialist (GET /v1/specialists) for advice; you keep the case, their answer
    comes back onto it."""

    specialist: str = Field(min_length=1, max_length=AGENT_ID_MAX_CHARS, examples=["diego"])
    question: str = Field(min_length=1, max_length=NOTE_MAX_CHARS)
    product: str | None = Field(
        default=None, min_length=1, max_length=NAME_MAX_CHARS, examples=["router-x2"]
    )

    _question = field_validator("question", mode="before")(_not_blank)


class AnswerCreate(RequestModel):
    """The consulted specialist's answer (in their own name; they need not own the case)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    specialist: str = Field(min_length=1, max_length=AGENT_ID_MAX_CHARS, examples=["diego"])
    answer: str = Field(min_length=1, max_length=NOTE_MAX_CHARS)

    _answer = field_validator("answer", mode="before")(_not_blank)


class AwaitCustomerCreate(AgentAction):
    """The ball is with the customer (asked for an order number by phone, say): status
    waiting_on_customer, the resolution clock pauses, nothing is sent on the channel."""

    note: str | None = Field(default=None, max_length=NOTE_MAX_CHARS)


class ReopenCreate(AgentAction):
    """Reopen a resolved (not yet closed) case."""

    reason: str | None = Field(default=None, max_length=NOTE_MAX_CHARS)


class MergeCreate(AgentAction):
    """Merge this case into another case of the same brand (the same customer reached us
    twice): its messages, identities, questions and notes move there and this case
    closes."""

    into_case_id: str = Field(min_length=1, max_length=CASE_ID_MAX_CHARS, examples=["acme-17"])
    reason: str | None = Field(default=None, max_length=NOTE_MAX_CHARS)


class IdentityCreate(AgentAction):
    """Link a way to reach the customer (a phone number from a call, a CRM id): cases of
    the same customer elsewhere join this one."""

    kind: str = Field(
        min_length=1,
        max_length=40,
        description="`email`, `phone`, `crm`, or a channel name (value: the author id there).",
        examples=["phone"],
    )
    value: str = Field(min_length=1, max_length=IDENTITY_MAX_CHARS, examples=["+31612345678"])


class ReferralCreate(AgentAction):
    """The case was referred to another department (the store manager, say): kept as an
    internal note; the case stays open for its owner."""

    to: str = Field(min_length=1, max_length=NAME_MAX_CHARS, examples=["store manager Utrecht"])
    note: str | None = Field(default=None, max_length=NOTE_MAX_CHARS)

    _to = field_validator("to", mode="before")(_not_blank)


class PriorityCreate(AgentAction):
    """Set the case's priority by hand; `level` null goes back to the computed one."""

    level: Literal["low", "normal", "high", "urgent"] | None = Field(
        description="The level, or null for the computed priority."
    )
    reason: str | None = Field(default=None, max_length=NOTE_MAX_CHARS)


class PresenceUpdate(RequestModel):
    """An agent's presence: online agents get cases, away ones keep theirs and get none,
    offline ones lose theirs to others after the grace period."""

    model_config = ConfigDict(extra="forbid")

    presence: Literal["online", "away", "offline"]


class PresenceAccepted(BaseModel):
    """The change is durably on its way to the assigner, which applies changes in order;
    GET /v1/agents shows it once applied."""

    agent: str
    presence: Literal["online", "away", "offline"]
    request_id: str
    requested_at: datetime
    status: Literal["accepted"] = "accepted"


class CommandAccepted(BaseModel):
    """The command is durably on `care.commands`; routing applies it asynchronously and
    answers with a case event (the new state shows in GET /v1/cases/{id} shortly after)."""

    command_id: str
    case_id: str
    status: Literal["accepted"] = "accepted"


class CaseList(BaseModel):
    total: int = Field(description="All matching cases, not only this page.")
    cases: list[dict[str, Any]] = Field(
        description="Case summaries (the case JSON without messages), newest first."
    )


class SearchHitRead(BaseModel):
    id: str
    score: float
    document: dict[str, Any]


class SearchResults(BaseModel):
    total: int
    hits: list[SearchHitRead]


class EscalationList(BaseModel):
    total: int
    escalations: list[dict[str, Any]] = Field(description="Newest first.")


class AgentRead(BaseModel):
    id: str
    name: str
    languages: list[str]
    capacity: int = Field(description="How many open cases the agent owns at once.")
    channel_capacity: dict[str, int] = Field(
        description="At most this many open cases per channel (unlisted: `capacity`)."
    )
    presence: Literal["online", "away", "offline"] = Field(
        description="As the assigner has it (the configured default until set)."
    )
    presence_since: datetime | None
    load: int = Field(description="Open cases the agent holds now.")
    load_by_channel: dict[str, int]
    on_shift: bool = Field(description="Their calendar (own, else their team's) is open now.")
    last_assigned_at: datetime | None = Field(
        description="When they last got a case (longest idle first); null: never."
    )
    skills: dict[str, int] = Field(
        description="Proficiency 1..5 per skill (`language:nl`, `channel:x`, `product:...`, "
        "`tier:...`), languages included."
    )
    team: str
    time_zone: str
    specialist: bool


class SpecialistRead(BaseModel):
    id: str
    name: str
    specialist: bool = Field(description="A specialist, or an agent with the product skill.")
    proficiency: int = Field(description="Language plus product proficiency (the rank).")
    skills: dict[str, int]
    on_shift: bool
    presence: Literal["online", "away", "offline"]
    local_time: datetime = Field(description="Now, in the agent's time zone.")
    time_zone: str
    team: str


class CannedAnswerRead(BaseModel):
    id: str
    title: str
    text: str = Field(description="The variables filled in for this case and agent.")
    signed_length: int = Field(
        description="Characters the customer would receive: the text signed per the brand."
    )
    limit: int | None = Field(description="The channel's limit; null: none.")
    fits: bool


class SatisfactionFiguresRead(BaseModel):
    sent: int = Field(description="Surveys sent.")
    answered: int
    response_rate: float | None = Field(description="answered / sent; null when none sent.")
    csat: float | None = Field(
        description="Share of CSAT answers that are 4 or 5; null without CSAT answers."
    )
    csat_average: float | None
    nps: float | None = Field(
        description="% promoters (9-10) minus % detractors (0-6) of NPS answers, -100..100; "
        "null without NPS answers."
    )
    distribution: dict[str, dict[str, int]] = Field(
        description="Answers per score, per survey kind (`csat`: 1..5, `nps`: 0..10)."
    )


class SatisfactionRowRead(SatisfactionFiguresRead):
    group: dict[str, str]


class SatisfactionReportRead(BaseModel):
    group_by: list[str]
    rows: list[SatisfactionRowRead] = Field(description="One per group, sorted by group.")
    total: SatisfactionFiguresRead


class QueueRead(BaseModel):
    name: str
    languages: list[str] = Field(description="ISO 639-1 codes; '*' catches every other one.")
