"""Erasure in routing (issue 12): the erase command, and the brands' retention sweep.

Erase (`AgentCommand.erase`, from the privacy API or the retention sweep): the case book
drops the case with everything it keeps about it (its indexes by thread, author, message
and external id, its timers, its place as the customer's latest case), and
- writes a tombstone under the case id on care.cases: every consumer of the changelog
  forgets the case, and compaction removes its history (`Bus` contract);
- tells the identity linker (a closed `IdentityClaim` with the erasure id): it tombstones
  the case's identities on routing.identities.changelog (those no other case holds);
- tells the assigner (a RELEASE `AssignmentRequest` with the erasure id): the holding is
  released and tombstoned on routing.assignments.changelog;
- reports `ErasureStep(store="cases")`, with a note on what expires only with the topics'
  retention (the records on topics that are not compacted), and when, and
  `ErasureStep(store="outbound")`: the replies on care.outbound and their delivery reports
  expire the same way (the connectors keep nothing of the case but reply ids).

A redelivered erase (or one after a restart: the tombstone keeps the case erased when the
book is rebuilt) finds no case and reports a step with 0 items under the same event id.
A later message of the same customer opens a new case: nothing links it to the erased one.

Retention: a brand's `retention_days` erases its cases that are closed or resolved and
whose last activity (`updated_at`) is older than that. The sweep runs on the book's tick
every `RetentionPolicy.interval`, picks at most `batch` cases, and issues for them an
ErasureRequest (reason "retention", one per brand and sweep), an audit record of the
platform's own action (`privacy.retention_erase` by `system`) and one erase command per
case: the erasure then takes the same way as a customer's request.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from socialcare.core.audit import SYSTEM, audit_record
from socialcare.core.clock import to_timestamp
from socialcare.core.domain import erasure
from socialcare.core.domain.identities import identity_key
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone
from socialcare.core.events import InvalidRecordError, derived_id
from socialcare.v1 import case_pb2, commands_pb2, routing_pb2

if TYPE_CHECKING:
    from socialcare.routing.domain import CaseBook

SERVICE = "routing"
RETENTION_ISSUER = "routing-retention"
# Case statuses the retention sweep may erase: nobody works on them any more.
_FINISHED = frozenset({case_pb2.CASE_STATUS_CLOSED, case_pb2.CASE_STATUS_RESOLVED})


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How the case book erases what is past its brand's retention, and what its erasure
    reports say about the topics that are not compacted.

    `interval`: how often the sweep runs; `batch`: at most this many cases per sweep (the
    rest wait for the next); `topic_retention`: how long the topics that are not compacted
    keep records (the brokers' retention.ms)."""

    interval: timedelta = timedelta(hours=1)
    batch: int = 100
    topic_retention: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0) or self.batch < 1:
            raise ValueError("the retention sweep needs a positive interval and batch")


def apply_erase(book: CaseBook, command: commands_pb2.AgentCommand, now: datetime) -> list[Emit]:
    """The erase of `command.case_id` (see the module docstring)."""
    erase = command.erase
    if not erase.erasure_id:
        raise InvalidRecordError(f"erase command {command.command_id} has no erasure id")
    case = book.forget(command.case_id)
    if case is None:
        return [
            erasure.step(
                erase.erasure_id,
                erasure.CASES,
                service=SERVICE,
                items=0,
                case_ids=[command.case_id],
                now=now,
                note="no such case in routing (erased before, or never opened)",
            )
        ]
    brand = book.care.brand(case.brand).name
    claim = routing_pb2.IdentityClaim(
        claim_id=derived_id("erase-claim", erase.erasure_id, case.id),
        case_id=case.id,
        brand=brand,
        identities=sorted({identity_key(identity) for identity in case.identities}),
        opened_at=case.opened_at,
        closed=True,
        erasure_id=erase.erasure_id,
    )
    release = routing_pb2.AssignmentRequest(
        request_id=derived_id("erase-release", erase.erasure_id, case.id),
        case_id=case.id,
        kind=routing_pb2.ASSIGNMENT_REQUEST_KIND_RELEASE,
        epoch=case.assignment_epoch,
        requested_at=to_timestamp(now),
        brand=brand,
        language=case.language,
        queue=case.queue,
        channel=case.channel,
        erasure_id=erase.erasure_id,
    )
    replies = sum(1 for m in case.messages if m.direction == case_pb2.DIRECTION_OUTBOUND)
    note = (
        f"the case ({len(case.messages)} message(s), reason {erase.reason or 'unspecified'}) "
        "removed from routing and tombstoned on care.cases; "
        + erasure.expiry_note(book.retention.topic_retention, now)
    )
    return [
        Tombstone.of(Topic.CASES, case.id, erasure_id=erase.erasure_id),
        Emit(Topic.IDENTITY_CLAIMS, claim),
        Emit(Topic.ASSIGNMENT_REQUESTS, release),
        erasure.step(
            erase.erasure_id,
            erasure.CASES,
            service=SERVICE,
            items=1,
            case_ids=[case.id],
            now=now,
            note=note,
        ),
        # The outbound log: the replies sent to the customer and their delivery reports are
        # on topics that are not compacted (the connectors keep only reply ids).
        erasure.step(
            erase.erasure_id,
            erasure.OUTBOUND,
            service=SERVICE,
            items=0,
            case_ids=[case.id],
            now=now,
            note=f"{replies} repl{'y' if replies == 1 else 'ies'} to the customer on "
            f"care.outbound and their reports on care.deliveries expire with the topics' "
            f"retention, by {erasure.expiry_date(book.retention.topic_retention, now)}; the "
            "connectors keep only reply ids",
        ),
    ]


def sweep(book: CaseBook, now: datetime, pending: set[str]) -> list[Emit]:
    """The retention sweep of one book: an ErasureRequest per brand and the erase commands
    of at most `book.retention.batch` cases past their brand's retention. `pending` holds
    the cases already asked for (their commands not applied yet): not asked again."""
    days = {
        brand.name: brand.retention_days
        for brand in book.care.effective_brands
        if brand.retention_days is not None
    }
    if not days:
        return []
    # Per raw brand value of a case: its brand's name and the cutoff (epoch seconds) before
    # which its cases are past retention; cheap comparisons, one pass over the book.
    cutoffs: dict[str, tuple[str, int] | None] = {}
    expired: list[tuple[int, str, str]] = []
    for case in book.cases.values():
        if case.status not in _FINISHED or case.id in pending:
            continue
        if case.brand in cutoffs:
            rule = cutoffs[case.brand]
        else:
            name = book.care.brand(case.brand).name
            keep = days.get(name)
            rule = None
            if keep is not None:
                rule = (name, int(erasure.retention_cutoff(now, keep).timestamp()))
            cutoffs[case.brand] = rule
        if rule is None:
            continue
        last = case.updated_at.seconds if case.HasField("updated_at") else case.opened_at.seconds
        if last < rule[1]:
            expired.append((last, case.id, rule[0]))
    # The longest idle first (then by id); the rest in a later sweep.
    due: dict[str, list[str]] = {}
    for _last, case_id, brand in heapq.nsmallest(book.retention.batch, expired):
        due.setdefault(brand, []).append(case_id)
    effects: list[Emit] = []
    for brand, ids in sorted(due.items()):
        erasure_id = derived_id("retention", brand, *ids)
        effects.append(
            erasure.request(
                erasure_id,
                brand=brand,
                case_ids=ids,
                reason=erasure.RETENTION,
                requested_by=RETENTION_ISSUER,
                now=now,
            )
        )
        # The platform's own action, in the audit log beside the admins' erasures.
        record = audit_record(
            SYSTEM,
            "privacy.retention_erase",
            target_type="erasure",
            target_id=erasure_id,
            brand=brand,
            via=SERVICE,
            details={"cases": str(len(ids)), "retention_days": str(days[brand])},
        )
        record.record_id = erasure_id  # derived: a sweep made again is the same record
        record.at.CopyFrom(to_timestamp(now))
        effects.append(Emit(Topic.AUDIT_LOG, record))
        effects += [
            erasure.erase_command(
                erasure_id, case_id, erasure.RETENTION, now, issued_by=RETENTION_ISSUER
            )
            for case_id in ids
        ]
        pending.update(ids)
    return effects
