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

Figures, never assertions. `python bench/rebuild.py [--cases 2000] [--versions 20]`
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
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


def history(cases: int, versions: int) -> list[case_pb2.CaseEvent]:
    """Case events in the order routing would write them: a case grows by a message with each
    of its first versions (a conversation of up to 10 messages), later versions change its
    state, so snapshots have a realistic size however long the history."""
    events = []
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
            events.append(
                case_pb2.CaseEvent(
                    event_id=derived_id("case-event", case.id, str(version)),
                    type=case_pb2.CASE_EVENT_TYPE_MESSAGE_ADDED,
                    case=case,
                )
            )
    return events


def write(bus: EmbeddedBus, topic: str, events: list[case_pb2.CaseEvent]) -> None:
    """The events on `topic`, keyed as on care.cases (the registry's key: the case id)."""
    key = Topic.CASES.spec.key
    producer = bus.producer("bench")
    for start in range(0, len(events), 1000):
        for event in events[start : start + 1000]:
            producer.send(topic, event.SerializeToString(), key=key(event).encode())
        producer.flush()
    producer.close()


def rebuild(bus: EmbeddedBus, topic: str) -> tuple[float, int, int]:
    """Seconds to rebuild partition 0's book, records read, cases in the book."""
    care = load_care_config()
    started = time.perf_counter()
    book = CaseBook(care, 0, PARTITIONS)
    read = 0
    for record in bus.replay(topic, partitions=[0]):
        book.restore(decode(record, case_pb2.CaseEvent))
        read += 1
    return time.perf_counter() - started, read, len(book.cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=20)
    args = parser.parse_args()
    events = history(args.cases, args.versions)
    with tempfile.TemporaryDirectory() as directory:
        bus = EmbeddedBus(Path(directory), default_partitions=PARTITIONS, sync="normal")
        bus.create_topics(["history"], PARTITIONS)
        bus.create_topics(["changelog"], PARTITIONS, compacted=True)
        write(bus, "history", events)
        write(bus, "changelog", events)
        rows = [
            ("whole history (not compacted)", *rebuild(bus, "history")),
            ("compacted, first rebuild", *rebuild(bus, "changelog")),
            ("compacted, later rebuild", *rebuild(bus, "changelog")),
        ]
        bus.close()
    baseline = rows[0][1]
    print(
        f"rebuild of one partition of {PARTITIONS}: {args.cases} cases x {args.versions} "
        f"versions ({len(events)} case events)"
    )
    for name, seconds, read, cases in rows:
        print(
            f"  {name:32s} {seconds * 1000:8.1f} ms  {read:7d} records read  {cases:5d} cases"
            f"  ratio to whole history {seconds / baseline:5.2f}"
        )


if __name__ == "__main__":
    main()
