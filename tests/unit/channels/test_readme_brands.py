"""The brands example the README gives operators is a valid care config, as documented."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from socialcare.core.domain.care_config import CareConfig, load_care_config

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_brands_example() -> dict[str, object]:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    [brands] = [b for b in blocks if b.startswith("brands:")]
    loaded = yaml.safe_load(brands)
    assert isinstance(loaded, dict)
    return loaded


def test_the_readme_brands_example_loads_beside_the_default_organisation() -> None:
    default = load_care_config().model_dump(by_alias=True)
    care = CareConfig.model_validate({**default, **readme_brands_example()})
    brand = care.brand("energieloket")
    assert brand.meta is not None and brand.meta.template("case_update", "nl") is not None
    assert brand.generic_source("energieforum") is not None
    assert [feed.every_seconds for feed in brand.feeds] == [600.0]
    assert brand.sign("Ik zoek het voor je uit.", "Sanne de Vries") == (
        "Ik zoek het voor je uit. ^Sanne"
    )
