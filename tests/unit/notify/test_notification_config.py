"""The notifications and crisis sections: the default sends nowhere; mistakes are named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from socialcare.core.domain.care_config import CareConfig, load_care_config


def care_with(**sections: Any) -> CareConfig:
    base = load_care_config().model_dump(by_alias=True, exclude={"notifications", "crisis"})
    return CareConfig.model_validate({**base, **sections})


HOOK = {"name": "mgmt", "url": "https://hooks.example.com/x", "secret_env": "MGMT_SECRET"}


def test_the_default_config_sends_nowhere() -> None:
    section = load_care_config().notifications
    assert section.webhooks == [] and section.email is None
    assert section.max_elapsed_seconds == 3600


@pytest.mark.parametrize(
    ("notifications", "message"),
    [
        ({"webhooks": [{**HOOK, "tiers": ["boss"]}]}, "unknown tier 'boss'"),
        ({"webhooks": [{**HOOK}]}, "subscribes to nothing"),
        ({"webhooks": [{**HOOK, "tiers": ["pr"]}] * 2}, "duplicate webhook name: mgmt"),
        ({"webhooks": [{**HOOK, "tiers": ["pr"], "brands": ["nope"]}]}, "brands nope"),
        ({"webhooks": [{**HOOK, "tiers": ["pr"], "secret_env": "lower"}]}, "secret_env"),
        (
            {"email": {"smtp": {"host": "h", "from": "a@b"}, "routes": [{"to": ["not-mail"]}]}},
            "not an e-mail address",
        ),
    ],
)
def test_notification_mistakes_are_named(notifications: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        care_with(notifications=notifications)


def test_a_valid_notifications_section_loads() -> None:
    care = care_with(
        notifications={
            "webhooks": [{**HOOK, "tiers": ["management", "pr"], "incidents": True}],
            "email": {
                "smtp": {"host": "smtp.example.com", "from": "care@example.com", "timeout": "5s"},
                "routes": [{"to": ["pr@example.com"], "incidents": True}],
            },
            "max_elapsed": "30m",
        }
    )
    assert care.notifications.max_elapsed_seconds == 1800
    assert care.notifications.email is not None
    assert care.notifications.email.smtp.timeout_seconds == 5


@pytest.mark.parametrize(
    ("crisis", "message"),
    [
        ({"topics": [{"name": "other", "keywords": ["x"]}]}, "reserved"),
        ({"topics": [{"name": "a", "keywords": ["x"]}] * 2}, "defined twice"),
        ({"topics": [{"name": "a", "keywords": ["x"], "brands": ["nope"]}]}, "brands nope"),
        ({"brands": [{"brand": "nope", "factor": 4}]}, "not a configured brand"),
        ({"close_factor": 3, "factor": 2}, "close_factor must be below factor"),
        ({"window": "2h", "baseline": "4h"}, "at least four windows"),
    ],
)
def test_crisis_mistakes_are_named(crisis: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        care_with(crisis=crisis)


def test_crisis_overrides_apply_per_brand() -> None:
    care = care_with(crisis={"factor": 4, "brands": [{"brand": "default", "min_volume": 25}]})
    assert care.crisis.thresholds("default").min_volume == 25
    assert care.crisis.thresholds("default").factor == 4
    assert care.crisis.thresholds("another").min_volume == 10
