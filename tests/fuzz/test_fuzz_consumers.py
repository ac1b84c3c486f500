"""Fuzzing every consumer loop with malformed records, through the real loop, on the
embedded bus (issue 14, "bad input everywhere").

The loops are not listed here: they are whatever `socialcare run all` would run, every
service's `parts(runtime)` (`cli.assemble`), so a new consumer is fuzzed as soon as a service
wires it. Every topic those loops read gets, before the loops start, a valid record and then
each malformed record `records.poison` makes from it (another topic's message, truncated
and random bytes, an empty value, missing and garbled headers, huge values, invalid UTF-8,
a missing or wrong key, tombstones), each one followed by a fresh valid record. Then every
loop starts (rebuilding its partitions' state over the poisoned topics, as a restart would),
and for every loop and every record on its topics:

* a valid record is processed (the processor returned its effects), never dead-lettered;
* a record that does not decode as its topic's type is refused as invalid and is in
  `<topic>.dlq` exactly once, from that loop's group, with a reason;
* any other malformed record is processed, or refused and dead-lettered once with a reason;
* no processor raised anything but `InvalidRecordError` (a crash would be retried and
  dead-lettered as "processing failed": a bug), no record the platform itself produced on
  the way was dead-lettered, and every loop's thread is alive and running.

Then every loop is stopped and started again on the same log (their state rebuilt from the
poisoned topics once more) and must process a fresh valid record per topic.

The counts per consumer group (records sent, processed, dead-lettered with a reason,
crashes) are printed: `pytest tests/fuzz/test_fuzz_consumers.py -s`.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from socialcare.cli import SERVICES, assemble
from socialcare.core.bus import Bus, Headers, Record, TopicPartition
from socialcare.core.config import PlatformSettings
from socialcare.core.consumer_loop import LoopState
from socialcare.core.domain.topics import Topic, dlq_of
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError
from socialcare.core.runtime import LoopComponent, Runtime
from tests.fuzz.records import BUILDERS, Expect, Outgoing, known_case, poison, record_of, valid

EFFECT_TOO_LARGE = re.compile(
    r"its effect on \S+ is [\d,]+ bytes, over the bus's [\d,]+-byte record limit"
)
"""The consumer loop's reason for a record processed but whose effect the bus refused for
its size (core/consumer_loop.py): dead-lettered once, it is not a problem."""

WAIT_S = 240.0
"""Upper bound for the loops to get through the corpus (normally a few seconds)."""

Slot = tuple[str, int, int]  # topic, partition, offset


@dataclass
class Observed:
    """What one loop's processor did with each record, by (topic, partition, offset):
    "ok", "invalid: <reason>" or "crash: <error>", once per attempt."""

    outcomes: dict[Slot, list[str]] = field(default_factory=lambda: defaultdict(list))

    def wrap(self, loop: LoopComponent) -> None:
        """Observe `loop`'s processor: its `process` is replaced by one that records the
        outcome and then returns or raises exactly what the processor did."""
        processor = loop.loop._processor
        original: Callable[[Record], Sequence[Emit]] = processor.process

        def process(record: Record) -> Sequence[Emit]:
            slot = (record.topic, record.partition, record.offset)
            try:
                effects = original(record)
            except InvalidRecordError as exc:
                self.outcomes[slot].append(f"invalid: {exc}")
                raise
            except Exception as exc:
                self.outcomes[slot].append(f"crash: {type(exc).__name__}: {exc}")
                raise
            self.outcomes[slot].append("ok")
            return effects

        setattr(processor, "process", process)  # noqa: B010 (mypy: assigning to a method)


def open_runtime(data_dir: Path) -> Runtime:
    return Runtime(
        PlatformSettings(
            data_dir=data_dir,
            topic_partitions=2,
            embedded_sync="normal",
            ingest_grpc_port=0,
            # Nothing but the consumer loops is started; these addresses are never bound.
            case_grpc_address="127.0.0.1:1",
            sla_grpc_address="127.0.0.1:1",
        )
    )


def every_loop(runtime: Runtime) -> list[LoopComponent]:
    """Every consumer loop `socialcare run all` runs, from the services' own wiring."""
    parts = assemble(runtime, list(SERVICES))
    return [c for c in parts.components if isinstance(c, LoopComponent)]


@contextmanager
def running(loops: Sequence[LoopComponent]) -> Iterator[None]:
    for loop in loops:
        loop.start()
    try:
        yield
    finally:
        for loop in loops:
            loop.stop()
        for loop in loops:
            loop.join(30.0)


def send(bus: Bus, plan: dict[Topic, list[Outgoing]]) -> dict[Slot, Outgoing]:
    """Write `plan` to the bus; where each record landed, found by its content (a key
    decides the partition, so the offsets are read back rather than predicted)."""
    producer = bus.producer("fuzz")
    try:
        for topic, records in plan.items():
            for r in records:
                if r.value is None:
                    assert r.key is not None
                    producer.tombstone(topic.value, key=r.key, headers=r.headers)
                else:
                    producer.send(topic.value, r.value, key=r.key, headers=r.headers)
        producer.flush()
    finally:
        producer.close()
    by_content: dict[tuple[bytes | None, bytes | None, Headers], Outgoing] = {}
    for topic, records in plan.items():
        for r in records:
            assert (r.key, r.value, r.headers) not in by_content, f"{topic}: two records alike"
            by_content[(r.key, r.value, r.headers)] = r
    where: dict[Slot, Outgoing] = {}
    for record in read_all(bus, [t.value for t in plan]):
        content = (record.key, None if record.tombstone else record.value, record.headers)
        if content in by_content:
            where[(record.topic, record.partition, record.offset)] = by_content[content]
    lost = [(t, r.kind) for t, rs in plan.items() for r in rs if r not in where.values()]
    assert not lost, f"records sent but not found: {lost}"
    return where


def read_all(bus: Bus, topics: Sequence[str]) -> Iterator[Record]:
    """Every record of `topics` as a consumer reads them, in a group of its own (not
    `Bus.replay`, which compacts a compacted topic before a loop has read it). It reads
    until it owns every partition (on Kafka, joining the group takes a few polls) and has
    no lag left."""
    consumer = bus.consumer(f"fuzz-reader-{uuid.uuid4().hex}", topics, client_id="fuzz")
    every = {TopicPartition(t, p) for t in topics for p in range(bus.partition_count(t))}
    deadline = time.monotonic() + WAIT_S
    try:
        while True:
            records = consumer.poll(1000, 0.5)
            yield from records
            if records or consumer.assignment() != every:
                assert time.monotonic() < deadline, f"not assigned {every - consumer.assignment()}"
                continue
            if not any(consumer.lag().values()):
                return
    finally:
        consumer.close()


def corpus(topics: Sequence[Topic]) -> dict[Topic, list[Outgoing]]:
    """Per topic: a valid record, then each poison record followed by a valid one. The
    case that valid commands are about (`KNOWN_CASE`) is opened on care.cases first."""
    plan: dict[Topic, list[Outgoing]] = {Topic.CASES: [record_of(Topic.CASES, known_case())]}
    n = 0
    for i, topic in enumerate(topics):
        other = topics[(i + 1) % len(topics)] if len(topics) > 1 else Topic.CASES
        n += 1
        sample = valid(topic, n)
        records = plan.setdefault(topic, [])
        records.append(record_of(topic, sample))
        fresh = (valid(topic, n * 1000 + k) for k in itertools.count(1))
        for bad in poison(topic, fresh.__next__, (other, valid(other, n)), seed=n):
            n += 1
            records += [bad, record_of(topic, valid(topic, n))]
    return plan


def dead_letters(bus: Bus, topics: Sequence[Topic]) -> dict[tuple[str, Slot], list[str]]:
    """(group, original slot) -> the reasons of its records in the topics' DLQs."""
    found: dict[tuple[str, Slot], list[str]] = defaultdict(list)
    for topic in topics:
        for record in bus.replay(dlq_of(topic.value)):
            group = (record.header("dlq-consumer-group") or b"").decode()
            slot = (
                (record.header("dlq-original-topic") or b"").decode(),
                int(record.header("dlq-original-partition") or b"-1"),
                int(record.header("dlq-original-offset") or b"-1"),
            )
            found[(group, slot)].append((record.header("dlq-reason") or b"").decode())
    return found


def wait_until(
    done: Callable[[], bool], loops: Sequence[LoopComponent], wait_s: float = WAIT_S
) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and not done():
        if not all(loop.alive for loop in loops):
            return  # the checks say which one died
        time.sleep(0.1)


@dataclass
class Tally:
    """One consumer group's figures."""

    sent: int = 0
    malformed: int = 0
    processed: int = 0
    dead_lettered: int = 0
    crashes: int = 0
    problems: list[str] = field(default_factory=list)


def judge(
    loop: LoopComponent,
    observed: Observed,
    where: dict[Slot, Outgoing],
    dlq: dict[tuple[str, Slot], list[str]],
) -> Tally:
    """The checks of the module docstring for one loop."""
    group, tally = loop.name, Tally()
    mine = {slot: out for slot, out in where.items() if slot[0] in loop.loop.topics}
    for slot, outs in observed.outcomes.items():
        crashed = [o for o in outs if o.startswith("crash")]
        tally.crashes += len(crashed)
        if crashed:
            what = mine[slot].kind if slot in mine else "a record the platform produced"
            tally.problems.append(f"{group} {slot} ({what}): {crashed[0]}")
    for (dlq_group, slot), reasons in dlq.items():
        if dlq_group == group and slot not in mine:
            tally.problems.append(
                f"{group} dead-lettered {slot}, which the platform produced: {reasons}"
            )
    for slot, out in mine.items():
        tally.sent += 1
        tally.malformed += out.expect is not Expect.PROCESS
        outs = observed.outcomes.get(slot, [])
        reasons = dlq.get((group, slot), [])
        refused = [o for o in outs if o.startswith("invalid")]
        name = f"{group} {slot} {out.kind!r}"
        if not outs:
            tally.problems.append(f"{name}: never processed")
            continue
        if "ok" in outs:
            tally.processed += 1
        if reasons:
            tally.dead_lettered += 1
        if out.expect is Expect.PROCESS and (refused or reasons):
            tally.problems.append(f"{name}: a valid record was refused: {refused} {reasons}")
        elif out.expect is Expect.MUST_DEAD_LETTER and not refused:
            tally.problems.append(f"{name}: does not decode, yet was processed")
        if refused and (len(reasons) != 1 or not reasons[0]):
            tally.problems.append(f"{name}: refused, dead-lettered {len(reasons)}x: {reasons}")
        if (
            not refused
            and reasons
            and not (len(reasons) == 1 and EFFECT_TOO_LARGE.fullmatch(reasons[0]))
        ):
            tally.problems.append(f"{name}: processed and dead-lettered: {reasons}")
    if not loop.alive or loop.loop.state is not LoopState.RUNNING:
        tally.crashes += 1
        tally.problems.append(f"{group}: thread alive {loop.alive}, state {loop.loop.state}")
    return tally


def consumed(loops: Sequence[LoopComponent]) -> list[Topic]:
    return sorted({Topic(t) for loop in loops for t in loop.loop.topics})


def test_every_consumer_loop_survives_poison_records(tmp_path: Path) -> None:
    tallies = fuzz_every_loop(lambda: open_runtime(tmp_path))
    report(tallies)
    check(tallies)


def fuzz_every_loop(
    opened: Callable[[], Runtime],
    prepare: Callable[[Runtime, dict[Topic, list[Outgoing]]], object] = lambda _r, _p: None,
    wait_s: float = WAIT_S,
) -> dict[str, Tally]:
    """The checks of the module docstring on the backends of `opened()` (called twice: the
    second runtime is the restart, on the same data dir and bus). `prepare` may take the
    records out of the corpus that this bus must refuse at produce time (it sees the
    runtime before any is sent). `wait_s` bounds each wait for the loops (a loop stuck on
    a record shows as records never processed). The figures per group; problems of the
    first pass are in them (`check`), a restart's fail at once."""
    runtime = opened()
    try:
        loops = every_loop(runtime)
        assert loops, "no consumer loop found"
        topics = consumed(loops)
        missing = [t.value for t in topics if t not in BUILDERS]
        assert not missing, f"no valid sample for consumed topics {missing} (records.BUILDERS)"
        plan = corpus(topics)
        prepare(runtime, plan)
        where = send(runtime.bus, plan)
        watched = {loop.name: Observed() for loop in loops}
        for loop in loops:
            watched[loop.name].wrap(loop)
        with running(loops):

            def seen_all() -> bool:
                return all(
                    slot in watched[loop.name].outcomes
                    for loop in loops
                    for slot in where
                    if slot[0] in loop.loop.topics
                )

            wait_until(seen_all, loops, wait_s)
            expected_dead = {
                (loop.name, slot)
                for loop in loops
                for slot, outs in watched[loop.name].outcomes.items()
                if any(o.startswith("invalid") for o in outs)
            }
            wait_until(
                lambda: expected_dead <= dead_letters(runtime.bus, topics).keys(), loops, wait_s
            )
            dlq = dead_letters(runtime.bus, topics)
            tallies = {loop.name: judge(loop, watched[loop.name], where, dlq) for loop in loops}
    finally:
        runtime.close()
    if any(t.problems for t in tallies.values()):
        return tallies

    # Restart over the poisoned log: every loop rebuilds and processes a fresh record.
    runtime = opened()
    try:
        loops = every_loop(runtime)
        watched = {loop.name: Observed() for loop in loops}
        for loop in loops:
            watched[loop.name].wrap(loop)
        with running(loops):
            for loop in loops:
                assert loop.loop.ready.wait(60), f"{loop.name} did not start"
            fresh = {t: [record_of(t, valid(t, 10_000 + i))] for i, t in enumerate(topics)}
            where = send(runtime.bus, fresh)

            def processed_fresh() -> bool:
                return all(
                    "ok" in watched[loop.name].outcomes.get(slot, [])
                    for loop in loops
                    for slot in where
                    if slot[0] in loop.loop.topics
                )

            wait_until(processed_fresh, loops, wait_s)
            after = {
                loop.name: judge(loop, watched[loop.name], where, dead_letters(runtime.bus, []))
                for loop in loops
            }
    finally:
        runtime.close()
    problems = [p for t in after.values() for p in t.problems]
    assert not problems, "after a restart:\n" + "\n".join(problems)
    return tallies


def check(tallies: dict[str, Tally]) -> None:
    """No problem in any group, and every group dead-lettered something (its poison)."""
    problems = [p for t in tallies.values() for p in t.problems]
    assert not problems, "\n".join(problems)
    assert all(t.dead_lettered for t in tallies.values())


def report(tallies: dict[str, Tally]) -> None:
    """The figures per consumer group, for the notes: records sent on its topics (valid and
    malformed), processed, dead-lettered with a reason, crashes (a processor raising anything
    but InvalidRecordError, or a loop not running at the end)."""
    print("\nconsumer group          sent  malformed  processed  dead-lettered  crashes")
    rows = sorted(tallies.items())
    total = Tally()
    for group, t in rows:
        print(
            f"{group:<22} {t.sent:>5} {t.malformed:>10} {t.processed:>10} "
            f"{t.dead_lettered:>14} {t.crashes:>8}"
        )
        total.sent += t.sent
        total.malformed += t.malformed
        total.processed += t.processed
        total.dead_lettered += t.dead_lettered
        total.crashes += t.crashes
    print(
        f"{'all':<22} {total.sent:>5} {total.malformed:>10} {total.processed:>10} "
        f"{total.dead_lettered:>14} {total.crashes:>8}"
    )
