"""Every topic in one place: its name, the one message type it carries, how a record's key
and event id derive from that message, and how it is laid out (partitions, compaction).
Each dead-letter topic stands beside the topic it serves.

Processors return `Emit(topic, message)`; the consumer loop asks this registry for the key
and event id, so no service writes keys or headers by hand and a message can only go to
the topic that carries its type. The public topic names (social.*, care.*) are part of the
contract for integrators: never rename, only add.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from google.protobuf.message import Message

from socialcare.core.domain.cases import author_key
from socialcare.core.events import derived_id
from socialcare.v1 import (
    audit_pb2,
    auth_pb2,
    case_pb2,
    commands_pb2,
    delivery_pb2,
    escalation_pb2,
    incident_pb2,
    message_pb2,
    routing_pb2,
    sla_pb2,
    webhook_pb2,
)


class Topic(StrEnum):
    MESSAGES_RAW = "social.messages.raw"
    MESSAGES_ENRICHED = "social.messages.enriched"
    COMMANDS = "care.commands"
    CASES = "care.cases"
    SLA = "care.sla"
    ESCALATIONS = "care.escalations"
    OUTBOUND = "care.outbound"
    DELIVERIES = "care.deliveries"
    PAYLOADS_RAW = "social.payloads.raw"
    INCIDENTS = "care.incidents"
    # Crisis detection's input (one partition: one detector sees every brand) and its state.
    CRISIS_SIGNALS = "escalation.crisis-signals"
    CRISIS_STATE = "escalation.crisis-state"
    # The SLA metrics projection's snapshots (what it counted, through which care.sla offset).
    SLA_METRICS_STATE = "sla.metrics-state"
    # Routing's internal assignment protocol (ADR 0005).
    ASSIGNMENT_REQUESTS = "routing.assignment-requests"
    ASSIGNMENT_DECISIONS = "routing.assignment-decisions"
    ASSIGNMENTS_CHANGELOG = "routing.assignments.changelog"
    # The assigner's state per agent: presence and when they last got a case.
    AGENTS_CHANGELOG = "routing.agents.changelog"
    # Identity linking (one writer): case books tell it each case's identities; it keeps who
    # holds which identity and merges two open cases of one customer.
    IDENTITY_CLAIMS = "routing.identity-claims"
    IDENTITIES_CHANGELOG = "routing.identities.changelog"
    # The account directory: users, API keys, the token signing key (ADR 0007).
    AUTH_ACCOUNTS = "auth.accounts"
    # Integrator webhooks (ADR 0012): subscriptions, the durable delivery outbox, replays.
    WEBHOOK_SUBSCRIPTIONS = "webhooks.subscriptions"
    WEBHOOK_DELIVERIES = "webhooks.deliveries"
    WEBHOOK_COMMANDS = "webhooks.commands"
    # The append-only audit log of agent, admin and integrator actions.
    AUDIT_LOG = "audit.log"
    # Erasures (GDPR, retention): the request and what each store erased.
    PRIVACY_ERASURES = "privacy.erasures"

    @property
    def dlq(self) -> str:
        """Where a consumer of this topic puts records it cannot process."""
        return dlq_of(self.value)

    @property
    def spec(self) -> TopicSpec:
        return REGISTRY[self]


def account_key(record: auth_pb2.AccountRecord) -> str:
    """`user:<id>`, `api-key:<id>` or `signing-key:<id>`: compaction keeps each entity's
    latest state."""
    entry = record.WhichOneof("entry")
    if entry == "user":
        return f"user:{record.user.id}"
    if entry == "api_key":
        return f"api-key:{record.api_key.id}"
    if entry == "signing_key":
        return f"signing-key:{record.signing_key.id}"
    raise ValueError("an account record needs a user, an api_key or a signing_key")


def dlq_of(topic: str) -> str:
    return f"{topic}.dlq"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """What one topic carries and how. `partitions=None` means the platform's partition
    count (SOCIALCARE_TOPIC_PARTITIONS), which every keyed topic shares so that a key lands
    in the same partition number on each of them (co-partitioning, ADR 0005)."""

    topic: Topic
    message_type: type[Message]
    key: Callable[[Any], str]
    event_id: Callable[[Any], str]
    description: str
    partitions: int | None = None
    compacted: bool = False
    public: bool = True


def _spec(
    topic: Topic,
    message_type: type[Message],
    key: Callable[[Any], str],
    event_id: Callable[[Any], str],
    description: str,
    **layout: Any,
) -> tuple[Topic, TopicSpec]:
    return topic, TopicSpec(topic, message_type, key, event_id, description, **layout)


REGISTRY: Mapping[Topic, TopicSpec] = dict(
    [
        _spec(
            Topic.MESSAGES_RAW,
            message_pb2.SocialMessage,
            key=author_key,
            event_id=lambda m: m.message_id,
            description="Canonical inbound messages as ingestion accepted them.",
        ),
        _spec(
            Topic.MESSAGES_ENRICHED,
            message_pb2.EnrichedMessage,
            key=lambda m: author_key(m.message),
            event_id=lambda m: derived_id("enriched", m.message.message_id),
            description="Inbound messages with language, sentiment and conversation key.",
        ),
        _spec(
            Topic.COMMANDS,
            commands_pb2.AgentCommand,
            key=lambda m: m.case_id,
            event_id=lambda m: m.command_id,
            description="Agent actions on cases (claim, reply, transfer, consult, note, "
            "awaiting customer, resolve, reopen, merge, ...) for routing, and routing's own "
            "second steps of a merge (absorb, forward).",
        ),
        _spec(
            Topic.CASES,
            case_pb2.CaseEvent,
            key=lambda m: m.case.id,
            event_id=lambda m: m.event_id,
            description="The full case after every change (a compacted changelog).",
            compacted=True,
        ),
        _spec(
            Topic.SLA,
            sla_pb2.SlaEvent,
            key=lambda m: m.case_id,
            event_id=lambda m: m.event_id,
            description="SLA clock events of every clock (first response, next response, "
            "resolution): started, warning, at risk, paused, resumed, met, breached.",
        ),
        _spec(
            Topic.ESCALATIONS,
            escalation_pb2.EscalationEvent,
            key=lambda m: m.escalation.case_id,
            event_id=lambda m: m.event_id,
            description="Escalations on cases as they move: raised, acknowledged, "
            "re-escalated to the next tier, resolved (each event carries the whole escalation).",
        ),
        _spec(
            Topic.INCIDENTS,
            incident_pb2.IncidentEvent,
            key=lambda m: m.incident.id,
            event_id=lambda m: m.event_id,
            description="Crisis incidents: a spike of negative messages on one topic of one "
            "brand in one language, opened, updated with the cases it groups, closed.",
        ),
        _spec(
            Topic.CRISIS_SIGNALS,
            incident_pb2.CrisisSignal,
            key=lambda m: f"{m.brand}|{m.topic}|{m.language}",
            event_id=lambda m: m.signal_id,
            description="Inbound messages as crisis detection counts them.",
            partitions=1,
            public=False,
        ),
        _spec(
            Topic.CRISIS_STATE,
            incident_pb2.StateSnapshot,
            key=lambda m: m.key,
            event_id=lambda m: m.snapshot_id,
            description="Crisis detection's rolling counts and open incidents.",
            partitions=1,
            compacted=True,
            public=False,
        ),
        _spec(
            Topic.SLA_METRICS_STATE,
            incident_pb2.StateSnapshot,
            key=lambda m: m.key,
            event_id=lambda m: m.snapshot_id,
            description="The SLA metrics projection's counts per care.sla partition.",
            partitions=1,
            compacted=True,
            public=False,
        ),
        _spec(
            Topic.OUTBOUND,
            commands_pb2.OutboundReply,
            key=lambda m: m.case_id,
            event_id=lambda m: m.reply_id,
            description="Agent replies for the channel connectors to post.",
        ),
        _spec(
            Topic.DELIVERIES,
            delivery_pb2.ReplyDelivery,
            key=lambda m: m.case_id,
            event_id=lambda m: m.event_id,
            description="What became of each reply: sent, delivered, read or failed (with "
            "the platform's reason).",
        ),
        _spec(
            Topic.PAYLOADS_RAW,
            delivery_pb2.RawPayload,
            key=lambda m: m.payload_id,
            event_id=lambda m: m.payload_id,
            description="Webhook bodies and feed items exactly as received, for audit.",
        ),
        _spec(
            Topic.ASSIGNMENT_REQUESTS,
            routing_pb2.AssignmentRequest,
            key=lambda m: m.case_id,
            event_id=lambda m: m.request_id,
            description="Requests to routing's single-writer assigner.",
            partitions=1,
            public=False,
        ),
        _spec(
            Topic.ASSIGNMENT_DECISIONS,
            routing_pb2.AssignmentDecision,
            key=lambda m: m.case_id,
            event_id=lambda m: m.decision_id,
            description="The assigner's decisions, back to the instance that owns the case.",
            public=False,
        ),
        _spec(
            Topic.ASSIGNMENTS_CHANGELOG,
            routing_pb2.AssignmentHolding,
            key=lambda m: m.case_id,
            event_id=lambda m: derived_id("holding", m.case_id, m.cause_id),
            description="The assigner's state: which agent holds which case.",
            partitions=1,
            compacted=True,
            public=False,
        ),
        _spec(
            Topic.AGENTS_CHANGELOG,
            routing_pb2.AgentState,
            key=lambda m: m.agent,
            event_id=lambda m: derived_id("agent-state", m.agent, m.cause_id),
            description="The assigner's state per agent: presence, last assignment.",
            partitions=1,
            compacted=True,
            public=False,
        ),
        _spec(
            Topic.IDENTITY_CLAIMS,
            routing_pb2.IdentityClaim,
            key=lambda m: m.case_id,
            event_id=lambda m: m.claim_id,
            description="Each case's customer identities, for routing's identity linker.",
            partitions=1,
            public=False,
        ),
        _spec(
            Topic.IDENTITIES_CHANGELOG,
            routing_pb2.IdentityOwner,
            key=lambda m: m.identity,
            event_id=lambda m: derived_id("identity-owner", m.identity, m.cause_id),
            description="The identity linker's state: which open case holds an identity.",
            partitions=1,
            compacted=True,
            public=False,
        ),
        _spec(
            Topic.AUTH_ACCOUNTS,
            auth_pb2.AccountRecord,
            key=account_key,
            event_id=lambda m: m.record_id,
            description="Users, API keys and the token signing key: every process's account "
            "directory is rebuilt from it (holds password and key hashes).",
            partitions=1,
            compacted=True,
            public=False,
        ),
        _spec(
            Topic.WEBHOOK_SUBSCRIPTIONS,
            webhook_pb2.WebhookSubscription,
            key=lambda m: m.id,
            event_id=lambda m: m.record_id,
            description="Integrators' webhook subscriptions (holds their signing secrets).",
            partitions=1,
            compacted=True,
            public=False,
        ),
        _spec(
            Topic.WEBHOOK_DELIVERIES,
            webhook_pb2.WebhookDelivery,
            key=lambda m: m.delivery_id,
            event_id=lambda m: derived_id("webhook-delivery", m.delivery_id, m.cause_id),
            description="The webhook outbox: every delivery's latest state (pending with its "
            "next attempt, delivered, dead).",
            compacted=True,
            public=False,
        ),
        _spec(
            Topic.WEBHOOK_COMMANDS,
            webhook_pb2.WebhookCommand,
            key=lambda m: m.subscription_id,
            event_id=lambda m: m.command_id,
            description="Replays of a subscription's dead deliveries or of its events since "
            "a point in time.",
            partitions=1,
            public=False,
        ),
        _spec(
            Topic.AUDIT_LOG,
            audit_pb2.AuditRecord,
            key=lambda m: m.actor_id,
            event_id=lambda m: m.record_id,
            description="Who did what, when, from where: agents', admins' and integrators' "
            "actions (append-only).",
            partitions=1,
            public=False,
        ),
        _spec(
            Topic.PRIVACY_ERASURES,
            audit_pb2.PrivacyEvent,
            key=lambda m: m.request.erasure_id if m.HasField("request") else m.step.erasure_id,
            event_id=lambda m: m.event_id,
            description="Erasures of a customer's data: the request and what each store erased.",
            partitions=1,
            public=False,
        ),
    ]
)

ALL_TOPICS: tuple[str, ...] = tuple(t.value for t in Topic) + tuple(t.dlq for t in Topic)


def topic_layouts(default_partitions: int) -> dict[tuple[int, bool], list[str]]:
    """Every topic (and DLQ) grouped by (partitions, compacted), for creating them."""
    layouts: dict[tuple[int, bool], list[str]] = {}
    for topic, spec in REGISTRY.items():
        partitions = spec.partitions or default_partitions
        layouts.setdefault((partitions, spec.compacted), []).append(topic.value)
        layouts.setdefault((partitions, False), []).append(topic.dlq)
    return layouts
