#!/usr/bin/env python3
"""What taking over a partition costs routing, as history grows (embedded log).

Routing rebuilds a partition it is given from that partition of the compacted care.cases
changelog (ADR 0005). This writes the history of `--cases` cases with `--versions` case
events each (the full case after every change, as routing writes them), split over 4
partitions, and times the rebuild of one partition's case book three ways, in one run:

* baseline: replaying the same records from a topic that is not compacted (what a rebuild
  would cost if it read the whole history, as before ADR 0005);
* first rebuild of the compacted topic (it compacts the partition, then reads it);
* a later rebuild (the partition is already compact: the cost of the live state).

`--events N` (issue 11: goal <= 30 s for 1,000,000 case events) sizes the history by its
number of case events instead (N / versions cases) and rebuilds every partition, as one
instance taking over all of routing would; each rebuild then also reports events/s and its
peak RSS (each runs in a fresh child process, so the peaks are its own), and the history is
generated and written as a stream (never all in memory). `--profile` adds a cProfile of the
baseline rebuild (top functions by own time) to find what limits it, and a fourth row,
"newest per case", measures the proposed rebuild (see `rebuild(newest_only=True)`).

Figures, never assertions.
`python bench/rebuild.py [--cases 2000] [--versions 20]`
`python bench/rebuild.py --events 1000000 [--versions 20] [--profile]`
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "services")]

from socialcare.core.bus.embedded import EmbeddedBus  # noqa: E402
from socialcare.core.domain.care_config import load_care_config  # noqa: E402
from socialcare.core.domain.topics import Topic  # noqa: E402
from socialcare.core.events import decode, derived_id  # noqa: E402
from socialcare.routing.domain import CaseBook, case_id_for  # noqa: E402
from socialcare.v1 import case_pb2, message_pb2  # noqa: E402

PARTITIONS = 4


def history(cases: int, versions: int) -> Iterator[case_pb2.CaseEvent]:
    """Case events in the order routing would write them: a case grows by a message with each
    of its first versions (a conversation of up to 10 messages), later versions change its
    state, so snapshots have a realistic size however long the history."""
    for version in range(1, versions + 1):
        for number in range(cases):
            case = case_pb2.Case(
                id=case_id_for(f"message-{number}", number % PARTITIONS, PARTITIONS),
                status=case_pb2.CASE_STATUS_ASSIGNED,
                language="en",
                channel=message_pb2.CHANNEL_X,
                queue="care-en",
                assignee=f"agent{number % 20}",
                customer=message_pb2.Author(id=f"customer-{number}", handle=f"@c{number}"),
                conversation_key=f"x:author:customer-{number}",
                version=version,
                assignment_epoch=1,
            )
            for m in range(min(version, 10)):
                case.messages.append(
                    case_pb2.CaseMessage(
                        message_id=f"m-{number}-{m}",
                        direction=case_pb2.DIRECTION_INBOUND,
                        text="My parcel has still not arrived, could you please look into it?",
                    )
                )
            yield case_pb2.CaseEvent(
                event_id=derived_id("case-event", case.id, str(version)),
                type=case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED,
                case=case,
            )


def write(bus: EmbeddedBus, topics: list[str], events: Iterator[case_pb2.CaseEvent]) -> int:
    """The events on each of `topics`, keyed as on care.cases (the registry's key: the case
    id), in batches of 1000 (routing's producer flushes per poll); how many were written."""
    key = Topic.CASES.spec.key
    producer = bus.producer("bench")
    written = 0
    for event in events:
        value, record_key = event.SerializeToString(), key(event).encode()
        for topic in topics:
            producer.send(topic, value, key=record_key)
        written += 1
        if written % 1000 == 0:
            producer.flush()
    producer.flush()
    producer.close()
    return written


Row = tuple[float, int, int, int]


def rebuild(
    bus: EmbeddedBus, topic: str, partitions: list[int], *, newest_only: bool = False
) -> tuple[float, int, int]:
    """Seconds to rebuild the books of `partitions` (as CaseProcessor._rebuild does: decode
    every record of care.cases and restore it), records read, cases in the books.

    `newest_only`: the proposed rebuild -- keep the newest event of each case while reading
    (by version, as `restore` judges; a rejection repeats its case's version, so it never
    replaces the event it follows) and restore each case once at the end, so the book indexes
    each case once instead of once per version."""
    care = load_care_config()
    started = time.perf_counter()
    books = {n: CaseBook(care, n, PARTITIONS) for n in partitions}
    read = 0
    if newest_only:
        newest: dict[str, case_pb2.CaseEvent] = {}
        partition_of: dict[str, int] = {}
        for record in bus.replay(topic, partitions=partitions):
            if record.tombstone:
                continue
            event = decode(record, case_pb2.CaseEvent)
            read += 1
            known = newest.get(event.case.id)
            if known is None or event.case.version > known.case.version:
                newest[event.case.id] = event
                partition_of[event.case.id] = record.partition
        for case_id, event in newest.items():
            books[partition_of[case_id]].restore(event)
    else:
        for record in bus.replay(topic, partitions=partitions):
            if record.tombstone:
                continue
            books[record.partition].restore(decode(record, case_pb2.CaseEvent))
            read += 1
    # What CaseProcessor._rebuild does next: ask again for owners of the cases without one,
    # which first completes the books (a book indexes and schedules its restored cases once,
    # lazily, before its first input) -- part of the rebuild's cost.
    now = datetime.now(UTC)
    for book in books.values():
        book.pending_requests(now)
    return time.perf_counter() - started, read, sum(len(b.cases) for b in books.values())


def _child(
    answer: Connection,
    directory: str,
    topic: str,
    partitions: list[int],
    profile: bool,
    newest_only: bool,
) -> None:
    bus = EmbeddedBus(Path(directory), default_partitions=PARTITIONS, sync="normal")
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    seconds, read, cases = rebuild(bus, topic, partitions, newest_only=newest_only)
    report = ""
    if profiler is not None:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
        report = out.getvalue()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    answer.send((seconds, read, cases, peak_kib, report))
    answer.close()


def rebuild_in_child(
    directory: str,
    topic: str,
    partitions: list[int],
    *,
    profile: bool = False,
    newest_only: bool = False,
) -> tuple[Row, str]:
    """`rebuild` in a fresh process (its peak RSS is the rebuild's alone): the figures and,
    with `profile`, the profile's report. Fork keeps the bench's imports; the child opens its
    own connection to the log."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_child, args=(send, directory, topic, partitions, profile, newest_only)
    )
    child.start()
    send.close()
    seconds, read, cases, peak_kib, report = receive.recv()
    child.join()
    return (seconds, read, cases, peak_kib), report


def partition_run(cases: int, versions: int) -> None:
    """One partition of four, in this process (the original figures)."""
    with tempfile.TemporaryDirectory() as directory:
        bus = EmbeddedBus(Path(directory), default_partitions=PARTITIONS, sync="normal")
        bus.create_topics(["history"], PARTITIONS)
        bus.create_topics(["changelog"], PARTITIONS, compacted=True)
        written = write(bus, ["history", "changelog"], history(cases, versions))
        rows = [
            ("whole history (not compacted)", *rebuild(bus, "history", [0])),
            ("compacted, first rebuild", *rebuild(bus, "changelog", [0])),
            ("compacted, later rebuild", *rebuild(bus, "changelog", [0])),
        ]
        bus.close()
    baseline = rows[0][1]
    print(
        f"rebuild of one partition of {PARTITIONS}: {cases} cases x {versions} "
        f"versions ({written} case events)"
    )
    for name, seconds, read, count in rows:
        print(
            f"  {name:32s} {seconds * 1000:8.1f} ms  {read:7d} records read  {count:5d} cases"
            f"  ratio to whole history {seconds / baseline:5.2f}"
        )


def events_run(events: int, versions: int, *, profile: bool) -> None:
    """Every partition, sized by case events, each rebuild in its own process."""
    cases = max(1, events // versions)
    everything = list(range(PARTITIONS))
    with tempfile.TemporaryDirectory() as directory:
        bus = EmbeddedBus(Path(directory), default_partitions=PARTITIONS, sync="normal")
        bus.create_topics(["history"], PARTITIONS)
        bus.create_topics(["changelog"], PARTITIONS, compacted=True)
        started = time.perf_counter()
        written = write(bus, ["history", "changelog"], history(cases, versions))
        wrote = time.perf_counter() - started
        bus.close()
        size = sum(f.stat().st_size for f in Path(directory).iterdir()) / 2**20
        print(
            f"rebuild of all {PARTITIONS} partitions: {cases} cases x {versions} versions = "
            f"{written} case events per topic (written to both topics in {wrote:.1f} s; "
            f"log {size:.0f} MiB)"
        )
        rows: list[tuple[str, Row]] = []
        for name, topic, newest_only in (
            ("whole history (not compacted)", "history", False),
            ("whole history, newest per case", "history", True),
            ("compacted, first rebuild", "changelog", False),
            ("compacted, later rebuild", "changelog", False),
        ):
            row, report = rebuild_in_child(
                directory,
                topic,
                everything,
                profile=profile and topic == "history" and not newest_only,
                newest_only=newest_only,
            )
            rows.append((name, row))
            if report:
                print(f"profile of '{name}' (top by own time):\n{report}")
    baseline = rows[0][1][0]
    for name, (seconds, read, count, peak_kib) in rows:
        print(
            f"  {name:32s} {seconds:7.2f} s  {read:8d} records read  {count:6d} cases  "
            f"{read / seconds:9.0f} events/s  peak RSS {peak_kib / 1024:7.1f} MiB  "
            f"ratio to whole history {seconds / baseline:5.2f}"
        )
    print(
        f"  goal: <= 30 s for 1,000,000 case events; whole history "
        f"{rows[0][1][0]:.2f} s for {rows[0][1][1]} events"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument(
        "--events", type=int, default=0, help="size by case events; rebuild every partition"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the baseline rebuild")
    args = parser.parse_args()
    if args.events:
        events_run(args.events, args.versions, profile=args.profile)
    else:
        partition_run(args.cases, args.versions)


if __name__ == "__main__":
    main()
