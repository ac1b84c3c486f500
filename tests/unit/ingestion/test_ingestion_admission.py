"""Admission control: over a bound, ingest requests are refused at once (503 `overloaded`,
Retry-After, nothing written); under it they are served; the room comes back however a
request ends."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import grpc
import pytest

from socialcare.core.bus import BusError
from socialcare.core.errors import RETRY_AFTER_S, as_socialcare_error
from socialcare.core.runtime import Runtime
from socialcare.ingestion.admission import (
    ASSUMED_BODY_BYTES,
    MIN_QUEUE,
    Admission,
    OverloadedError,
)
from socialcare.ingestion.api import ingestion_router
from socialcare.ingestion.dedupe import SeenMessageIds
from socialcare.ingestion.ingestor import Ingestor
from socialcare.ingestion.rpc import IngestGrpcServer, IngestServicer
from socialcare.ingestion.settings import IngestionSettings
from socialcare.v1 import services_pb2, services_pb2_grpc
from tests.unit.auth_support import admin_client, admin_metadata, open_test_auth
from tests.unit.ingestion.ingestion_helpers import message_body, raw_records
from tests.unit.ingestion.test_ingestion_api import FlakyProducer
from tests.unit.ingestion.test_ingestion_rpc import social_message
from tests.unit.metrics import sample


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def shed(door: str, limit: str) -> float:
    return sample("socialcare_ingest_shed_total", door=door, limit=limit)


def refusal(admission: Admission, door: str = "rest", size: int = 1) -> OverloadedError:
    """The error of one more request, which must be refused."""
    with pytest.raises(OverloadedError) as refused, admission.admitted(door, size):
        pytest.fail("admitted over the bound")
    return refused.value


# --- The bound itself -------------------------------------------------------------------------


def test_under_the_bound_requests_are_admitted_and_released() -> None:
    admission = Admission(max_requests=2, max_bytes=10_000)
    with admission.admitted("rest", 100), admission.admitted("rest", 200):
        assert admission.in_flight == (2, 300)
    assert admission.in_flight == (0, 0)


def test_over_the_request_bound_the_refusal_is_at_once_and_counted() -> None:
    admission = Admission(max_requests=1, max_bytes=10_000)
    before = shed("rest", "requests")
    with admission.admitted("rest", 100):
        error = refusal(admission, "rest", 100)
    assert error.code == "overloaded"
    assert error.http_status == 503
    assert error.grpc_code == grpc.StatusCode.UNAVAILABLE
    assert error.retry_after_s is not None and error.retry_after_s >= 1
    assert shed("rest", "requests") == before + 1
    assert admission.in_flight == (0, 0), "a refusal holds nothing"


def test_over_the_byte_bound_is_refused_but_one_request_always_gets_in() -> None:
    admission = Admission(max_requests=100, max_bytes=1_000)
    before = shed("grpc", "bytes")
    with admission.admitted("grpc", 5_000):  # larger than the bound, alone: admitted
        refusal(admission, "grpc", 1)
    with admission.admitted("grpc", 600):
        refusal(admission, "grpc", 600)
    assert shed("grpc", "bytes") == before + 2


def test_a_body_of_unknown_length_weighs_the_assumed_size() -> None:
    admission = Admission()
    with admission.admitted("rest", None):
        assert admission.in_flight == (1, ASSUMED_BODY_BYTES)


def test_the_room_comes_back_when_the_request_fails() -> None:
    admission = Admission(max_requests=1)
    with pytest.raises(BusError), admission.admitted("rest", 10):
        raise BusError("broker down")
    assert admission.in_flight == (0, 0)
    with admission.admitted("rest", 10):
        assert admission.in_flight == (1, 10)


def test_the_room_comes_back_when_the_request_is_cancelled() -> None:
    admission = Admission(max_requests=1)
    inside = asyncio.Event()

    async def request() -> None:
        with admission.admitted("rest", 10):
            inside.set()
            await asyncio.Event().wait()  # a client that went away mid-request

    async def main() -> tuple[int, int]:
        task = asyncio.create_task(request())
        await inside.wait()
        assert admission.in_flight == (1, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return admission.in_flight

    assert asyncio.run(main()) == (0, 0)


def test_retry_after_is_the_time_to_drain_the_work_in_flight_at_the_recent_rate() -> None:
    clock = Clock()
    admission = Admission(max_requests=30, max_delay_s=60.0, monotonic=clock)
    for _ in range(10):  # 10 answers in the last second: 10 per second
        with admission.admitted("rest", 1):
            pass
    clock.now += 1.0
    held = [admission.admitted("rest", 1) for _ in range(30)]
    for hold in held:
        hold.__enter__()
    try:
        assert refusal(admission).retry_after_s == 3  # 30 in flight at 10/s
    finally:
        _release(held)


def test_retry_after_without_recent_answers_is_the_outage_default() -> None:
    admission = Admission(max_requests=1)
    with admission.admitted("rest", 1):
        assert refusal(admission).retry_after_s == RETRY_AFTER_S


def _queue(admission: Admission, clock: Clock, in_flight: int, waited_s: float) -> list[Any]:
    """A window whose answers each took `waited_s`, then `in_flight` requests held."""
    answered = [admission.admitted("rest", 1) for _ in range(3)]
    for hold in answered:
        hold.__enter__()
    clock.now += waited_s
    _release(answered)
    clock.now += 1.0
    held = [admission.admitted("rest", 1) for _ in range(in_flight)]
    for hold in held:
        hold.__enter__()
    return held


def _release(held: list[Any]) -> None:
    for hold in held:
        hold.__exit__(None, None, None)


def test_a_standing_queue_is_shed_by_the_delay_bound() -> None:
    clock = Clock()
    admission = Admission(max_requests=1000, max_delay_s=0.5, monotonic=clock)
    before = shed("rest", "delay")
    held = _queue(admission, clock, MIN_QUEUE, waited_s=0.8)
    try:
        refusal(admission)
    finally:
        _release(held)
    assert shed("rest", "delay") == before + 1


def test_slow_answers_without_a_queue_are_not_shed() -> None:
    clock = Clock()
    admission = Admission(max_requests=1000, max_delay_s=0.5, monotonic=clock)
    held = _queue(admission, clock, MIN_QUEUE - 1, waited_s=0.8)
    try:
        with admission.admitted("rest", 1):
            assert admission.in_flight[0] == MIN_QUEUE
    finally:
        _release(held)


def test_fast_answers_with_many_in_flight_are_not_shed() -> None:
    clock = Clock()
    admission = Admission(max_requests=1000, max_delay_s=0.5, monotonic=clock)
    held = _queue(admission, clock, 100, waited_s=0.1)
    try:
        with admission.admitted("rest", 1):
            assert admission.in_flight[0] == 101
    finally:
        _release(held)


def test_the_delay_bound_forgets_a_queue_after_a_quiet_window() -> None:
    clock = Clock()
    admission = Admission(max_requests=1000, max_delay_s=0.5, monotonic=clock)
    held = _queue(admission, clock, MIN_QUEUE, waited_s=0.8)
    try:
        clock.now += 2.5  # no answer for more than a window: no queue to judge
        with admission.admitted("rest", 1):
            assert admission.in_flight[0] == MIN_QUEUE + 1
    finally:
        _release(held)


def test_the_bounds_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCIALCARE_INGEST_MAX_IN_FLIGHT", "7")
    monkeypatch.setenv("SOCIALCARE_INGEST_MAX_IN_FLIGHT_BYTES", "4096")
    monkeypatch.setenv("SOCIALCARE_INGEST_MAX_DELAY_S", "0.25")
    settings = IngestionSettings()
    assert (
        settings.ingest_max_in_flight,
        settings.ingest_max_in_flight_bytes,
        settings.ingest_max_delay_s,
    ) == (7, 4096, 0.25)


# --- REST ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages:batch"])
def test_rest_over_the_bound_is_503_overloaded_with_retry_after_and_nothing_written(
    runtime: Runtime, path: str
) -> None:
    admission = Admission(max_requests=1)
    ingestor = Ingestor(runtime.producer, SeenMessageIds(100))
    body = message_body()
    sent = body if path == "/v1/messages" else {"messages": [body]}
    before = shed("rest", "requests")
    with admin_client(runtime, [ingestion_router(ingestor, admission)]) as client:
        with admission.admitted("grpc", 10):  # the other door holds the only room
            refused: Any = client.post(path, json=sent)
        accepted = client.post(path, json=sent)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "overloaded"
    assert set(refused.json()) == {"error"}
    assert int(refused.headers["retry-after"]) >= 1
    assert shed("rest", "requests") == before + 1
    assert accepted.status_code in (200, 202)
    records = raw_records(runtime)
    assert len(records) == 1, "the refused attempt wrote nothing; the retry wrote once"
    assert admission.in_flight == (0, 0)


def test_rest_releases_the_room_after_invalid_requests_and_bus_failures(runtime: Runtime) -> None:
    admission = Admission(max_requests=1)
    ingestor = Ingestor(FlakyProducer(runtime.producer, failures=1), SeenMessageIds(100))
    with admin_client(runtime, [ingestion_router(ingestor, admission)]) as client:
        invalid = client.post("/v1/messages", json={"channel": "x"})
        down = client.post("/v1/messages", json=message_body())
        after = client.post("/v1/messages", json=message_body())
    assert (invalid.status_code, down.status_code, after.status_code) == (422, 503, 202)
    assert down.json()["error"]["code"] == "bus_unavailable"
    assert admission.in_flight == (0, 0)


def test_rest_counts_the_request_while_it_is_served(runtime: Runtime) -> None:
    admission = Admission(max_requests=5)
    seen_inside: list[tuple[int, int]] = []

    class Watching(Ingestor):
        def ingest_batch(self, payloads: Any, **kwargs: Any) -> Any:
            seen_inside.append(admission.in_flight)
            return super().ingest_batch(payloads, **kwargs)

    ingestor = Watching(runtime.producer, SeenMessageIds(100))
    with admin_client(runtime, [ingestion_router(ingestor, admission)]) as client:
        answer = client.post("/v1/messages", json=message_body())
    assert answer.status_code == 202
    assert [requests for requests, _ in seen_inside] == [1]
    assert seen_inside[0][1] == int(answer.request.headers["content-length"])


def test_the_openapi_names_overloaded_under_503(runtime: Runtime) -> None:
    ingestor = Ingestor(runtime.producer, SeenMessageIds(100))
    with admin_client(runtime, [ingestion_router(ingestor, Admission())]) as client:
        spec = client.get("/openapi.json").json()
    for path in ("/v1/messages", "/v1/messages:batch"):
        assert "`overloaded`" in spec["paths"][path]["post"]["responses"]["503"]["description"]


def retry_after(error: grpc.RpcError) -> str | None:
    """The `retry-after` trailer of a failed call."""
    assert isinstance(error, grpc.Call)
    for key, value in error.trailing_metadata() or ():
        if key == "retry-after":
            return str(value)
    return None


# --- gRPC ----------------------------------------------------------------------------------


def test_grpc_over_the_bound_is_unavailable_with_retry_after_and_nothing_written(
    runtime: Runtime,
) -> None:
    admission = Admission(max_requests=1)
    servicer = IngestServicer(
        Ingestor(runtime.producer, SeenMessageIds(100)),
        open_test_auth(runtime).authenticator,
        admission,
    )
    metadata = admin_metadata(runtime)
    server = IngestGrpcServer(servicer, host="127.0.0.1", port=0)
    server.start()
    before = shed("grpc", "requests")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = services_pb2_grpc.IngestServiceStub(channel)
            request = services_pb2.IngestRequest(message=social_message())
            with admission.admitted("rest", 10):
                with pytest.raises(grpc.RpcError) as unary:
                    stub.Ingest(request, timeout=10, metadata=metadata)
                with pytest.raises(grpc.RpcError) as stream:
                    stub.IngestStream(iter([request]), timeout=10, metadata=metadata)
            accepted = stub.Ingest(request, timeout=10, metadata=metadata)
        assert unary.value.code() == grpc.StatusCode.UNAVAILABLE
        details = unary.value.details() or ""
        assert details.startswith("ingestion is overloaded")
        assert int(retry_after(unary.value) or "0") >= 1
        assert stream.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "at message 0; 0 accepted" in (stream.value.details() or "")
        assert retry_after(stream.value) is not None
        assert shed("grpc", "requests") == before + 2
        assert not accepted.duplicate, "the refused calls wrote nothing"
        assert len(raw_records(runtime)) == 1
        assert admission.in_flight == (0, 0)
    finally:
        server.stop()
        server.join(5.0)


def test_the_bus_down_error_also_says_when_to_retry_over_grpc(runtime: Runtime) -> None:
    servicer = IngestServicer(
        Ingestor(FlakyProducer(runtime.producer, failures=1), SeenMessageIds(100)),
        open_test_auth(runtime).authenticator,
        Admission(),
    )
    server = IngestGrpcServer(servicer, host="127.0.0.1", port=0)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = services_pb2_grpc.IngestServiceStub(channel)
            request = services_pb2.IngestRequest(message=social_message())
            with pytest.raises(grpc.RpcError) as down:
                stub.Ingest(request, timeout=10, metadata=admin_metadata(runtime))
        assert down.value.code() == grpc.StatusCode.UNAVAILABLE
        expected = as_socialcare_error(BusError("x")).retry_after_s
        assert retry_after(down.value) == str(expected)
    finally:
        server.stop()
        server.join(5.0)


def test_one_admission_is_shared_by_concurrent_threads() -> None:
    admission = Admission(max_requests=4)
    admitted = 0
    refused = 0
    lock = threading.Lock()
    inside = threading.Barrier(5)
    release = threading.Event()

    def request() -> None:
        nonlocal admitted, refused
        try:
            with admission.admitted("grpc", 1):
                with lock:
                    admitted += 1
                inside.wait(5)
                release.wait(5)
        except OverloadedError:
            with lock:
                refused += 1

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    inside.wait(5)  # the four hold the room: a fifth is refused
    refusal(admission, "grpc")
    release.set()
    for thread in threads:
        thread.join(5)
    assert (admitted, refused) == (4, 0)
    assert admission.in_flight == (0, 0)
