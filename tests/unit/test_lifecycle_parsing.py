"""How customers answer "has this been solved?" and the satisfaction question, in the
words they really use, and the texts routing sends them."""

from __future__ import annotations

import pytest

from socialcare.core.domain.lifecycle import (
    confirmation_answer,
    first_name,
    routing_text,
    survey_score,
)
from socialcare.core.domain.routing_config import RoutingMessages


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "Yes thanks!",
        "YES!!",
        "yep all good",
        "Yeah it works now, cheers",
        "Solved, thank you",
        "👍",
        "ok 👍",
        "ja hoor",
        "Ja, opgelost. Bedankt!",
        "opgelost",
        "het werkt weer, top",
        "Ja, danke!",
        "alles gut, danke",
        "Oui merci",
        "c'est réglé, merci beaucoup",
        "Sí, gracias",
        "sì grazie, risolto",
        "Sim, obrigado!",
        "Thanks, that worked",
    ],
)
def test_yes(text: str) -> None:
    assert confirmation_answer(text, "en") == "yes"


@pytest.mark.parametrize(
    "text",
    [
        "no",
        "No.",
        "nope",
        "not really",
        "Not yet, the app still crashes",
        "thanks but it's still not working",
        "nee",
        "Nee, nog steeds niet",
        "helaas niet, werkt niet",
        "Nein, leider nicht",
        "noch nicht gelöst",
        "non, toujours pas",
        "pas vraiment",
        "No, todavía no funciona",
        "non ancora",
        "Não, ainda não funciona",
        "👎",
        "Hmm, nope",
    ],
)
def test_no(text: str) -> None:
    assert confirmation_answer(text, "en") == "no"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Can you also tell me when my refund arrives?",
        "ok, but what about my other order?",
        "My order number is 12345",
        "Mijn pakket is nooit aangekomen",
    ],
)
def test_neither(text: str) -> None:
    assert confirmation_answer(text, "en") is None


def test_no_problem_is_not_a_no() -> None:
    assert confirmation_answer("No problem, all solved now", "en") == "yes"


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("4", "csat", (4, "")),
        ("5!", "csat", (5, "")),
        ("4/5", "csat", (4, "")),
        ("4 / 5 quick and friendly", "csat", (4, "quick and friendly")),
        ("⭐⭐⭐⭐", "csat", (4, "")),
        ("★★ slow", "csat", (2, "slow")),
        ("5 - great service", "csat", (5, "great service")),
        ("I'd say 3", "csat", (3, "i'd say")),
        ("vier", "csat", (4, "")),
        ("8 out of 10", "nps", (8, "")),
        ("8 van de 10", "nps", (8, "")),
        ("10", "nps", (10, "")),
        ("0, never again", "nps", (0, "never again")),
        ("Score: 9", "nps", (9, "")),
        ("9/10 would recommend", "nps", (9, "would recommend")),
    ],
)
def test_scores(text: str, kind: str, expected: tuple[int, str]) -> None:
    assert survey_score(text, kind) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "csat"),
        ("7", "csat"),  # outside 1..5
        ("0", "csat"),
        ("11", "nps"),
        ("8/10", "csat"),  # another scale: not guessed
        ("2 weeks and still no refund", "csat"),
        ("I called 3 times and nobody could tell me where my package is", "csat"),
        ("order 12345 is still missing", "nps"),
        ("why did it take so long", "csat"),
        ("4.5", "csat"),
    ],
)
def test_not_scores(text: str, kind: str) -> None:
    assert survey_score(text, kind) is None  # type: ignore[arg-type]


def test_texts_are_filled_per_language_with_english_as_fallback() -> None:
    messages = RoutingMessages()
    nl = routing_text(
        messages, "confirmation", "nl", customer_first_name="Jan", agent_first_name="Sanne"
    )
    assert nl.startswith("Hoi Jan, is het hiermee opgelost?")
    unknown = routing_text(messages, "csat", "sv", customer_first_name="", agent_first_name="")
    assert unknown == messages.csat["en"]
    nameless = routing_text(
        messages, "confirmation", "en", customer_first_name="", agent_first_name=""
    )
    assert nameless.startswith("Hi, has this been solved")
    custom = RoutingMessages(
        confirmation={"en": "{agent_first_name} here: solved, {customer_first_name}?"}
    )
    assert routing_text(
        custom, "confirmation", "de", customer_first_name="Ana", agent_first_name="Olivia"
    ) == ("Olivia here: solved, Ana?")
    assert first_name(" Jan de Vries ") == "Jan" and first_name("") == ""
