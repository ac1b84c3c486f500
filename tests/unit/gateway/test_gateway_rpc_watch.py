"""CaseViewService.WatchCases on a real gRPC server and channel: the console board's changes
as a server stream, in order per case, never across brands, with the read_cases
permission, narrowed by the caller's filter, `resync` for a caller that fell behind,
keep-alives, a bounded number of streams, and cancellation that frees the subscription."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from socialcare.core.clock import to_timestamp
from socialcare.v1 import case_pb2, services_pb2
from tests.unit.fake_routing import FakeRouting, serve
from tests.unit.test_access import CASES_BY_ID, T0, make_case

from .rpc_world import RpcWorld, open_world

# How long a test waits for something that must happen (a bug fails the test, not hangs it).
PATIENCE_S = 30.0


@pytest.fixture(scope="module")
def routing_address() -> Iterator[str]:
    server, address = serve(FakeRouting(dict(CASES_BY_ID)))
    yield address
    server.stop(grace=None).wait()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, routing_address: str) -> Iterator[RpcWorld]:
    yield from open_world(tmp_path_factory.mktemp("watch"), routing_address)


@pytest.fixture
def small(tmp_path: Path, routing_address: str) -> Iterator[RpcWorld]:
    """A gateway whose streams queue 3 changes at most, send a keep-alive after 0.2 s
    quiet, and run 1 stream at a time."""
    yield from open_world(
        tmp_path, routing_address, workers=3, max_watches=1, keepalive_s=0.2, backlog=3
    )


def change(
    case_id: str,
    version: int,
    *,
    brand: str = "acme",
    assignee: str = "sanne",
    status: case_pb2.CaseStatus.ValueType = case_pb2.CASE_STATUS_ASSIGNED,
    kind: case_pb2.CaseEventType.ValueType = case_pb2.CASE_EVENT_TYPE_REPLIED,
    minutes: int = 0,
) -> case_pb2.CaseEvent:
    case = make_case(case_id, brand=brand, assignee=assignee)
    case.status = status
    case.version = version
    case.updated_at.CopyFrom(to_timestamp(T0 + timedelta(minutes=minutes or version)))
    return case_pb2.CaseEvent(
        event_id=f"ev-{case_id}-{version}", type=kind, case=case, occurred_at=case.updated_at
    )


def watch(
    world: RpcWorld, who: str | None, **request: Any
) -> Iterator[services_pb2.WatchCasesResponse]:
    metadata = world.metadata(who) if who else None
    stream: Iterator[services_pb2.WatchCasesResponse] = world.cases.WatchCases(
        services_pb2.WatchCasesRequest(**request), timeout=PATIENCE_S, metadata=metadata
    )
    return stream


def changes(stream: Iterator[services_pb2.WatchCasesResponse], count: int) -> list[tuple[str, int]]:
    """(case id, version) of the next `count` changes (keep-alives skipped)."""
    found = []
    for message in stream:
        if message.WhichOneof("kind") == "change":
            found.append((message.change.case.id, message.change.case.version))
            if len(found) == count:
                break
    return found


def opened(stream: Iterator[services_pb2.WatchCasesResponse]) -> None:
    """The stream's first message is `ready`: from then on its subscription exists."""
    first = next(stream)
    assert first.WhichOneof("kind") == "ready"
    assert first.ready.board_ready


def refused(stream: Iterator[services_pb2.WatchCasesResponse]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        next(stream)
    return caught.value


def wait_until(condition: Any) -> None:
    done = threading.Event()
    for _ in range(int(PATIENCE_S / 0.01)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("the condition never held")


def test_changes_arrive_in_order_per_case(world: RpcWorld) -> None:
    stream = watch(world, "sanne")
    opened(stream)
    published = [change(f"order-{n % 3}", 1 + n // 3) for n in range(30)]
    applier = threading.Thread(target=lambda: [world.board.apply(e) for e in published])
    applier.start()
    received = changes(stream, len(published))
    applier.join()
    assert sorted(received) == sorted((e.case.id, e.case.version) for e in published)
    for case_id in ("order-0", "order-1", "order-2"):
        versions = [v for c, v in received if c == case_id]
        assert versions == sorted(versions) == list(range(1, 11))
    stream.cancel()  # type: ignore[attr-defined]


def test_a_change_carries_the_public_view_of_the_case(world: RpcWorld) -> None:
    stream = watch(world, "sanne")
    opened(stream)
    world.board.apply(change("view-1", 4, kind=case_pb2.CASE_EVENT_TYPE_ASSIGNED))
    message = next(m for m in stream if m.WhichOneof("kind") == "change")
    view = message.change.case
    assert message.change.type == "assigned"
    assert (view.id, view.brand, view.status, view.assignee, view.channel, view.version) == (
        "view-1",
        "acme",
        "assigned",
        "sanne",
        "x",
        4,
    )
    assert view.queue == "care-global" and view.HasField("sla_due_at")
    stream.cancel()  # type: ignore[attr-defined]


def test_no_change_of_another_brand_reaches_a_stream(world: RpcWorld) -> None:
    gerrit = watch(world, "gerrit")
    admin = watch(world, "admin")
    opened(gerrit)
    opened(admin)
    world.board.apply(change("iso-acme", 1, brand="acme"))
    world.board.apply(change("iso-globex", 1, brand="globex", assignee="gerrit"))
    # The admin sees both, in order: by then both were handed to every subscriber.
    assert changes(admin, 2) == [("iso-acme", 1), ("iso-globex", 1)]
    assert changes(gerrit, 1) == [("iso-globex", 1)]
    for stream in (gerrit, admin):
        stream.cancel()  # type: ignore[attr-defined]


def test_asking_for_a_brand_one_does_not_see_is_permission_denied(world: RpcWorld) -> None:
    error = refused(watch(world, "gerrit", brands=["acme"]))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "brands" in str(error.details())
    unknown = refused(watch(world, "admin", brands=["initech"]))
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(unknown.details()).startswith("brands: ")


def test_watching_needs_read_cases(world: RpcWorld) -> None:
    world.key("ingest-only", brand="acme", permissions=["ingest"])
    assert refused(watch(world, "ingest-only")).code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused(watch(world, None)).code() == grpc.StatusCode.UNAUTHENTICATED
    world.key("reader", brand="globex", permissions=["read_cases"])
    reader = watch(world, "reader")
    opened(reader)
    world.board.apply(change("key-acme", 1, brand="acme"))
    world.board.apply(change("key-globex", 1, brand="globex", assignee="gerrit"))
    assert changes(reader, 1) == [("key-globex", 1)]
    reader.cancel()  # type: ignore[attr-defined]


def test_the_filter_narrows_the_stream(world: RpcWorld) -> None:
    stream = watch(world, "admin", statuses=["resolved"], assignee="olivia", brands=["acme"])
    opened(stream)
    world.board.apply(change("f-1", 1, assignee="olivia"))  # assigned: not resolved
    world.board.apply(change("f-2", 1, status=case_pb2.CASE_STATUS_RESOLVED))  # sanne's
    world.board.apply(
        change("f-3", 1, brand="globex", assignee="olivia", status=case_pb2.CASE_STATUS_RESOLVED)
    )
    world.board.apply(change("f-4", 1, assignee="olivia", status=case_pb2.CASE_STATUS_RESOLVED))
    assert changes(stream, 1) == [("f-4", 1)]
    stream.cancel()  # type: ignore[attr-defined]
    bad = refused(watch(world, "admin", statuses=["lost"]))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(bad.details()).startswith("statuses: ")


def test_since_sends_the_cases_changed_since_first(world: RpcWorld) -> None:
    world.board.apply(change("since-old", 1, minutes=1))
    world.board.apply(change("since-new", 1, minutes=500))
    world.board.apply(change("since-newer", 2, minutes=600))
    stream = watch(world, "sanne", since=to_timestamp(T0 + timedelta(minutes=400)))
    opened(stream)
    first = [next(stream), next(stream)]
    assert [(m.change.type, m.change.case.id) for m in first] == [
        ("snapshot", "since-new"),
        ("snapshot", "since-newer"),
    ]
    world.board.apply(change("since-new", 2, minutes=700))
    assert changes(stream, 1) == [("since-new", 2)]
    stream.cancel()  # type: ignore[attr-defined]


def test_a_caller_that_falls_behind_gets_one_resync_then_changes(small: RpcWorld) -> None:
    watcher = small.server.watcher
    assert watcher is not None
    stream = watch(small, "sanne")
    opened(stream)

    async def burst() -> None:
        # All on the watcher's loop at once: the stream's queue (3) overflows before its
        # worker can take anything, as when a slow client leaves it waiting.
        for version in range(1, 21):
            small.board.apply(change("burst", version))

    watcher.on_loop(burst())
    kinds = []
    for message in stream:
        kind = message.WhichOneof("kind")
        if kind == "keep_alive":
            continue
        kinds.append(kind)
        if kind == "resync":
            break
    assert kinds == ["resync"], "no change before the resync: they were dropped for it"
    small.board.apply(change("burst", 21))
    assert changes(stream, 1) == [("burst", 21)]
    stream.cancel()  # type: ignore[attr-defined]


def test_a_quiet_stream_gets_keep_alives(small: RpcWorld) -> None:
    stream = watch(small, "sanne")
    opened(stream)
    assert next(stream).WhichOneof("kind") == "keep_alive"
    assert next(stream).WhichOneof("kind") == "keep_alive"
    stream.cancel()  # type: ignore[attr-defined]


def test_cancelling_frees_the_subscription_and_the_slot(small: RpcWorld) -> None:
    watcher = small.server.watcher
    assert watcher is not None
    stream = watch(small, "sanne")
    opened(stream)
    assert watcher.active == 1
    second = refused(watch(small, "sanne"))
    assert second.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    stream.cancel()  # type: ignore[attr-defined]
    wait_until(lambda: watcher.active == 0 and not small.board._subscribers)
    again = watch(small, "sanne")
    opened(again)
    small.board.apply(change("after-cancel", 1))
    assert changes(again, 1) == [("after-cancel", 1)]
    again.cancel()  # type: ignore[attr-defined]


def test_stopping_the_server_ends_the_streams(small: RpcWorld) -> None:
    stream = watch(small, "sanne")
    opened(stream)
    small.server.stop()
    ended = [m.WhichOneof("kind") for m in stream]
    assert set(ended) <= {"keep_alive"}, "the stream ends (no error) once the server stops"


def test_a_closed_watcher_refuses_new_streams(small: RpcWorld) -> None:
    """Between the watcher's close and the server's stop a new stream is refused at once
    (nothing waits on a loop that no longer runs)."""
    watcher = small.server.watcher
    assert watcher is not None
    watcher.close()
    assert refused(watch(small, "sanne")).code() == grpc.StatusCode.UNAVAILABLE
