"""Following a topic: the state a process holds in memory and keeps on a topic.

Several parts of the platform hold a small piece of state in memory that lives on a topic:
the account directory (`auth.accounts`), ingestion's seen message ids, the console's case
board, the webhook subscriptions, the erasure reports, the sender's commands. Each does
the same two things, and this module does them once:

1. Replay the topic up to its end before serving (`replay_to_end`), so a request never
   sees a partial state. Either the caller does it before it starts serving (it blocks),
   or the follower does it on its own thread first (`TopicFollower.replay` from
   `prepare`) and the owner reports "loading" until it is done.
2. Follow it (`TopicFollower`): one thread, a consumer in a group of its own (a fresh
   name each time: a member of one group would see only some partitions, and another
   process's members would take partitions away), starting each partition where the
   replay ended. It never commits: its position is only worth anything to this process,
   which replays again on restart. Records are handed to `apply` in log order per
   partition; a `BusError` closes the consumer and, after `retry_s`, a new one goes on
   after the last batch `apply` returned from (nothing skipped; a batch whose `apply`
   raised is handed over again, so `apply` must be idempotent, as a state rebuilt from a
   topic is).

Why one thread a follower and not a `ConsumerLoop`: a loop is a group member that owns
partitions, commits, and reports readiness for its share of the work; a follower wants
every partition of a small topic, commits nothing and has no share to report.

Why the pause between polls: the embedded log answers an empty poll at once, so without it
an idle follower would spin; with `pause_always` it pauses after a full poll too, which
ingestion wants (see `SeenIdsFollower`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from socialcare.core.bus import Bus, BusError, Consumer, PartitionListener, Record, TopicPartition

log = logging.getLogger(__name__)

Offsets = dict[TopicPartition, int]
"""Per partition, the offset of the next record to read."""


def replay_to_end(bus: Bus, topic: str, apply: Callable[[Iterable[Record]], object]) -> Offsets:
    """Hand `apply` an iterator over every record of `topic` from the beginning up to its
    end at the time of the call (`Bus.replay`, tombstones included); returns, per partition,
    the offset after the last record read: where a `TopicFollower` takes over.

    Blocks until `apply` returns; `apply` must read the iterator to its end (the offsets
    returned are those of what it read). Raises BusError when the bus fails."""
    ends: Offsets = {}

    def tracked(records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            ends[record.topic_partition] = record.offset + 1
            yield record

    apply(tracked(bus.replay(topic)))
    return ends


class _StartAt(PartitionListener):
    """Seeks every partition the consumer gains to where this process stopped reading it (a
    new group would start at the beginning)."""

    def __init__(self, next_offsets: Mapping[TopicPartition, int]) -> None:
        self._next_offsets = next_offsets
        self.consumer: Consumer | None = None

    def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        """Nothing is held per partition."""

    def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        assert self.consumer is not None
        self.consumer.seek(
            {tp: self._next_offsets[tp] for tp in partitions if tp in self._next_offsets}
        )


class TopicFollower:
    """A `Component`: one thread handing every new record of `topics` to `apply`.

    `apply(records)` gets each polled batch (never empty), on the follower's thread; the
    follower's position moves past a batch once `apply` returned. `start` gives, per
    partition, the first offset to read (where a replay ended); a partition not named is
    read from its beginning.

    `prepare()` runs on the follower's thread before every connection (the first one and
    each retry after a BusError); a BusError it raises is retried like any other. An owner
    that rebuilds on the follower's thread calls `replay` from it.

    `on_caught_up()`, when given, is called once, on the follower's thread, when it has
    read up to where its topics ended when it first connected (or, on a compacted topic
    whose last records are gone, when a poll finds nothing left to read): the owner's
    "ready" for a state rebuilt by following from the beginning.

    `followed` counts the records applied (for tests and logs).

    Owners subclass it (so each component keeps its own name and constructor) and pass
    their bound methods; the names above and the base's private attributes are the
    follower's, so a subclass keeps its own state under other names.
    """

    def __init__(
        self,
        bus: Bus,
        topics: Sequence[str],
        apply: Callable[[list[Record]], object],
        *,
        name: str,
        group: str,
        start: Mapping[TopicPartition, int] | None = None,
        prepare: Callable[[], object] | None = None,
        on_caught_up: Callable[[], object] | None = None,
        max_records: int = 500,
        poll_timeout_s: float = 0.5,
        pause_s: float = 0.05,
        pause_always: bool = False,
        retry_s: float = 1.0,
    ) -> None:
        self.name = name
        self._bus = bus
        self._topics = list(topics)
        self._handle = apply
        self._group = group
        self._next_offsets: Offsets = dict(start or {})
        self._prepare_hook = prepare
        self._caught_up_hook = on_caught_up
        self._caught_up = on_caught_up is None
        self._max_records = max_records
        self._poll_timeout_s = poll_timeout_s
        self._pause_s = pause_s
        self._pause_always = pause_always
        self._retry_s = retry_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.followed = 0

    # -- Component ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)

    # -- for owners --------------------------------------------------------------------------
    def replay(self, apply: Callable[[Iterable[Record]], object]) -> None:
        """Replay every topic from its beginning up to its end now into `apply` (see
        `replay_to_end`); following then starts after what was read. Call it from
        `prepare` (the follower's thread)."""
        for topic in self._topics:
            self._next_offsets.update(replay_to_end(self._bus, topic, apply))

    def next_offsets(self) -> Offsets:
        """Per partition, the offset after the last record applied (a copy)."""
        return dict(self._next_offsets)

    # -- the thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._prepare_hook is not None:
                    self._prepare_hook()
                self._follow()
            except BusError as exc:
                log.warning(
                    "following %s failed; retrying",
                    ", ".join(self._topics),
                    extra={"follower": self.name, "error": str(exc)},
                )
                self._stopping.wait(self._retry_s)

    def _follow(self) -> None:
        targets = None if self._caught_up else self._end_offsets()
        if targets is not None and not any(targets.values()):
            self._reached_the_end()  # empty topics: nothing to read first
            targets = None
        listener = _StartAt(self._next_offsets)
        consumer = self._bus.consumer(
            f"{self._group}-{uuid.uuid4().hex[:12]}",
            self._topics,
            client_id=self.name,
            listener=listener,
        )
        listener.consumer = consumer
        try:
            while not self._stopping.is_set():
                polled = consumer.poll(self._max_records, self._poll_timeout_s)
                # A backend may hand out what it fetched before the seek to where this
                # process stopped (Kafka's first poll after an assignment): read already.
                records = [
                    r for r in polled if r.offset >= self._next_offsets.get(r.topic_partition, 0)
                ]
                if records:
                    self._handle(records)
                    for record in records:
                        self._next_offsets[record.topic_partition] = record.offset + 1
                    self.followed += len(records)
                if targets is not None and self._at_end(targets, consumer, polled):
                    self._reached_the_end()
                    targets = None
                if self._pause_always or not polled:
                    self._stopping.wait(self._pause_s)
        finally:
            consumer.close()

    def _end_offsets(self) -> Offsets:
        targets: Offsets = {}
        for topic in self._topics:
            partitions = list(range(self._bus.partition_count(topic)))
            for partition, end in self._bus.end_offsets(topic, partitions).items():
                targets[TopicPartition(topic, partition)] = end
        return targets

    def _at_end(self, targets: Offsets, consumer: Consumer, polled: list[Record]) -> bool:
        reached = all(self._next_offsets.get(tp, 0) >= end for tp, end in targets.items() if end)
        if reached:
            return True
        # A compacted topic may have lost the records at its end (a tombstone past its
        # retention): an empty poll with nothing left to read counts as the end too.
        if polled:
            return False
        lag = consumer.lag()
        return set(lag) >= set(targets) and not any(lag.values())

    def _reached_the_end(self) -> None:
        self._caught_up = True
        if self._caught_up_hook is not None:
            self._caught_up_hook()
