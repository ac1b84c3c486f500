"""SLA configuration: policy precedence, calendars, teams, tiers and their validation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from socialcare.core.domain.care_config import (
    CareConfig,
    CareConfigError,
    SlaPolicy,
    load_care_config,
)
from socialcare.core.domain.sla_config import DEFAULT_WARNINGS, policy_for
from socialcare.v1 import message_pb2

AGENTS = [{"id": "ann", "name": "Ann", "languages": ["en"], "capacity": 5}]
QUEUES = [{"name": "care", "languages": ["*"]}]
CATCH_ALL = {"name": "default", "languages": ["*"], "first_response": "24h"}


def config(**sections: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"sla_policies": [CATCH_ALL], "queues": QUEUES, "agents": AGENTS}
    raw.update(sections)
    return raw


def care(**sections: Any) -> CareConfig:
    return CareConfig.model_validate(config(**sections))


def invalid(tmp_path: Path, **sections: Any) -> str:
    path = tmp_path / "care.yaml"
    path.write_text(yaml.safe_dump(config(**sections)))
    with pytest.raises(CareConfigError) as raised:
        load_care_config(path)
    return str(raised.value)


def policy(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "languages": ["*"], "first_response": "1h", **fields}


# -- precedence ----------------------------------------------------------------------------------
def test_the_packaged_default_resolves_by_language_as_before() -> None:
    default = load_care_config()
    assert default.sla_policy_for("en").name == "first-response-en"
    assert default.sla_policy_for("nl").name == "first-response-other"
    assert default.sla_policy_for("und").name == "first-response-other"
    assert default.sla_policy_for("en").first_response_seconds == 3600
    assert default.sla_policy_for("nl").first_response_seconds == 86400
    # Standard customers (or unclassified ones) keep the language's promise.
    assert default.policy_for("en", "x", "normal", "", "").name == "first-response-en"
    assert default.policy_for("en", "x", "high", "gold", "").name == "first-response-en"
    assert default.policy_for("nl", "x", "normal", "vip", "").name == "vip"


def test_an_old_style_config_picks_the_first_exact_language_then_the_first_star() -> None:
    old = care(
        sla_policies=[
            policy("star-first", first_response="5h"),
            policy("en-a", languages=["en"]),
            policy("en-b", languages=["en", "nl"]),
            policy("star-second"),
        ]
    )
    assert old.sla_policy_for("en").name == "en-a"
    assert old.sla_policy_for("nl").name == "en-b"
    assert old.sla_policy_for("fr").name == "star-first"


PRECEDENCE = [
    policy("catch-all"),
    policy("english", languages=["en"]),
    policy("on-x", channels=["x"]),
    policy("urgent", priorities=["urgent", "high"]),
    policy("vip", customer_tiers=["vip"]),
    policy("acme", brands=["acme"]),
    policy("acme-vip-x", brands=["acme"], customer_tiers=["vip"], channels=["x"]),
    policy("english-on-x", languages=["en"], channels=["x"]),
]
BRANDS = [{"name": "acme"}, {"name": "globex"}]


@pytest.mark.parametrize(
    ("language", "channel", "priority", "tier", "brand", "expected"),
    [
        ("fr", "facebook", "normal", "standard", "globex", "catch-all"),
        ("en", "facebook", "normal", "standard", "globex", "english"),
        ("fr", "x", "normal", "standard", "globex", "on-x"),
        ("en", "x", "normal", "standard", "globex", "english-on-x"),  # channel + language
        ("en", "x", "urgent", "standard", "globex", "urgent"),  # priority beats channel
        ("en", "x", "urgent", "vip", "globex", "vip"),  # tier beats priority
        ("en", "x", "urgent", "vip", "acme", "acme-vip-x"),  # brand, then tier, then ...
        ("en", "facebook", "urgent", "vip", "acme", "acme"),  # acme-vip-x needs channel x
        ("en", "facebook", "low", "gold", "acme", "acme"),
    ],
)
def test_the_most_specific_policy_wins_brand_first(
    language: str, channel: str, priority: str, tier: str, brand: str, expected: str
) -> None:
    care_config = care(
        sla_policies=PRECEDENCE, brands=BRANDS, customer_tiers=["standard", "gold", "vip"]
    )
    chosen = care_config.policy_for(language, channel, priority, tier, brand)
    assert chosen.name == expected


def test_ties_go_to_the_first_policy_in_the_file() -> None:
    policies = [
        SlaPolicy.model_validate(p)
        for p in (
            policy("any"),
            policy("x-first", channels=["x"]),
            policy("x-second", channels=["x", "facebook"]),
        )
    ]
    assert policy_for(policies, language="en", channel="x").name == "x-first"
    assert policy_for(policies, language="en", channel="facebook").name == "x-second"


def test_an_unknown_tier_gets_the_default_tiers_promise() -> None:
    care_config = care(
        sla_policies=[CATCH_ALL, policy("std", customer_tiers=["standard"])],
        customer_tiers=["standard", "vip"],
    )
    assert care_config.default_tier == "standard"
    assert care_config.tier("VIP") == "vip"
    assert care_config.tier("platinum") == "standard"
    assert care_config.tier("") == "standard"
    assert care_config.policy_for("en", tier="platinum").name == "std"


# -- policy fields -------------------------------------------------------------------------------
def test_policy_targets_warnings_and_attainment() -> None:
    parsed = SlaPolicy.model_validate(
        policy(
            "p", next_response="2h", resolution="2d", warnings=[0.5, 0.8], attainment_target=0.95
        )
    )
    assert (parsed.first_response_seconds, parsed.next_response_seconds) == (3600, 7200)
    assert parsed.resolution_seconds == 172800
    assert parsed.warnings == (0.5, 0.8)
    assert parsed.attainment_target == 0.95
    bare = SlaPolicy.model_validate(policy("bare"))
    assert bare.next_response_seconds is None and bare.resolution_seconds is None
    assert bare.warnings == DEFAULT_WARNINGS
    assert bare.attainment_target == 0.9
    assert bare.calendar is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"warnings": [0.9, 0.75]}, "ascending"),
        ({"warnings": [0.5, 0.5]}, "ascending"),
        ({"warnings": [1.0]}, "between 0 and 1"),
        ({"warnings": [0]}, "between 0 and 1"),
        ({"channels": ["telex"]}, "'telex' is not a channel"),
        ({"priorities": ["asap"]}, "'asap' is not a priority"),
        ({"next_response": "soon"}, "not a duration"),
        ({"resolution": "0s"}, "positive"),
        ({"attainment_target": 1.5}, "attainment_target"),
    ],
)
def test_bad_policy_fields_are_named(tmp_path: Path, fields: dict[str, Any], message: str) -> None:
    error = invalid(tmp_path, sla_policies=[CATCH_ALL, policy("bad", **fields)])
    assert "sla_policies.1" in error
    assert message in error


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"sla_policies": [CATCH_ALL, policy("p", calendar="nine-to-five")]},
            "SLA policy 'p': calendar 'nine-to-five' is not configured",
        ),
        (
            {"sla_policies": [CATCH_ALL, policy("p", customer_tiers=["gold"])]},
            "SLA policy 'p': customer tier 'gold' is not in customer_tiers",
        ),
        (
            {"sla_policies": [CATCH_ALL, policy("p", brands=["acme"])]},
            "SLA policy 'p': brand 'acme' is not configured",
        ),
        (
            {"sla_policies": [policy("only-vip", customer_tiers=["vip"])]},
            "one SLA policy needs languages: ['*'] and no other condition",
        ),
        (
            {"sla_policies": [policy("only-en", languages=["en"])]},
            "one SLA policy needs languages: ['*']",
        ),
        (
            {"teams": [{"name": "Ops", "lead": "nobody"}]},
            "team 'Ops': lead 'nobody' is not an agent",
        ),
        (
            {"teams": [{"name": "Ops", "calendar": "missing"}]},
            "team 'Ops': calendar 'missing' is not configured",
        ),
        (
            {"queues": [{"name": "care", "languages": ["*"], "team": "Ghosts"}]},
            "queue 'care': team 'Ghosts' is not configured",
        ),
        ({"customer_tiers": ["standard", "standard"]}, "duplicate customer tier: standard"),
        ({"customer_tiers": ["Gold Plus"]}, "customer tier 'Gold Plus'"),
        ({"teams": [{"name": "A"}, {"name": "A"}]}, "duplicate team name: A"),
    ],
)
def test_cross_references_are_checked(
    tmp_path: Path, sections: dict[str, Any], message: str
) -> None:
    assert message in invalid(tmp_path, **sections)


@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        ({"hours": {"mon": "9-17"}}, "HH:MM-HH:MM"),
        ({"hours": {"mon": "09:00-24:30"}}, "not a time of day"),
        ({"hours": {"mon": "17:00-09:00"}}, "end must come after the start"),
        ({"hours": {"funday": "09:00-17:00"}}, "not a weekday"),
        ({"hours": {}}, "no open hours"),
        ({"time_zone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"holidays": ["christmas"]}, "holidays"),
    ],
)
def test_bad_calendars_are_named(tmp_path: Path, calendar: dict[str, Any], message: str) -> None:
    entry = {"name": "office", "time_zone": "Europe/Amsterdam", "hours": {"mon": "09:00-17:00"}}
    entry.update(calendar)
    error = invalid(tmp_path, calendars=[entry])
    assert "calendars.0" in error
    assert message in error


def test_a_calendar_may_not_be_called_24_7(tmp_path: Path) -> None:
    entry = {"name": "24/7", "time_zone": "UTC", "hours": {"mon": "00:00-24:00"}}
    assert "calendars.0.name" in invalid(tmp_path, calendars=[entry])


# -- calendars for clocks ------------------------------------------------------------------------
BUSINESS = {
    "calendars": [
        {
            "name": "office",
            "time_zone": "Europe/Amsterdam",
            "hours": {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
            "holidays": ["2026-12-25"],
        }
    ],
    "teams": [{"name": "Benelux", "calendar": "office", "lead": "ann"}, {"name": "Night"}],
    "queues": [
        {"name": "care-nl", "languages": ["nl"], "team": "Benelux"},
        {"name": "care-night", "languages": ["de"], "team": "Night"},
        {"name": "care", "languages": ["*"]},
    ],
}


def test_a_clock_counts_on_the_policys_calendar_else_the_queues_team_calendar() -> None:
    care_config = care(
        sla_policies=[
            CATCH_ALL,
            policy("always", calendar="24/7", channels=["x"]),
            policy("office", calendar="office", channels=["email"]),
        ],
        **BUSINESS,
    )
    default, always, office = care_config.sla_policies
    assert care_config.calendar_for_queue("care-nl") == "office"
    assert care_config.calendar_for_queue("care-night") == ""  # a team without a calendar
    assert care_config.calendar_for_queue("care") == ""  # a queue without a team
    assert care_config.calendar_for_queue("gone") == ""
    assert care_config.clock_calendar(default, "care-nl") == "office"
    assert care_config.clock_calendar(always, "care-nl") == ""
    assert care_config.clock_calendar(office, "care") == "office"
    assert care_config.team("Benelux") is not None
    assert care_config.team("Benelux").lead == "ann"  # type: ignore[union-attr]
    assert care_config.team("nobody") is None


def test_calendars_are_looked_up_by_name_and_24_7_is_none() -> None:
    care_config = care(**BUSINESS)
    office = care_config.calendar("office")
    assert office is not None
    assert not office.is_open(datetime(2026, 12, 25, 10, tzinfo=UTC))
    assert office.is_open(datetime(2026, 12, 24, 10, tzinfo=UTC))
    assert care_config.calendar("") is None
    assert care_config.calendar("24/7") is None
    assert care_config.calendar("removed-since") is None


def test_the_packaged_default_has_example_calendars_but_runs_round_the_clock() -> None:
    default = load_care_config()
    assert default.calendar("benelux-hours") is not None
    for queue in default.queues:
        policy_ = default.policy_for(queue.languages[0])
        assert default.clock_calendar(policy_, queue.name) == ""
    assert default.team("Benelux") is not None
    assert default.customer_tiers[0] == "standard"


# -- agents and labels ---------------------------------------------------------------------------
def test_agents_are_not_specialists_unless_configured() -> None:
    care_config = care(
        agents=[
            *AGENTS,
            {"id": "sam", "name": "Sam", "languages": ["nl"], "capacity": 2, "specialist": True},
        ]
    )
    assert not care_config.agents_by_id["ann"].specialist
    assert care_config.agents_by_id["sam"].specialist


def test_metric_labels_stay_within_the_configured_vocabulary() -> None:
    care_config = care(
        sla_policies=[CATCH_ALL, policy("german", languages=["de"])],
        queues=[{"name": "care-fr", "languages": ["fr"]}, *QUEUES],
        agents=[*AGENTS, {"id": "bo", "name": "Bo", "languages": ["sv"], "capacity": 1}],
    )
    for named in ("en", "de", "fr", "sv"):
        assert care_config.metric_language(named) == named
    assert care_config.metric_language("xx") == "other"
    assert care_config.metric_language("und") == "other"
    assert care_config.metric_language("*") == "other"
    assert care_config.metric_queue("care-fr") == "care-fr"
    assert care_config.metric_queue("made-up") == "other"
    assert care_config.metric_channel(message_pb2.CHANNEL_X) == "x"
    assert care_config.metric_channel(message_pb2.Channel.ValueType(999)) == "other"
    assert care_config.metric_priority("urgent") == "urgent"
    assert care_config.metric_priority("whenever") == "other"


def test_a_copy_with_other_brands_never_serves_the_cached_brands_of_the_original() -> None:
    original = care(brands=BRANDS)
    assert [b.name for b in original.effective_brands] == ["acme", "globex"]
    fresh = care()  # validated: section checks may have read `effective_brands`
    copy = fresh.model_copy(
        update={"brands": CareConfig.model_validate(config(brands=BRANDS)).brands}
    )
    assert [b.name for b in copy.effective_brands] == ["acme", "globex"]
