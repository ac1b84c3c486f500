"""The ids of messages ingestion already accepted, so a re-delivery is not published twice.

Channels re-deliver webhooks and clients retry after timeouts; publishing each copy would
give a customer two cases and an agent two answers to write. The topic itself is the
durable record of what was accepted, so the set is rebuilt at start-up by replaying
`social.messages.raw` (each record's `event-id` header is the message id) and needs no
storage of its own: it survives restarts exactly as far as the topic does.

Memory is bounded: at most `capacity` ids are kept (default 2,000,000, setting
`SOCIALCARE_INGEST_DEDUPE_MAX_IDS`); when full, the oldest id is forgotten. Ids are held as
128-bit integers in a set plus a FIFO, about 90 bytes per id: the default costs ~180 MB at
its fullest, and twice that for a moment while the start-up replay picks the newest ids.
A duplicate of a message older than the newest `capacity` is published again; downstream
consumers de-duplicate on the event id too, so that costs a record, not a second case.

Across replicas: after the rebuild every replica follows the raw topic from where its
replay ended (`SeenIdsFollower`), so an id one replica accepts reaches the others' sets
within a poll (milliseconds). Only two copies arriving at two replicas within that moment
are both published; the authority is downstream anyway: routing's partition-owned case book
applies each message id once (it is rebuilt from `care.cases`, so it too survives restarts
and sees every replica's records), so such a copy costs a record, never a second case.
"""

from __future__ import annotations

import heapq
import logging
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator

from socialcare.core.bus import Bus, Record
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError, decode
from socialcare.core.follower import replay_to_end
from socialcare.v1 import message_pb2

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 2_000_000
_CANONICAL_ID = re.compile(r"[0-9a-f]{32}")

_Key = int | str


def _key(message_id: str) -> _Key:
    """A compact key: our ids are 32 hex digits, an int is half the size of that string."""
    return int(message_id, 16) if _CANONICAL_ID.fullmatch(message_id) else message_id


class SeenMessageIds:
    """A bounded, insertion-ordered set of message ids; thread-safe.

    `remember` after the message is durable on the bus, never before: an id remembered for
    a message that was not published would turn the client's retry into a lost message.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._members: set[_Key] = set()
        self._order: deque[_Key] = deque()
        self._lock = threading.Lock()

    def __contains__(self, message_id: object) -> bool:
        if not isinstance(message_id, str):
            return False
        return _key(message_id) in self._members

    def __len__(self) -> int:
        return len(self._members)

    def remember(self, message_id: str) -> None:
        """Add an id; forget the oldest when over capacity. Re-adding is a no-op."""
        key = _key(message_id)
        with self._lock:
            if key in self._members:
                return
            self._members.add(key)
            self._order.append(key)
            while len(self._order) > self.capacity:
                self._members.discard(self._order.popleft())

    def rebuild(self, entries: Iterable[tuple[int, str]]) -> int:
        """Remember the newest `capacity` of `(timestamp_ms, message_id)` entries.

        The bus replays partition after partition, not in global time order, so the newest
        ids are picked by record timestamp rather than by replay position. Returns how many
        entries were read.
        """
        read = 0

        def counted() -> Iterator[tuple[int, _Key]]:
            nonlocal read
            for timestamp_ms, message_id in entries:
                read += 1
                yield timestamp_ms, _key(message_id)

        newest = heapq.nlargest(self.capacity, counted(), key=lambda entry: entry[0])
        with self._lock:
            for _, key in reversed(newest):
                if key not in self._members:
                    self._members.add(key)
                    self._order.append(key)
            while len(self._order) > self.capacity:
                self._members.discard(self._order.popleft())
        return read


def accepted_ids(records: Iterable[Record]) -> Iterator[tuple[int, str]]:
    """`(timestamp_ms, message_id)` of every accepted message among raw-topic records.

    The id comes from the `event-id` header that `publish` writes; a record without one
    (written by some other producer) is decoded for its `message_id`. A record that is
    neither is skipped with a warning: it cannot be a message ingestion accepted.
    """
    skipped = 0
    for record in records:
        header = record.header("event-id")
        if header:
            yield record.timestamp_ms, header.decode("ascii", "replace")
            continue
        try:
            message = decode(record, message_pb2.SocialMessage)
        except InvalidRecordError:
            skipped += 1
            continue
        if message.message_id:
            yield record.timestamp_ms, message.message_id
        else:
            skipped += 1
    if skipped:
        log.warning(
            "raw-topic records without a message id were ignored for de-duplication",
            extra={"topic": Topic.MESSAGES_RAW.value, "skipped": skipped},
        )


def load_seen_ids(
    bus: Bus, capacity: int = DEFAULT_CAPACITY
) -> tuple[SeenMessageIds, dict[int, int]]:
    """Rebuild the seen-set from `social.messages.raw` (blocks until the replay is done);
    also returns, per partition, the offset after the last record read (where a
    `SeenIdsFollower` takes over).

    Call it before the service accepts requests: until it returns, a re-delivered message
    would not be recognised.
    """
    seen = SeenMessageIds(capacity)
    read = 0

    def rebuild(records: Iterable[Record]) -> None:
        nonlocal read
        read = seen.rebuild(accepted_ids(records))

    ends = replay_to_end(bus, Topic.MESSAGES_RAW.value, rebuild)
    log.info(
        "de-duplication ids rebuilt from the raw topic",
        extra={"records": read, "ids": len(seen), "capacity": capacity},
    )
    return seen, {tp.partition: offset for tp, offset in ends.items()}
