"""The language detector's shortcuts (issue 13) answer as the long way does: ASCII text
with no mark of a link, handle or hashtag skips the noise expression, ASCII letters skip
the script count for Latin candidates."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcare.enrichment import language
from socialcare.enrichment.language import _NOISE, clean_for_detection, detect_language

PIECES = st.sampled_from(
    ["http", "https://t.co/x", "www.x.nl", "@user", "a@b.nl", "#tag", "word", " ", "\n", ".", "é"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=15))
def test_cleaning_matches_the_noise_expression(parts: list[str]) -> None:
    text = "".join(parts)
    assert clean_for_detection(text) == " ".join(_NOISE.sub(" ", text[:500]).split())


@pytest.mark.parametrize(
    ("text", "languages", "code"),
    [
        ("Waar blijft mijn pakket nou eigenlijk", ("nl", "en"), "nl"),
        ("Where is my parcel, it was due yesterday", ("ru", "uk"), "und"),
        ("Где моя посылка, она должна была прийти", ("ru", "en"), "ru"),
        ("Где моя посылка, она должна была прийти", ("nl", "en"), "und"),
    ],
)
def test_the_script_check_still_answers_und_for_a_script_no_candidate_writes(
    text: str, languages: tuple[str, ...], code: str
) -> None:
    assert detect_language(text, languages).code == code


def test_only_sets_with_a_latin_language_take_the_ascii_shortcut() -> None:
    assert language._for(frozenset({"nl", "en"})).latin
    assert not language._for(frozenset({"ru", "uk"})).latin
