"""The event bus: one interface (`Bus`), an embedded log and Apache Kafka behind it."""

from socialcare.core.bus.base import (
    MAX_RECORD_BYTES,
    Bus,
    BusError,
    CommitFencedError,
    Consumer,
    Headers,
    PartitionListener,
    Producer,
    Record,
    RecordTooLargeError,
    TopicPartition,
    UnknownTopicError,
)

__all__ = [
    "MAX_RECORD_BYTES",
    "Bus",
    "BusError",
    "CommitFencedError",
    "Consumer",
    "Headers",
    "PartitionListener",
    "Producer",
    "Record",
    "RecordTooLargeError",
    "TopicPartition",
    "UnknownTopicError",
]
