"""The escalation section of the care config: defaults that work without it, and
cross-references that name the entry at fault."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.escalation_config import TRIGGER_NAMES, EscalationConfig


def care(escalation: dict[str, Any], **extra: Any) -> CareConfig:
    return CareConfig.model_validate(
        {
            "sla_policies": [{"name": "all", "languages": ["*"], "first_response": "1h"}],
            "queues": [{"name": "care", "languages": ["*"]}],
            "agents": [{"id": "sanne", "name": "Sanne", "languages": ["nl"], "capacity": 3}],
            "escalation": escalation,
            **extra,
        }
    )


def test_without_the_section_every_trigger_has_a_ladder_and_keywords_exist() -> None:
    section = care({}).escalation
    for name in TRIGGER_NAMES:
        rule = section.trigger(name)
        assert section.policy(rule.policy).level_of(rule.tier) >= 0
    assert section.trigger("crisis").tier == "pr"
    assert section.trigger("sla_warning").tier == "agent"
    assert {k.name for k in section.keywords} == {"legal_threat", "safety"}
    for category in section.keywords:
        assert set(category.words) >= {"en", "nl", "de", "fr", "es", "it", "pt"}
    assert (section.influencer_followers, section.vip_tiers) == (100_000, ["vip"])


def test_the_packaged_config_loads() -> None:
    assert load_care_config().escalation.policy("standard").steps[0].tier == "agent"


def test_a_config_lists_only_the_triggers_it_changes() -> None:
    section = EscalationConfig.model_validate(
        {"triggers": {"sla_breach": {"policy": "reputation", "tier": "pr"}}}
    )
    assert section.trigger("sla_breach").tier == "pr"
    assert section.trigger("sla_at_risk").tier == "team_lead"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"triggers": {"sla_breach": {"policy": "nope", "tier": "pr"}}}, "no escalation policy"),
        ({"triggers": {"sla_breach": {"policy": "standard", "tier": "pr"}}}, "has no tier 'pr'"),
        (
            {
                "policies": [
                    {"name": "x", "steps": [{"tier": "pr", "acknowledge_within": "1h"}] * 2}
                ]
            },
            "lists a tier twice",
        ),
        (
            {"policies": [{"name": "x", "steps": [{"tier": "pr", "acknowledge_within": "soon"}]}]},
            "not a duration",
        ),
        ({"keywords": [{"name": "k", "words": {"english": ["x"]}}]}, "not an ISO 639-1"),
        ({"keywords": [{"name": "k", "words": {"en": [" "]}}]}, "lists no words"),
        ({"on_call": {"cto": [{"who": "sanne"}]}}, "on_call.cto"),
    ],
)
def test_mistakes_inside_the_section_are_named(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EscalationConfig.model_validate(section)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"on_call": {"pr": [{"who": "ghost"}]}}, r"on_call.pr\[0\]: 'ghost' is neither"),
        ({"on_call": {"pr": [{"who": "sanne", "calendar": "office"}]}}, "no calendar 'office'"),
        ({"on_call": {"pr": [{"who": "sanne", "teams": ["benelux"]}]}}, "teams benelux"),
        ({"on_call": {"pr": [{"who": "sanne", "brands": ["acme"]}]}}, "brands acme"),
        ({"contacts": [{"id": "sanne", "name": "Sanne"}]}, "are agents already"),
        ({"vip_tiers": ["platinum"]}, "platinum are not customer tiers"),
    ],
)
def test_references_to_the_rest_of_the_config_are_checked(
    section: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        care(section)


def test_on_call_may_name_contacts_agents_calendars_and_teams() -> None:
    config = care(
        {
            "contacts": [{"id": "pia", "name": "Pia", "email": "pia@example.com"}],
            "on_call": {
                "pr": [
                    {"who": "pia", "calendar": "office", "teams": ["benelux"]},
                    {"who": "sanne", "calendar": "24/7"},
                ]
            },
        },
        calendars=[
            {"name": "office", "time_zone": "Europe/Amsterdam", "hours": {"mon": "09:00-17:00"}}
        ],
        teams=[{"name": "benelux", "calendar": "office", "lead": "sanne"}],
    )
    assert [e.who for e in config.escalation.on_call["pr"]] == ["pia", "sanne"]
