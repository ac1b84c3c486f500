"""Counting after a fault run: what the platform promised, what it did, lost and doubled.

The evidence is read after the run, never from the services' own counters:

* the topics from the beginning (`Bus.replay`, a fresh reader: the same on the embedded
  log and on Kafka): social.messages.raw (copies per message id), care.cases (routing's
  state: the latest version of every case, the authority on which messages a case holds
  and who owns it), routing.assignment-decisions, care.sla, care.escalations,
  care.outbound and care.deliveries;
* the search projection (`SearchIndex`, index `messages`): which accepted message ids it
  holds;
* the fake channel's log (`fake_channel.ChannelLog`): every post per reply id.

Effects are counted by the key that names one effect, and by event id inside it. The same
event id twice is an at-least-once redelivery (the consumer crashed before committing and
the record was produced again with its derived id): harmless, reported as "redelivered
copies". Two *different* event ids for one effect key is a duplicate effect: a breach
announced twice, a case assigned twice, a reply posted twice.

Effect keys: an SLA event is (case, clock, cycle, type) (plus the threshold for a
warning); an escalation event is (escalation id, type, revision), and one open
escalation per (case, family) means a second escalation id raised for the same
(case, family) is a duplicate too; an assignment is (case, epoch) for ASSIGNED decisions.

`settle` waits, bounded, until the pipeline is quiet (no topic grew for `quiet_s`) and the
evidence is complete, so counting does not race the last records.
"""

from __future__ import annotations

import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import Message

from socialcare.core.bus import Bus, Record, UnknownTopicError
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError, decode
from socialcare.core.search import SearchIndex
from socialcare.core.search.base import CountQuery, SearchError, SearchQuery, UnknownIndexError
from socialcare.escalation.triggers import clock_of, family_of
from socialcare.v1 import (
    case_pb2,
    commands_pb2,
    delivery_pb2,
    escalation_pb2,
    message_pb2,
    routing_pb2,
    sla_pb2,
)
from tests.faults.fake_channel import ChannelLog
from tests.faults.workload import Attempted, SendSummary

AUDITED_TOPICS: tuple[str, ...] = (
    Topic.MESSAGES_RAW,
    Topic.MESSAGES_ENRICHED,
    Topic.CASES,
    Topic.ASSIGNMENT_DECISIONS,
    Topic.SLA,
    Topic.ESCALATIONS,
    Topic.OUTBOUND,
    Topic.DELIVERIES,
)
M = TypeVar("M", bound=Message)
MESSAGES_INDEX = "messages"
SEARCH_CHUNK = 500
EXAMPLES = 5
SLA_TYPE_NAMES = {
    sla_pb2.SLA_EVENT_TYPE_MET: "met",
    sla_pb2.SLA_EVENT_TYPE_BREACHED: "breached",
    sla_pb2.SLA_EVENT_TYPE_WARNING: "warning",
    sla_pb2.SLA_EVENT_TYPE_STARTED: "started",
    sla_pb2.SLA_EVENT_TYPE_PAUSED: "paused",
    sla_pb2.SLA_EVENT_TYPE_RESUMED: "resumed",
    sla_pb2.SLA_EVENT_TYPE_AT_RISK: "at_risk",
}


# -- evidence ---------------------------------------------------------------------------
@dataclass
class EffectLog:
    """Event ids seen per effect key: `copies[key][event_id]` = records carrying it."""

    copies: dict[tuple[str, ...], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )

    def add(self, key: tuple[str, ...], event_id: str) -> None:
        self.copies[key][event_id] += 1

    @property
    def keys(self) -> int:
        return len(self.copies)

    def duplicated(self) -> list[tuple[str, ...]]:
        """Keys announced by more than one event id: the effect happened twice."""
        return [key for key, ids in self.copies.items() if len(ids) > 1]

    def redelivered(self) -> int:
        """Records beyond the first of one event id: at-least-once copies."""
        return sum(n - 1 for ids in self.copies.values() for n in ids.values())

    def described(self, keys: Iterable[tuple[str, ...]]) -> str:
        """Examples of keys with the event ids announcing them."""
        return _examples(f"{'/'.join(key)} by {sorted(self.copies[key])}" for key in keys)

    def having(self, match: Callable[[tuple[str, ...]], bool]) -> EffectLog:
        return EffectLog(defaultdict(Counter, {k: v for k, v in self.copies.items() if match(k)}))


@dataclass
class Evidence:
    """What the topics, the search projection and the channel hold after a run."""

    raw_copies: Counter[str] = field(default_factory=Counter)
    cases: dict[str, case_pb2.Case] = field(default_factory=dict)
    assignments: EffectLog = field(default_factory=EffectLog)
    sla: EffectLog = field(default_factory=EffectLog)
    escalations: EffectLog = field(default_factory=EffectLog)
    raised: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    escalated_clocks: set[tuple[str, str, str]] = field(default_factory=set)
    outbound: Counter[str] = field(default_factory=Counter)
    deliveries: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    searched: set[str] = field(default_factory=set)
    search_inbound_total: int = 0
    search_error: str = ""
    channel: ChannelLog | None = None
    unreadable: Counter[str] = field(default_factory=Counter)

    def message_cases(self) -> dict[str, list[str]]:
        """Inbound message id → the cases holding it (once per holding)."""
        held: dict[str, list[str]] = defaultdict(list)
        for case in self.cases.values():
            if case.merged_into:
                continue  # a merged case's messages live on in the case it went into
            for message in case.messages:
                if message.direction == case_pb2.DIRECTION_INBOUND:
                    held[message.message_id].append(case.id)
        return held


def read_topics(bus: Bus, evidence: Evidence) -> None:
    """Fill `evidence` from the topics (from the beginning, up to their ends now)."""
    for record in _replay(bus, Topic.MESSAGES_RAW):
        message = _decode(record, message_pb2.SocialMessage, evidence)
        if message is not None:
            evidence.raw_copies[message.message_id] += 1
    for record in _replay(bus, Topic.CASES):
        event = _decode(record, case_pb2.CaseEvent, evidence)
        if event is None or not event.case.id:
            continue
        known = evidence.cases.get(event.case.id)
        if known is None or event.case.version >= known.version:
            evidence.cases[event.case.id] = event.case
    for record in _replay(bus, Topic.ASSIGNMENT_DECISIONS):
        decision = _decode(record, routing_pb2.AssignmentDecision, evidence)
        if decision is not None and decision.outcome == routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED:
            evidence.assignments.add((decision.case_id, str(decision.epoch)), decision.decision_id)
    for record in _replay(bus, Topic.SLA):
        sla = _decode(record, sla_pb2.SlaEvent, evidence)
        if sla is None:
            continue
        clock, cycle = clock_of(sla)
        kind = SLA_TYPE_NAMES.get(sla.type, str(sla.type))
        key: tuple[str, ...] = (sla.case_id, clock, str(cycle), kind)
        if sla.type == sla_pb2.SLA_EVENT_TYPE_WARNING:
            key = (*key, f"{sla.threshold:.2f}")
        evidence.sla.add(key, sla.event_id)
    for record in _replay(bus, Topic.ESCALATIONS):
        raised = _decode(record, escalation_pb2.EscalationEvent, evidence)
        if raised is None:
            continue
        escalation = raised.escalation
        evidence.escalations.add(
            (escalation.id, str(raised.type), str(escalation.revision)), raised.event_id
        )
        if raised.type == escalation_pb2.ESCALATION_EVENT_TYPE_RAISED:
            evidence.raised[(escalation.case_id, family_of(escalation))].add(escalation.id)
        if escalation.clock:
            clock_cycle = str(escalation.clock_cycle or 1)
            evidence.escalated_clocks.add((escalation.case_id, escalation.clock, clock_cycle))
    for record in _replay(bus, Topic.OUTBOUND):
        reply = _decode(record, commands_pb2.OutboundReply, evidence)
        if reply is not None:
            evidence.outbound[reply.reply_id] += 1
    for record in _replay(bus, Topic.DELIVERIES):
        delivery = _decode(record, delivery_pb2.ReplyDelivery, evidence)
        if delivery is not None:
            status = delivery_pb2.DeliveryStatus.Name(delivery.status)
            evidence.deliveries[delivery.reply_id][status] += 1


def _replay(bus: Bus, topic: str) -> Iterable[Record]:
    try:
        yield from (r for r in bus.replay(topic) if not r.tombstone)
    except UnknownTopicError:  # nothing was ever written to it: it holds nothing
        return


def _decode(record: Record, message_type: type[M], evidence: Evidence) -> M | None:
    try:
        return decode(record, message_type)
    except InvalidRecordError:
        evidence.unreadable[record.topic] += 1
        return None


def read_search(search: SearchIndex, message_ids: Collection[str], evidence: Evidence) -> None:
    """Which of `message_ids` the messages index holds, and how many inbound documents."""
    try:
        search.refresh(MESSAGES_INDEX)
        counted = search.count(MESSAGES_INDEX, CountQuery(by="direction"))
        evidence.search_inbound_total = sum(b.count for b in counted.buckets if b.key == "inbound")
        ids = sorted(message_ids)
        for start in range(0, len(ids), SEARCH_CHUNK):
            chunk = ids[start : start + SEARCH_CHUNK]
            found = search.search(
                MESSAGES_INDEX, SearchQuery(filters={"id": chunk}, limit=len(chunk))
            )
            evidence.searched.update(hit.id for hit in found.hits)
    except UnknownIndexError:
        evidence.search_error = "the messages index does not exist"
    except SearchError as exc:
        evidence.search_error = f"search failed: {exc}"


def collect(
    bus: Bus,
    search: SearchIndex | None,
    message_ids: Collection[str],
    channel: Callable[[], ChannelLog] | None = None,
) -> Evidence:
    evidence = Evidence()
    read_topics(bus, evidence)
    if search is not None:
        read_search(search, message_ids, evidence)
    if channel is not None:
        evidence.channel = channel()
    return evidence


# -- the audit --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table. `None` prints as "-" (the column does not apply)."""

    kind: str
    sent: int | None = None
    accepted: int | None = None
    rejected: int | None = None
    shed: int | None = None
    server_errors: int | None = None
    expected: int | None = None
    found: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    redelivered: int | None = None


COLUMNS: tuple[tuple[str, str], ...] = (
    ("kind", "effect"),
    ("sent", "sent"),
    ("accepted", "accepted"),
    ("rejected", "rejected 4xx"),
    ("shed", "shed 429/503"),
    ("server_errors", "5xx other"),
    ("expected", "expected"),
    ("found", "found"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("redelivered", "redelivered copies"),
)


LEGEND = (
    "sent, accepted, rejected: requests the workload made (messages, replies), each retried "
    "until accepted or refused; shed and 5xx: answers (a request may get several). "
    "expected/found/lost: effects due and seen; duplicated: effects announced by two event "
    "ids (or posted twice); redelivered copies: the same event id again (at-least-once)."
)


def format_table(rows: Sequence[Row], title: str = "") -> str:
    """The counts as a Markdown table (readable in a terminal, pasteable into a note)."""
    cells = [[label for _, label in COLUMNS]]
    for row in rows:
        cells.append([_cell(getattr(row, name)) for name, _ in COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1)) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    out = [line(cells[0]), rule, *(line(c) for c in cells[1:])]
    return "\n".join(([title, ""] if title else []) + out)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@dataclass
class AuditReport:
    rows: list[Row]
    problems: list[str]
    notes: list[str]

    def table(self, title: str = "") -> str:
        return format_table(self.rows, title)

    def text(self, title: str = "") -> str:
        """The table, then notes and problems (one per line), for stdout and the file."""
        parts = [self.table(title), textwrap.fill(LEGEND, 100)]
        if self.notes:
            parts.append("\n".join(f"note: {n}" for n in self.notes))
        parts.append(
            "\n".join(f"PROBLEM: {p}" for p in self.problems) if self.problems else "no problems"
        )
        return "\n\n".join(parts)

    def write(self, path: Path, title: str = "") -> Path:
        path.write_text(self.text(title) + "\n")
        return path

    def row(self, kind: str) -> Row:
        return next(r for r in self.rows if r.kind == kind)


@dataclass(frozen=True, slots=True)
class Expectations:
    """What the run's care config and workload make due.

    `breach_languages`: languages whose first-response SLA is short enough to breach
    within the run; a case in one of them that got no reply must breach, and its breach
    must escalate. `reply_window`: raw channel re-posts the processor's documented crash
    window allows (crashes times the connectors' batch size): more is a problem."""

    breach_languages: frozenset[str] = frozenset({"nl"})
    reply_window: int = 0


def _examples(items: Iterable[object]) -> str:
    listed = list(items)
    shown = ", ".join(str(i) for i in listed[:EXAMPLES])
    return shown + (f" (+{len(listed) - EXAMPLES} more)" if len(listed) > EXAMPLES else "")


def audit(
    evidence: Evidence,
    messages: Sequence[Attempted],
    replies: Mapping[str, Attempted],
    expect: Expectations,
) -> AuditReport:
    """The table and the problems. `messages`: the driver's records; `replies`: the
    replier's (case id → record)."""
    problems: list[str] = []
    notes: list[str] = []
    rows: list[Row] = []

    # Messages: every accepted one in exactly one case; copies on the raw topic.
    sent = SendSummary.of(messages)
    accepted_ids = {m.result_id for m in messages if m.accepted}
    held = evidence.message_cases()
    lost = sorted(m for m in accepted_ids if not held.get(m))
    doubled = sorted(m for m in accepted_ids if len(held.get(m, ())) > 1)
    copies = sum(evidence.raw_copies[m] - 1 for m in accepted_ids if evidence.raw_copies[m] > 1)
    rows.append(
        Row(
            "messages → cases",
            sent.sent,
            sent.accepted,
            sent.rejected,
            sent.shed,
            sent.server_errors,
            len(accepted_ids),
            len(accepted_ids) - len(lost),
            len(lost),
            len(doubled),
            copies,
        )
    )
    if lost:
        problems.append(f"{len(lost)} accepted messages in no case: {_examples(lost)}")
    if doubled:
        shown = _examples(f"{m} in {held[m]}" for m in doubled)
        problems.append(f"{len(doubled)} messages held more than once: {shown}")
    confirmed_late = sum(1 for m in messages if m.accepted and m.duplicate_answer)
    if confirmed_late:
        notes.append(
            f"{confirmed_late} messages were confirmed by a retry answered `duplicate: true` "
            "(taken before, the first answer lost)"
        )
    bare = sum(r.shed_without_retry_after for r in [*messages, *replies.values()])
    if bare:
        problems.append(f"{bare} 429/503 answers without a Retry-After header")
    if sent.unconfirmed:
        notes.append(
            f"{sent.unconfirmed} messages never got an answer within the time budget "
            f"(not counted as accepted); {sent.no_answer} attempts got no answer at all"
        )
    elif sent.no_answer:
        notes.append(f"{sent.no_answer} message attempts got no answer (platform down); retried")

    # Assignments: every case one owner, one ASSIGNED decision per opening.
    live = [c for c in evidence.cases.values() if not c.merged_into]
    unassigned = sorted(c.id for c in live if not c.assignee)
    decided = {key[0] for key in evidence.assignments.copies}
    undecided = sorted(c.id for c in live if c.id not in decided)
    twice = evidence.assignments.duplicated()
    rows.append(
        Row(
            "assignments",
            expected=len(live),
            found=len(live) - len(unassigned),
            lost=len(set(unassigned) | set(undecided)),
            duplicated=len(twice),
            redelivered=evidence.assignments.redelivered(),
        )
    )
    if unassigned:
        problems.append(f"{len(unassigned)} cases without an assignee: {_examples(unassigned)}")
    if undecided:
        problems.append(
            f"{len(undecided)} cases without an ASSIGNED decision: {_examples(undecided)}"
        )
    if twice:
        problems.append(
            f"{len(twice)} case openings assigned by several decisions: "
            f"{evidence.assignments.described(twice)}"
        )

    # Replies through the gateway, on care.outbound.
    answered = {r.result_id: case for case, r in replies.items() if r.accepted}
    replied_cases = set(answered.values())
    said = SendSummary.of(replies.values())
    missing_outbound = sorted(r for r in answered if evidence.outbound[r] == 0)
    rows.append(
        Row(
            "replies → care.outbound",
            said.sent,
            said.accepted,
            said.rejected,
            said.shed,
            said.server_errors,
            len(answered),
            len(answered) - len(missing_outbound),
            len(missing_outbound),
            None,
            sum(evidence.outbound[r] - 1 for r in answered if evidence.outbound[r] > 1),
        )
    )
    if missing_outbound:
        problems.append(
            f"{len(missing_outbound)} accepted replies never reached care.outbound: "
            f"{_examples(missing_outbound)}"
        )
    refused = sorted(case for case, r in replies.items() if r.rejected)
    if refused:
        problems.append(
            f"{len(refused)} replies refused by the gateway: "
            f"{_examples(f'{c}: {replies[c].final} {replies[c].error[:80]}' for c in refused)}"
        )

    # SLA: met for every answered case, breached for every unanswered short-SLA case.
    def first(kind: str) -> EffectLog:
        return evidence.sla.having(lambda k: k[1] == "first_response" and k[3] == kind)

    met, breached = first("met"), first("breached")
    met_cases = {k[0] for k in met.copies}
    breached_cases = {k[0] for k in breached.copies}
    due_breach = {
        c.id for c in live if c.language in expect.breach_languages and c.id not in replied_cases
    }
    for kind, log, due in (
        ("sla met (first response)", met, replied_cases),
        ("sla breached (first response)", breached, due_breach),
    ):
        have = met_cases if log is met else breached_cases
        missing = sorted(due - have)
        rows.append(
            Row(
                kind,
                expected=len(due),
                found=len(due & have),
                lost=len(missing),
                duplicated=len(log.duplicated()),
                redelivered=log.redelivered(),
            )
        )
        if missing:
            problems.append(f"{kind}: {len(missing)} cases without it: {_examples(missing)}")
        if log.duplicated():
            problems.append(f"{kind} emitted twice: {log.described(log.duplicated())}")
    both = sorted(met_cases & breached_cases)
    if both:
        problems.append(f"{len(both)} first responses both met and breached: {_examples(both)}")
    other = evidence.sla.having(
        lambda k: not (k[1] == "first_response" and k[3] in ("met", "breached"))
    )
    rows.append(
        Row(
            "sla events (other)",
            found=other.keys,
            duplicated=len(other.duplicated()),
            redelivered=other.redelivered(),
        )
    )
    if other.duplicated():
        problems.append(f"SLA events emitted twice: {other.described(other.duplicated())}")

    # Escalations: every breach escalated, every escalation event once.
    breaches = {(k[0], k[1], k[2]) for k in breached.copies}
    unescalated = sorted(breaches - evidence.escalated_clocks)
    twice_raised = sorted(k for k, ids in evidence.raised.items() if len(ids) > 1)
    dup_events = evidence.escalations.duplicated()
    rows.append(
        Row(
            "escalations",
            expected=len(breaches),
            found=sum(len(ids) for ids in evidence.raised.values()),
            lost=len(unescalated),
            duplicated=len(dup_events) + len(twice_raised),
            redelivered=evidence.escalations.redelivered(),
        )
    )
    if unescalated:
        problems.append(f"{len(unescalated)} breaches not escalated: {_examples(unescalated)}")
    if dup_events:
        problems.append(
            f"escalation events emitted twice: {evidence.escalations.described(dup_events)}"
        )
    if twice_raised:
        problems.append(
            f"{len(twice_raised)} (case, family) raised by several escalations: "
            f"{_examples(f'{k[0]}/{k[1]} by {sorted(evidence.raised[k])}' for k in twice_raised)}"
        )

    # The channel: every accepted reply posted once.
    if evidence.channel is not None:
        posts = evidence.channel
        unposted = sorted(r for r in answered if posts.posted[r] == 0)
        shown_twice = sorted(r for r in answered if posts.posted[r] > 1)
        reposts = sum(n - 1 for n in posts.raw_posts.values() if n > 1)
        strays = sorted(set(posts.posted) - set(answered))
        rows.append(
            Row(
                "replies → channel posts",
                expected=len(answered),
                found=len(answered) - len(unposted),
                lost=len(unposted),
                duplicated=len(shown_twice),
                redelivered=reposts,
            )
        )
        if unposted:
            settled = [dict(evidence.deliveries[r]) for r in unposted if evidence.deliveries.get(r)]
            problems.append(
                f"{len(unposted)} accepted replies never posted to the channel: "
                f"{_examples(unposted)}; deliveries of them: {_examples(settled)}"
            )
        if shown_twice:
            problems.append(f"{len(shown_twice)} replies posted twice: {_examples(shown_twice)}")
        if reposts > expect.reply_window:
            problems.append(
                f"{reposts} raw re-posts to the channel, more than the documented crash window "
                f"allows ({expect.reply_window})"
            )
        elif reposts:
            notes.append(
                f"{reposts} raw re-posts to the channel (same Idempotency-Key), within the "
                f"documented crash window of the connectors ({expect.reply_window}): the "
                "channel answered them from its memory of the key; a channel that ignores "
                "the key would have shown these replies twice"
            )
        if strays:
            notes.append(f"{len(strays)} channel posts of replies the workload did not send")

    # Search: every accepted message indexed.
    if evidence.search_error:
        problems.append(evidence.search_error)
    unindexed = sorted(accepted_ids - evidence.searched)
    rows.append(
        Row(
            "search (messages index)",
            expected=len(accepted_ids),
            found=len(accepted_ids & evidence.searched),
            lost=len(unindexed),
        )
    )
    if unindexed:
        problems.append(f"{len(unindexed)} accepted messages not in search: {_examples(unindexed)}")
    if evidence.search_inbound_total and evidence.search_inbound_total != len(
        accepted_ids & evidence.searched
    ):
        notes.append(
            f"search holds {evidence.search_inbound_total} inbound messages in all, "
            f"{len(accepted_ids & evidence.searched)} of them accepted in this run"
        )
    if evidence.unreadable:
        problems.append(f"unreadable records: {dict(evidence.unreadable)}")
    return AuditReport(rows, problems, notes)


# -- waiting for the pipeline to drain --------------------------------------------------
def topic_ends(bus: Bus, topics: Sequence[str] = AUDITED_TOPICS) -> dict[str, int]:
    """Records written so far per topic (the sum of its partitions' end offsets)."""
    ends: dict[str, int] = {}
    for topic in topics:
        try:
            count = bus.partition_count(topic)
            ends[topic] = sum(bus.end_offsets(topic, list(range(count))).values())
        except UnknownTopicError:  # not created yet: nothing written
            ends[topic] = 0
    return ends


def settle(
    bus: Bus,
    complete: Callable[[], bool],
    *,
    quiet_s: float = 6.0,
    timeout_s: float = 120.0,
    topics: Sequence[str] = AUDITED_TOPICS,
) -> float:
    """Wait until no audited topic grew for `quiet_s` and `complete()` holds, or until
    `timeout_s`; returns the seconds waited. `complete` is asked only when the topics are
    quiet (it may be expensive: a full `collect`). Not an assertion: the audit that
    follows says what is missing."""
    started = time.monotonic()
    last = topic_ends(bus, topics)
    quiet_since = time.monotonic()
    while time.monotonic() - started < timeout_s:
        time.sleep(1.0)
        now = topic_ends(bus, topics)
        if now != last:
            last, quiet_since = now, time.monotonic()
            continue
        if time.monotonic() - quiet_since >= quiet_s and complete():
            break
    return time.monotonic() - started
