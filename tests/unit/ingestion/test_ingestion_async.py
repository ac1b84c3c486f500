"""`Ingestor.ingest_batch_async`, the webhooks' door to the ingestor: the promise of
`ingest_batch` (durable before answering, one copy of a message, nothing remembered on a
bus failure) from coroutines on one event loop, with threads ingesting beside them."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from socialcare.core.bus import BusError, Headers, Producer
from socialcare.core.bus.base import Delivery
from socialcare.core.runtime import Runtime
from socialcare.ingestion.dedupe import SeenMessageIds
from socialcare.ingestion.ingestor import Ingestor
from socialcare.ingestion.models import MessageCreate
from tests.unit.ingestion.ingestion_helpers import message_body, raw_records
from tests.unit.metrics import sample


def _payload(external_id: str) -> MessageCreate:
    return MessageCreate.model_validate(message_body(external_id=external_id))


def test_concurrent_coroutines_and_threads_publish_a_message_once(runtime: Runtime) -> None:
    ingestor = Ingestor(runtime.producer, SeenMessageIds(100))
    payload = _payload("tw-async-once")
    start = threading.Barrier(5)

    def in_a_thread(_: int) -> bool:
        start.wait(timeout=30)  # a broken run fails, never hangs
        return ingestor.ingest(payload).duplicate

    async def coroutines() -> list[bool]:
        start.wait(timeout=30)
        answers = await asyncio.gather(*(ingestor.ingest_batch_async([payload]) for _ in range(8)))
        return [result.duplicate for [result] in answers]

    with ThreadPoolExecutor(4) as pool:
        threads = [pool.submit(in_a_thread, i) for i in range(4)]
        duplicates = asyncio.run(coroutines()) + [thread.result() for thread in threads]
    assert duplicates.count(False) == 1
    assert len(raw_records(runtime)) == 1


def test_many_coroutines_each_get_their_own_answer_once_durable(runtime: Runtime) -> None:
    ingestor = Ingestor(runtime.producer, SeenMessageIds(1000))
    payloads = [_payload(f"tw-async-many-{i}") for i in range(50)]

    async def ingest_all() -> list[bool]:
        answers = await asyncio.gather(*(ingestor.ingest_batch_async([p]) for p in payloads))
        return [result.duplicate for [result] in answers]

    assert asyncio.run(ingest_all()) == [False] * 50
    assert len(raw_records(runtime)) == 50
    again = asyncio.run(ingest_all())
    assert again == [True] * 50


class _Refusing(Producer):
    """Sends reach the buffer; no delivery ever becomes durable."""

    def send(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Delivery:
        return _Failed()

    def flush(self, timeout_s: float = 30.0) -> None:
        raise BusError("broker down")

    def close(self) -> None:
        pass


class _Failed(Delivery):
    def wait(self, timeout_s: float = 30.0) -> None:
        raise BusError("broker down")


def test_a_failed_delivery_raises_bus_error_and_nothing_is_remembered(runtime: Runtime) -> None:
    seen = SeenMessageIds(100)
    payload = _payload("tw-async-failed")
    failed = sample("socialcare_messages_ingested_total", channel="x", outcome="failed")

    refusing = Ingestor(_Refusing(), seen)
    with pytest.raises(BusError, match="broker down"):
        asyncio.run(refusing.ingest_batch_async([payload]))

    assert len(seen) == 0
    assert sample("socialcare_messages_ingested_total", channel="x", outcome="failed") == (
        failed + 1
    )
    # Its lock was let go (a second try fails the same way, it does not hang), and a retry
    # on a working bus publishes it: it was not remembered.
    with pytest.raises(BusError, match="broker down"):
        asyncio.run(asyncio.wait_for(refusing.ingest_batch_async([payload]), 10))
    [result] = asyncio.run(Ingestor(runtime.producer, seen).ingest_batch_async([payload]))
    assert not result.duplicate
    assert len(raw_records(runtime)) == 1
