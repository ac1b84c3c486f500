"""Curated, social-care specific sentiment rules per language (VADER scale, -4..+4).

Why this file exists: the general-purpose lexicons we load from installed packages (VADER
for English, Pattern's adjective lexicons for Dutch/French/German) miss or mis-score the
vocabulary of complaints: idioms ("nog steeds niet", "toujours rien"), intent words that
are not sentiment ("cancel", "kündigen"), words a care desk reads differently ("joke",
"help", "please"), and slang. Entries here override the loaded lexicons. Spanish, Italian
and Portuguese have no usable lexicon package on PyPI (the candidates are GPL, need spaCy,
or translate over the network), so they rely on this list alone.

Phrases are matched on lower-cased tokens with numbers removed ("al 3 dagen" matches
"al dagen"), before single words, so a phrase's own negation is never applied twice. A
phrase with valence 0.0 neutralises a greeting or idiom ("guten Tag", "kind regards").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = ["COMMON_WORDS", "EMOJI_OVERRIDES", "RULES", "LanguageRules"]


@dataclass(frozen=True, slots=True)
class LanguageRules:
    """Everything language specific the scorer needs, besides a loaded lexicon."""

    negations: frozenset[str]
    intensifiers: frozenset[str]
    dampeners: frozenset[str]
    contrasts: frozenset[str]
    words: Mapping[str, float] = field(default_factory=dict)
    phrases: Mapping[str, float] = field(default_factory=dict)
    # Romance languages glue articles/negations with apostrophes: c'est, n'est, dov'è.
    split_apostrophes: bool = False


def _words(spec: str) -> frozenset[str]:
    return frozenset(spec.split())


#: Emoticons and internet slang shared by every language (language entries override).
COMMON_WORDS: Final[Mapping[str, float]] = {
    ":)": 2.0, ":-)": 2.0, "=)": 2.0, ":]": 1.8, ":d": 2.3, ":-d": 2.3, ";)": 1.5, ";-)": 1.5,
    ":p": 1.0, ":-p": 1.0, "<3": 2.2, "xd": 1.5,
    ":(": -2.0, ":-(": -2.0, ":'(": -2.3, ":[": -1.8, ":/": -1.0, ":-/": -1.0, ":\\": -1.0,
    ":@": -2.3, ":|": -0.5,
    "wtf": -2.5, "fail": -2.0, "thanks": 1.9, "thx": 1.5, "lol": 0.8, "omg": 0.0,
}

#: Emoji whose VADER description ("thumbs up", "pouting face") scores wrongly or not at all.
EMOJI_OVERRIDES: Final[Mapping[str, float]] = {
    "😡": -3.0, "🤬": -3.2, "😠": -2.5, "👎": -2.0, "😤": -2.0, "😒": -1.5, "🙄": -1.5,
    "😩": -2.0, "😫": -2.0, "😢": -2.0, "😭": -2.2, "💩": -2.2, "🤮": -2.5, "🤢": -2.0,
    "😞": -2.0, "😔": -1.5, "😕": -1.2, "😟": -1.5, "😖": -1.8, "😣": -1.5, "💔": -2.0,
    "👍": 2.0, "👌": 1.8, "🙏": 1.5, "❤": 2.5, "💙": 2.0, "💚": 2.0, "💜": 2.0, "🧡": 2.0,
    "💛": 2.0, "😍": 3.0, "🥰": 3.0, "😊": 2.2, "☺": 2.0, "🙂": 1.5, "😀": 2.0, "😃": 2.0,
    "😄": 2.0, "😁": 2.0, "👏": 2.0, "🎉": 2.0, "🥳": 2.2, "💪": 1.5, "⭐": 1.5, "🌟": 1.5,
    "🤩": 2.5, "😘": 2.0, "🤗": 2.0, "🤔": 0.0, "😅": 0.3, "😬": -0.8, "🤷": -0.3,
}

_EN = LanguageRules(
    negations=_words(
        "not no never nothing nowhere nobody none neither nor without cannot can't cant "
        "don't dont doesn't doesnt didn't didnt isn't isnt aren't arent wasn't wasnt weren't "
        "won't wont wouldn't shouldn't couldn't haven't havent hasn't hasnt hadn't ain't aint"
    ),
    intensifiers=_words(
        "very so really extremely absolutely totally completely utterly incredibly super "
        "highly hugely seriously truly way too such most fucking freaking bloody damn "
        "entirely especially exceptionally insanely massively majorly"
    ),
    dampeners=_words("slightly somewhat kinda barely hardly marginally partly sort"),
    contrasts=_words("but"),
    words={
        # Requests and intents are not sentiment at a care desk.
        "help": 0.0, "please": 0.0, "pls": 0.0, "plz": 0.0, "cancel": 0.0, "no": 0.0,
        "refund": 0.0, "kind": 0.5, "like": 0.3,
        "joke": -1.2, "outage": -1.5, "crashing": -1.7, "crashes": -1.7, "crashed": -1.7,
        "unhelpful": -1.8, "ripoff": -2.5, "overcharged": -2.0, "shambles": -2.3,
        "shocking": -2.0, "appalling": -2.8, "diabolical": -2.8, "useless": -2.0,
        "incompetent": -2.3, "unreachable": -1.8, "delayed": -1.2, "faulty": -1.8,
        "sorted": 1.2, "resolved": 1.2, "quick": 1.0, "quickly": 1.0, "fast": 0.8,
        "slow": -1.2, "lol": 0.8,
    },
    phrases={
        "still waiting": -1.5, "still no": -1.2, "still not": -1.2, "still nothing": -1.5,
        "never arrived": -2.0, "never received": -2.0, "never got": -1.5, "not received": -1.5,
        "haven't received": -1.5, "have not received": -1.5, "didn't receive": -1.5,
        "did not receive": -1.5, "not arrived": -1.5, "hasn't arrived": -1.5,
        "has not arrived": -1.5, "no response": -1.5, "no reply": -1.5, "no answer": -1.5,
        "not working": -1.8, "doesn't work": -1.8, "does not work": -1.8,
        "stopped working": -1.8, "keeps crashing": -2.2, "on hold": -1.0,
        "charged twice": -1.8, "double charged": -1.8, "this is a joke": -2.2,
        "what a joke": -2.2, "rip off": -2.5, "waste of time": -2.2, "waste of money": -2.2,
        "fed up": -2.0, "for weeks": -1.0, "for days": -0.8, "for hours": -0.8,
        "after weeks": -1.0, "no internet": -1.5, "no signal": -1.5, "no power": -1.5,
        "no wifi": -1.5, "is down": -1.2, "thank you": 2.0, "kind regards": 0.0,
        "best regards": 0.0, "what kind of": 0.0, "no problem": 1.0, "no worries": 1.0,
        "no thanks": 0.0, "good morning": 0.0, "good afternoon": 0.0, "good evening": 0.0,
    },
)

_NL = LanguageRules(
    negations=_words("niet geen nooit niets niks zonder nergens niemand noch"),
    intensifiers=_words(
        "heel erg zeer echt super enorm ontzettend extreem totaal compleet volledig "
        "hartstikke mega zo te vet bijzonder uiterst zwaar flink werkelijk absoluut"
    ),
    dampeners=_words("beetje enigszins nauwelijks amper"),
    contrasts=_words("maar echter"),
    words={
        "belachelijk": -2.8, "waardeloos": -2.8, "schandalig": -3.0, "schande": -2.8,
        "bagger": -2.5, "kut": -2.5, "kutservice": -3.0, "klote": -2.3, "slecht": -2.3,
        "slechtste": -3.0, "rampzalig": -3.0, "drama": -2.0, "ramp": -2.5, "bizar": -1.5,
        "absurd": -2.0, "onacceptabel": -2.5, "onaanvaardbaar": -2.5, "teleurgesteld": -2.0,
        "teleurstellend": -2.0, "teleurstelling": -2.0, "boos": -2.0, "woedend": -3.0,
        "kwaad": -2.0, "pissig": -2.3, "gefrustreerd": -2.0, "frustrerend": -2.0,
        "irritant": -1.8, "ergerlijk": -2.0, "vervelend": -1.5, "jammer": -1.0,
        "helaas": -0.8, "traag": -1.5, "oplichters": -3.0, "oplichting": -3.0,
        "oplichterij": -3.0, "zooitje": -2.0, "puinhoop": -2.5, "chaos": -2.0,
        "storing": -1.2, "storingen": -1.2, "klacht": -1.3, "klachten": -1.3,
        "kapot": -1.8, "fout": -1.2, "fouten": -1.2, "verkeerd": -1.2, "probleem": -1.0,
        "problemen": -1.0, "vertraging": -1.2, "duur": -1.0, "onbeschoft": -2.3,
        "onvriendelijk": -1.8, "onbereikbaar": -2.0, "incompetent": -2.5,
        "amateuristisch": -2.2, "nutteloos": -2.0, "slordig": -1.5, "triest": -1.8,
        "wanprestatie": -2.5, "nep": -2.0, "opzeggen": 0.0, "wachten": 0.0, "hoger": 0.0,
        "top": 2.0, "toppie": 2.0, "topper": 2.2, "super": 2.0, "geweldig": 3.0,
        "fantastisch": 3.0, "prima": 1.8, "goed": 1.8, "fijn": 1.8, "mooi": 1.8,
        "perfect": 2.8, "uitstekend": 2.8, "snel": 0.8, "vlot": 1.2, "vriendelijk": 2.0,
        "behulpzaam": 2.0, "klantvriendelijk": 2.0, "tevreden": 2.0, "blij": 2.2,
        "bedankt": 2.0, "dank": 1.8, "dankjewel": 2.0, "dankuwel": 2.0, "chapeau": 2.2,
        "held": 2.0, "helden": 2.0, "opgelost": 1.2, "geregeld": 1.0, "heerlijk": 2.2,
        "netjes": 1.5, "nice": 1.8, "lekker": 1.2, "graag": 0.3,
    },
    phrases={
        "nog steeds niet": -1.8, "nog steeds geen": -1.8, "nog steeds niks": -1.8,
        "nog steeds niets": -1.8, "nog altijd niet": -1.8, "nog altijd geen": -1.8,
        "nog niks": -1.2, "nog niets": -1.2, "niet ontvangen": -1.5, "niks ontvangen": -1.5,
        "niets ontvangen": -1.5, "niet aangekomen": -1.5, "niet geleverd": -1.5,
        "werkt niet": -1.8, "doet het niet": -1.8, "ligt eruit": -1.5, "ligt er uit": -1.5,
        "ligt plat": -1.5, "reageert niet": -1.8, "reageren niet": -1.8,
        "geen reactie": -1.8, "geen antwoord": -1.5, "geen bereik": -1.5,
        "geen internet": -1.5, "geen verbinding": -1.3, "klopt niet": -1.5,
        "klopt niks van": -1.8, "niet bereikbaar": -1.8, "niemand neemt op": -1.8,
        "in de wacht": -1.0, "waar blijft": -1.0, "wat een grap": -2.0,
        "slaat nergens op": -2.0, "te laat": -1.3, "zonder bericht": -0.8,
        "zonder aankondiging": -0.8, "al dagen": -1.0, "al weken": -1.2, "al maanden": -1.2,
        "al uren": -1.0, "wacht al": -1.0, "lekker dan": -1.5, "super bedankt": 3.0,
        "dank je": 2.0, "dank je wel": 2.0, "dank u": 2.0, "dank u wel": 2.0,
        "hartelijk dank": 2.5, "graag gedaan": 1.0, "top geregeld": 2.5,
        "goed geholpen": 2.2, "snel geholpen": 2.0, "snel opgelost": 2.0,
        "geen probleem": 1.0, "goede morgen": 0.0, "goedemorgen": 0.0, "goedemiddag": 0.0,
        "goedenavond": 0.0, "goedendag": 0.0, "te veel": -0.8, "veel te hoog": -1.5,
        "te hoog": -1.2, "hoger dan verwacht": -1.3,
    },
)

_DE = LanguageRules(
    negations=_words(
        "nicht kein keine keinen keinem keiner keines nie niemals nichts ohne weder nirgends "
        "niemand"
    ),
    intensifiers=_words(
        "sehr echt total extrem absolut völlig wirklich so zu mega super richtig unglaublich "
        "äußerst aeusserst besonders komplett voll ganz höchst verdammt"
    ),
    dampeners=_words("etwas bisschen kaum ziemlich eher leicht"),
    contrasts=_words("aber doch jedoch allerdings"),
    words={
        "katastrophe": -3.0, "katastrophal": -3.0, "frechheit": -2.8, "unverschämt": -2.8,
        "unverschämtheit": -2.8, "skandal": -2.8, "skandalös": -2.8, "lächerlich": -2.5,
        "unglaublich": -1.2, "enttäuscht": -2.0, "enttäuschend": -2.0, "enttäuschung": -2.0,
        "ärgerlich": -2.0, "verärgert": -2.0, "wütend": -2.8, "sauer": -2.0,
        "frustriert": -2.0, "frustrierend": -2.0, "nervig": -1.8, "schlecht": -2.3,
        "schlechteste": -3.0, "miserabel": -2.8, "mies": -2.3, "grottenschlecht": -3.0,
        "unzumutbar": -2.5, "inakzeptabel": -2.5, "peinlich": -2.0, "schande": -2.5,
        "betrug": -3.0, "abzocke": -3.0, "abzocker": -3.0, "betrüger": -3.0, "chaos": -2.0,
        "ausfall": -1.2, "störung": -1.2, "verspätung": -1.2, "verspätet": -1.2,
        "kaputt": -1.8, "defekt": -1.5, "fehler": -1.2, "falsch": -1.2, "problem": -1.0,
        "probleme": -1.0, "beschwerde": -1.3, "leider": -0.8, "langsam": -1.2,
        "teuer": -1.0, "unfreundlich": -1.8, "inkompetent": -2.5, "nutzlos": -2.0,
        "unerreichbar": -2.0, "zumutung": -2.5, "witz": -1.2, "mist": -2.0,
        "scheiße": -3.0, "scheisse": -3.0, "kacke": -2.5,
        "kündigen": 0.0, "kündigung": 0.0, "hoch": 0.0, "nichts": 0.0, "warten": 0.0,
        "danke": 2.0, "dank": 1.8, "dankeschön": 2.2, "toll": 2.5, "super": 2.5,
        "klasse": 2.5, "prima": 2.0, "spitze": 2.5, "top": 2.0, "gut": 1.9, "perfekt": 2.8,
        "hervorragend": 3.0, "ausgezeichnet": 3.0, "freundlich": 1.8, "hilfsbereit": 2.0,
        "hilfreich": 2.0, "schnell": 0.8, "zufrieden": 2.0, "froh": 2.0, "glücklich": 2.5,
        "gelöst": 1.2, "nice": 1.8, "lieb": 1.5,
    },
    phrases={
        "immer noch nicht": -1.8, "immer noch kein": -1.8, "immer noch keine": -1.8,
        "immer noch nichts": -1.8, "noch nicht angekommen": -1.5, "nicht angekommen": -1.5,
        "nicht erhalten": -1.5, "nichts erhalten": -1.5, "nicht geliefert": -1.5,
        "funktioniert nicht": -1.8, "geht nicht": -1.5, "klappt nicht": -1.5,
        "kein internet": -1.5, "kein netz": -1.5, "keine antwort": -1.5,
        "keine reaktion": -1.8, "niemand ruft zurück": -2.0, "ruft niemand zurück": -2.0,
        "niemand meldet sich": -2.0, "meldet sich niemand": -2.0, "fällt aus": -1.2,
        "schon wieder": -1.0, "wo bleibt": -1.0, "seit tagen": -1.0, "seit wochen": -1.2,
        "seit einer woche": -1.2, "seit stunden": -1.0, "vielen dank": 2.5,
        "danke schön": 2.2, "herzlichen dank": 2.5, "das kann doch nicht sein": -1.8,
        "kann nicht sein": -1.5, "ein witz": -2.0, "zu hoch": -1.2, "viel zu hoch": -1.5,
        "guten tag": 0.0, "guten morgen": 0.0, "guten abend": 0.0, "kein problem": 1.0,
        "alles gut": 1.5, "mit freundlichen grüßen": 0.0, "freundliche grüße": 0.0,
    },
)

_FR = LanguageRules(
    negations=_words("ne n pas jamais rien aucun aucune sans ni"),
    intensifiers=_words(
        "très vraiment trop tellement super hyper extrêmement totalement complètement si "
        "absolument vachement grave hyper archi"
    ),
    dampeners=_words("peu assez légèrement plutôt"),
    contrasts=_words("mais pourtant cependant"),
    split_apostrophes=True,
    words={
        "inadmissible": -2.8, "inacceptable": -2.8, "scandaleux": -3.0, "scandale": -2.8,
        "honteux": -2.5, "honte": -2.2, "nul": -2.3, "nulle": -2.3, "nuls": -2.3,
        "lamentable": -2.8, "catastrophe": -2.8, "catastrophique": -3.0, "déçu": -2.0,
        "déception": -2.0, "décevant": -2.0, "furieux": -2.8, "énervé": -2.0,
        "agacé": -1.8, "marre": -2.0, "arnaque": -3.0, "arnaqueurs": -3.0, "escroc": -3.0,
        "escroquerie": -3.0, "incompétent": -2.5, "incompétents": -2.5,
        "injoignable": -2.0, "bloqué": -1.2, "panne": -1.3, "retard": -1.2,
        "problème": -1.0, "erreur": -1.2, "lent": -1.2, "pire": -2.8, "horrible": -2.8,
        "inutile": -1.8, "mauvais": -2.0, "malheureusement": -0.8, "galère": -1.8,
        "merde": -2.8, "bordel": -2.0, "cher": 0.0, "résilier": 0.0, "plus": 0.0,
        "merci": 2.0, "super": 2.2, "génial": 2.8, "parfait": 2.8, "excellent": 2.8,
        "top": 2.0, "bravo": 2.2, "rapide": 0.8, "rapidement": 0.8, "efficace": 1.8,
        "aimable": 1.8, "sympa": 1.8, "content": 2.0, "satisfait": 2.0, "ravi": 2.5,
        "résolu": 1.2, "bien": 1.0, "bon": 1.2,
    },
    phrases={
        "toujours pas": -1.8, "toujours rien": -1.8, "toujours aucun": -1.8,
        "toujours aucune": -1.8, "pas reçu": -1.5, "jamais reçu": -2.0,
        "fonctionne pas": -1.8, "marche pas": -1.8, "pas de réponse": -1.5,
        "aucune réponse": -1.8, "sans réponse": -1.8, "pas terrible": -1.5,
        "plus jamais": -2.2, "en panne": -1.5, "merci beaucoup": 2.5, "merci bien": 2.0,
        "un grand merci": 2.8, "depuis jours": -1.0, "depuis des jours": -1.0,
        "depuis semaines": -1.2, "depuis des semaines": -1.2, "depuis des heures": -1.0,
        "c est une blague": -2.0, "trop élevée": -1.5, "trop élevé": -1.5,
        "trop cher": -1.5, "pas de problème": 1.0, "bonne journée": 0.8,
        "cordialement": 0.0,
    },
)

_ES = LanguageRules(
    negations=_words("no nunca jamás nada ningún ninguna ninguno sin ni tampoco nadie"),
    intensifiers=_words(
        "muy mucho muchísimo demasiado súper super realmente totalmente tan bastante "
        "extremadamente increíblemente completamente absolutamente"
    ),
    dampeners=_words("poco algo ligeramente apenas"),
    contrasts=_words("pero aunque"),
    split_apostrophes=True,
    words={
        "pésimo": -3.0, "malo": -2.0, "horrible": -2.8, "fatal": -2.5, "terrible": -2.8,
        "vergonzoso": -2.5, "vergüenza": -2.3, "indignante": -2.8, "inaceptable": -2.8,
        "inadmisible": -2.8, "lamentable": -2.8, "desastre": -2.8, "desastroso": -2.8,
        "decepcionado": -2.0, "decepción": -2.0, "decepcionante": -2.0, "enfadado": -2.0,
        "enojado": -2.0, "harto": -2.2, "molesto": -1.8, "frustrado": -2.0,
        "frustrante": -2.0, "estafa": -3.0, "estafadores": -3.0, "timo": -2.8,
        "ladrones": -2.8, "robo": -2.5, "incompetente": -2.5, "incompetentes": -2.5,
        "inútil": -1.8, "inútiles": -1.8, "lento": -1.2, "caro": -1.0, "problema": -1.0,
        "error": -1.2, "errores": -1.2, "avería": -1.3, "retraso": -1.2, "queja": -1.3,
        "reclamación": -1.0, "peor": -2.5, "desgraciadamente": -0.8,
        "lamentablemente": -0.8, "mierda": -3.0, "basura": -2.5, "cancelar": 0.0,
        "gracias": 2.0, "genial": 2.8, "excelente": 3.0, "perfecto": 2.8,
        "estupendo": 2.8, "maravilloso": 3.0, "bueno": 1.5, "bien": 1.0, "rápido": 0.8,
        "rápidamente": 0.8, "amable": 1.8, "amables": 1.8, "contento": 2.0,
        "satisfecho": 2.0, "encantado": 2.5, "resuelto": 1.2, "solucionado": 1.2,
        "fenomenal": 2.8, "top": 2.0, "super": 2.0, "súper": 2.0, "agradecido": 2.0,
    },
    phrases={
        "muchas gracias": 2.5, "mil gracias": 2.8, "todo resuelto": 2.0,
        "no funciona": -1.8, "no ha llegado": -1.5, "no me ha llegado": -1.5,
        "no llega": -1.3, "todavía no": -1.3, "aún no": -1.3, "todavía nada": -1.5,
        "aún nada": -1.5, "sigo esperando": -1.5, "sin respuesta": -1.8,
        "sin internet": -1.5, "sin servicio": -1.5, "sin luz": -1.5,
        "nadie contesta": -1.8, "nadie responde": -1.8, "nadie me responde": -1.8,
        "nadie me ayuda": -1.8, "cobrado dos veces": -1.8, "llevo una hora": -1.0,
        "llevo horas": -1.0, "llevo días": -1.0, "llevo semanas": -1.2,
        "buenos días": 0.0, "buenas tardes": 0.0, "buenas noches": 0.0,
        "sin embargo": 0.0, "no hay problema": 1.0,
    },
)

_IT = LanguageRules(
    negations=_words("non mai niente nulla nessun nessuno nessuna senza né"),
    intensifiers=_words(
        "molto troppo davvero veramente super proprio tanto così estremamente "
        "assolutamente totalmente completamente"
    ),
    dampeners=_words("poco leggermente appena"),
    contrasts=_words("ma però"),
    split_apostrophes=True,
    words={
        "pessimo": -3.0, "schifo": -3.0, "vergogna": -2.5, "vergognoso": -2.8,
        "inaccettabile": -2.8, "inammissibile": -2.8, "ridicolo": -2.5, "scandaloso": -2.8,
        "scandalo": -2.5, "disastro": -2.8, "delusione": -2.0, "deluso": -2.0,
        "arrabbiato": -2.2, "furioso": -2.8, "incompetente": -2.5, "incompetenti": -2.5,
        "inutile": -1.8, "truffa": -3.0, "truffatori": -3.0, "ladri": -2.8,
        "problema": -1.0, "guasto": -1.3, "ritardo": -1.2, "lento": -1.2, "brutto": -2.0,
        "male": -1.5, "peggiore": -2.8, "peggio": -2.3, "purtroppo": -0.8,
        "orribile": -2.8, "terribile": -2.8, "schifoso": -3.0, "vergognatevi": -2.8,
        "grazie": 2.0, "ottimo": 2.8, "perfetto": 2.8, "eccellente": 3.0,
        "fantastico": 3.0, "bravo": 2.0, "bravi": 2.0, "gentile": 1.8, "gentilissimo": 2.5,
        "veloce": 0.8, "rapido": 0.8, "contento": 2.0, "soddisfatto": 2.0, "felice": 2.5,
        "risolto": 1.2, "buono": 1.5, "bene": 1.2, "bello": 1.8, "top": 2.0, "super": 2.0,
    },
    phrases={
        "grazie mille": 2.8, "non funziona": -1.8, "non è arrivato": -1.5,
        "non è ancora arrivato": -1.5, "ancora arrivato": -1.5, "ancora niente": -1.5,
        "ancora nulla": -1.5, "ancora non": -1.3, "nessuno risponde": -1.8,
        "nessuna risposta": -1.8, "senza risposta": -1.8, "buona giornata": 0.5,
        "nessun problema": 1.0,
    },
)

_PT = LanguageRules(
    negations=_words("não nunca jamais nada nenhum nenhuma sem nem ninguém"),
    intensifiers=_words(
        "muito muita muitos muitas demais super realmente totalmente tão extremamente "
        "bastante completamente absolutamente"
    ),
    dampeners=_words("pouco ligeiramente"),
    contrasts=_words("mas porém contudo"),
    split_apostrophes=True,
    words={
        "péssimo": -3.0, "horrível": -2.8, "ruim": -2.0, "mau": -2.0, "má": -2.0,
        "absurdo": -2.5, "vergonha": -2.3, "vergonhoso": -2.8, "inaceitável": -2.8,
        "lamentável": -2.8, "decepcionado": -2.0, "decepção": -2.0, "irritado": -2.0,
        "chateado": -1.8, "revoltado": -2.5, "farto": -2.0, "fraude": -3.0,
        "ladrões": -2.8, "incompetentes": -2.5, "incompetente": -2.5, "inútil": -1.8,
        "lento": -1.2, "caro": -1.0, "problema": -1.0, "erro": -1.2, "atraso": -1.2,
        "defeito": -1.5, "pior": -2.5, "infelizmente": -0.8, "merda": -3.0, "lixo": -2.5,
        "descaso": -2.5, "palhaçada": -2.5, "cancelar": 0.0,
        "obrigado": 2.0, "obrigada": 2.0, "ótimo": 2.8, "excelente": 3.0, "perfeito": 2.8,
        "maravilhoso": 3.0, "incrível": 2.5, "top": 2.0, "bom": 1.5, "rápido": 0.8,
        "rápida": 0.8, "atencioso": 1.8, "gentil": 1.8, "satisfeito": 2.0,
        "contente": 2.0, "feliz": 2.5, "resolvido": 1.2, "parabéns": 2.5, "bem": 1.0,
    },
    phrases={
        "não chegou": -1.5, "não funciona": -1.8, "ainda nada": -1.5, "ainda não": -1.3,
        "sem resposta": -1.8, "ninguém responde": -1.8, "sem internet": -1.5,
        "bom dia": 0.0, "boa tarde": 0.0, "boa noite": 0.0, "sem problema": 1.0,
        "muito obrigado": 2.5, "muito obrigada": 2.5,
    },
)

#: Rules per ISO 639-1 code; any other language is scored with the English rules.
RULES: Final[Mapping[str, LanguageRules]] = {
    "en": _EN, "nl": _NL, "de": _DE, "fr": _FR, "es": _ES, "it": _IT, "pt": _PT,
}
