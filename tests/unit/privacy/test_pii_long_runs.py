"""core.pii on long runs of digits and separators: the work grows linearly with the run
(a 50,000-character message of "06 06 06 ..." once took minutes, in every log line and
every enrichment), and numbers inside such a run are still found."""

from __future__ import annotations

import pytest

from socialcare.core import pii


@pytest.fixture
def classified(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = pii._classify

    def counting(number: str) -> pii.Kind | None:
        calls.append(number)
        return original(number)

    monkeypatch.setattr(pii, "_classify", counting)
    return calls


@pytest.mark.parametrize("group", ["1", "06", "+1", "1-2", "123", "0612"])
def test_a_long_run_is_classified_a_bounded_number_of_times_per_group(
    classified: list[str], group: str
) -> None:
    groups = 50_000 // (len(group) + 1)
    text = " ".join([group] * groups)
    pii.find(text)
    # Two passes (cards, then phones between them), each at most a few windows per group.
    assert len(classified) <= 2 * pii._MAX_GROUPS * groups


def test_numbers_inside_a_long_run_are_found() -> None:
    text = "1 2 3 " * 2_000 + "4111 1111 1111 1111 " + "7 8 9 " * 2_000 + "+31 6 1234 5678"
    found = pii.find(text)
    # Longest window first: the card may take a trailing group that keeps its Luhn digit.
    assert [(m.kind, m.start) for m in found] == [
        ("card", text.index("4111")),
        ("phone", text.index("+31")),
    ]
    assert text[found[1].start : found[1].end] == "+31 6 1234 5678"


def test_text_without_a_digit_or_an_at_sign_is_not_scanned(classified: list[str]) -> None:
    assert pii.find("geen cijfers hier, alleen woorden en 😀 " * 1_000) == []
    assert pii.find("") == []
    assert classified == []


@pytest.mark.parametrize(
    ("text", "number"),
    [
        # A word glued to the run's last group costs that group only.
        ("bel me op 06 12345678 2e verdieping", "06 12345678"),
        ("+31 6 1234 5678 0¹", "+31 6 1234 5678"),
        # Parentheses of the sentence around or after a number.
        ("(call (555) 123-4567)", "(555) 123-4567"),
        ("bel (555) 123-4567 ) graag", "(555) 123-4567"),
        ("((06-12345678", "06-12345678"),
        ("(06-12345678)", "06-12345678"),
        # A card after a stray group is a card, not a phone that leaves its last digits.
        ("00 4111 1111 1111 1111", "4111 1111 1111 1111"),
    ],
)
def test_a_number_beside_a_word_or_in_the_sentence_s_parentheses_is_found(
    text: str, number: str
) -> None:
    assert [text[m.start : m.end] for m in pii.find(text)] == [number]


@pytest.mark.parametrize(
    ("text", "scanned"),
    [
        ("@KLM @user_2 bedankt!", True),  # the digit in a handle is enough
        ("@KLM @user bedankt! 😀", False),  # mentions only: no address can be there
        ("RT @anna: top", False),
        ("mail jan@example.nl", True),
        ("a@b", True),
        ("@", False),
        ("", False),
        ("٣ (an Arabic-Indic digit)", True),
    ],
)
def test_only_a_text_with_a_digit_or_an_address_is_scanned(text: str, scanned: bool) -> None:
    assert pii._may_hold(text) is scanned
