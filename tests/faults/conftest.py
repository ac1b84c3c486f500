"""Fixtures of the fault suite: its size and the fake channel replies are posted to.

`SOCIALCARE_FAULTS_MESSAGES` sets how many messages a run replays: 2,000 by default (what
`make test` and CI run), 20,000 for `make test-faults`, 100,000 by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fakes.platforms import FakePlatforms
from tests.faults.fake_channel import fake_channel

MESSAGES_ENV = "SOCIALCARE_FAULTS_MESSAGES"
DEFAULT_MESSAGES = 2_000


def faults_messages() -> int:
    """The run's message count (`SOCIALCARE_FAULTS_MESSAGES`, default 2,000)."""
    value = os.environ.get(MESSAGES_ENV, "").strip()
    if not value:
        return DEFAULT_MESSAGES
    try:
        count = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise pytest.UsageError(f"{MESSAGES_ENV} must be a whole number, not {value!r}") from None
    if count < 30:
        raise pytest.UsageError(f"{MESSAGES_ENV} must be at least 30 (three languages of cases)")
    return count


@pytest.fixture
def messages_count() -> int:
    return faults_messages()


@pytest.fixture
def channel() -> Iterator[FakePlatforms]:
    """The local channel (X's API among others) the connectors post replies to."""
    with fake_channel() as fake:
        yield fake
