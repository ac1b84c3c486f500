"""Listening rules: which posts beyond mentions a brand takes, and the keyword that says why
(scenario 1: an energy agency listening for energy bills, labels and subsidies)."""

from __future__ import annotations

import pytest

from socialcare.channels.listening import ListeningRules, fold
from socialcare.core.domain.brands import Brand, Feed, Listening

ENERGY = ListeningRules(
    keywords=[
        "energielabel",
        "energy label",
        "energierekening",
        "subsidie*",
        "Förderung",
        "Straße",
        "#warmtepomp",
    ],
    exclude=["vacature", "te koop"],
)


@pytest.mark.parametrize(
    ("text", "keywords"),
    [
        ("Wat is het ENERGIELABEL van mijn huis?", ("energielabel",)),
        ("Where do I find my Energy Label?", ("energy label",)),
        ("my energy-label says C", ("energy label",)),
        ("energy\n   label", ("energy label",)),
        ("energy\u2013label", ("energy label",)),
        ("ISDE-subsidie aangevraagd", ("subsidie*",)),
        ("De Subsidieregeling is gesloten", ("subsidie*",)),
        ("BEG-Förderung für die Wärmepumpe", ("Förderung",)),
        ("FÖRDERUNG beantragt", ("Förderung",)),
        ("Baustelle in der STRASSE", ("Straße",)),
        ("Lees meer over de energie\u00adlabel regels", ("energielabel",)),
        ("Installatie gepland #warmtepomp", ("#warmtepomp",)),
    ],
)
def test_a_keyword_matches_case_insensitively_as_a_whole_word_or_phrase(
    text: str, keywords: tuple[str, ...]
) -> None:
    verdict = ENERGY.judge(text)

    assert verdict.matched
    assert verdict.keywords == keywords
    assert verdict.reason == "matched " + ", ".join(repr(k) for k in keywords)


@pytest.mark.parametrize(
    "text",
    [
        "Onze energielabels zijn verouderd",  # plural: only a keyword with * takes it
        "het energielabelregister",  # a longer compound
        "een energie label",  # two words where the keyword is one
        "Eine Forderung des Vermieters",  # an umlaut is not decoration
        "energy labelling guidance",
        "subsidy",  # English, not the Dutch stem
        "warmtepomp geplaatst",  # the hashtag keyword needs its #
        "",
    ],
)
def test_near_misses_do_not_match(text: str) -> None:
    verdict = ENERGY.judge(text)

    assert not verdict.matched
    assert verdict.keywords == ()
    assert verdict.reason == "no keyword found"


def test_every_keyword_found_is_reported_once_in_the_order_it_occurs() -> None:
    verdict = ENERGY.judge(
        "Mijn energierekening is hoog. Subsidie voor isolatie? En mijn energielabel? "
        "Nog een keer: energierekening."
    )

    assert verdict.keywords == ("energierekening", "subsidie*", "energielabel")


def test_an_excluded_term_wins_over_any_keyword_and_is_named() -> None:
    verdict = ENERGY.judge("VACATURE: adviseur energielabel en subsidie")

    assert not verdict.matched
    assert verdict.excluded_by == "vacature"
    assert verdict.reason == "excluded by 'vacature'"
    assert not ENERGY.judge("Te  koop: energielabel-scanner").matched


def test_without_keywords_every_post_is_taken_but_exclusions_still_apply() -> None:
    everything = ListeningRules(keywords=[], exclude=["spam"])

    assert everything.judge("Anything at all").matched
    assert everything.judge("Anything at all").reason == "no keywords: every post is taken"
    assert not everything.judge("buy SPAM now").matched


def test_regex_characters_in_a_keyword_are_literal() -> None:
    rules = ListeningRules(["C++", "a.b", "(test)"])

    assert rules.judge("I write C++ daily").keywords == ("C++",)
    assert not rules.judge("axb").matched
    assert rules.judge("the (test) case").keywords == ("(test)",)


def test_the_longest_phrase_is_reported_when_two_keywords_start_at_one_place() -> None:
    rules = ListeningRules(["energy", "energy label"])

    assert rules.judge("energy label please").keywords == ("energy label",)
    assert rules.judge("energy bills").keywords == ("energy",)


@pytest.mark.parametrize("keyword", ["", "   ", "*", " - ", "**"])
def test_a_keyword_that_cannot_match_anything_is_refused(keyword: str) -> None:
    with pytest.raises(ValueError, match=r"keyword|needs a word"):
        ListeningRules([keyword])


def test_folding_is_idempotent_and_normalises_composition_and_case() -> None:
    decomposed = "e\u0301nergie"  # e + combining acute
    assert fold(decomposed) == fold("ÉNERGIE") == "énergie"
    assert fold(fold("Straße")) == fold("Straße") == "strasse"


def test_a_feed_overrides_the_brand_keywords_but_not_its_exclude_list() -> None:
    brand = Brand(
        name="energieloket",
        listening=Listening(keywords=["energielabel"], exclude=["vacature"]),
    )
    own = Feed.model_validate(
        {"name": "kachels", "url": "https://forum.example/kachels.rss", "keywords": ["kachel"]}
    )
    inherited = Feed.model_validate({"name": "forum", "url": "https://forum.example/all.rss"})
    everything = Feed.model_validate(
        {"name": "eigen-forum", "url": "https://forum.example/own.rss", "keywords": []}
    )

    assert ListeningRules.for_feed(brand, own).keywords == ("kachel",)
    assert not ListeningRules.for_feed(brand, own).judge("energielabel").matched
    assert not ListeningRules.for_feed(brand, own).judge("vacature kachel").matched
    assert ListeningRules.for_feed(brand, inherited).judge("energielabel?").matched
    assert ListeningRules.for_feed(brand, everything).judge("hallo").matched
    assert ListeningRules.for_feed(brand, everything).exclude == ("vacature",)
