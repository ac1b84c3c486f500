"""The console's English and Dutch strings."""

from __future__ import annotations

import string

import pytest

from socialcare.console import i18n


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_every_string_with_the_same_fields() -> None:
    for language, catalog in i18n.CATALOGS.items():
        assert set(catalog) == set(i18n.EN), language
        for key, text in catalog.items():
            assert fields(text) == fields(i18n.EN[key]), (language, key)
            assert text.strip(), (language, key)


def test_dutch_is_actually_dutch() -> None:
    same = [k for k in i18n.EN if i18n.EN[k] == i18n.NL[k]]
    # Only names, codes and loanwords may be equal.
    assert len(same) < len(i18n.EN) // 8, same


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "en"),
        (None, "nl-NL,nl;q=0.9,en;q=0.8", "nl"),
        (None, "en-GB,en;q=0.9,nl;q=0.8", "en"),
        (None, "de-DE,de;q=0.9,nl;q=0.5,en;q=0.4", "nl"),
        (None, "fr, en;q=0", "en"),
        (None, "nl;q=0, en;q=0", "en"),
        (None, "nl;q=abc, en", "en"),
        ("nl", "en", "nl"),
        ("xx", "nl", "nl"),
    ],
)
def test_choose_language(cookie: str | None, header: str | None, expected: str) -> None:
    assert i18n.choose_language(cookie, header) == expected


def test_script_strings_exist() -> None:
    assert set(i18n.SCRIPT_KEYS) <= set(i18n.EN)
