"""A labelled set of care messages for measuring intent recognition by examples: 14 per
intent of the packaged taxonomy (two in each of en, nl, de, fr, es, it, pt) and 49
messages that are none of them (five off-topic and two bare follow-ups per language: "any
news?" names no intent by itself), 189 in all.

Written apart from the `examples:` of default_care.yaml (no sentence is shared; the wordings
differ), so what it measures is how far the examples generalise. `test_intents_examples.py`
measures the example matcher alone (the taxonomy without its keywords), sweeps thresholds
over it, and holds precision and recall at the chosen threshold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from socialcare.core.domain.care_config import CareConfig, load_care_config
from socialcare.core.domain.routing_config import IntentDefinition
from socialcare.enrichment.intent_examples import THRESHOLD
from socialcare.enrichment.intents import IntentDetector

# (language, text, intent or None for off-topic)
SAMPLES: tuple[tuple[str, str, str | None], ...] = (
    # billing
    ("en", "I was charged for a month I had already cancelled", "billing"),
    ("en", "Can someone explain the extra fee on this month's statement?", "billing"),
    ("nl", "Jullie hebben geld gevraagd voor een maand die ik al had opgezegd", "billing"),
    ("nl", "Wat is die extra kostenpost op mijn overzicht van deze maand?", "billing"),
    ("de", "Ihr habt mir einen Monat berechnet, den ich schon gekündigt hatte", "billing"),
    ("de", "Was sind das für zusätzliche Kosten auf meiner Monatsabrechnung?", "billing"),
    ("fr", "On m'a fait payer un mois alors que j'avais déjà résilié", "billing"),
    ("fr", "C'est quoi ces frais en plus sur mon relevé du mois ?", "billing"),
    ("es", "Me han cobrado un mes que ya había dado de baja", "billing"),
    ("es", "¿Qué es ese cargo extra en mi recibo de este mes?", "billing"),
    ("it", "Mi avete fatto pagare un mese che avevo già disdetto", "billing"),
    ("it", "Cos'è questo costo in più sull'estratto di questo mese?", "billing"),
    ("pt", "Cobraram-me um mês que eu já tinha cancelado", "billing"),
    ("pt", "O que é esta taxa extra no extrato deste mês?", "billing"),
    # outage
    ("en", "Is there a network problem in Leeds? Nothing loads on my phone", "outage"),
    ("en", "Lights went off in the whole building an hour ago", "outage"),
    ("nl", "Is er een netwerkprobleem in Leiden? Mijn telefoon laadt niets", "outage"),
    ("nl", "Een uur geleden ging in het hele gebouw het licht uit", "outage"),
    ("de", "Gibt es ein Netzproblem in Köln? Auf dem Handy lädt nichts", "outage"),
    ("de", "Vor einer Stunde ist im ganzen Haus das Licht ausgegangen", "outage"),
    ("fr", "Il y a un souci réseau à Lyon ? Rien ne charge sur mon téléphone", "outage"),
    ("fr", "Il y a une heure tout l'immeuble s'est retrouvé dans le noir", "outage"),
    ("es", "¿Hay algún problema de red en Valencia? No carga nada en el móvil", "outage"),
    ("es", "Hace una hora se fue la luz en todo el edificio", "outage"),
    ("it", "C'è un problema di rete a Torino? Sul telefono non carica niente", "outage"),
    ("it", "Un'ora fa è andata via la luce in tutto il palazzo", "outage"),
    ("pt", "Há algum problema de rede em Braga? Não carrega nada no telemóvel", "outage"),
    ("pt", "Há uma hora faltou a luz no prédio todo", "outage"),
    # delivery
    ("en", "It's been ten days and my stuff is still not here", "delivery"),
    ("en", "The driver left my box with a neighbour I don't know", "delivery"),
    ("nl", "Het is tien dagen later en mijn spullen zijn er nog steeds niet", "delivery"),
    ("nl", "De chauffeur heeft mijn doos bij een onbekende buurman afgegeven", "delivery"),
    ("de", "Seit zehn Tagen warte ich und mein Karton ist immer noch nicht da", "delivery"),
    ("de", "Der Bote hat meinen Karton bei einem fremden Nachbarn abgegeben", "delivery"),
    ("fr", "Dix jours plus tard et je n'ai toujours rien reçu", "delivery"),
    ("fr", "Le livreur a laissé mon carton chez un voisin que je ne connais pas", "delivery"),
    ("es", "Diez días después y todavía no tengo mi caja", "delivery"),
    ("es", "El transportista dejó mi caja con un vecino que no conozco", "delivery"),
    ("it", "Sono passati dieci giorni e la mia scatola non è ancora arrivata", "delivery"),
    ("it", "Il fattorino ha lasciato la scatola a un vicino che non conosco", "delivery"),
    ("pt", "Já passaram dez dias e ainda não recebi nada", "delivery"),
    ("pt", "O estafeta deixou a caixa num vizinho que nem conheço", "delivery"),
    # defect
    ("en", "My headphones only play sound on the left side", "defect"),
    ("en", "The fridge isn't cooling anymore and the food is going off", "defect"),
    ("nl", "Mijn koptelefoon geeft alleen nog geluid aan de linkerkant", "defect"),
    ("nl", "De koelkast koelt niet meer en het eten bederft", "defect"),
    ("de", "Mein Kopfhörer spielt nur noch links Ton ab", "defect"),
    ("de", "Der Kühlschrank kühlt nicht mehr und das Essen verdirbt", "defect"),
    ("fr", "Mon casque n'a plus de son que du côté gauche", "defect"),
    ("fr", "Le frigo ne refroidit plus et la nourriture s'abîme", "defect"),
    ("es", "Los auriculares solo suenan por el lado izquierdo", "defect"),
    ("es", "La nevera ya no enfría y se me estropea la comida", "defect"),
    ("it", "Le cuffie suonano solo dal lato sinistro", "defect"),
    ("it", "Il frigo non raffredda più e il cibo va a male", "defect"),
    ("pt", "Os auscultadores só dão som do lado esquerdo", "defect"),
    ("pt", "O frigorífico já não arrefece e a comida estraga-se", "defect"),
    # how_to
    ("en", "What's the way to change the name on my account?", "how_to"),
    ("en", "How would I go about pausing my subscription over the summer?", "how_to"),
    ("nl", "Hoe verander ik de naam op mijn account?", "how_to"),
    ("nl", "Kan ik mijn abonnement in de zomer pauzeren?", "how_to"),
    ("de", "Wie ändere ich den Namen auf meinem Konto?", "how_to"),
    ("de", "Kann ich mein Abo über den Sommer pausieren?", "how_to"),
    ("fr", "Comment je change le nom sur mon compte ?", "how_to"),
    ("fr", "Je peux mettre mon abonnement en pause pendant l'été ?", "how_to"),
    ("es", "¿Cómo cambio el nombre de mi cuenta?", "how_to"),
    ("es", "¿Puedo pausar mi suscripción durante el verano?", "how_to"),
    ("it", "Come cambio il nome sul mio account?", "how_to"),
    ("it", "Posso sospendere l'abbonamento durante l'estate?", "how_to"),
    ("pt", "Como mudo o nome na minha conta?", "how_to"),
    ("pt", "Posso suspender a minha assinatura durante o verão?", "how_to"),
    # sales_lead
    ("en", "Any chance of a deal if I take the phone with a two-year plan?", "sales_lead"),
    ("en", "We're a team of twenty, do you have business packages?", "sales_lead"),
    (
        "nl",
        "Krijg ik korting als ik de telefoon met een abonnement van twee jaar neem?",
        "sales_lead",
    ),
    ("nl", "We zijn met twintig man, hebben jullie zakelijke pakketten?", "sales_lead"),
    ("de", "Gibt es Rabatt, wenn ich das Handy mit Zweijahresvertrag nehme?", "sales_lead"),
    ("de", "Wir sind zwanzig Leute, habt ihr Business-Pakete?", "sales_lead"),
    (
        "fr",
        "J'ai droit à une réduction si je prends le téléphone avec un forfait de deux ans ?",
        "sales_lead",
    ),
    ("fr", "On est une équipe de vingt, vous avez des offres pour les entreprises ?", "sales_lead"),
    ("es", "¿Me hacéis descuento si me llevo el móvil con permanencia de dos años?", "sales_lead"),
    ("es", "Somos un equipo de veinte, ¿tenéis paquetes para empresas?", "sales_lead"),
    ("it", "Mi fate uno sconto se prendo il telefono con un piano di due anni?", "sales_lead"),
    ("it", "Siamo un team di venti persone, avete pacchetti per aziende?", "sales_lead"),
    ("pt", "Fazem desconto se eu levar o telemóvel com um plano de dois anos?", "sales_lead"),
    ("pt", "Somos uma equipa de vinte, têm pacotes para empresas?", "sales_lead"),
    # compliment
    ("en", "Shout out to Sarah from your team, she sorted everything", "compliment"),
    ("en", "Best customer support I've had in years", "compliment"),
    ("nl", "Complimenten voor Sarah van jullie team, ze heeft alles geregeld", "compliment"),
    ("nl", "Beste klantenservice die ik in jaren heb gehad", "compliment"),
    ("de", "Ein Lob an Sarah aus eurem Team, sie hat alles erledigt", "compliment"),
    ("de", "Der beste Kundenservice seit Jahren", "compliment"),
    ("fr", "Un grand merci à Sarah de votre équipe, elle a tout réglé", "compliment"),
    ("fr", "Le meilleur service client que j'ai eu depuis des années", "compliment"),
    ("es", "Un aplauso para Sara de vuestro equipo, lo solucionó todo", "compliment"),
    ("es", "El mejor servicio al cliente que he tenido en años", "compliment"),
    ("it", "Un applauso a Sara del vostro team, ha sistemato tutto", "compliment"),
    ("it", "Il miglior servizio clienti che ho avuto da anni", "compliment"),
    ("pt", "Um elogio à Sara da vossa equipa, resolveu tudo", "compliment"),
    ("pt", "O melhor apoio ao cliente que tive em anos", "compliment"),
    # complaint
    ("en", "Three weeks and four phone calls later still nobody has helped me", "complaint"),
    ("en", "I'm sick of being passed from one department to the next", "complaint"),
    (
        "nl",
        "Drie weken en vier telefoontjes later heeft nog steeds niemand me geholpen",
        "complaint",
    ),
    (
        "nl",
        "Ik ben het spuugzat om steeds van afdeling naar afdeling gestuurd te worden",
        "complaint",
    ),
    ("de", "Drei Wochen und vier Anrufe später hat mir immer noch niemand geholfen", "complaint"),
    ("de", "Ich habe es satt, von einer Abteilung zur nächsten geschickt zu werden", "complaint"),
    ("fr", "Trois semaines et quatre appels plus tard, personne ne m'a aidé", "complaint"),
    ("fr", "J'en ai marre d'être baladé d'un service à l'autre", "complaint"),
    ("es", "Tres semanas y cuatro llamadas después nadie me ha ayudado", "complaint"),
    ("es", "Estoy cansado de que me pasen de un departamento a otro", "complaint"),
    ("it", "Tre settimane e quattro telefonate dopo nessuno mi ha ancora aiutato", "complaint"),
    ("it", "Sono stufo di essere rimbalzato da un ufficio all'altro", "complaint"),
    ("pt", "Três semanas e quatro chamadas depois ainda ninguém me ajudou", "complaint"),
    ("pt", "Estou farto de ser passado de um departamento para outro", "complaint"),
    # legal_threat
    ("en", "My solicitor will be in touch if I don't get a refund", "legal_threat"),
    ("en", "I'm reporting you to the regulator today", "legal_threat"),
    ("nl", "Mijn jurist neemt contact op als ik mijn geld niet terugkrijg", "legal_threat"),
    ("nl", "Ik meld dit vandaag nog bij de toezichthouder", "legal_threat"),
    ("de", "Mein Jurist meldet sich, wenn ich mein Geld nicht zurückbekomme", "legal_threat"),
    ("de", "Ich melde das heute noch der Bundesnetzagentur", "legal_threat"),
    ("fr", "Mon juriste vous contactera si je ne suis pas remboursé", "legal_threat"),
    ("fr", "Je saisis l'autorité de régulation dès aujourd'hui", "legal_threat"),
    (
        "es",
        "Mi representante legal se pondrá en contacto si no me devolvéis el dinero",
        "legal_threat",
    ),
    ("es", "Hoy mismo os denuncio ante la autoridad de consumo", "legal_threat"),
    ("it", "Il mio legale vi contatterà se non mi rimborsate", "legal_threat"),
    ("it", "Oggi stesso vi segnalo all'autorità garante", "legal_threat"),
    ("pt", "O meu jurista vai contactar-vos se não me devolverem o dinheiro", "legal_threat"),
    ("pt", "Hoje mesmo faço queixa à entidade reguladora", "legal_threat"),
    # safety
    ("en", "The power bank swelled up and got scorching hot", "safety"),
    ("en", "There's a burning smell coming from the back of the TV", "safety"),
    ("nl", "De powerbank is opgezwollen en werd gloeiend heet", "safety"),
    ("nl", "Er komt een schroeilucht uit de achterkant van de tv", "safety"),
    ("de", "Die Powerbank hat sich aufgebläht und wurde glühend heiß", "safety"),
    ("de", "Aus der Rückseite des Fernsehers riecht es verschmort", "safety"),
    ("fr", "La batterie externe a gonflé et est devenue brûlante", "safety"),
    ("fr", "Ça sent le plastique brûlé à l'arrière de la télé", "safety"),
    ("es", "La batería externa se ha hinchado y se puso ardiendo", "safety"),
    ("es", "Sale olor a plástico quemado de la parte de atrás de la tele", "safety"),
    ("it", "Il power bank si è gonfiato ed è diventato rovente", "safety"),
    ("it", "C'è puzza di plastica bruciata dal retro della tv", "safety"),
    ("pt", "A powerbank inchou e ficou a escaldar", "safety"),
    ("pt", "Há um cheiro a plástico queimado a sair da parte de trás da televisão", "safety"),
    # off-topic
    ("en", "Just saw your ad on the train", None),
    ("en", "Good morning everyone, happy Monday", None),
    ("en", "Who's watching the match tonight?", None),
    ("en", "My cat is sleeping on my keyboard again", None),
    ("en", "Lovely weather in Brighton today", None),
    ("nl", "Goedemorgen allemaal", None),
    ("nl", "Wie kijkt er vanavond naar de wedstrijd?", None),
    ("nl", "Mijn kat slaapt weer op mijn toetsenbord", None),
    ("nl", "Heerlijk weer vandaag in Zandvoort", None),
    ("nl", "Net jullie reclame in de trein gezien", None),
    ("de", "Guten Morgen zusammen", None),
    ("de", "Wer schaut heute Abend das Spiel?", None),
    ("de", "Meine Katze schläft schon wieder auf der Tastatur", None),
    ("de", "Herrliches Wetter heute in Hamburg", None),
    ("de", "Gerade eure Werbung im Zug gesehen", None),
    ("fr", "Bonjour tout le monde", None),
    ("fr", "Qui regarde le match ce soir ?", None),
    ("fr", "Mon chat dort encore sur mon clavier", None),
    ("fr", "Il fait un temps magnifique à Nice aujourd'hui", None),
    ("fr", "Je viens de voir votre pub dans le train", None),
    ("es", "Buenos días a todos", None),
    ("es", "¿Quién ve el partido esta noche?", None),
    ("es", "Mi gato vuelve a dormir encima del teclado", None),
    ("es", "Hace un día precioso en Málaga", None),
    ("es", "Acabo de ver vuestro anuncio en el tren", None),
    ("it", "Buongiorno a tutti", None),
    ("it", "Chi guarda la partita stasera?", None),
    ("it", "Il mio gatto dorme di nuovo sulla tastiera", None),
    ("it", "Che bella giornata oggi a Napoli", None),
    ("it", "Ho appena visto la vostra pubblicità sul treno", None),
    ("pt", "Bom dia a todos", None),
    ("pt", "Quem vai ver o jogo hoje à noite?", None),
    ("pt", "O meu gato está outra vez a dormir no teclado", None),
    ("pt", "Está um dia lindo hoje em Lisboa", None),
    ("pt", "Acabei de ver o vosso anúncio no comboio", None),
    # bare follow-ups: a short question that names no intent by itself
    ("en", "Any news on this?", None),
    ("en", "When will it be fixed?", None),
    ("nl", "Al nieuws hierover?", None),
    ("nl", "Wanneer is het opgelost?", None),
    ("de", "Gibt es schon was Neues?", None),
    ("de", "Wann ist das erledigt?", None),
    ("fr", "Du nouveau de votre côté ?", None),
    ("fr", "C'est réglé quand ?", None),
    ("es", "¿Alguna novedad?", None),
    ("es", "¿Cuándo estará resuelto?", None),
    ("it", "Novità?", None),
    ("it", "Quando sarà risolto?", None),
    ("pt", "Alguma novidade?", None),
    ("pt", "Quando fica resolvido?", None),
)


def taxonomy(care: CareConfig, *, keywords: bool = True, examples: bool = True) -> CareConfig:
    """`care` with its intents' keywords or examples left out (to measure each alone)."""
    entries = []
    for entry in care.intents:
        fields = entry.model_dump(exclude_defaults=True)
        if not keywords:
            fields.pop("keywords", None)
        if not examples:
            fields.pop("examples", None)
        if fields.get("keywords") or fields.get("examples"):
            entries.append(IntentDefinition.model_validate(fields))
    return care.model_copy(update={"intents": entries})


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    false_positives: int  # intents found on messages labelled with none

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def score(detector: IntentDetector) -> Score:
    """Precision and recall of the intents `detector` finds in SAMPLES (each message has
    one intent or none; every other intent found is a false positive)."""
    hits = found_total = wanted = off_topic = 0
    for language, text, intent in SAMPLES:
        found = {i.name for i in detector.detect(text, language=language, brand="")}
        want = {intent} if intent else set()
        hits += len(found & want)
        found_total += len(found)
        wanted += len(want)
        off_topic += 0 if intent else len(found)
    return Score(hits / found_total if found_total else 1.0, hits / wanted, off_topic)


def cost_per_message(detector: IntentDetector, rounds: int = 5) -> float:
    """CPU seconds `detect` takes per SAMPLES message (the best of `rounds` passes)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for language, text, _ in SAMPLES * 20:
            detector.detect(text, language=language, brand="")
        best = min(best, (time.process_time() - started) / (len(SAMPLES) * 20))
    return best


def main() -> None:
    """Prints the threshold sweep and the cost:
    `.venv/bin/python -m tests.unit.enrichment.intent_samples`."""
    care = load_care_config()
    only_examples = taxonomy(care, keywords=False)
    print(
        f"labelled set: {len(SAMPLES)} messages, {sum(1 for s in SAMPLES if s[2])} with an intent"
    )
    for threshold in (0.06, 0.08, 0.10, 0.11, 0.12, 0.13, 0.14, 0.16, 0.20, 0.25, 0.30):
        result = score(IntentDetector(only_examples, example_threshold=threshold))
        print(
            f"examples only, threshold {threshold:.2f}: precision {result.precision:.3f} "
            f"recall {result.recall:.3f} F1 {result.f1:.3f} "
            f"(off-topic hits {result.false_positives})"
        )
    for label, config in (
        ("keywords only", taxonomy(care, examples=False)),
        ("keywords + examples", care),
    ):
        result = score(IntentDetector(config))
        print(
            f"{label} at {THRESHOLD}: precision {result.precision:.3f} recall "
            f"{result.recall:.3f} (off-topic hits {result.false_positives})"
        )
    for label, config in (
        ("keywords only", taxonomy(care, examples=False)),
        ("keywords + examples", care),
    ):
        detector = IntentDetector(config)
        cost_per_message(detector, rounds=1)  # compiles every language first
        print(f"{label}: {cost_per_message(detector) * 1e6:.1f} µs CPU per message")


if __name__ == "__main__":
    main()
