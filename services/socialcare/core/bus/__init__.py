"""The event bus: one interface (`Bus`), an embedded log and Apache Kafka behind it."""

from socialcare.core.bus.base import (
    Bus,
    BusError,
    CommitFencedError,
    Consumer,
    Headers,
    PartitionListener,
    Producer,
    Record,
    TopicPartition,
    UnknownTopicError,
)

__all__ = [
    "Bus",
    "BusError",
    "CommitFencedError",
    "Consumer",
    "Headers",
    "PartitionListener",
    "Producer",
    "Record",
    "TopicPartition",
    "UnknownTopicError",
]
