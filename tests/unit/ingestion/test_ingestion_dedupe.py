"""The seen-ids store: bounded, oldest forgotten first, rebuilt from the raw topic."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from socialcare.core.bus import Record
from socialcare.core.domain.topics import Topic
from socialcare.core.events import derived_id
from socialcare.core.runtime import Runtime
from socialcare.ingestion.dedupe import SeenMessageIds, accepted_ids
from socialcare.ingestion.settings import IngestionSettings
from socialcare.v1 import message_pb2
from tests.unit.auth_support import admin_headers
from tests.unit.ingestion.ingestion_helpers import ingestion_app, message_body, settings_for


def ids(count: int) -> list[str]:
    return [derived_id("x", str(n)) for n in range(count)]


def test_remembers_and_forgets_the_oldest_when_full() -> None:
    seen = SeenMessageIds(capacity=3)
    first, second, third, fourth = ids(4)
    for message_id in (first, second, third):
        seen.remember(message_id)
    seen.remember(first)  # already known: does not refresh nor duplicate
    seen.remember(fourth)
    assert len(seen) == 3
    assert first not in seen
    assert all(m in seen for m in (second, third, fourth))


def test_ids_that_are_not_ours_still_work() -> None:
    seen = SeenMessageIds(capacity=10)
    seen.remember("legacy-id-1")
    assert "legacy-id-1" in seen
    assert "legacy-id-2" not in seen
    assert 12 not in seen


def test_rebuild_keeps_the_newest_by_timestamp_not_by_replay_order() -> None:
    seen = SeenMessageIds(capacity=2)
    a, b, c, d = ids(4)
    # Partition 0 replays first but holds the older and the newest record.
    read = seen.rebuild([(1000, a), (4000, d), (2000, b), (3000, c)])
    assert read == 4
    assert (a in seen, b in seen, c in seen, d in seen) == (False, False, True, True)
    seen.remember(derived_id("x", "new"))
    assert c not in seen, "the oldest of the rebuilt ids is forgotten first"


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SeenMessageIds(0)


def record(value: bytes, headers: tuple[tuple[str, bytes], ...], offset: int = 0) -> Record:
    return Record(Topic.MESSAGES_RAW.value, 0, offset, None, value, headers, 1000 + offset)


def test_accepted_ids_read_the_event_id_header_or_the_value() -> None:
    with_header = record(b"", (("event-id", b"abc"),), 0)
    legacy = record(message_pb2.SocialMessage(message_id="m-legacy").SerializeToString(), (), 1)
    garbage = record(b"\xff\xff\xff", (), 2)
    no_id = record(message_pb2.SocialMessage(text="hi").SerializeToString(), (), 3)
    assert list(accepted_ids([with_header, legacy, garbage, no_id])) == [
        (1000, "abc"),
        (1001, "m-legacy"),
    ]


def test_capacity_comes_from_the_environment_and_bounds_what_is_recognised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCIALCARE_INGEST_DEDUPE_MAX_IDS", "1")
    platform = settings_for(tmp_path)
    settings = IngestionSettings.from_platform(platform)
    assert settings.ingest_dedupe_max_ids == 1
    assert settings.data_dir == platform.data_dir

    runtime = Runtime(platform)
    try:
        with TestClient(ingestion_app(runtime), headers=admin_headers(runtime)) as client:
            first, second = message_body(), message_body()
            statuses = [
                client.post("/v1/messages", json=body).status_code
                for body in (first, first, second, first)
            ]
        # The oldest id was forgotten to make room: its re-delivery is published again
        # (with the same event id, which consumers de-duplicate).
        assert statuses == [202, 200, 202, 202]
    finally:
        runtime.close()
