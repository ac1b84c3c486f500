"""The packaged care config's intent taxonomy, sales queue, agents' skills and the
commented `routing:` section (which must show the real defaults), and the validation of
`intents:` entries."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.routing_config import LifecycleConfig, PriorityConfig, RoutingConfig

SEVEN = {"en", "nl", "de", "fr", "es", "it", "pt"}
DEFAULT = load_care_config()


def test_the_default_taxonomy_covers_seven_languages() -> None:
    assert [i.name for i in DEFAULT.intents] == [
        "billing",
        "outage",
        "delivery",
        "defect",
        "how_to",
        "sales_lead",
        "compliment",
        "complaint",
        "legal_threat",
        "safety",
    ]
    for intent in DEFAULT.intents:
        assert set(intent.keywords) == SEVEN, intent.name
        assert not intent.brands  # every brand
    # Scenario 1's entries belong to the energy agency's own config, not the default.
    assert DEFAULT.intent("energy_label") is None
    assert DEFAULT.intent("subsidy") is None


def test_the_default_taxonomy_marks_leads_compliments_and_urgency() -> None:
    by_name = {i.name: i for i in DEFAULT.intents}
    assert [n for n, i in by_name.items() if i.sales] == ["sales_lead"]
    assert [n for n, i in by_name.items() if not i.question] == ["compliment"]
    assert by_name["safety"].urgency >= 0.9
    assert by_name["outage"].urgency > by_name["billing"].urgency > by_name["how_to"].urgency
    assert by_name["compliment"].urgency == 0


def test_sales_leads_go_to_the_sales_queue_and_the_rest_by_language() -> None:
    assert DEFAULT.queue_for("nl", "default", ["sales_lead"]).name == "sales"
    assert DEFAULT.queue_for("it", "default", ["billing", "sales_lead"]).name == "sales"
    assert DEFAULT.queue_for("nl", "default", ["billing"]).name == "care-nl"
    assert DEFAULT.queue_for("it", "default", []).name == "care-global"


def test_the_sales_queue_has_agents_who_can_take_leads() -> None:
    sales = DEFAULT.queue("sales")
    assert sales is not None and sales.answering_teams == ["Sales"]
    team = DEFAULT.team("Sales")
    assert team is not None and team.lead == "noah"
    sellers = [a for a in DEFAULT.agents if a.team == "Sales" and not a.specialist]
    assert {a.id for a in sellers} == {"noah", "ines"}
    spoken = {code for agent in sellers for code in agent.languages}
    assert spoken >= SEVEN


def test_the_example_skills_and_channel_capacity_apply() -> None:
    sanne = DEFAULT.agents_by_id["sanne"]
    assert sanne.proficiency("language:nl") == 5
    assert sanne.proficiency("language:en") == 3  # listed language, no skill entry
    assert sanne.proficiency("tier:vip") == 4
    assert sanne.capacity_for("whatsapp") == 3
    assert sanne.capacity_for("x") == sanne.capacity
    assert DEFAULT.agents_by_id["ines"].proficiency("language:pt") == 5


def _commented_routing() -> dict[str, Any]:
    """The `# routing:` block of the packaged file, uncommented."""
    text = resources.files("socialcare.core.domain").joinpath("default_care.yaml").read_text()
    lines = text.splitlines()
    start = lines.index("# routing:")
    block = []
    for line in lines[start:]:
        if not line.startswith("# "):
            break
        block.append(line[2:])
    loaded = yaml.safe_load("\n".join(block))
    assert isinstance(loaded, dict)
    section = loaded["routing"]
    assert isinstance(section, dict)
    return section


def test_the_commented_routing_section_shows_the_real_defaults() -> None:
    shown = _commented_routing()
    parsed = RoutingConfig.model_validate(shown)
    defaults = RoutingConfig()
    assert parsed.priority == defaults.priority
    assert parsed.lifecycle == defaults.lifecycle
    for which in ("confirmation", "csat", "nps"):
        assert parsed.messages.text(which, "en") == defaults.messages.text(which, "en")
    # The file uses it as documentation only: the loaded config has the defaults.
    assert DEFAULT.routing == defaults


def test_every_routing_key_is_shown() -> None:
    shown = _commented_routing()
    assert set(shown) == set(RoutingConfig.model_fields)
    assert set(shown["priority"]) == set(PriorityConfig.model_fields)
    assert set(shown["lifecycle"]) == set(LifecycleConfig.model_fields)


# -- validation ------------------------------------------------------------------------------
def config(**sections: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "sla_policies": [{"name": "default", "languages": ["*"], "first_response": "1h"}],
        "queues": [{"name": "care", "languages": ["*"]}],
        "agents": [{"id": "ann", "name": "Ann", "languages": ["en"], "capacity": 5}],
    }
    raw.update(sections)
    return raw


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"intents": [{"name": "a", "keywords": {"en": ["x"]}}] * 2},
            "duplicate intent name: a",
        ),
        (
            {"intents": [{"name": "a", "keywords": {"en": ["x"]}, "brands": ["acme"]}]},
            "brands acme are not configured",
        ),
        ({"intents": [{"name": "a", "keywords": {"en": []}}]}, "at least one keyword"),
        ({"intents": [{"name": "a", "keywords": {"en": ["*"]}}]}, "needs a word before it"),
        ({"intents": [{"name": "a", "keywords": {}}]}, "at least 1 item"),
        ({"intents": [{"name": "a", "keywords": {"en": ["x"]}, "urgency": 1.5}]}, "less than"),
        (
            {
                "queues": [
                    {"name": "sales", "languages": ["*"], "intents": ["sales_lead"]},
                    {"name": "care", "languages": ["*"]},
                ]
            },
            "intents sales_lead are not in `intents`",
        ),
    ],
)
def test_a_bad_intent_entry_is_named(sections: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        CareConfig.model_validate(config(**sections))


def test_an_intent_queue_alone_does_not_catch_every_language() -> None:
    raw = config(
        queues=[{"name": "sales", "languages": ["*"], "intents": ["lead"]}],
        intents=[{"name": "lead", "keywords": {"*": ["price"]}, "sales": True}],
    )
    with pytest.raises(ValidationError, match="to catch every other language"):
        CareConfig.model_validate(raw)
