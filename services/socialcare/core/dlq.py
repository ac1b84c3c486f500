"""Inspect and replay dead-letter topics (`socialcare dlq list|show|replay`).

The consumer loop sends a record it cannot process to `<topic>.dlq` with its original key,
value and headers plus `dlq-reason`, `dlq-original-topic`, `-partition`, `-offset`,
`dlq-consumer-group` and `dlq-failed-at` (core/consumer_loop.py). This module reads those
records back over the `Bus` interface only, so it works on the embedded log and on Kafka
alike, and publishes chosen ones back to their source topic once the bug that poisoned
them is fixed.

Replays are idempotent across reruns, with no state outside the bus: after a replayed
record is durable on its source topic, a *marker* is appended to the dead-letter topic
itself: an empty record whose `dlq-replay-marker` header names the `partition:offset` it
replayed. A rerun reads the markers first and skips what they name. The markers live in
the same topic, written after what they mark, so retention (the DLQ's) never drops a
marker while keeping the record it names. A crash between the publish and the
marker replays that record once more on the next run; the platform's processors are
idempotent on the `event-id` header, which a replay keeps, so that costs nothing, and the
`dlq-replayed-from` header (`<dlq-topic>/<partition>:<offset>`) lets any handler tell a
replay from a first delivery and dedupe on it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError, Message

from socialcare.core.bus import Bus, BusError, Headers, Record
from socialcare.core.domain.durations import parse_duration
from socialcare.core.domain.topics import REGISTRY

DLQ_HEADER_PREFIX = "dlq-"
REPLAY_HEADER = "dlq-replayed-from"
"""On a replayed record: `<dlq-topic>/<partition>:<offset>` it came from. It starts with
`dlq-`, so a record dead-lettered again and replayed again carries only the latest one."""
REPLAYED_AT_HEADER = "dlq-replayed-at"
MARKER_HEADER = "dlq-replay-marker"
"""On a marker record in a dead-letter topic: the `partition:offset` that was replayed."""

EXIT_OK = 0
EXIT_BUS = 1
EXIT_USAGE = 2  # an unknown topic, a malformed offset or --since
EXIT_NOT_FOUND = 3  # no dead-lettered record at that offset


class DlqError(Exception):
    """A request the tool cannot serve; `exit_code` says which kind for the command line."""

    exit_code = EXIT_USAGE


class UnknownDlqTopicError(DlqError):
    pass


class BadOffsetError(DlqError):
    pass


class RecordNotFoundError(DlqError):
    exit_code = EXIT_NOT_FOUND


@dataclass(frozen=True, slots=True)
class Catalog:
    """The dead-letter topics the tool may read, and the protobuf type of each source
    topic's records (to decode a payload). Tests name their own topics; the command uses
    `registry_catalog()`."""

    dlq_topics: tuple[str, ...]
    message_types: Mapping[str, type[Message]] = field(default_factory=dict)

    def resolve(self, topic: str) -> str:
        """The dead-letter topic for `topic` (a DLQ or its source topic's name)."""
        if topic in self.dlq_topics:
            return topic
        if f"{topic}.dlq" in self.dlq_topics:
            return f"{topic}.dlq"
        raise UnknownDlqTopicError(
            f"unknown dead-letter topic {topic!r} (known: {', '.join(self.dlq_topics)})"
        )


def registry_catalog() -> Catalog:
    """Every topic of the topic registry's dead-letter topic, with the source's type."""
    return Catalog(
        dlq_topics=tuple(topic.dlq for topic in REGISTRY),
        message_types={topic.value: spec.message_type for topic, spec in REGISTRY.items()},
    )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered record and where it came from."""

    record: Record
    replayed: bool = False

    def _text(self, name: str) -> str | None:
        raw = self.record.header(name)
        return None if raw is None else raw.decode(errors="replace")

    @property
    def position(self) -> str:
        return f"{self.record.partition}:{self.record.offset}"

    @property
    def reason(self) -> str:
        return self._text("dlq-reason") or ""

    @property
    def source_topic(self) -> str | None:
        return self._text("dlq-original-topic")

    @property
    def source(self) -> str:
        topic = self.source_topic or "?"
        partition = self._text("dlq-original-partition") or "?"
        offset = self._text("dlq-original-offset") or "?"
        return f"{topic}/{partition}:{offset}"

    @property
    def group(self) -> str:
        return self._text("dlq-consumer-group") or ""

    @property
    def time(self) -> str:
        """When it failed (the loop's `dlq-failed-at`), else the record's timestamp."""
        failed_at = self._text("dlq-failed-at")
        if failed_at:
            return failed_at
        return datetime.fromtimestamp(self.record.timestamp_ms / 1000, UTC).isoformat()

    @property
    def key(self) -> str | None:
        key = self.record.key
        return None if key is None else key.decode(errors="replace")

    def summary(self) -> dict[str, Any]:
        return {
            "partition": self.record.partition,
            "offset": self.record.offset,
            "key": self.key,
            "reason": self.reason,
            "source": self.source,
            "group": self.group,
            "time": self.time,
            "replayed": self.replayed,
        }


def is_marker(record: Record) -> bool:
    return record.header(MARKER_HEADER) is not None


def parse_position(text: str) -> tuple[int, int]:
    """`partition:offset` -> (partition, offset)."""
    partition, sep, offset = text.strip().partition(":")
    try:
        if not sep:
            raise ValueError
        parsed = int(partition), int(offset)
    except ValueError:
        raise BadOffsetError(f"{text!r} is not partition:offset (e.g. 0:42)") from None
    if parsed[0] < 0 or parsed[1] < 0:
        raise BadOffsetError(f"{text!r}: partition and offset must not be negative")
    return parsed


def parse_since(text: str, now: datetime | None = None) -> int:
    """`--since`: a duration back from now (`30m`, `2h`, `7d`) or an ISO time; epoch ms."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise DlqError(
                f"--since {text!r} is neither a duration (2h, 7d) nor an ISO time"
            ) from None
        return int(((now or datetime.now(UTC)).timestamp() - seconds) * 1000)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _read(bus: Bus, topic: str) -> list[Record]:
    """The whole topic: it is a DLQ, small, and its markers may be anywhere in it."""
    return list(bus.replay(topic, range(bus.partition_count(topic))))


def _replayed_positions(records: Iterable[Record]) -> set[str]:
    return {
        raw.decode(errors="replace")
        for record in records
        if (raw := record.header(MARKER_HEADER)) is not None
    }


def dead_letters(bus: Bus, dlq_topic: str, since_ms: int | None = None) -> list[DeadLetter]:
    """The dead-lettered records of `dlq_topic` (from `since_ms` on), oldest first per
    partition, each saying whether it was replayed (markers are read over the whole topic:
    a replay may be newer than `since`)."""
    records = _read(bus, dlq_topic)
    replayed = _replayed_positions(records)
    if since_ms is not None:
        records = [r for r in records if r.timestamp_ms >= since_ms]
    return [
        DeadLetter(r, replayed=f"{r.partition}:{r.offset}" in replayed)
        for r in records
        if not is_marker(r)
    ]


@dataclass(frozen=True, slots=True)
class TopicListing:
    topic: str
    count: int
    records: tuple[DeadLetter, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "count": self.count,
            "records": [letter.summary() for letter in self.records],
        }


def list_dlqs(
    bus: Bus,
    catalog: Catalog,
    topic: str | None = None,
    since_ms: int | None = None,
    limit: int | None = None,
) -> list[TopicListing]:
    """Every dead-letter topic of `catalog` (or only `topic`) with its record count and the
    newest `limit` records (all when None)."""
    if limit is not None and limit < 0:
        raise DlqError("--limit must not be negative")
    topics = [catalog.resolve(topic)] if topic else list(catalog.dlq_topics)
    listings: list[TopicListing] = []
    for name in topics:
        letters = sorted(
            dead_letters(bus, name, since_ms),
            key=lambda d: (d.record.timestamp_ms, d.record.partition, d.record.offset),
        )
        shown = letters if limit is None else letters[len(letters) - limit :] if limit else []
        listings.append(TopicListing(name, len(letters), tuple(shown)))
    return listings


def find(bus: Bus, catalog: Catalog, topic: str, position: str) -> DeadLetter:
    """The dead-lettered record at `partition:offset` of `topic`."""
    name = catalog.resolve(topic)
    partition, offset = parse_position(position)
    count = bus.partition_count(name)
    if partition >= count:
        raise BadOffsetError(f"{name} has partitions 0..{count - 1}, not {partition}")
    end = bus.end_offsets(name, [partition])[partition]
    if offset >= end:
        raise RecordNotFoundError(f"{name} partition {partition} ends at offset {end}")
    for record in bus.replay(name, [partition], {partition: offset}):
        if record.offset == offset and not is_marker(record):
            replayed = position.strip() in _replayed_positions(_read(bus, name))
            return DeadLetter(record, replayed=replayed)
        break
    raise RecordNotFoundError(f"no dead-lettered record at {name} {partition}:{offset}")


def decode_payload(letter: DeadLetter, catalog: Catalog) -> tuple[str, Any]:
    """("json", the message as a dict) when the source topic's type is known and the bytes
    parse as it, else ("hex", the bytes in hex): a poison record often does not parse."""
    message_type = catalog.message_types.get(letter.source_topic or "")
    if message_type is not None:
        message = message_type()
        try:
            message.ParseFromString(letter.record.value)
        except DecodeError:
            pass
        else:
            return "json", MessageToDict(message, preserving_proto_field_name=True)
    return "hex", letter.record.value.hex()


def describe(letter: DeadLetter, catalog: Catalog) -> dict[str, Any]:
    """Everything `show` prints."""
    encoding, payload = decode_payload(letter, catalog)
    message_type = catalog.message_types.get(letter.source_topic or "")
    return {
        "topic": letter.record.topic,
        **letter.summary(),
        "headers": {name: value.decode(errors="replace") for name, value in letter.record.headers},
        "message_type": None if message_type is None else message_type.DESCRIPTOR.full_name,
        "payload_encoding": encoding,
        "payload": payload,
    }


@dataclass(frozen=True, slots=True)
class ReplayStep:
    """What `replay` did with one record: `replayed`, `would-replay` (dry run), `skipped`
    (replayed before) or `failed` (no source topic header)."""

    position: str
    action: str
    target: str | None
    detail: str = ""

    def line(self, dlq_topic: str) -> str:
        target = f" -> {self.target}" if self.target else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.action:<12} {dlq_topic} {self.position}{target}{detail}"


def replay_headers(letter: DeadLetter, now: datetime | None = None) -> Headers:
    """The original headers without the DLQ's, plus where the replay came from."""
    kept = tuple(
        (name, value)
        for name, value in letter.record.headers
        if not name.startswith(DLQ_HEADER_PREFIX)
    )
    origin = f"{letter.record.topic}/{letter.position}"
    stamp = (now or datetime.now(UTC)).isoformat()
    return (*kept, (REPLAY_HEADER, origin.encode()), (REPLAYED_AT_HEADER, stamp.encode()))


def replay(
    bus: Bus,
    catalog: Catalog,
    topic: str,
    positions: Sequence[str] | None = None,
    *,
    dry_run: bool = False,
    client_id: str = "socialcare-dlq",
) -> tuple[str, list[ReplayStep]]:
    """Publish the dead-lettered records of `topic` at `positions` (all when None) back to
    their source topics with their key and headers, skipping those replayed before, then
    mark each as replayed (see the module docstring). Every named position is checked
    before anything is published. Returns the DLQ topic and a step per record."""
    name = catalog.resolve(topic)
    for text in positions or ():
        parse_position(text)  # a malformed one is refused before anything is read
    letters = dead_letters(bus, name)
    by_position = {letter.position: letter for letter in letters}
    if positions is None:
        chosen = letters
    else:
        chosen = []
        for partition, offset in [parse_position(text) for text in positions]:
            letter = by_position.get(f"{partition}:{offset}")
            if letter is None:
                raise RecordNotFoundError(f"no dead-lettered record at {name} {partition}:{offset}")
            if letter not in chosen:
                chosen.append(letter)
    steps: list[ReplayStep] = []
    to_send: list[DeadLetter] = []
    for letter in chosen:
        target = letter.source_topic
        if letter.replayed:
            steps.append(ReplayStep(letter.position, "skipped", target, "replayed before"))
        elif not target:
            steps.append(
                ReplayStep(letter.position, "failed", None, "no dlq-original-topic header")
            )
        elif dry_run:
            steps.append(ReplayStep(letter.position, "would-replay", target))
        else:
            to_send.append(letter)
    if to_send:
        producer = bus.producer(client_id)
        try:
            for letter in to_send:
                producer.send(
                    letter.source_topic or "",
                    letter.record.value,
                    key=letter.record.key,
                    headers=replay_headers(letter),
                )
            # The replays are durable before any marker exists, so a marker never names a
            # record that was not replayed.
            producer.flush()
            for letter in to_send:
                producer.send(
                    name,
                    b"",
                    key=letter.record.key,
                    headers=((MARKER_HEADER, letter.position.encode()),),
                )
            producer.flush()
        finally:
            producer.close()
        steps.extend(ReplayStep(d.position, "replayed", d.source_topic) for d in to_send)
    order = {letter.position: i for i, letter in enumerate(chosen)}
    steps.sort(key=lambda step: order[step.position])
    return name, steps


# --- the command ------------------------------------------------------------------------------


def render_list(listings: Sequence[TopicListing]) -> str:
    lines: list[str] = []
    for listing in listings:
        lines.append(f"{listing.topic}: {listing.count} records")
        for letter in listing.records:
            mark = " [replayed]" if letter.replayed else ""
            lines.append(
                f"  {letter.position:<10} key={letter.key} source={letter.source} "
                f"time={letter.time}{mark}\n    reason: {letter.reason}"
            )
    return "\n".join(lines) + "\n"


def main(
    action: str,
    *,
    topic: str | None = None,
    position: str | None = None,
    since: str | None = None,
    limit: int | None = None,
    as_json: bool = False,
    offsets: Sequence[str] | None = None,
    replay_all: bool = False,
    dry_run: bool = False,
    bus: Bus | None = None,
    catalog: Catalog | None = None,
) -> int:
    """`socialcare dlq list|show|replay` (socialcare/cli.py parses the arguments); `bus`
    and `catalog` default to SOCIALCARE_BUS's bus and the topic registry."""
    from socialcare.core.config import PlatformSettings

    catalog = catalog or registry_catalog()
    owned = bus is None
    if bus is None:
        from socialcare.core.backends import open_bus
        from socialcare.core.domain.topics import topic_layouts

        settings = PlatformSettings()
        bus = open_bus(settings)
        # As every service does at start (core/runtime.py): a topic this tool reads first
        # is created with the registry's layout, never with the bus's default count.
        for (partitions, compacted), names in topic_layouts(settings.topic_partitions).items():
            bus.create_topics(names, partitions, compacted=compacted)
    try:
        if action == "list":
            since_ms = None if since is None else parse_since(since)
            listings = list_dlqs(bus, catalog, topic, since_ms, limit)
            if as_json:
                document = {"topics": [listing.to_json() for listing in listings]}
                sys.stdout.write(json.dumps(document, indent=2) + "\n")
            else:
                sys.stdout.write(render_list(listings))
            return EXIT_OK
        if action == "show":
            if topic is None or position is None:
                raise DlqError("show needs <dlq-topic> <partition>:<offset>")
            letter = find(bus, catalog, topic, position)
            sys.stdout.write(json.dumps(describe(letter, catalog), indent=2) + "\n")
            return EXIT_OK
        if action == "replay":
            if topic is None:
                raise DlqError("replay needs <dlq-topic>")
            if replay_all == bool(offsets):
                raise DlqError("replay needs exactly one of --offsets P:O[,P:O...] or --all")
            chosen = None if replay_all else _split(offsets or ())
            name, steps = replay(bus, catalog, topic, chosen, dry_run=dry_run)
            for step in steps:
                print(step.line(name))
            counts = {a: sum(s.action == a for s in steps) for a in ("replayed", "skipped")}
            verb = "would replay" if dry_run else "replayed"
            planned = sum(s.action in ("replayed", "would-replay") for s in steps)
            failed = sum(s.action == "failed" for s in steps)
            print(
                f"{name}: {verb} {planned}, skipped {counts['skipped']} replayed before, "
                f"{failed} failed"
            )
            return EXIT_BUS if failed else EXIT_OK
        raise DlqError(f"unknown dlq action {action!r}")
    except DlqError as exc:
        print(f"socialcare dlq {action}: {exc}", file=sys.stderr)
        return exc.exit_code
    except (BusError, OSError) as exc:
        print(f"socialcare dlq {action}: the bus failed: {exc!r}", file=sys.stderr)
        return EXIT_BUS
    finally:
        if owned:
            bus.close()


def _split(offsets: Iterable[str]) -> list[str]:
    return [part for text in offsets for part in text.split(",") if part.strip()]
