"""Time in one place, so handlers take `now` as a parameter and tests can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from socialcare.core.events import InvalidRecordError

Clock = Callable[[], datetime]


class InvalidTimestampError(InvalidRecordError, ValueError):
    """A protobuf Timestamp no calendar holds (seconds before year 1 or after 9999, nanos
    outside 0..999,999,999). Anyone who can write a record can write one; no producer of the
    platform does. An `InvalidRecordError`, so a consumer loop dead-letters the record that
    carries it with this reason instead of retrying it as a crash; a `ValueError`, as
    protobuf's own error was, for callers that already catch that."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def from_timestamp(stamp: Timestamp) -> datetime:
    """The aware UTC datetime of `stamp`; InvalidTimestampError when it has none."""
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidTimestampError(
            f"timestamp {stamp.seconds}s {stamp.nanos}ns is not a valid time: {exc}"
        ) from exc


def rfc3339(stamp: Timestamp) -> str | None:
    """RFC 3339 in UTC with milliseconds, or None for an unset timestamp."""
    if stamp.seconds == 0 and stamp.nanos == 0:
        return None
    return from_timestamp(stamp).isoformat(timespec="milliseconds").replace("+00:00", "Z")
