"""What the customer's words mean to a case's lifecycle, and what routing says to them.

Two questions go to the customer in the agent's name: "has this been solved?" after an
agent proposes a resolution (scenario 2: the customer decides), and the satisfaction
question after resolution (scenario 4: CSAT 1..5 or NPS 0..10). Their answers arrive as
ordinary messages, in whatever words people use, so this module reads them:

* `confirmation_answer`: "yes", "no", or None when the message is neither (a new question,
  a long story). Routing treats None like no: the case goes back to its owner, who reads
  it, rather than resolving on a guess. Negations win over yes-words ("not solved", "nog
  steeds niet"), and a leading "no" is a no unless it is "no problem"/"no worries".
* `survey_score`: the score and the rest of the words as a comment, or None when the
  message does not read as an answer (a message like "I called 3 times" is a complaint,
  not a 3). A number counts when it leads the message, comes with its scale ("4/5",
  "8 out of 10", "8 van de 10"), or is alone in a short message; CSAT also takes stars.
* `routing_text`: the configured text for the case's language with its variables filled.

Pure and deterministic; text is compared folded (`core.domain.keywords.fold`).
"""

from __future__ import annotations

import re
from typing import Literal

from socialcare.core.domain.keywords import Terms, fold
from socialcare.core.domain.routing_config import RoutingMessages

Answer = Literal["yes", "no"]
SurveyName = Literal["csat", "nps"]
SCALES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10)}

# Said when it is NOT solved, in any of the supported languages; checked before the
# yes-words, because most contain one ("not solved", "nicht gelöst").
_NOT_SOLVED = Terms(
    [
        # en
        "not really",
        "not yet",
        "not solved",
        "not resolved",
        "not fixed",
        "still not",
        "still broken",
        "still waiting",
        "still having",
        "still doesn't",
        "still does not",
        "doesn't work",
        "does not work",
        "didn't work",
        "did not work",
        "not working",
        "isn't solved",
        "is not solved",
        "hasn't been",
        "has not been",
        "nope",
        "nah",
        # nl
        "nog niet",
        "nog steeds",
        "niet opgelost",
        "werkt niet",
        "werkt nog niet",
        "helaas niet",
        "niet echt",
        # de
        "noch nicht",
        "nicht gelöst",
        "funktioniert nicht",
        "leider nicht",
        "nicht wirklich",
        "immer noch",
        # fr
        "pas encore",
        "pas résolu",
        "pas vraiment",
        "toujours pas",
        "ne marche pas",
        "ne fonctionne pas",
        # es
        "todavía no",
        "aún no",
        "no funciona",
        "no está resuelto",
        "no se ha resuelto",
        "sigue sin",
        # it
        "non ancora",
        "non funziona",
        "non è risolto",
        "non del tutto",
        # pt
        "ainda não",
        "não funciona",
        "não resolvido",
        "não foi resolvido",
    ]
)
# Short answers that are a no when they lead the message.
_NO_WORDS = frozenset({"no", "non", "nee", "nein", "não", "nao", "nope", "nah", "neen"})
# Leading "no" that is not an answer to "has this been solved?".
_NOT_A_NO = Terms(
    [
        "no problem",
        "no worries",
        "no prob",
        "geen probleem",
        "kein problem",
        "pas de problème",
        "no hay problema",
        "nessun problema",
        "sem problema",
    ]
)
_SOLVED = Terms(
    [
        # en
        "yes",
        "yes*",
        "yeah",
        "yep",
        "yup",
        "ya",
        "sure",
        "solved",
        "resolved",
        "fixed",
        "sorted",
        "all good",
        "works now",
        "working now",
        "it works",
        "that worked",
        "perfect",
        "great thanks",
        "thank you",
        "thanks",
        "ok",
        "okay",
        "correct",
        # nl
        "ja",
        "jazeker",
        "jawel",
        "opgelost",
        "werkt weer",
        "werkt nu",
        "het werkt",
        "helemaal goed",
        "top",
        "prima",
        "klopt",
        "bedankt",
        "dank je",
        "dank u",
        # de
        "jawohl",
        "gelöst",
        "erledigt",
        "funktioniert wieder",
        "funktioniert jetzt",
        "alles gut",
        "danke",
        "passt",
        # fr
        "oui",
        "ouais",
        "résolu",
        "réglé",
        "ça marche",
        "ça fonctionne",
        "merci",
        "parfait",
        # es
        "sí",
        "si",
        "resuelto",
        "solucionado",
        "funciona",
        "gracias",
        "perfecto",
        # it
        "sì",
        "risolto",
        "funziona",
        "grazie",
        "perfetto",
        # pt
        "sim",
        "resolvido",
        "resolvida",
        "funcionou",
        "obrigado",
        "obrigada",
        "perfeito",
    ]
)
_YES_EMOJI = frozenset("👍✅👌🙏💯✔☑")
_NO_EMOJI = frozenset("👎❌✖🚫")
# The words of a short answer (letters, digits, apostrophes).
_WORD = re.compile(r"[\w']+")
# A message longer than this is a story, not an answer, unless it says yes or no first.
_SHORT_ANSWER_WORDS = 12


def confirmation_answer(text: str, language: str = "") -> Answer | None:
    """The customer's answer to "has this been solved?": "yes", "no", or None when the
    message says neither (routing then hands it to the owner like any message).

    `language` is the case's; the word lists cover en, nl, de, fr, es, it and pt together,
    because customers mix languages ("ok merci") and the detected language of a two-word
    message is a guess.
    """
    del language  # every language's words are checked; see the docstring
    folded = fold(text).strip()
    if not folded:
        return None
    symbols = set(folded)
    words = _WORD.findall(folded)
    if _NOT_SOLVED.search(folded) or symbols & _NO_EMOJI:
        return "no"
    if words and words[0] in _NO_WORDS and not _NOT_A_NO.search(folded):
        return "no"
    if "?" in folded:
        return None  # a question back ("ok, but what about...?") needs the agent
    if symbols & _YES_EMOJI and len(words) <= _SHORT_ANSWER_WORDS:
        return "yes"
    if not words:
        return None
    head = " ".join(words[:_SHORT_ANSWER_WORDS])
    if _SOLVED.search(head):
        return "yes"
    return None


# "4/5", "4 / 5", "8 out of 10", "8 van de 10", "8 von 10", "8 sur 10", "8 de 10",
# "8 su 10", "8 em 10".
_WITH_SCALE = re.compile(
    r"(?<![\w.,])(\d{1,2})\s*(?:/|out\s+of|of|van\s+de|uit|von|sur|de|su|em|på)\s*(\d{1,2})(?![\w.,])"
)
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,2})(?:[.,]0)?(?![\w]|[.,]\d)")
_LEADING = re.compile(
    r"^\W*(?:(?:score|rating|cijfer|note|nota|voto|punkte?)\W*)?(\d{1,2})(?![\w]|[.,]\d)"
)
_STARS = re.compile(r"[⭐★🌟]")
_NUMBER_WORDS: dict[str, int] = {}
for _index, _names in enumerate(
    [
        "zero nul null zéro cero zero",
        "one een eins un uno um",
        "two twee zwei deux dos due dois",
        "three drie drei trois tres tre três",
        "four vier vier quatre cuatro quattro quatro",
        "five vijf fünf cinq cinco cinque cinco",
        "six zes sechs six seis sei seis",
        "seven zeven sieben sept siete sette sete",
        "eight acht acht huit ocho otto oito",
        "nine negen neun neuf nueve nove nove",
        "ten tien zehn dix diez dieci dez",
    ]
):
    for _name in _names.split():
        _NUMBER_WORDS.setdefault(_name, _index)
# Words after a leading number that make it a count rather than a score.
_UNITS = frozenset(
    [
        "day",
        "days",
        "week",
        "weeks",
        "hour",
        "hours",
        "minute",
        "minutes",
        "month",
        "months",
        "time",
        "times",
        "euro",
        "euros",
        "dollars",
        "items",
        "orders",
        "packages",
        "dag",
        "dagen",
        "week",
        "weken",
        "uur",
        "uren",
        "maand",
        "maanden",
        "keer",
        "tag",
        "tage",
        "woche",
        "wochen",
        "stunde",
        "stunden",
        "mal",
        "monate",
        "jour",
        "jours",
        "semaine",
        "semaines",
        "heures",
        "fois",
        "mois",
        "día",
        "días",
        "semana",
        "semanas",
        "horas",
        "veces",
        "meses",
        "giorno",
        "giorni",
        "settimana",
        "settimane",
        "ore",
        "volte",
        "mesi",
        "dia",
        "dias",
        "vezes",
    ]
)
# A short message with one number in it is an answer; a longer one only when it leads.
_SHORT_SCORE_WORDS = 6


def survey_score(text: str, kind: SurveyName) -> tuple[int, str] | None:
    """The score (within the kind's scale) and the customer's other words (folded:
    lower case) as a comment, or None when
    the message does not read as an answer to the satisfaction question."""
    low, high = SCALES[kind]
    folded = fold(text).strip()
    if not folded:
        return None
    found = _scored(folded, kind, high)
    if found is None:
        return None
    score, comment = found
    if not low <= score <= high:
        return None
    return score, comment.strip(" \t\n-\u2013\u2014:;,.!")


def _scored(folded: str, kind: SurveyName, high: int) -> tuple[int, str] | None:
    with_scale = _WITH_SCALE.search(folded)
    if with_scale is not None:
        if int(with_scale.group(2)) != high:
            return None  # "8/10" for a 1..5 question: do not guess the conversion
        return int(with_scale.group(1)), _without(folded, with_scale.span())
    stars = _STARS.findall(folded)
    if stars and kind == "csat":
        return len(stars), _STARS.sub("", folded)
    leading = _LEADING.match(folded)
    if leading is not None:
        rest = folded[leading.end() :]
        following = _WORD.findall(rest)
        if following and following[0] in _UNITS:
            return None  # "2 weeks and still no refund": a count, not a score
        return int(leading.group(1)), rest
    words = _WORD.findall(folded)
    if len(words) <= _SHORT_SCORE_WORDS:
        numbers = _NUMBER.findall(folded)
        if len(numbers) == 1:
            match = _NUMBER.search(folded)
            assert match is not None
            return int(numbers[0]), _without(folded, match.span())
        if not numbers and len(words) == 1 and words[0] in _NUMBER_WORDS:
            return _NUMBER_WORDS[words[0]], ""
    return None


def _without(text: str, span: tuple[int, int]) -> str:
    return (text[: span[0]] + " " + text[span[1] :]).strip()


# -- texts ------------------------------------------------------------------------------------

_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.!?;:])")
_SPACES = re.compile(r"[ \t]{2,}")


def first_name(name: str) -> str:
    """The first word of a display name ("Jan de Vries" -> "Jan"); empty stays empty."""
    return name.strip().split(" ", 1)[0] if name.strip() else ""


def routing_text(
    messages: RoutingMessages,
    which: Literal["confirmation", "csat", "nps"],
    language: str,
    *,
    customer_first_name: str,
    agent_first_name: str,
) -> str:
    """The configured text for `language` (English when it has none) with its variables
    filled in; an unknown name leaves no gap ("Hi , has this..." reads "Hi, has this...")."""
    template = messages.text(which, language)
    filled = template.format(
        customer_first_name=customer_first_name.strip(),
        agent_first_name=agent_first_name.strip(),
    )
    tidy = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", filled)
    return _SPACES.sub(" ", tidy).strip()
