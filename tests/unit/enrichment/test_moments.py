"""Special moments (enrichment/moments.py): the customer's own events in seven languages
and not the product words that look like them, the quote, the fast path's gate, any input,
threads, and the cost per message."""

from __future__ import annotations

import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcare.enrichment import moments
from socialcare.enrichment.domain import enrich
from socialcare.enrichment.moment_phrases import ANCHORS, KINDS, LEXICONS, compile_phrase
from socialcare.enrichment.moments import (
    MAX_QUOTE_CHARS,
    MAX_TEXT_CHARS,
    Moment,
    find_moments,
    special_moments,
)
from socialcare.v1 import message_pb2
from tests.unit.enrichment.moment_samples import DEVELOPMENT, FRESH, HELD_OUT, Sample
from tests.unit.enrichment.moment_stems import derived_anchors, pattern_stems

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
LANGUAGES = ("en", "nl", "de", "fr", "es", "it", "pt")


def kinds_of(text: str, language: str = "und") -> set[str]:
    return {moment.kind for moment in find_moments(text, language)}


def scores(samples: tuple[Sample, ...]) -> tuple[dict[str, tuple[float, float]], float, float]:
    """Precision and recall per kind, and micro-averaged over all kinds."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for language, text, expected in samples:
        found = kinds_of(text, language)
        tp.update(found & expected)
        fp.update(found - expected)
        fn.update(expected - found)
    per_kind = {
        kind: (
            tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else 1.0,
            tp[kind] / (tp[kind] + fn[kind]) if tp[kind] + fn[kind] else 1.0,
        )
        for kind in KINDS
    }
    hits, wrong, missed = sum(tp.values()), sum(fp.values()), sum(fn.values())
    return per_kind, hits / (hits + wrong), hits / (hits + missed)


# -- the labelled sets -----------------------------------------------------------------


@pytest.mark.parametrize(("language", "text", "expected"), DEVELOPMENT)
def test_development_sample(language: str, text: str, expected: frozenset[str]) -> None:
    assert kinds_of(text, language) == expected


def test_samples_cover_every_language_and_kind_with_negatives() -> None:
    samples = DEVELOPMENT + HELD_OUT + FRESH
    assert len(samples) >= 120
    for language in LANGUAGES:
        mine = [s for s in samples if s[0] == language]
        assert any(not kinds for _, _, kinds in mine), f"{language}: no negative sample"
        assert len({k for _, _, kinds in mine for k in kinds}) >= 8, language
    assert {k for _, _, kinds in DEVELOPMENT for k in kinds} == set(KINDS)


@pytest.mark.parametrize(
    ("name", "samples", "floor"),
    [
        # Measured before any phrase changed for them: held out 0.93 / 0.89 (first
        # phrases), fresh 0.84 / 0.92 (second round). The floors catch a broken pattern,
        # not a changed phrase.
        ("held-out", HELD_OUT, 0.85),
        ("fresh", FRESH, 0.8),
    ],
)
def test_precision_and_recall_on_samples_written_apart(
    name: str,
    samples: tuple[Sample, ...],
    floor: float,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Printed per kind (`pytest -s`)."""
    per_kind, precision, recall = scores(samples)
    with capsys.disabled():
        print(f"\nmoments on {len(samples)} {name} messages:")
        for kind, (p, r) in per_kind.items():
            print(f"  {kind:<12} precision {p:.2f} recall {r:.2f}")
        print(f"  micro        precision {precision:.3f} recall {recall:.3f}")
    assert precision >= floor
    assert recall >= floor


# -- what counts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "Please attach a copy of the birth certificate."),
        ("en", "The trip switch tripped twice tonight."),
        ("en", "My parcel is moving between depots for a week now."),
        ("en", "Is the holiday opening schedule online?"),
        ("en", "My battery died and my phone died too."),
        ("en", "Sick and tired of being on hold."),
        ("nl", "Mijn geboortedatum klopt niet in de app."),
        ("de", "Bitte ändern Sie mein Geburtsdatum."),
        ("fr", "Votre promo anniversaire ne marche pas."),
        ("es", "¿Dónde pongo la fecha de nacimiento?"),
        ("it", "Il mio telefono è morto stamattina."),
        ("pt", "Qual é o prazo da viagem do pacote até Lisboa?"),
        # Found by reading the phrases after the held-out run (now regression tests).
        ("en", "I can't watch the football match, my TV box is down."),
        ("en", "The loss of my photos after the update is unacceptable."),
        ("en", "I lost my son's charger on the train."),
        ("en", "When will your engineer start the job?"),
        ("en", "I just moved to a new plan and the bill doubled."),
        ("en", "Can I buy a home charger from you?"),
        ("en", "My new home hub keeps dropping the connection."),
        ("en", "I work at the hospital so I can only call at night."),
        ("en", "Is the funeral plan included in my policy?"),
        ("en", "The light turns 2 times red and then off."),
        ("nl", "Het is een hele operatie om jullie te bereiken."),
        ("nl", "De nieuwe functie in de app werkt niet."),
        ("nl", "De reis van mijn pakket duurt eindeloos."),
        ("nl", "Is de winkel open in de vakantie?"),
        ("nl", "Het verlies van mijn gegevens is jullie schuld."),
        ("nl", "Ik werk in het ziekenhuis en kan alleen 's avonds bellen."),
        ("de", "Ihre Techniker fahren nach Hause, ohne etwas zu reparieren."),
        ("de", "Es wird 14 Tage dauern, sagt der Support."),
        ("de", "Die neue Position auf meiner Rechnung verstehe ich nicht."),
        ("de", "Ich arbeite im Krankenhaus und bin tagsüber nicht erreichbar."),
        ("fr", "Le match n'est pas diffusé sur ma box."),
        ("fr", "Le colis part au Portugal au lieu de la France."),
        ("fr", "La perte de mes données est inacceptable."),
        ("fr", "Votre magasin est-il ouvert pendant les vacances ?"),
        ("es", "El partido no se ve en mi televisor."),
        ("es", "La pérdida de mis datos es inaceptable."),
        ("es", "¿Abren durante las vacaciones?"),
        ("es", "El nuevo departamento de atención no contesta."),
        ("es", "Mi contrato cumple 3 años y quiero cambiar."),
        ("es", "Trabajo en el hospital y solo puedo llamar de noche."),
        ("it", "La partita non si vede sul decoder."),
        ("it", "La perdita del mio credito è inaccettabile."),
        ("it", "Lavoro all'ospedale, chiamatemi la sera."),
        ("pt", "Faz 3 anos que sou cliente e nunca fui tão mal atendido."),
        ("pt", "O concerto do meu telemóvel demorou um mês."),
        ("pt", "A loja abre nas férias?"),
        ("pt", "O subsídio de férias não aparece na fatura."),
        ("pt", "A perda do meu cartão foi comunicada."),
        ("pt", "Trabalho no hospital e só posso ligar à noite."),
    ],
)
def test_product_and_process_words_are_not_moments(language: str, text: str) -> None:
    assert kinds_of(text, language) == set()


def test_a_wedding_dress_complaint_is_still_a_wedding() -> None:
    assert kinds_of("The wedding dress is out of stock!", "en") == {"wedding"}


def test_an_illness_told_with_a_birth_or_a_death_is_that_event() -> None:
    assert kinds_of("Our son was born in hospital on Sunday.", "en") == {"birth"}
    assert kinds_of("My dad passed away in hospital.", "en") == {"bereavement"}
    # In separate sentences both stand.
    assert kinds_of("My dad passed away. Mum is in hospital too.", "en") == {
        "bereavement",
        "illness",
    }


def test_a_wedding_anniversary_is_an_anniversary_not_a_wedding() -> None:
    assert kinds_of("It's our wedding anniversary tomorrow.", "en") == {"anniversary"}
    assert kinds_of("Wir feiern morgen Hochzeitstag.", "de") == {"anniversary"}


def test_one_moment_per_kind_in_the_order_of_the_text() -> None:
    text = (
        "We moved house in May. Then our daughter was born! "
        "And we moved house again, into a new flat."
    )
    found = find_moments(text, "en")
    assert [m.kind for m in found] == ["new_home", "birth"]
    assert found[0].quote == "We moved house in May."
    assert found[1].quote == "Then our daughter was born!"


def test_read_in_the_message_language_and_english_or_all_when_unknown() -> None:
    dutch = "Mijn vader is overleden."
    assert kinds_of(dutch, "nl") == {"bereavement"}
    assert kinds_of(dutch, "und") == {"bereavement"}
    assert kinds_of(dutch, "ja") == {"bereavement"}  # no phrases for it: every language
    assert kinds_of(dutch, "de") == set()  # read as German (and English) only
    assert kinds_of("Ich bin schwanger, we just had a baby shower", "de") == {"birth"}


# -- the quote -----------------------------------------------------------------------------


def test_the_quote_is_the_sentence_white_space_collapsed() -> None:
    (moment,) = find_moments("Hi.\nWe   are getting\tmarried in June!  Can you help?", "en")
    assert moment == Moment("wedding", "We are getting married in June!")


def test_the_quote_redacts_personal_data() -> None:
    (moment,) = find_moments(
        "Our baby was born today, call me on +31 6 1234 5678 or mail ann@example.com", "en"
    )
    assert "1234" not in moment.quote
    assert "ann@example.com" not in moment.quote
    assert "[phone]" in moment.quote and "[email]" in moment.quote


def test_a_long_sentence_is_cut_around_the_mention() -> None:
    text = "blah " * 300 + "and my father passed away last week " + "blah " * 300
    (moment,) = find_moments(text, "en")
    assert len(moment.quote) <= MAX_QUOTE_CHARS
    assert "passed away" in moment.quote
    assert moment.quote.startswith("…") and moment.quote.endswith("…")


def test_the_quote_of_a_long_sentence_at_the_start_keeps_its_start() -> None:
    text = "My father passed away last week " + "and so on " * 100
    (moment,) = find_moments(text, "en")
    assert moment.quote.startswith("My father passed away")
    assert len(moment.quote) <= MAX_QUOTE_CHARS


# -- any input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "   ", "🎉🎉🎉", "\ud800\udfff\ud800", "\x00\x01\x02", "ﷺ 你好 привет שלום", "." * 5000],
)
def test_any_text_is_accepted(text: str) -> None:
    assert find_moments(text, "und") == []


def test_lone_surrogates_never_reach_the_quote() -> None:
    (moment,) = special_moments("Our baby was born today \ud83d!", "en")
    assert "\ufffd" in moment.quote
    moment.SerializeToString()  # encodable


def test_only_the_start_of_a_huge_text_is_read() -> None:
    filler = "nothing to see here. " * (MAX_TEXT_CHARS // 10)
    assert kinds_of("We just got engaged! " + filler, "en") == {"wedding"}
    assert kinds_of(filler + "We just got engaged!", "en") == set()
    huge = "My father passed away " * 2500  # 55,000 characters in one sentence
    started = time.perf_counter()
    (moment,) = find_moments(huge, "en")
    assert time.perf_counter() - started < 0.5
    assert len(moment.quote) <= MAX_QUOTE_CHARS


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.sampled_from([*LANGUAGES, "und", "ja"]))
def test_arbitrary_text_yields_encodable_moments(text: str, language: str) -> None:
    found = special_moments(text, language)
    assert len({m.kind for m in found}) == len(found)
    for moment in found:
        assert moment.kind in KINDS
        assert 0 < len(moment.quote) <= MAX_QUOTE_CHARS
        moment.SerializeToString()


def test_threads_share_the_compiled_patterns() -> None:
    texts = [(text, language) for language, text, _ in DEVELOPMENT + HELD_OUT + FRESH] * 3
    alone = [find_moments(text, language) for text, language in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda item: find_moments(*item), texts))
    assert together == alone


# -- the fast path ---------------------------------------------------------------------


def test_anchors_are_the_stems_the_patterns_require() -> None:
    """Every pattern needs a word starting with one of its kind's anchors, so the gate
    never hides a match (`python -m tests.unit.enrichment.moment_stems` prints them)."""
    assert {lang: dict(kinds) for lang, kinds in ANCHORS.items()} == derived_anchors()


@pytest.mark.parametrize(
    ("pattern", "stems"),
    [
        ("gave birth", {"birth"}),
        ("(?:just|recently) born", {"born"}),
        ("infarto|ictus", {"infarto", "ictus"}),
        ("pregnan(?:t|cy)", {"pregnant", "pregnancy"}),
        ("(?:voetbalwedstrijd|wedstrijd) van", {"voetbalwedstrijd", "wedstrijd"}),
        ("b-?day", {"b"}),  # "day" may be inside the word ("bday"): not certain
    ],
)
def test_stems_of_a_pattern(pattern: str, stems: set[str]) -> None:
    assert pattern_stems(compile_phrase(pattern)) == frozenset(stems)


def _every_pattern(text: str, language: str) -> set[str]:
    """The kinds found without the gate: every allowed pattern on every sentence."""
    allowed = set(LEXICONS) if language not in LEXICONS else {language, "en"}
    found: dict[str, set[str]] = {}
    for sentence in moments._sentences(text[:MAX_TEXT_CHARS]):
        folded = moments._fold(sentence)
        here: set[str] = set()
        for lang in allowed:
            for kind, phrases in LEXICONS[lang].items():
                veto = [
                    m.span() for v in phrases.vetoes for m in re.finditer(compile_phrase(v), folded)
                ]
                for p in phrases.patterns:
                    for m in re.finditer(compile_phrase(p), folded):
                        if not any(a < m.end() and m.start() < b for a, b in veto):
                            here.add(kind)
        for kind, absorbers in moments._ABSORBS.items():
            if kind in here and here & absorbers:
                here.discard(kind)
        for kind in here:
            found.setdefault(kind, here)
    return set(found)


def test_the_gate_hides_nothing_on_the_samples() -> None:
    for language, text, _ in DEVELOPMENT + HELD_OUT + FRESH:
        assert kinds_of(text, language) == _every_pattern(text, language), text


def test_typical_cost_per_message(capsys: pytest.CaptureFixture[str]) -> None:
    """Most messages mention no moment; measured on the samples' negatives and plain
    care questions, with the samples' moments mixed in at their share. The bound is loose
    (CI machines vary): the figure is printed."""
    plain = [
        ("en", "Hi, my bill is much higher than last month, can you check the meter reading?"),
        ("nl", "Mijn internet valt steeds weg sinds de update van gisteren, wat kan ik doen?"),
        ("de", "Meine Rechnung ist zu hoch, bitte prüfen Sie den Zählerstand."),
        ("fr", "Bonjour, ma facture est trop élevée ce mois-ci, pouvez-vous vérifier ?"),
        ("es", "Hola, la factura de este mes es demasiado alta, ¿pueden revisarla?"),
        ("it", "Buongiorno, la bolletta di questo mese è troppo alta, potete controllare?"),
        ("pt", "Olá, a fatura deste mês está muito alta, podem verificar?"),
    ]
    negatives = [(lang, text) for lang, text, kinds in DEVELOPMENT + HELD_OUT if not kinds]
    positives = [(lang, text) for lang, text, kinds in DEVELOPMENT + HELD_OUT if kinds]
    mix = plain * 20 + negatives * 2 + positives[:10]
    for language, text in mix:
        find_moments(text, language)
    rounds = 5
    started = time.perf_counter()
    for _ in range(rounds):
        for language, text in mix:
            find_moments(text, language)
    per_message = (time.perf_counter() - started) / (rounds * len(mix))
    started = time.perf_counter()
    for _ in range(rounds):
        for language, text in positives:
            find_moments(text, language)
    per_moment = (time.perf_counter() - started) / (rounds * len(positives))
    with capsys.disabled():
        print(
            f"\nmoments: {per_message * 1e3:.4f} ms per typical message, "
            f"{per_moment * 1e3:.4f} ms per message with a moment"
        )
    assert per_message < 0.2e-3


# -- enrichment ----------------------------------------------------------------------------


def test_enrich_fills_the_moments() -> None:
    raw = message_pb2.SocialMessage(
        message_id="m1",
        channel=message_pb2.CHANNEL_WHATSAPP,
        text="Mijn neef uit Australië komt en wil naar een voetbalwedstrijd. Kan dat?",
        author=message_pb2.Author(id="a1"),
    )
    enriched = enrich(raw, NOW)
    assert [(m.kind, m.quote) for m in enriched.moments] == [
        ("trip", "Mijn neef uit Australië komt en wil naar een voetbalwedstrijd.")
    ]
    assert list(enrich(message_pb2.SocialMessage(message_id="m2", text="ok"), NOW).moments) == []
