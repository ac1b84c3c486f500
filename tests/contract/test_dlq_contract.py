"""`socialcare dlq` over the `Bus` interface, on the embedded log and on a real Kafka broker:
a consumer loop dead-letters a poison record; list and show find it with its reason and
origin; replay publishes it back to its source topic, where the loop consumes it again,
marked as a replay; a rerun replays nothing twice.

The topics are fresh test topics (not in the topic registry), named to the tool through
its `Catalog`, so the shared broker's real topics are never touched."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from socialcare.core.bus import Bus, Record
from socialcare.core.consumer_loop import ConsumerLoop, RecordProcessor
from socialcare.core.dlq import REPLAY_HEADER, Catalog, describe, find, list_dlqs, replay
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError
from tests.contract.bus_backends import bus_backend


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def dlq_bus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bus]:
    with bus_backend(request, tmp_path) as bus:
        yield bus


class Refusing(RecordProcessor):
    """Refuses b"poison" until `fixed`; remembers what it processed and whether a replay."""

    def __init__(self) -> None:
        self.fixed = False
        self.seen: list[tuple[bytes, bytes | None]] = []

    def process(self, record: Record) -> Sequence[Emit]:
        if record.value == b"poison" and not self.fixed:
            raise InvalidRecordError("value is poison")
        self.seen.append((record.value, record.header(REPLAY_HEADER)))
        return ()


def _until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_list_show_replay_once(dlq_bus: Bus) -> None:
    source = f"dlq-contract-{uuid.uuid4().hex[:8]}"
    dead = f"{source}.dlq"
    dlq_bus.create_topics([source, dead], 2)
    catalog = Catalog(dlq_topics=(dead,))
    producer = dlq_bus.producer()
    for value in (b"one", b"poison", b"two"):
        producer.send(source, value, key=b"k", headers=(("event-id", value),))
    producer.flush()

    processor = Refusing()
    loop_producer = dlq_bus.producer()
    loop = ConsumerLoop(
        dlq_bus,
        group=f"g-{uuid.uuid4().hex}",
        topics=[source],
        processor=processor,
        producer=loop_producer,
        poll_timeout_s=0.1,
        commit_interval_s=0.0,
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        _until(lambda: len(processor.seen) == 2 and list_dlqs(dlq_bus, catalog)[0].count == 1)
        [listing] = list_dlqs(dlq_bus, catalog)
        [letter] = listing.records
        assert letter.reason == "value is poison"
        assert letter.source.startswith(f"{source}/") and letter.source.endswith(":1")
        assert letter.key == "k" and not letter.replayed

        shown = describe(find(dlq_bus, catalog, dead, letter.position), catalog)
        assert (shown["payload_encoding"], shown["payload"]) == ("hex", b"poison".hex())
        assert shown["headers"]["event-id"] == "poison"

        processor.fixed = True
        _, steps = replay(dlq_bus, catalog, dead, [letter.position])
        assert [(s.action, s.target) for s in steps] == [("replayed", source)]
        _until(lambda: len(processor.seen) == 3)
        assert processor.seen[-1] == (b"poison", f"{dead}/{letter.position}".encode())

        _, rerun = replay(dlq_bus, catalog, dead, None)
        assert [s.action for s in rerun] == ["skipped"]
        [after] = list_dlqs(dlq_bus, catalog)
        assert after.count == 1 and after.records[0].replayed
        time.sleep(1.0)  # a second replay would have reached the loop by now
        assert len(processor.seen) == 3
    finally:
        loop.stop()
        thread.join(30)
        loop_producer.close()
        producer.close()
    assert not thread.is_alive()
