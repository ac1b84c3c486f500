"""What a stateful consumer-loop processor needs of the bus to restore its state: replay.

Processors that keep their state in a compacted topic (a snapshot, or a changelog) restore
it on `assigned` by replaying that topic from the beginning, or from the offset after their
last snapshot, up to its end. They depend on this protocol rather than on `Bus`, so a test
can hand them a list of records; a `Bus` is one (`Bus.replay`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Protocol

from socialcare.core.bus import Record


class ReplayLog(Protocol):
    """Replays partitions of a topic (`Bus.replay`)."""

    def replay(
        self,
        topic: str,
        partitions: Collection[int] | None = None,
        start: Mapping[int, int] | None = None,
    ) -> Iterator[Record]:
        """The records of these partitions of `topic` (all when None) from `start`'s offset
        (else the beginning) up to their ends at the call."""
        ...
