"""Session fixtures shared by every test layer.

`kafka_bootstrap` and `elasticsearch_url` start the real servers once per session through
deploy/local/localinfra.py (the same code as `make infra-up`), and stop them at the end
unless they were already running before the session (then they are left as found).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from socialcare.cli import load_localinfra


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    infra = load_localinfra()
    was_running = infra.is_running("kafka")
    endpoints = infra.ensure_up(kafka=True, elasticsearch=False)
    yield endpoints.kafka_bootstrap
    if not was_running:
        infra.down(kafka=True, elasticsearch=False)


@pytest.fixture(scope="session")
def elasticsearch_url() -> Iterator[str]:
    infra = load_localinfra()
    was_running = infra.is_running("elasticsearch")
    endpoints = infra.ensure_up(kafka=False, elasticsearch=True)
    yield endpoints.elasticsearch_url
    if not was_running:
        infra.down(kafka=False, elasticsearch=True)
