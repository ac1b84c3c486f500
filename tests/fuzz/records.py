"""Records for fuzzing the consumers: one valid message per consumed topic, and the poison
made from it.

`valid(topic, n)` builds the n-th valid message of the topic's registry type, the way its
producer writes it (ids unique per n, a case id, a time); `record_of` wraps a message in
the headers `core.events.publish` sets. `poison(topic, sample, seed)` derives, from a valid
record of the topic, the malformed ones the issue names: another topic's message (with its
own type header, and passed off under this topic's), the bytes cut short at several points,
random bytes and bit flips, an empty value, each standard header removed or garbled, a ~1 MB
string, 100,000 repeated items, deeply nested unknown groups, invalid UTF-8 in a string
field, the key missing or wrong, and a tombstone.

Each poison record says what the platform must do with it (`Expect`): a value that does not
decode as the topic's type, or whose `event-type` header names another type, must end in the
DLQ (`MUST_DEAD_LETTER`); anything else decodes (an empty value is a default message; a
record without headers is still one) and may be processed or refused as invalid content
(`EITHER`), never crash its loop. Whether bytes decode is asked of protobuf itself, so a cut
that happens to land on a field boundary is not counted as poison.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from socialcare.core.bus import Headers
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.topics import REGISTRY, Topic
from socialcare.core.events import SCHEMA_VERSION, derived_id
from socialcare.v1 import (
    audit_pb2,
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

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
HEADERS = ("event-type", "schema-version", "event-id", "producer", "traceparent")
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HUGE_BYTES = 900_000
"""A huge string: ~1 MB, under Kafka's default record limit (1 MiB) with headers, so the
same record can be sent, and dead-lettered, on a real broker."""
MANY = 100_000
HUGE_STRING = "900 KB string"
"""The kind of the poison record with a ~1 MB string field."""


class Expect(StrEnum):
    """What the platform must do with a record."""

    PROCESS = "process"  # valid: processed, never dead-lettered
    MUST_DEAD_LETTER = "dead-letter"  # does not decode: in the DLQ, with a reason
    EITHER = "either"  # decodes but odd: processed or dead-lettered with a reason


@dataclass(frozen=True)
class Outgoing:
    """One record to send: what it is (`kind`, for the report) and what must become of it."""

    kind: str
    value: bytes | None  # None: a tombstone
    key: bytes | None
    headers: Headers
    expect: Expect


def _message(n: int, case_id: str) -> message_pb2.SocialMessage:
    at = to_timestamp(T0 + timedelta(seconds=n))
    return message_pb2.SocialMessage(
        message_id=derived_id("fuzz", str(n)),
        channel=message_pb2.CHANNEL_X,
        external_id=f"fuzz-{n}",
        author=message_pb2.Author(id=f"90{n}", handle=f"@fuzz{n}", followers=120),
        text="Mijn pakket is nog steeds niet bezorgd, wat is er aan de hand?",
        created_at=at,
        received_at=at,
        brand="",
        kind=message_pb2.MESSAGE_KIND_MENTION,
        thread_id=case_id,
    )


def _enriched(n: int, case_id: str) -> message_pb2.EnrichedMessage:
    message = _message(n, case_id)
    return message_pb2.EnrichedMessage(
        message=message,
        language="nl",
        language_confidence=0.9,
        sentiment=message_pb2.Sentiment(score=-0.6, label=message_pb2.SENTIMENT_LABEL_NEGATIVE),
        conversation_key=f"x:author:{message.author.id}",
    )


def _case(n: int, case_id: str) -> case_pb2.CaseEvent:
    at = to_timestamp(T0 + timedelta(seconds=n))
    inbound = _message(n, case_id)
    case = case_pb2.Case(
        id=case_id,
        status=case_pb2.CASE_STATUS_OPEN,
        language="nl",
        channel=message_pb2.CHANNEL_X,
        queue="care-nl",
        conversation_key=f"x:author:{inbound.author.id}",
        customer=inbound.author,
        opened_at=at,
        updated_at=at,
        version=1,
        priority="normal",
        sentiment=message_pb2.Sentiment(score=-0.6, label=message_pb2.SENTIMENT_LABEL_NEGATIVE),
        messages=[
            case_pb2.CaseMessage(
                message_id=inbound.message_id,
                direction=case_pb2.DIRECTION_INBOUND,
                external_id=inbound.external_id,
                author=inbound.author.id,
                text=inbound.text,
                created_at=at,
                language="nl",
                channel=message_pb2.CHANNEL_X,
            )
        ],
    )
    return case_pb2.CaseEvent(
        event_id=derived_id("fuzz-case", str(n)),
        type=case_pb2.CASE_EVENT_TYPE_OPENED,
        case=case,
        occurred_at=at,
        cause_id=inbound.message_id,
    )


def _command(n: int, case_id: str) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=derived_id("fuzz-command", str(n)),
        case_id=case_id,
        issued_at=to_timestamp(T0 + timedelta(seconds=n)),
        issued_by="agent-nl-1",
        note=commands_pb2.AddNote(agent="agent-nl-1", text="Gebeld met de klant."),
    )


def _sla(n: int, case_id: str) -> sla_pb2.SlaEvent:
    at = T0 + timedelta(seconds=n)
    return sla_pb2.SlaEvent(
        event_id=derived_id("fuzz-sla", str(n)),
        type=sla_pb2.SLA_EVENT_TYPE_WARNING,
        case_id=case_id,
        policy="default",
        language="nl",
        channel=message_pb2.CHANNEL_X,
        queue="care-nl",
        due_at=to_timestamp(at + timedelta(minutes=30)),
        occurred_at=to_timestamp(at),
        elapsed_seconds=1200.0,
        clock=case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE,
        threshold=0.5,
        target_seconds=3600.0,
        priority="normal",
    )


def _escalation(n: int, case_id: str) -> escalation_pb2.EscalationEvent:
    at = to_timestamp(T0 + timedelta(seconds=n))
    return escalation_pb2.EscalationEvent(
        event_id=derived_id("fuzz-escalation-event", str(n)),
        type=escalation_pb2.ESCALATION_EVENT_TYPE_RAISED,
        occurred_at=at,
        escalation=escalation_pb2.Escalation(
            id=derived_id("fuzz-escalation", str(n)),
            case_id=case_id,
            trigger=escalation_pb2.ESCALATION_TRIGGER_SLA_BREACH,
            tier=escalation_pb2.ESCALATION_TIER_TEAM_LEAD,
            reason="first response breached",
            language="nl",
            queue="care-nl",
            raised_at=at,
            status=escalation_pb2.ESCALATION_STATUS_OPEN,
            level=1,
            revision=1,
        ),
    )


def _decision(n: int, case_id: str) -> routing_pb2.AssignmentDecision:
    return routing_pb2.AssignmentDecision(
        decision_id=derived_id("fuzz-decision", str(n)),
        request_id=derived_id("fuzz-request", str(n)),
        case_id=case_id,
        epoch=1,
        outcome=routing_pb2.ASSIGNMENT_OUTCOME_QUEUED,
        decided_at=to_timestamp(T0 + timedelta(seconds=n)),
    )


def _delivery(n: int, case_id: str) -> delivery_pb2.ReplyDelivery:
    return delivery_pb2.ReplyDelivery(
        event_id=derived_id("fuzz-delivery", str(n)),
        reply_id=derived_id("fuzz-reply", str(n)),
        case_id=case_id,
        channel=message_pb2.CHANNEL_X,
        status=delivery_pb2.DELIVERY_STATUS_SENT,
        platform_message_id=f"x-{n}",
        attempts=1,
        occurred_at=to_timestamp(T0 + timedelta(seconds=n)),
    )


def _request(n: int, case_id: str) -> routing_pb2.AssignmentRequest:
    at = to_timestamp(T0 + timedelta(seconds=n))
    return routing_pb2.AssignmentRequest(
        request_id=derived_id("fuzz-request", str(n)),
        case_id=case_id,
        kind=routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE,
        epoch=1,
        language="nl",
        queue="care-nl",
        priority="normal",
        opened_at=at,
        requested_at=at,
        channel=message_pb2.CHANNEL_X,
    )


def _claim(n: int, case_id: str) -> routing_pb2.IdentityClaim:
    return routing_pb2.IdentityClaim(
        claim_id=derived_id("fuzz-claim", str(n)),
        case_id=case_id,
        identities=[f"x:90{n}"],
        opened_at=to_timestamp(T0 + timedelta(seconds=n)),
    )


def _incident(n: int, case_id: str) -> incident_pb2.IncidentEvent:
    at = to_timestamp(T0 + timedelta(seconds=n))
    return incident_pb2.IncidentEvent(
        event_id=derived_id("fuzz-incident-event", str(n)),
        type=incident_pb2.INCIDENT_EVENT_TYPE_OPENED,
        occurred_at=at,
        incident=incident_pb2.Incident(
            id=derived_id("fuzz-incident", str(n)),
            topic="delivery",
            language="nl",
            status=incident_pb2.INCIDENT_STATUS_OPEN,
            opened_at=at,
            updated_at=at,
            negative_per_hour=40.0,
            baseline_per_hour=4.0,
            negatives_in_window=20,
            case_ids=[case_id],
            case_count=1,
            revision=1,
            summary="Many complaints about late parcels",
        ),
    )


def _signal(n: int, case_id: str) -> incident_pb2.CrisisSignal:
    return incident_pb2.CrisisSignal(
        signal_id=derived_id("fuzz-signal", str(n)),
        topic="delivery",
        language="nl",
        negative=True,
        case_id=case_id,
        at=to_timestamp(T0 + timedelta(seconds=n)),
    )


def _audit(n: int, case_id: str) -> audit_pb2.AuditRecord:
    return audit_pb2.AuditRecord(
        record_id=derived_id("fuzz-audit", str(n)),
        at=to_timestamp(T0 + timedelta(seconds=n)),
        actor_kind="user",
        actor_id="agent-nl-1",
        actor_name="Agent NL",
        actor_roles=["agent"],
        action="case.note",
        target_type="case",
        target_id=case_id,
        via="rest",
        outcome="ok",
        status=202,
        details={"note_length": "20"},
    )


def _outbound(n: int, case_id: str) -> commands_pb2.OutboundReply:
    return commands_pb2.OutboundReply(
        reply_id=derived_id("fuzz-reply", str(n)),
        case_id=case_id,
        channel=message_pb2.CHANNEL_X,
        in_reply_to=f"fuzz-{n}",
        agent="agent-nl-1",
        text="Sorry! We zoeken het uit.",
        created_at=to_timestamp(T0 + timedelta(seconds=n)),
        kind=message_pb2.MESSAGE_KIND_MENTION,
        recipient_id=f"90{n}",
    )


def _webhook_command(n: int, case_id: str) -> webhook_pb2.WebhookCommand:
    return webhook_pb2.WebhookCommand(
        command_id=derived_id("fuzz-webhook-command", str(n)),
        subscription_id=f"sub-{n}",
        issued_by="admin",
        issued_at=to_timestamp(T0 + timedelta(seconds=n)),
        replay_dead=webhook_pb2.ReplayDeadDeliveries(delivery_ids=[f"delivery-{n}"]),
    )


def _webhook_delivery(n: int, case_id: str) -> webhook_pb2.WebhookDelivery:
    at = to_timestamp(T0 + timedelta(seconds=n))
    return webhook_pb2.WebhookDelivery(
        delivery_id=derived_id("fuzz-webhook-delivery", str(n)),
        subscription_id=f"sub-{n}",
        event_type="case.opened",
        event_id=derived_id("fuzz-case", str(n)),
        case_id=case_id,
        body=b'{"type": "case.opened"}',
        event_at=at,
        created_at=at,
        state=webhook_pb2.WEBHOOK_DELIVERY_STATE_DELIVERED,
        attempts=1,
        delivered_at=at,
        last_status=200,
        version=1,
        source="fanout",
    )


def _signed_payload(n: int, case_id: str) -> delivery_pb2.RawPayload:
    return delivery_pb2.RawPayload(
        payload_id=derived_id("fuzz-payload", str(n)),
        connector="x",
        received_at=to_timestamp(T0 + timedelta(seconds=n)),
        content_type="application/json",
        body=b"{}",
    )


BUILDERS: dict[Topic, Callable[[int, str], Message]] = {
    Topic.MESSAGES_RAW: _message,
    Topic.MESSAGES_ENRICHED: _enriched,
    Topic.COMMANDS: _command,
    Topic.CASES: _case,
    Topic.SLA: _sla,
    Topic.ESCALATIONS: _escalation,
    Topic.INCIDENTS: _incident,
    Topic.CRISIS_SIGNALS: _signal,
    Topic.OUTBOUND: _outbound,
    Topic.DELIVERIES: _delivery,
    Topic.PAYLOADS_RAW: _signed_payload,
    Topic.ASSIGNMENT_REQUESTS: _request,
    Topic.ASSIGNMENT_DECISIONS: _decision,
    Topic.IDENTITY_CLAIMS: _claim,
    Topic.WEBHOOK_COMMANDS: _webhook_command,
    Topic.WEBHOOK_DELIVERIES: _webhook_delivery,
    Topic.AUDIT_LOG: _audit,
}
"""A valid message per topic a consumer loop reads (the fuzz test fails for a consumed
topic missing here, so a new consumer's topic needs its builder)."""


KNOWN_CASE = "fuzz-case-known"
ABOUT_KNOWN_CASE = frozenset({Topic.COMMANDS})
"""Topics whose valid records must be about a case routing holds (it refuses a command for
a case it does not know as invalid): theirs are about `KNOWN_CASE`, which `known_case()`
opens on care.cases."""


def valid(topic: Topic, n: int) -> Message:
    """The n-th valid message of `topic` (about case `fuzz-case-<n>`, or `KNOWN_CASE`)."""
    return BUILDERS[topic](n, KNOWN_CASE if topic in ABOUT_KNOWN_CASE else f"fuzz-case-{n}")


def known_case() -> Message:
    """The event that opened `KNOWN_CASE`, for care.cases before the loops start."""
    return _case(0, KNOWN_CASE)


def headers_of(message: Message, event_id: str) -> Headers:
    """The headers `core.events.publish` sets."""
    return (
        ("event-type", message.DESCRIPTOR.full_name.encode()),
        ("schema-version", SCHEMA_VERSION),
        ("event-id", event_id.encode()),
        ("producer", b"fuzz"),
        ("traceparent", TRACEPARENT),
    )


def record_of(topic: Topic, message: Message, *, kind: str = "valid") -> Outgoing:
    """`message` as its producer would send it on `topic`: registry key and event id."""
    spec = REGISTRY[topic]
    return Outgoing(
        kind,
        message.SerializeToString(),
        spec.key(message).encode(),
        headers_of(message, spec.event_id(message)),
        Expect.PROCESS,
    )


def decodes(topic: Topic, value: bytes) -> bool:
    """Whether protobuf parses `value` as the topic's type (what `core.events.decode` asks)."""
    try:
        REGISTRY[topic].message_type().ParseFromString(value)
    except DecodeError:
        return False
    return True


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    return _varint(field_number << 3 | 2) + _varint(len(payload)) + payload


def _fields(message: Message, kind: int, repeated: bool) -> Iterator[tuple[Message, Any]]:
    """(holder, field descriptor) of the fields of `kind` (a FieldDescriptor.TYPE_*) in
    `message` and its set sub-messages, outermost first; maps are left out."""
    for field in message.DESCRIPTOR.fields:
        if field.type == kind and _is_repeated(message, field) == repeated and not _is_map(field):
            yield message, field
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE or _is_map(field):
            continue
        if _is_repeated(message, field):
            for item in value:
                yield from _fields(item, kind, repeated)
        else:
            yield from _fields(value, kind, repeated)


def _is_repeated(message: Message, field: Any) -> bool:
    """Whether `field` of `message` is repeated (its value is a container)."""
    return hasattr(getattr(message, field.name), "extend")


def _is_map(field: Any) -> bool:
    return field.message_type is not None and bool(field.message_type.GetOptions().map_entry)


def _huge_string(message: Message) -> Message | None:
    """A copy with a ~1 MB string in its first string field (None: it has none)."""
    huge = type(message)()
    huge.CopyFrom(message)
    for holder, field in _fields(huge, FieldDescriptor.TYPE_STRING, repeated=False):
        setattr(holder, field.name, "ä" * (HUGE_BYTES // 2))
        return huge
    return None


def _many_items(message: Message) -> Message | None:
    """A copy with 100,000 items in its first repeated string or message field (short
    strings, empty messages: the count is the point, not the size)."""
    many = type(message)()
    many.CopyFrom(message)
    for holder, field in _fields(many, FieldDescriptor.TYPE_STRING, repeated=True):
        getattr(holder, field.name).extend(str(i) for i in range(MANY))
        return many
    for holder, field in _fields(many, FieldDescriptor.TYPE_MESSAGE, repeated=True):
        items = getattr(holder, field.name)
        for _ in range(MANY):
            items.add()
        return many
    return None


def _invalid_utf8(message: Message) -> bytes | None:
    """The message's bytes with its first top-level string field overwritten (the last value
    of a field wins) by bytes that are not UTF-8."""
    for field in message.DESCRIPTOR.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            return message.SerializeToString() + _length_delimited(field.number, b"\xff\xfe\xc3(")
    return None


def _nested_groups(depth: int) -> bytes:
    """An unknown field (number 999) of `depth` nested groups: a parser that recursed
    without a limit would overflow."""
    start, end = _varint(999 << 3 | 3), _varint(999 << 3 | 4)
    return start * depth + end * depth


def poison(
    topic: Topic, fresh: Callable[[], Message], other: tuple[Topic, Message], seed: int
) -> list[Outgoing]:
    """The malformed records for `topic`, each made from a new valid message of it
    (`fresh()`), so that no two share a key (on a compacted topic a later record of the same
    key may replace an earlier one before a consumer reads it), and from `other` (a valid
    message of another topic); see the module docstring."""
    rng = random.Random(seed)
    expected = REGISTRY[topic].message_type.DESCRIPTOR.full_name.encode()
    out: list[Outgoing] = []
    samples: list[Message] = []

    def good() -> tuple[bytes, bytes, Headers]:
        """A new valid message's value, key and headers (the message in `samples[-1]`)."""
        samples.append(fresh())
        made = record_of(topic, samples[-1])
        assert made.value is not None and made.key is not None
        return made.value, made.key, made.headers

    def add(kind: str, value: bytes | None, key: bytes | None, headers: Headers) -> None:
        declared = dict(headers).get("event-type")
        if value is not None and (not decodes(topic, value) or declared not in (None, expected)):
            expect = Expect.MUST_DEAD_LETTER
        else:
            expect = Expect.EITHER
        out.append(Outgoing(kind, value, key, headers, expect))

    other_topic, other_message = other
    other_record = record_of(other_topic, other_message)
    value, key, headers = good()
    add("wrong type", other_record.value, key, other_record.headers)
    value, key, headers = good()
    add("wrong type, this topic's type header", other_record.value, key, headers)
    for fraction in (0.1, 0.33, 0.5, 0.9):
        value, key, headers = good()
        add(
            f"truncated at {fraction:.0%}",
            value[: max(1, int(len(value) * fraction))],
            key,
            headers,
        )
    value, key, headers = good()
    add("truncated by one byte", value[:-1], key, headers)
    value, key, headers = good()
    add("random bytes", rng.randbytes(rng.randint(1, 200)), key, headers)
    value, key, headers = good()
    flipped = bytearray(value)
    for _ in range(3):
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
    add("bit flips", bytes(flipped), key, headers)
    value, key, headers = good()
    add("empty value", b"", key, headers)
    for name in HEADERS:
        value, key, headers = good()
        add(f"no {name} header", value, key, tuple(h for h in headers if h[0] != name))
    value, key, headers = good()
    add("no headers", value, key, ())
    garbled = {
        "event-type": b"\xff\xfe not a type",
        "schema-version": b"v999",
        "event-id": b"\xff\xfe\xfd",
        "producer": b"\xc3(",
        "traceparent": b"00-zz-not-a-trace-context",
    }
    for name, bad in garbled.items():
        value, key, headers = good()
        add(
            f"{name} header garbled",
            value,
            key,
            tuple((n, bad if n == name else v) for n, v in headers),
        )
    value, key, headers = good()
    if (huge := _huge_string(samples[-1])) is not None:
        add(HUGE_STRING, huge.SerializeToString(), key, headers)
    value, key, headers = good()
    if (many := _many_items(samples[-1])) is not None:
        add("100,000 repeated items", many.SerializeToString(), key, headers)
    value, key, headers = good()
    add("nested groups, depth 200", value + _nested_groups(200), key, headers)
    value, key, headers = good()
    if (invalid := _invalid_utf8(samples[-1])) is not None:
        add("invalid UTF-8 in a string field", invalid, key, headers)
    value, key, headers = good()
    add("no key", value, None, headers)
    value, key, headers = good()
    add("key not UTF-8", value, b"\xff\xfe" + key, headers)
    value, key, headers = good()
    add("key of another entity", value, b"someone-else-" + key, headers)
    value, key, headers = good()
    add("tombstone", None, key, headers)
    value, key, headers = good()
    add("tombstone, key not UTF-8", None, b"\xff\xfe" + key, headers)
    value, key, headers = good()
    add("tombstone, erasure-id not UTF-8", None, key, (*headers, ("erasure-id", b"\xff\xfe")))
    return out
