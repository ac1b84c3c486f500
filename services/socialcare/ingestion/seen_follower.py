"""Keeps a replica's seen-ids in step with every other replica's accepted messages.

Each ingestion replica publishes to the same `social.messages.raw`; following that topic
is how one replica learns what another accepted, with no store of its own and nothing to
coordinate. The follower is a consumer in a group of its own (one member: it gets every
partition), starts each partition where the start-up replay ended and never commits: its
position is only worth anything to this process, which rebuilds from the topic on restart.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping

from socialcare.core.bus import Bus, BusError, Consumer, PartitionListener, TopicPartition
from socialcare.core.domain.topics import Topic
from socialcare.ingestion.dedupe import SeenMessageIds, accepted_ids

log = logging.getLogger(__name__)

_RETRY_S = 1.0
_PAUSE_S = 0.05
"""How stale the ids of other replicas may be, beyond the bus's own delay."""


class _StartAtReplayEnd(PartitionListener):
    def __init__(self, next_offsets: Mapping[int, int]) -> None:
        self._next_offsets = next_offsets
        self.consumer: Consumer | None = None

    def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        """Nothing held per partition: the ids stay remembered."""

    def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        # A new group starts at the beginning; the replay already read up to these offsets.
        assert self.consumer is not None
        self.consumer.seek(
            {
                tp: self._next_offsets[tp.partition]
                for tp in partitions
                if tp.partition in self._next_offsets
            }
        )


class SeenIdsFollower:
    """A `Component`: one thread that adds ids other replicas accepted to `seen`."""

    name = "ingestion-seen-ids"

    def __init__(self, bus: Bus, seen: SeenMessageIds, next_offsets: Mapping[int, int]) -> None:
        self._bus = bus
        self._seen = seen
        self._next_offsets = dict(next_offsets)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.followed = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._follow()
            except BusError as exc:
                log.warning("following the raw topic failed; retrying", extra={"error": str(exc)})
                self._stopping.wait(_RETRY_S)

    def _follow(self) -> None:
        listener = _StartAtReplayEnd(self._next_offsets)
        group = f"ingestion-seen-{uuid.uuid4().hex[:12]}"
        consumer = self._bus.consumer(
            group, [Topic.MESSAGES_RAW.value], client_id=self.name, listener=listener
        )
        listener.consumer = consumer
        try:
            while not self._stopping.is_set():
                records = consumer.poll(max_records=1000, timeout_s=0.5)
                for _, message_id in accepted_ids(records):
                    self._seen.remember(message_id)
                for record in records:
                    self._next_offsets[record.partition] = record.offset + 1
                self.followed += len(records)
                # Between polls, always: the embedded log answers an empty poll at once,
                # and wakes an in-process poller on every append, so without the pause this
                # thread would read back each group commit of this process's own requests
                # (most of what it follows) one by one, for the GIL the requests need.
                self._stopping.wait(_PAUSE_S)
        finally:
            consumer.close()
