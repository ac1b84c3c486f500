"""How the Kafka bus reports a record refused for its size: `RecordTooLargeError` (a
`BusError`, so callers that only know "the bus failed" still catch it) naming the topic, the
size and the limit, so a consumer loop can dead-letter the record that caused it. The real
refusals (at send, by the platform's producer; on the ack, by the broker) are produced on a
real broker in tests/fuzz/test_fuzz_consumers_kafka.py."""

from __future__ import annotations

from kafka.errors import MessageSizeTooLargeError

from socialcare.core.bus import MAX_RECORD_BYTES, BusError, RecordTooLargeError
from socialcare.core.bus.kafka import _record_size, _too_large


def test_a_refusal_at_send_takes_the_size_the_client_computed() -> None:
    client = MessageSizeTooLargeError(
        "The message is 2701799 bytes when serialized which is larger than the maximum "
        "request size you have configured with the max_request_size configuration"
    )
    error = _too_large("care.cases", 12, client)
    assert isinstance(error, BusError)
    assert (error.topic, error.size, error.limit) == ("care.cases", 2_701_799, MAX_RECORD_BYTES)
    assert str(error) == (
        "a record of 2,701,799 bytes for 'care.cases' is over the bus's 1,048,576-byte record "
        "limit (Kafka: MessageSizeTooLargeError)"
    )


def test_a_broker_refusal_names_the_records_own_size() -> None:
    size = _record_size(b"v" * 2_000_000, b"case-1", (("event-id", b"e1"),))
    assert size == 2_000_000 + 6 + 8 + 2
    error = _too_large("care.cases", size, MessageSizeTooLargeError())
    assert isinstance(error, RecordTooLargeError) and error.size == size
