"""The SLA ledger (pure): what each event counts, exactly once by offset and by event id,
bounded labels, hourly tallies within the retention, and snapshots that restore to the same
state as counting from scratch - also when a snapshot was only partly written."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from socialcare.core.clock import to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.sla_reports import BUCKET_BOUNDS, OutcomeKey, Tally
from socialcare.core.events import derived_id
from socialcare.sla.ledger import (
    Cell,
    Labels,
    PartitionLedger,
    SeriesKey,
    bucket_index,
    threshold_label,
)
from socialcare.v1 import case_pb2, message_pb2, sla_pb2
from tests.unit.factories import T0

MET = sla_pb2.SLA_EVENT_TYPE_MET
BREACHED = sla_pb2.SLA_EVENT_TYPE_BREACHED
WARNING = sla_pb2.SLA_EVENT_TYPE_WARNING
AT_RISK = sla_pb2.SLA_EVENT_TYPE_AT_RISK
STOPPED = sla_pb2.SLA_EVENT_TYPE_STOPPED
STARTED = sla_pb2.SLA_EVENT_TYPE_STARTED
PAUSED = sla_pb2.SLA_EVENT_TYPE_PAUSED
FIRST = case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE
NEXT = case_pb2.SLA_CLOCK_KIND_NEXT_RESPONSE
RESOLUTION = case_pb2.SLA_CLOCK_KIND_RESOLUTION

RETENTION_HOURS = 48
ID_WINDOW_S = 900


def care() -> CareConfig:
    return CareConfig.model_validate(
        {
            "sla_policies": [
                {
                    "name": "en",
                    "languages": ["en"],
                    "first_response": "1h",
                    "attainment_target": 0.95,
                },
                {
                    "name": "en-vip",
                    "languages": ["en"],
                    "customer_tiers": ["vip"],
                    "first_response": "15m",
                    "attainment_target": 0.99,
                },
                {"name": "rest", "languages": ["*"], "first_response": "2d"},
            ],
            "teams": [{"name": "Benelux"}],
            "queues": [
                {"name": "care-en", "languages": ["en"]},
                {"name": "care-nl", "languages": ["nl"]},
                {"name": "care-global", "languages": ["*"]},
            ],
            "agents": [
                {"id": "sanne", "name": "Sanne", "languages": ["nl", "de"], "capacity": 5},
                {
                    "id": "olivia",
                    "name": "Olivia",
                    "languages": ["en"],
                    "capacity": 5,
                    "team": "Global English",
                },
            ],
        }
    )


LABELS = Labels.from_care(care())


def sla_event(
    case_id: str,
    kind: sla_pb2.SlaEventType.ValueType,
    *,
    at: datetime = T0,
    clock: case_pb2.SlaClockKind.ValueType = FIRST,
    cycle: int = 1,
    language: str = "en",
    queue: str = "care-en",
    channel: message_pb2.Channel.ValueType = message_pb2.CHANNEL_X,
    priority: str = "normal",
    team: str = "Global English",
    brand: str = "default",
    elapsed: float = 0.0,
    threshold: float = 0.0,
) -> sla_pb2.SlaEvent:
    return sla_pb2.SlaEvent(
        event_id=derived_id(case_id, str(clock), str(cycle), str(kind), str(threshold)),
        type=kind,
        case_id=case_id,
        language=language,
        queue=queue,
        channel=channel,
        priority=priority,
        team=team,
        brand=brand,
        clock=clock,
        cycle=cycle,
        elapsed_seconds=elapsed,
        threshold=threshold,
        occurred_at=to_timestamp(at),
    )


def ledger(partition: int = 0) -> PartitionLedger:
    return PartitionLedger(partition, retention_hours=RETENTION_HOURS, id_window_s=ID_WINDOW_S)


def state(book: PartitionLedger) -> tuple[Any, ...]:
    """Everything a ledger reports: totals, hourly tallies, where it stands."""
    return (
        sorted(book.totals()),
        list(book.hourly(0, 10**9)),
        book.through,
        book.clock,
    )


def count_all(book: PartitionLedger, events: list[sla_pb2.SlaEvent], first: int = 0) -> None:
    for offset, event in enumerate(events[first:], start=first):
        book.count(event, offset, LABELS)


EN_X = SeriesKey("first_response", "en", "x", "care-en", "normal")


def totals_of(book: PartitionLedger) -> dict[SeriesKey, Tally]:
    return {key: totals.tally for key, totals in book.totals()}


def test_each_event_type_counts_what_it_says() -> None:
    book = ledger()
    events = [
        sla_event("a", STARTED),
        sla_event("a", WARNING, threshold=0.75),
        sla_event("a", WARNING, threshold=0.9),
        sla_event("a", AT_RISK),
        sla_event("a", BREACHED),
        sla_event("a", STOPPED, elapsed=7200.0),
        sla_event("b", PAUSED),
        sla_event("b", MET, elapsed=30.0),
        sla_event("c", MET, elapsed=31.0),
    ]
    count_all(book, events)

    tally = totals_of(book)[EN_X]
    assert (tally.met, tally.breached, tally.warnings, tally.at_risk) == (2, 1, 2, 1)
    # Observed: the two MET clocks and the breached one once it stopped; `le` is inclusive.
    assert tally.observed == 3
    assert tally.seconds_sum == pytest.approx(7261.0)
    assert tally.buckets[0] == 1  # 30 s
    assert tally.buckets[1] == 1  # 31 s
    assert tally.buckets[BUCKET_BOUNDS.index(7200.0)] == 1
    assert sum(tally.buckets) == tally.observed
    [(_, totals)] = [(k, t) for k, t in book.totals() if k == EN_X]
    assert totals.warnings_by_threshold == (("0.75", 1), ("0.9", 1))


def test_buckets_and_thresholds() -> None:
    assert bucket_index(0) == 0
    assert bucket_index(30) == 0
    assert bucket_index(30.001) == 1
    assert bucket_index(604800) == len(BUCKET_BOUNDS) - 1
    assert bucket_index(604801) == len(BUCKET_BOUNDS)  # +Inf
    assert threshold_label(0.75) == "0.75"
    assert threshold_label(0.9000000001) == "0.9"
    tally = Tally(buckets=(1, 0, 2) + (0,) * (len(BUCKET_BOUNDS) - 2))
    assert tally.cumulative_buckets()[:3] == (1, 1, 3)
    assert tally.cumulative_buckets()[-1] == 3
    assert tally.merged(tally).buckets[:3] == (2, 0, 4)


def test_clocks_have_their_own_series() -> None:
    book = ledger()
    count_all(
        book,
        [
            sla_event("a", MET, clock=FIRST, elapsed=10),
            sla_event("a", MET, clock=NEXT, cycle=2, elapsed=20),
            sla_event("a", MET, clock=RESOLUTION, elapsed=30),
            sla_event("b", MET, clock=case_pb2.SLA_CLOCK_KIND_UNSPECIFIED, elapsed=40),
        ],
    )
    met = {key.clock: tally.met for key, tally in totals_of(book).items()}
    assert met == {"first_response": 2, "next_response": 1, "resolution": 1}


def test_a_record_delivered_twice_counts_once() -> None:
    book = ledger()
    event = sla_event("a", BREACHED)
    assert book.count(event, 5, LABELS)
    assert not book.count(event, 5, LABELS)
    assert not book.count(sla_event("z", MET), 3, LABELS)  # an offset already passed
    assert totals_of(book)[EN_X].breached == 1
    assert book.through == 5


def test_an_event_published_again_counts_once() -> None:
    book = ledger()
    event = sla_event("a", BREACHED, at=T0)
    assert book.count(event, 0, LABELS)
    book.count(sla_event("b", MET, at=T0 + timedelta(minutes=10)), 1, LABELS)
    # The same milestone again (a crash before the commit), at a later offset:
    assert not book.count(event, 2, LABELS)
    assert totals_of(book)[EN_X].breached == 1


def test_the_id_window_is_partition_time_not_forever() -> None:
    """Ids are remembered for `id_window_s` of partition time (re-emissions come within
    minutes): after that an id is forgotten, so memory and snapshots stay bounded."""
    book = ledger()
    event = sla_event("a", BREACHED, at=T0)
    book.count(event, 0, LABELS)
    book.count(sla_event("b", MET, at=T0 + timedelta(seconds=ID_WINDOW_S + 20)), 1, LABELS)
    assert book.count(event, 2, LABELS)
    assert totals_of(book)[EN_X].breached == 2


def test_labels_come_from_the_config_never_from_the_event() -> None:
    book = ledger()
    count_all(
        book,
        [
            sla_event("a", MET, language="xx", queue="care-nl", team="", brand="acme"),
            sla_event("b", MET, language="nl", queue="made-up", priority="", team="Nope"),
            sla_event("c", MET, language="de", priority="URGENT!!", team="Global English"),
            sla_event("d", MET, language="en", team="Benelux", channel=999),  # type: ignore[arg-type]
        ],
    )
    keys = sorted(key for _, key, _ in book.hourly(0, 10**9))
    assert keys == [
        OutcomeKey("first_response", "de", "x", "care-en", "other", "Global English", "default"),
        OutcomeKey("first_response", "en", "other", "care-en", "normal", "Benelux", "default"),
        OutcomeKey("first_response", "nl", "x", "other", "normal", "other", "default"),
        OutcomeKey("first_response", "other", "x", "care-nl", "normal", "", "other"),
    ]
    assert LABELS.languages == frozenset({"en", "nl", "de"})


def test_hourly_tallies_by_hour_within_the_retention() -> None:
    book = ledger()
    hour = int(T0.timestamp()) // 3600
    count_all(
        book,
        [
            sla_event("a", MET, at=T0 + timedelta(minutes=5), elapsed=60),
            sla_event("b", BREACHED, at=T0 + timedelta(minutes=65)),
            sla_event("c", MET, at=T0 + timedelta(minutes=59, seconds=59), elapsed=60),
        ],
    )
    rows = {(h, tally.met, tally.breached) for h, _, tally in book.hourly(0, 10**9)}
    assert rows == {(hour, 2, 0), (hour + 1, 0, 1)}
    assert {h for h, _, _ in book.hourly(hour + 1, hour + 2)} == {hour + 1}

    # Partition time moves on by the retention: the first hour is dropped; a late event
    # for it still counts in the totals, not in the hours.
    later = T0 + timedelta(hours=RETENTION_HOURS, minutes=1)
    book.count(sla_event("d", MET, at=later, elapsed=5), 3, LABELS)
    book.count(sla_event("e", MET, at=T0, elapsed=5), 4, LABELS)
    assert {h for h, _, _ in book.hourly(0, 10**9)} == {hour + 1, hour + RETENTION_HOURS}
    assert totals_of(book)[EN_X].met == 4


LONG_STEPS = (1, 5, 30, 300, 4000)


def random_events(
    seed: int, count: int, steps: tuple[int, ...] = LONG_STEPS, short_from: int | None = None
) -> list[sla_pb2.SlaEvent]:
    """A stream with re-emissions (same id later), every type, clocks, several languages
    and hours, and partition time that crosses the id window and the retention (from
    `short_from` on, events come at most 5 s apart)."""
    rng = random.Random(seed)
    kinds = [MET, BREACHED, WARNING, AT_RISK, STOPPED, STARTED, PAUSED]
    events: list[sla_pb2.SlaEvent] = []
    at = T0
    for n in range(count):
        short = short_from is not None and n >= short_from
        at += timedelta(seconds=rng.choice((1, 2, 5) if short else steps))
        if events and rng.random() < 0.15:
            events.append(rng.choice(events[-20:]))  # published again
            continue
        events.append(
            sla_event(
                f"case-{rng.randrange(40)}-{n}",
                rng.choice(kinds),
                at=at,
                clock=rng.choice([FIRST, NEXT, RESOLUTION]),
                language=rng.choice(["en", "nl", "xx", "de"]),
                queue=rng.choice(["care-en", "care-nl", "nope"]),
                priority=rng.choice(["normal", "high", ""]),
                elapsed=rng.choice([10.0, 100.0, 5000.0, 1e6]),
                threshold=rng.choice([0.75, 0.9]),
            )
        )
    return events


def restored(cells: list[Cell]) -> PartitionLedger:
    return PartitionLedger.restore(
        0, cells, retention_hours=RETENTION_HOURS, id_window_s=ID_WINDOW_S
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_restore_and_replay_equals_counting_from_scratch(seed: int) -> None:
    events = random_events(seed, 400)
    scratch = ledger()
    count_all(scratch, events)

    rng = random.Random(seed)
    book = ledger()
    written: list[Cell] = []  # what the compacted topic received, in order
    cuts = sorted(rng.sample(range(1, len(events)), 8))
    previous = 0
    for cut in cuts:
        count_all_range(book, events, previous, cut)
        written.extend(book.snapshot())
        previous = cut
        # At every snapshot: a new owner restoring from it and replaying the rest ends up
        # where the one ledger that counted everything is.
        again = restored(written)
        count_all(again, events, first=again.through + 1)
        assert state(again) == state(scratch)


def count_all_range(book: PartitionLedger, events: list[sla_pb2.SlaEvent], a: int, b: int) -> None:
    for offset in range(a, b):
        book.count(events[offset], offset, LABELS)


@pytest.mark.parametrize("seed", range(4, 14))
def test_a_snapshot_written_only_in_part_restores_exactly(seed: int) -> None:
    """The process died in mid-flush: of the last snapshot's cells only the first few
    reached the topic (the head, written last, not). Cells carry their own through offsets, so
    replaying from the head adds to each cell exactly what it lacks. (Partition time moves
    little between the two snapshots, as when a flush fails: see `PartitionLedger`; before
    them it crosses the rings of keys many times.)"""
    events = random_events(seed, 300, short_from=150)
    scratch = ledger()
    count_all(scratch, events)
    rng = random.Random(seed)
    book = ledger()
    count_all_range(book, events, 0, 150)
    durable = book.snapshot()
    count_all_range(book, events, 150, 260)
    last = book.snapshot()
    # sla.metrics-state has one partition and the producer is idempotent: what reached it
    # is a prefix of what was sent.
    assert last[-1].key == "p0|head"
    kept = last[: rng.randrange(len(last) + 1)]
    again = restored(durable + kept)
    count_all(again, events, first=again.through + 1)
    assert state(again) == state(scratch)


def test_a_snapshot_carries_only_what_changed_with_the_head_last() -> None:
    book = ledger(3)
    count_all(book, [sla_event("a", MET, elapsed=1), sla_event("b", MET, language="nl")])
    first = book.snapshot()
    assert [cell.key.split("|")[1] for cell in first][-1] == "head"
    assert {cell.through_offset for cell in first} == {1}
    assert all(cell.key.startswith("p3|") for cell in first)
    assert book.snapshot() == []  # nothing new

    book.count(sla_event("c", STARTED), 2, LABELS)
    assert [cell.key for cell in book.snapshot()] == ["p3|head"]
    book.count(sla_event("d", MET, language="nl"), 3, LABELS)
    keys = [cell.key for cell in book.snapshot()]
    assert "p3|t|nl" in keys and "p3|t|en" not in keys

    book.touch_all()
    assert {"p3|t|nl", "p3|t|en", "p3|head"} <= {cell.key for cell in book.snapshot()}


def test_snapshot_keys_are_bounded_by_the_retention() -> None:
    """Hours and id slots are rings of keys: however long the ledger runs, its cells in
    the compacted topic stay bounded."""
    book = ledger()
    keys: set[str] = set()
    at = T0
    for offset in range(2000):
        at += timedelta(minutes=7)
        book.count(sla_event(f"c{offset}", MET, at=at), offset, LABELS)
        keys |= {cell.key for cell in book.snapshot()}
    hours = {k for k in keys if "|h|" in k}
    slots = {k for k in keys if "|i|" in k}
    assert len(hours) == RETENTION_HOURS
    assert len(slots) <= ID_WINDOW_S // 10 + 1


def test_restore_refuses_cells_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="unreadable"):
        restored([Cell("p0|head", 3, b"not zlib")])
    assert state(restored([])) == state(ledger())


def test_a_partly_written_snapshot_never_overwrites_ids_still_in_the_window() -> None:
    """The id ring has twice the slots the window needs: the slot a partly written
    snapshot writes never takes the key of one the last complete snapshot still needs."""
    breach = sla_event("a", BREACHED, at=T0)
    events = [
        breach,
        sla_event("b", MET, at=T0 + timedelta(seconds=100)),
        breach,  # published again, within the window: not counted
        sla_event("c", MET, at=T0 + timedelta(seconds=ID_WINDOW_S + 10)),
    ]
    book = ledger()
    count_all_range(book, events, 0, 2)
    durable = book.snapshot()
    count_all_range(book, events, 2, 4)
    last = book.snapshot()
    # Written before the process died: the id slots, not the totals nor the head.
    kept = [cell for cell in last if "|i|" in cell.key or "|h|" in cell.key]
    assert len(kept) < len(last)
    again = restored(durable + kept)
    count_all(again, events, first=again.through + 1)
    assert totals_of(again)[EN_X].breached == 1


def test_a_wait_that_is_not_a_number_counts_as_zero_seconds() -> None:
    book = ledger()
    count_all(book, [sla_event("a", MET, elapsed=float("nan")), sla_event("b", MET, elapsed=-3)])
    tally = totals_of(book)[EN_X]
    assert (tally.observed, tally.seconds_sum, tally.buckets[0]) == (2, 0.0, 2)
