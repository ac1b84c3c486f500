#!/usr/bin/env python3
"""The sla service's timers at a million clocks: insert rate, bytes per clock, fire lag,
rebuild time, and exactly-once breaches across a restart. Figures, never assertions.

In one run:
* insert: `--clocks` open cases (one running first-response clock each, warnings at 0.75
  and 0.9: three timers per clock) through `SlaBook.on_case`, timed on the book call only;
  then firing them all (`SlaBook.due` ticking through the hour they fall due in);
* memory: the same clocks in a fresh book under tracemalloc (everything the book holds:
  ids, arrays, interned tables, the timer wheel), next to a BASELINE holding the same timers
  the plain way (a dict of case id -> __slots__ object with datetimes, and a heapq of
  (datetime, case id, milestone) tuples), also under tracemalloc; `--both-clocks` adds
  the same with a resolution clock on every case (bytes per case and per clock);
* fire lag: `--lag-clocks` clocks due over the next few seconds of real time, fired by a
  loop that ticks like the consumer loop on an idle partition (sleep poll_timeout_s = 0.2 s,
  then tick): lag = wall time the event is built - its instant; p50 / p99 / max;
* rebuild: `--rebuild-clocks` cases written to care.cases on the embedded bus (4
  partitions) and a full tail (TAIL_RECORDS events per partition) to care.sla, then
  `SlaProcessor.assigned` of all partitions (replay + restore), timed without the tail
  (`tail_records=0`) and with it (the tail's ids read too);
* restart: `--restart-clocks` cases breaching over one hour of simulated time, on the
  embedded bus (care.cases and care.sla, 4 partitions); every tick's breaches are published
  to care.sla and routing applies them to the case one tick later (as it does, from
  care.sla); half-way the sla process dies in its last tick's flush: half of that tick's
  breaches reached care.sla, the rest were lost, and the previous tick's are published but
  not applied. A new process rebuilds (changelog, then the tail of care.sla) and ticks on.
  The ids are counted on care.sla itself. Prints breaches expected, distinct breach ids on
  care.sla, and "published twice: N" — with the default tail, and again with no tail
  (`tail_records=0`: what the tail closes).

`python bench/sla_timers.py [--clocks 1000000] [--lag-clocks 20000]
    [--rebuild-clocks 200000] [--restart-clocks 100000] [--both-clocks]`
"""

from __future__ import annotations

import argparse
import gc
import heapq
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "services")]

from socialcare.core.bus import TopicPartition  # noqa: E402
from socialcare.core.bus.embedded import EmbeddedBus  # noqa: E402
from socialcare.core.clock import to_timestamp  # noqa: E402
from socialcare.core.domain.care_config import load_care_config  # noqa: E402
from socialcare.core.domain.topics import Topic  # noqa: E402
from socialcare.core.effects import Emit, publish_effects  # noqa: E402
from socialcare.core.events import decode  # noqa: E402
from socialcare.sla.domain import SlaBook, sla_event_id  # noqa: E402
from socialcare.sla.processor import TAIL_RECORDS, SlaProcessor  # noqa: E402
from socialcare.v1 import case_pb2, message_pb2, sla_pb2  # noqa: E402

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
PARTITIONS = 4
HOUR = 3600.0


def clock(kind: int, started: datetime, target: float, warnings: bool) -> case_pb2.SlaClock:
    thresholds = [0.75, 0.9] if warnings else []
    return case_pb2.SlaClock(
        policy="en-1h",
        kind=kind,  # type: ignore[arg-type]
        cycle=1,
        state=case_pb2.SLA_STATE_RUNNING,
        target_seconds=target,
        warning_thresholds=thresholds,
        started_at=to_timestamp(started),
        run_started_at=to_timestamp(started),
        due_at=to_timestamp(started + timedelta(seconds=target)),
        warning_at=[to_timestamp(started + timedelta(seconds=t * target)) for t in thresholds],
    )


def case_event(
    number: int, started: datetime, *, resolution: bool = False, warnings: bool = True
) -> case_pb2.CaseEvent:
    """Case `number`: opened at `started`, unassigned, a 1 h first-response clock."""
    case = case_pb2.Case(
        id=f"{number:020x}",
        version=1,
        status=case_pb2.CASE_STATUS_OPEN,
        language=("en", "nl", "de", "fr")[number % 4],
        channel=message_pb2.CHANNEL_X,
        queue=("care-en", "care-nl", "care-de", "care-fr")[number % 4],
        priority=("low", "normal", "high", "urgent")[number % 4],
        brand="acme",
        customer_tier="standard",
    )
    case.sla.CopyFrom(clock(case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE, started, HOUR, warnings))
    if resolution:
        case.resolution_sla.CopyFrom(
            clock(case_pb2.SLA_CLOCK_KIND_RESOLUTION, started, 24 * HOUR, warnings)
        )
    return case_pb2.CaseEvent(event_id=f"e-{number}", case=case)


def stream(count: int, *, resolution: bool = False) -> Iterator[case_pb2.CaseEvent]:
    """`count` openings spread over one hour (the same template, changed in place: the book
    keeps nothing of the message, so this measures the book, not protobuf allocation)."""
    template = case_event(0, T0, resolution=resolution)
    case = template.case
    clocks = [case.sla] + ([case.resolution_sla] if resolution else [])
    for number in range(count):
        started = T0 + timedelta(seconds=HOUR * number / count)
        case.id = f"{number:020x}"
        for sla in clocks:
            sla.started_at.FromDatetime(started)
            sla.run_started_at.FromDatetime(started)
            sla.due_at.FromDatetime(started + timedelta(seconds=sla.target_seconds))
            for index, threshold in enumerate(sla.warning_thresholds):
                sla.warning_at[index].FromDatetime(
                    started + timedelta(seconds=threshold * sla.target_seconds)
                )
        yield template


def insert(count: int) -> tuple[SlaBook, float]:
    book = SlaBook()
    spent = 0.0
    for event in stream(count):
        started = time.perf_counter()
        book.on_case(event)
        spent += time.perf_counter() - started
    return book, spent


def fire_all(book: SlaBook) -> tuple[int, float]:
    """Tick every 10 simulated seconds through the hours the timers fall in."""
    fired, spent = 0, 0.0
    now = T0
    while book.pending_timers():
        now += timedelta(seconds=10)
        started = time.perf_counter()
        fired += len(book.due(now))
        spent += time.perf_counter() - started
    return fired, spent


@dataclass(slots=True)
class PlainClock:
    """The baseline's per-case record (what the previous book kept, plus warning times)."""

    case_id: str
    language: str
    channel: int
    queue: str
    priority: str
    assignee: str
    policy: str
    started_at: datetime
    due_at: datetime
    warning_at: list[datetime]
    warned: int
    breached: bool


def baseline(count: int) -> None:
    clocks: dict[str, PlainClock] = {}
    heap: list[tuple[datetime, str, int]] = []
    for event in stream(count):
        case, sla = event.case, event.case.sla
        warnings = [w.ToDatetime(tzinfo=UTC) for w in sla.warning_at]
        due = sla.due_at.ToDatetime(tzinfo=UTC)
        clocks[case.id] = PlainClock(
            case.id,
            case.language,
            case.channel,
            case.queue,
            case.priority,
            case.assignee,
            sla.policy,
            sla.started_at.ToDatetime(tzinfo=UTC),
            due,
            warnings,
            0,
            False,
        )
        for index, instant in enumerate(warnings):
            heapq.heappush(heap, (instant, case.id, index))
        heapq.heappush(heap, (due, case.id, 15))
    current, _ = tracemalloc.get_traced_memory()
    print(f"  baseline dict+heapq: {current / count:,.0f} B per clock ({len(heap):,} heap entries)")


def memory(count: int, *, resolution: bool) -> None:
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    book = SlaBook()
    for event in stream(count, resolution=resolution):
        book.restore(event)
    current, _ = tracemalloc.get_traced_memory()
    per_case = (current - before) / count
    clocks = count * (2 if resolution else 1)
    print(
        f"  book ({'response + resolution' if resolution else 'response'} clock per case): "
        f"{per_case:,.0f} B per case, {(current - before) / clocks:,.0f} B per clock "
        f"({book.pending_timers():,} timers)"
    )
    del book
    tracemalloc.stop()


def fire_lag(count: int, poll_timeout_s: float = 0.2) -> None:
    now = datetime.now(UTC)
    book = SlaBook()
    start = now + timedelta(seconds=1)
    for number in range(count):
        # Breaches only (warnings at 0.75/0.9 of a 2 s target land within the same span).
        due = start + timedelta(seconds=4 * number / count)
        event = case_event(number, due - timedelta(seconds=2), warnings=False)
        event.case.sla.target_seconds = 2
        event.case.sla.due_at.CopyFrom(to_timestamp(due))
        book.on_case(event)
    lags: list[float] = []
    while book.pending_timers():
        time.sleep(poll_timeout_s)  # an empty poll
        for fired in book.due(datetime.now(UTC)):
            emitted = time.time()
            lags.append(emitted - fired.occurred_at.ToDatetime(tzinfo=UTC).timestamp())
    lags.sort()
    print(
        f"fire lag ({count:,} breaches over 4 s, tick after each {poll_timeout_s} s poll): "
        f"p50 {statistics.median(lags) * 1000:.0f} ms, "
        f"p99 {lags[int(len(lags) * 0.99) - 1] * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms"
    )


def rebuild(count: int) -> None:
    care = load_care_config()
    with tempfile.TemporaryDirectory() as directory:
        bus = EmbeddedBus(Path(directory), default_partitions=PARTITIONS, sync="normal")
        try:
            bus.create_topics([Topic.CASES.value], PARTITIONS, compacted=True)
            producer = bus.producer("routing")
            started = time.perf_counter()
            for chunk in range(0, count, 10_000):
                publish_effects(
                    producer,
                    [
                        Emit(Topic.CASES, case_event(n, T0 + timedelta(seconds=n % 3600)))
                        for n in range(chunk, min(count, chunk + 10_000))
                    ],
                    source="routing",
                )
                producer.flush()
            written = time.perf_counter() - started
            # A full tail on care.sla: TAIL_RECORDS events per partition (on average).
            bus.create_topics([Topic.SLA.value], PARTITIONS)
            for chunk in range(0, TAIL_RECORDS * PARTITIONS, 10_000):
                publish_effects(
                    producer,
                    [
                        Emit(Topic.SLA, breach_event(n % count))
                        for n in range(chunk, chunk + 10_000)
                    ],
                    source="sla",
                )
                producer.flush()
            producer.close()
            everything = frozenset(TopicPartition(Topic.CASES, p) for p in range(PARTITIONS))
            took: dict[int, float] = {}
            for tail_records in (0, TAIL_RECORDS):
                processor = SlaProcessor(care, bus, lambda: T0, tail_records=tail_records)
                started = time.perf_counter()
                processor.assigned(everything)
                took[tail_records] = time.perf_counter() - started
            cases = sum(len(book) for book in processor.books.values())
            tail = sum(book.published_ids() for book in processor.books.values())
            print(
                f"rebuild: {cases:,} clocks from care.cases on the embedded bus in "
                f"{took[0]:.1f} s ({cases / took[0]:,.0f} clocks/s; writing them took "
                f"{written:.1f} s); with the tail of care.sla (tail_records={TAIL_RECORDS:,}: "
                f"{tail:,} ids) {took[TAIL_RECORDS]:.1f} s"
            )
        finally:
            bus.close()


def breach_event(number: int) -> sla_pb2.SlaEvent:
    """The BREACHED of case `number`'s first-response clock (as care.sla carries it)."""
    case_id = f"{number:020x}"
    kind = case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE
    return sla_pb2.SlaEvent(
        event_id=sla_event_id(case_id, kind, 1, "breached"),
        type=sla_pb2.SLA_EVENT_TYPE_BREACHED,
        case_id=case_id,
        clock=kind,
        cycle=1,
        policy="en-1h",
        language="en",
        queue="care-en",
        target_seconds=HOUR,
        business_seconds=HOUR,
    )


def breaches(effects: Sequence[Emit]) -> list[sla_pb2.SlaEvent]:
    found = []
    for effect in effects:
        assert isinstance(effect.message, sla_pb2.SlaEvent)
        assert effect.message.type == sla_pb2.SLA_EVENT_TYPE_BREACHED
        found.append(effect.message)
    return found


def restart(count: int, tail_records: int = TAIL_RECORDS) -> None:
    """Breaches over one simulated hour, routing applying them one tick late, the sla
    process dying half-way during its last tick's flush; ids counted on care.sla."""
    care = load_care_config()
    with tempfile.TemporaryDirectory() as directory:
        bus = EmbeddedBus(Path(directory), default_partitions=PARTITIONS, sync="normal")
        try:
            bus.create_topics([Topic.CASES.value], PARTITIONS, compacted=True)
            bus.create_topics([Topic.SLA.value], PARTITIONS)
            producer = bus.producer("routing")
            sla_producer = bus.producer("sla")
            openings: dict[str, case_pb2.CaseEvent] = {}
            for chunk in range(0, count, 10_000):
                events = [
                    case_event(n, T0 + timedelta(seconds=HOUR * n / count), warnings=False)
                    for n in range(chunk, min(count, chunk + 10_000))
                ]
                openings.update((e.case.id, e) for e in events)
                publish_effects(producer, [Emit(Topic.CASES, e) for e in events], source="r")
                producer.flush()
            everything = frozenset(TopicPartition(Topic.CASES, p) for p in range(PARTITIONS))
            now = [T0]

            def publish(effects: Sequence[Emit]) -> list[sla_pb2.SlaEvent]:
                """The sla loop: its tick's effects to care.sla, flushed."""
                publish_effects(sla_producer, effects, source="sla")
                sla_producer.flush()
                return breaches(effects)

            def apply(breaches: list[sla_pb2.SlaEvent]) -> list[case_pb2.CaseEvent]:
                """Routing: the breached snapshot of each case (version 2)."""
                applied = []
                for breach in breaches:
                    event = case_pb2.CaseEvent()
                    event.CopyFrom(openings[breach.case_id])
                    event.case.version = 2
                    event.case.sla.state = case_pb2.SLA_STATE_BREACHED
                    event.case.applied_ids.append(breach.event_id)
                    applied.append(event)
                publish_effects(producer, [Emit(Topic.CASES, e) for e in applied], source="r")
                producer.flush()
                return applied

            first = SlaProcessor(care, bus, lambda: now[0], tail_records=tail_records)
            first.assigned(everything)
            ticks = 360  # every 10 s over the hour the clocks fall due in
            death = ticks // 2
            pending: list[sla_pb2.SlaEvent] = []
            for number in range(1, death + 1):
                now[0] = T0 + timedelta(seconds=HOUR + 10 * number)
                fired = first.tick()
                if number == death:
                    # Dies in this tick's flush: the first half reached care.sla, the rest
                    # was lost; `pending` (the previous tick's) is published, not applied.
                    publish(fired[: len(fired) // 2])
                    break
                apply(pending)  # routing applies what the previous tick published
                pending = publish(fired)
            unapplied = len(pending) + len(fired) // 2
            second = SlaProcessor(care, bus, lambda: now[0], tail_records=tail_records)
            started = time.perf_counter()
            second.assigned(everything)
            took = time.perf_counter() - started
            tail = sum(book.published_ids() for book in second.books.values())
            for number in range(death, ticks + 60):
                now[0] = T0 + timedelta(seconds=HOUR + 10 * number)
                apply(publish(second.tick()))
            sla_producer.close()
            producer.close()
            expected = {
                sla_event_id(case_id, case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE, 1, "breached")
                for case_id in openings
            }
            counts = Counter(
                decode(record, sla_pb2.SlaEvent).event_id for record in bus.replay(Topic.SLA.value)
            )
            twice = sum(1 for n in counts.values() if n > 1)
            print(
                f"restart half-way ({count:,} clocks, tail_records={tail_records:,}: "
                f"rebuild {took:.1f} s, {tail:,} ids in the tail; {unapplied:,} breaches "
                f"published but unapplied at the death): expected {len(expected):,} "
                f"breaches, {len(counts):,} distinct ids on care.sla "
                f"({'none lost' if set(counts) == expected else 'MISMATCH'}), "
                f"published twice: {twice:,}, "
                f"more often: {sum(1 for n in counts.values() if n > 2)}"
            )
        finally:
            bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clocks", type=int, default=1_000_000)
    parser.add_argument("--lag-clocks", type=int, default=20_000)
    parser.add_argument("--rebuild-clocks", type=int, default=200_000)
    parser.add_argument("--restart-clocks", type=int, default=100_000)
    parser.add_argument("--both-clocks", action="store_true")
    args = parser.parse_args()

    book, spent = insert(args.clocks)
    print(
        f"insert: {args.clocks:,} clocks ({book.pending_timers():,} timers) via SlaBook.on_case "
        f"in {spent:.1f} s: {args.clocks / spent:,.0f} clocks/s, "
        f"{book.pending_timers() / spent:,.0f} timers/s"
    )
    fired, spent = fire_all(book)
    print(f"fire: {fired:,} events in {spent:.1f} s: {fired / spent:,.0f} events/s")
    del book
    print(f"memory at {args.clocks:,} cases (tracemalloc):")
    memory(args.clocks, resolution=False)
    if args.both_clocks:
        memory(args.clocks, resolution=True)
    gc.collect()
    tracemalloc.start()
    baseline(args.clocks)
    tracemalloc.stop()
    fire_lag(args.lag_clocks)
    if args.rebuild_clocks:
        rebuild(args.rebuild_clocks)
    if args.restart_clocks:
        restart(args.restart_clocks)
        restart(args.restart_clocks, tail_records=0)  # what the tail closes


if __name__ == "__main__":
    main()
