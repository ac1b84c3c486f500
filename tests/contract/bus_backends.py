"""The bus a contract test runs against, by the backend its fixture's param names:
`embedded`, the SQLite log in the test's temporary directory, or `kafka`, the real broker
of the session fixture `kafka_bootstrap`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from socialcare.core.bus import Bus
from socialcare.core.bus.embedded import EmbeddedBus


@contextmanager
def bus_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bus]:
    if request.param == "embedded":
        bus: Bus = EmbeddedBus(tmp_path, session_timeout_s=3.0, sync="normal")
    else:
        from socialcare.core.bus.kafka import KafkaBus

        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"))
    try:
        yield bus
    finally:
        bus.close()
