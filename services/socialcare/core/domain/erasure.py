"""Erasure (GDPR, brand retention): the records every store writes about it.

An erasure is a `PrivacyEvent` carrying an `ErasureRequest` on privacy.erasures (who asked,
which customer, which cases), then one `AgentCommand` erase per case on care.commands.
Routing erases the case from its book and writes a tombstone under the case id on
care.cases; every other service forgets the case on that tombstone. Each store reports
what it erased as an `ErasureStep` on privacy.erasures, which the privacy API adds up into
the erasure's report.

Ids are derived, so a store that erases again after a redelivery (or a restart) reports
the same step under the same event id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import derived_id
from socialcare.v1 import audit_pb2, commands_pb2

GDPR = "gdpr"
RETENTION = "retention"
REASONS = frozenset({GDPR, RETENTION})

# The stores that report steps (ErasureStep.store).
CASES = "cases"
SEARCH = "search"
IDENTITIES = "identities"
ASSIGNMENTS = "assignments"
SLA = "sla"
ESCALATION = "escalation"
CONSOLE = "console"
OUTBOUND = "outbound"

# Topics that are not compacted: nothing rewrites them, their records expire with the
# topic's retention. Those that carry a customer's words or identities.
EXPIRING_TOPICS: tuple[Topic, ...] = (
    Topic.PAYLOADS_RAW,
    Topic.MESSAGES_RAW,
    Topic.MESSAGES_ENRICHED,
    Topic.COMMANDS,
    Topic.OUTBOUND,
    Topic.DELIVERIES,
    Topic.SLA,
    Topic.ESCALATIONS,
    Topic.IDENTITY_CLAIMS,
    Topic.ASSIGNMENT_REQUESTS,
    Topic.ASSIGNMENT_DECISIONS,
)


def erase_command_id(erasure_id: str, case_id: str) -> str:
    """The command id of the erase of one case in one erasure (the privacy API's too)."""
    return derived_id("erase", erasure_id, case_id)


def erase_command(
    erasure_id: str, case_id: str, reason: str, now: datetime, *, issued_by: str
) -> Emit:
    """The erase of one case, on care.commands (keyed by the case: its book applies it)."""
    command = commands_pb2.AgentCommand(
        command_id=erase_command_id(erasure_id, case_id),
        case_id=case_id,
        issued_at=to_timestamp(now),
        issued_by=issued_by,
        erase=commands_pb2.EraseCase(erasure_id=erasure_id, reason=reason),
    )
    return Emit(Topic.COMMANDS, command)


def request(
    erasure_id: str,
    *,
    brand: str,
    case_ids: Sequence[str],
    reason: str,
    requested_by: str,
    now: datetime,
    identities: Sequence[str] = (),
) -> Emit:
    """The ErasureRequest that opens an erasure's report."""
    event = audit_pb2.PrivacyEvent(
        event_id=erasure_id,
        request=audit_pb2.ErasureRequest(
            erasure_id=erasure_id,
            brand=brand,
            identities=list(identities),
            case_ids=list(case_ids),
            requested_by=requested_by,
            requested_at=to_timestamp(now),
            reason=reason,
        ),
    )
    return Emit(Topic.PRIVACY_ERASURES, event)


def step(
    erasure_id: str,
    store: str,
    *,
    service: str,
    items: int,
    case_ids: Iterable[str],
    now: datetime,
    note: str = "",
) -> Emit:
    """What one store erased for one erasure (items may be 0: "nothing of it here")."""
    cases = sorted(set(case_ids))
    event = audit_pb2.PrivacyEvent(
        event_id=derived_id("erasure-step", erasure_id, store, service, *cases),
        step=audit_pb2.ErasureStep(
            erasure_id=erasure_id,
            store=store,
            service=service,
            items=items,
            case_ids=cases,
            at=to_timestamp(now),
            note=note,
        ),
    )
    return Emit(Topic.PRIVACY_ERASURES, event)


def expiry_date(retention: timedelta, now: datetime) -> str:
    """When records written up to `now` on a topic of this retention are gone."""
    return (now + retention).strftime("%Y-%m-%dT%H:%MZ")


def expiry_note(retention: timedelta, now: datetime) -> str:
    """What an erasure cannot rewrite, and when it is gone: the topics that are not
    compacted keep the customer's records until their retention has passed."""
    until = expiry_date(retention, now)
    topics = ", ".join(topic.value for topic in EXPIRING_TOPICS)
    return (
        f"records of the case on {topics} are not compacted and cannot be rewritten: they "
        f"expire with the topics' retention ({_describe(retention)}), by {until}"
    )


def retention_cutoff(now: datetime, days: int) -> datetime:
    """The instant before which a brand with `retention_days = days` keeps nothing."""
    return now - timedelta(days=days)


def _describe(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds} s"
