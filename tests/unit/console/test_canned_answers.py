"""Canned answers in the care config: validated at start-up, offered per brand, language
and channel, and the packaged ones fit X with any agent's signature."""

from __future__ import annotations

from typing import Any

import pytest

from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.cases import REPLY_LIMITS


def config(**extra: Any) -> dict[str, Any]:
    return {
        "sla_policies": [{"name": "p", "languages": ["*"], "first_response": "1h"}],
        "queues": [{"name": "q", "languages": ["*"]}],
        "agents": [{"id": "a", "name": "Ann", "languages": ["en"], "capacity": 1}],
        **extra,
    }


def test_default_canned_answers_cover_five_languages_and_fit_x() -> None:
    care = load_care_config()
    assert {c.language for c in care.canned_answers} >= {"en", "nl", "de", "fr", "es"}
    brand = care.effective_brands[0]
    long_customer = "Maximiliaan-Alexander"  # a long first name
    for agent in care.agents:
        for answer in care.canned_answers:
            text = answer.fill(customer_first_name=long_customer, agent_first_name=agent.first_name)
            signed = brand.sign(text, agent.name)
            limit = REPLY_LIMITS[answer.channel or "x"]
            assert limit is not None and len(signed) <= limit, (answer.id, agent.id, len(signed))


def test_default_agents_have_teams_and_time_zones() -> None:
    care = load_care_config()
    assert all(a.team for a in care.agents)
    assert {a.time_zone for a in care.agents} >= {"Europe/Amsterdam", "America/Toronto"}


def test_answers_for_a_case_channel_specific_first() -> None:
    care = CareConfig.model_validate(
        config(
            canned_answers=[
                {"id": "any", "language": "en", "title": "Any", "text": "Hi"},
                {"id": "x", "language": "en", "channel": "x", "title": "X", "text": "Hi"},
                {"id": "fb", "language": "en", "channel": "facebook", "title": "F", "text": "Hi"},
                {"id": "nl", "language": "nl", "title": "NL", "text": "Hoi"},
                {"id": "other", "brand": "default", "language": "en", "title": "B", "text": "Hi"},
            ]
        )
    )
    found = care.canned_answers_for(brand="default", language="en", channel="x")
    assert [c.id for c in found] == ["x", "any", "other"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"text": "Hi {customer_name}"}, "unknown variable {customer_name}"),
        ({"text": "Hi {"}, "braces do not pair up"),
        ({"channel": "fax"}, "is not a channel"),
        ({"language": "eng"}, "ISO 639-1"),
        ({"brand": "globex"}, "brand 'globex' is not configured"),
    ],
)
def test_bad_canned_answers_are_refused_naming_the_problem(
    answer: dict[str, str], message: str
) -> None:
    entry = {"id": "c1", "language": "en", "title": "T", "text": "Hi", **answer}
    with pytest.raises(ValueError, match=message):
        CareConfig.model_validate(config(canned_answers=[entry]))


def test_duplicate_ids_and_unknown_time_zones_are_refused() -> None:
    entry = {"id": "c1", "language": "en", "title": "T", "text": "Hi"}
    with pytest.raises(ValueError, match="duplicate canned answer id: c1"):
        CareConfig.model_validate(config(canned_answers=[entry, entry]))
    bad = config()
    bad["agents"][0]["time_zone"] = "Mars/Olympus"
    with pytest.raises(ValueError, match="not an IANA time zone"):
        CareConfig.model_validate(bad)


def test_fill_leaves_other_text_alone() -> None:
    care = CareConfig.model_validate(
        config(
            canned_answers=[
                {
                    "id": "c",
                    "language": "en",
                    "title": "T",
                    "text": "Hi {customer_first_name}, {{order}} ^{agent_first_name}",
                }
            ]
        )
    )
    (answer,) = care.canned_answers
    assert answer.fill(customer_first_name="Kim", agent_first_name="Ann") == "Hi Kim, {order} ^Ann"
