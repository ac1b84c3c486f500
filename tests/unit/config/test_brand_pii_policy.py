"""A brand's PII policy (`brands[].pii`): what it redacts, which kinds it may keep, and
that card numbers can never be kept (PCI DSS)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml

from socialcare.core.domain.brands import Brand
from socialcare.core.domain.care_config import CareConfigError, load_care_config
from socialcare.core.domain.pii_policy import REDACT_ALL, PiiPolicy
from socialcare.core.pii import find

TEXT = (
    "Mail jan@example.nl of bel +31 6 1234 5678, IBAN NL91 ABNA 0417 1643 00, "
    "kaart 4111 1111 1111 1111"
)


def test_by_default_a_brand_redacts_every_kind() -> None:
    assert Brand(name="acme").pii == REDACT_ALL
    assert REDACT_ALL.redacted(TEXT) == "Mail [email] of bel [phone], IBAN [iban], kaart [card]"


def test_kept_kinds_stay_and_the_others_are_redacted() -> None:
    policy = PiiPolicy(keep=frozenset({"email", "iban"}))
    assert policy.redacted(TEXT) == (
        "Mail jan@example.nl of bel [phone], IBAN NL91 ABNA 0417 1643 00, kaart [card]"
    )
    assert (
        PiiPolicy(keep=frozenset({"email", "phone", "iban"}))
        .redacted(TEXT)
        .endswith("kaart [card]")
    )


def test_matches_found_before_are_used_as_given() -> None:
    text = "bel 06-12345678"
    [match] = find(text)
    assert REDACT_ALL.redacted(text, [match]) == "bel [phone]"
    assert REDACT_ALL.redacted(text, []) == text  # nothing found, nothing changed


def test_text_without_personal_data_is_returned_as_it_is() -> None:
    text = "Waar blijft mijn pakket? 😀"
    assert REDACT_ALL.redacted(text) is text


def write(tmp_path: Path, pii: str) -> Path:
    """The packaged care config with one brand, `acme`, whose `pii:` section is `pii`."""
    packaged = resources.files("socialcare.core.domain").joinpath("default_care.yaml")
    config = yaml.safe_load(packaged.read_text())
    config["brands"] = [{"name": "acme", "pii": yaml.safe_load(pii)}]
    path = tmp_path / "care.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_brand_keeps_what_its_care_config_says(tmp_path: Path) -> None:
    care = load_care_config(write(tmp_path, "keep: [email, phone]"))
    assert care.brand("acme").pii.keep == {"email", "phone"}


def test_card_numbers_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(CareConfigError, match=r"brands\.0\.pii\.keep: .*PCI DSS"):
        load_care_config(write(tmp_path, "keep: [email, card]"))
    with pytest.raises(ValueError, match="PCI DSS"):
        PiiPolicy.model_validate({"keep": "card"})


@pytest.mark.parametrize(
    "pii",
    [
        "keep: [passport]",  # not a kind core.pii finds
        "keep: [Email]",  # kinds are lower case
        "{keep: [email], keep_cards: true}",  # no other setting exists
    ],
)
def test_unknown_kinds_and_fields_are_refused(tmp_path: Path, pii: str) -> None:
    with pytest.raises(CareConfigError, match=r"brands\.0\.pii"):
        load_care_config(write(tmp_path, pii))
