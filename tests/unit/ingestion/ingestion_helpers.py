"""Helpers shared by the ingestion tests: settings, the app, and reading the raw topic."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from socialcare.core.bus import Record
from socialcare.core.config import PlatformSettings
from socialcare.core.domain.topics import Topic
from socialcare.core.runtime import Runtime, build_app
from socialcare.ingestion import main
from tests.unit.auth_support import open_test_auth


def settings_for(data_dir: Path, **overrides: Any) -> PlatformSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "ingest_grpc_port": 0,
        "embedded_sync": "normal",
    }
    values.update(overrides)
    return PlatformSettings(**values)


def ingestion_app(runtime: Runtime) -> FastAPI:
    """Ingestion as its process serves it, credentials checked by the runtime's auth
    (`tests.unit.auth_support`: send `admin_headers(runtime)`)."""
    auth = open_test_auth(runtime)
    parts = main.parts(runtime)
    return build_app("socialcare-ingestion", parts.routers, parts.components, auth.authenticator)


def raw_records(runtime: Runtime) -> list[Record]:
    """Everything on social.messages.raw, read by a fresh consumer group."""
    consumer = runtime.bus.consumer(f"test-{uuid.uuid4().hex[:8]}", [Topic.MESSAGES_RAW])
    try:
        records: list[Record] = []
        while batch := consumer.poll(500, timeout_s=0.2):
            records.extend(batch)
        return records
    finally:
        consumer.close()


def message_body(**overrides: Any) -> dict[str, Any]:
    """A valid `POST /v1/messages` body (scenario 1: the energy bill on X)."""
    body: dict[str, Any] = {
        "channel": "x",
        "external_id": f"tw-{uuid.uuid4().hex[:12]}",
        "author": {
            "id": "48213377",
            "handle": "@jvdberg_zzp",
            "name": "Jeroen van den Berg",
            "followers": 812,
        },
        "text": "@Energieloket Mijn energierekening is veel hoger dan verwacht. "
        "Wat is mijn energielabel en hoe vraag ik subsidie aan?",
        "created_at": "2024-11-05T09:14:03+01:00",
        "brand": "energieloket",
    }
    body.update(overrides)
    return body
