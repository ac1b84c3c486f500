"""gRPC IngestService against a real server on a free port, publishing to the embedded bus."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from opentelemetry.context import Context

from socialcare.core.bus import BusError
from socialcare.core.clock import to_timestamp
from socialcare.core.errors import INTERNAL_MESSAGE
from socialcare.core.events import decode, derived_id
from socialcare.core.runtime import Runtime
from socialcare.ingestion import main
from socialcare.ingestion.dedupe import SeenMessageIds
from socialcare.ingestion.ingestor import Ingestor, IngestResult
from socialcare.ingestion.models import MessageCreate
from socialcare.ingestion.rpc import IngestGrpcServer, IngestServicer
from socialcare.v1 import message_pb2, services_pb2, services_pb2_grpc
from tests.unit.auth_support import admin_client, admin_metadata, open_test_auth
from tests.unit.ingestion.ingestion_helpers import message_body, raw_records, settings_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def social_message(external_id: str | None = None, **author: str) -> message_pb2.SocialMessage:
    """Scenario 3: the DVD player that stopped working, from Facebook."""
    return message_pb2.SocialMessage(
        channel=message_pb2.CHANNEL_FACEBOOK,
        external_id=external_id or f"fb-{uuid.uuid4().hex[:10]}",
        author=message_pb2.Author(
            id=author.get("id", "100004217"), name=author.get("name", "Emma Walsh")
        ),
        text="My Lumora DVD player stopped working halfway through Notting Hill. Any ideas?",
        created_at=to_timestamp(datetime(2024, 11, 5, 20, 31, tzinfo=UTC)),
    )


class Service:
    """A running ingestion process: runtime, its parts (with the gRPC server), a client."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.authenticator = open_test_auth(runtime).authenticator
        self.auth = admin_metadata(runtime)
        self.parts = main.parts(runtime)
        [server] = [c for c in self.parts.components if isinstance(c, IngestGrpcServer)]
        self.server = server
        self.server.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.server.port}")
        self.stub = services_pb2_grpc.IngestServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        self.server.stop()
        self.server.join(5.0)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    runtime = Runtime(settings_for(tmp_path, ingest_grpc_port=free_port()))
    service = Service(runtime)
    yield service
    service.close()
    runtime.close()


def test_grpc_port_zero_means_no_grpc_server(runtime: Runtime) -> None:
    parts = main.parts(runtime).components
    assert not [c for c in parts if isinstance(c, IngestGrpcServer)]


def test_unary_ingest_publishes_then_recognises_the_duplicate(service: Service) -> None:
    message = social_message()
    message.message_id = "made-up-by-the-client"  # ignored: ingestion derives the id
    first = service.stub.Ingest(
        services_pb2.IngestRequest(message=message), timeout=10, metadata=service.auth
    )
    again = service.stub.Ingest(
        services_pb2.IngestRequest(message=message), timeout=10, metadata=service.auth
    )

    expected = derived_id("facebook", message.external_id)
    assert (first.message_id, first.duplicate) == (expected, False)
    assert (again.message_id, again.duplicate) == (expected, True)
    [record] = raw_records(service.runtime)
    assert record.header("event-id") == expected.encode()
    assert record.header("traceparent") is not None
    published = decode(record, message_pb2.SocialMessage)
    assert published.message_id == expected
    assert published.author.name == "Emma Walsh"
    assert published.HasField("received_at")


def test_unary_invalid_message_is_invalid_argument_naming_the_field(service: Service) -> None:
    message = social_message()
    message.author.id = ""
    with pytest.raises(grpc.RpcError) as caught:
        service.stub.Ingest(
            services_pb2.IngestRequest(message=message), timeout=10, metadata=service.auth
        )
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "author.id: Field required"
    assert raw_records(service.runtime) == []


def test_grpc_and_rest_share_ids_and_dedupe(service: Service) -> None:
    body = message_body(channel="facebook")
    message = social_message(body["external_id"])
    via_grpc = service.stub.Ingest(
        services_pb2.IngestRequest(message=message), timeout=10, metadata=service.auth
    )
    with admin_client(service.runtime, service.parts.routers) as client:
        via_rest = client.post("/v1/messages", json=body)
    assert via_rest.status_code == 200
    assert via_rest.json() == {"message_id": via_grpc.message_id, "duplicate": True}


def test_stream_reports_the_invalid_item_by_index_and_field_and_accepts_the_rest(
    service: Service,
) -> None:
    first = social_message("fb-1", id="1", name="Emma Walsh")
    second = social_message("fb-2", id="2", name="Tom Becker")
    broken = social_message("fb-3", id="3")
    broken.ClearField("created_at")
    batch = [first, second, broken, first, social_message("fb-4", id="4")]

    summary = service.stub.IngestStream(
        iter(services_pb2.IngestRequest(message=m) for m in batch),
        timeout=10,
        metadata=service.auth,
    )

    assert (summary.accepted, summary.duplicates, summary.rejected) == (3, 1, 1)
    assert [(e.index, e.field, e.reason) for e in summary.errors] == [
        (2, "created_at", "Field required")
    ]
    published = {r.header("event-id") for r in raw_records(service.runtime)}
    assert published == {derived_id("facebook", f"fb-{n}").encode() for n in (1, 2, 4)}


def test_stop_lets_the_server_finish_and_join_returns(tmp_path: Path) -> None:
    runtime = Runtime(settings_for(tmp_path))
    try:
        ingestor = Ingestor(runtime.producer, SeenMessageIds(10))
        servicer = IngestServicer(ingestor, open_test_auth(runtime).authenticator)
        server = IngestGrpcServer(servicer, host="127.0.0.1", port=0, grace_s=1)
        server.start()
        assert server.port > 0
        server.stop()
        server.stop()  # a second stop (signal, then shutdown) is harmless
        server.join(5.0)
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = services_pb2_grpc.IngestServiceStub(channel)
            with pytest.raises(grpc.RpcError):
                stub.Ingest(
                    services_pb2.IngestRequest(message=social_message()),
                    timeout=1,
                    metadata=admin_metadata(runtime),
                )
    finally:
        runtime.close()


def test_a_taken_port_fails_start_with_a_clear_message(service: Service) -> None:
    ingestor = Ingestor(service.runtime.producer, SeenMessageIds(10))

    clash = IngestGrpcServer(
        IngestServicer(ingestor, service.authenticator),
        host="127.0.0.1",
        port=service.server.port,
    )
    with pytest.raises(RuntimeError, match="SOCIALCARE_INGEST_GRPC_PORT"):
        clash.start()


def test_concurrent_copies_of_one_message_publish_once(runtime: Runtime) -> None:
    """Check-publish-flush-remember is atomic per message id within the process."""
    ingestor = Ingestor(runtime.producer, SeenMessageIds(100))
    payload = MessageCreate.model_validate(message_body())
    start = threading.Barrier(8)

    def submit(_: int) -> bool:
        start.wait()
        return ingestor.ingest(payload).duplicate

    with ThreadPoolExecutor(8) as pool:
        duplicates = list(pool.map(submit, range(8)))
    assert duplicates.count(False) == 1
    assert len(raw_records(runtime)) == 1


def test_created_at_outside_the_calendar_is_invalid_argument_naming_it(service: Service) -> None:
    message = social_message()
    message.created_at.seconds = 253_402_300_800  # 10000-01-01T00:00:00Z
    with pytest.raises(grpc.RpcError) as caught:
        service.stub.Ingest(
            services_pb2.IngestRequest(message=message), timeout=10, metadata=service.auth
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details()
    assert details is not None and details.startswith("created_at: must lie between 0001-01-01")


BUS_DOWN = "event bus unavailable: broker down"


class _BrokenIngestor(Ingestor):
    """An ingestor with a bug (or a bus that is down), to see what the client is told."""

    def __init__(self, runtime: Runtime, error: Exception) -> None:
        super().__init__(runtime.producer, SeenMessageIds(10))
        self.error = error

    def ingest(self, payload: MessageCreate, *, parent: Context | None = None) -> IngestResult:
        raise self.error


@pytest.mark.parametrize(
    ("error", "code", "details"),
    [
        (BusError("broker down"), grpc.StatusCode.UNAVAILABLE, BUS_DOWN),
        (KeyError("secret-internal-name"), grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE),
    ],
    ids=["bus-down", "bug"],
)
def test_failures_map_to_the_error_models_status_codes(
    runtime: Runtime, error: Exception, code: grpc.StatusCode, details: str
) -> None:
    servicer = IngestServicer(
        _BrokenIngestor(runtime, error), open_test_auth(runtime).authenticator
    )
    metadata = admin_metadata(runtime)
    server = IngestGrpcServer(servicer, host="127.0.0.1", port=0)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = services_pb2_grpc.IngestServiceStub(channel)
            request = services_pb2.IngestRequest(message=social_message())
            with pytest.raises(grpc.RpcError) as unary:
                stub.Ingest(request, timeout=10, metadata=metadata)
            with pytest.raises(grpc.RpcError) as stream:
                stub.IngestStream(iter([request]), timeout=10, metadata=metadata)
    finally:
        server.stop()
        server.join(5.0)
    assert (unary.value.code(), unary.value.details()) == (code, details)
    assert stream.value.code() == code
