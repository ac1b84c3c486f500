"""enrich() on arbitrary text (any code point a protobuf string can hold, personal data
mixed in): it never raises, the enriched message serialises and parses back, and every
PII span lies inside the text, in order, and is the kind it says."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialcare.core import pii
from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.enrichment.domain import enrich
from socialcare.enrichment.intents import IntentDetector
from socialcare.v1 import message_pb2
from tests.unit.enrichment.bad_inputs import BAD_TEXTS
from tests.unit.factories import T0, enriched

PERSONAL = st.sampled_from(
    [
        "jan.devries@example.nl",
        "+31 6 1234 5678",
        "06-12345678",
        "NL91 ABNA 0417 1643 00",
        "4111 1111 1111 1111",
        "(555) 123-4567",
    ]
)
# Every code point but surrogates (proto3 strings are UTF-8), weighted towards the odd ones.
ODD = st.characters(
    codec="utf-8",
    include_characters="\u200d\u200c\u200b\u200e\u200f\u202e\u2066\ufeff\x00\x1b😀👩🏽",
)
TEXT = st.lists(st.one_of(st.text(ODD, max_size=40), PERSONAL), max_size=8).map(" ".join)


@cache
def taxonomy() -> tuple[CareConfig, IntentDetector]:
    care = load_care_config()
    return care, IntentDetector(care)


def check(text: str) -> None:
    care, intents = taxonomy()
    raw = enriched("prop", text=text).message
    out = enrich(raw, T0, intents, care=care)
    again = message_pb2.EnrichedMessage()
    again.ParseFromString(out.SerializeToString())
    assert again == out
    assert out.message.text == text
    assert out.language
    assert -1.0 <= out.sentiment.score <= 1.0
    assert 0.0 <= out.urgency <= 1.0
    end = 0
    for match in out.pii:
        assert end <= match.start < match.end <= len(text)
        end = match.end
    assert [(m.kind, m.start, m.end) for m in out.pii] == [
        (m.kind, m.start, m.end) for m in pii.find(text)
    ]


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(TEXT)
def test_enrich_takes_any_text(text: str) -> None:
    check(text)


def test_enrich_takes_the_known_bad_texts() -> None:
    for text in BAD_TEXTS.values():
        check(text)


def test_personal_data_between_any_words_is_redacted_whole() -> None:
    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.text(ODD, max_size=20), PERSONAL, st.text(ODD, max_size=20))
    def covered(before: str, personal: str, after: str) -> None:
        text = f"{before} {personal} {after}"
        at = len(before) + 1
        # Every character of the value lies in a span (a span may take a neighbouring
        # digit group: "06-12345678 9" reads as one number), so redaction leaves none.
        spans = [(m.start, m.end) for m in pii.find(text)]
        for position in range(at, at + len(personal)):
            assert any(start <= position < end for start, end in spans), (text, spans)

    covered()
