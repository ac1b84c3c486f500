"""The event catalogue: every event an integrator can subscribe to (webhooks, ADR 0012), the
public topic it comes from, and how one record of that topic becomes one CloudEvent.

An event type is `<noun>.<verb>`: `case.opened`, `sla.breached`, `reply.read`. Each public
event topic carries one protobuf message with a type enum; the catalogue derives the names
from those enums, so a value added to an enum gets an event type at once (and the catalogue
test fails until it is described here). Shared by the webhook engine (fan-out: which type a
record is, whose brand, which body), the webhook API (validating subscriptions) and the
AsyncAPI document.

Bodies are CloudEvents 1.0 in structured mode (`Content-Type: application/cloudevents+json`):

    {"specversion": "1.0", "id": <the record's event id>, "source": "socialcare/<topic>",
     "type": "case.opened", "time": <RFC 3339, UTC>, "subject": <case id | incident id>,
     "datacontenttype": "application/json", "brand": <brand>,
     "data": <the protobuf message as proto3 JSON, field names as in the .proto>}

The bytes are deterministic (sorted keys, no insignificant whitespace, UTF-8), so the same
record always yields the same body: a redelivered record makes a byte-identical delivery.
Protobuf's JSON mapping applies to `data`: 64-bit integers are strings, enums are their
names, timestamps RFC 3339, bytes base64, fields at their default value are left out.

Not in the catalogue: inbound messages before they join a case (`social.*`: a message
reaches integrators as `case.message_added`, with its case, so erasing a case also finds its
webhook deliveries), agent commands and outbound replies before a platform answered
(`reply.sent` etc. report what happened), and every internal topic.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from socialcare.core.clock import from_timestamp
from socialcare.core.domain.topics import REGISTRY, Topic
from socialcare.core.signing import GENERIC_HEADER
from socialcare.v1 import case_pb2, delivery_pb2, escalation_pb2, incident_pb2, sla_pb2

SPEC_VERSION = "1.0"
# The headers of every webhook POST (besides Content-Type: CONTENT_TYPE).
SIGNATURE_HEADER = GENERIC_HEADER  # t=<unix s>,v1=<hex HMAC>[,v1=<previous secret's>]
DELIVERY_HEADER = "X-Socialcare-Delivery"  # the delivery id: receivers deduplicate on it
EVENT_TYPE_HEADER = "X-Socialcare-Event-Type"  # the event type, e.g. case.opened
ATTEMPT_HEADER = "X-Socialcare-Attempt"  # 1 for the first attempt, then 2, 3, ...
# Sent once on request through the API (not subscribable; every subscription receives it).
PING_TYPE = "webhook.ping"
PING_SOURCE = "socialcare/webhooks"
CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
SOURCE_PREFIX = "socialcare/"


@dataclass(frozen=True, slots=True)
class EventType:
    """One subscribable event type: its name, the topic it comes from, what it means."""

    name: str
    topic: Topic
    # The message the record carries: the CloudEvent's `data` is this message as JSON.
    message_type: type[Message]
    description: str


@dataclass(frozen=True, slots=True)
class EventSource:
    """How records of one public topic become events.

    `type_of` names the event type of a record (None: the record is no public event, e.g.
    an UNSPECIFIED type); `brand` is the brand the record names ("" = the first configured
    brand, as `CareConfig.brand("")` resolves it) or None when the record does not say
    (care.deliveries: the reply's case knows, see `brand_from_case`); `case_id` is "" for
    events about no single case (incidents)."""

    topic: Topic
    message_type: type[Message]
    type_of: Callable[[Any], str | None]
    subject: Callable[[Any], str]
    case_id: Callable[[Any], str]
    brand: Callable[[Any], str | None]
    occurred_at: Callable[[Any], Timestamp]


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One record as an event: what a subscription matches on and what its body says."""

    id: str
    type: str
    topic: Topic
    subject: str
    case_id: str
    # None: unknown from the record itself (care.deliveries).
    brand: str | None
    time: datetime | None
    message: Message


def _names(noun: str, enum: EnumDescriptor, prefix: str) -> dict[int, str]:
    """`{enum value: "<noun>.<suffix in lower case>"}` for every value but UNSPECIFIED."""
    return {
        value.number: f"{noun}.{value.name.removeprefix(prefix).lower()}"
        for value in enum.values
        if value.number != 0
    }


CASE_TYPES = _names("case", case_pb2.CaseEventType.DESCRIPTOR, "CASE_EVENT_TYPE_")
SLA_TYPES = _names("sla", sla_pb2.SlaEventType.DESCRIPTOR, "SLA_EVENT_TYPE_")
ESCALATION_TYPES = _names(
    "escalation", escalation_pb2.EscalationEventType.DESCRIPTOR, "ESCALATION_EVENT_TYPE_"
)
INCIDENT_TYPES = _names(
    "incident", incident_pb2.IncidentEventType.DESCRIPTOR, "INCIDENT_EVENT_TYPE_"
)
REPLY_TYPES = _names("reply", delivery_pb2.DeliveryStatus.DESCRIPTOR, "DELIVERY_STATUS_")

DESCRIPTIONS: Mapping[str, str] = {
    "case.opened": "A new case opened from a customer's first message.",
    "case.message_added": "A customer's message joined an existing case.",
    "case.assigned": "The case was assigned to an agent (or transferred to another).",
    "case.replied": "An agent replied on the case (the reply is on its way to the channel).",
    "case.sla_changed": "One of the case's SLA clocks changed (started, paused, stopped).",
    "case.escalated": "The case's escalations changed (raised, acknowledged, resolved).",
    "case.resolved": "The case was resolved.",
    "case.reopened": "A resolved case was reopened (the customer wrote again, or an agent).",
    "case.command_rejected": "An agent's action on the case was refused (with the reason).",
    "case.reply_delivery": "A reply's delivery state changed on the case (sent, delivered, read).",
    "case.reply_failed": "A reply on the case could not be delivered.",
    "case.note_added": "An agent added an internal note.",
    "case.queued": "The case entered a queue (or moved to another).",
    "case.resolution_proposed": "An agent proposed the case as resolved; the customer is asked.",
    "case.closed": "The case closed for good (its reopen window passed).",
    "case.merged": "The case was merged into another case of the same customer.",
    "case.survey_sent": "A satisfaction survey was sent to the customer.",
    "case.survey_answered": "The customer answered the satisfaction survey.",
    "case.consultation_answered": "A consulted colleague answered on the case.",
    "case.identity_linked": "Another identity of the customer was linked to the case.",
    "case.unassigned": "The case's agent gave it back (or went away); it waits in its queue.",
    "case.status_changed": "The case's status changed (e.g. waiting on the customer).",
    "case.priority_changed": "The case's priority changed.",
    "sla.met": "An SLA clock stopped within its target.",
    "sla.breached": "An SLA clock passed its target.",
    "sla.warning": "An SLA clock crossed a warning threshold of its target.",
    "sla.started": "An SLA clock started (first response, next response, resolution).",
    "sla.paused": "An SLA clock paused (waiting on the customer, outside business hours).",
    "sla.resumed": "A paused SLA clock runs again.",
    "sla.at_risk": "An SLA clock is predicted to breach at the current pace.",
    "sla.stopped": "An SLA clock stopped without an outcome (the case closed another way).",
    "escalation.raised": "An escalation was raised on a case.",
    "escalation.acknowledged": "Someone acknowledged an escalation.",
    "escalation.re_escalated": "An unacknowledged escalation moved to the next tier.",
    "escalation.resolved": "An escalation was resolved.",
    "incident.opened": "A crisis incident opened: a spike of negative messages on one topic.",
    "incident.updated": "An open incident changed (more cases, a new rate, a summary).",
    "incident.closed": "An incident closed.",
    "reply.sent": "The platform accepted an agent's reply.",
    "reply.delivered": "The platform delivered the reply to the customer.",
    "reply.read": "The customer read the reply.",
    "reply.failed": "The reply could not be delivered (with the platform's reason).",
}


SOURCES: Mapping[Topic, EventSource] = {
    Topic.CASES: EventSource(
        Topic.CASES,
        case_pb2.CaseEvent,
        type_of=lambda m: CASE_TYPES.get(m.type),
        subject=lambda m: m.case.id,
        case_id=lambda m: m.case.id,
        brand=lambda m: m.case.brand,
        occurred_at=lambda m: m.occurred_at,
    ),
    Topic.SLA: EventSource(
        Topic.SLA,
        sla_pb2.SlaEvent,
        type_of=lambda m: SLA_TYPES.get(m.type),
        subject=lambda m: m.case_id,
        case_id=lambda m: m.case_id,
        brand=lambda m: m.brand,
        occurred_at=lambda m: m.occurred_at,
    ),
    Topic.ESCALATIONS: EventSource(
        Topic.ESCALATIONS,
        escalation_pb2.EscalationEvent,
        type_of=lambda m: ESCALATION_TYPES.get(m.type),
        subject=lambda m: m.escalation.case_id,
        case_id=lambda m: m.escalation.case_id,
        brand=lambda m: m.escalation.brand,
        occurred_at=lambda m: m.occurred_at,
    ),
    Topic.INCIDENTS: EventSource(
        Topic.INCIDENTS,
        incident_pb2.IncidentEvent,
        type_of=lambda m: INCIDENT_TYPES.get(m.type),
        subject=lambda m: m.incident.id,
        case_id=lambda m: "",
        brand=lambda m: m.incident.brand,
        occurred_at=lambda m: m.occurred_at,
    ),
    Topic.DELIVERIES: EventSource(
        Topic.DELIVERIES,
        delivery_pb2.ReplyDelivery,
        type_of=lambda m: REPLY_TYPES.get(m.status),
        subject=lambda m: m.case_id,
        case_id=lambda m: m.case_id,
        brand=lambda m: None,
        occurred_at=lambda m: m.occurred_at,
    ),
}

EVENT_TYPES: Mapping[str, EventType] = {
    name: EventType(name, topic, REGISTRY[topic].message_type, DESCRIPTIONS.get(name, name))
    for topic, names in (
        (Topic.CASES, CASE_TYPES),
        (Topic.SLA, SLA_TYPES),
        (Topic.ESCALATIONS, ESCALATION_TYPES),
        (Topic.INCIDENTS, INCIDENT_TYPES),
        (Topic.DELIVERIES, REPLY_TYPES),
    )
    for name in names.values()
}
"""Every event type, in catalogue order (by topic, then enum order)."""

SOURCE_TOPICS: tuple[Topic, ...] = tuple(SOURCES)


def _pattern_matches(pattern: str, name: str) -> bool:
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1])
    return pattern == name


def unknown_event_types(names: Iterable[str]) -> list[str]:
    """The entries that are neither an event type nor a `<noun>.*` pattern matching one
    (for validating a subscription)."""
    return [
        entry
        for entry in names
        if entry not in EVENT_TYPES
        and not (entry.endswith(".*") and any(_pattern_matches(entry, n) for n in EVENT_TYPES))
    ]


def subscribed(event_types: Iterable[str], name: str) -> bool:
    """True when a subscription to `event_types` receives `name`: empty = every type; an
    entry is a type's name or `<noun>.*` (every type of that noun, e.g. `sla.*`)."""
    chosen = list(event_types)
    return not chosen or any(_pattern_matches(entry, name) for entry in chosen)


def describe(topic: Topic | str, message: Message) -> WebhookEvent | None:
    """`message`, read from `topic`, as an event; None when the topic is no event source
    or the record has no public type."""
    try:
        source = SOURCES[Topic(topic)]
    except (KeyError, ValueError):
        return None
    name = source.type_of(message)
    if name is None:
        return None
    occurred = source.occurred_at(message)
    return WebhookEvent(
        id=REGISTRY[source.topic].event_id(message),
        type=name,
        topic=source.topic,
        subject=source.subject(message),
        case_id=source.case_id(message),
        brand=source.brand(message),
        time=from_timestamp(occurred) if occurred.ByteSize() else None,
        message=message,
    )


def cloud_event(event: WebhookEvent, *, brand: str, time: datetime | None = None) -> dict[str, Any]:
    """The CloudEvents 1.0 structured-mode envelope of `event` for `brand` (the resolved
    brand name); `time` stands in when the record carries no time of its own."""
    envelope: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event.id,
        "source": f"{SOURCE_PREFIX}{event.topic.value}",
        "type": event.type,
        "datacontenttype": DATA_CONTENT_TYPE,
        "brand": brand,
        "data": json_format.MessageToDict(event.message, preserving_proto_field_name=True),
    }
    when = event.time or time
    if when is not None:
        stamp = Timestamp()
        stamp.FromDatetime(when)
        envelope["time"] = stamp.ToJsonString()
    if event.subject:
        envelope["subject"] = event.subject
    return envelope


def body_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The deterministic bytes of an envelope: sorted keys, compact, UTF-8."""
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_body(event: WebhookEvent, *, brand: str, time: datetime | None = None) -> bytes:
    """The webhook body of `event`: `body_bytes(cloud_event(...))`."""
    return body_bytes(cloud_event(event, brand=brand, time=time))


def ping_body(*, subscription_id: str, brand: str, event_id: str, now: datetime) -> bytes:
    """The body of a `webhook.ping`: a CloudEvent whose data names the subscription."""
    stamp = Timestamp()
    stamp.FromDatetime(now)
    return body_bytes(
        {
            "specversion": SPEC_VERSION,
            "id": event_id,
            "source": PING_SOURCE,
            "type": PING_TYPE,
            "time": stamp.ToJsonString(),
            "subject": subscription_id,
            "datacontenttype": DATA_CONTENT_TYPE,
            "brand": brand,
            "data": {"subscription_id": subscription_id, "brand": brand},
        }
    )


def catalogue() -> list[dict[str, str]]:
    """The catalogue as rows (name, topic, description), for docs and the API."""
    return [
        {"name": t.name, "topic": t.topic.value, "description": t.description}
        for t in EVENT_TYPES.values()
    ]
