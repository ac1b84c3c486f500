"""Demo traffic for a running platform: customers writing in, agents answering.

`socialcare simulate` points this at the REST API of a running platform and plays the
situations of SCENARIOS.md as they would arrive from the channels: the freelancer's energy
bill with two questions (X, Dutch), the remodelled supermarket and the customer who writes
again because nothing was solved, the DVD player that stopped during a film (Facebook), a
birth told to the energy supplier on WhatsApp, a forum thread that turns into a complaint
spike about one topic, the influencer with 245,000 followers, the internet customer
ignored for days, a sales question about outlet offers, and complaints, questions and
thanks in German, French and Spanish.

Why it is built this way:

* It is a client, nothing more: it speaks the public HTTP API only (no imports from the
  services), so it exercises exactly what a channel connector or integrator would.
* Every round of traffic holds every storyline once, shuffled, so even a short run shows
  all languages and channels; the spike comes as a burst of forum posts by different
  authors in one thread, growing more negative, in the first round and every third one.
* Texts are templates with small variations and every message gets a fresh external id,
  so nothing collapses in de-duplication; now and then a message is re-delivered on
  purpose, like a channel retrying a webhook, and must come back as a duplicate.
* `seed` fixes the content; external ids always differ per run, so a second run with the
  same seed is new traffic, not a run of duplicates.
* Pacing follows an absolute schedule (message i at start + i/rate) so slow answers do not
  make the run drift; after a stall of more than a second it does not burst to catch up.
* With replies on, every few seconds it lists assigned cases and posts a personal reply
  to some of them, in the case's language, signed with the assigned agent's first name,
  with an Idempotency-Key so a retried request cannot reply twice. 404/409/503 on that
  path are expected on a busy platform (case moved on, resolved, backend restarting)
  and are counted, not fatal.
* Every `/v1` call carries a bearer credential (ADR 0007): a token (`--token` or
  SOCIALCARE_TOKEN: a bearer token or an API key) or a username and password
  (`--username/--password`, SOCIALCARE_USERNAME / SOCIALCARE_PASSWORD) exchanged at
  `POST /v1/auth/token` before the clock starts, and again when that token is about to
  expire or is refused as expired. The agents' replies need a token that may act for the
  assigned agent: an admin's may act for any. A 401 stops the run at once with what to do:
  nothing else would get through.
"""

from __future__ import annotations

import getpass
import heapq
import itertools
import os
import random
import re
import sys
import time
import unicodedata
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

__all__ = [
    "Credentials",
    "SignInError",
    "SimulatedMessage",
    "SimulationReport",
    "Traffic",
    "compose_reply",
    "main",
    "simulate",
]

LANGUAGES = ("nl", "en", "de", "fr", "es")
SPIKE_TOPIC = "voorschot"
"""The word every post of the complaint spike shares (Dutch: advance payment)."""

_PROGRESS_INTERVAL_S = 5.0
_REPLY_INTERVAL_S = 4.0
_REDELIVERY_RATIO = 0.04
_TOLERATED_REPLY_STATUSES = frozenset({404, 409, 503})
_USER_AGENT = "socialcare-simulator/1"
_TOKEN_MARGIN_S = 60.0
"""A token with less than this left is renewed (when there is a password to renew it)."""
SIGN_IN_HINT = (
    "sign in: pass --token or --username/--password (or set SOCIALCARE_TOKEN, or "
    "SOCIALCARE_USERNAME and SOCIALCARE_PASSWORD)"
)


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    handle: str
    name: str
    followers: int

    @property
    def first_name(self) -> str:
        return self.name.split()[0]

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "handle": self.handle,
            "name": self.name,
            "followers": self.followers,
        }


@dataclass(frozen=True, slots=True)
class SimulatedMessage:
    """One request body for `POST /v1/messages`, with what the generator meant by it."""

    payload: dict[str, Any]
    language: str
    storyline: str

    @property
    def external_id(self) -> str:
        return str(self.payload["external_id"])


@dataclass
class SimulationReport:
    """What a run did; `errors` counts failed message posts by HTTP status or `transport`."""

    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    replies: int = 0
    replies_skipped: int = 0
    reply_errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    interrupted: bool = False
    refused: str | None = None
    """Why the run stopped early because the platform refused the credential (a 401), or
    sign-in failed; None otherwise."""

    def line(self) -> str:
        rate = self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0
        errors = sum(self.errors.values())
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items()))
        return (
            f"{self.elapsed_s:5.0f}s  sent {self.sent}  accepted {self.accepted}  "
            f"duplicates {self.duplicates}  errors {errors}{f' ({detail})' if detail else ''}"
            f"  replies {self.replies}  ({rate:.1f} msg/s)"
        )


# -- the people and the words -----------------------------------------------------------

_FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "nl": (
        "Jeroen", "Sanne", "Mark", "Fatima", "Kees", "Anouk", "Bram", "Lotte", "Ahmed",
        "Ingrid", "Ruud", "Femke", "Daan", "Noor", "Wim", "Esther",
    ),
    "en": (
        "Emma", "Oliver", "Sophie", "James", "Amelia", "Harry", "Chloe", "Jack", "Priya",
        "Liam", "Grace", "Noah",
    ),
    "de": ("Lukas", "Anna", "Jonas", "Lea", "Felix", "Marie", "Tobias", "Sabine", "Jürgen"),
    "fr": ("Camille", "Louis", "Léa", "Hugo", "Chloé", "Julien", "Manon", "Nicolas", "Inès"),
    "es": ("Lucía", "Mateo", "Sofía", "Martina", "Pablo", "Valeria", "Javier", "Carmen"),
}  # fmt: skip
_LAST_NAMES: dict[str, tuple[str, ...]] = {
    "nl": (
        "de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder",
        "Bos", "Vos", "el Amrani", "Peters", "Hendriks", "van Dijk", "Kok", "Yilmaz",
    ),
    "en": (
        "Walsh", "Smith", "Taylor", "Brown", "O'Connor", "Patel", "Evans", "Murphy",
        "Clarke", "Hughes",
    ),
    "de": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Wagner", "Koch"),
    "fr": ("Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Lefèvre", "Girard", "Roux"),
    "es": ("García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz"),
}  # fmt: skip
_UTC_OFFSET_HOURS = {"nl": 1, "de": 1, "fr": 1, "es": 1, "en": 0}

_FILMS = ("Notting Hill", "The Lion King", "Mamma Mia", "Jurassic Park", "Love Actually")
_GROCERIES = (
    "de pindakaas",
    "het glutenvrije brood",
    "de koffiebonen",
    "de hagelslag",
    "de luiers",
    "de verse kruiden",
)
_TOWNS_NL = ("Utrecht", "Zwolle", "Haarlem", "Tilburg", "Leeuwarden", "Almere", "Delft")
_BABY_NAMES = ("Sara", "Finn", "Julia", "Mees", "Yara", "Luuk")
_LAPTOPS = ("Aero 14", "Aero 16", "Nimbus X2", "Vector 15")

# "[a|b|c]" picks one alternative; "{slot}" is filled per message.
_ENERGY_QUESTION = (
    "@Energieloket Mijn energierekening is [veel hoger dan verwacht|bijna verdubbeld|ruim "
    "€{amount} hoger dan vorig jaar] sinds ik als zzp'er thuis werk. Twee vragen: wat is het "
    "energielabel van mijn woning en hoe vraag ik subsidie voor isolatie aan?",
    "Hoi @Energieloket, ik werk sinds [maart|de zomer|januari] vanuit huis en mijn "
    "jaarafrekening is [schrikbarend hoog|€{amount} hoger]. Hoe kom ik achter mijn "
    "energielabel? En kan ik als zzp'er subsidie krijgen voor een warmtepomp?",
    "@Energieloket vraagje: waar zie ik welk energielabel mijn huis heeft? En waar vraag ik "
    "de isolatiesubsidie aan? Mijn rekening is [flink|enorm] gestegen nu ik thuis werk.",
)
_ENERGY_LISTENING = (
    "Als zelfstandige werk ik vijf dagen per week thuis en dat zie je terug in de "
    "energierekening. Hoe pakken andere zzp'ers dit aan: isoleren, een slimme thermostaat, "
    "of toch een flexplek?",
    "Deze winter heb ik mijn energieverbruik bijgehouden. Vooral de elektrische kachel in "
    "mijn werkkamer bleek een grootverbruiker. Volgende stap: uitzoeken welke subsidie er "
    "is voor isolatie van mijn woning.",
)
_SUPERMARKET = (
    "@BuurtMarkt sinds de verbouwing van jullie winkel in {town} kan ik echt niks meer "
    "vinden. [Twintig minuten|Een halfuur] gezocht naar {grocery}. Waarom is alles omgegooid?",
    "De nieuwe indeling bij @BuurtMarkt in {town} is een doolhof. {Grocery} staat nu ergens "
    "achterin en niemand van het personeel weet waar. Zo jammer.",
    "Wat een ramp, die verbouwing bij @BuurtMarkt in {town}. Ik loop [drie|vier] keer rond "
    "voor mijn boodschappen. Kan het niet gewoon terug zoals het was?",
)
_SUPERMARKET_AGAIN = (
    "@BuurtMarkt jullie verwijzen me naar de filiaalmanager, maar daar heb ik niks aan. Ik "
    "wil gewoon weten waar {grocery} staat en waarom de looproutes zo onlogisch zijn.",
    "@BuurtMarkt nu krijg ik een enquête of ik tevreden ben, terwijl er niks is opgelost. "
    "Ik sta nog steeds elke week {grocery} te zoeken.",
)
_DVD = (
    "Hi Lumora, my DVD player (DV-{model}) just stopped working halfway through {film}. The "
    "disc spins but the screen stays black. Any idea what I can do?",
    "My Lumora DVD player died tonight, right in the middle of {film}! It says NO DISC with "
    "every disc I try. Is this something you can fix?",
    "Really disappointed: my Lumora DVD player is barely [two|three] years old and it won't "
    "read discs anymore. We were watching {film} with the kids...",
)
_DVD_THANKS = (
    "That worked, thank you so much! Cleaning the lens did the trick and we finished {film}. "
    "Still the best ending ever.",
    "Thanks for the quick help! The reset fixed it and we could watch the rest of {film}. "
    "You made our evening.",
)
_WHATSAPP_NL = (
    "Hallo Stroomwijs! Goed nieuws hier: onze [dochter|zoon] {baby} is [vorige week|"
    "afgelopen zaterdag] geboren. We zijn nu met z'n vieren, moet ik mijn termijnbedrag "
    "aanpassen?",
    "Hoi, ik wil mijn meterstanden doorgeven maar de app blijft hangen bij het inloggen. "
    "Kunnen jullie me helpen? Mijn klantnummer is {number}.",
    "Goedemorgen, klopt het dat mijn maandbedrag per [januari|februari|maart] omhoog gaat "
    "naar €{amount}? Ik heb niks aangepast en we gebruiken juist minder stroom.",
)
_WHATSAPP_EN = (
    "Hi there! Quick question: my nephew is flying in from Australia next month and dreams "
    "of seeing a football match in Amsterdam. Is the customer raffle for tickets still on?",
    "Hello, I just moved into a flat in {town} and need to set up electricity and gas. I "
    "only speak a little Dutch, can we do this in English?",
    "Hi, our baby girl arrived last week! We're home a lot more now, so should I raise my "
    "monthly payment to avoid a big bill at the end of the year?",
)
_FORUM_SPIKE_START = (
    "Sinds de update van de app staat mijn maandelijkse voorschot opeens op €{amount} in "
    "plaats van €{old_amount}. Heeft iemand anders dit ook?",
)
_FORUM_SPIKE_REPLIES = (
    "Hier precies hetzelfde. Mijn voorschot is bijna verdubbeld en ik heb niks aangepast. "
    "De klantenservice is onbereikbaar.",
    "Belachelijk dit. Ook bij mij is het voorschot zonder overleg verhoogd. Ik overweeg "
    "echt om over te stappen.",
    "Ik ben er klaar mee. Drie keer gebeld over mijn verhoogde voorschot, drie keer een "
    "ander verhaal. Dit is echt slechte service.",
    "Zelfde probleem, voorschot van €{old_amount} naar €{amount}. Waarom krijgen we hier "
    "geen bericht over? Schandalig.",
    "Heeft nog iemand een reactie gekregen over het verhoogde voorschot? Ik wacht al een "
    "week en word er echt boos om.",
    "Walgelijk hoe hier met klanten wordt omgegaan. Mijn voorschot is verhoogd, niemand "
    "legt het uit en ik zit met de kosten.",
)
_FORUM_SPIKE_EN = (
    "Same here, my advance payment (voorschot) doubled after the app update and nobody "
    "answers. Really frustrating and unacceptable.",
)
_FORUM_CALM = (
    "Weet iemand hoe je bij Stroomwijs de terugleverkosten van zonnepanelen kunt inzien? "
    "Ik kan het niet vinden in de app.",
    "Tip voor wie gaat verhuizen: geef je meterstanden op de dag van de sleuteloverdracht "
    "door, dat scheelt gedoe met de eindafrekening.",
)
_INFLUENCER = (
    "Honestly shocked by @lumora customer service. My [brand new|new] noise-cancelling "
    "headphones broke after two weeks and I've been on hold for an hour. Not recommending "
    "this to anyone.",
    "Three emails, zero answers. @lumora, is anyone actually reading these? A lot of people "
    "are about to hear how you treat customers.",
)
_VALUED_CUSTOMER = (
    "We have been a Lumora business customer for twelve years, with over {devices} devices "
    "in our offices. This is the third time this quarter a replacement order arrives "
    "incomplete. I expect a call from our account manager this week.",
)
_ISP_IGNORED = (
    "@Glasnet dag {days} zonder internet. Gebeld, klachtenformulier ingevuld, hier "
    "getweet. Niemand reageert. Wat moet ik nog doen?",
    "@Glasnet al {days} dagen geen verbinding en nog steeds geen reactie op mijn klacht. Ik "
    "werk thuis, dit kost me gewoon geld.",
)
_ISP_AGAIN = (
    "@Glasnet en nu krijg ik een standaardmail dat mijn klacht is afgehandeld. Zonder "
    "excuses, zonder oplossing. Mijn internet doet het nog steeds niet.",
)
_OUTLET = (
    "@CorvexOutlet is the outlet deal on the {laptop} laptop still on? Does it come with "
    "16GB of RAM, and can you deliver to Belgium?",
    "Saw the refurbished Corvex {laptop} in your outlet post. Does it come with the full "
    "warranty? Thinking of ordering [five|six] for our team.",
    "@CorvexOutlet any chance the outlet offer on the {laptop} comes back? I missed it last "
    "week and would love to order one.",
)
_LONG_TAIL = (
    "Can I return a gift card that was bought in another country? My aunt sent me one "
    "from Canada and I would rather exchange it for store credit.",
    "Do your laptop chargers work with 110 volts? I am moving to the United States for a "
    "year and would like to bring my own.",
)
_GERMAN: dict[str, tuple[str, ...]] = {
    "complaint": (
        "Seit {days} Tagen warte ich auf meine [Lieferung|Bestellung] von Lumora. Die "
        "Sendungsverfolgung zeigt nichts an und beim Kundendienst erreicht man niemanden. "
        "[Sehr enttäuschend.|Echt ärgerlich.]",
        "Mein neuer Lumora [Fernseher|Monitor] hat nach [drei|vier] Wochen schon einen "
        "Pixelfehler. Ich möchte ihn umtauschen, aber niemand meldet sich zurück.",
    ),
    "question": (
        "Hallo, gilt die Garantie auch, wenn ich das Gerät im Ausland gekauft habe? Ich "
        "wohne in [Köln|Hamburg|Leipzig] und habe es in den Niederlanden bestellt.",
        "Kann ich meinen Zählerstand auch per WhatsApp durchgeben? Die App funktioniert bei "
        "mir leider nicht.",
    ),
    "thanks": (
        "Vielen Dank an das Team vom Kundenservice! Innerhalb [einer Stunde|von zwanzig "
        "Minuten] war mein Problem gelöst. So muss das sein.",
        "Ich wollte mich nur kurz bedanken: der Ersatz für meinen defekten Lautsprecher ist "
        "heute angekommen. Super Service!",
    ),
}
_FRENCH: dict[str, tuple[str, ...]] = {
    "complaint": (
        "Ça fait {days} jours que j'attends le remboursement de ma commande annulée. "
        "Personne ne répond à mes [messages|mails]. C'est [inadmissible|scandaleux].",
        "Mon casque Lumora ne se charge plus après seulement [un mois|six semaines]. Le "
        "service client me renvoie d'un service à l'autre, je suis vraiment déçue.",
    ),
    "question": (
        "Bonjour, est-ce que la garantie couvre aussi la batterie de l'ordinateur portable ? "
        "Je l'ai acheté il y a dix-huit mois.",
        "Bonjour, est-il possible de changer l'adresse de livraison de ma commande ? Je "
        "déménage la semaine prochaine.",
    ),
    "thanks": (
        "Un grand merci à votre équipe pour son aide [rapide et très gentille|si rapide]. "
        "Mon problème est réglé en [dix|quinze] minutes !",
        "Merci beaucoup pour le remplacement de mon enceinte, reçue ce matin. Service "
        "impeccable, je suis ravie.",
    ),
}
_SPANISH: dict[str, tuple[str, ...]] = {
    "complaint": (
        "Llevo {days} días sin internet y nadie me da una solución. He llamado [cinco|seis] veces. "
        "¿De verdad este es el servicio que pagamos?",
        "Mi pedido llegó con la pantalla rota y todavía no me han dicho nada sobre la "
        "devolución. [Muy decepcionado.|Qué vergüenza.]",
    ),
    "question": (
        "Hola, ¿la oferta del portátil {laptop} en el outlet sigue disponible? ¿Hacen envíos "
        "a [Canarias|Baleares]?",
        "Buenas tardes, ¿cómo puedo cambiar la fecha de entrega de mi pedido? No estaré en "
        "casa el jueves.",
    ),
    "thanks": (
        "¡Muchas gracias al equipo por resolver mi problema tan rápido! [Da gusto un "
        "servicio así.|Así da gusto.]",
        "Quería dar las gracias por la ayuda con la factura de ayer. Todo aclarado y muy amables.",
    ),
}

_KINDS = ("complaint", "question", "thanks")
_ALTERNATIVES = re.compile(r"\[([^\[\]]+)\]")

Factory = Callable[[], SimulatedMessage]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


class Traffic:
    """An endless, seeded stream of realistic inbound messages (see the module docstring).

    Messages are built when taken, so `created_at` is the moment of sending. Follow-ups
    (the customer writing again, a thank-you) are scheduled a few messages later in the
    same thread, with `in_reply_to` pointing at the message they continue.
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        run_id: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._rng = random.Random(seed)
        self._run = run_id or uuid.uuid4().hex[:8]
        self._run_number = int(self._run, 16) % 10**9 if _is_hex(self._run) else 0
        self._now = now
        self._ids = itertools.count(1)
        self._taken = 0
        self._round = 0
        self._queue: deque[Factory] = deque()
        self._later: list[tuple[int, int, Factory]] = []
        self._tiebreak = itertools.count()
        self._influencer = Person(
            id="17893344", handle="@milabrooks", name="Mila Brooks", followers=245_000
        )

    def __iter__(self) -> Iterator[SimulatedMessage]:
        return self

    def __next__(self) -> SimulatedMessage:
        if self._later and self._later[0][0] <= self._taken:
            factory = heapq.heappop(self._later)[2]
        else:
            if not self._queue:
                self._queue.extend(self._next_round())
            factory = self._queue.popleft()
        self._taken += 1
        return factory()

    # -- building blocks ------------------------------------------------------------------
    def _text(self, templates: tuple[str, ...], **slots: object) -> str:
        template = self._rng.choice(templates)
        varied = _ALTERNATIVES.sub(lambda m: self._rng.choice(m.group(1).split("|")), template)
        return varied.format(**slots)

    def _external_id(self, channel: str) -> str:
        n = next(self._ids)
        if channel == "x":
            return f"18{self._run_number:09d}{n:08d}"
        if channel == "facebook":
            return f"104823{self._run_number:09d}_{n}"
        if channel == "whatsapp":
            return f"wamid.{self._run.upper()}{n:08d}"
        return f"{channel}-{self._run}-{n}"

    def _person(self, language: str, channel: str, *, followers: tuple[int, int]) -> Person:
        first = self._rng.choice(_FIRST_NAMES[language])
        last = self._rng.choice(_LAST_NAMES[language])
        n = next(self._ids)
        slug = _ascii(first).lower() + _ascii(last).replace(" ", "").replace("'", "")[:6].lower()
        if channel == "whatsapp":
            prefix = {"nl": "316", "en": "447"}.get(language, "349")
            author_id = f"{prefix}{self._run_number % 10**4:04d}{n:04d}"
            handle = ""
        elif channel in ("forum", "blog", "review", "email", "generic"):
            author_id = f"{channel}-user-{self._run}-{n}"
            handle = f"{slug}{self._rng.randint(1, 99)}"
        else:
            author_id = f"{self._run_number}{n:05d}"
            handle = f"@{slug}{self._rng.randint(1, 99)}"
        return Person(author_id, handle, f"{first} {last}", self._rng.randint(*followers))

    def _created_at(self, language: str) -> str:
        offset = timezone(timedelta(hours=_UTC_OFFSET_HOURS[language]))
        moment = self._now() - timedelta(seconds=self._rng.uniform(0.5, 20.0))
        return moment.astimezone(offset).isoformat(timespec="seconds")

    def _message(
        self,
        storyline: str,
        language: str,
        channel: str,
        author: Person,
        text: str,
        *,
        brand: str,
        external_id: str | None = None,
        thread_id: str | None = None,
        in_reply_to: str | None = None,
        then: tuple[int, Factory] | None = None,
    ) -> Factory:
        """A message built when taken; `then` = (after how many messages, follow-up)."""
        external = external_id or self._external_id(channel)

        def build() -> SimulatedMessage:
            if then is not None:
                after, follow_up = then
                heapq.heappush(self._later, (self._taken + after, next(self._tiebreak), follow_up))
            payload: dict[str, Any] = {
                "channel": channel,
                "external_id": external,
                "author": author.json(),
                "text": text,
                "created_at": self._created_at(language),
                "brand": brand,
            }
            if thread_id:
                payload["thread_id"] = thread_id
            if in_reply_to:
                payload["in_reply_to"] = in_reply_to
            return SimulatedMessage(payload, language, storyline)

        return build

    # -- storylines -------------------------------------------------------------------------
    def _next_round(self) -> list[Factory]:
        rng = self._rng
        singles: list[list[Factory]] = [
            [self._energy_question()],
            [self._energy_listening()],
            [self._supermarket()],
            [self._dvd_player()],
            [self._whatsapp("nl")],
            [self._whatsapp("en")],
            [self._influencer_post()],
            [self._valued_customer()],
            [self._internet_ignored()],
            [self._outlet_question()],
            [self._long_tail()],
            *([self._foreign(lang, kind)] for lang in ("de", "fr", "es") for kind in _KINDS),
        ]
        spike_round = self._round % 3 == 0
        if not spike_round:
            singles.append([self._forum_calm()])
        rng.shuffle(singles)
        if spike_round:
            singles.insert(rng.randint(len(singles) // 3, 2 * len(singles) // 3), self._spike())
        self._round += 1
        return [factory for group in singles for factory in group]

    def _energy_question(self) -> Factory:
        author = self._person("nl", "x", followers=(80, 2500))
        text = self._text(_ENERGY_QUESTION, amount=self._rng.randrange(300, 1400, 10))
        external = self._external_id("x")
        return self._message(
            "energy-bill",
            "nl",
            "x",
            author,
            text,
            brand="energieloket",
            external_id=external,
            thread_id=external,
        )

    def _energy_listening(self) -> Factory:
        channel = self._rng.choice(("linkedin", "blog"))
        author = self._person("nl", channel, followers=(150, 4000))
        text = self._text(_ENERGY_LISTENING)
        return self._message("energy-listening", "nl", channel, author, text, brand="energieloket")

    def _supermarket(self) -> Factory:
        author = self._person("nl", "x", followers=(20, 900))
        grocery = self._rng.choice(_GROCERIES)
        slots = {"town": self._rng.choice(_TOWNS_NL), "grocery": grocery}
        slots["Grocery"] = grocery[0].upper() + grocery[1:]
        first_id = self._external_id("x")
        text = self._text(_SUPERMARKET, **slots)
        again = self._message(
            "supermarket-again",
            "nl",
            "x",
            author,
            self._text(_SUPERMARKET_AGAIN, **slots),
            brand="buurtmarkt",
            thread_id=first_id,
            in_reply_to=first_id,
        )
        return self._message(
            "supermarket",
            "nl",
            "x",
            author,
            text,
            brand="buurtmarkt",
            external_id=first_id,
            thread_id=first_id,
            then=(self._rng.randint(6, 14), again),
        )

    def _dvd_player(self) -> Factory:
        author = self._person("en", "facebook", followers=(50, 700))
        film = self._rng.choice(_FILMS)
        post_id = self._external_id("facebook")
        text = self._text(_DVD, film=film, model=self._rng.randint(200, 480))
        thanks = self._message(
            "dvd-thanks",
            "en",
            "facebook",
            author,
            self._text(_DVD_THANKS, film=film),
            brand="lumora",
            thread_id=post_id,
            in_reply_to=post_id,
        )
        return self._message(
            "dvd-player",
            "en",
            "facebook",
            author,
            text,
            brand="lumora",
            external_id=post_id,
            thread_id=post_id,
            then=(self._rng.randint(8, 16), thanks) if self._rng.random() < 0.5 else None,
        )

    def _whatsapp(self, language: str) -> Factory:
        author = self._person(language, "whatsapp", followers=(0, 0))
        templates = _WHATSAPP_NL if language == "nl" else _WHATSAPP_EN
        text = self._text(
            templates,
            baby=self._rng.choice(_BABY_NAMES),
            number=self._rng.randint(10_000_000, 99_999_999),
            amount=self._rng.randrange(90, 260, 5),
            town=self._rng.choice(_TOWNS_NL),
        )
        return self._message(
            "energy-supplier",
            language,
            "whatsapp",
            author,
            text,
            brand="stroomwijs",
            thread_id=author.id,
        )

    def _spike(self) -> list[Factory]:
        old = self._rng.randrange(80, 150, 5)
        slots = {"old_amount": old, "amount": old * 2 - self._rng.randrange(0, 30, 5)}
        starter = self._person("nl", "forum", followers=(0, 60))
        topic_id = self._external_id("forum")
        posts = [
            self._message(
                "complaint-spike", "nl", "forum", starter,
                self._text(_FORUM_SPIKE_START, **slots), brand="stroomwijs",
                external_id=topic_id, thread_id=topic_id,
            )
        ]  # fmt: skip
        replies = list(_FORUM_SPIKE_REPLIES)
        self._rng.shuffle(replies)
        for template in replies[: self._rng.randint(4, 5)]:
            author = self._person("nl", "forum", followers=(0, 60))
            text = self._text((template,), **slots)
            posts.append(
                self._message(
                    "complaint-spike",
                    "nl",
                    "forum",
                    author,
                    text,
                    brand="stroomwijs",
                    thread_id=topic_id,
                    in_reply_to=topic_id,
                )
            )
        expat = self._person("en", "forum", followers=(0, 60))
        posts.append(
            self._message(
                "complaint-spike",
                "en",
                "forum",
                expat,
                self._text(_FORUM_SPIKE_EN),
                brand="stroomwijs",
                thread_id=topic_id,
                in_reply_to=topic_id,
            )
        )
        return posts

    def _forum_calm(self) -> Factory:
        author = self._person("nl", "forum", followers=(0, 60))
        return self._message(
            "forum", "nl", "forum", author, self._text(_FORUM_CALM), brand="stroomwijs"
        )

    def _influencer_post(self) -> Factory:
        text = self._text(_INFLUENCER)
        return self._message(
            "influencer", "en", "instagram", self._influencer, text, brand="lumora"
        )

    def _valued_customer(self) -> Factory:
        author = self._person("en", "email", followers=(0, 0))
        text = self._text(_VALUED_CUSTOMER, devices=self._rng.randrange(250, 600, 10))
        return self._message("valued-customer", "en", "email", author, text, brand="lumora")

    def _internet_ignored(self) -> Factory:
        author = self._person("nl", "x", followers=(30, 1500))
        days = self._rng.randint(5, 9)
        first_id = self._external_id("x")
        again = self._message(
            "internet-ignored-again",
            "nl",
            "x",
            author,
            self._text(_ISP_AGAIN),
            brand="glasnet",
            thread_id=first_id,
            in_reply_to=first_id,
        )
        return self._message(
            "internet-ignored",
            "nl",
            "x",
            author,
            self._text(_ISP_IGNORED, days=days),
            brand="glasnet",
            external_id=first_id,
            thread_id=first_id,
            then=(self._rng.randint(10, 20), again),
        )

    def _outlet_question(self) -> Factory:
        author = self._person("en", "x", followers=(40, 3000))
        text = self._text(_OUTLET, laptop=self._rng.choice(_LAPTOPS))
        return self._message("outlet-sales", "en", "x", author, text, brand="corvex")

    def _long_tail(self) -> Factory:
        author = self._person("en", "generic", followers=(0, 0))
        return self._message("long-tail", "en", "generic", author, self._text(_LONG_TAIL),
                             brand="lumora")  # fmt: skip

    def _foreign(self, language: str, kind: str) -> Factory:
        corpus = {"de": _GERMAN, "fr": _FRENCH, "es": _SPANISH}[language]
        channel = self._rng.choice(("x", "facebook", "instagram", "review", "email"))
        author = self._person(language, channel, followers=(10, 5000))
        text = self._text(
            corpus[kind], days=self._rng.randint(3, 12), laptop=self._rng.choice(_LAPTOPS)
        )
        brand = "conectia" if "internet" in text else "lumora"
        return self._message(f"{kind}-{language}", language, channel, author, text, brand=brand)


def _is_hex(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]+", text))


# -- signing in ---------------------------------------------------------------------------


class SignInError(Exception):
    """The platform refused the credential, or refused to give a token for it."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the simulator signs in with: a bearer `token` (a token from `POST
    /v1/auth/token` or an API key), or a `username` and `password` to exchange for one.
    Empty: none (only a platform without access control would take the traffic)."""

    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def resolve(
        cls,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        environ: Mapping[str, str] | None = None,
        ask_password: Callable[[str], str] | None = None,
    ) -> Credentials:
        """From the command line, else the environment (SOCIALCARE_TOKEN, else
        SOCIALCARE_USERNAME and SOCIALCARE_PASSWORD). A username without a password takes
        SOCIALCARE_PASSWORD, else asks `ask_password` (a prompt), else raises ValueError."""
        env = os.environ if environ is None else environ
        if token:
            return cls(token=token)
        if not username and not password and env.get("SOCIALCARE_TOKEN"):
            return cls(token=env["SOCIALCARE_TOKEN"])
        username = username or env.get("SOCIALCARE_USERNAME") or None
        if not username:
            if password:
                raise ValueError("--password needs --username (or SOCIALCARE_USERNAME)")
            return cls()
        password = password or env.get("SOCIALCARE_PASSWORD") or None
        if password is None and ask_password is not None:
            password = ask_password(f"password for {username}: ") or None
        if password is None:
            raise ValueError(f"--username {username} needs --password (or SOCIALCARE_PASSWORD)")
        return cls(username=username, password=password)

    def describe(self) -> str:
        if self.token:
            return "with a token"
        if self.username:
            return f"as {self.username}"
        return "without a credential"


def sign_in(base_url: str, username: str, password: str) -> tuple[str, float]:
    """A bearer token for `username` from the platform at `base_url` (`POST /v1/auth/token`,
    the OAuth2 password form) and how many seconds it lives; SignInError when refused."""
    try:
        response = httpx.post(
            f"{base_url.rstrip('/')}/v1/auth/token",
            data={"username": username, "password": password},
            headers={"User-Agent": _USER_AGENT},
            timeout=httpx.Timeout(30.0, connect=3.0),
        )
    except httpx.HTTPError as exc:
        raise SignInError(
            f"cannot sign in at {base_url} ({type(exc).__name__}); is the platform running?"
        ) from exc
    if response.status_code != 200:
        retry = response.headers.get("retry-after")
        later = f"; retry in {retry} s" if retry else ""
        raise SignInError(f"sign-in as {username} refused ({_problem(response)}{later})")
    body = _json(response)
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise SignInError(f"sign-in as {username}: no access_token in the answer")
    expires_in = body.get("expires_in")
    return token, float(expires_in) if isinstance(expires_in, int | float) else 3600.0


class _Bearer(httpx.Auth):
    """Sends the credential with every request; with a password, renews the token before
    it expires, and once more when the platform answers 401 `token_expired`."""

    requires_response_body = True

    def __init__(self, base_url: str, credentials: Credentials) -> None:
        self._base_url = base_url
        self._credentials = credentials
        self._token = credentials.token
        self._renew_at = float("inf")
        if credentials.username and credentials.password:
            self._sign_in()

    def _sign_in(self) -> None:
        assert self._credentials.username and self._credentials.password
        token, lifetime = sign_in(
            self._base_url, self._credentials.username, self._credentials.password
        )
        self._token = token
        self._renew_at = time.monotonic() + max(lifetime - _TOKEN_MARGIN_S, lifetime / 2)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        renewable = bool(self._credentials.username and self._credentials.password)
        if renewable and time.monotonic() >= self._renew_at:
            self._sign_in()
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if renewable and response.status_code == 401 and _code(response) == "token_expired":
            self._sign_in()
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request


def _refused(response: httpx.Response, credentials: Credentials) -> str:
    """What a 401 means for this run, and what to do."""
    problem = _problem(response)
    if credentials.token:
        return f"the platform refused the token ({problem}): {SIGN_IN_HINT}"
    if credentials.username:
        return f"the platform refused {credentials.username}'s token ({problem})"
    return f"the platform wants a credential ({problem}): {SIGN_IN_HINT}"


def _code(response: httpx.Response) -> str:
    error = _json(response).get("error")
    return str(error.get("code") or "") if isinstance(error, dict) else ""


def _problem(response: httpx.Response) -> str:
    """`401 invalid_credentials: wrong username or password` from the error body."""
    error = _json(response).get("error")
    if not isinstance(error, dict):
        return str(response.status_code)
    code, message = error.get("code"), error.get("message")
    return f"{response.status_code} {code}" + (f": {message}" if message else "")


# -- agents answering ---------------------------------------------------------------------

_GREETINGS = {
    "nl": ("Hoi {name}", "Hallo {name}"),
    "en": ("Hi {name}", "Hello {name}"),
    "de": ("Hallo {name}", "Hi {name}"),
    "fr": ("Bonjour {name}", "Bonjour {name}"),
    "es": ("Hola {name}", "Buenas, {name}"),
}
_REPLY_BODIES = {
    "nl": (
        "wat vervelend om te lezen! Ik zoek het nu voor je uit en laat je vandaag nog weten "
        "hoe het zit.",
        "dank je voor je bericht. Ik pak dit persoonlijk op; stuur je me je klantnummer in een DM?",
    ),
    "en": (
        "thanks for reaching out, and sorry for the trouble. I'm looking into this for you "
        "right now and will get back to you today.",
        "so sorry to hear that! I'll take care of this personally. Could you DM me your "
        "order number?",
    ),
    "de": (
        "danke für deine Nachricht und entschuldige den Ärger. Ich kümmere mich persönlich "
        "darum und melde mich heute noch.",
        "das tut mir leid! Schick mir bitte deine Bestellnummer per DM, dann schaue ich "
        "sofort nach.",
    ),
    "fr": (
        "merci pour votre message et désolée pour ce désagrément. Je m'en occupe "
        "personnellement et je reviens vers vous aujourd'hui.",
        "je suis navrée de lire cela. Pouvez-vous m'envoyer votre numéro de commande en "
        "message privé ?",
    ),
    "es": (
        "gracias por escribirnos y perdona las molestias. Me encargo personalmente y te "
        "respondo hoy mismo.",
        "¡qué rabia, lo siento! Envíame tu número de pedido por mensaje privado y lo reviso ahora.",
    ),
}


def compose_reply(case: dict[str, Any], rng: random.Random | None = None) -> str:
    """A short, personal reply in the case's language (English when it has none we
    write), addressing the customer by first name. The platform signs it with the agent's
    name (the brand's signature, `^Name` by default), so it leaves room for that: always
    within X's 280 characters with a signature of up to 30."""
    rng = rng or random.Random()
    language = str(case.get("language") or "en")
    if language not in _REPLY_BODIES:
        language = "en"
    customer = case.get("customer") or {}
    name = str(customer.get("name") or "").split(" ")[0] or str(customer.get("handle") or "")
    greeting = rng.choice(_GREETINGS[language]).format(name=name).rstrip(", ")
    body = rng.choice(_REPLY_BODIES[language])
    return f"{greeting}, {body}"


class _Replier:
    """Plays the agents: lists assigned cases and answers some of them."""

    def __init__(
        self,
        client: httpx.Client,
        rng: random.Random,
        report: SimulationReport,
        credentials: Credentials,
    ) -> None:
        self._client = client
        self._rng = rng
        self._report = report
        self._credentials = credentials
        self._answered: set[tuple[str, int]] = set()

    def round(self) -> None:
        cases = self._assigned_cases()
        if cases is None:
            return
        answered_now = 0
        for case in cases:
            if self._report.refused is not None:
                return
            case_id = str(case.get("id") or "")
            assignee = case.get("assignee")
            mark = (case_id, int(case.get("message_count") or 0))
            if not case_id or not assignee or mark in self._answered:
                continue
            if answered_now >= 5 or self._rng.random() > 0.7:
                continue
            answered_now += 1
            self._answered.add(mark)
            self._reply(case, str(assignee), mark)

    def _assigned_cases(self) -> list[dict[str, Any]] | None:
        response = self._request("GET", "/v1/cases", params={"status": "assigned", "limit": 50})
        if response is None:
            return None
        body = _json(response)
        cases = body.get("cases", body.get("items", []))
        return [c for c in cases if isinstance(c, dict)] if isinstance(cases, list) else []

    def _reply(self, case: dict[str, Any], assignee: str, mark: tuple[str, int]) -> None:
        text = compose_reply(case, self._rng)
        response = self._request(
            "POST",
            f"/v1/cases/{mark[0]}/replies",
            json={"agent": assignee, "text": text},
            headers={"Idempotency-Key": f"simulate-{mark[0]}-{mark[1]}"},
        )
        if response is not None:
            self._report.replies += 1

    def _request(self, method: str, path: str, **options: Any) -> httpx.Response | None:
        """The response when 2xx; None (counted) when tolerated or failed."""
        try:
            response = self._client.request(method, path, **options)
        except httpx.HTTPError as exc:
            key = f"transport ({type(exc).__name__})"
            self._report.reply_errors[key] = self._report.reply_errors.get(key, 0) + 1
            return None
        if response.is_success:
            return response
        if response.status_code == 401:
            self._report.refused = _refused(response, self._credentials)
        elif response.status_code in _TOLERATED_REPLY_STATUSES:
            self._report.replies_skipped += 1
        else:
            key = str(response.status_code)
            self._report.reply_errors[key] = self._report.reply_errors.get(key, 0) + 1
        return None


# -- the run ------------------------------------------------------------------------------


def simulate(
    base_url: str,
    *,
    rate: float,
    duration_s: float | None,
    count: int | None,
    seed: int | None,
    reply: bool,
    progress_interval_s: float = _PROGRESS_INTERVAL_S,
    reply_interval_s: float = _REPLY_INTERVAL_S,
    echo: Callable[[str], None] | None = None,
    credentials: Credentials | None = None,
) -> SimulationReport:
    """Send traffic to `base_url` at `rate` messages/s until `duration_s` passed or `count`
    messages were sent (whichever first; neither: until Ctrl-C), and return the counts.

    Blocks for the whole run. Failed requests are counted, never raised; Ctrl-C ends the
    run early with `interrupted=True`. `echo` receives a progress line about every
    `progress_interval_s` (default: printed to stdout). Every request carries
    `credentials` (a username and password are exchanged for a token first); a failed
    sign-in or a 401 ends the run at once with `refused` saying why.
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive messages per second, not {rate}")
    if count is not None and count < 0:
        raise ValueError(f"count must be zero or more, not {count}")
    say = echo or _print
    traffic = Traffic(seed)
    # Separate streams, so how many reply rounds fit in the run (timing) cannot change
    # which messages are re-delivered.
    rng = random.Random(None if seed is None else seed + 1)
    reply_rng = random.Random(None if seed is None else seed + 2)
    report = SimulationReport()
    credentials = credentials or Credentials()
    try:
        auth = _Bearer(base_url, credentials)  # signs in: before the clock starts
    except SignInError as exc:
        report.refused = str(exc)
        return report
    recent: deque[dict[str, Any]] = deque(maxlen=50)
    interval = 1.0 / rate
    started = time.monotonic()
    deadline = started + duration_s if duration_s is not None else None
    next_send = started
    next_progress = started + progress_interval_s
    next_reply = started + reply_interval_s / 2

    with httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=httpx.Timeout(10.0, connect=3.0),
        headers={"User-Agent": _USER_AGENT},
        auth=auth,
    ) as client:
        replier = _Replier(client, reply_rng, report, credentials) if reply else None
        try:
            while report.refused is None and (count is None or report.sent < count):
                now = time.monotonic()
                if deadline is not None and max(now, next_send) >= deadline:
                    break
                if next_send > now:
                    time.sleep(next_send - now)
                elif now - next_send > 1.0:
                    next_send = now  # stalled: carry on at the rate, do not burst
                if recent and rng.random() < _REDELIVERY_RATIO:
                    payload = rng.choice(recent)  # a channel re-delivering a webhook
                else:
                    payload = next(traffic).payload
                    recent.append(payload)
                _send(client, payload, report, credentials)
                next_send += interval
                now = time.monotonic()
                if replier is not None and now >= next_reply:
                    replier.round()
                    next_reply = time.monotonic() + reply_interval_s
                if now >= next_progress:
                    report.elapsed_s = now - started
                    say(f"simulate: {report.line()}")
                    next_progress = now + progress_interval_s
        except KeyboardInterrupt:
            report.interrupted = True
        except SignInError as exc:  # renewing the token failed
            report.refused = str(exc)
    report.elapsed_s = time.monotonic() - started
    return report


def _send(
    client: httpx.Client,
    payload: dict[str, Any],
    report: SimulationReport,
    credentials: Credentials,
) -> None:
    report.sent += 1
    try:
        response = client.post("/v1/messages", json=payload)
    except httpx.HTTPError as exc:
        key = f"transport ({type(exc).__name__})"
        report.errors[key] = report.errors.get(key, 0) + 1
        return
    if response.status_code == 202:
        report.accepted += 1
    elif response.status_code == 200 and _json(response).get("duplicate") is True:
        report.duplicates += 1
    else:
        key = str(response.status_code)
        report.errors[key] = report.errors.get(key, 0) + 1
        if response.status_code == 401:
            report.refused = _refused(response, credentials)


def _json(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or {} when it is something else."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"items": body}


def _print(line: str) -> None:
    print(line, flush=True)


def main(
    *,
    url: str = "http://127.0.0.1:8080",
    rate: float = 2.0,
    duration_s: float | None = None,
    count: int | None = None,
    seed: int | None = None,
    reply: bool = True,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> int:
    """The `socialcare simulate` command: run, print a summary, return the exit status.

    `token`, `username` and `password` are the command line's (None: not given; see
    `Credentials.resolve` for the environment and the prompt).

    0 when at least one message was accepted or recognised as a duplicate (or nothing was
    to be sent); 1 when every message failed, e.g. because nothing listens at `url`, or the
    platform refused the credential (a 401 stops the run); 2 for a rate or count that makes
    no sense, or a username without a password.
    """
    if rate <= 0 or (count is not None and count < 0):
        print("simulate: --rate must be positive and --count zero or more", file=sys.stderr)
        return 2
    try:
        credentials = Credentials.resolve(
            token=token,
            username=username,
            password=password,
            ask_password=getpass.getpass if sys.stdin and sys.stdin.isatty() else None,
        )
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    print(
        f"simulate: sending to {url} at {rate:g} msg/s {credentials.describe()} (Ctrl-C stops)",
        flush=True,
    )
    report = simulate(
        url,
        rate=rate,
        duration_s=duration_s,
        count=count,
        seed=seed,
        reply=reply,
        credentials=credentials,
    )
    if report.refused is not None:
        print(f"simulate: {report.refused}", file=sys.stderr)
        if report.sent:
            print(f"simulate: stopped {report.line()}", flush=True)
        return 1
    print(f"simulate: done {report.line()}", flush=True)
    if report.reply_errors or report.replies_skipped:
        print(
            f"simulate: replies skipped {report.replies_skipped}, reply errors "
            f"{dict(sorted(report.reply_errors.items()))}",
            flush=True,
        )
    if "403" in report.errors or "403" in report.reply_errors:
        print(
            "simulate: some requests were forbidden (403): sending messages needs permission "
            "ingest, replying as any agent an admin (or --no-replies)",
            file=sys.stderr,
        )
    if report.sent and not (report.accepted or report.duplicates):
        print("simulate: no message was accepted; is the platform running?", file=sys.stderr)
        return 1
    return 0
