"""Enrichment marks the personal data in a message (EnrichedMessage.pii) with code-point
offsets, leaves the text as it is, and costs next to nothing on a message without any."""

from __future__ import annotations

import time

from socialcare.enrichment.domain import enrich
from socialcare.enrichment.pii import pii_matches
from tests.unit.factories import T0, enriched


def spans(text: str) -> list[tuple[str, str]]:
    return [(m.kind, text[m.start : m.end]) for m in pii_matches(text)]


def test_every_kind_is_marked_in_order() -> None:
    text = (
        "Bel 06-12345678 of mail jan.devries@example.nl; IBAN NL91 ABNA 0417 1643 00, "
        "kaart 4111 1111 1111 1111."
    )
    assert spans(text) == [
        ("phone", "06-12345678"),
        ("email", "jan.devries@example.nl"),
        ("iban", "NL91 ABNA 0417 1643 00"),
        ("card", "4111 1111 1111 1111"),
    ]


def test_offsets_count_code_points_so_an_emoji_is_one() -> None:
    # 😀 is one code point (two UTF-16 units, four UTF-8 bytes); 👩‍👩‍👧 is five.
    text = "😀👩‍👩‍👧 mail me: jan@example.nl"
    [match] = pii_matches(text)
    assert (match.kind, match.start, match.end) == ("email", 16, 30)
    assert text[match.start : match.end] == "jan@example.nl"
    assert len(text.encode("utf-16-le")) // 2 > match.start + 2  # not UTF-16 units


def test_the_enriched_message_carries_the_matches_and_the_text_unchanged() -> None:
    raw = enriched("p1", text="Mijn nummer is +31 6 1234 5678, bel me terug 😀").message
    message = enrich(raw, T0)
    assert message.message.text == raw.text
    assert [(m.kind, m.start, m.end) for m in message.pii] == [("phone", 15, 30)]


def test_a_message_without_personal_data_has_none() -> None:
    raw = enriched("p2", text="Waar blijft mijn pakket?? 😡").message
    assert list(enrich(raw, T0).pii) == []


def test_the_common_message_costs_about_a_microsecond() -> None:
    """No digit and no "@": one C scan (generous bound: a loaded CI machine)."""
    text = "Mijn pakket is nog steeds niet bezorgd, belachelijk! Wanneer komt het nou? 😡"
    rounds = 20_000
    started = time.perf_counter()
    for _ in range(rounds):
        pii_matches(text)
    per_message = (time.perf_counter() - started) / rounds
    assert per_message < 20e-6


def test_a_lone_surrogate_before_an_address_counts_as_one_code_point() -> None:
    """A str can hold one (a channel's broken UTF-16) though no protobuf string can: the
    spans still index the str enrichment was given."""
    text = "\ud83d mail jan@example.nl"
    [match] = pii_matches(text)
    assert (match.start, match.end) == (7, 21)
    assert text[match.start : match.end] == "jan@example.nl"
