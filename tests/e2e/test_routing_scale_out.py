"""Routing as three processes in one consumer group on Kafka, one killed mid-stream.

The test plays ingestion + enrichment (enriched messages straight onto
social.messages.enriched) and the gateway (resolve commands onto care.commands), so the
only services are the three `socialcare run routing` processes. Customers write, agents
resolve what they are given, and halfway through the instance that runs the assigner is
killed with SIGKILL. Afterwards, from the topics themselves:

* every message is in exactly one case, and every case ends resolved;
* no case version was written twice with different content (no two owners at once);
* the assigner's changelog, replayed in its one total order, never gives a case two agents
  and never has an agent over capacity, and every assignment a case shows was granted by
  the assigner for that opening of the case;

and it prints the rebalances the survivors saw and the cases that changed instance.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from socialcare.core.bus import Bus, Consumer
from socialcare.core.bus.kafka import KafkaBus
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.cases import conversation_key
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.events import decode, derived_id
from socialcare.routing.domain import partition_of_case
from socialcare.v1 import case_pb2, commands_pb2, message_pb2, routing_pb2
from tests.e2e.platform import free_port

INSTANCES = 3
CUSTOMERS = 90
CAPACITY = 3
RESOLVED = case_pb2.CASE_STATUS_RESOLVED


@dataclass
class RoutingProcess:
    name: str
    http_port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    def ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.http_port}/readyz", timeout=1).is_success
        except httpx.HTTPError:
            return False

    def case_partitions(self) -> list[int]:
        """The case partitions this instance owns now, from its assignment log lines."""
        owned: set[int] = set()
        for line in self.log_lines():
            if line.get("group") != "routing":
                continue
            numbers = {
                int(entry.rpartition("[")[2].rstrip("]"))
                for entry in str(line.get("partitions", "")).split(", ")
                if entry.startswith(f"{Topic.MESSAGES_ENRICHED.value}[")
            }
            if line.get("msg") == "partitions assigned":
                owned |= numbers
            elif line.get("msg") == "partitions revoked":
                owned -= numbers
        return sorted(owned)

    def owns_partitions(self) -> bool:
        return any(line.get("msg") == "routing partitions rebuilt" for line in self.log_lines())

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
        return lines

    def tail(self, count: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-count:])


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def routing_instances(
    tmp_path: Path, kafka_bootstrap: str, run_id: str
) -> Iterator[list[RoutingProcess]]:
    care = tmp_path / "care.yaml"
    agents = "\n".join(
        f"  - {{id: agent-{run_id}-{i}, name: Agent {i}, languages: [en], capacity: {CAPACITY}}}"
        for i in range(INSTANCES)
    )
    care.write_text(
        "sla_policies:\n  - {name: en, languages: ['*'], first_response: 1h}\n"
        "queues:\n  - {name: care-all, languages: ['*']}\n"
        f"agents:\n{agents}\n"
        # Agents resolve what they are given: no customer here to confirm a resolution.
        "routing: {lifecycle: {confirm_resolution: false}}\n"
    )
    processes: list[RoutingProcess] = []
    for i in range(INSTANCES):
        port = free_port()
        env = {
            **os.environ,
            "SOCIALCARE_BUS": f"kafka://{kafka_bootstrap}",
            "SOCIALCARE_CARE_CONFIG": str(care),
            "SOCIALCARE_HTTP_PORT": str(port),
            "SOCIALCARE_CASE_GRPC_ADDRESS": f"127.0.0.1:{free_port()}",
            "SOCIALCARE_DATA_DIR": str(tmp_path / f"routing-{i}"),
        }
        log_path = tmp_path / f"routing-{i}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "socialcare.cli", "run", "routing"],
            env=env,
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        processes.append(RoutingProcess(f"routing-{i}", port, log_path, process))
    try:
        deadline = time.monotonic() + 90
        # Ready, and the group settled: with 3 members and 4 partitions each one owns some
        # (range assignment), so the kill below always takes partitions from a busy member.
        while not all(p.ready() and p.owns_partitions() for p in processes):
            for p in processes:
                assert p.process.poll() is None, f"{p.name} exited:\n{p.tail()}"
            assert time.monotonic() < deadline, "routing instances not ready and settled in 90 s"
            time.sleep(0.3)
        yield processes
    finally:
        for p in processes:
            if p.process.poll() is None:
                p.process.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.process.wait(30)
            except subprocess.TimeoutExpired:
                p.process.kill()
                p.process.wait()


def enriched(run_id: str, customer: int, sequence: int) -> message_pb2.EnrichedMessage:
    external_id = f"scale-{run_id}-{customer}-{sequence}"
    now = to_timestamp(datetime.now(UTC))
    message = message_pb2.SocialMessage(
        message_id=derived_id("x", external_id),
        channel=message_pb2.CHANNEL_X,
        external_id=external_id,
        author=message_pb2.Author(id=f"scale-{run_id}-{customer}", handle=f"@c{customer}"),
        text=f"Message {sequence} from customer {customer}: my order has not arrived.",
        created_at=now,
        received_at=now,
    )
    return message_pb2.EnrichedMessage(
        message=message,
        language="en",
        language_confidence=0.99,
        sentiment=message_pb2.Sentiment(score=-0.4, label=message_pb2.SENTIMENT_LABEL_NEGATIVE),
        conversation_key=conversation_key(message),
        enriched_at=now,
    )


class CaseWatcher:
    """Tails care.cases for this run's customers: the latest snapshot of each case."""

    def __init__(self, bus: Bus, run_id: str) -> None:
        self.prefix = f"scale-{run_id}-"
        self.consumer: Consumer = bus.consumer(f"watch-{run_id}", [Topic.CASES.value])
        self.latest: dict[str, case_pb2.Case] = {}

    def poll(self) -> None:
        for record in self.consumer.poll(1000, 0.3):
            if record.tombstone:
                continue  # a case another test erased on the shared broker
            event = decode(record, case_pb2.CaseEvent)
            case = event.case
            if not case.customer.id.startswith(self.prefix):
                continue
            known = self.latest.get(case.id)
            if known is None or case.version >= known.version:
                self.latest[case.id] = case


def resolve(case: case_pb2.Case, run_id: str) -> Emit:
    command = commands_pb2.AgentCommand(
        command_id=derived_id("scale-resolve", run_id, case.id, str(case.assignment_epoch)),
        case_id=case.id,
        resolve=commands_pb2.ResolveCase(agent=case.assignee),
    )
    return Emit(Topic.COMMANDS, command)


def test_three_routing_instances_keep_one_agent_per_case_and_capacity_across_a_kill(
    kafka_bootstrap: str, run_id: str, routing_instances: list[RoutingProcess]
) -> None:
    bus = KafkaBus(kafka_bootstrap)
    producer = bus.producer("scale-test")
    watcher = CaseWatcher(bus, run_id)
    resolved_commands: set[str] = set()
    sent: list[str] = []

    def send_messages(customers: range) -> None:
        effects = []
        for customer in customers:
            for sequence in range(2 if customer % 3 == 0 else 1):
                message = enriched(run_id, customer, sequence)
                sent.append(message.message.message_id)
                effects.append(Emit(Topic.MESSAGES_ENRICHED, message))
        publish_effects(producer, effects, source="scale-test")
        producer.flush()

    def resolve_assigned() -> None:
        """Agents resolve every case they hold (the gateway's role, as commands)."""
        effects = [
            resolve(case, run_id)
            for case in watcher.latest.values()
            if case.assignee and case.status != RESOLVED
        ]
        fresh = [e for e in effects if e.event_id not in resolved_commands]
        resolved_commands.update(e.event_id for e in fresh)
        if fresh:
            publish_effects(producer, fresh, source="scale-test")
            producer.flush()

    def drive(seconds: float, until: Any = None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            watcher.poll()
            resolve_assigned()
            if until is not None and until():
                return

    try:
        # The first third, then the rest in small batches, with the kill among them.
        send_messages(range(CUSTOMERS // 3))
        drive(
            60, until=lambda: sum(1 for c in watcher.latest.values() if c.status == RESOLVED) >= 8
        )
        batches = [range(s, min(s + 6, CUSTOMERS)) for s in range(CUSTOMERS // 3, CUSTOMERS, 6)]
        for batch in batches[:3]:
            send_messages(batch)
            drive(0.3)

        # Kill the instance that runs the assigner (the last to have rebuilt it).
        def last_assigner_rebuild(p: RoutingProcess) -> str:
            stamps = [line["ts"] for line in p.log_lines() if line.get("msg") == "assigner rebuilt"]
            return max(stamps, default="")

        victim = max(routing_instances, key=last_assigner_rebuild)
        victim_partitions = victim.case_partitions()
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        killed_at = time.monotonic()
        killed_ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "")
        for batch in batches[3:]:
            send_messages(batch)
            drive(0.3)

        def settled() -> bool:
            cases = list(watcher.latest.values())
            in_cases = {m.message_id for c in cases for m in c.messages}
            return set(sent) <= in_cases and all(c.status == RESOLVED for c in cases)

        drive(120, until=settled)
        settled_after = time.monotonic() - killed_at
        cases = list(watcher.latest.values())
        unplaced = set(sent) - {m.message_id for c in cases for m in c.messages}
        still_open = sum(1 for c in cases if c.status != RESOLVED)
        assert settled(), (
            f"not settled: {still_open} open cases, {len(unplaced)} messages in no case\n"
            + "\n".join(f"--- {p.name}\n{p.tail(15)}" for p in routing_instances)
        )
    finally:
        watcher.consumer.close()
        producer.close()

    # -- invariants, from the topics ----------------------------------------------------
    prefix = f"scale-{run_id}-"
    versions: dict[tuple[str, int], set[bytes]] = defaultdict(set)
    assigned_events: list[case_pb2.Case] = []
    latest: dict[str, case_pb2.Case] = {}
    for record in bus.replay(Topic.CASES):
        if record.tombstone:
            continue
        event = decode(record, case_pb2.CaseEvent)
        case = event.case
        if not case.customer.id.startswith(prefix):
            continue
        if event.type != case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED:
            snapshot = case_pb2.Case()
            snapshot.CopyFrom(case)
            snapshot.ClearField("updated_at")
            versions[(case.id, case.version)].add(snapshot.SerializeToString(deterministic=True))
        if event.type == case_pb2.CASE_EVENT_TYPE_ASSIGNED:
            assigned_events.append(case)
        if case.id not in latest or case.version >= latest[case.id].version:
            latest[case.id] = case

    # The customers' messages (resolving also sends the satisfaction question, outbound).
    owners_of_message = Counter(
        m.message_id
        for c in latest.values()
        for m in c.messages
        if m.direction == case_pb2.DIRECTION_INBOUND
    )
    assert set(owners_of_message) == set(sent)
    assert all(count == 1 for count in owners_of_message.values()), "a message in two cases"
    assert all(c.status == RESOLVED for c in latest.values())
    split = [key for key, contents in versions.items() if len(contents) > 1]
    assert not split, f"case versions written twice with different content: {split[:5]}"

    granted: set[tuple[str, int, str]] = set()
    for record in bus.replay(Topic.ASSIGNMENT_DECISIONS):
        decision = decode(record, routing_pb2.AssignmentDecision)
        if (
            decision.case_id in latest
            and decision.outcome == routing_pb2.ASSIGNMENT_OUTCOME_ASSIGNED
        ):
            granted.add((decision.case_id, decision.epoch, decision.agent))
    for case in assigned_events:
        assert (case.id, case.assignment_epoch, case.assignee) in granted, (
            f"case {case.id} shows {case.assignee} without a grant"
        )

    holder: dict[str, str] = {}
    peak: Counter[str] = Counter()
    for record in bus.replay(Topic.ASSIGNMENTS_CHANGELOG):
        if record.tombstone:
            continue
        holding = decode(record, routing_pb2.AssignmentHolding)
        if holding.case_id not in latest:
            continue
        holder.pop(holding.case_id, None)
        if holding.agent and not holding.released:
            holder[holding.case_id] = holding.agent
        load = Counter(holder.values())
        for agent, count in load.items():
            assert count <= CAPACITY, f"{agent} held {count} cases (capacity {CAPACITY})"
            peak[agent] = max(peak[agent], count)
    assert not holder, f"cases still held after all were resolved: {sorted(holder)[:5]}"

    # -- what the survivors saw -----------------------------------------------------------
    survivors = [p for p in routing_instances if p.process.poll() is None]
    rebalances = {
        p.name: sum(1 for line in p.log_lines() if line.get("msg") == "partitions assigned")
        for p in survivors
    }
    partitions = bus.partition_count(Topic.CASES)

    def after_kill(p: RoutingProcess, message: str) -> list[Any]:
        return [
            line.get("partitions", True)
            for line in p.log_lines()
            if line.get("msg") == message and str(line.get("ts", "")) >= killed_ts
        ]

    rebuilt_by = {p.name: after_kill(p, "routing partitions rebuilt") for p in survivors}
    taken_over = {n for rebuilt in rebuilt_by.values() for numbers in rebuilt for n in numbers}
    assigner_moved = [p.name for p in survivors if after_kill(p, "assigner rebuilt")]
    cases_per_partition = Counter(partition_of_case(c, partitions) for c in latest)
    print(
        f"\nrouting scale-out: {len(sent)} messages, {len(latest)} cases, "
        f"{len(assigned_events)} assignments, peak load {dict(peak)}; killed {victim.name} "
        f"(it owned case partitions {victim_partitions} and the assigner); settled "
        f"{settled_after:.1f} s after the kill; rebalances seen by survivors {rebalances}; "
        f"partitions rebuilt by survivors after the kill {rebuilt_by}, cases in them "
        f"{sum(cases_per_partition[n] for n in taken_over)}; assigner taken over by "
        f"{assigner_moved}; cases per partition {dict(sorted(cases_per_partition.items()))}"
    )
    assert taken_over, "no survivor took over a partition of the killed instance"
    assert len(assigner_moved) == 1, f"the assigner was rebuilt by {assigner_moved}"
    bus.close()
