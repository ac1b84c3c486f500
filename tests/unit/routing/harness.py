"""Routing without a bus: case books per partition and the assigner, wired by queues.

`Routing.deliver()` plays the bus: an effect on routing.assignment-requests goes to the
assigner, a decision to the book of the case's partition, everything else is recorded.
By default every request and decision is delivered at once (in order); tests that study
delays call `pump()` themselves.

Every effect stays in `published` (the topics' whole history), so `restart()` can rebuild
any book or the assigner the way the processors do after a crash or rebalance: from the
compacted changelog (latest record per key, in the order compaction keeps them) or from the
whole, not yet compacted history; and `redeliver_*` can play at-least-once delivery (the
records after a consumer's last committed offset come again, in order).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime

from google.protobuf.message import Message

from socialcare.core.bus.partitioner import partition_for
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import author_key
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, Tombstone
from socialcare.core.events import derived_id
from socialcare.routing.assignment import Assigner
from socialcare.routing.domain import CaseBook, partition_of_case
from socialcare.routing.linker import Linker
from socialcare.v1 import case_pb2, commands_pb2, delivery_pb2, message_pb2, routing_pb2
from tests.unit.factories import T0

# Far above any record a conversation of a test makes (a case of a few dozen messages).
MAX_RECORD_BYTES = 1_000_000
MAX_PUBLISHED_BYTES = 20_000_000


class Routing:
    def __init__(
        self, care: CareConfig, partitions: int = 1, *, auto: bool = True, linked: bool = False
    ) -> None:
        self.care = care
        self.partitions = partitions
        self.books = [CaseBook(care, p, partitions) for p in range(partitions)]
        self.assigner = Assigner(care)
        self.requests: deque[routing_pb2.AssignmentRequest] = deque()
        self.decisions: deque[routing_pb2.AssignmentDecision] = deque()
        # `linked`: the identity linker is wired too -- identity claims go to it, and the
        # commands routing sends itself (merge, absorb, forward) to the books -- through
        # these queues, delivered by `pump()` like requests and decisions.
        self.linker: Linker | None = Linker() if linked else None
        self.claims: deque[routing_pb2.IdentityClaim] = deque()
        self.own_commands: deque[commands_pb2.AgentCommand] = deque()
        self.delivered_claims: list[routing_pb2.IdentityClaim] = []
        self.published: list[Emit] = []
        self.published_bytes = 0
        self.auto = auto
        self.now = T0
        # What each consumer has been handed, in order (for `redeliver_*`): the assigner's
        # requests, and per partition of the books' input topics what reached that book.
        self.delivered_requests: list[routing_pb2.AssignmentRequest] = []
        self.delivered_decisions: list[list[routing_pb2.AssignmentDecision]] = [
            [] for _ in range(partitions)
        ]
        self.delivered_commands: list[list[commands_pb2.AgentCommand]] = [
            [] for _ in range(partitions)
        ]
        self.delivered_messages: list[list[message_pb2.EnrichedMessage]] = [
            [] for _ in range(partitions)
        ]

    # -- inputs --------------------------------------------------------------------------
    def message(self, enriched: message_pb2.EnrichedMessage) -> list[Emit]:
        number = partition_for(author_key(enriched.message).encode(), self.partitions)
        self.delivered_messages[number].append(enriched)
        return self._take(self.books[number].on_message(enriched, self.now))

    def command(self, command: commands_pb2.AgentCommand) -> list[Emit]:
        self.delivered_commands[partition_of_case(command.case_id, self.partitions)].append(command)
        return self._take(self.book_of(command.case_id).on_command(command, self.now))

    def delivery(self, report: delivery_pb2.ReplyDelivery) -> list[Emit]:
        return self._take(self.book_of(report.case_id).on_delivery(report, self.now))

    def book_of(self, case_id: str) -> CaseBook:
        return self.books[partition_of_case(case_id, self.partitions)]

    def case(self, case_id: str) -> case_pb2.Case:
        return self.book_of(case_id).cases[case_id]

    # -- the bus -------------------------------------------------------------------------
    def _take(self, effects: Sequence[Emit]) -> list[Emit]:
        produced = self._publish(effects)
        if self.auto:
            produced += self.pump()
        return produced

    def _publish(self, effects: Iterable[Emit]) -> list[Emit]:
        """Record effects as published and queue the ones routing itself consumes."""
        produced = list(effects)
        for effect in produced:
            size = effect.message.ByteSize()
            self.published_bytes += size
            if size > MAX_RECORD_BYTES or self.published_bytes > MAX_PUBLISHED_BYTES:
                # This much means something grows or repeats on its own (a loop of merges,
                # forwards...): stop here, before it takes the machine's memory.
                raise AssertionError(
                    f"a {size}-byte record on {effect.topic.value}, "
                    f"{self.published_bytes} bytes published in all"
                )
            self.published.append(effect)
            if effect.topic == Topic.ASSIGNMENT_REQUESTS:
                assert isinstance(effect.message, routing_pb2.AssignmentRequest)
                self.requests.append(effect.message)
            elif effect.topic == Topic.ASSIGNMENT_DECISIONS:
                assert isinstance(effect.message, routing_pb2.AssignmentDecision)
                self.decisions.append(effect.message)
            elif self.linker is not None and effect.topic == Topic.IDENTITY_CLAIMS:
                assert isinstance(effect.message, routing_pb2.IdentityClaim)
                self.claims.append(effect.message)
            elif self.linker is not None and effect.topic == Topic.COMMANDS:
                assert isinstance(effect.message, commands_pb2.AgentCommand)
                self.own_commands.append(effect.message)
        return produced

    def deliver_claim(self) -> list[Emit]:
        assert self.linker is not None
        claim = self.claims.popleft()
        self.delivered_claims.append(claim)
        return self._publish(self.linker.on_claim(claim, self.now))

    def redeliver_claims(self, count: int) -> list[Emit]:
        """The linker gets its last `count` identity claims again, in order."""
        assert self.linker is not None
        produced: list[Emit] = []
        for claim in self.delivered_claims[-count:] if count else []:
            produced += self._publish(self.linker.on_claim(claim, self.now))
        return produced

    def deliver_own_command(self) -> list[Emit]:
        """Routing's command to itself (the linker's merge, a merge's absorb, a forward)."""
        command = self.own_commands.popleft()
        self.delivered_commands[partition_of_case(command.case_id, self.partitions)].append(command)
        return self._publish(self.book_of(command.case_id).on_command(command, self.now))

    def busy(self) -> bool:
        """Something is in flight between the books, the assigner and the linker."""
        return bool(self.requests or self.decisions or self.claims or self.own_commands)

    def deliver_request(self) -> list[Emit]:
        request = self.requests.popleft()
        self.delivered_requests.append(request)
        return self._publish(self.assigner.on_request(request, self.now))

    def deliver_decision(self, partition: int | None = None) -> list[Emit]:
        """The oldest pending decision (of `partition`: decisions of other partitions may
        overtake it, as on the bus; within one partition they keep their order)."""
        if partition is None:
            decision = self.decisions.popleft()
        else:
            decision = next(
                d
                for d in self.decisions
                if partition_of_case(d.case_id, self.partitions) == partition
            )
            self.decisions.remove(decision)
        self.delivered_decisions[partition_of_case(decision.case_id, self.partitions)].append(
            decision
        )
        return self._publish(self.book_of(decision.case_id).on_decision(decision, self.now))

    def pending_partitions(self) -> list[int]:
        """Partitions with a decision waiting for their book."""
        return sorted({partition_of_case(d.case_id, self.partitions) for d in self.decisions})

    def tick(self) -> list[Emit]:
        """Time-driven work at `now`: every book's deadlines (confirmation timeouts, reopen
        windows closing, silent owners), then the assigner's (offline grace, shifts,
        predictions); what they ask of each other is queued."""
        produced: list[Emit] = []
        for book in self.books:
            produced += self._publish(book.tick(self.now))
        return produced + self._take(self.assigner.tick(self.now))

    def presence(self, agent: str, presence: routing_pb2.Presence.ValueType, key: str) -> None:
        """An agent's presence change as the gateway writes it (key "agent:<id>", request id
        from agent, presence and the client's idempotency key), queued for the assigner."""
        name = routing_pb2.Presence.Name(presence)
        request = routing_pb2.AssignmentRequest(
            request_id=derived_id("presence", agent, name, key),
            case_id=f"agent:{agent}",
            kind=routing_pb2.ASSIGNMENT_REQUEST_KIND_PRESENCE,
            agent=agent,
            presence=presence,
            by=agent,
            requested_at=to_timestamp(self.now),
        )
        self._take([Emit(Topic.ASSIGNMENT_REQUESTS, request)])

    # -- at-least-once delivery -----------------------------------------------------------
    def redeliver_requests(self, count: int) -> list[Emit]:
        """The assigner gets its last `count` requests again, in order (a crash after the
        flush of their effects, before the commit of their offsets)."""
        produced: list[Emit] = []
        for request in self.delivered_requests[-count:] if count else []:
            produced += self._publish(self.assigner.on_request(request, self.now))
        return produced

    def redeliver_decisions(self, partition: int, count: int) -> list[Emit]:
        """The book of `partition` gets its last `count` decisions again, in order."""
        produced: list[Emit] = []
        book = self.books[partition]
        for decision in self.delivered_decisions[partition][-count:] if count else []:
            produced += self._publish(book.on_decision(decision, self.now))
        return produced

    def redeliver_commands(self, partition: int, count: int) -> list[Emit]:
        """The book of `partition` gets its last `count` agent commands again, in order."""
        produced: list[Emit] = []
        book = self.books[partition]
        for command in self.delivered_commands[partition][-count:] if count else []:
            produced += self._publish(book.on_command(command, self.now))
        return produced

    def redeliver_messages(self, partition: int, count: int) -> list[Emit]:
        """The book of `partition` gets its last `count` customer messages again, in order."""
        produced: list[Emit] = []
        book = self.books[partition]
        for enriched in self.delivered_messages[partition][-count:] if count else []:
            produced += self._publish(book.on_message(enriched, self.now))
        return produced

    # -- restarts --------------------------------------------------------------------------
    def history(self, topic: Topic) -> list[Message]:
        """Every record published on `topic`, in order (tombstones left out)."""
        return [e.message for e in self.records(topic) if not isinstance(e, Tombstone)]

    def records(self, topic: Topic) -> list[Emit]:
        """Every effect published on `topic`, in order, tombstones included."""
        return [e for e in self.published if e.topic == topic]

    def changelog(self, topic: Topic) -> list[Message]:
        """`topic` compacted: the latest record per key, in the order of those records (a
        compacted partition keeps its surviving records at their offsets); a key whose
        latest record is a tombstone is gone (its tombstone too, past its retention)."""
        return [e.message for e in self.compacted(topic) if not isinstance(e, Tombstone)]

    def compacted(self, topic: Topic) -> list[Emit]:
        """`topic` compacted before its tombstones expired: the latest record per key."""
        latest: dict[str, int] = {}
        records = self.records(topic)
        for offset, record in enumerate(records):
            latest[record.key] = offset
        return [records[offset] for offset in sorted(latest.values())]

    def restart(
        self,
        *,
        partitions: Iterable[int] | None = None,
        assigner: bool = True,
        compacted: bool = True,
    ) -> list[Emit]:
        """Rebuild the books of `partitions` (all when None) from care.cases, and the
        assigner (and the linker, when wired) from their changelogs, as the processors do
        when they get their partitions;
        the books then ask again for owners of their open cases without one (what
        `CaseProcessor` sends after a rebuild). Pending requests and decisions are records
        on the bus: they survive."""
        numbers = range(self.partitions) if partitions is None else list(partitions)
        # A replay returns tombstones (until they expire): the processors apply them.
        read = self.compacted if compacted else self.records
        events = read(Topic.CASES)
        for number in numbers:
            book = CaseBook(self.care, number, self.partitions)
            for effect in events:
                if partition_of_case(effect.key, self.partitions) != number:
                    continue
                if isinstance(effect, Tombstone):
                    book.forget(effect.key)
                    continue
                assert isinstance(effect.message, case_pb2.CaseEvent)
                book.restore(effect.message)
            self.books[number] = book
        if assigner:
            rebuilt = Assigner(self.care)
            for effect in read(Topic.ASSIGNMENTS_CHANGELOG):
                if isinstance(effect, Tombstone):
                    rebuilt.drop(effect.key)
                    continue
                assert isinstance(effect.message, routing_pb2.AssignmentHolding)
                rebuilt.restore(effect.message)
            for state in read(Topic.AGENTS_CHANGELOG):
                assert isinstance(state.message, routing_pb2.AgentState)
                rebuilt.restore_agent(state.message)
            self.assigner = rebuilt
        if assigner and self.linker is not None:
            linker = Linker()
            for effect in read(Topic.IDENTITIES_CHANGELOG):
                if isinstance(effect, Tombstone):
                    linker.drop(effect.key)
                    continue
                assert isinstance(effect.message, routing_pb2.IdentityOwner)
                linker.restore(effect.message)
            self.linker = linker
        pending: list[Emit] = []
        for number in numbers:
            pending += self.books[number].pending_requests(self.now)
        return self._take(pending)

    def pump(self, limit: int = 1_000) -> list[Emit]:
        """Deliver every pending request and decision, in order, until none is left. More
        than `limit` deliveries means the books and the assigner keep answering each other
        (a livelock on the bus): an AssertionError, not a hang."""
        produced: list[Emit] = []
        delivered = 0
        while self.busy():
            while self.requests:
                produced += self.deliver_request()
                delivered += 1
            while self.decisions:
                produced += self.deliver_decision()
                delivered += 1
            while self.claims:
                produced += self.deliver_claim()
                delivered += 1
            while self.own_commands:
                produced += self.deliver_own_command()
                delivered += 1
            if delivered > limit:
                kinds = [routing_pb2.AssignmentRequestKind.Name(r.kind) for r in self.requests]
                raise AssertionError(
                    f"still busy after {delivered} deliveries: requests {kinds[:5]}, "
                    f"decisions {[d.decision_id for d in list(self.decisions)[:5]]}"
                )
        return produced

    def at(self, moment: datetime) -> Routing:
        self.now = moment
        return self


def case_events(effects: Sequence[Emit]) -> list[case_pb2.CaseEvent]:
    events = []
    for effect in effects:
        if effect.topic == Topic.CASES:
            assert isinstance(effect.message, case_pb2.CaseEvent)
            events.append(effect.message)
    return events


def reply(
    case_id: str,
    command_id: str,
    agent: str = "sanne",
    text: str = "Hoi Jan, Sanne hier!",
    template: commands_pb2.MessageTemplate | None = None,
) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        reply=commands_pb2.ReplyToCase(agent=agent, text=text, template=template),
    )


def assign(case_id: str, command_id: str, agent: str) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id, case_id=case_id, assign=commands_pb2.AssignCase(agent=agent)
    )


def resolve(case_id: str, command_id: str, agent: str = "sanne") -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id, case_id=case_id, resolve=commands_pb2.ResolveCase(agent=agent)
    )


def transfer(
    case_id: str, command_id: str, agent: str, reason: str, by: str = ""
) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        assign=commands_pb2.AssignCase(agent=agent, reason=reason, by=by),
    )


def note(case_id: str, command_id: str, agent: str, text: str) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id, case_id=case_id, note=commands_pb2.AddNote(agent=agent, text=text)
    )


def claim(case_id: str, command_id: str, agent: str) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id, case_id=case_id, claim=commands_pb2.ClaimCase(agent=agent)
    )


def await_customer(case_id: str, command_id: str, agent: str) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        await_customer=commands_pb2.AwaitCustomer(agent=agent, note="Asked for the order number"),
    )


def reopen(case_id: str, command_id: str, agent: str) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        reopen=commands_pb2.ReopenCase(agent=agent, reason="The parcel is still missing"),
    )


def consult(
    case_id: str, command_id: str, agent: str, specialist: str
) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        consult=commands_pb2.ConsultSpecialist(
            agent=agent, specialist=specialist, question="Is a refund possible here?"
        ),
    )


def merge(case_id: str, command_id: str, agent: str, into: str) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        merge=commands_pb2.MergeCase(agent=agent, into_case_id=into, reason="Same customer"),
    )


def link_identity(
    case_id: str, command_id: str, agent: str, kind: str, value: str
) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        link_identity=commands_pb2.LinkIdentity(agent=agent, kind=kind, value=value),
    )
