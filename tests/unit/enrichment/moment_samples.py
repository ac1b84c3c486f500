"""Labelled customer messages for `enrichment.moments`: personal moments and the product or
process words that only look like them, in every language the phrases cover.

`DEVELOPMENT` is what the phrases were written and corrected against (the unit tests
require every one to come out exactly as labelled). `HELD_OUT` was written afterwards, by
the same rules, and measured once (micro precision 0.93, recall 0.89) before the phrases'
second round used its mistakes; `FRESH` was written after that round and measured once
(0.84, 0.92) before a third. So each set's first figure is the honest one; what
`test_moments.py` prints now is after the phrases learnt from them (it fails only below a
floor).

Each sample: (language, text, the kinds it mentions). The labelling rule: the customer's
own (or their family's) event, told as news or as a reason; not a product, a form field,
a company promotion or an idiom.
"""

from __future__ import annotations

Sample = tuple[str, str, frozenset[str]]


def _s(language: str, text: str, *kinds: str) -> Sample:
    return (language, text, frozenset(kinds))


DEVELOPMENT: tuple[Sample, ...] = (
    # -- English -------------------------------------------------------------------------
    _s("en", "We just had our baby girl last night and the heating is broken, please help!", "birth"),  # noqa: E501
    _s("en", "My wife is pregnant and we have no hot water since Monday.", "birth"),
    _s("en", "I'm on maternity leave until March, can I pause my contract?", "birth"),
    _s("en", "Where do I upload my birth certificate for the account change?"),
    _s("en", "Your form asks for my date of birth twice."),
    _s("en", "The baby monitor I ordered arrived broken."),
    _s("en", "We are getting married in June and moving into a new flat, can we transfer the contract?", "wedding", "new_home"),  # noqa: E501
    _s("en", "The wedding dress I ordered is out of stock, the wedding is in two weeks!", "wedding"),  # noqa: E501
    _s("en", "Just got engaged and my phone died during the proposal video lol", "wedding"),
    _s("en", "The line is engaged every time I call your helpdesk."),
    _s("en", "My nephew is coming over from Australia and wants to see a football match, can I upgrade my data?", "trip"),  # noqa: E501
    _s("en", "We're going on holiday next week, can you pause the delivery?", "trip"),
    _s("en", "The trip switch keeps going off when I turn on the oven."),
    _s("en", "The circuit breaker tripped again after your engineer left."),
    _s("en", "Are you open on the bank holiday?"),
    _s("en", "It's my daughter's birthday tomorrow and the parcel with her present is lost.", "birthday"),  # noqa: E501
    _s("en", "Where is my birthday discount code? The app says it expired."),
    _s("en", "We just moved house and the meter readings are wrong.", "new_home"),
    _s("en", "My parcel has not moved from the depot for five days."),
    _s("en", "Can I move my appointment to Friday?"),
    _s("en", "I graduated last week and need to switch to a cheaper plan.", "graduation"),
    _s("en", "Your graduated pricing for business users is confusing."),
    _s("en", "Started a new job today so I can finally pay the outstanding bill.", "new_job"),
    _s("en", "My print job is stuck in the queue since the update."),
    _s("en", "It's our 25th wedding anniversary on Saturday, can the flowers arrive Friday?", "anniversary"),  # noqa: E501
    _s("en", "Is the anniversary sale still on?"),
    _s("en", "I just retired and want to move to a smaller package.", "retirement"),
    _s("en", "You retired the old router model, what do I use now?"),
    _s("en", "My father passed away last month and I need to close his account.", "bereavement"),
    _s("en", "My phone battery died in the middle of the call."),
    _s("en", "My husband is in hospital and I can't reach anyone about the outage.", "illness"),
    _s("en", "I am sick of waiting for an answer from you."),
    _s("en", "I've been very ill for weeks, sorry for the late payment.", "illness"),
    _s("en", "Congrats on the new website, looks great."),
    _s("en", "My mum had surgery yesterday and the landline is dead, she needs it.", "illness"),
    _s("en", "Our son was born on Tuesday in the hospital, and now the internet is down at home.", "birth"),  # noqa: E501
    _s("en", "My grandmother died in hospital and I need her energy contract cancelled.", "bereavement"),  # noqa: E501
    _s("en", "Please send the contract to my new address."),
    _s("en", "Happy holidays to the team!"),
    _s("en", "Tickets for the concert were charged twice on my card.", "trip"),
    # -- Dutch ---------------------------------------------------------------------------
    _s("nl", "Onze dochter is gisteren geboren en nu valt de stroom steeds uit!", "birth"),
    _s("nl", "Ik ben zwanger en de monteur komt pas over drie weken, kan het eerder?", "birth"),
    _s("nl", "Welk document moet ik uploaden, mijn geboorteakte?"),
    _s("nl", "Wij gaan in september trouwen, kunnen we het contract op twee namen zetten?", "wedding"),  # noqa: E501
    _s("nl", "Ik ben al tien jaar trouwe klant en zo word ik behandeld?"),
    _s("nl", "We gaan morgen op vakantie, kan de levering een week later?", "trip"),
    _s("nl", "Wanneer wordt het vakantiegeld uitbetaald in de app?"),
    _s("nl", "Mijn zoon is morgen jarig en het cadeau is nog niet bezorgd.", "birthday"),
    _s("nl", "We verhuizen volgende maand, hoe geef ik mijn nieuwe adres door?", "new_home"),
    _s("nl", "Ik ben afgestudeerd en wil een studentenkorting stopzetten.", "graduation"),
    _s("nl", "Per 1 april heb ik een nieuwe baan, dus ik kan de achterstand betalen.", "new_job"),
    _s("nl", "Mijn man en ik zijn 40 jaar getrouwd, kan de taart zaterdag komen?", "anniversary"),
    _s("nl", "Mijn vader gaat met pensioen en wil een kleiner abonnement.", "retirement"),
    _s("nl", "Mijn moeder is vorige week overleden, hoe zeg ik haar contract op?", "bereavement"),
    _s("nl", "Ik lig in het ziekenhuis en kan niet bellen, antwoord graag hier.", "illness"),
    _s("nl", "Ik heb al drie keer contact opgenomen en niemand belt terug."),
    _s("nl", "Ik word er ziek van dat niemand reageert."),
    _s("nl", "Het pakket is naar een ander depot verhuisd volgens de track & trace."),
    _s("nl", "De betaling is geslaagd maar ik zie niets in mijn account."),
    _s("nl", "Mijn neef uit Australië komt logeren en wil naar een voetbalwedstrijd, hebben jullie een tijdelijke bundel?", "trip"),  # noqa: E501
    # -- German --------------------------------------------------------------------------
    _s("de", "Unsere Tochter ist gestern geboren und jetzt fällt der Strom aus!", "birth"),
    _s("de", "Ich brauche die Geburtsurkunde nicht, warum fragen Sie danach?"),
    _s("de", "Wir heiraten im Mai, können wir den Vertrag zusammenlegen?", "wedding"),
    _s("de", "Wir sind im Urlaub und die Heizung lässt sich per App nicht steuern.", "trip"),
    _s("de", "Wo finde ich meinen Reisepass-Scan im Kundenkonto?"),
    _s("de", "Mein Sohn hat morgen Geburtstag und das Paket ist nicht angekommen.", "birthday"),
    _s("de", "Wo ist mein Geburtstagsgutschein geblieben?"),
    _s("de", "Wir sind umgezogen und der Zähler steht noch auf dem alten Namen.", "new_home"),
    _s("de", "Ich habe mein Studium abgeschlossen und brauche keinen Studententarif mehr.", "graduation"),  # noqa: E501
    _s("de", "Ich habe einen neuen Job und kann die Rate jetzt zahlen.", "new_job"),
    _s("de", "Zum Vertragsabschluss fehlt noch die Unterschrift."),
    _s("de", "Ich gehe nächsten Monat in Rente, gibt es einen Seniorentarif?", "retirement"),
    _s("de", "Mein Vater ist verstorben, wie kündige ich seinen Vertrag?", "bereavement"),
    _s("de", "Ich liege im Krankenhaus und kann nicht telefonieren.", "illness"),
    _s("de", "Mein Akku ist gestorben, bevor ich die PIN eingeben konnte."),
    _s("de", "Wir feiern unseren Hochzeitstag und die Blumen sind nicht gekommen.", "anniversary"),
    _s("de", "Die Rechnung ist viel zu hoch, das ist doch kein Urlaubsgeld."),
    _s("de", "Mein Neffe aus Australien will ins Stadion zum Spiel, gibt es ein Datenpaket?", "trip"),  # noqa: E501
    # -- French --------------------------------------------------------------------------
    _s("fr", "Je suis enceinte et la box ne marche plus depuis une semaine.", "birth"),
    _s("fr", "Notre fille est née hier et il n'y a plus de chauffage !", "birth"),
    _s("fr", "Pourquoi le formulaire demande ma date de naissance deux fois ?"),
    _s("fr", "On se marie en juin, peut-on mettre le contrat à deux noms ?", "wedding"),
    _s("fr", "Nous partons en vacances demain, pouvez-vous décaler la livraison ?", "trip"),
    _s("fr", "C'est mon anniversaire samedi et le colis n'est toujours pas là.", "birthday"),
    _s("fr", "Votre offre anniversaire n'est pas appliquée sur ma commande."),
    _s("fr", "Nous avons déménagé et le compteur est toujours à l'ancien nom.", "new_home"),
    _s("fr", "J'ai obtenu mon diplôme et je veux changer d'offre.", "graduation"),
    _s("fr", "J'ai un nouveau travail, je peux enfin régler la facture.", "new_job"),
    _s("fr", "Pour notre anniversaire de mariage, je voulais offrir un téléphone.", "anniversary"),
    _s("fr", "Mon père part à la retraite et veut une offre plus simple.", "retirement"),
    _s("fr", "Ma mère est décédée, comment résilier son contrat ?", "bereavement"),
    _s("fr", "Je suis à l'hôpital et je ne peux pas appeler.", "illness"),
    _s("fr", "Ma batterie est morte au bout d'une heure."),
    _s("fr", "Le match nul de la mise à jour : rien ne marche."),
    _s("fr", "Mon neveu d'Australie vient voir un match de foot, il lui faut une carte SIM.", "trip"),  # noqa: E501
    # -- Spanish -------------------------------------------------------------------------
    _s("es", "Estoy embarazada y llevo una semana sin luz, por favor.", "birth"),
    _s("es", "¿Por qué me piden la partida de nacimiento para cambiar la tarifa?"),
    _s("es", "Nos casamos en junio y queremos poner el contrato a nombre de los dos.", "wedding"),
    _s("es", "Nos vamos de vacaciones mañana, ¿pueden retrasar la entrega?", "trip"),
    _s("es", "Mi sobrino viene de Australia para ver un partido de fútbol y necesito más datos.", "trip"),  # noqa: E501
    _s("es", "Es el cumpleaños de mi hija y el regalo no ha llegado.", "birthday"),
    _s("es", "No me llegó el descuento de cumpleaños."),
    _s("es", "Nos hemos mudado y el contador sigue a nombre del anterior inquilino.", "new_home"),
    _s("es", "Me he graduado y ya no soy estudiante, cambien mi tarifa.", "graduation"),
    _s("es", "Tengo un nuevo trabajo y por fin puedo pagar la deuda.", "new_job"),
    _s("es", "Mi padre se ha jubilado y quiere una tarifa más sencilla.", "retirement"),
    _s("es", "Mi madre falleció el mes pasado, ¿cómo doy de baja su contrato?", "bereavement"),
    _s("es", "Estoy ingresado en el hospital y no puedo llamar.", "illness"),
    _s("es", "En caso de avería, ¿a quién llamo?"),
    _s("es", "El ingreso no aparece en mi cuenta."),
    _s("es", "Ayer se cumple un mes sin respuesta, y no cumple con lo prometido."),
    _s("es", "Celebramos nuestro aniversario y las flores no llegaron.", "anniversary"),
    # -- Italian -------------------------------------------------------------------------
    _s("it", "Sono incinta e la caldaia non funziona da giorni.", "birth"),
    _s("it", "Perché mi chiedete il certificato di nascita?"),
    _s("it", "Ci sposiamo a giugno, possiamo intestare il contratto a tutti e due?", "wedding"),
    _s("it", "Domani partiamo per le vacanze, potete spostare la consegna?", "trip"),
    _s("it", "Devo aggiornare la partita IVA nel profilo aziendale."),
    _s("it", "È il compleanno di mia figlia e il regalo non è arrivato.", "birthday"),
    _s("it", "Abbiamo traslocato e il contatore è ancora intestato al vecchio inquilino.", "new_home"),  # noqa: E501
    _s("it", "Mi sono laureata e non sono più studentessa.", "graduation"),
    _s("it", "Ho un nuovo lavoro e posso finalmente pagare.", "new_job"),
    _s("it", "Mio padre è andato in pensione e vuole un'offerta più semplice.", "retirement"),
    _s("it", "Mia madre è venuta a mancare, come disdico il suo contratto?", "bereavement"),
    _s("it", "Il pacco è scomparso dal tracking."),
    _s("it", "Sono ricoverato in ospedale e non posso telefonare.", "illness"),
    _s("it", "Il telefono è morto dopo l'aggiornamento."),
    _s("it", "Mio nipote arriva dall'Australia e vuole vedere la partita, serve una SIM.", "trip"),
    _s("it", "Per il nostro anniversario volevo regalare un telefono.", "anniversary"),
    # -- Portuguese ----------------------------------------------------------------------
    _s("pt", "Estou grávida e estou sem luz há uma semana.", "birth"),
    _s("pt", "Por que pedem a certidão de nascimento?"),
    _s("pt", "Vamos casar em junho, dá para colocar o contrato nos dois nomes?", "wedding"),
    _s("pt", "Vamos de férias amanhã, podem adiar a entrega?", "trip"),
    _s("pt", "Quero fazer uma mudança de plano para um mais barato."),
    _s("pt", "É o aniversário da minha filha e o presente não chegou.", "birthday"),
    _s("pt", "Nos mudamos e o medidor ainda está no nome do antigo inquilino.", "new_home"),
    _s("pt", "Me formei e não sou mais estudante.", "graduation"),
    _s("pt", "Tenho um novo emprego e finalmente posso pagar a dívida.", "new_job"),
    _s("pt", "Meu pai se aposentou e quer um plano mais simples.", "retirement"),
    _s("pt", "Minha mãe faleceu, como cancelo o contrato dela?", "bereavement"),
    _s("pt", "Estou internado no hospital e não consigo ligar.", "illness"),
    _s("pt", "Meu celular morreu depois da atualização."),
    _s("pt", "Meu sobrinho da Austrália vem ver um jogo de futebol, preciso de um chip.", "trip"),
    _s("pt", "No nosso aniversário de casamento as flores não chegaram.", "anniversary"),
)  # fmt: skip


HELD_OUT: tuple[Sample, ...] = (
    # -- English -------------------------------------------------------------------------
    _s("en", "hiya, little one arrived 3 weeks early so I'm stuck at home, can someone call me about the boiler?", "birth"),  # noqa: E501
    _s("en", "My partner is expecting twins in May, do you offer a family bundle?", "birth"),
    _s("en", "Our honeymoon starts Friday and my card got blocked abroad!!", "wedding", "trip"),
    _s("en", "My sister's wedding is on Saturday and the suit still hasn't shipped", "wedding"),
    _s("en", "Off to Spain tomorrow for two weeks, will roaming work?", "trip"),
    _s("en", "Flying out to visit my family in Canada, how do I add roaming?", "trip"),
    _s("en", "The heating broke down on my 40th birthday, lovely.", "birthday"),
    _s("en", "Moving into our first home next week, need broadband from the 1st.", "new_home"),
    _s("en", "Just got the keys to our new place! How do I set up the meter?", "new_home"),
    _s("en", "Passed my finals, so the student discount can go.", "graduation"),
    _s("en", "Got promoted so I'd like to upgrade to fibre.", "new_job"),
    _s("en", "Mum and dad celebrate 50 years married on Sunday, can I send a card via your shop?", "anniversary"),  # noqa: E501
    _s("en", "My mother passed in March; please stop sending her letters.", "bereavement"),
    _s("en", "Lost my dad last week, can't deal with these bills right now.", "bereavement"),
    _s("en", "I'm recovering from a stroke and can't use the app, can you call instead?", "illness"),  # noqa: E501
    _s("en", "My daughter was diagnosed with cancer and we need a payment break.", "illness"),
    _s("en", "Your hospital cash plan page won't load."),
    _s("en", "The new home hub keeps disconnecting."),
    _s("en", "Is there a holiday surcharge on deliveries?"),
    _s("en", "The wifi died again, third time today."),
    _s("en", "Please update the date of birth on my account, it's wrong."),
    _s("en", "I'm sick and tired of your excuses."),
    _s("en", "How do I retire an old device from my account?"),
    _s("en", "What's the round trip time on your API?"),
    # -- Dutch ---------------------------------------------------------------------------
    _s("nl", "We zijn net papa en mama geworden van een zoontje! Maar de internetverbinding ligt eruit.", "birth"),  # noqa: E501
    _s("nl", "Mijn vriendin is in verwachting, kunnen we het abonnement uitbreiden?", "birth"),
    _s("nl", "Volgende week is onze bruiloft en de jurk is nog niet binnen.", "wedding"),
    _s("nl", "Ik zit in Spanje op vakantie en mijn pas werkt niet.", "trip"),
    _s("nl", "Mijn dochter wordt 18 vandaag en het cadeau is zoek.", "birthday"),
    _s("nl", "Wij hebben een huis gekocht, hoe zet ik de energie over?", "new_home"),
    _s("nl", "Ik ben geslaagd voor mijn examen, kan het studentenpakket eraf?", "graduation"),
    _s("nl", "Mijn schoonvader is overleden en de rekening loopt nog op zijn naam.", "bereavement"),
    _s("nl", "Mijn moeder ligt op de intensive care, ik wil alleen per mail contact.", "illness"),
    _s("nl", "Ik wil mijn vakantiedagen niet kwijt door jullie storing."),
    _s("nl", "Wat kost een reisverzekering bij jullie?"),
    _s("nl", "Ik heb de operatie van mijn bestelling gevolgd maar er gebeurt niets."),
    # -- German --------------------------------------------------------------------------
    _s("de", "Wir sind Eltern geworden und brauchen schnell eine Lösung für die Heizung.", "birth"),
    _s("de", "Meine Frau ist schwanger und wir haben seit Tagen kein Warmwasser.", "birth"),
    _s("de", "Wir haben letzte Woche geheiratet, wie ändere ich den Nachnamen im Vertrag?", "wedding"),  # noqa: E501
    _s("de", "Wir fliegen nach Kanada zu meiner Schwester, wie aktiviere ich Roaming?", "trip"),
    _s("de", "Ich werde morgen 60 und das Geschenk ist nicht da.", "birthday"),
    _s("de", "Wir ziehen um, wie melde ich den Zähler ab?", "new_home"),
    _s("de", "Meine Oma ist letzte Woche gestorben, ich kümmere mich um ihre Verträge.", "bereavement"),  # noqa: E501
    _s("de", "Ich bin schwer krank und kann die Raten gerade nicht zahlen.", "illness"),
    _s("de", "Der Umzugsservice auf Ihrer Website funktioniert nicht."),
    _s("de", "Bitte schicken Sie mir die Reisekostenabrechnung."),
    _s("de", "Die Operation an Ihrem Server hat meinen Anschluss lahmgelegt."),
    # -- French --------------------------------------------------------------------------
    _s("fr", "On vient d'avoir un petit garçon, et plus d'internet à la maison !", "birth"),
    _s("fr", "Nous venons de nous marier, comment changer le nom sur le contrat ?", "wedding"),
    _s("fr", "Je suis en voyage au Japon et ma carte ne marche pas.", "trip"),
    _s("fr", "Mon mari est hospitalisé, je gère ses factures.", "illness"),
    _s("fr", "Mon grand-père est décédé la semaine dernière.", "bereavement"),
    _s("fr", "J'ai décroché un CDI, je peux régler l'arriéré.", "new_job"),
    _s("fr", "Votre service client est mort ou quoi ?"),
    _s("fr", "Le voyage de mon colis prend une éternité."),
    _s("fr", "Je dois mettre à jour mon acte de naissance dans l'espace client ?"),
    # -- Spanish -------------------------------------------------------------------------
    _s("es", "Acabamos de ser padres y nos han cortado la luz, ¡por favor!", "birth"),
    _s("es", "Mi hija se casa el sábado y el vestido no ha llegado.", "wedding"),
    _s("es", "Estoy de viaje en México y no tengo datos.", "trip"),
    _s("es", "Mi abuelo murió y quiero cancelar su línea.", "bereavement"),
    _s("es", "Me han operado de la rodilla y no puedo ir a la tienda.", "illness"),
    _s("es", "El partido político de turno no arregla esto."),
    _s("es", "La operación con mi tarjeta fue rechazada."),
    _s("es", "Quiero la factura de la mudanza del contador a otra dirección.", "new_home"),
    # -- Italian -------------------------------------------------------------------------
    _s("it", "È nata la nostra bambina e siamo senza corrente!", "birth"),
    _s("it", "Siamo in viaggio di nozze e la carta non funziona.", "wedding"),
    _s("it", "Sono all'estero per lavoro e il roaming non va."),
    _s("it", "Mio marito è in ospedale, gestisco io il contratto.", "illness"),
    _s("it", "Il nonno è morto a marzo, come chiudo l'utenza?", "bereavement"),
    _s("it", "Festeggio i miei 50 anni, il compleanno è domani e il pacco non c'è.", "birthday"),
    _s("it", "La partita doppia della fattura non torna."),
    # -- Portuguese ----------------------------------------------------------------------
    _s("pt", "Acabei de ser mãe e estou sem internet em casa.", "birth"),
    _s("pt", "Ficamos noivos e queremos juntar as contas.", "wedding"),
    _s("pt", "Estou viajando pela Europa e o roaming não funciona.", "trip"),
    _s("pt", "Meu avô faleceu e preciso encerrar a conta dele.", "bereavement"),
    _s("pt", "Fui promovida e quero mudar para o plano premium.", "new_job"),
    _s("pt", "A mudança de titularidade ainda não foi feita."),
    _s("pt", "Meu pai fez uma cirurgia e não pode ir à loja.", "illness"),
)  # fmt: skip


# Written after the phrases' second round (commit f681093), by the same rules, and not
# used to change a phrase since: the current phrases' honest figures.
FRESH: tuple[Sample, ...] = (
    # -- English -------------------------------------------------------------------------
    _s("en", "Baby number two arrived on Sunday! Now the boiler has packed in, typical.", "birth"),
    _s("en", "I'm 7 months pregnant and standing in the cold, please send someone today", "birth"),
    _s("en", "We got married on Saturday, can you change my surname on the account?", "wedding"),
    _s("en", "Travelling to Thailand next month, does my plan include roaming?", "trip"),
    _s("en", "It's my son's 18th birthday on Friday and the console still isn't here", "birthday"),
    _s("en", "We're moving house on the 12th, how do I take my broadband with me?", "new_home"),
    _s("en", "Just graduated and landed my first job, can I get a better contract now?", "graduation", "new_job"),  # noqa: E501
    _s("en", "My husband passed away in October, the account is in his name.", "bereavement"),
    _s("en", "I've just come out of hospital and found the power cut off.", "illness"),
    _s("en", "Retiring at the end of the month, what's the cheapest tariff?", "retirement"),
    _s("en", "Your app crashed during my daughter's graduation livestream", "graduation"),
    _s("en", "Can I pay for my holiday with points?", "trip"),
    _s("en", "Your weekend offer expired before I could use it."),
    _s("en", "The delivery moved to Thursday without notice."),
    _s("en", "I have been waiting since my birthday month for this refund"),
    _s("en", "Does the family plan cover my kids' phones?"),
    _s("en", "My account died after the migration, nothing loads."),
    _s("en", "The operation failed with error 503."),
    _s("en", "Is the new job scheduler in your API available for business accounts?"),
    # -- Dutch ---------------------------------------------------------------------------
    _s("nl", "Gefeliciteerd met jullie nieuwe app, maar mijn factuur klopt niet."),
    _s("nl", "Onze tweeling is vorige week geboren en nu doet de cv-ketel het niet!", "birth"),
    _s("nl", "Wij trouwen in mei en willen alles op één adres.", "wedding"),
    _s("nl", "Mijn opa is afgelopen weekend overleden, wat moet ik met zijn abonnement?", "bereavement"),  # noqa: E501
    _s("nl", "Ik ben net geopereerd en kan niet naar de winkel.", "illness"),
    _s("nl", "We gaan verhuizen naar Utrecht, kan het contract mee?", "new_home"),
    _s("nl", "Vanaf maandag begin ik aan mijn nieuwe baan, dus ik betaal dan.", "new_job"),
    _s("nl", "Mijn storing is nog steeds niet opgelost, ik word gek."),
    _s("nl", "Hoe verhuis ik mijn e-mailadres naar een ander account?"),
    # -- German --------------------------------------------------------------------------
    _s("de", "Unser Baby ist letzte Nacht auf die Welt gekommen und das Internet ist weg.", "birth"),  # noqa: E501
    _s("de", "Wir haben uns verlobt und wollen einen gemeinsamen Vertrag.", "wedding"),
    _s("de", "Ich bin im Urlaub in Italien und kann nicht telefonieren.", "trip"),
    _s("de", "Meine Mutter ist verstorben, bitte kündigen Sie ihren Vertrag.", "bereavement"),
    _s("de", "Ich habe mein Abitur bestanden, brauche ich noch den Schülertarif?", "graduation"),
    _s("de", "Der Umzug meiner Daten in die Cloud klappt nicht."),
    _s("de", "Die Hochzeit der Preise bei Ihnen ist vorbei, oder?"),
    _s("de", "Mein Router ist tot, bitte schnell Ersatz."),
    # -- French --------------------------------------------------------------------------
    _s("fr", "Je viens d'accoucher et on n'a plus d'eau chaude.", "birth"),
    _s("fr", "Nous nous marions samedi et la livraison de la robe est en retard.", "wedding"),
    _s("fr", "Mon père est décédé le mois dernier, je dois fermer sa ligne.", "bereavement"),
    _s("fr", "J'ai déménagé à Lyon, comment transférer mon abonnement ?", "new_home"),
    _s("fr", "Ma fille fête ses 18 ans samedi, le cadeau n'est pas arrivé.", "birthday"),
    _s("fr", "Mon mari est malade et ne peut pas se déplacer en boutique.", "illness"),
    _s("fr", "Le voyage de la commande prend trois semaines ?"),
    _s("fr", "Votre mise à jour a tué ma batterie."),
    _s("fr", "Le mariage entre vos deux offres est une catastrophe."),
    # -- Spanish -------------------------------------------------------------------------
    _s("es", "Acaba de nacer mi nieta y no tengo cobertura en el hospital.", "birth"),
    _s("es", "Me voy de viaje a Japón, ¿cómo activo el roaming?", "trip"),
    _s("es", "Mi marido falleció en marzo y la factura sigue a su nombre.", "bereavement"),
    _s("es", "Nos mudamos la semana que viene, ¿cómo traslado la fibra?", "new_home"),
    _s("es", "Estoy enferma y no puedo ir a la tienda.", "illness"),
    _s("es", "La boda de mi hermana es el sábado y el traje no ha llegado.", "wedding"),
    _s("es", "Llevo de vacaciones el router desde agosto, ¡es broma! no funciona."),
    _s("es", "Mi cuenta ha muerto después de la actualización."),
    # -- Italian -------------------------------------------------------------------------
    _s("it", "Sono diventato papà ieri e la linea è ancora giù!", "birth"),
    _s("it", "Ci siamo sposati a settembre, come unisco i contratti?", "wedding"),
    _s("it", "Sono in vacanza in Grecia e il roaming non va.", "trip"),
    _s("it", "Mia nonna è morta la settimana scorsa, devo chiudere il suo contratto.", "bereavement"),  # noqa: E501
    _s("it", "Ho traslocato a Milano, come sposto la linea?", "new_home"),
    _s("it", "Il compleanno del negozio è una scusa per alzare i prezzi?"),
    _s("it", "Il servizio clienti è morto?"),
    _s("it", "La consegna è in viaggio da due settimane."),
    # -- Portuguese ----------------------------------------------------------------------
    _s("pt", "A minha filha nasceu ontem e estamos sem luz!", "birth"),
    _s("pt", "Vamos casar em outubro, podemos juntar as faturas?", "wedding"),
    _s("pt", "Estou de férias no Algarve e o roaming não funciona.", "trip"),
    _s("pt", "O meu marido faleceu, como cancelo a linha dele?", "bereavement"),
    _s("pt", "Mudei de casa e quero transferir o contrato.", "new_home"),
    _s("pt", "Estou doente e não consigo ir à loja.", "illness"),
    _s("pt", "O meu telemóvel morreu depois da atualização."),
    _s("pt", "A viagem da encomenda já vai em três semanas."),
)  # fmt: skip
