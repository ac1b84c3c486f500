"""Language detection on the repository's real short social texts (xlm-t's validation
tweets, the other sources' held-out files): per-language accuracy printed for `make test`,
failing only on a collapse, so the sets' label noise (an English tweet in the German set)
never fails CI.

Run `python -m socialcare.enrichment.language_quality --split all` for the same figures on
every file (and `-s` here to see them in pytest).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from socialcare.enrichment.language import detect_language
from socialcare.enrichment.language_quality import (
    BRAND_LANGUAGES,
    labelled_texts,
    measure,
    report,
)

# The noisiest set (xlm-t German) sits at ~94 %, the others at 97-100 %: below 90 % the
# detector, its cleaning or its restriction broke.
COLLAPSE_BELOW = 0.90
TEXTS = labelled_texts("val")


def test_every_language_of_the_brand_set_is_present() -> None:
    present = {language for texts in TEXTS.values() for language in texts}
    assert {"en", "de", "fr", "es", "it", "pt", "nl"} <= present
    assert all(len(items) >= 300 for texts in TEXTS.values() for items in texts.values())


@pytest.mark.parametrize("source", sorted(TEXTS))
def test_no_language_collapses(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    texts = TEXTS[source]
    accuracy = measure(texts, lambda text: detect_language(text, BRAND_LANGUAGES).code)
    with capsys.disabled():
        print(f"\nlanguage ID, {source}: " + report("brand languages", accuracy))
    collapsed = {
        language: round(accuracy.rate(language), 3)
        for language in texts
        if accuracy.rate(language) < COLLAPSE_BELOW
    }
    assert not collapsed, f"{source}: language ID collapsed for {collapsed}"


def test_the_test_splits_of_xlm_t_are_never_read(tmp_path: Path) -> None:
    """The sentiment acceptance set stays unseen; other sources' held-out files are read."""
    for source, language, name, text in (
        ("xlm-t", "de", "val.tsv", "Wo bleibt meine Lieferung?"),
        ("xlm-t", "de", "test.tsv", "Das ist der Test"),
        ("ecosent", "nl", "test.tsv", "Waar blijft mijn pakket?"),
    ):
        (tmp_path / source / language).mkdir(parents=True, exist_ok=True)
        (tmp_path / source / language / name).write_text(f"neutral\t{text}\n", encoding="utf-8")
    for split in ("val", "all"):
        assert labelled_texts(split, root=tmp_path) == {
            "ecosent": {"nl": ["Waar blijft mijn pakket?"]},
            "xlm-t": {"de": ["Wo bleibt meine Lieferung?"]},
        }
