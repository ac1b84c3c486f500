"""Scaled-out routing as a state machine: whatever customers write, agents do, the clock
does and the bus does to delivery (late, repeated, reordered across partitions), and
whenever routing restarts, the invariants of issue 11 hold after every step:

* no case is held by two agents, and once nothing is in flight the assigner's holdings and
  the cases' owners agree (a case shows an owner only if the assigner granted them that
  opening);
* no agent holds more cases than their capacity (per channel too, where configured);
* resolved and closed cases hold no agent;
* every case's events have strictly increasing versions, and an event id is never used for
  two different records (ids derive from case and version, so a repeated input must
  either change nothing or write the very same record);
* a refused command stays refused, also when delivered again;
* a restart (every book rebuilt from care.cases -- compacted, or its whole history -- and
  the assigner and the identity linker from their changelogs) leaves the state exactly as
  it was before.

Several partitions' case books, the single-writer assigner and the identity linker are
wired by the test harness (`harness.Routing`), which plays the bus. The rules: customer
messages (several customers, two channels, threads, three languages, answers to earlier
messages, yes/no and scores for the lifecycle's questions, CRM ids that link cases across
channels); agent commands (reply, transfer with or without a reason, resolve, note, claim,
await customer, reopen, consult and the specialist's answer); presence (online, away,
offline, retried); time passing (seconds to days: confirmation timeouts, silent owners,
offline grace, reopen windows); the bus delivering one record at a time (decisions of
different partitions overtaking each other) or everything, and again (at-least-once: the
tail of a consumer's input after a crash between flush and commit); restarts.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta
from typing import Any

from google.protobuf import text_format
from google.protobuf.message import Message
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.cases import channel_name
from socialcare.core.domain.topics import Topic
from socialcare.routing.assignment import Assigner
from socialcare.routing.domain import CaseBook
from socialcare.routing.linker import Linker
from socialcare.v1 import case_pb2, commands_pb2, message_pb2, routing_pb2
from tests.unit.factories import enriched
from tests.unit.routing.harness import (
    Routing,
    await_customer,
    claim,
    consult,
    link_identity,
    merge,
    note,
    reopen,
    reply,
    resolve,
    transfer,
)

PARTITIONS = 3
CARE = CareConfig.model_validate(
    {
        "sla_policies": [
            {
                "name": "any",
                "languages": ["*"],
                "first_response": "1h",
                "next_response": "2h",
                "resolution": "1d",
            }
        ],
        "queues": [{"name": "all", "languages": ["*"]}],
        "agents": [
            {
                "id": "ann",
                "name": "Ann",
                "languages": ["en", "nl"],
                "capacity": 2,
                "channel_capacity": {"facebook": 1},
            },
            {"id": "bob", "name": "Bob", "languages": ["en"], "capacity": 1},
            {"id": "cem", "name": "Cem", "languages": ["nl", "de"], "capacity": 2},
            {"id": "dee", "name": "Dee", "languages": ["de", "en"], "capacity": 1},
            {
                "id": "eve",
                "name": "Eve",
                "languages": ["en", "nl", "de"],
                "capacity": 2,
                "specialist": True,
            },
        ],
    }
)
AGENTS = tuple(agent.id for agent in CARE.agents)
PRESENCES = (routing_pb2.PRESENCE_ONLINE, routing_pb2.PRESENCE_AWAY, routing_pb2.PRESENCE_OFFLINE)
# A customer always writes in one language (so a reopened case stays in it).
CUSTOMERS = tuple((f"cust{n}", ("en", "nl", "de")[n % 3]) for n in range(6))
CHANNELS = (message_pb2.CHANNEL_X, message_pb2.CHANNEL_FACEBOOK)
THREADS = ("", "thread-1", "thread-2")
# Questions, confirmations and refusals (to "has this been solved?") and survey scores.
TEXTS = (
    "Where is my parcel?",
    "My invoice is wrong, and I also want to cancel my subscription",
    "yes",
    "ja, opgelost",
    "no",
    "nee",
    "5",
    "9",
)
CLOSED_STATUSES = frozenset({case_pb2.CASE_STATUS_RESOLVED, case_pb2.CASE_STATUS_CLOSED})
# Events that never move a case to another agent: notes (consulting a specialist is a note
# with `consult`), the specialist's answer, surveys, rejections.
KEEPS_OWNER = frozenset(
    {
        case_pb2.CASE_EVENT_TYPE_NOTE_ADDED,
        case_pb2.CASE_EVENT_TYPE_CONSULTATION_ANSWERED,
        case_pb2.CASE_EVENT_TYPE_SURVEY_SENT,
        case_pb2.CASE_EVENT_TYPE_SURVEY_ANSWERED,
        case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED,
    }
)
# The time a step may let pass: seconds (an agent typing), minutes, hours (confirmation
# timeouts, silent owners, offline grace), days (reopen windows closing).
TICKS = st.sampled_from(
    [
        timedelta(seconds=30),
        timedelta(minutes=6),
        timedelta(hours=3),
        timedelta(hours=49),
        timedelta(days=8),
    ]
)


def describe(case: case_pb2.Case) -> str:
    return text_format.MessageToString(case, as_one_line=True)


# Book fields that are not state: the timer heap keeps entries whose deadline has moved
# (skipped when they come up; `_deadline` is the state, compared), and the next priority
# sweep is a throttle. So are the retention sweep's schedule and its memory of the erasures it
# asked for (lost on a restart by design: the next sweep asks again), and its policy is
# configuration.
NOT_STATE = frozenset(
    {"care", "_timers", "_next_sweep", "retention", "_next_retention", "_erasing"}
)


def book_state(book: CaseBook) -> dict[str, Any]:
    """Everything a book holds (its cases, every index, its deadlines), for before/after
    comparison. A rebuilt book works its deadlines out lazily (once per case, before its
    first input or tick): that is done first, as the next input would."""
    settle = getattr(book, "_schedule_restored", None)
    if settle is not None:
        settle()
    return {
        f.name: getattr(book, f.name) for f in dataclasses.fields(book) if f.name not in NOT_STATE
    }


def assigner_state(assigner: Assigner) -> dict[str, Any]:
    """What the assigner decides from: holdings, each agent's load (in all and per channel),
    presence and state, the backlog's order. (Its handle-time estimates are statistics learnt
    from released holdings; compaction drops released records of cases that reopened, so
    they are not compared.)"""
    return {
        "holdings": dict(assigner.holdings),
        "agent_states": dict(assigner.agent_states),
        "loads": {agent: assigner.load_of(agent) for agent in AGENTS},
        "channel_loads": {agent: assigner.load_by_channel(agent) for agent in AGENTS},
        "presence": {agent: assigner.presence_of(agent) for agent in AGENTS},
        "waiting": assigner.waiting(),
    }


def linker_state(linker: Linker | None) -> dict[str, Any]:
    """Which open case holds each identity, and what each case holds."""
    if linker is None:
        return {}
    return {f.name: getattr(linker, f.name) for f in dataclasses.fields(linker)}


class ScaledOutRouting(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.routing = Routing(CARE, partitions=PARTITIONS, auto=False, linked=True)
        self.sent: list[message_pb2.EnrichedMessage] = []
        self.counter = 0
        self.checked = 0  # how far `published` has been checked for versions and ids
        self.versions: dict[str, int] = {}
        self.records: dict[str, bytes] = {}
        self.rejected: set[str] = set()  # command ids refused
        self.owners: dict[str, str] = {}  # case id -> assignee as of its latest event

    # -- helpers -----------------------------------------------------------------------------
    def _next(self) -> str:
        """A fresh id suffix; every step also moves the clock on a second."""
        self.counter += 1
        self.routing.now += timedelta(seconds=1)
        return str(self.counter)

    def _command_id(self) -> str:
        return f"c{self._next()}"

    def _cases(self) -> list[case_pb2.Case]:
        return sorted(
            (case for book in self.routing.books for case in book.cases.values()),
            key=lambda c: c.id,
        )

    def _pick(self, index: int) -> case_pb2.Case:
        cases = self._cases()
        return cases[index % len(cases)]

    def _has_cases(self) -> bool:
        return any(book.cases for book in self.routing.books)

    def _quiescent(self) -> bool:
        return not self.routing.busy()

    # -- customers ---------------------------------------------------------------------------
    @rule(
        who=st.integers(0, len(CUSTOMERS) - 1),
        channel=st.sampled_from(CHANNELS),
        thread=st.sampled_from(THREADS),
        text=st.sampled_from(TEXTS),
        answering=st.none() | st.integers(0, 50),
        known=st.booleans(),
    )
    def customer_writes(
        self, who: int, channel: int, thread: str, text: str, answering: int | None, known: bool
    ) -> None:
        """A customer writes, maybe in a thread, maybe answering one of their earlier
        messages on that channel (which finds its case even when resolved); `known`: the
        message carries their CRM id, which links their cases across channels (the linker
        merges the newer into the older)."""
        author, language = CUSTOMERS[who]
        earlier = [
            m.message.external_id
            for m in self.sent
            if m.message.author.id == author and m.message.channel == channel
        ]
        answered = earlier[answering % len(earlier)] if earlier and answering is not None else ""
        message = enriched(
            f"m{self._next()}",
            author=author,
            language=language,
            text=text,
            channel=channel,
            thread_id=thread,
            in_reply_to=answered,
            received=self.routing.now,
        )
        if known:
            message.message.author.crm_id = f"crm-{author}"
        self.sent.append(message)
        self.routing.message(message)

    def _asked(self) -> list[case_pb2.Case]:
        """Cases whose customer was asked something: to confirm a proposed resolution, or
        the satisfaction question after it."""
        return [
            c
            for c in self._cases()
            if (
                c.status == case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
                and c.HasField("resolution_check")
            )
            or c.status == case_pb2.CASE_STATUS_RESOLVED
        ]

    @precondition(lambda self: bool(self._asked()))
    @rule(
        which=st.integers(0, 50),
        text=st.sampled_from(["yes", "Yes, thanks!", "no", "nee, nog steeds niet", "4", "10"]),
    )
    def customer_answers_the_question(self, which: int, text: str) -> None:
        """The customer of a case asked to confirm (or rate) answers on its channel."""
        asked = self._asked()
        case = asked[which % len(asked)]
        message = enriched(
            f"m{self._next()}",
            author=case.customer.id,
            language=case.language,
            text=text,
            channel=case.channel,
            received=self.routing.now,
        )
        self.sent.append(message)
        self.routing.message(message)

    @precondition(lambda self: bool(self.sent))
    @rule(which=st.integers(0, 50))
    def ingestion_repeats_a_message(self, which: int) -> None:
        """At-least-once ingestion: a message already routed arrives again (maybe long
        after, on a case that moved on): it must change nothing."""
        self._next()
        self.routing.message(self.sent[which % len(self.sent)])

    # -- agents ------------------------------------------------------------------------------
    @precondition(lambda self: self._has_cases())
    @rule(which=st.integers(0, 50), agent=st.sampled_from(AGENTS))
    def agent_replies(self, which: int, agent: str) -> None:
        case = self._pick(which)
        self.routing.command(reply(case.id, self._command_id(), agent, "Hello, checking!"))

    @precondition(lambda self: self._has_cases())
    @rule(which=st.integers(0, 50), agent=st.sampled_from(AGENTS), reason=st.booleans())
    def agent_transfers(self, which: int, agent: str, reason: bool) -> None:
        case = self._pick(which)
        because = "needs a German speaker" if reason else ""
        self.routing.command(transfer(case.id, self._command_id(), agent, because))

    @precondition(lambda self: self._has_cases())
    @rule(which=st.integers(0, 50), agent=st.sampled_from(AGENTS))
    def agent_resolves(self, which: int, agent: str) -> None:
        case = self._pick(which)
        self.routing.command(resolve(case.id, self._command_id(), agent))

    @precondition(lambda self: self._has_cases())
    @rule(which=st.integers(0, 50), agent=st.sampled_from(AGENTS))
    def agent_notes(self, which: int, agent: str) -> None:
        case = self._pick(which)
        self.routing.command(note(case.id, self._command_id(), agent, "Called the depot."))

    @precondition(lambda self: self._has_cases())
    @rule(which=st.integers(0, 50), agent=st.sampled_from(AGENTS))
    def agent_claims(self, which: int, agent: str) -> None:
        case = self._pick(which)
        self.routing.command(claim(case.id, self._command_id(), agent))

    @precondition(lambda self: self._has_cases())
    @rule(which=st.integers(0, 50), agent=st.sampled_from(AGENTS))
    def agent_awaits_customer(self, which: int, agent: str) -> None:
        case = self._pick(which)
        self.routing.command(await_customer(case.id, self._command_id(), agent))

    @precondition(lambda self: self._has_cases())
    @rule(which=st.integers(0, 50), agent=st.sampled_from(AGENTS))
    def agent_reopens(self, which: int, agent: str) -> None:
        case = self._pick(which)
        self.routing.command(reopen(case.id, self._command_id(), agent))

    @precondition(lambda self: self._has_cases())
    @rule(which=st.integers(0, 50), agent=st.sampled_from(AGENTS))
    def agent_consults_the_specialist(self, which: int, agent: str) -> None:
        """Consulting moves no ownership (the invariants check the owner stays)."""
        case = self._pick(which)
        self.routing.command(consult(case.id, self._command_id(), agent, "eve"))

    @precondition(lambda self: any(c.consultations for c in self._cases()))
    @rule(which=st.integers(0, 50), specialist=st.sampled_from(["eve", "eve", "bob"]))
    def specialist_answers(self, which: int, specialist: str) -> None:
        asked = [(c, q) for c in self._cases() for q in c.consultations]
        case, consultation = asked[which % len(asked)]
        command = commands_pb2.AgentCommand(
            command_id=self._command_id(),
            case_id=case.id,
            answer_consultation=commands_pb2.AnswerConsultation(
                specialist=specialist,
                consultation_id=consultation.id,
                answer="Yes, refund it.",
            ),
        )
        self.routing.command(command)

    @precondition(lambda self: self._has_cases())
    @rule(which=st.integers(0, 50), into=st.integers(0, 50), agent=st.sampled_from(AGENTS))
    def agent_merges(self, which: int, into: int, agent: str) -> None:
        """An agent merges one case into another (maybe itself, maybe a closed one)."""
        case, target = self._pick(which), self._pick(into)
        self.routing.command(merge(case.id, self._command_id(), agent, target.id))

    @precondition(lambda self: self._has_cases())
    @rule(
        which=st.integers(0, 50),
        agent=st.sampled_from(AGENTS),
        identity=st.sampled_from(
            [("email", "jan@example.nl"), ("phone", "+31612345678"), ("crm", "crm-cust1")]
        ),
    )
    def agent_links_identity(self, which: int, agent: str, identity: tuple[str, str]) -> None:
        """An agent records a contact detail on a case (a phone call, a form): the linker
        merges it with the open case holding it."""
        case = self._pick(which)
        kind, value = identity
        self.routing.command(link_identity(case.id, self._command_id(), agent, kind, value))

    @precondition(lambda self: bool(self.routing.delivered_claims))
    @rule(count=st.integers(1, 6))
    def linker_gets_claims_again(self, count: int) -> None:
        self._next()
        self.routing.redeliver_claims(count)

    @rule(
        agent=st.sampled_from(AGENTS),
        presence=st.sampled_from(PRESENCES),
        retried=st.booleans(),
    )
    def agent_sets_presence(
        self, agent: str, presence: routing_pb2.Presence.ValueType, retried: bool
    ) -> None:
        """Online, away or offline; `retried`: the client sends the same request again."""
        key = f"k{self._next()}"
        self.routing.presence(agent, presence, key)
        if retried:
            self.routing.presence(agent, presence, key)

    # -- time --------------------------------------------------------------------------------
    @rule(passing=TICKS)
    def time_passes(self, passing: timedelta) -> None:
        self.routing.now += passing
        self.routing.tick()

    # -- the bus -----------------------------------------------------------------------------
    @precondition(lambda self: bool(self.routing.requests))
    @rule()
    def assigner_takes_a_request(self) -> None:
        self._next()
        self.routing.deliver_request()

    @precondition(lambda self: bool(self.routing.decisions))
    @rule(which=st.integers(0, PARTITIONS - 1))
    def book_takes_a_decision(self, which: int) -> None:
        """Decisions of different partitions overtake each other; a partition's own keep
        their order."""
        self._next()
        pending = self.routing.pending_partitions()
        self.routing.deliver_decision(pending[which % len(pending)])

    @precondition(lambda self: bool(self.routing.claims))
    @rule()
    def linker_takes_a_claim(self) -> None:
        self._next()
        self.routing.deliver_claim()

    @precondition(lambda self: bool(self.routing.own_commands))
    @rule()
    def book_takes_a_merge_or_forward(self) -> None:
        self._next()
        self.routing.deliver_own_command()

    @rule()
    def everything_in_flight_arrives(self) -> None:
        self._next()
        self.routing.pump()

    @precondition(lambda self: bool(self.routing.delivered_requests))
    @rule(count=st.integers(1, 6))
    def assigner_gets_requests_again(self, count: int) -> None:
        self._next()
        self.routing.redeliver_requests(count)

    @rule(partition=st.integers(0, PARTITIONS - 1), count=st.integers(1, 6))
    def book_gets_decisions_again(self, partition: int, count: int) -> None:
        self._next()
        self.routing.redeliver_decisions(partition, count)

    @rule(partition=st.integers(0, PARTITIONS - 1), count=st.integers(1, 6))
    def book_gets_commands_again(self, partition: int, count: int) -> None:
        self._next()
        self.routing.redeliver_commands(partition, count)

    @rule(partition=st.integers(0, PARTITIONS - 1), count=st.integers(1, 6))
    def book_gets_messages_again(self, partition: int, count: int) -> None:
        self._next()
        self.routing.redeliver_messages(partition, count)

    # -- restarts ----------------------------------------------------------------------------
    @rule(
        which=st.sampled_from(["everything", "assigner", "one book"]),
        partition=st.integers(0, PARTITIONS - 1),
        compacted=st.booleans(),
    )
    def routing_restarts(self, which: str, partition: int, compacted: bool) -> None:
        """Rebuild from the changelogs: the state must be what it was. (Flushed effects are
        all on the bus here: the harness publishes every effect as it is returned.)"""
        books_before = [book_state(book) for book in self.routing.books]
        assigner_before = assigner_state(self.routing.assigner)
        linker_before = linker_state(self.routing.linker)
        requests_before = len(self.routing.requests)
        partitions = [partition] if which == "one book" else []
        if which == "everything":
            partitions = list(range(PARTITIONS))
        # The re-sent requests for unowned open cases are what a rebuilt book adds; they are
        # compared with the state, not delivered, here.
        auto, self.routing.auto = self.routing.auto, False
        try:
            self.routing.restart(
                partitions=partitions, assigner=which != "one book", compacted=compacted
            )
        finally:
            self.routing.auto = auto
        # Compared field by field, and told in a few lines: pytest's own diff of two large
        # states would take longer (and more memory) than the whole test.
        for number in partitions:
            before, after = books_before[number], book_state(self.routing.books[number])
            for name in before:
                if before[name] != after[name]:
                    raise AssertionError(_difference(f"book {number}.{name}", before, after, name))
        if which != "one book":
            linker_after = linker_state(self.routing.linker)
            assigner_after = assigner_state(self.routing.assigner)
            for where, old, new in (
                ("linker", linker_before, linker_after),
                ("assigner", assigner_before, assigner_after),
            ):
                for name in old:
                    if old[name] != new[name]:
                        raise AssertionError(_difference(f"{where}.{name}", old, new, name))
        resent = list(self.routing.requests)[requests_before:]
        for request in resent:
            case = self.routing.case(request.case_id)
            assert not case.assignee and case.status not in CLOSED_STATUSES, describe(case)

    # -- invariants --------------------------------------------------------------------------
    @invariant()
    def no_agent_over_capacity(self) -> None:
        assigner = self.routing.assigner
        held: Counter[str] = Counter()
        per_channel: Counter[tuple[str, str]] = Counter()
        for holding in assigner.holdings.values():
            if holding.agent:
                held[holding.agent] += 1
                per_channel[holding.agent, channel_name(holding.channel)] += 1
        for agent in CARE.agents:
            assert held[agent.id] == assigner.load_of(agent.id)
            assert held[agent.id] <= agent.capacity, f"{agent.id} over capacity"
            for channel, limit in agent.channel_capacity.items():
                assert per_channel[agent.id, channel] <= limit, f"{agent.id} over {channel}"
        assert all(not assigner.holdings[c].agent for c in assigner.waiting())

    @invariant()
    def a_case_shows_each_message_once(self) -> None:
        """Merging, absorbing and forwarding never copy a message twice onto a case (and so
        cases stay as small as the conversation: nothing grows on its own)."""
        for case in self._cases():
            ids = [m.message_id for m in case.messages]
            assert len(ids) == len(set(ids)), f"a message twice on {describe(case)}"
            assert len(ids) <= 4 * self.counter + 10, f"{case.id} grows: {len(ids)} messages"

    @invariant()
    def owners_were_granted(self) -> None:
        """A case shows an owner only if the assigner granted that agent this opening."""
        granted = {
            (d.case_id, d.epoch, d.agent)
            for d in self.routing.history(Topic.ASSIGNMENT_DECISIONS)
            if isinstance(d, routing_pb2.AssignmentDecision)
            and d.outcome == routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED
        }
        for case in self._cases():
            shown = (case.id, case.assignment_epoch, case.assignee)
            if case.assignee and case.status not in CLOSED_STATUSES and shown not in granted:
                raise AssertionError(f"an owner nobody granted: {describe(case)}")

    @invariant()
    def versions_increase_and_ids_mean_one_record(self) -> None:
        published = self.routing.published
        for effect in published[self.checked :]:
            if effect.topic != Topic.CASES:
                continue
            event = effect.message
            assert isinstance(event, case_pb2.CaseEvent)
            # No occurred_at: a repeated input may write the same record later.
            record = case_pb2.CaseEvent()
            record.CopyFrom(event)
            record.ClearField("occurred_at")
            record.case.ClearField("updated_at")
            body = record.SerializeToString(deterministic=True)
            known = self.records.get(event.event_id)
            if known is not None:
                if known != body:
                    raise AssertionError(f"event id {event.event_id} used for two records")
                continue  # the same record again: a repeated input, nothing new
            self.records[event.event_id] = body
            last = self.versions.get(event.case.id, 0)
            assert event.case.version > last, (
                f"{event.case.id}: version {event.case.version} after {last}"
            )
            self.versions[event.case.id] = event.case.version
            owner = self.owners.get(event.case.id)
            if event.type in KEEPS_OWNER and owner is not None:
                kind = case_pb2.CaseEventType.Name(event.type)
                assert event.case.assignee == owner, f"{kind} moved the case from {owner!r}"
            self.owners[event.case.id] = event.case.assignee
            if event.type == case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED:
                self.rejected.add(event.rejection.command_id or event.cause_id)
            else:
                # A refused command stays refused (a transfer's reason note may come before
                # the assigner's refusal, never after).
                assert event.cause_id not in self.rejected, (
                    f"command {event.cause_id} applied after it was rejected"
                )
        self.checked = len(published)

    @invariant()
    def assigner_and_cases_agree_once_quiescent(self) -> None:
        if not self._quiescent():
            return
        holdings = self.routing.assigner.holdings
        owned: Counter[str] = Counter()
        for case in self._cases():
            holding = holdings.get(case.id)
            if case.status in CLOSED_STATUSES:
                assert holding is None, f"closed case still held: {describe(case)}"
                continue
            assert holding is not None, f"open case unknown to the assigner: {describe(case)}"
            assert holding.epoch == case.assignment_epoch, describe(case)
            assert holding.agent == case.assignee, f"{holding.agent!r} vs {describe(case)}"
            if case.assignee:
                owned[case.assignee] += 1
        known = {case.id for case in self._cases()}
        unknown = sorted(set(holdings) - known)
        if unknown:
            raise AssertionError(f"the assigner holds cases no book knows: {unknown[:5]}")
        for agent in CARE.agents:
            assert owned[agent.id] <= agent.capacity

    def teardown(self) -> None:
        """Let everything in flight arrive, then the books and the assigner must agree."""
        self.routing.pump()
        self.versions_increase_and_ids_mean_one_record()
        self.assigner_and_cases_agree_once_quiescent()


def _difference(where: str, before: dict[str, Any], after: dict[str, Any], name: str) -> str:
    old, new = before[name], after[name]
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new), key=repr)
        changed = [k for k in keys if old.get(k) != new.get(k)][:3]
        shown = [f"{k}: before {_show(old.get(k))} after {_show(new.get(k))}" for k in changed]
        return f"{where} differs after restart: " + "; ".join(shown)
    return f"{where} differs after restart: before {_show(old)} after {_show(new)}"


def _show(value: object) -> str:
    if isinstance(value, case_pb2.Case):
        return describe(value)
    if isinstance(value, Message):
        return text_format.MessageToString(value, as_one_line=True)
    shown = repr(value)
    return shown if len(shown) < 2000 else shown[:2000] + "..."


ScaledOutRouting.TestCase.settings = settings(
    # About 10 s on a quiet machine (the budget: under 30 s). Derandomized: every
    # run plays the same examples, so a run in CI is as long (and as light) as here; explore
    # new ones with a subclass and other settings (see the H7 report for the command).
    max_examples=800,
    stateful_step_count=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestScaledOutRouting = ScaledOutRouting.TestCase


# -- what the machine found (issue 11), kept as plain examples ------------------------------
def _machine() -> ScaledOutRouting:
    machine = ScaledOutRouting()
    machine.customer_writes(
        who=0, channel=message_pb2.CHANNEL_X, thread="", text=TEXTS[0], answering=None, known=False
    )
    machine.everything_in_flight_arrives()
    return machine


def _settle(machine: ScaledOutRouting) -> None:
    machine.everything_in_flight_arrives()
    machine.versions_increase_and_ids_mean_one_record()
    machine.assigner_and_cases_agree_once_quiescent()


def test_a_refused_command_delivered_again_after_a_reopening_stays_refused() -> None:
    machine = _machine()
    machine.agent_resolves(which=0, agent="ann")
    machine.customer_answers_the_question(which=0, text="yes")
    _settle(machine)
    machine.agent_resolves(which=0, agent="ann")  # refused: resolved already
    machine.customer_answers_the_question(which=0, text="It broke again")  # reopens
    _settle(machine)
    status = machine._pick(0).status
    partition = next(n for n, book in enumerate(machine.routing.books) if book.cases)
    machine.book_gets_commands_again(partition=partition, count=1)
    _settle(machine)
    assert machine._pick(0).status == status


def test_transfers_delivered_again_leave_the_case_and_the_assigner_agreeing() -> None:
    machine = _machine()
    machine.agent_transfers(which=0, agent="ann", reason=False)
    machine.agent_transfers(which=0, agent="bob", reason=False)
    _settle(machine)
    machine.assigner_gets_requests_again(count=2)
    _settle(machine)
    partition = next(n for n, book in enumerate(machine.routing.books) if book.cases)
    machine.book_gets_commands_again(partition=partition, count=2)
    _settle(machine)
    assert machine._pick(0).assignee == "bob"


def test_a_case_handed_between_silent_owners_shows_who_holds_it() -> None:
    machine = _machine()
    for _ in range(4):
        machine.time_passes(timedelta(hours=3))
        _settle(machine)
    case = machine._pick(0)
    assert machine.routing.assigner.holdings[case.id].agent == case.assignee


def test_a_rebuild_after_a_refusal_is_the_state_before() -> None:
    machine = _machine()
    machine.agent_reopens(which=0, agent="ann")  # refused: not resolved
    machine.customer_writes(
        who=0, channel=message_pb2.CHANNEL_X, thread="", text=TEXTS[1], answering=None, known=False
    )
    for compacted in (False, True):
        machine.routing_restarts(which="everything", partition=0, compacted=compacted)
    _settle(machine)
