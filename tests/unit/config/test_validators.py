"""The value checks every config section shares (core/domain/validators.py)."""

from __future__ import annotations

import pytest

from socialcare.core.domain.validators import (
    check_language,
    check_languages,
    check_time_zone,
    one_of,
    optional_duration,
)


def test_languages_are_two_letter_codes_lower_cased_or_any() -> None:
    assert check_language(" NL ") == "nl"
    assert check_languages(["EN", "*"]) == ["en", "*"]
    with pytest.raises(ValueError, match=r"'\*' is not an ISO 639-1 code \(two letters\)$"):
        check_language("*")
    with pytest.raises(ValueError, match="'éé' is not an ISO 639-1 code"):
        check_language("éé", any_allowed=True)
    with pytest.raises(ValueError, match="at least one language"):
        check_languages([])


def test_time_zones_are_iana_names() -> None:
    assert check_time_zone("Europe/Amsterdam") == "Europe/Amsterdam"
    with pytest.raises(ValueError, match="'Mars/Olympus' is not an IANA time zone"):
        check_time_zone("Mars/Olympus")


def test_one_of_checks_a_value_or_each_of_a_list() -> None:
    colour = one_of("colour", ("red", "blue"))
    assert colour(None) is None
    assert colour("red") == "red"
    assert colour(["red", "blue"]) == ["red", "blue"]
    with pytest.raises(ValueError, match=r"'green' is not a colour \(red, blue\)"):
        colour(["red", "green"])


def test_an_optional_duration() -> None:
    assert optional_duration(None) is None
    assert optional_duration("2h") == 7200
