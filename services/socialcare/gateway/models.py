"""Request and response bodies of the REST API: the public contract for agents and integrators.

Requests are validated here for shape only (present, non-blank, bounded, valid Unicode: see
`core.http_errors.RequestModel`); whether an agent exists or a reply fits the case's channel
needs the roster and the case, so the handlers check that with `core.domain.case_rules`.
Case JSON is not modelled field by field: `core.cases.case_json` is its one
definition, shared with the search documents, and a copy here would drift from it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from socialcare.core.domain import case_rules
from socialcare.core.http_errors import RequestModel

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


class ResolveCreate(AgentAction):
    """Close the case; it reopens when the customer writes again."""


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


class QueueRead(BaseModel):
    name: str
    languages: list[str] = Field(description="ISO 639-1 codes; '*' catches every other one.")
