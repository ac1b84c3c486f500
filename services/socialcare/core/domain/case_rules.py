"""Which agent command applies to which case: the one home of the case command rules.

Two places judge a command and must agree. The gateway checks a request against the case
as routing last showed it, to answer a common mistake at once (409 for a resolved case,
422 naming the field). Routing is the final judge when it applies the command to the
case as it is now (it may have changed in between); a command it cannot apply becomes a
visible `CASE_EVENT_TYPE_COMMAND_REJECTED` event with the same code and reason, never a
silent change. Both call `check_command`, so a rule added here holds on both sides.

A reply is judged as the customer will receive it: the agent's words signed with the
brand's signature (`reply_text`), so the channel's length limit counts the signature too.
The channel rules themselves (`check_channel_reply`: length caps, WhatsApp's 24-hour
customer-service window, approved templates) take plain values, so the outbound
connector checks a reply again, the same way, right before it sends it
(`check_outbound`): time passes between the agent's click and the send.

Capacity is not a rule here: whether an agent has room is known only to routing's
assigner, which rejects a transfer to a full agent the same visible way.

Pure: no I/O; the time is passed in (`now`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from socialcare.core.clock import from_timestamp
from socialcare.core.domain.brands import Brand
from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.core.domain.cases import REPLY_LIMITS, channel_name, enum_name
from socialcare.core.domain.routing_config import LEVELS
from socialcare.v1 import case_pb2, commands_pb2, escalation_pb2, message_pb2

RESOLVED = case_pb2.CASE_STATUS_RESOLVED
CLOSED = case_pb2.CASE_STATUS_CLOSED
# Case languages no agent can be expected to list: any agent may take such a case.
UNKNOWN_LANGUAGES = frozenset({"", "und"})
# WhatsApp's customer-service window: free text only this long after the customer's last
# message; after that only a template the business had approved.
WHATSAPP_WINDOW = timedelta(hours=24)
# Channels that have message templates (only WhatsApp's Cloud API, so far).
TEMPLATE_CHANNELS = frozenset({"whatsapp"})


class RejectionCode(StrEnum):
    """Why a command does not apply; also the `code` of the REST error body."""

    CASE_RESOLVED = "case_resolved"
    UNKNOWN_AGENT = "unknown_agent"
    LANGUAGE_NOT_SPOKEN = "language_not_spoken"
    REPLY_EMPTY = "reply_empty"
    REPLY_TOO_LONG = "reply_too_long"
    NO_ACTION = "no_action"
    AGENT_AT_CAPACITY = "agent_at_capacity"
    WHATSAPP_WINDOW_CLOSED = "whatsapp_window_closed"
    UNKNOWN_TEMPLATE = "unknown_template"
    TEMPLATE_NOT_SUPPORTED = "template_not_supported"
    TEMPLATE_WITH_TEXT = "template_with_text"
    BRAND_NOT_SERVED = "brand_not_served"
    NOTE_EMPTY = "note_empty"
    NOTE_TOO_LONG = "note_too_long"
    SELF_CONSULT = "self_consult"
    REASON_EMPTY = "reason_empty"
    REASON_TOO_LONG = "reason_too_long"
    UNKNOWN_TIER = "unknown_tier"
    ESCALATION_ACKNOWLEDGED = "escalation_acknowledged"
    ESCALATION_RESOLVED = "escalation_resolved"
    CASE_CLOSED = "case_closed"
    CASE_NOT_RESOLVED = "case_not_resolved"
    QUESTIONS_OPEN = "questions_open"
    UNKNOWN_QUESTION = "unknown_question"
    RESOLUTION_PENDING = "resolution_pending"
    ALREADY_OWNER = "already_owner"
    QUESTION_EMPTY = "question_empty"
    ANSWER_EMPTY = "answer_empty"
    UNKNOWN_CONSULTATION = "unknown_consultation"
    NOT_THE_SPECIALIST = "not_the_specialist"
    CONSULTATION_ANSWERED = "consultation_answered"
    MERGE_INTO_SELF = "merge_into_self"
    MERGE_TARGET_MISSING = "merge_target_missing"
    INVALID_IDENTITY = "invalid_identity"
    REFERRAL_TARGET_EMPTY = "referral_target_empty"
    UNKNOWN_PRIORITY = "unknown_priority"
    # The assigner refused a claim: another agent holds the case, or the claimer is full.
    CLAIM_REFUSED = "claim_refused"


# Codes that are about the case's state (HTTP 409) rather than the request (HTTP 422).
CONFLICTS = frozenset(
    {
        RejectionCode.CASE_RESOLVED,
        RejectionCode.AGENT_AT_CAPACITY,
        RejectionCode.ESCALATION_ACKNOWLEDGED,
        RejectionCode.ESCALATION_RESOLVED,
        RejectionCode.CASE_CLOSED,
        RejectionCode.CASE_NOT_RESOLVED,
        RejectionCode.QUESTIONS_OPEN,
        RejectionCode.RESOLUTION_PENDING,
        RejectionCode.ALREADY_OWNER,
        RejectionCode.CONSULTATION_ANSWERED,
        RejectionCode.CLAIM_REFUSED,
    }
)


class CommandRejectedError(Exception):
    """The command does not apply to the case; `field` names the command field at fault."""

    def __init__(self, code: RejectionCode, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.field = field

    @property
    def is_conflict(self) -> bool:
        """True when the case's state is the problem (409), not the request (422)."""
        return self.code in CONFLICTS


def roster_agent(care: CareConfig, agent_id: str, field: str = "agent") -> Agent:
    """The agent with this id, or a rejection naming `field`."""
    agent = care.agents_by_id.get(agent_id)
    if agent is None:
        raise CommandRejectedError(
            RejectionCode.UNKNOWN_AGENT, f"unknown agent {agent_id!r}", field=field
        )
    return agent


def _check_brand(case: case_pb2.Case, agent: Agent, care: CareConfig) -> None:
    brand = care.brand(case.brand).name
    if not agent.serves(brand):
        raise CommandRejectedError(
            RejectionCode.BRAND_NOT_SERVED,
            f"{agent.id!r} does not answer for {brand!r} (serves {', '.join(agent.brands)})",
            field="agent",
        )


# -- replies ---------------------------------------------------------------------------------


def last_inbound(case: case_pb2.Case) -> case_pb2.CaseMessage | None:
    """The customer's latest message on the case's own channel (the one a reply answers):
    a case merged from several channels holds messages of each (a phone note, a form), and
    a reply leaves on the case's channel. A message without a channel (older records) is on
    the case's."""
    own = (message_pb2.CHANNEL_UNSPECIFIED, case.channel)
    for message in reversed(case.messages):
        if message.direction == case_pb2.DIRECTION_INBOUND and message.channel in own:
            return message
    return None


def customer_last_message_at(case: case_pb2.Case) -> datetime | None:
    """When the customer last wrote, as the platform dated it (WhatsApp counts its window
    from there); None when the case has no dated customer message."""
    message = last_inbound(case)
    if message is None or not message.HasField("created_at"):
        return None
    return from_timestamp(message.created_at)


def has_template(reply: commands_pb2.ReplyToCase) -> bool:
    return reply.HasField("template")


def template_label(template: commands_pb2.MessageTemplate) -> str:
    """How a template reply shows on the case: we do not have the approved body, only its
    name, language and the values filled in."""
    label = f"[template {template.name} ({template.language})]"
    if template.parameters:
        label += " " + ", ".join(template.parameters)
    return label


def reply_text(reply: commands_pb2.ReplyToCase, brand: Brand, agent: Agent) -> str:
    """The text the customer receives: the agent's words signed per the brand (a personal
    voice), or empty for a template reply (the platform fills in the approved body, which
    cannot be signed)."""
    if has_template(reply):
        return ""
    return brand.sign(reply.text, agent.name)


def check_reply(
    case: case_pb2.Case,
    agent: Agent,
    reply: commands_pb2.ReplyToCase,
    care: CareConfig,
    now: datetime,
) -> None:
    """A reply needs an open case and either a non-blank text or a template, and must pass
    the case channel's rules (`check_channel_reply`) as the customer would receive it."""
    _require_open(case, "reply to")
    check_answers(case, reply.answers)
    template = reply.template if has_template(reply) else None
    if template is not None and reply.text.strip():
        raise CommandRejectedError(
            RejectionCode.TEMPLATE_WITH_TEXT,
            "a template reply carries no text of its own: leave out the text, or send it "
            "as a reply of its own",
            field="text",
        )
    if template is None and not reply.text.strip():
        raise CommandRejectedError(RejectionCode.REPLY_EMPTY, "must not be blank", field="text")
    brand = care.brand(case.brand)
    check_channel_reply(
        channel=channel_name(case.channel),
        text=reply_text(reply, brand, agent),
        template=template,
        brand=brand,
        customer_last_message_at=customer_last_message_at(case),
        now=now,
        unsigned_length=None if template is not None else len(reply.text.rstrip()),
    )


def check_channel_reply(
    *,
    channel: str,
    text: str,
    template: commands_pb2.MessageTemplate | None,
    brand: Brand,
    customer_last_message_at: datetime | None,
    now: datetime,
    unsigned_length: int | None = None,
) -> None:
    """The channel's rules for a reply about to go out at `now`; CommandRejectedError if
    it would break one.

    `text` is the text the customer would receive (signed); `template` a message template
    instead of free text. A template must be one the brand had approved
    (`meta.whatsapp_templates`) and is only known on WhatsApp. Free text must fit the
    channel's limit and, on WhatsApp, go out within 24 hours of the customer's last message
    (`customer_last_message_at`; unknown counts as closed). `unsigned_length`, when given,
    lets the too-long message say how much of the length is the signature.
    """
    if template is not None:
        _check_template(channel, template, brand)
        return
    if channel in TEMPLATE_CHANNELS:
        _check_window(customer_last_message_at, now, brand)
    limit = REPLY_LIMITS.get(channel)
    if limit is not None and len(text) > limit:
        signature = (
            f" including the signature ({len(text) - unsigned_length} characters)"
            if unsigned_length is not None and unsigned_length < len(text)
            else ""
        )
        raise CommandRejectedError(
            RejectionCode.REPLY_TOO_LONG,
            f"{len(text)} characters{signature}, {channel} allows {limit}",
            field="text",
        )


def check_outbound(reply: commands_pb2.OutboundReply, brand: Brand, now: datetime) -> None:
    """`check_channel_reply` for a reply routing handed to the connectors, checked again
    right before sending: the customer-service window may have closed since the agent
    wrote it."""
    check_channel_reply(
        channel=channel_name(reply.channel),
        text=reply.text,
        template=reply.template if reply.HasField("template") else None,
        brand=brand,
        customer_last_message_at=from_timestamp(reply.customer_last_message_at)
        if reply.HasField("customer_last_message_at")
        else None,
        now=now,
    )


def _check_template(channel: str, template: commands_pb2.MessageTemplate, brand: Brand) -> None:
    if channel not in TEMPLATE_CHANNELS:
        raise CommandRejectedError(
            RejectionCode.TEMPLATE_NOT_SUPPORTED,
            f"message templates are a WhatsApp feature; on {channel} reply with text",
            field="template",
        )
    if brand.meta is None or brand.meta.template(template.name, template.language) is None:
        approved = _approved_templates(brand)
        known = ", ".join(f"{name} ({language})" for name, language in approved) or "none"
        raise CommandRejectedError(
            RejectionCode.UNKNOWN_TEMPLATE,
            f"template {template.name!r} ({template.language}) is not one brand "
            f"{brand.name!r} had approved (meta.whatsapp_templates: {known})",
            field="template",
        )


def _check_window(last: datetime | None, now: datetime, brand: Brand) -> None:
    if last is not None and now - last < WHATSAPP_WINDOW:
        return
    since = (
        "the customer's last message has no date"
        if last is None
        else f"the customer last wrote {_hours(now - last)} ago"
    )
    approved = ", ".join(f"{name} ({language})" for name, language in _approved_templates(brand))
    remedy = (
        f"reply with an approved template: {approved}"
        if approved
        else "the brand has no approved templates (meta.whatsapp_templates)"
    )
    raise CommandRejectedError(
        RejectionCode.WHATSAPP_WINDOW_CLOSED,
        "WhatsApp accepts free text only within 24 hours of the customer's last message "
        f"and {since}; {remedy}",
        field="text",
    )


def _approved_templates(brand: Brand) -> list[tuple[str, str]]:
    if brand.meta is None:
        return []
    return [(t.name, t.language) for t in brand.meta.whatsapp_templates]


def _hours(elapsed: timedelta) -> str:
    hours = elapsed.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours >= 10 else f"{hours:.1f} hours"


# -- other actions ---------------------------------------------------------------------------


def check_assign(case: case_pb2.Case, agent: Agent) -> None:
    """An assignment needs an open case and an agent who speaks its language (when known)."""
    _require_open(case, "assign")
    if case.language not in UNKNOWN_LANGUAGES and not agent.speaks(case.language):
        raise CommandRejectedError(
            RejectionCode.LANGUAGE_NOT_SPOKEN,
            f"{agent.id!r} does not speak {case.language!r} (speaks {', '.join(agent.languages)})",
            field="agent",
        )


NOTE_MAX_CHARS = 5000


def check_note(case: case_pb2.Case, note: commands_pb2.AddNote, care: CareConfig) -> None:
    """A note needs words; a consultation needs a specialist on the roster who is not the
    writer. Notes are allowed on resolved cases too: what was learnt afterwards belongs
    with the case."""
    if not note.text.strip():
        raise CommandRejectedError(RejectionCode.NOTE_EMPTY, "must not be blank", field="text")
    if len(note.text) > NOTE_MAX_CHARS:
        raise CommandRejectedError(
            RejectionCode.NOTE_TOO_LONG,
            f"{len(note.text)} characters, a note holds {NOTE_MAX_CHARS}",
            field="text",
        )
    if note.consult:
        if note.consult not in care.agents_by_id:
            raise CommandRejectedError(
                RejectionCode.UNKNOWN_AGENT, f"unknown agent {note.consult!r}", field="consult"
            )
        if note.consult == note.agent:
            raise CommandRejectedError(
                RejectionCode.SELF_CONSULT, "an agent cannot consult themselves", field="consult"
            )


def check_resolve(case: case_pb2.Case, agent: Agent, care: CareConfig) -> None:
    """Resolving a resolved case is a conflict, not a no-op, so the agent learns that
    someone else closed it. A case is not proposed as solved while one of the customer's
    questions is unanswered (scenario 1: two questions, both answered), nor asked twice
    while the customer has not answered the first "has this been solved?"."""
    _require_open(case, "resolve")
    waiting = open_questions(case, care)
    if waiting:
        plural = len(waiting) > 1
        raise CommandRejectedError(
            RejectionCode.QUESTIONS_OPEN,
            f"the customer's question{'s' if plural else ''} {', '.join(waiting)} "
            f"{'are' if plural else 'is'} not answered yet: answer with a reply that names "
            f"{'them' if plural else 'it'} in `answers`",
            field="answers",
        )
    if (
        case.HasField("resolution_check")
        and case.resolution_check.outcome == case_pb2.RESOLUTION_OUTCOME_PENDING
    ):
        raise CommandRejectedError(
            RejectionCode.RESOLUTION_PENDING,
            f"the customer was already asked whether case {case.id} is solved "
            f"(by {case.resolution_check.proposed_by or 'an agent'}); "
            "it resolves on their yes or after the confirmation timeout",
        )


def is_question(name: str, care: CareConfig) -> bool:
    """Whether an intent must be answered before the case can be solved; an intent the
    taxonomy no longer names still counts (better to ask once too often than to drop a
    customer's question)."""
    definition = care.intent(name)
    return definition is None or definition.question


def open_questions(case: case_pb2.Case, care: CareConfig) -> list[str]:
    """The case's unanswered questions (intent names), in the order the customer asked."""
    names: list[str] = []
    for intent in case.intents:
        if not intent.answered and is_question(intent.name, care) and intent.name not in names:
            names.append(intent.name)
    return names


def check_answers(case: case_pb2.Case, answers: Sequence[str]) -> None:
    """A reply's `answers` must name questions (intents) on the case."""
    known = {intent.name for intent in case.intents}
    for name in answers:
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise CommandRejectedError(
                RejectionCode.UNKNOWN_QUESTION,
                f"{name!r} is not a question on case {case.id} (its questions: {listed})",
                field="answers",
            )


def check_claim(case: case_pb2.Case, agent: Agent) -> None:
    """A claim needs a case that still needs (or may change) an owner, and an agent who
    speaks its language and answers for its brand. Whether another agent holds it, and
    whether the claimer has room, only the assigner knows: it decides."""
    _require_open(case, "claim")
    if case.assignee == agent.id:
        raise CommandRejectedError(
            RejectionCode.ALREADY_OWNER, f"case {case.id} is already {agent.id}'s", field="agent"
        )
    check_assign(case, agent)


def check_consult(
    case: case_pb2.Case, consult: commands_pb2.ConsultSpecialist, care: CareConfig
) -> None:
    """A consultation asks a specialist on the roster (not oneself) a question in words;
    it does not move the case, so it is allowed on a resolved case too, not a closed one."""
    _require_not_closed(case, "consult on")
    if not consult.specialist:
        raise CommandRejectedError(
            RejectionCode.UNKNOWN_AGENT, "name the specialist to ask", field="specialist"
        )
    if consult.specialist not in care.agents_by_id:
        raise CommandRejectedError(
            RejectionCode.UNKNOWN_AGENT,
            f"unknown agent {consult.specialist!r}",
            field="specialist",
        )
    if consult.specialist == consult.agent:
        raise CommandRejectedError(
            RejectionCode.SELF_CONSULT, "an agent cannot consult themselves", field="specialist"
        )
    _check_words(consult.question, "question", RejectionCode.QUESTION_EMPTY)


def consultation_on_case(case: case_pb2.Case, consultation_id: str) -> case_pb2.Consultation | None:
    for consultation in case.consultations:
        if consultation.id == consultation_id:
            return consultation
    return None


def check_answer_consultation(case: case_pb2.Case, answer: commands_pb2.AnswerConsultation) -> None:
    """Only the specialist who was asked answers, once; the answer is advice for the owner
    and may come after the case resolved, but not after it closed."""
    _require_not_closed(case, "answer a consultation on")
    consultation = consultation_on_case(case, answer.consultation_id)
    if consultation is None:
        raise CommandRejectedError(
            RejectionCode.UNKNOWN_CONSULTATION,
            f"case {case.id} has no consultation {answer.consultation_id!r}",
            field="consultation_id",
        )
    if consultation.specialist != answer.specialist:
        raise CommandRejectedError(
            RejectionCode.NOT_THE_SPECIALIST,
            f"consultation {consultation.id} asked {consultation.specialist!r}, "
            f"not {answer.specialist!r}",
            field="specialist",
        )
    if consultation.HasField("answered_at"):
        raise CommandRejectedError(
            RejectionCode.CONSULTATION_ANSWERED,
            f"consultation {consultation.id} was answered already",
        )
    _check_words(answer.answer, "answer", RejectionCode.ANSWER_EMPTY)


def check_await_customer(case: case_pb2.Case, request: commands_pb2.AwaitCustomer) -> None:
    """Only an open case can wait on its customer."""
    _require_open(case, "mark as awaiting the customer")
    _check_length(request.note, "note")


def check_reopen(case: case_pb2.Case, request: commands_pb2.ReopenCase) -> None:
    """Only a resolved case reopens by hand: a closed one is over (a new message opens a
    new case), an open one has nothing to reopen."""
    _require_not_closed(case, "reopen")
    if case.status != RESOLVED:
        raise CommandRejectedError(
            RejectionCode.CASE_NOT_RESOLVED,
            f"case {case.id} is not resolved ({_status_name(case.status)}); only a resolved "
            "case can be reopened",
        )
    _check_length(request.reason, "reason")


def check_merge(case: case_pb2.Case, merge: commands_pb2.MergeCase) -> None:
    """A merge names another case; a closed case (merged already, or past its window)
    cannot move."""
    _require_not_closed(case, "merge")
    if not merge.into_case_id.strip():
        raise CommandRejectedError(
            RejectionCode.MERGE_TARGET_MISSING,
            "name the case to merge into",
            field="into_case_id",
        )
    if merge.into_case_id == case.id:
        raise CommandRejectedError(
            RejectionCode.MERGE_INTO_SELF,
            f"case {case.id} cannot be merged into itself",
            field="into_case_id",
        )
    _check_length(merge.reason, "reason")


def check_link_identity(case: case_pb2.Case, link: commands_pb2.LinkIdentity) -> str:
    """The identity's value as stored (normalised: e-mail lower-cased, phone E.164, ...);
    a value that is not one of its kind is a 422 naming `value`."""
    from socialcare.core.domain import identities

    _require_not_closed(case, "link an identity to")
    if not link.kind.strip():
        raise CommandRejectedError(
            RejectionCode.INVALID_IDENTITY,
            "name the kind (email, phone, crm, a channel)",
            field="kind",
        )
    try:
        return identities.normalise(link.kind, link.value)
    except ValueError as exc:
        # normalise names a wrong kind as "... is not an identity kind" / "... is not a
        # channel"; anything else is about the value.
        message = str(exc)
        field = (
            "kind"
            if "not an identity kind" in message or "is not a channel" in message
            else "value"
        )
        raise CommandRejectedError(RejectionCode.INVALID_IDENTITY, str(exc), field=field) from None


def check_refer(case: case_pb2.Case, refer: commands_pb2.ReferCase) -> None:
    """A referral names where the case went; it never resolves or closes it."""
    _require_not_closed(case, "refer")
    if not refer.to.strip():
        raise CommandRejectedError(
            RejectionCode.REFERRAL_TARGET_EMPTY,
            "must not be blank: say who the case was referred to",
            field="to",
        )
    _check_length(refer.note, "note")


def check_set_priority(case: case_pb2.Case, request: commands_pb2.SetPriority) -> None:
    """A manual priority is one of the levels (or empty: back to the computed one)."""
    _require_not_closed(case, "set the priority of")
    if request.level and request.level not in LEVELS:
        raise CommandRejectedError(
            RejectionCode.UNKNOWN_PRIORITY,
            f"{request.level!r} is not a priority level ({', '.join(LEVELS)}, or empty for "
            "the computed one)",
            field="level",
        )
    _check_length(request.reason, "reason")


def _check_words(text: str, field: str, empty: RejectionCode) -> None:
    if not text.strip():
        raise CommandRejectedError(empty, "must not be blank", field=field)
    _check_length(text, field)


def _check_length(text: str, field: str) -> None:
    if len(text) > NOTE_MAX_CHARS:
        raise CommandRejectedError(
            RejectionCode.NOTE_TOO_LONG,
            f"{len(text)} characters, at most {NOTE_MAX_CHARS}",
            field=field,
        )


def check_command(
    case: case_pb2.Case, command: commands_pb2.AgentCommand, care: CareConfig, now: datetime
) -> Agent:
    """The acting agent if `command` applies to `case` at `now`; CommandRejectedError
    otherwise."""
    action = command.WhichOneof("action")
    if action == "reply":
        agent = roster_agent(care, command.reply.agent)
        check_reply(case, agent, command.reply, care, now)
    elif action == "assign":
        agent = roster_agent(care, command.assign.agent)
        check_assign(case, agent)
        _check_brand(case, agent, care)
    elif action == "resolve":
        agent = roster_agent(care, command.resolve.agent)
        check_resolve(case, agent, care)
        _check_length(command.resolve.note, "note")
    elif action == "claim":
        agent = roster_agent(care, command.claim.agent)
        check_claim(case, agent)
        _check_brand(case, agent, care)
    elif action == "consult":
        agent = roster_agent(care, command.consult.agent)
        check_consult(case, command.consult, care)
    elif action == "answer_consultation":
        agent = roster_agent(care, command.answer_consultation.specialist, "specialist")
        check_answer_consultation(case, command.answer_consultation)
    elif action == "await_customer":
        agent = roster_agent(care, command.await_customer.agent)
        check_await_customer(case, command.await_customer)
    elif action == "reopen":
        agent = roster_agent(care, command.reopen.agent)
        check_reopen(case, command.reopen)
    elif action == "merge":
        agent = roster_agent(care, command.merge.agent)
        check_merge(case, command.merge)
    elif action == "link_identity":
        agent = roster_agent(care, command.link_identity.agent)
        check_link_identity(case, command.link_identity)
    elif action == "refer":
        agent = roster_agent(care, command.refer.agent)
        check_refer(case, command.refer)
    elif action == "set_priority":
        agent = roster_agent(care, command.set_priority.agent)
        check_set_priority(case, command.set_priority)
    elif action == "note":
        agent = roster_agent(care, command.note.agent)
        check_note(case, command.note, care)
    elif action == "escalate":
        agent = roster_agent(care, command.escalate.agent)
        check_escalate(case, command.escalate, care)
    else:
        raise CommandRejectedError(RejectionCode.NO_ACTION, "the command names no action")
    return agent


# -- escalations ------------------------------------------------------------------------------
# Judged by the escalation service, not routing; the gateway checks them first against the
# case as routing last showed it (`Case.escalations`), so that a stale request gets a clear
# 404/409 instead of a command the escalation service can only log and skip.

ESCALATION_REASON_MAX_CHARS = 2000


def check_escalate(
    case: case_pb2.Case, request: commands_pb2.EscalateCase, care: CareConfig
) -> None:
    """An agent's escalation needs an open case, a reason, and, when it names a tier, one
    on the ladder of the agent-request policy (`escalation.triggers.agent_request`)."""
    _require_open(case, "escalate")
    if not request.reason.strip():
        raise CommandRejectedError(
            RejectionCode.REASON_EMPTY,
            "must not be blank: say what help is needed",
            field="reason",
        )
    if len(request.reason) > ESCALATION_REASON_MAX_CHARS:
        raise CommandRejectedError(
            RejectionCode.REASON_TOO_LONG,
            f"{len(request.reason)} characters, a reason holds {ESCALATION_REASON_MAX_CHARS}",
            field="reason",
        )
    if request.tier:
        section = care.escalation
        policy = section.policy(section.trigger("agent_request").policy)
        tiers = [step.tier for step in policy.steps]
        if request.tier not in tiers:
            raise CommandRejectedError(
                RejectionCode.UNKNOWN_TIER,
                f"{request.tier!r} is not a tier of escalation policy {policy.name!r} "
                f"({', '.join(tiers)})",
                field="tier",
            )


def escalation_on_case(case: case_pb2.Case, escalation_id: str) -> escalation_pb2.Escalation | None:
    """The escalation with this id as the case shows it (its latest revision), or None."""
    for escalation in case.escalations:
        if escalation.id == escalation_id:
            return escalation
    return None


def check_acknowledge(escalation: escalation_pb2.Escalation) -> None:
    """Only an open escalation can be acknowledged: a second acknowledgement would say
    someone took it who did not (409 naming who did)."""
    status = escalation.status
    if status == escalation_pb2.ESCALATION_STATUS_RESOLVED:
        raise CommandRejectedError(
            RejectionCode.ESCALATION_RESOLVED,
            f"escalation {escalation.id} is resolved"
            + (f" (by {escalation.resolved_by})" if escalation.resolved_by else ""),
        )
    if status == escalation_pb2.ESCALATION_STATUS_ACKNOWLEDGED:
        raise CommandRejectedError(
            RejectionCode.ESCALATION_ACKNOWLEDGED,
            f"escalation {escalation.id} is already acknowledged by "
            f"{escalation.acknowledged_by or 'someone'}",
        )


def check_resolve_escalation(
    escalation: escalation_pb2.Escalation, request: commands_pb2.ResolveEscalation
) -> None:
    """An escalation is resolved once; the note is bounded like a case note."""
    if escalation.status == escalation_pb2.ESCALATION_STATUS_RESOLVED:
        raise CommandRejectedError(
            RejectionCode.ESCALATION_RESOLVED,
            f"escalation {escalation.id} is resolved already"
            + (f" (by {escalation.resolved_by})" if escalation.resolved_by else ""),
        )
    if len(request.note) > NOTE_MAX_CHARS:
        raise CommandRejectedError(
            RejectionCode.NOTE_TOO_LONG,
            f"{len(request.note)} characters, a note holds {NOTE_MAX_CHARS}",
            field="note",
        )


def _status_name(status: case_pb2.CaseStatus.ValueType) -> str:
    return enum_name(case_pb2.CaseStatus, status, "CASE_STATUS_")


def _require_not_closed(case: case_pb2.Case, action: str) -> None:
    if case.status == CLOSED:
        where = f" (merged into {case.merged_into})" if case.merged_into else ""
        raise CommandRejectedError(
            RejectionCode.CASE_CLOSED,
            f"case {case.id} is closed{where}; cannot {action} it "
            "(a new message from the customer opens a new case)",
        )


def _require_open(case: case_pb2.Case, action: str) -> None:
    _require_not_closed(case, action)
    if case.status == RESOLVED:
        raise CommandRejectedError(
            RejectionCode.CASE_RESOLVED,
            f"case {case.id} is resolved; cannot {action} it "
            "(it reopens when the customer writes again)",
        )
