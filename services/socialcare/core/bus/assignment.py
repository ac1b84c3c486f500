"""How a consumer group shares its partitions: Kafka's range assignment, one rule for both
backends, so a partition lands on the same member whichever bus carries the group.

Range assignment works per topic: the members subscribed to the topic, sorted by member
id, each take a contiguous run of its partitions, the first `partitions % members` one
more than the rest. Two topics with the same partition count and the same subscribers are
therefore split identically: partition p of both goes to the same member
(co-partitioning), which is what lets a service join `care.cases` with the customer
messages keyed alike.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from socialcare.core.bus.base import TopicPartition


def range_assignment(
    subscriptions: Mapping[str, Collection[str]], partitions: Mapping[str, int]
) -> dict[str, frozenset[TopicPartition]]:
    """The partitions of every member: `subscriptions` maps member id to its topics,
    `partitions` topic to its partition count (topics missing from it are not assigned).
    Every member of `subscriptions` has an entry, empty when it gets nothing."""
    assigned: dict[str, set[TopicPartition]] = {member: set() for member in subscriptions}
    for topic, count in partitions.items():
        members = sorted(m for m, topics in subscriptions.items() if topic in topics)
        if not members:
            continue
        each, extra = divmod(count, len(members))
        for index, member in enumerate(members):
            start = each * index + min(index, extra)
            length = each + (1 if index < extra else 0)
            assigned[member].update(TopicPartition(topic, p) for p in range(start, start + length))
    return {member: frozenset(tps) for member, tps in assigned.items()}
