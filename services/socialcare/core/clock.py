"""Time in one place, so handlers take `now` as a parameter and tests can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def from_timestamp(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def rfc3339(stamp: Timestamp) -> str | None:
    """RFC 3339 in UTC with milliseconds, or None for an unset timestamp."""
    if stamp.seconds == 0 and stamp.nanos == 0:
        return None
    return from_timestamp(stamp).isoformat(timespec="milliseconds").replace("+00:00", "Z")
