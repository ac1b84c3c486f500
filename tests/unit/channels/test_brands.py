"""Brands in the care config: secrets by environment name, the default brand, signatures."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from socialcare.core.domain.brands import DEFAULT_GRAPH_URL, Brand, GenericSource, default_brand
from socialcare.core.domain.care_config import CareConfig, load_care_config


def test_secrets_are_read_from_the_environment_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    brand = default_brand()
    assert brand.meta is not None
    monkeypatch.delenv("SOCIALCARE_META_APP_SECRET", raising=False)
    assert brand.meta.app_secret is None  # not connected
    monkeypatch.setenv("SOCIALCARE_META_APP_SECRET", "s1")
    assert brand.meta.app_secret == "s1"
    monkeypatch.setenv("SOCIALCARE_META_APP_SECRET", "s2")  # rotated: no restart needed
    assert brand.meta.app_secret == "s2"
    monkeypatch.setenv("SOCIALCARE_META_APP_SECRET", "")
    assert brand.meta.app_secret is None


def test_base_urls_default_to_the_platforms_and_follow_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    meta = default_brand().meta
    assert meta is not None
    monkeypatch.delenv("SOCIALCARE_META_GRAPH_URL", raising=False)
    assert meta.base_url == DEFAULT_GRAPH_URL
    monkeypatch.setenv("SOCIALCARE_META_GRAPH_URL", "http://127.0.0.1:9999/graph/")
    assert meta.base_url == "http://127.0.0.1:9999/graph"


def test_the_default_brand_takes_generic_sources_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    brand = default_brand()
    assert brand.generic_source("trust-pilot") is None
    monkeypatch.setenv("SOCIALCARE_GENERIC_TRUST_PILOT_SECRET", "tp")
    source = brand.generic_source("trust-pilot")
    assert source is not None and source.secret == "tp" and source.channel == "generic"
    assert brand.generic_source("../etc") is None
    other = Brand(name="acme")
    assert other.generic_source("trust-pilot") is None  # only the default brand


def test_without_brands_the_care_config_serves_the_default_brand() -> None:
    care = load_care_config()
    assert [b.name for b in care.effective_brands] == ["default"]
    assert care.brand("anything").name == "default"


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        ("^{first_name}", "Dank je! ^Lucía"),
        ("^{initials}", "Dank je! ^LF"),
        ("— {name}, klantenservice", "Dank je!\n— Lucía Fernández, klantenservice"),
        ("", "Dank je! "),  # unsigned: exactly what the agent wrote
    ],
)
def test_agents_sign_their_replies_as_the_brand_says(signature: str, expected: str) -> None:
    assert Brand(name="acme", signature=signature).sign("Dank je! ", "Lucía Fernández") == expected


def test_bad_brand_entries_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="signature"):
        Brand(name="acme", signature="^{agent}")
    with pytest.raises(ValidationError, match="channel"):
        GenericSource(source="forum", secret_env="FORUM_SECRET", channel="x")
    with pytest.raises(ValidationError, match="secret_env"):
        GenericSource(source="forum", secret_env="not an env name")
    care = load_care_config().model_dump(by_alias=True)
    with pytest.raises(ValidationError, match="duplicate brand name"):
        CareConfig.model_validate({**care, "brands": [{"name": "acme"}, {"name": "acme"}]})
