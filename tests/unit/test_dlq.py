"""`socialcare dlq` on the embedded bus: a real consumer loop dead-letters a poison record
and a record that does not parse; `list` and `show` describe them; `replay` publishes the
fixed one back to its source, where the loop consumes it again, and a rerun replays
nothing twice. The command's errors come with their exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from socialcare.core.bus import Record
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.consumer_loop import TypedProcessor
from socialcare.core.dlq import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    MARKER_HEADER,
    REPLAY_HEADER,
    BadOffsetError,
    RecordNotFoundError,
    UnknownDlqTopicError,
    describe,
    find,
    list_dlqs,
    main,
    parse_position,
    parse_since,
    registry_catalog,
    replay,
)
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.core.events import InvalidRecordError, publish
from socialcare.v1.message_pb2 import SocialMessage
from tests.unit.loop_support import laid_out_bus, loop_thread, wait_until

RAW = Topic.MESSAGES_RAW.value
RAW_DLQ = Topic.MESSAGES_RAW.dlq


class Picky(TypedProcessor):
    """Refuses messages whose text says "poison" until `fixed` (the bug fixed and deployed)."""

    def __init__(self) -> None:
        super().__init__()
        self.fixed = False
        self.seen: list[tuple[str, bytes | None]] = []
        self.on(Topic.MESSAGES_RAW, SocialMessage, self._on_message)

    def _on_message(self, message: SocialMessage, record: Record) -> Sequence[Emit]:
        if "poison" in message.text and not self.fixed:
            raise InvalidRecordError("text is poison")
        self.seen.append((message.text, record.header(REPLAY_HEADER)))
        return ()


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    opened = laid_out_bus(tmp_path / "bus", 2)
    yield opened
    opened.close()


def dead_lettered(bus: EmbeddedBus) -> Picky:
    """Runs a loop over three messages (one poison) and a record that does not parse,
    until both bad ones are in the DLQ."""
    producer = bus.producer("test")
    for text in ("hello", "poison pill", "bye"):
        message = SocialMessage(message_id=f"m-{text}", text=text)
        publish(producer, RAW, message, key="k1", event_id=f"e-{text}", source="test")
    producer.send(RAW, b"\xff\xff\xff", key=b"k2")
    producer.flush()
    producer.close()
    processor = Picky()
    with loop_thread(bus, processor, "dlq-test") as thread:
        wait_until(lambda: len(list(bus.replay(RAW_DLQ))) == 2, 10, thread)
    assert [text for text, _ in processor.seen] == ["hello", "bye"]
    return processor


def test_list_show_replay_and_rerun(bus: EmbeddedBus) -> None:
    processor = dead_lettered(bus)
    catalog = registry_catalog()

    [listing] = list_dlqs(bus, catalog, RAW)
    assert listing.topic == RAW_DLQ and listing.count == 2
    by_key = {letter.key: letter for letter in listing.records}
    poison, garbage = by_key["k1"], by_key["k2"]
    assert poison.reason == "text is poison"
    assert poison.source.startswith(f"{RAW}/") and poison.group == "dlq-test"
    assert garbage.reason.startswith("value is not a valid socialcare.v1.SocialMessage")
    everything = list_dlqs(bus, catalog)
    assert {lst.topic for lst in everything} == set(catalog.dlq_topics)
    assert sum(lst.count for lst in everything) == 2
    assert [len(lst.records) for lst in list_dlqs(bus, catalog, RAW, limit=1)] == [1]
    assert list_dlqs(bus, catalog, RAW, since_ms=parse_since("1h"))[0].count == 2
    assert list_dlqs(bus, catalog, RAW, since_ms=parse_since("2999-01-01"))[0].count == 0

    shown = describe(find(bus, catalog, RAW_DLQ, poison.position), catalog)
    assert shown["payload_encoding"] == "json"
    assert shown["payload"]["text"] == "poison pill"
    assert shown["message_type"] == "socialcare.v1.SocialMessage"
    assert shown["headers"]["dlq-reason"] == "text is poison"
    assert shown["headers"]["event-id"] == "e-poison pill"
    raw = describe(find(bus, catalog, RAW_DLQ, garbage.position), catalog)
    assert (raw["payload_encoding"], raw["payload"]) == ("hex", "ffffff")

    processor.fixed = True
    _, dry = replay(bus, catalog, RAW_DLQ, [poison.position], dry_run=True)
    assert [step.action for step in dry] == ["would-replay"]
    assert len(list(bus.replay(RAW))) == 4  # a dry run publishes nothing

    name, steps = replay(bus, catalog, RAW_DLQ, [poison.position])
    assert name == RAW_DLQ
    assert [(s.action, s.target) for s in steps] == [("replayed", RAW)]
    replayed = [r for r in bus.replay(RAW) if r.header(REPLAY_HEADER) is not None]
    assert len(replayed) == 1
    again = replayed[0]
    assert again.key == b"k1" and again.value == poison.record.value
    assert again.header(REPLAY_HEADER) == f"{RAW_DLQ}/{poison.position}".encode()
    assert again.header("event-id") == b"e-poison pill"
    assert not [
        name for name, _ in again.headers if name.startswith("dlq-") and "replay" not in name
    ]

    with loop_thread(bus, processor, "dlq-test") as thread:
        wait_until(lambda: len(processor.seen) == 3, 10, thread)
    assert processor.seen[-1] == ("poison pill", f"{RAW_DLQ}/{poison.position}".encode())

    # A rerun, by position or --all, replays the poison record no second time.
    _, rerun = replay(bus, catalog, RAW_DLQ, [poison.position])
    assert [step.action for step in rerun] == ["skipped"]
    _, everything_steps = replay(bus, catalog, RAW_DLQ, None)
    assert {s.position: s.action for s in everything_steps} == {
        poison.position: "skipped",
        garbage.position: "replayed",
    }
    _, third = replay(bus, catalog, RAW_DLQ, None)
    assert {step.action for step in third} == {"skipped"}
    assert len([r for r in bus.replay(RAW) if r.header(REPLAY_HEADER) is not None]) == 2
    # Markers are not dead letters: the listing still has two records, both replayed.
    [after] = list_dlqs(bus, catalog, RAW)
    assert after.count == 2 and all(letter.replayed for letter in after.records)
    assert len([r for r in bus.replay(RAW_DLQ) if r.header(MARKER_HEADER)]) == 2


def test_errors(bus: EmbeddedBus) -> None:
    dead_lettered(bus)
    catalog = registry_catalog()
    with pytest.raises(UnknownDlqTopicError):
        list_dlqs(bus, catalog, "no.such.topic")
    with pytest.raises(BadOffsetError):
        find(bus, catalog, RAW_DLQ, "zero:1")
    with pytest.raises(BadOffsetError):
        find(bus, catalog, RAW_DLQ, "7:0")
    with pytest.raises(RecordNotFoundError):
        find(bus, catalog, RAW_DLQ, "0:999")
    with pytest.raises(RecordNotFoundError):
        replay(bus, catalog, RAW_DLQ, ["0:999"])
    assert parse_position(" 1:42 ") == (1, 42)
    with pytest.raises(BadOffsetError):
        parse_position("1:-2")


def test_main_prints_and_exits(bus: EmbeddedBus, capsys: pytest.CaptureFixture[str]) -> None:
    dead_lettered(bus)
    assert main("list", topic=RAW, as_json=True, bus=bus) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    [topic] = document["topics"]
    assert topic["topic"] == RAW_DLQ and topic["count"] == 2
    position = f"{topic['records'][0]['partition']}:{topic['records'][0]['offset']}"

    assert main("list", bus=bus) == EXIT_OK
    assert f"{RAW_DLQ}: 2 records" in capsys.readouterr().out
    assert main("show", topic=RAW_DLQ, position=position, bus=bus) == EXIT_OK
    shown = json.loads(capsys.readouterr().out)
    assert (shown["topic"], shown["reason"] != "") == (RAW_DLQ, True)
    assert shown["payload_encoding"] in {"json", "hex"}
    assert main("replay", topic=RAW_DLQ, replay_all=True, dry_run=True, bus=bus) == EXIT_OK
    out = capsys.readouterr().out
    assert "would-replay" in out and f"{RAW_DLQ}: would replay 2" in out

    assert main("list", topic="nope", bus=bus) == EXIT_USAGE
    assert "unknown dead-letter topic 'nope'" in capsys.readouterr().err
    assert main("show", topic=RAW_DLQ, position="0-1", bus=bus) == EXIT_USAGE
    assert "not partition:offset" in capsys.readouterr().err
    assert main("show", topic=RAW_DLQ, position="0:999", bus=bus) == EXIT_NOT_FOUND
    assert main("replay", topic=RAW_DLQ, bus=bus) == EXIT_USAGE
    assert "exactly one of --offsets" in capsys.readouterr().err
    assert main("list", since="yesterday", bus=bus) == EXIT_USAGE
    assert bus.partition_count(RAW_DLQ) == 2  # the bus passed in is left open


def test_parse_since() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now) == int(
        datetime(2026, 11, 27, 10, 0, tzinfo=UTC).timestamp() * 1000
    )
    assert parse_since("2026-11-27T10:00:00+00:00") == parse_since("2026-11-27T10:00:00")


def test_command_line_opens_the_configured_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from socialcare import cli

    monkeypatch.setenv("SOCIALCARE_BUS", "embedded")
    monkeypatch.setenv("SOCIALCARE_DATA_DIR", str(tmp_path))
    assert cli.main(["dlq", "list", "--topic", "care.cases", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {
        "topics": [{"topic": "care.cases.dlq", "count": 0, "records": []}]
    }
    assert cli.main(["dlq", "show", "care.cases.dlq", "0:0"]) == EXIT_NOT_FOUND
    assert cli.main(["dlq", "replay", "care.cases.dlq", "--offsets", "0:0,x"]) == EXIT_USAGE
    assert "'x' is not partition:offset" in capsys.readouterr().err
