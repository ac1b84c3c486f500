"""The identity linker: one customer's open cases across channels become one (scenario 6).

A case book sees one partition's customers; the same person on X, on a phone note and on a
complaint form lands in three partitions. Each book therefore tells the linker which
identities its cases have (`IdentityClaim` on the one-partition routing.identity-claims,
key: case id) and the linker -- the single writer of "which open case holds this
identity", like the assigner for agents -- notices when two open cases of one brand share
one (ADR 0011).

Rules:
- An identity of a brand is held by at most one open case: the first to claim it.
- A claim naming an identity another open case of the same brand holds means both cases
  are one customer's: the newer case (opened_at, then id) is merged into the older one by
  an `AgentCommand` merge on care.commands (issued_by "routing-linker", command id derived
  from both case ids, so a replayed claim issues the same command and routing applies it
  once). Several cases met at once all merge into the oldest.
- The identities of a case being merged away move to the surviving case at once: a later
  claim (the merged case's next message, before its merge is applied) joins the survivor
  rather than merging again.
- A closed claim (the case closed, or was merged away) frees the identities that case
  still holds.
- An erased case's claim (closed, with an erasure id; issue 12) tombstones its identities
  on the changelog -- those it holds and those it released before, unless another case
  holds them now -- so no record of them is left once compaction ran, and reports an
  ErasureStep (store "identities").
- Brands never mix: the same e-mail address at two brands is two customers' business.
- A @handle alone never joins two different accounts of its channel (x:42 and x:99 that
  both claim handle:x:jan): handles are given up and taken by someone else, ids are not.
  An agent can still merge them by hand.

State is rebuilt from routing.identities.changelog (compacted per brand+identity), in which
every change of holder is an `IdentityOwner`; its `identity` field is "<brand>/<kind>:<value>"
so that compaction keeps one record per brand and identity. `cause_id` is the claim's id,
which makes the changelog record's event id (and so its effect) the same on a replay.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from socialcare.core.bus import Bus, Record, TopicPartition
from socialcare.core.clock import Clock, to_timestamp
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.domain import erasure
from socialcare.core.domain.identities import HANDLE_PREFIX
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone
from socialcare.core.events import InvalidRecordError, decode, derived_id, key_text
from socialcare.v1 import commands_pb2, routing_pb2

log = logging.getLogger(__name__)

LINKER_GROUP = "routing-linker"
# `AgentCommand.issued_by` of the merges the linker issues.
LINKER_ISSUER = "routing-linker"


def owner_key(brand: str, identity: str) -> str:
    """The changelog key of an identity at a brand: "<brand>/<kind>:<value>"."""
    return f"{brand}/{identity}"


def merge_command_id(source_case_id: str, into_case_id: str) -> str:
    """The linker's merge of `source_case_id` into `into_case_id`: one id per pair."""
    return derived_id("linker-merge", source_case_id, into_case_id)


@dataclass(frozen=True, order=True, slots=True)
class _Case:
    """A case as the linker orders them: oldest first (opened_at, then id)."""

    opened_at: tuple[int, int]
    case_id: str


@dataclass
class Linker:
    """Which open case holds each identity, per brand; merges cases that share one.

    Pure: claims and time in, `IdentityOwner` records and merge commands out. Not thread
    safe; its processor is the single writer."""

    owners: dict[str, routing_pb2.IdentityOwner] = field(default_factory=dict)
    _held: dict[str, set[str]] = field(default_factory=dict)

    # -- rebuilding --------------------------------------------------------------------
    def restore(self, record: routing_pb2.IdentityOwner) -> None:
        """Apply one changelog record (rebuild); the latest per key wins."""
        previous = self.owners.pop(record.identity, None)
        if previous is not None:
            self._forget(previous)
        if not record.released:
            self._keep(record)

    def drop(self, key: str) -> None:
        """A tombstone on the changelog (rebuild): nobody holds the identity any more."""
        previous = self.owners.pop(key, None)
        if previous is not None:
            self._forget(previous)

    # -- claims ------------------------------------------------------------------------
    def on_claim(self, claim: routing_pb2.IdentityClaim, now: datetime) -> list[Emit]:
        """What a case's claim changes: released identities for a closed case; otherwise
        the identities it newly holds and merges with the cases it meets."""
        if not claim.claim_id or not claim.case_id:
            raise InvalidRecordError("an identity claim needs a claim_id and a case_id")
        if claim.closed and claim.erasure_id:
            return self._erase(claim, now)
        if claim.closed:
            return self._release(claim)
        claimant = _Case((claim.opened_at.seconds, claim.opened_at.nanos), claim.case_id)
        met: dict[str, _Case] = {claim.case_id: claimant}
        through: dict[str, list[str]] = {}
        for identity in claim.identities:
            owner = self.owners.get(owner_key(claim.brand, identity))
            if owner is not None and owner.case_id != claim.case_id:
                through.setdefault(owner.case_id, []).append(identity)
                met[owner.case_id] = _Case(
                    (owner.opened_at.seconds, owner.opened_at.nanos), owner.case_id
                )
        strangers = {
            case_id
            for case_id, shared in through.items()
            if self._another_account(claim, case_id, shared)
        }
        for case_id in strangers:
            del met[case_id]
        survivor = min(met.values())
        effects: list[Emit] = []
        for case in sorted(met.values()):
            if case == survivor:
                continue
            effects.append(self._merge(case.case_id, survivor.case_id, claim, now))
            # Everything the merged case held is the survivor's from now on.
            for key in sorted(self._held.get(case.case_id, set())):
                effects.append(self._hold(key, survivor, claim))
        for identity in claim.identities:
            key = owner_key(claim.brand, identity)
            owner = self.owners.get(key)
            if owner is not None and owner.case_id in strangers:
                continue  # the handle stays with the account that had it first
            if owner is None or owner.case_id != survivor.case_id:
                effects.append(self._hold(key, survivor, claim))
        return effects

    def _another_account(
        self, claim: routing_pb2.IdentityClaim, case_id: str, shared: list[str]
    ) -> bool:
        """Whether the claimant and `case_id` met only through @handles while each is a
        different account on that channel: handles are given up and taken by others
        (ids are not), so such a match is two people, not one."""
        if not all(identity.startswith(HANDLE_PREFIX) for identity in shared):
            return False
        held = [key.partition("/")[2] for key in self._held.get(case_id, set())]
        for identity in shared:
            channel = identity.removeprefix(HANDLE_PREFIX).partition(":")[0] + ":"
            mine = {i for i in claim.identities if i.startswith(channel)}
            theirs = {i for i in held if i.startswith(channel)}
            if mine and theirs and not mine & theirs:
                return True
        return False

    def holder(self, brand: str, identity: str) -> str | None:
        """The open case holding `identity` ("kind:value") at `brand`, if any."""
        owner = self.owners.get(owner_key(brand, identity))
        return owner.case_id if owner is not None else None

    # -- internals ---------------------------------------------------------------------
    def _release(self, claim: routing_pb2.IdentityClaim) -> list[Emit]:
        effects: list[Emit] = []
        for key in sorted(self._held.get(claim.case_id, set())):
            owner = self.owners[key]
            released = routing_pb2.IdentityOwner(
                identity=key,
                case_id=owner.case_id,
                brand=owner.brand,
                opened_at=owner.opened_at,
                released=True,
                cause_id=claim.claim_id,
            )
            self.restore(released)
            effects.append(Emit(Topic.IDENTITIES_CHANGELOG, released))
        return effects

    def _erase(self, claim: routing_pb2.IdentityClaim, now: datetime) -> list[Emit]:
        """Tombstone the identities of an erased case (see the module docstring)."""
        keys = set(self._held.get(claim.case_id, set()))
        keys |= {owner_key(claim.brand, identity) for identity in claim.identities}
        effects: list[Emit] = []
        for key in sorted(keys):
            owner = self.owners.get(key)
            if owner is not None and owner.case_id != claim.case_id:
                continue  # another case holds it now: not this case's to erase
            self.drop(key)
            effects.append(Tombstone.of(Topic.IDENTITIES_CHANGELOG, key))
        effects.append(
            erasure.step(
                claim.erasure_id,
                erasure.IDENTITIES,
                service=LINKER_GROUP,
                items=len(effects),
                case_ids=[claim.case_id],
                now=now,
            )
        )
        return effects

    def _hold(self, key: str, case: _Case, claim: routing_pb2.IdentityClaim) -> Emit:
        record = routing_pb2.IdentityOwner(
            identity=key,
            case_id=case.case_id,
            brand=claim.brand,
            released=False,
            cause_id=claim.claim_id,
        )
        record.opened_at.seconds, record.opened_at.nanos = case.opened_at
        self.restore(record)
        return Emit(Topic.IDENTITIES_CHANGELOG, record)

    @staticmethod
    def _merge(source: str, into: str, claim: routing_pb2.IdentityClaim, now: datetime) -> Emit:
        shared = ", ".join(claim.identities[:3])
        command = commands_pb2.AgentCommand(
            command_id=merge_command_id(source, into),
            case_id=source,
            issued_at=to_timestamp(now),
            issued_by=LINKER_ISSUER,
            merge=commands_pb2.MergeCase(
                into_case_id=into,
                reason=f"the same customer ({shared}) wrote on case {claim.case_id}",
            ),
        )
        return Emit(Topic.COMMANDS, command)

    def _keep(self, record: routing_pb2.IdentityOwner) -> None:
        self.owners[record.identity] = record
        self._held.setdefault(record.case_id, set()).add(record.identity)

    def _forget(self, record: routing_pb2.IdentityOwner) -> None:
        held = self._held.get(record.case_id)
        if held is not None:
            held.discard(record.identity)
            if not held:
                del self._held[record.case_id]


class LinkerProcessor(TypedProcessor):
    """The identity linker on the bus: the single writer on the one partition of
    routing.identity-claims, rebuilt from routing.identities.changelog on assignment."""

    def __init__(self, bus: Bus, clock: Clock) -> None:
        super().__init__()
        self._bus = bus
        self._clock = clock
        self._linker: Linker | None = None
        self.on(Topic.IDENTITY_CLAIMS, routing_pb2.IdentityClaim, self._on_claim)

    @property
    def linker(self) -> Linker | None:
        """The linker's state while this instance is the writer, else None."""
        return self._linker

    def assigned(self, partitions: frozenset[TopicPartition]) -> None:
        self._rebuild()

    def revoked(self, partitions: frozenset[TopicPartition]) -> None:
        self._linker = None

    def discard(self) -> None:
        """A flush failed; `assigned` follows and rebuilds from the changelog."""
        self._linker = None

    def _rebuild(self) -> None:
        linker = Linker()
        for record in self._bus.replay(Topic.IDENTITIES_CHANGELOG):
            if record.tombstone:
                if (identity := key_text(record)) is not None:
                    linker.drop(identity)
                continue
            try:
                linker.restore(decode(record, routing_pb2.IdentityOwner))
            except InvalidRecordError as exc:
                log.warning("skipping unreadable identity record", extra={"error": str(exc)})
        self._linker = linker
        log.info("identity linker rebuilt", extra={"identities": len(linker.owners)})

    def _on_claim(self, claim: routing_pb2.IdentityClaim, record: Record) -> Sequence[Emit]:
        if self._linker is None:
            raise RuntimeError("identity linker state is not built")  # the loop retries
        return self._linker.on_claim(claim, self._clock())
