"""Shared vocabulary for messages and cases: conversation keys, enum names, JSON views.

Both the gateway (case API) and the search indexer (case documents) show a case the same
way, so the JSON view lives here once.
"""

from __future__ import annotations

from typing import Any

from socialcare.core.clock import rfc3339
from socialcare.core.domain.deliveries import STATUS_NAMES as DELIVERY_STATUS_NAMES
from socialcare.v1 import case_pb2, delivery_pb2, escalation_pb2, message_pb2

CHANNELS: dict[str, message_pb2.Channel.ValueType] = {
    "x": message_pb2.CHANNEL_X,
    "facebook": message_pb2.CHANNEL_FACEBOOK,
    "instagram": message_pb2.CHANNEL_INSTAGRAM,
    "whatsapp": message_pb2.CHANNEL_WHATSAPP,
    "linkedin": message_pb2.CHANNEL_LINKEDIN,
    "forum": message_pb2.CHANNEL_FORUM,
    "blog": message_pb2.CHANNEL_BLOG,
    "review": message_pb2.CHANNEL_REVIEW,
    "email": message_pb2.CHANNEL_EMAIL,
    "generic": message_pb2.CHANNEL_GENERIC,
}
CHANNEL_NAMES: dict[message_pb2.Channel.ValueType, str] = {v: k for k, v in CHANNELS.items()}

# Longest reply a channel accepts, in characters (None: no practical limit).
REPLY_LIMITS: dict[str, int | None] = {
    "x": 280,
    "facebook": 8000,
    "instagram": 1000,
    "whatsapp": 4096,
    "linkedin": 1250,
    "forum": None,
    "blog": None,
    "review": 5000,
    "email": None,
    "generic": None,
}

DIRECTION_NAMES: dict[case_pb2.Direction.ValueType, str] = {
    case_pb2.DIRECTION_INBOUND: "inbound",
    case_pb2.DIRECTION_OUTBOUND: "outbound",
    case_pb2.DIRECTION_INTERNAL: "internal",
}

# The lifecycle in order: new (the assigner has not answered yet) -> open (queued) ->
# assigned -> waiting_on_customer -> resolved -> closed.
STATUS_NAMES: dict[case_pb2.CaseStatus.ValueType, str] = {
    case_pb2.CASE_STATUS_NEW: "new",
    case_pb2.CASE_STATUS_OPEN: "open",
    case_pb2.CASE_STATUS_ASSIGNED: "assigned",
    case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER: "waiting_on_customer",
    case_pb2.CASE_STATUS_RESOLVED: "resolved",
    case_pb2.CASE_STATUS_CLOSED: "closed",
}
# Statuses of a case that is over for its agents (no owner, no clocks running).
DONE_STATUSES = frozenset({case_pb2.CASE_STATUS_RESOLVED, case_pb2.CASE_STATUS_CLOSED})
STATUSES: dict[str, case_pb2.CaseStatus.ValueType] = {v: k for k, v in STATUS_NAMES.items()}

SLA_STATE_NAMES: dict[case_pb2.SlaState.ValueType, str] = {
    case_pb2.SLA_STATE_RUNNING: "running",
    case_pb2.SLA_STATE_MET: "met",
    case_pb2.SLA_STATE_BREACHED: "breached",
    case_pb2.SLA_STATE_PAUSED: "paused",
    case_pb2.SLA_STATE_CANCELLED: "cancelled",
}

# The names of MessageKind as the REST API spells them (MESSAGE_KIND_DIRECT_MESSAGE ->
# "direct_message").
KIND_NAMES: dict[message_pb2.MessageKind.ValueType, str] = {
    value: message_pb2.MessageKind.Name(value).removeprefix("MESSAGE_KIND_").lower()
    for value in message_pb2.MessageKind.values()
    if value != message_pb2.MESSAGE_KIND_UNSPECIFIED
}

SENTIMENT_NAMES: dict[message_pb2.SentimentLabel.ValueType, str] = {
    message_pb2.SENTIMENT_LABEL_NEGATIVE: "negative",
    message_pb2.SENTIMENT_LABEL_NEUTRAL: "neutral",
    message_pb2.SENTIMENT_LABEL_POSITIVE: "positive",
}
SENTIMENT_LABELS: dict[str, message_pb2.SentimentLabel.ValueType] = {
    v: k for k, v in SENTIMENT_NAMES.items()
}


def channel_name(channel: message_pb2.Channel.ValueType) -> str:
    return CHANNEL_NAMES.get(channel, "unspecified")


def author_key(message: message_pb2.SocialMessage) -> str:
    """The customer on one channel: the record key that keeps a customer's messages in order."""
    return f"{channel_name(message.channel)}:author:{message.author.id}"


def thread_key(message: message_pb2.SocialMessage) -> str | None:
    if not message.thread_id:
        return None
    return f"{channel_name(message.channel)}:thread:{message.thread_id}"


def conversation_key(message: message_pb2.SocialMessage) -> str:
    """The thread when the channel has one, otherwise the author on the channel."""
    return thread_key(message) or author_key(message)


def sentiment_json(sentiment: message_pb2.Sentiment) -> dict[str, Any]:
    return {
        "score": round(sentiment.score, 4),
        "label": SENTIMENT_NAMES.get(sentiment.label, "neutral"),
    }


def attachment_json(attachment: message_pb2.Attachment) -> dict[str, Any]:
    return {
        "type": attachment.type,
        "url": attachment.url or None,
        "mime_type": attachment.mime_type or None,
        "external_id": attachment.external_id or None,
    }


def delivery_json(delivery: delivery_pb2.DeliveryState) -> dict[str, Any]:
    """How far an outbound message got: "pending" until the connector reports, then the
    furthest status reached ("failed" with the platform's reason and code)."""
    return {
        "status": DELIVERY_STATUS_NAMES.get(delivery.status, "pending"),
        "platform_message_id": delivery.platform_message_id or None,
        "reason": delivery.reason or None,
        "error_code": delivery.error_code or None,
        "updated_at": rfc3339(delivery.updated_at),
    }


def case_message_json(message: case_pb2.CaseMessage) -> dict[str, Any]:
    inbound = message.direction == case_pb2.DIRECTION_INBOUND
    outbound = message.direction == case_pb2.DIRECTION_OUTBOUND
    return {
        "message_id": message.message_id,
        "direction": DIRECTION_NAMES.get(message.direction, "inbound"),
        "kind": KIND_NAMES.get(message.kind),
        "external_id": message.external_id or None,
        "account_id": message.account_id or None,
        "author": message.author,
        "text": message.text,
        "created_at": rfc3339(message.created_at),
        "language": message.language or None,
        "sentiment": sentiment_json(message.sentiment) if inbound else None,
        "attachments": [attachment_json(a) for a in message.attachments],
        "delivery": delivery_json(message.delivery) if outbound else None,
    }


def case_json(case: case_pb2.Case, *, with_messages: bool = True) -> dict[str, Any]:
    """The public JSON form of a case (API responses and search documents)."""
    view: dict[str, Any] = {
        "id": case.id,
        "status": STATUS_NAMES.get(case.status, "open"),
        "language": case.language,
        "channel": channel_name(case.channel),
        "queue": case.queue,
        "assignee": case.assignee or None,
        "priority": case.priority or "normal",
        "sentiment": sentiment_json(case.sentiment),
        "customer": {
            "id": case.customer.id,
            "handle": case.customer.handle,
            "name": case.customer.name,
            "followers": case.customer.followers,
        },
        "brand": case.brand or None,
        "conversation_key": case.conversation_key,
        "sla": clock_json(case.sla),
        "resolution_sla": clock_json(case.resolution_sla)
        if case.HasField("resolution_sla")
        else None,
        "customer_tier": case.customer_tier or None,
        # The customer's signals (scenario 5): a VIP (the CRM, the brand's list or a "vip"
        # tier), their value (CRM or author; null = unknown), the latest message's reach tier.
        "vip": case.vip,
        "customer_value": case.customer_value or None,
        "reach_tier": case.reach_tier or None,
        "team": case.team or None,
        "opened_at": rfc3339(case.opened_at),
        "updated_at": rfc3339(case.updated_at),
        "version": case.version,
        "escalations": list(case.escalation_ids),
        # The escalations as they stand (tier, status, who acknowledged); `escalations`
        # keeps the ids for clients written before escalations had a lifecycle.
        "escalation_details": [escalation_json(e) for e in case.escalations],
        "consultants": list(case.consultants),
        "message_count": len(case.messages),
        "identities": [identity_json(i) for i in case.identities],
        "intents": [intent_json(i) for i in case.intents],
        "product": case.product or None,
        "priority_override": case.priority_override or None,
        "priority_explanation": priority_explanation_json(case.priority_explanation)
        if case.HasField("priority_explanation")
        else None,
        "resolution_check": resolution_check_json(case.resolution_check)
        if case.HasField("resolution_check")
        else None,
        "survey": survey_json(case.survey) if case.HasField("survey") else None,
        "consultations": [consultation_json(c) for c in case.consultations],
        "referrals": [referral_json(r) for r in case.referrals],
        "merged_into": case.merged_into or None,
        "merged_from": list(case.merged_from),
        "resolved_at": rfc3339(case.resolved_at),
        "closed_at": rfc3339(case.closed_at),
        "reopen_until": rfc3339(case.reopen_until),
        "previous_case_id": case.previous_case_id or None,
        "queue_position": case.queue_position or None,
        "assigned_at": rfc3339(case.assigned_at),
        # Personal moments the customer told (scenario 4), newest last, one per kind.
        "moments": [moment_json(m) for m in case.moments],
    }
    if with_messages:
        view["messages"] = [case_message_json(m) for m in case.messages]
    return view


def identity_json(identity: case_pb2.Identity) -> dict[str, Any]:
    return {
        "kind": identity.kind,
        "value": identity.value,
        "display": identity.display or f"{identity.value} ({identity.kind})",
        "source": identity.source or None,
        "linked_at": rfc3339(identity.linked_at),
    }


def moment_json(moment: message_pb2.SpecialMoment) -> dict[str, Any]:
    return {"kind": moment.kind, "quote": moment.quote}


def intent_json(intent: case_pb2.CaseIntent) -> dict[str, Any]:
    return {
        "name": intent.name,
        "question": intent.question or None,
        "confidence": round(intent.confidence, 4),
        "answered": intent.answered,
        "answered_by": intent.answered_by or None,
        "sales": intent.sales,
        "product": intent.product or None,
        "message_id": intent.message_id or None,
    }


def priority_explanation_json(explanation: case_pb2.PriorityExplanation) -> dict[str, Any]:
    """Why the case has its priority: each signal's share, largest first (scenario 5)."""
    return {
        "score": round(explanation.score, 4),
        "level": explanation.level or None,
        "computed_at": rfc3339(explanation.computed_at),
        "factors": [
            {
                "factor": f.factor,
                "signal": round(f.signal, 4),
                "weight": f.weight,
                "contribution": round(f.contribution, 4),
                "detail": f.detail,
            }
            for f in explanation.factors
        ],
    }


def resolution_check_json(check: case_pb2.ResolutionCheck) -> dict[str, Any]:
    return {
        "outcome": enum_name(case_pb2.ResolutionOutcome, check.outcome, "RESOLUTION_OUTCOME_"),
        "proposed_by": check.proposed_by or None,
        "command_id": check.command_id or None,
        "asked_at": rfc3339(check.asked_at),
        "due_at": rfc3339(check.due_at),
        "answered_at": rfc3339(check.answered_at),
        "note": check.note or None,
        "question_id": check.question_id or None,
        "round": check.round,
    }


def survey_json(survey: case_pb2.Survey) -> dict[str, Any]:
    return {
        "kind": enum_name(case_pb2.SurveyKind, survey.kind, "SURVEY_KIND_"),
        "sent_at": rfc3339(survey.sent_at),
        "due_at": rfc3339(survey.due_at),
        "answered": survey.answered,
        "score": survey.score if survey.answered else None,
        "answered_at": rfc3339(survey.answered_at),
        "comment": survey.comment or None,
        "question_id": survey.question_id or None,
    }


def consultation_json(consultation: case_pb2.Consultation) -> dict[str, Any]:
    return {
        "id": consultation.id,
        "specialist": consultation.specialist,
        "asked_by": consultation.asked_by,
        "question": consultation.question,
        "asked_at": rfc3339(consultation.asked_at),
        "answer": consultation.answer or None,
        "answered_at": rfc3339(consultation.answered_at),
        "product": consultation.product or None,
    }


def referral_json(referral: case_pb2.Referral) -> dict[str, Any]:
    return {
        "to": referral.to,
        "by": referral.by,
        "note": referral.note or None,
        "at": rfc3339(referral.at),
    }


CLOCK_KIND_NAMES: dict[case_pb2.SlaClockKind.ValueType, str] = {
    case_pb2.SLA_CLOCK_KIND_UNSPECIFIED: "first_response",
    case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE: "first_response",
    case_pb2.SLA_CLOCK_KIND_NEXT_RESPONSE: "next_response",
    case_pb2.SLA_CLOCK_KIND_RESOLUTION: "resolution",
}


def clock_json(clock: case_pb2.SlaClock) -> dict[str, Any]:
    """The public JSON form of one SLA clock."""
    return {
        "kind": CLOCK_KIND_NAMES.get(clock.kind, "first_response"),
        "cycle": clock.cycle or 1,
        "policy": clock.policy,
        "state": SLA_STATE_NAMES.get(clock.state, "running"),
        "started_at": rfc3339(clock.started_at),
        "due_at": rfc3339(clock.due_at),
        "target_seconds": clock.target_seconds,
        "first_response_at": rfc3339(clock.first_response_at),
        "stopped_at": rfc3339(clock.stopped_at),
        "paused_at": rfc3339(clock.paused_at),
        "calendar": clock.calendar or None,
        "team": clock.team or None,
        "warning_thresholds": list(clock.warning_thresholds),
        "warned": list(clock.warned),
        "at_risk": clock.at_risk,
    }


def enum_name(enum: Any, value: int, prefix: str) -> str:
    """`value`'s name in the protobuf enum `enum` without `prefix`, lower case
    (ESCALATION_TIER_TEAM_LEAD -> "team_lead"); "unspecified" for a number this version of
    the contracts does not define. Proto3 enums are open: a record from a newer producer, or
    from anyone who writes to a topic, may carry such a number, and reading it must not fail
    (`Enum.Name` raises ValueError)."""
    try:
        name: str = enum.Name(value)
    except ValueError:
        return "unspecified"
    return name.removeprefix(prefix).lower()


def _enum_name(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower()


def escalation_json(escalation: escalation_pb2.Escalation) -> dict[str, Any]:
    """The public JSON form of an escalation (API responses and search documents)."""
    status = escalation.status or escalation_pb2.ESCALATION_STATUS_OPEN
    return {
        "id": escalation.id,
        "case_id": escalation.case_id,
        "trigger": enum_name(
            escalation_pb2.EscalationTrigger, escalation.trigger, "ESCALATION_TRIGGER_"
        ),
        "tier": enum_name(escalation_pb2.EscalationTier, escalation.tier, "ESCALATION_TIER_"),
        "reason": escalation.reason,
        "language": escalation.language,
        "queue": escalation.queue,
        "raised_at": rfc3339(escalation.raised_at),
        "cause_id": escalation.cause_id,
        "status": enum_name(escalation_pb2.EscalationStatus, status, "ESCALATION_STATUS_"),
        "policy": escalation.policy or None,
        "level": escalation.level,
        "revision": escalation.revision,
        "acknowledge_by": rfc3339(escalation.acknowledge_by),
        "acknowledged_by": escalation.acknowledged_by or None,
        "acknowledged_at": rfc3339(escalation.acknowledged_at),
        "resolved_by": escalation.resolved_by or None,
        "resolved_at": rfc3339(escalation.resolved_at),
        "on_call": list(escalation.on_call),
        "incident_id": escalation.incident_id or None,
        "brand": escalation.brand or None,
        "raised_by": escalation.raised_by or None,
    }
