"""Property: every consumer's processor takes any record without a surprise.

For every consumer group `socialcare run all` runs (derived from the services' wiring, as in
`test_fuzz_consumers.py`) and every topic it reads, Hypothesis generates records and hands
them to the processor directly (no loop, no bus: thousands a second, and a failure shrinks to
the smallest record that shows it):

* a valid message of the topic with one field, anywhere in it, set to an arbitrary value of
  its type: any text, any 64-bit number, NaN and infinities, an enum number no version
  defines, a timestamp far outside what a calendar holds;
* a valid message's bytes with bytes flipped, cut or inserted;
* arbitrary bytes; with a key and headers that are right, missing or arbitrary bytes.

The processor must return its effects or raise `InvalidRecordError` (the loop dead-letters
that record with the reason); any other exception is a bug (the loop would retry it and then
dead-letter it as "processing failed"). After every record the processor's `flush()` must
succeed too: an effect the backend refuses (a document search rejects) would otherwise be
retried forever as if search were down.

Bounded: `EXAMPLES` per group and topic (SOCIALCARE_FUZZ_EXAMPLES for a longer campaign);
the records handed to each group and those it refused are printed (`pytest -s`).
"""

from __future__ import annotations

import math
import os
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialcare.core.bus import Headers, Record, TopicPartition
from socialcare.core.consumer_loop import RecordProcessor
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError
from socialcare.core.runtime import Runtime
from tests.fuzz.records import HEADERS, record_of, valid
from tests.fuzz.test_fuzz_consumers import every_loop, open_runtime

EXAMPLES = int(os.environ.get("SOCIALCARE_FUZZ_EXAMPLES", "100"))
INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_ENUM: (-(2**31), 2**31 - 1),
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = open_runtime(tmp_path_factory.mktemp("fuzz-processors"))
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def prepared(runtime: Runtime) -> dict[str, tuple[RecordProcessor, tuple[str, ...]]]:
    """Every group's processor, prepared and owning every partition of its topics."""
    found: dict[str, tuple[RecordProcessor, tuple[str, ...]]] = {}
    for component in every_loop(runtime):
        processor, topics = component.loop._processor, component.loop.topics
        processor.prepare()
        processor.assigned(
            frozenset(
                TopicPartition(topic, p)
                for topic in topics
                for p in range(runtime.bus.partition_count(topic))
            )
        )
        found[component.name] = (processor, topics)
    return found


def field_paths(
    descriptor: Any, prefix: tuple[Any, ...] = (), depth: int = 0
) -> list[tuple[Any, ...]]:
    """Every path of field descriptors from the message type down to a scalar field (at most
    four messages deep; a repeated field counts as one item)."""
    paths: list[tuple[Any, ...]] = []
    for field in descriptor.fields:
        path = (*prefix, field)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth < 4 and not field.message_type.GetOptions().map_entry:
                paths += field_paths(field.message_type, path, depth + 1)
        else:
            paths.append(path)
    return paths


def value_of(field: Any) -> st.SearchStrategy[Any]:
    """Any value protobuf lets `field` hold."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=300) | st.sampled_from(["", " ", "x" * 5000, "\u202e", "\x00"])
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=300)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_FLOAT:
        return st.floats(width=32) | st.sampled_from([math.nan, math.inf, -math.inf, -0.0])
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return st.floats() | st.sampled_from([math.nan, math.inf, -math.inf, -0.0])
    low, high = INT_RANGES[kind]
    return st.integers(low, high) | st.sampled_from([low, high, 0, -1, 1])


def set_path(message: Message, path: tuple[Any, ...], value: Any) -> None:
    holder = message
    for field in path[:-1]:
        child = getattr(holder, field.name)
        holder = child.add() if hasattr(child, "add") else child
    last = path[-1]
    target = getattr(holder, last.name)
    if hasattr(target, "append"):
        target.append(value)
    else:
        setattr(holder, last.name, value)


@st.composite
def changed_message(draw: st.DrawFn, topic: Topic) -> tuple[bytes, bytes | None, Headers]:
    """A valid message of `topic` with one field set to an arbitrary value of its type."""
    message = valid(topic, draw(st.integers(1, 10**6)))
    path = draw(st.sampled_from(field_paths(message.DESCRIPTOR)))
    set_path(message, path, draw(value_of(path[-1])))
    good = record_of(topic, message)
    assert good.value is not None
    return good.value, good.key, good.headers


@st.composite
def mutated_bytes(draw: st.DrawFn, topic: Topic) -> tuple[bytes, bytes | None, Headers]:
    """A valid message's bytes with some flipped, cut or inserted."""
    good = record_of(topic, valid(topic, draw(st.integers(1, 10**6))))
    assert good.value is not None
    data = bytearray(good.value)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        how = draw(st.sampled_from(["flip", "cut", "insert"]))
        if how == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data), good.key, good.headers


@st.composite
def odd_envelope(draw: st.DrawFn, topic: Topic) -> tuple[bytes, bytes | None, Headers]:
    """A valid value with a missing or arbitrary key, and headers dropped or arbitrary."""
    good = record_of(topic, valid(topic, draw(st.integers(1, 10**6))))
    assert good.value is not None
    key = draw(st.none() | st.just(good.key) | st.binary(max_size=40))
    headers: Headers = tuple(
        (name, draw(st.just(data) | st.binary(max_size=60)))
        for name, data in good.headers
        if draw(st.booleans())
    )
    extra = draw(st.lists(st.tuples(st.sampled_from(HEADERS), st.binary(max_size=60)), max_size=2))
    return good.value, key, (*headers, *extra)


def records(topic: Topic) -> st.SearchStrategy[tuple[bytes, bytes | None, Headers]]:
    arbitrary = st.tuples(st.binary(max_size=400), st.none() | st.binary(max_size=40), st.just(()))
    return changed_message(topic) | mutated_bytes(topic) | odd_envelope(topic) | arbitrary


def fuzz_of(processor: RecordProcessor, topic: Topic, tally: Counter[str]) -> Callable[[], None]:
    """A Hypothesis test of `processor` with records of `topic` (see the module docstring);
    `tally` counts the records handed over and those refused as invalid."""

    @given(drawn=records(topic))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    def fuzz(drawn: tuple[bytes, bytes | None, Headers]) -> None:
        value, key, headers = drawn
        tally["sent"] += 1
        try:
            processor.process(Record(topic.value, 0, 1, key, value, headers))
        except InvalidRecordError:
            tally["refused"] += 1
        processor.flush()

    return fuzz


def test_every_processor_takes_any_record_without_a_surprise(
    prepared: dict[str, tuple[RecordProcessor, tuple[str, ...]]],
) -> None:
    failures: list[str] = []
    tallies: dict[str, Counter[str]] = defaultdict(Counter)
    for group, (processor, topics) in sorted(prepared.items()):
        for topic in topics:
            try:
                fuzz_of(processor, Topic(topic), tallies[group])()
            except Exception as exc:
                failures += [f"{group} on {topic}: {line}" for line in explain(exc)]
    print("\nconsumer group          records  refused as invalid")
    for group, tally in sorted(tallies.items()):
        print(f"{group:<22} {tally['sent']:>8} {tally['refused']:>19}")
    print(
        f"{'all':<22} {sum(t['sent'] for t in tallies.values()):>8} "
        f"{sum(t['refused'] for t in tallies.values()):>19}"
    )
    assert not failures, "\n\n".join(failures)


def explain(exc: BaseException) -> list[str]:
    """One line per failure Hypothesis found: the error, where in the platform it was
    raised, and the smallest record that shows it (Hypothesis's note)."""
    if isinstance(exc, BaseExceptionGroup):
        return [line for inner in exc.exceptions for line in explain(inner)]
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/socialcare/" in f.filename]
    at = (
        f" at {frames[-1].filename.split('/socialcare/')[-1]}:{frames[-1].lineno}" if frames else ""
    )
    notes = " ".join(getattr(exc, "__notes__", []))[:600]
    return [f"{type(exc).__name__}: {str(exc)[:300]}{at}; {notes}"]
