"""Language detection on realistic short social-care messages."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from socialcare.enrichment import language
from socialcare.enrichment.language import (
    SUPPORTED_LANGUAGES,
    UNDETERMINED,
    LanguageGuess,
    clean_for_detection,
    detect_language,
)

MESSAGES: list[tuple[str, str]] = [
    ("nl", "Waar blijft mijn pakket??"),
    ("nl", "@PostNL al 3 dagen 'onderweg' en nog steeds niks ontvangen 😡"),
    ("nl", "Mijn energierekening is veel hoger dan verwacht, belachelijk!"),
    ("nl", "Super bedankt voor de snelle hulp!"),
    ("nl", "hoe kan ik mijn abonnement opzeggen"),
    ("nl", "Klantenservice reageert niet, al 2 weken wachten. Schandalig"),
    ("nl", "Internet ligt er weer uit bij ons in Utrecht #storing"),
    ("nl", "Kunnen jullie me even terugbellen? Ik kom er niet uit met de app"),
    ("nl", "top geregeld, dank jullie wel 👍"),
    ("nl", "waarom is mijn termijnbedrag verhoogd zonder bericht?"),
    ("nl", "Ik heb een verkeerde factuur gekregen"),
    ("en", "my order never arrived"),
    ("en", "How do I apply for the energy subsidy?"),
    ("en", "@AcmeCare worst customer service ever. 45 min on hold!!!"),
    ("en", "thanks so much for sorting this out so quickly 🙏"),
    ("en", "still no refund after 3 weeks, this is a joke"),
    ("en", "can someone DM me about my bill pls"),
    ("en", "The app keeps crashing when I try to log in https://t.co/abc123"),
    ("en", "Is there an outage in Manchester? No internet since this morning"),
    ("en", "love the new update, great job guys"),
    ("en", "why was I charged twice??"),
    ("de", "Wo bleibt meine Lieferung? Seit einer Woche nichts passiert"),
    ("de", "Der Kundenservice ist eine Katastrophe, niemand ruft zurück!"),
    ("de", "Vielen Dank für die schnelle Hilfe!"),
    ("de", "Wie kann ich meinen Vertrag kündigen?"),
    ("de", "Meine Rechnung ist viel zu hoch, das kann doch nicht sein"),
    ("de", "@DB_Bahn Zug fällt schon wieder aus. Unglaublich."),
    ("de", "Kein Internet seit gestern Abend"),
    ("fr", "Toujours pas reçu ma commande, c'est inadmissible"),
    ("fr", "Merci beaucoup pour votre aide rapide !"),
    ("fr", "Comment je peux résilier mon abonnement ?"),
    ("fr", "Service client injoignable depuis 3 jours... nul"),
    ("fr", "ma facture est beaucoup trop élevée ce mois-ci"),
    ("fr", "Bonjour, mon colis est bloqué depuis lundi"),
    ("fr", "je suis très déçu, plus jamais"),
    ("es", "Mi pedido todavía no ha llegado"),
    ("es", "Muchas gracias por la ayuda, todo resuelto 😊"),
    ("es", "¿Cómo puedo cancelar mi suscripción?"),
    ("es", "El servicio al cliente es pésimo, nadie contesta"),
    ("es", "me han cobrado dos veces este mes!!"),
    ("es", "Llevo una hora esperando al teléfono, vergonzoso"),
    ("it", "Il mio pacco non è ancora arrivato"),
    ("it", "Grazie mille per l'aiuto!"),
    ("it", "servizio clienti pessimo, nessuno risponde"),
    ("pt", "Meu pedido ainda não chegou, que absurdo"),
    ("pt", "Obrigado pela ajuda rápida!"),
    ("pt", "Como faço para cancelar a minha assinatura?"),
    ("pl", "Gdzie jest moja paczka? Czekam już tydzień"),
    ("sv", "Mitt paket har fortfarande inte kommit"),
    ("da", "Tak for den hurtige hjælp"),
    ("tr", "Siparişim hala gelmedi, berbat bir hizmet"),
    ("ar", "مرحبا، طلبي لم يصل بعد"),
    ("ru", "Где моя посылка? Жду уже неделю"),
    ("uk", "Де моя посилка? Чекаю вже тиждень"),
    ("ja", "荷物がまだ届きません"),
    ("zh", "我的包裹还没到"),
]

# One- to four-word messages: the hard case for any n-gram detector.
SHORT_MESSAGES: list[tuple[str, str]] = [
    ("nl", "bedankt!"),
    ("nl", "nog steeds niks"),
    ("nl", "geen bereik"),
    ("nl", "niet ontvangen"),
    ("nl", "waardeloze service"),
    ("nl", "wanneer wordt het opgelost"),
    ("en", "thanks!"),
    ("en", "still nothing"),
    ("en", "where is my parcel"),
    ("en", "any update?"),
    ("de", "Danke!"),
    ("de", "immer noch nichts"),
    ("de", "kein Netz"),
    ("de", "wo ist mein Paket"),
    ("de", "schlechter Service"),
    ("fr", "merci !"),
    ("fr", "toujours rien"),
    ("fr", "où est mon colis"),
    ("fr", "service nul"),
    ("es", "gracias!!"),
    ("es", "todavía nada"),
    ("es", "dónde está mi paquete"),
    ("es", "servicio horrible"),
    ("it", "ancora niente"),
    ("it", "dov'è il mio pacco"),
    ("pt", "ainda nada"),
    ("pt", "cadê meu pedido"),
]


@pytest.fixture
def restore_accuracy_mode() -> Iterator[None]:
    yield
    language.configure(low_accuracy=False)


@pytest.mark.parametrize(("expected", "text"), MESSAGES)
def test_detects_language_of_realistic_messages(expected: str, text: str) -> None:
    guess = detect_language(text)
    assert guess.code == expected, f"{text!r} -> {guess}"
    assert 0.0 < guess.confidence <= 1.0


def test_short_messages_are_mostly_right() -> None:
    wrong = [
        (text, expected, detect_language(text).code)
        for expected, text in SHORT_MESSAGES
        if detect_language(text).code != expected
    ]
    assert len(wrong) <= 3, wrong


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "😡😡😡",
        "👍🙏",
        "https://t.co/abc123",
        "@AcmeCare",
        "@AcmeCare https://x.co #",
        "123 456",
    ],
)
def test_text_without_language_signal_is_undetermined(text: str) -> None:
    assert detect_language(text) == LanguageGuess(UNDETERMINED, 0.0)


@pytest.mark.parametrize("text", ["ok", "ja", "no!", "?!"])
def test_too_few_letters_is_undetermined(text: str) -> None:
    assert detect_language(text).code == UNDETERMINED


def test_script_outside_candidates_is_undetermined() -> None:
    assert detect_language("नमस्ते, मेरा पैकेज कहाँ है").code == UNDETERMINED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bedankt!", "nl"),
        ("Dank je wel 🙏", "nl"),
        ("Danke!", "de"),
        ("merci !", "fr"),
        ("gracias!!", "es"),
        ("Thanks!", "en"),
        ("Obrigada", "pt"),
    ],
)
def test_one_word_closers_use_the_stock_phrase_table(text: str, expected: str) -> None:
    assert detect_language(text) == LanguageGuess(expected, 0.9)


def test_noise_is_stripped_before_detection() -> None:
    text = "@KLM_Care https://t.co/xyz #vertraging waar is mijn koffer?? 😡 info@klm.com"
    assert clean_for_detection(text) == "vertraging waar is mijn koffer??"
    assert detect_language(text).code == "nl"


def test_handles_and_urls_do_not_pull_short_dutch_towards_english() -> None:
    guess = detect_language(
        "@CustomerCareTeam https://support.example.com/help nog steeds geen bereik"
    )
    assert guess.code == "nl"


def test_confidence_is_high_for_a_clear_sentence_and_lower_for_an_ambiguous_one() -> None:
    clear = detect_language("Mijn energierekening is veel hoger dan verwacht, belachelijk!")
    ambiguous = detect_language("terrible service")
    assert clear.confidence > 0.9
    assert ambiguous.confidence < clear.confidence


def test_long_text_is_truncated_but_still_detected() -> None:
    text = "Ik wacht nu al weken op een reactie van jullie klantenservice. " * 500
    assert detect_language(text).code == "nl"


def test_guess_is_immutable() -> None:
    guess = detect_language("Waar blijft mijn pakket??")
    with pytest.raises(dataclasses.FrozenInstanceError):
        guess.code = "en"  # type: ignore[misc]


def test_supported_languages_cover_the_care_desks() -> None:
    assert {"en", "nl", "de", "fr", "es", "it", "pt", "pl", "tr", "ar"} <= SUPPORTED_LANGUAGES
    assert all(len(code) == 2 and code.islower() for code in SUPPORTED_LANGUAGES)
    assert all(detect_language(text).code in SUPPORTED_LANGUAGES for _, text in MESSAGES)


def test_detector_is_built_once() -> None:
    detect_language("Waar blijft mijn pakket??")
    assert language._get_detector() is language._get_detector()


def test_concurrent_detection_matches_sequential() -> None:
    texts = [text for _, text in MESSAGES] * 4
    sequential = [detect_language(text) for text in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(detect_language, texts))
    assert concurrent == sequential


def test_low_accuracy_mode_rebuilds_the_detector(restore_accuracy_mode: None) -> None:
    high = language._get_detector()
    language.configure(low_accuracy=True)
    low = language._get_detector()
    assert low is not high
    assert detect_language("Mijn pakket is nog steeds niet bezorgd, belachelijk").code == "nl"
    language.configure(low_accuracy=False)
    assert language._get_detector() is not low
