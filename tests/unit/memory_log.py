"""An in-memory log for processor unit tests: a `Producer` that appends what it is sent to
partitions the way the buses do (Kafka's murmur2 partitioner), and `replay` over them.

Effects go in through `publish_effects`, the function the consumer loop uses, so the records
a processor is given in a test carry the same key, headers and partition as on a real bus.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

from socialcare.core.bus import Headers, Producer, Record, TopicPartition
from socialcare.core.bus.base import Delivered, Delivery
from socialcare.core.bus.partitioner import partition_for
from socialcare.core.effects import Emit, publish_effects


class MemoryLog(Producer):
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._logs: dict[TopicPartition, list[Record]] = {}
        self.sent: list[Record] = []
        self.replays: list[tuple[str, tuple[int, ...] | None]] = []

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        assert key is not None, "every topic in the registry is keyed"
        tp = TopicPartition(topic, partition_for(key, self.partitions))
        log = self._logs.setdefault(tp, [])
        log.append(Record(topic, tp.partition, len(log), key, value, headers))
        self.sent.append(log[-1])
        return Delivered()

    def tombstone(self, topic: str, *, key: bytes, headers: Headers = ()) -> Delivery:
        """A tombstone record (as `Producer.tombstone`); the log is not compacted."""
        tp = TopicPartition(topic, partition_for(key, self.partitions))
        log = self._logs.setdefault(tp, [])
        log.append(Record(topic, tp.partition, len(log), key, b"", headers, tombstone=True))
        self.sent.append(log[-1])
        return Delivered()

    def flush(self, timeout_s: float = 30.0) -> None:
        pass

    def close(self) -> None:
        pass

    def append(self, effects: Iterable[Emit]) -> list[Record]:
        """Publish `effects` and return the records they became, in order."""
        before = len(self.sent)
        publish_effects(self, effects, source="test")
        return self.sent[before:]

    def record(self, effect: Emit) -> Record:
        [record] = self.append([effect])
        return record

    def partition_of(self, key: str) -> int:
        return partition_for(key.encode(), self.partitions)

    def end_offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        """Where the next record of each partition will go (as `Bus.end_offsets`)."""
        return {p: len(self._logs.get(TopicPartition(topic, p), [])) for p in partitions}

    def replay(
        self,
        topic: str,
        partitions: Collection[int] | None = None,
        start: Mapping[int, int] | None = None,
    ) -> Iterator[Record]:
        chosen = range(self.partitions) if partitions is None else sorted(partitions)
        self.replays.append((topic, None if partitions is None else tuple(chosen)))
        ends = {p: len(self._logs.get(TopicPartition(topic, p), [])) for p in chosen}
        starts = start or {}
        return (
            record
            for p in chosen
            for record in self._logs.get(TopicPartition(topic, p), [])[starts.get(p, 0) : ends[p]]
        )
