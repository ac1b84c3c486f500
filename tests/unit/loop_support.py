"""A processor under its real `ConsumerLoop` on a thread, for the unit tests that check what
the loop adds (commits, retries, the DLQ): the loop's timings shortened so a test takes
tenths of a second, and the loop stopped and its producer closed however the test ends;
and the embedded bus such a loop runs on, every topic laid out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from socialcare.core.bus import Bus
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.consumer_loop import ConsumerLoop, TypedProcessor
from socialcare.core.domain.topics import topic_layouts


def laid_out_bus(path: Path, partitions: int) -> EmbeddedBus:
    """An embedded bus at `path` with every topic of the platform created as a deployment
    lays them out (partitions, compaction), so a loop finds its DLQ and its outputs."""
    bus = EmbeddedBus(path, default_partitions=partitions, sync="normal")
    for (count, compacted), topics in topic_layouts(partitions).items():
        bus.create_topics(topics, count, compacted=compacted)
    return bus


@contextmanager
def loop_thread(
    bus: Bus,
    processor: TypedProcessor,
    group: str,
    *,
    commit_interval_s: float = 0.1,
    max_backoff_s: float = 0.2,
) -> Iterator[threading.Thread]:
    """`processor`'s loop in group `group`, running on the thread it yields."""
    producer = bus.producer(group)
    loop = ConsumerLoop(
        bus,
        group=group,
        topics=processor.topics,
        processor=processor,
        producer=producer,
        poll_timeout_s=0.05,
        commit_interval_s=commit_interval_s,
        max_backoff_s=max_backoff_s,
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        loop.stop()
        thread.join(10)
        producer.close()


def wait_until(
    done: Callable[[], bool], for_s: float, loop: threading.Thread | None = None
) -> None:
    """Until `done()` or `for_s` seconds passed (the test's assertions then say what is
    missing); with `loop`, failing at once when that loop's thread has died."""
    deadline = time.monotonic() + for_s
    while time.monotonic() < deadline and not done():
        if loop is not None:
            assert loop.is_alive(), "the consumer loop stopped"
        time.sleep(0.05)
