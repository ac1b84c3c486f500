"""Two ingestion replicas on one bus recognise each other's messages, on both backends.

Each replica keeps its own seen-ids set, rebuilt at start from `social.messages.raw` and
kept in step by following that topic: a message accepted by replica A is a duplicate when
its channel re-delivers it to replica B, and to a replica started afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from socialcare.core.bus import Bus
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.topics import topic_layouts
from socialcare.ingestion.dedupe import load_seen_ids
from socialcare.ingestion.ingestor import Ingestor
from socialcare.ingestion.models import MessageCreate
from socialcare.ingestion.seen_follower import SeenIdsFollower
from tests.contract.bus_backends import bus_backend


@pytest.fixture(params=["embedded", "kafka"])
def replicas_bus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bus]:
    with bus_backend(request, tmp_path) as bus:
        # The platform's layout: on Kafka the topic is shared with every later test of the
        # session (e2e platforms included), so it must have the partitions they expect.
        for (partitions, compacted), topics in topic_layouts(
            PlatformSettings().topic_partitions
        ).items():
            bus.create_topics(topics, partitions, compacted=compacted)
        yield bus


def message(external_id: str) -> MessageCreate:
    return MessageCreate.model_validate(
        {
            "channel": "whatsapp",
            "external_id": external_id,
            "author": {"id": "31612345678", "name": "Fleur Jansen"},
            "text": "Mijn meterstand klopt niet, kunnen jullie even kijken?",
            "created_at": "2026-11-26T10:00:00Z",
        }
    )


class Replica:
    def __init__(self, bus: Bus) -> None:
        seen, ends = load_seen_ids(bus, capacity=100_000)
        self.producer = bus.producer("replica")
        self.ingestor = Ingestor(self.producer, seen)
        self.follower = SeenIdsFollower(bus, seen, ends)
        self.seen = seen
        self.follower.start()

    def close(self) -> None:
        self.follower.stop()
        self.follower.join(10.0)
        self.producer.close()


def wait_until_seen(replica: Replica, message_id: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while message_id not in replica.seen:
        assert time.monotonic() < deadline, f"{message_id} never reached the other replica"
        time.sleep(0.05)


def test_a_message_accepted_by_one_replica_is_a_duplicate_at_the_other(
    replicas_bus: Bus,
) -> None:
    a, b = Replica(replicas_bus), Replica(replicas_bus)
    try:
        run = uuid.uuid4().hex[:8]
        [first] = a.ingestor.ingest_batch([message(f"wamid.{run}.1")])
        assert not first.duplicate
        wait_until_seen(b, first.message_id)
        [again] = b.ingestor.ingest_batch([message(f"wamid.{run}.1")])
        assert again.duplicate and again.message_id == first.message_id

        # A replica started later (a restart, a scale-up) knows it from the replay.
        c = Replica(replicas_bus)
        try:
            [late] = c.ingestor.ingest_batch([message(f"wamid.{run}.1")])
            assert late.duplicate
            # ... and follows what the others accept from then on.
            [second] = b.ingestor.ingest_batch([message(f"wamid.{run}.2")])
            assert not second.duplicate
            wait_until_seen(c, second.message_id)
            wait_until_seen(a, second.message_id)
        finally:
            c.close()
    finally:
        a.close()
        b.close()
