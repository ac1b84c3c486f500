"""Intents recognised by likeness to the taxonomy's example messages.

Keyword lists catch the words a brand foresaw ("invoice", "storing*"); customers also write
"you took money from my account twice" or "de hele straat zit zonder stroom". An intent's
`examples` (care config) are a few such messages per language. A clause that no keyword
matches is compared with them: the intent whose examples it is most like gets it, when the
likeness reaches `THRESHOLD`, with the likeness as its confidence.

Likeness is the cosine between TF-IDF vectors over each word and its character 3- to
5-grams (inside the word, with its boundaries: "<bill>" gives "<bi", "bil", ..., "ill>"),
against one centroid per intent (the mean of its examples' unit vectors). Character
n-grams carry inflections and Dutch and German compounds ("stroom" in "stroomstoring"),
typos and accents that a word alone misses. A centroid rather than the nearest example:
on the labelled set below it put 74 % of the messages that have an intent first, the
nearest example 55 % (one odd example pulls in too much), and a clause costs one small
matrix product whatever the number of examples. A clause with fewer than
MIN_CONTENT_WORDS content words is not compared; a clause that asks something is not
likened to intents that are no question (compliments).

Why `THRESHOLD` is 0.12: measured on a labelled set of 189 care messages written apart
from the configured examples (14 per intent over en, nl, de, fr, es, it, pt, 35 off-topic
messages and 14 bare follow-ups; tests/unit/enrichment/intent_samples.py, which prints the
sweep), with the packaged examples and no keywords: at 0.12 precision 0.76, recall 0.60
(F1 0.67), 3 intents on the 49 messages that have none. Lower, off-topic chatter gets
intents fast (0.10: 13, 0.08: 23) for little recall; higher, recall falls faster than
precision rises (0.14: 0.79 / 0.51; 0.20: 0.74 / 0.23). Likeness stays well below a
keyword hit's 0.6 for most matches, so the confidence tells the agent which kind it was.
Cost: on the same set (nearly every clause compared) 46 µs CPU per message with keywords
and examples against 17 µs with keywords alone (2 busy cores; intent_samples prints it).

A matcher is built once per brand and message language (`IntentDetector`, under its lock)
and only read afterwards; its word cache is an `lru_cache`, safe across threads.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_COMPARED_CHARS",
    "MIN_CONTENT_WORDS",
    "STOP_WORDS",
    "THRESHOLD",
    "ExampleMatch",
    "ExampleMatcher",
    "content_words",
    "features",
    "stop_words_for",
]

# A clause's likeness to an intent's examples from which it gets the intent (see above).
THRESHOLD = 0.12
# Only this much of a clause is compared: examples are a sentence long, and a 20,000
# character "clause" (a text without punctuation) must cost no more than a long sentence.
MAX_COMPARED_CHARS = 600
# The character n-gram lengths taken inside each word (with its boundaries).
_NGRAMS = (3, 4, 5)
# Distinct words whose features a matcher remembers (a message's words mostly recur).
_WORD_CACHE = 8_192
_WORD = re.compile(r"\w+")
# A clause needs this many content words (not stop words, longer than one letter) to be
# compared: "when will it be fixed?" has one, and one shared word is a keyword's job, not a
# likeness (it made "wanneer is het opgelost?" a compliment through "opgelost").
MIN_CONTENT_WORDS = 2


# Function words and greetings per language: they do not count as content words (a clause
# needs MIN_CONTENT_WORDS others to be compared), so "when will it be fixed?" or "good
# morning everyone" is not likened to an example through one shared word ("fixed",
# "morning" of "since this morning"). They stay in the comparison itself: left out, they
# cost recall on the labelled set (the pronouns and verbs of a complaint are part of how it
# reads). Negations ("not", "geen", "sin", "sem") are content.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the an and or but if of to in on at by for with from about as into over after "
        "before than then so too very just also is are was were be been being am do does did "
        "done have has had having will would shall should can could may might must it its "
        "this that these those there here me my mine you your yours we our ours they their "
        "them he him his she her hers what which who whom whose when where why how all any "
        "some each every more most other such only own same again once please hi hello hey "
        "dear get got ve ll re don didn doesn isn wasn good morning afternoon evening everyone "
        "everybody guys folks"
    ),
    "nl": _words(
        "de het een en of maar als dan dat die dit deze daar hier er is zijn was waren ben "
        "bent wordt worden werd heb hebt heeft hebben had hadden zal zullen zou zouden kan "
        "kun kunt kunnen mag mogen moet moeten wil wilt willen ik mij me mijn jij je jou jouw "
        "uw wij we ons onze zij ze hun hen hij hem haar wat welke welk wie wanneer waar waarom "
        "hoe wel ook nog al om te tot in op aan bij met van voor naar uit over door na nu toch "
        "even dus hallo hoi graag enig enige goedemorgen goedemiddag goedenavond allemaal "
        "iedereen"
    ),
    "de": _words(
        "der die das den dem des ein eine einen einem einer eines und oder aber wenn dann dass "
        "als wie was wer wo wann warum welche welcher welches ist sind war waren bin bist sein "
        "wird werden wurde habe hast hat haben hatte hatten kann kannst können muss müssen "
        "soll sollen will wollen möchte ich mich mir mein meine meinen meinem meiner du dich "
        "dir dein deine er ihn ihm sie ihr ihre ihren es wir uns unser unsere euch euer eure "
        "man auch noch schon nur so sehr zu im an am auf aus bei mit nach von vom vor für "
        "über um durch bis seit hallo bitte irgendein irgendeine etwas guten tag abend "
        "zusammen moin servus"
    ),
    "fr": _words(
        "le la les un une des du de et ou mais si que qu qui quoi quand où comment pourquoi "
        "quel quelle quels quelles est sont était être ai as avons avez ont avait je me moi "
        "mon ma mes tu te toi ton ta tes il elle on nous vous ils elles leur leurs son sa ses "
        "ce cet cette ces en dans sur sous avec pour par chez au aux ça cela très aussi bien "
        "bonjour quelque quelques bonsoir salut tout monde"
    ),
    "es": _words(
        "el la los las lo un una unos unas pero si que qué quien quién cuando cuándo donde "
        "dónde como cómo por porque para con de del al en es son era fue ser estar está están "
        "estoy he ha han hemos había yo me mi mis tú te tu tus él ella nos nuestro nuestra "
        "vosotros os vuestro vuestra ellos ellas le les su sus se este esta esto ese esa eso "
        "muy también ya hola algún alguna alguno algunos algunas buenos buenas días tardes "
        "noches todos"
    ),
    "it": _words(
        "il lo la gli le un uno una ed ma se che chi cosa quando dove come perché quale di "
        "del della dei delle da dal dalla in nel nella al alla con per su sul tra fra sono "
        "era ho hai ha abbiamo avete hanno io mi me mio mia miei tu ti tuo tua lui lei noi ci "
        "nostro vostro vi voi loro si suo sua questo questa quello quella molto anche già "
        "ciao qualche qualcosa buongiorno buonasera salve tutti"
    ),
    "pt": _words(
        "os as um uma uns umas ou mas se que quem quando onde como porque porquê por para com "
        "de do da dos das no na nos nas em ao é são era foi ser estar está estou tenho tem "
        "temos têm eu me mim meu minha meus minhas tu te teu tua você ele ela nós nosso nossa "
        "vocês vos vosso vossa eles elas lhe lhes seu sua isto isso este esta esse essa muito "
        "também já olá algum alguma alguns algumas bom boa dia tarde noite todos"
    ),
}


@dataclass(frozen=True, slots=True)
class ExampleMatch:
    """The intent a clause is most like, and how much (cosine, THRESHOLD..1)."""

    name: str
    similarity: float


def features(word: str) -> list[str]:
    """A (case-folded) word's features: the word itself and its character 3- to 5-grams
    with the word's boundaries marked."""
    padded = f"<{word}>"
    grams = [f"w:{word}"]
    for n in _NGRAMS:
        grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def content_words(text: str, stop_words: frozenset[str]) -> list[str]:
    """The words of (case-folded) `text` that are compared: no stop words, no one-letter
    words (the "l" of "l'écran", the "s" of "it's")."""
    return [
        w for w in _WORD.findall(text[:MAX_COMPARED_CHARS]) if len(w) > 1 and w not in stop_words
    ]


def stop_words_for(languages: Iterable[str]) -> frozenset[str]:
    """The stop words of these languages together (unknown codes add none)."""
    return frozenset().union(*(STOP_WORDS.get(code, frozenset()) for code in languages))


class ExampleMatcher:
    """One brand's examples for one message language, as one TF-IDF centroid per intent.

    `examples` are (intent name, case-folded text) pairs; intents keep the order in which
    they first appear. Pure once built: `best` only reads.
    """

    def __init__(
        self,
        examples: Iterable[tuple[str, str]],
        threshold: float = THRESHOLD,
        stop_words: frozenset[str] = frozenset(),
        statements: frozenset[str] = frozenset(),
    ) -> None:
        self.threshold = threshold
        self._stop_words = stop_words
        documents: list[Counter[str]] = []
        pairs = []
        for name, text in examples:
            document = Counter(f for w in _WORD.findall(text) for f in features(w))
            if document:
                documents.append(document)
                pairs.append((name, text))
        self.names: tuple[str, ...] = tuple(dict.fromkeys(name for name, _ in pairs))
        self._statements = np.array([name in statements for name in self.names], dtype=bool)
        self._any_statement = bool(self._statements.any())
        frequency: Counter[str] = Counter()
        for document in documents:
            frequency.update(document.keys())
        self._vocabulary = {feature: at for at, feature in enumerate(sorted(frequency))}
        total = len(documents)
        # Smoothed IDF (as scikit-learn's): a feature in every example still counts a little.
        idf = np.ones(len(self._vocabulary), dtype=np.float64)
        for feature, at in self._vocabulary.items():
            idf[at] = math.log((1 + total) / (1 + frequency[feature])) + 1
        self._idf = idf
        # A feature no example has weighs as much as the rarest one (it only adds to the
        # clause's length: an unforeseen clause is less like everything).
        self._unknown_idf = math.log(1 + total) + 1
        centroids = np.zeros((len(self._vocabulary), len(self.names)), dtype=np.float64)
        column = {name: at for at, name in enumerate(self.names)}
        for (name, _), document in zip(pairs, documents, strict=True):
            ids = np.fromiter((self._vocabulary[f] for f in document), dtype=np.intp)
            weights = np.fromiter(document.values(), dtype=np.float64) * idf[ids]
            centroids[ids, column[name]] += weights / np.linalg.norm(weights)
        lengths = np.linalg.norm(centroids, axis=0)
        lengths[lengths == 0] = 1.0
        self._centroids: npt.NDArray[np.float64] = centroids / lengths
        self._word = lru_cache(maxsize=_WORD_CACHE)(self._word_features)

    def __len__(self) -> int:
        return len(self.names)

    def best(self, folded: str, *, asking: bool = False) -> ExampleMatch | None:
        """The intent the (case-folded) clause is most like, if at least `threshold`; a
        clause that `asks` something is not compared with statements (a compliment is no
        question: "when will it be resolved?" is not "resolved in five minutes, thanks")."""
        scores = self.similarities(folded)
        if scores is None:
            return None
        if asking and self._any_statement:
            scores = np.where(self._statements, -1.0, scores)
        at = int(np.argmax(scores))
        similarity = float(scores[at])
        if similarity < self.threshold:
            return None
        return ExampleMatch(self.names[at], min(similarity, 1.0))

    def similarities(self, folded: str) -> npt.NDArray[np.float64] | None:
        """The clause's cosine with each intent's centroid (in `names` order); None when
        it has fewer than MIN_CONTENT_WORDS content words or there are no examples."""
        if not self.names:
            return None
        words = _WORD.findall(folded[:MAX_COMPARED_CHARS])
        stop_words = self._stop_words
        content = sum(1 for w in words if len(w) > 1 and w not in stop_words)
        if content < MIN_CONTENT_WORDS:
            return None
        known: list[int] = []
        unknown = 0
        for word in words:
            ids, missing = self._word(word)
            known.extend(ids)
            unknown += missing
        if not known:
            return np.zeros(len(self.names))
        # Term frequencies are plain counts: the dot product then adds up per occurrence
        # (no sort to merge repeats), and the clause's length sums the merged weights.
        occurrences = np.asarray(known, dtype=np.intp)
        weights = self._idf[occurrences]
        merged = np.bincount(occurrences, weights=weights)
        length = math.sqrt(float(merged @ merged) + unknown * self._unknown_idf**2)
        result: npt.NDArray[np.float64] = (weights @ self._centroids[occurrences]) / length
        return result

    def _word_features(self, word: str) -> tuple[tuple[int, ...], int]:
        """A word's features the examples have (their ids) and how many they do not."""
        ids = []
        missing = 0
        for feature in features(word):
            at = self._vocabulary.get(feature)
            if at is None:
                missing += 1
            else:
                ids.append(at)
        return tuple(ids), missing
