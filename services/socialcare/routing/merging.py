"""Merging cases of one customer, on the case books (scenario 6, ADR 0011).

A customer asks on X, calls (an agent's phone note) and files a complaint form: three
contacts, three channels, three partitions -- and one case to answer. Two cases become one
when the identity linker (`linker.py`) sees them share an identity, or when an agent merges
them (`merge`) or links an identity by hand (`link_identity`).

No book reads another partition, so a merge runs in two steps on care.commands, each in
the partition that owns its case:

1. `merge` (key: the merged case, "source"): the source closes (`merged_into`, status
   CLOSED, clocks stopped -- met if within target), its owner is released (RELEASE to the
   assigner), its identities are freed at the linker (a closed `IdentityClaim`), and it
   sends itself as it was when it closed in an `absorb` command keyed by the survivor.
2. `absorb` (key: the survivor, "target"): the target takes the source's messages (merged
   in time order, each message once), identities, unanswered questions, consultations,
   consultants and referrals, and names the source in `merged_from`. A resolved or closed
   target opens again in its queue (QUEUE, its previous owner asked first); an open one
   counts the absorbed customer messages as a customer turn for its clocks.

Later messages on the source's channel still reach the source's book (their key is the
customer's channel). There, the customer's case is the closed source, so the book sends
each one on as `forward` (key: the survivor), and the survivor's book applies it as if it
had arrived on its own channel. A survivor that was itself merged away passes an absorb or
forward on to its own survivor, each source or message once (it records that in
`applied_ids`): cases merged into each other in several steps (A into B, B into A) make a
cycle, and an absorb that comes back to a case ends there (the case takes the source in and
lives on), a forward ends in that case's book (`_follow_up`), so nothing goes round for ever.

`link_identity`: an agent adds an identity to the case (a phone number from a call, a CRM
id); the case's claim then lets the linker merge it with the customer's other open case.

Idempotent: every command is applied once per case (`applied_ids`); derived ids (absorb:
source + target; forward: message id; claims: case id + version) make a replay emit the
same records, and the target skips a source it has absorbed and messages it already has.

The case book's hooks (routing/domain.py) call `apply` for the actions in `ACTIONS`,
`forward` for a message of a merged-away customer, `add_identities` for each inbound
message and `identity_claim` for each committed case change.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from google.protobuf import timestamp_pb2

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain import case_rules
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.case_rules import CommandRejectedError, check_command
from socialcare.core.domain.cases import channel_name
from socialcare.core.domain.identities import (
    identity_key,
    make_identity,
    message_identities,
)
from socialcare.core.domain.sla_clocks import cancel_clock
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, derived_id
from socialcare.routing.case_moments import take_moments
from socialcare.v1 import case_pb2, commands_pb2, message_pb2, routing_pb2

if TYPE_CHECKING:
    from socialcare.routing.domain import CaseBook

log = logging.getLogger(__name__)

ACTIONS = frozenset({"merge", "absorb", "forward", "link_identity"})
# `AgentCommand.issued_by` of the commands routing issues to itself.
ROUTING_ISSUER = "routing"
LINKER_ISSUER = "routing-linker"

CLOSED = case_pb2.CASE_STATUS_CLOSED
RESOLVED = case_pb2.CASE_STATUS_RESOLVED
OPEN = case_pb2.CASE_STATUS_OPEN
ASSIGNED = case_pb2.CASE_STATUS_ASSIGNED
WAITING = case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
INBOUND = case_pb2.DIRECTION_INBOUND


def apply(book: CaseBook, command: commands_pb2.AgentCommand, now: datetime) -> list[Emit]:
    """Apply a merge, absorb, forward or link_identity command to the book's case."""
    action = command.WhichOneof("action")
    current = book.cases.get(command.case_id)
    if current is None:
        raise InvalidRecordError(
            f"command {command.command_id}: case {command.case_id!r} does not exist"
        )
    if command.command_id in current.applied_ids:
        return []
    if action == "absorb":
        return _absorb(book, current, command, now)
    if action == "forward":
        return _forward_arrived(book, current, command, now)
    if action == "merge" and command.issued_by == LINKER_ISSUER and not command.merge.agent:
        if current.status == CLOSED:
            # Closed (timed out, or merged elsewhere) before the linker's merge arrived: its
            # closed claim frees its identities and the linker matches the rest anew.
            log.info(
                "linker merge of a closed case skipped",
                extra={"case_id": current.id, "command_id": command.command_id},
            )
            return []
        try:
            case_rules.check_merge(current, command.merge)
            _check_not_absorbed(current, command.merge)
        except CommandRejectedError as rejected:
            return [_rejected(book, current, command, rejected, now)]
        return _merge(book, current, command, now)
    try:
        check_command(current, command, book.care, now)
        if action == "merge":
            _check_not_absorbed(current, command.merge)
    except CommandRejectedError as rejected:
        return [_rejected(book, current, command, rejected, now)]
    if action == "merge":
        return _merge(book, current, command, now)
    if action == "link_identity":
        return _link_identity(book, current, command, now)
    raise InvalidRecordError(f"command {command.command_id}: {action!r} is not a merge action")


def _check_not_absorbed(case: case_pb2.Case, merge: commands_pb2.MergeCase) -> None:
    """A case cannot merge into one it absorbed: that one is closed into it already (and
    the two would send the customer's messages to each other for ever)."""
    if merge.into_case_id in case.merged_from:
        raise CommandRejectedError(
            case_rules.RejectionCode.MERGE_INTO_SELF,
            f"case {merge.into_case_id} was merged into case {case.id} already",
            field="into_case_id",
        )


def forward(
    book: CaseBook,
    merged: case_pb2.Case,
    enriched: message_pb2.EnrichedMessage,
    now: datetime,
) -> list[Emit]:
    """Send a message of a customer whose case (`merged`) was merged away on to the
    surviving case; its id is the message's, so a redelivered message is sent on once."""
    command = commands_pb2.AgentCommand(
        command_id=derived_id("forward", enriched.message.message_id),
        case_id=merged.merged_into,
        issued_at=to_timestamp(now),
        issued_by=ROUTING_ISSUER,
        forward=commands_pb2.ForwardMessage(message=enriched, via_case_id=merged.id),
    )
    return [Emit(Topic.COMMANDS, command)]


def add_identities(
    care: CareConfig, case: case_pb2.Case, message: message_pb2.SocialMessage
) -> bool:
    """Add the identities `message` gives (see `core.domain.identities`) that the case does
    not have yet, national phone numbers read in the brand's `phone_country`; whether it
    gained any."""
    calling_code = care.brand(case.brand).phone_country
    known = {identity_key(identity) for identity in case.identities}
    gained = False
    for identity in message_identities(message, calling_code=calling_code):
        key = identity_key(identity)
        if key not in known:
            known.add(key)
            case.identities.append(identity)
            gained = True
    return gained


def identity_claim(
    care: CareConfig, previous: case_pb2.Case | None, case: case_pb2.Case, now: datetime
) -> routing_pb2.IdentityClaim | None:
    """The claim the linker needs about this change of the case, if any: all its
    identities when it gained some (or opened with some, or opened again after closing),
    a closed claim when it closed (or was merged away). Its id derives from the case id
    and version."""
    closed = case.status == CLOSED
    was_closed = previous is not None and previous.status == CLOSED
    if closed and was_closed:
        return None
    before = {identity_key(i) for i in previous.identities} if previous is not None else set()
    keys = [identity_key(identity) for identity in case.identities]
    # A case open again after closing (it absorbed a contact) holds its identities anew.
    if not closed and (not keys or (set(keys) <= before and not was_closed)):
        return None
    claim = routing_pb2.IdentityClaim(
        claim_id=derived_id("identity-claim", case.id, str(case.version)),
        case_id=case.id,
        brand=care.brand(case.brand).name,
        identities=keys,
        opened_at=case.opened_at,
        closed=closed,
    )
    return claim


# -- merge: the source closes ----------------------------------------------------------
def _merge(
    book: CaseBook, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
) -> list[Emit]:
    merge = command.merge
    case = book._copy(current)
    case.status = CLOSED
    case.merged_into = merge.into_case_id
    case.closed_at.CopyFrom(to_timestamp(now))
    # The source's clocks measured nothing the customer waits for (the survivor's do):
    # cancelled, counting neither met nor breached (a breach that happened stays one).
    for clock in _clocks(case):
        cancel_clock(clock, book.care.calendar(clock.calendar), now)
    by = merge.agent or command.issued_by or ROUTING_ISSUER
    reason = merge.reason.strip()
    case.messages.append(
        case_pb2.CaseMessage(
            message_id=command.command_id,
            direction=case_pb2.DIRECTION_INTERNAL,
            author=by,
            text=(
                f"Case {case.id} ({channel_name(case.channel)}, {_customer_name(case)}) merged "
                f"into case {merge.into_case_id}" + (f": {reason}" if reason else "")
            ),
            created_at=to_timestamp(now),
        )
    )
    case.applied_ids.append(command.command_id)
    merged = book._commit(current, case, case_pb2.CASE_EVENT_TYPE_MERGED, command.command_id, now)
    release = book._request(case, routing_pb2.ASSIGNMENT_REQUEST_KIND_RELEASE, now)
    return [merged, release, _absorb_command(case, merge.into_case_id, now)]


def _absorb_command(source: case_pb2.Case, into: str, now: datetime) -> Emit:
    command = commands_pb2.AgentCommand(
        command_id=derived_id("absorb", source.id, into),
        case_id=into,
        issued_at=to_timestamp(now),
        issued_by=ROUTING_ISSUER,
        absorb=commands_pb2.AbsorbCase(source=source),
    )
    return Emit(Topic.COMMANDS, command)


def _pass_on(
    book: CaseBook,
    current: case_pb2.Case,
    command: commands_pb2.AgentCommand,
    passed: str,
    now: datetime,
) -> list[Emit]:
    """Send an absorb or forward that reached a case merged away on to its survivor, once:
    the case records the command and `passed` (what it passed on, whatever the path it came
    by), so one coming back around a cycle of merged cases ends here instead of going round
    for ever. Each case passes each source or message on at most once, so a chain of them
    visits each case at most twice. The onward command's id derives from this one's (each
    hop's is its own; a redelivered one is applied once)."""
    case = book._copy(current)
    case.applied_ids.extend([command.command_id, passed])
    event = book._commit(current, case, case_pb2.CASE_EVENT_TYPE_MERGED, command.command_id, now)
    onward = commands_pb2.AgentCommand()
    onward.CopyFrom(command)
    onward.command_id = derived_id("pass-on", command.command_id, current.merged_into)
    onward.case_id = current.merged_into
    onward.issued_at.CopyFrom(to_timestamp(now))
    onward.issued_by = ROUTING_ISSUER
    if onward.HasField("forward"):
        onward.forward.via_case_id = current.id
    return [event, Emit(Topic.COMMANDS, onward)]


def _clocks(case: case_pb2.Case) -> list[case_pb2.SlaClock]:
    return [
        clock
        for clock in (case.sla, case.resolution_sla)
        if clock.HasField("started_at") and not clock.HasField("stopped_at")
    ]


# -- absorb: the target takes the source in --------------------------------------------
def _absorb(
    book: CaseBook, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
) -> list[Emit]:
    source = command.absorb.source
    if not source.id:
        raise InvalidRecordError(f"command {command.command_id}: absorb names no case")
    if source.id == current.id or source.id in current.merged_from:
        return []  # absorbed already (or the echo of a merge cycle, see below)
    if current.status == CLOSED and current.merged_into == source.id:
        # Two cases merged into each other at once (an agent one way, the linker the
        # other): the older one takes the other back and lives on; the newer one waits
        # for that (its own absorb reaches the older case).
        if _age(source) < _age(current):
            return []
        log.warning("merge cycle ended", extra={"case_id": current.id, "other": source.id})
    elif current.status == CLOSED and current.merged_into:
        # The target was merged away itself: its survivor takes the source -- unless this
        # case passed the source on before and it came back (cases merged into each other
        # in several steps, A into B and B into A, with a third absorbed meanwhile): then
        # this case ends the cycle and takes the source in itself.
        passed = derived_id("absorb-passed", source.id, str(source.version))
        if passed not in current.applied_ids:
            return _pass_on(book, current, command, passed, now)
        log.warning("merge cycle ended", extra={"case_id": current.id, "other": source.id})
    case = book._copy(current)
    case.merged_into = ""
    have = {message.message_id for message in case.messages}
    arrived = [message for message in source.messages if message.message_id not in have]
    for message in arrived:
        # Each message says the channel it came on: a reply on the survivor answers the
        # latest one on the survivor's own channel, not the form's or the phone note's.
        if not message.channel:
            message.channel = source.channel
    # Time order, each message once; at equal times the target's come first (stable sort).
    ordered = sorted([*case.messages, *arrived], key=lambda m: _instant(m.created_at))
    del case.messages[:]
    case.messages.extend(ordered)
    _take_over(case, source)
    take_moments(case, source)
    if not case.product:
        case.product = source.product
    case.merged_from.append(source.id)
    case.applied_ids.append(command.command_id)
    effects: list[Emit] = []
    customer_wrote = [message for message in arrived if message.direction == INBOUND]
    if case.status in (RESOLVED, CLOSED):
        # One customer's case opens again in its queue, asking its previous owner first.
        previous_owner = case.assignee
        case.ClearField("closed_at")
        book._reopen(case, now)
        book._reprioritise(case, now, None)
        event = book._commit(
            current, case, case_pb2.CASE_EVENT_TYPE_MERGED, command.command_id, now
        )
        effects += [
            event,
            book._request(
                case, routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE, now, agent=previous_owner
            ),
        ]
        return effects
    pending = case.resolution_check.outcome == case_pb2.RESOLUTION_OUTCOME_PENDING
    latest = max((_instant(m.created_at) for m in customer_wrote), default=None)
    if latest is not None and not pending and latest > _last_answer(current):
        # The customer wrote (elsewhere) after the last answer here: the ball is with the
        # agent again. A pending "has this been solved?" stands: only an answer on the
        # case decides it.
        if case.status == WAITING:
            case.status = ASSIGNED if case.assignee else OPEN
        book._customer_turn(case, min(now, latest))
    # The source's open questions (and the clock turn) weigh in the priority now.
    book._reprioritise(case, now, None)
    effects.append(
        book._commit(current, case, case_pb2.CASE_EVENT_TYPE_MERGED, command.command_id, now)
    )
    return effects


def _age(case: case_pb2.Case) -> tuple[int, int, str]:
    """Older first: when the case opened, then its id (the linker's order)."""
    return (case.opened_at.seconds, case.opened_at.nanos, case.id)


def _last_answer(case: case_pb2.Case) -> datetime:
    """When the case's last reply went out (the epoch when none did)."""
    answers = [
        _instant(m.created_at) for m in case.messages if m.direction == case_pb2.DIRECTION_OUTBOUND
    ]
    return max(answers, default=_EPOCH)


def _take_over(case: case_pb2.Case, source: case_pb2.Case) -> None:
    """Identities, unanswered questions, consultations, consultants and referrals of the
    source, each once."""
    keys = {identity_key(identity) for identity in case.identities}
    for identity in source.identities:
        if identity_key(identity) not in keys:
            keys.add(identity_key(identity))
            case.identities.append(identity)
    open_questions = {intent.name for intent in case.intents if not intent.answered}
    for intent in source.intents:
        if not intent.answered and intent.name not in open_questions:
            open_questions.add(intent.name)
            case.intents.append(intent)
    consultations = {consultation.id for consultation in case.consultations}
    for consultation in source.consultations:
        if consultation.id not in consultations:
            case.consultations.append(consultation)
    for consultant in source.consultants:
        if consultant not in case.consultants:
            case.consultants.append(consultant)
    referrals = {(r.to, r.at.seconds, r.at.nanos) for r in case.referrals}
    for referral in source.referrals:
        if (referral.to, referral.at.seconds, referral.at.nanos) not in referrals:
            case.referrals.append(referral)


# -- forward: a later message of the merged-away customer ------------------------------
def _forward_arrived(
    book: CaseBook, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
) -> list[Emit]:
    enriched = command.forward.message
    message = enriched.message
    if not message.message_id:
        raise InvalidRecordError(f"command {command.command_id}: forwarded message has no id")
    if message.message_id in book._case_of_message:
        return []  # forwarded before
    if current.status == CLOSED and current.merged_into == command.forward.via_case_id:
        # Sent back by the case this one was merged into: a merge cycle; never pass it on
        # again (the absorb that ends the cycle reopens one of them).
        log.warning(
            "forward cycle between merged cases",
            extra={"case_id": current.id, "via": command.forward.via_case_id},
        )
        return _follow_up(book, current, enriched, now)
    if current.status == CLOSED and current.merged_into:
        passed = derived_id("forward-passed", message.message_id)
        if passed not in current.applied_ids:
            return _pass_on(book, current, command, passed, now)
        # Passed on before and back again: a cycle of merged cases. The message stays in
        # this book (the customer's case that followed this one, or a new one).
        log.warning(
            "forward cycle between merged cases",
            extra={"case_id": current.id, "via": command.forward.via_case_id},
        )
        return _follow_up(book, current, enriched, now)
    if current.status == CLOSED:
        return _follow_up(book, current, enriched, now)
    return book._add_message(current, enriched, now)


def _follow_up(
    book: CaseBook, closed: case_pb2.Case, enriched: message_pb2.EnrichedMessage, now: datetime
) -> list[Emit]:
    """A forwarded message for a survivor closed for good: the customer's case that
    followed it in this book, or a new one following it (`previous_case_id`). Never the
    book's `_message`: in this book the customer's last case may be the merged one, which
    would forward the message here again."""
    following = book._find_case(enriched.message)
    if following is not None:
        return book._add_message(following, enriched, now)
    return book._open(enriched, now, previous_case_id=closed.id)


# -- link_identity: an agent adds a way to reach the customer ---------------------------
def _link_identity(
    book: CaseBook, current: case_pb2.Case, command: commands_pb2.AgentCommand, now: datetime
) -> list[Emit]:
    link = command.link_identity
    identity = make_identity(
        link.kind.strip(),
        link.value,
        source=command.command_id,
        linked_at=to_timestamp(now),
        calling_code=book.care.brand(current.brand).phone_country,
    )
    case = book._copy(current)
    if all(identity_key(identity) != identity_key(known) for known in case.identities):
        case.identities.append(identity)
    case.messages.append(
        case_pb2.CaseMessage(
            message_id=command.command_id,
            direction=case_pb2.DIRECTION_INTERNAL,
            author=link.agent,
            text=f"Linked {identity.display} ({identity.kind}) to this case",
            created_at=to_timestamp(now),
        )
    )
    case.applied_ids.append(command.command_id)
    return [
        book._commit(
            current, case, case_pb2.CASE_EVENT_TYPE_IDENTITY_LINKED, command.command_id, now
        )
    ]


# -- helpers ---------------------------------------------------------------------------
def _rejected(
    book: CaseBook,
    current: case_pb2.Case,
    command: commands_pb2.AgentCommand,
    rejected: CommandRejectedError,
    now: datetime,
) -> Emit:
    return book._rejection(
        current, command.command_id, rejected.code, rejected.reason, rejected.field or "", now
    )


_EPOCH = from_timestamp(case_pb2.Case().opened_at)


def _instant(stamp: timestamp_pb2.Timestamp) -> datetime:
    return from_timestamp(stamp)


def _customer_name(case: case_pb2.Case) -> str:
    customer = case.customer
    if customer.handle:
        return f"@{customer.handle.removeprefix('@')}"
    return customer.name or customer.id
