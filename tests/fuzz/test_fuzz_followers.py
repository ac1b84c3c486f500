"""Fuzzing the topic followers: the state a process keeps in memory from a topic (ingestion's
seen message ids, the account directory, the console's case board, webhook subscriptions,
the delivery log, erasure reports, the sender's commands).

A follower has no DLQ: a batch whose `apply` raises is handed over again, forever
(`core.follower`), so one record that makes `apply` raise stops that state for good (e.g.
sign-in would stop seeing new accounts). The followers are found in every service's wiring
(and the runtime's auth), not listed here; each gets, on each topic it follows, records that
do not decode, another topic's message, an empty value, a tombstone and a record whose key
is not UTF-8, one whose headers are garbled, and a tombstone without headers; `apply` must
take every one of them (skipping what it cannot read).
"""

from __future__ import annotations

from pathlib import Path

from socialcare.cli import SERVICES, assemble
from socialcare.core.bus import Record
from socialcare.core.domain.topics import Topic
from socialcare.core.follower import TopicFollower
from tests.fuzz.records import record_of, valid
from tests.fuzz.test_fuzz_consumers import open_runtime


def poison_for(topic: str) -> list[Record]:
    other = record_of(Topic.SLA, valid(Topic.SLA, 1))
    assert other.value is not None
    garbled = (
        ("event-type", b"\xff\xfe"),
        ("event-id", b"\xff\xfe"),
        ("schema-version", b"\x00"),
        ("traceparent", b"\xff"),
        ("erasure-id", b"\xff"),
    )
    cases: list[tuple[bytes, bytes | None, tuple[tuple[str, bytes], ...], bool]] = [
        (b"\xff\x00\x13 not a protobuf", b"key-1", (), False),
        (other.value, b"key-2", other.headers, False),
        (other.value, b"key-3", (), False),
        (b"", b"key-4", (), False),
        (b"", b"\xff\xfe-not-utf-8", (), True),
        (b"", b"key-5", garbled, True),
        (b"\x0a\x02\xff\xfe", b"\xff\xfe", garbled, False),
        (b"", None, (), False),
    ]
    return [
        Record(topic, 0, offset, key, value, headers, tombstone=tombstone)
        for offset, (value, key, headers, tombstone) in enumerate(cases)
    ]


def test_every_follower_takes_poison_records(tmp_path: Path) -> None:
    runtime = open_runtime(tmp_path)
    try:
        parts = assemble(runtime, list(SERVICES))
        components = [*runtime.auth().components, *parts.components]
        followers = [c for c in components if isinstance(c, TopicFollower)]
        assert len({type(f) for f in followers}) >= 7, [type(f).__name__ for f in followers]
        failures: list[str] = []
        for follower in followers:
            for topic in follower._topics:
                for record in poison_for(topic):
                    try:
                        follower._handle([record])
                    except Exception as exc:
                        failures.append(
                            f"{type(follower).__name__} on {topic}, key {record.key!r}, "
                            f"value {record.value[:16]!r}, tombstone {record.tombstone}: "
                            f"{type(exc).__name__}: {exc}"
                        )
    finally:
        runtime.close()
    assert not failures, "\n".join(failures)
