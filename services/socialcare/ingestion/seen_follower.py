"""Keeps a replica's seen-ids in step with every other replica's accepted messages.

Each ingestion replica publishes to the same `social.messages.raw`; following that topic
is how one replica learns what another accepted, with no store of its own and nothing to
coordinate. The follower is a `TopicFollower`: a consumer in a group of its own (one
member: it gets every partition), starting each partition where the start-up replay ended
and never committing: its position is only worth anything to this process, which rebuilds
from the topic on restart.
"""

from __future__ import annotations

from collections.abc import Mapping

from socialcare.core.bus import Bus, Record, TopicPartition
from socialcare.core.domain.topics import Topic
from socialcare.core.follower import TopicFollower
from socialcare.ingestion.dedupe import SeenMessageIds, accepted_ids

_PAUSE_S = 0.05
"""How stale the ids of other replicas may be, beyond the bus's own delay."""


class SeenIdsFollower(TopicFollower):
    """A `Component`: one thread that adds ids other replicas accepted to `seen`.

    It pauses between polls always, not only after an empty one: the embedded log wakes an
    in-process poller on every append, so without the pause this thread would read back
    each group commit of this process's own requests (most of what it follows) one by
    one, for the GIL the requests need.
    """

    def __init__(self, bus: Bus, seen: SeenMessageIds, next_offsets: Mapping[int, int]) -> None:
        self._seen = seen
        topic = Topic.MESSAGES_RAW.value
        super().__init__(
            bus,
            [topic],
            self._remember,
            name="ingestion-seen-ids",
            group="ingestion-seen",
            start={TopicPartition(topic, p): offset for p, offset in next_offsets.items()},
            max_records=1000,
            pause_s=_PAUSE_S,
            pause_always=True,
        )

    def _remember(self, records: list[Record]) -> None:
        for _, message_id in accepted_ids(records):
            self._seen.remember(message_id)
