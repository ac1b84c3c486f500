"""The wording of personal moments per language: what `moments` looks for.

Why hand-written phrases and not single words: a wrong "congratulations" hurts more than a
missed one, and the words of these moments are also the words of products and processes
("birth certificate", "trip switch", "date de naissance", "partita IVA", "vakantiegeld",
"mudança de plano"). So a pattern names the customer's own event ("we just had our baby",
"mijn vader is overleden", "nos vamos de vacaciones") and a veto names the product or
process use of the same words; a pattern's match that overlaps one of its kind's vetoes
does not count.

Syntax: Python regular expressions over folded text (`core.domain.keywords.fold`: NFKC,
case-folded, accents kept, "ß" is "ss"; typographic apostrophes read as "'"). A space
stands for any run of white space, " ?" for an optional one. Every pattern matches whole
words (the compiler adds the word boundaries). `ANCHORS` are, per language and kind, the
word stems (three characters or more) one of which every match contains: a message
without any is not searched further (the fast path). They are derived from the patterns
(`tests/unit/enrichment/moment_stems.py`), so the gate never hides a match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["ANCHORS", "KINDS", "LEXICONS", "Phrases", "compile_phrase"]

KINDS: Final = (
    "birth",
    "wedding",
    "trip",
    "birthday",
    "new_home",
    "graduation",
    "new_job",
    "anniversary",
    "retirement",
    "bereavement",
    "illness",
)


@dataclass(frozen=True, slots=True)
class Phrases:
    """One kind's wording in one language: what mentions it, and what only looks like it."""

    patterns: tuple[str, ...]
    vetoes: tuple[str, ...] = ()


def compile_phrase(pattern: str) -> str:
    """A pattern as the whole-word expression matched against folded text: a space is any
    run of white space, " ?" an optional one ("all' ?ospedale")."""
    body = pattern.replace(" ?", r"\s*").replace(" ", r"\s+")
    return r"(?<!\w)(?:" + body + r")(?!\w)"


# -- English -----------------------------------------------------------------------------
_EN_POSS = r"(?:my|our|his|her|their)"
_EN_KIN = (
    r"(?:mother|mum|mom|mommy|mummy|father|dad|daddy|husband|wife|partner|son|daughter|"
    r"brother|sister|grandmother|grandfather|grandma|grandpa|granny|gran|nan|nana|"
    r"uncle|aunt|auntie|cousin|nephew|niece|baby|child|fianc[eé]e?|best friend|friend|"
    r"mother-in-law|father-in-law|dog|cat)"
)
# Family (without pets: "lost my dog" is a dog gone missing).
_EN_FAMILY = (
    r"(?:mother|mum|mom|father|dad|husband|wife|partner|son|daughter|brother|sister|"
    r"grandmother|grandfather|grandma|grandpa|granny|uncle|aunt|auntie|cousin|nephew|niece|"
    r"baby|child|fianc[eé]e?|best friend)"
)
# What follows "home" when it is a product: "my new home hub", "buy a home charger".
_EN_NOT_PRODUCT = (
    r"(?!\s+(?:router|hub|assistant|speaker|system|insurance|contents|charger|battery|"
    r"phone|alarm|security|network|kit|internet|broadband|wifi|wi-fi|office|screen|page))"
)
# What follows "baby" when it is a product: "baby monitor", "baby formula".
_EN_BABY = (
    r"bab(?:y|ies)(?!\s+(?:monitor|formula|food|milk|bottles?|seat|carrier|stroller|buggy|"
    r"gate|wipes|clothes|products?|shampoo|powder|bath|cam|camera|toys?|items?|shop|"
    r"store|section|department|range|brand|oil|lotion|box))"
)
_EN: Mapping[str, Phrases] = {
    "birth": Phrases(
        patterns=(
            rf"(?:had|just had|have had|welcomed) (?:a|our|my|the)(?: first| second| third|"
            rf" new| little)? (?:{_EN_BABY}|newborn|son|daughter|twins|boy|girl|little one)",
            r"had twins",
            r"gave birth",
            r"(?:baby|son|daughter|twins|grandson|granddaughter|little one|boy|girl|"
            r"grandchild|grandbaby) (?:was|were|has been|have been|got|is|just) (?:just )?born",
            r"(?:was|were) born (?:yesterday|today|last (?:night|week|month)|"
            r"this (?:morning|week|month)|on (?:monday|tuesday|wednesday|thursday|friday|"
            r"saturday|sunday))",
            r"(?:just|recently) born",
            r"newborn(?!\s+(?:size|range|clothes|nappies|diapers))",
            rf"new {_EN_BABY}",
            r"pregnan(?:t|cy)",
            r"expecting (?:a |our |my )?(?:first |second |third |little )?"
            r"(?:baby|child|boy|girl|little one|twins)",
            rf"(?:{_EN_BABY}|little one|twins) (?:has |have |finally |just )*arrived",
            r"baby (?:number|no\.?) (?:\w+) (?:has |is |was )?(?:arrived|born|here)",
            r"expecting (?:our|my) (?:first|second|third)",
            r"(?:maternity|paternity|parental) leave",
            r"(?:became|become|becoming|be) (?:a )?(?:first[- ]time )?(?:dad|father|mum|mom|"
            r"mother|parents|grandparents|grandma|grandpa|granddad|grandmother|grandfather)",
            r"baby shower",
            rf"birth of {_EN_POSS}",
        ),
        vetoes=(
            r"birth certificate",
            r"pregnancy (?:test|pillow|vitamins?|tests)",
        ),
    ),
    "wedding": Phrases(
        patterns=(
            r"wedding(?:s|\s+day)?",
            r"(?:getting|got|get|just|be|being|recently|newly) married",
            r"(?:we're|we are|i'm|i am|we|i|they|she|he) (?:will be |are going to |"
            r"am going to )?(?:marrying|getting hitched|tying the knot)",
            r"(?:got|just got|we're|we are|i'm|i am|recently|newly|just|she|he|they) engaged",
            r"engagement (?:ring|party)",
            r"(?:my|our) engagement",
            rf"{_EN_POSS} (?:fianc[eé]e?|bride|groom|husband-to-be|wife-to-be)",
            r"honeymoon",
            r"bride(?:smaid)?s?",
        ),
        vetoes=(
            r"wedding anniversary",
            r"(?:years?|anniversary) of (?:our )?wedding",
        ),
    ),
    "trip": Phrases(
        patterns=(
            r"(?:on|going on|go on|our|my|family|summer|winter|ski|beach|camping) "
            r"(?:holiday|holidays|vacation)",
            r"(?:holiday|vacation) (?:in|to|abroad|with|next|this|starts|home)",
            r"vacation",
            rf"{_EN_POSS} (?:trip|journey) (?:to|abroad|home|back)",
            r"(?:road|family|weekend|city|ski|business) trip",
            r"(?:going|travel|travelling|traveling|flying|fly|flew|off) (?:abroad|"
            r"to (?:australia|america|spain|italy|france|portugal|greece|turkey|"
            r"thailand|japan|canada|mexico|brazil|new york|london|paris|rome))",
            rf"visit(?:ing)? {_EN_POSS} (?:family|relatives|parents|grandparents|"
            r"grandchildren|son|daughter|sister|brother|in-laws) (?:in|abroad|overseas)",
            rf"{_EN_KIN} (?:is |are )?(?:coming |flying |visiting |over )*(?:from|in) "
            r"(?:australia|america|canada|abroad|overseas|new zealand)",
            r"(?:to|go to|going to|went to) (?:a|the) (?:football|soccer|rugby|cricket|basketball|"
            r"baseball|hockey) (?:match|game)",
            r"tickets? (?:to|for) (?:a|the|their|his|her) (?:concert|match|game|festival|show)",
            r"(?:to|at) (?:a|the|their|his|her) concert",
            r"at the stadium",
        ),
        vetoes=(
            r"(?:bank|public|national) holidays?",
            r"holiday (?:hours|opening|closing|closure|schedule|surcharge|pay|season sale)",
            r"(?:happy|merry) holidays",
        ),
    ),
    "birthday": Phrases(
        patterns=(
            r"birthdays?",
            r"bday",
            r"(?:turned|turning|turns) (?:\d{2}|thirty|forty|fifty|sixty|seventy|eighty|"
            r"ninety|a hundred)(?! (?:minutes|hours|days|degrees|percent|%|euros?|pounds?))",
        ),
        vetoes=(
            r"birthday (?:discount|voucher|offer|promo|promotion|coupon|code|bonus|reward|"
            r"points|credit|sale|deal|email|e-mail|message from you)",
            r"since (?:my|his|her|our) birthday",
        ),
    ),
    "new_home": Phrases(
        patterns=(
            r"mov(?:ing|e|ed) (?:house|home|flat|apartment)",
            r"(?:we|i|we've|i've|we have|i have|have just|just|recently) moved "
            r"(?:in|into|here|house|home|abroad|last|this|yesterday|out)(?!\s+(?:the|it|my|"
            r"our|your|a|an|this|that)\s)",
            r"(?:moving|move|moved) (?:in|into|to) (?:a|our|my|the) new "
            r"(?:house|home|flat|apartment|place|address)",
            rf"{_EN_POSS} (?:new|first) (?:house|home|flat|apartment|place){_EN_NOT_PRODUCT}",
            r"(?:bought|buying|buy) (?:a|our|my) (?:first )?(?:house|home|flat|apartment)"
            + _EN_NOT_PRODUCT,
            r"moving day",
            r"housewarming",
            r"got the keys",
        ),
    ),
    "graduation": Phrases(
        patterns=(
            r"graduat(?:ed|ing|ion)(?!\s+(?:pricing|prices|tariff|rates?|scale|cylinder))",
            r"(?:got|received|finished|completed|earned) (?:my|her|his|their) "
            r"(?:degree|diploma|masters?|master's|bachelor's|phd|doctorate)",
            r"passed (?:my|her|his|their|the) (?:exams|finals|bar|boards|driving test|"
            r"final exams)",
            r"(?:phd|thesis) defen[cs]e",
            r"finished (?:my|her|his) (?:studies|degree|thesis)",
        ),
    ),
    "new_job": Phrases(
        patterns=(
            r"(?<!print\s)(?<!cron\s)(?<!batch\s)new (?:job|position|role|employer)"
            r"(?! (?:scheduler|queue|type|id|number|status|title|runner|api|board|posting|"
            r"listing))",
            r"(?:started|starting|start|got|landed|accepted) (?:a|my|her|his) "
            r"(?:new |first )?(?:job|position|role)(?! (?:queue|order|ticket|request))",
            r"got the job",
            r"got (?:hired|promoted|a promotion)",
            r"(?:been|was|were|got) (?:hired|promoted)",
            r"first day (?:at|of) (?:my |the |her |his )?(?:new )?(?:job|work)",
        ),
    ),
    "anniversary": Phrases(
        patterns=(
            r"(?:our|my|wedding|silver|golden|diamond|ruby|pearl|\d{1,2}(?:st|nd|rd|th)|"
            r"first|tenth|twentieth|twenty-fifth|fiftieth) (?:wedding )?anniversary",
            r"(?:years?|anniversary) of (?:our )?wedding",
            r"married (?:for )?(?:\d{1,2}|ten|twenty|thirty|forty|fifty) years",
            r"(?:\d{1,2}|ten|twenty|thirty|forty|fifty) years (?:married|together)",
        ),
        vetoes=(r"anniversary (?:sale|edition|offer|deal|discount|promo|promotion|model)",),
    ),
    "retirement": Phrases(
        patterns=(
            r"(?:i|we|he|she|husband|wife|dad|mum|mom|father|mother) (?:just |recently |"
            r"finally |have |has |had )?retired(?! (?:the|that|this|it|them|my|our|your|an?|"
            r"old|some|all))",
            r"(?:going to|about to|will|i'll|we'll|he'll|she'll) retire (?:next|this|in|at|"
            r"from|soon|early)",
            r"(?:i'm|i am|we're|we are|he's|he is|she's|she is|is) retiring",
            r"retiring (?:at|in|next|this|on|from|soon|after|early)",
            rf"{_EN_POSS} retirement(?!\s+(?:account|plan|fund|savings|pension|investments?|"
            r"income|portfolio|age|policy|annuity))",
            r"retirement (?:party|celebration|gift|present|do)",
            r"retired (?:last|this|yesterday|today|after)",
            r"(?:newly|recently|just) retired",
        ),
    ),
    "bereavement": Phrases(
        patterns=(
            r"passed away",
            r"(?:has|have|had) passed on",
            rf"{_EN_POSS} (?:late )?{_EN_KIN} (?:has |had |just |recently |sadly )*"
            r"(?:died|passed|passed away|is gone|lost (?:his|her|their) battle)",
            rf"lost {_EN_POSS} {_EN_FAMILY}(?!'s)",
            rf"{_EN_POSS} late {_EN_KIN}",
            rf"(?:death|loss|funeral|passing) of {_EN_POSS} (?:late )?{_EN_KIN}",
            r"funerals?",
            r"bereave(?:d|ment)",
            r"(?:widow|widowed|widower)",
        ),
        vetoes=(
            r"bereavement (?:policy|team|department|form)",
            r"funeral (?:plan|cover|insurance|policy)",
        ),
    ),
    "illness": Phrases(
        patterns=(
            r"(?:in|at|to|from|into|out of|left|leave|leaving|admitted to) (?:the )?"
            r"hospital(?!\s+(?:bills?|parking|wifi|wi-fi|radio))",
            r"hospitali[sz]ed",
            r"(?:i|we|he|she|they)(?:'m|'re| am| are| is|'s| was| were| have been| has been|"
            r"'ve been) (?:very |seriously |really |terribly |quite |so )?(?:ill|sick)"
            r"(?! (?:of|and tired|with (?:worry|this|it|you)))",
            r"(?:surgery|operation) (?:on|for) (?:my|his|her)",
            r"(?:had|having|have|need|needs|recovering from|after) (?:an? |my |his |her )?"
            r"(?:surgery|operation|chemo|chemotherapy|heart attack|stroke)",
            r"(?:diagnosed|battling|fighting|treatment for) (?:with )?(?:cancer|leukemia|"
            r"leukaemia|a tumou?r|ms|diabetes|covid|pneumonia|dementia)",
            r"cancer",
            r"chemo(?:therapy)?",
            r"intensive care|icu",
            r"broke (?:my|his|her) (?:leg|arm|hip|wrist|ankle|back|foot)",
        ),
        vetoes=(
            r"(?:cancer|hospital) (?:charity|research|fundraiser|foundation)",
            r"(?:cancer|critical illness) (?:cover|insurance|policy)",
            r"(?:work|works|working|worked|job|nurse|doctor|shift|shifts)(?: \w+){0,3} "
            r"(?:at|in) (?:the |a )?hospital",
        ),
    ),
}

# -- Dutch -------------------------------------------------------------------------------
_NL_POSS = r"(?:mijn|onze|ons|m'n|zijn|haar|hun)"
_NL_KIN = (
    r"(?:moeder|mama|vader|papa|pa|ma|man|vrouw|partner|zoon|dochter|zoontje|dochtertje|"
    r"broer|zus|zusje|broertje|opa|oma|oom|tante|neef|nicht|kind|kindje|baby|vriend|"
    r"vriendin|schoonmoeder|schoonvader|hond|kat|verloofde)"
)
_NL: Mapping[str, Phrases] = {
    "birth": Phrases(
        patterns=(
            r"(?:zoon|dochter|zoontje|dochtertje|kindje|kind|baby|tweeling|kleinzoon|"
            r"kleindochter|kleinkind) (?:is|zijn) (?:net |gisteren |vandaag |vorige week |"
            r"pas )?geboren",
            r"(?:net|pas|gisteren|vandaag) (?:geboren|bevallen)",
            r"bevallen",
            r"bevalling",
            r"zwanger(?:schap)?",
            r"in verwachting",
            r"pasgeboren\w*",
            r"kraam(?:tijd|week|bezoek|zorg|feest|vrouw)",
            r"(?:vader|moeder|papa|mama|opa|oma|ouders) geworden",
            r"(?:een|ons|onze) (?:zoon|dochter|zoontje|dochtertje|kindje|baby|tweeling) "
            r"gekregen",
            r"zwangerschapsverlof|ouderschapsverlof|bevallingsverlof|geboorteverlof",
            rf"geboorte van {_NL_POSS}",
        ),
        vetoes=(r"zwangerschapstest\w*",),
    ),
    "wedding": Phrases(
        patterns=(
            r"bruiloft(?:en)?",
            r"(?:gaan|gaat|ga|wil|willen|zullen) (?:\w+ ){0,3}trouwen",
            r"(?:we|wij|ik|jullie|zij) trouw(?:en)?(?! (?:klant|klanten))",
            r"(?:net|pas|onlangs|gisteren|vandaag|vorige week|vorige maand) getrouwd",
            r"trouw(?:dag|jurk|pak|ringen|ring|locatie|erij)",
            r"verloofd",
            r"verloving",
            r"huwelijksreis|huwelijksfeest",
            rf"{_NL_POSS} (?:verloofde|aanstaande (?:man|vrouw)|bruid|bruidegom)",
        ),
        vetoes=(
            r"(?:zilveren|gouden|koperen|robijnen|diamanten|briljanten) bruiloft",
            r"trouwdag",
        ),
    ),
    "trip": Phrases(
        patterns=(
            r"op vakantie",
            rf"(?:{_NL_POSS}|een|naar|zomer|winter|ski) (?:vakantie|reis|wereldreis|"
            r"zomervakantie|wintersport)(?! (?:geld|dagen|uren|toeslag|verzekering|kosten))",
            r"vakantie(?:huis|huisje|adres|park|bestemming|foto's|reis)",
            r"wintersport",
            r"op reis",
            r"(?:reis|reizen|vliegen|vlieg|vliegt) naar",
            rf"{_NL_KIN} uit (?:australië|amerika|canada|nieuw-zeeland|het buitenland)",
            r"naar het buitenland",
            r"(?:voetbalwedstrijd|wedstrijd) (?:van|kijken|bezoeken)",
            r"naar (?:een|de|het) (?:voetbalwedstrijd|wedstrijd|concert|festival)",
            r"kaartjes voor (?:een|het|de) (?:concert|wedstrijd|voetbalwedstrijd|festival|"
            r"voorstelling|musical)",
        ),
        vetoes=(r"vakantiegeld|vakantiedagen|vakantie-uren",),
    ),
    "birthday": Phrases(
        patterns=(
            r"verjaardag(?:en|sfeest|sfeestje|scadeau|skaart|staart)?",
            r"(?:ben|is|was|zijn) (?:vandaag |morgen |gisteren )?jarig",
            r"wordt (?:\d{1,3}|dertig|veertig|vijftig|zestig|zeventig|tachtig|negentig) "
            r"(?:jaar|vandaag|morgen)",
        ),
        vetoes=(r"verjaardags(?:korting|actie|kado|cadeau van)",),
    ),
    "new_home": Phrases(
        patterns=(
            r"verhuiz(?:en|ing|ers)|verhuis(?:dozen|wagen|dag|bus)",
            r"(?:we|wij|ik|zijn|ben|net|pas|onlangs) (?:\w+ ){0,2}verhuisd",
            r"(?:ik|we|wij) verhuis",
            rf"(?:{_NL_POSS}|een|het) nieuwe? (?:huis|woning|appartement|flat|huisje|stek)",
            r"(?:huis|woning|appartement) gekocht",
            r"sleutel(?:s)? (?:gekregen|ontvangen|opgehaald)",
            r"eerste (?:eigen )?(?:huis|woning)",
            r"housewarming",
        ),
        vetoes=(r"verhuis(?:service|formulier|doorgeven)",),
    ),
    "graduation": Phrases(
        patterns=(
            r"afgestudeerd",
            r"afstude(?:ren|er|erfeest|eerfeest|erde)",
            r"diploma (?:gehaald|uitreiking|binnen)",
            r"diploma-uitreiking|diploma-uitreiking",
            r"geslaagd voor (?:mijn|het|haar|zijn|zijn|het)? ?(?:examen|eindexamen|"
            r"rijexamen|studie|opleiding)",
            r"(?:examen|eindexamen|rijbewijs|bul|master|bachelor) gehaald",
            r"promotie (?:gehaald|verdedigd)|gepromoveerd",
        ),
    ),
    "new_job": Phrases(
        patterns=(
            r"nieuwe (?:baan|werkgever|job)",
            r"(?:baan|job|functie) gekregen",
            r"eerste werkdag",
            r"(?:ben|is|zijn) aangenomen (?:bij|als|voor (?:de|een|die) (?:baan|functie))",
            r"(?:gepromoveerd tot|promotie gemaakt|promotie gekregen)",
        ),
    ),
    "anniversary": Phrases(
        patterns=(
            r"trouwdag",
            r"huwelijksjubileum",
            r"(?:\d{1,2}|tien|twintig|dertig|veertig|vijftig) jaar (?:getrouwd|samen)",
            r"(?:zilveren|gouden|koperen|robijnen|diamanten|briljanten) bruiloft",
            rf"{_NL_POSS} (?:\d{{1,2}}-jarig )?jubileum",
        ),
        vetoes=(r"jubileum(?:actie|korting|aanbieding)",),
    ),
    "retirement": Phrases(
        patterns=(
            r"met (?:pensioen|vut)",
            r"(?:net|pas|sinds kort|onlangs) (?:gepensioneerd|met pensioen)",
            r"(?:mijn|zijn|haar|onze) pensionering",
            r"afscheid(?:sfeest|sreceptie)? van (?:mijn|zijn|haar) werk",
        ),
    ),
    "bereavement": Phrases(
        patterns=(
            r"overleden",
            r"overlijden",
            r"overlijdensakte",
            rf"{_NL_POSS} {_NL_KIN} is (?:gisteren |vorige week |plotseling |onlangs |"
            r"helaas )*(?:gestorven|heengegaan|dood)",
            r"begrafenis",
            r"uitvaart",
            r"crematie",
            r"in de rouw|rouwen|rouwkaart",
            r"condoleance\w*",
            rf"verlies van {_NL_POSS} {_NL_KIN}",
            r"weduwe|weduwnaar",
        ),
    ),
    "illness": Phrases(
        patterns=(
            r"(?:in|naar|uit) het ziekenhuis|ziekenhuisopname",
            r"(?:ben|is|zijn|was|waren|word|werd) (?:erg |ernstig |heel |zwaar |nog steeds |"
            r"ook )?ziek(?! van)",
            r"geopereerd",
            r"(?:mijn|zijn|haar) operatie",
            r"kanker",
            r"chemo(?:therapie|kuur)?",
            r"hartaanval|hartinfarct|herseninfarct|beroerte",
            r"intensive care|ic-afdeling",
            r"(?:been|arm|heup|pols|enkel) gebroken",
        ),
        vetoes=(
            r"ziekenhuis(?:parkeerplaats|rekening)",
            r"(?:werk|werkt|werken|verpleegkundige|arts|dienst)(?: \w+){0,3} (?:in|bij) het "
            r"ziekenhuis",
        ),
    ),
}

# -- German ------------------------------------------------------------------------------
_DE_POSS = (
    r"(?:mein|meine|meinem|meiner|meines|unser|unsere|unserem|unserer|unseres|sein|seine|ihr|ihre)"
)
_DE_KIN = (
    r"(?:mutter|mama|vater|papa|mann|ehemann|frau|ehefrau|partner|partnerin|sohn|tochter|"
    r"bruder|schwester|oma|opa|großmutter|grossmutter|großvater|grossvater|onkel|tante|"
    r"cousin|cousine|neffe|nichte|kind|baby|freund|freundin|schwiegermutter|"
    r"schwiegervater|hund|katze|verlobter|verlobte)"
)
_DE: Mapping[str, Phrases] = {
    "birth": Phrases(
        patterns=(
            r"(?:sohn|tochter|baby|kind|kleine|kleiner|enkel|enkelin|zwillinge) (?:ist|sind|"
            r"wurde|wurden) (?:\w+ ){0,3}(?:auf die welt gekommen|geboren)",
            r"(?:gestern|heute|gerade|letzte woche) (?:geboren|entbunden)",
            r"entbunden",
            r"schwanger(?:schaft)?",
            r"nachwuchs",
            r"neugeboren\w*",
            r"(?:vater|mutter|papa|mama|eltern|oma|opa) geworden",
            r"(?:ein|unser|unsere|einen|eine) (?:baby|kind|sohn|tochter|zwillinge) bekommen",
            r"elternzeit|mutterschutz|mutterschaftsurlaub",
            rf"geburt {_DE_POSS}",
        ),
        vetoes=(r"schwangerschaftstest\w*",),
    ),
    "wedding": Phrases(
        patterns=(
            r"hochzeit(?:en|sfeier|skleid|sreise|sfest|splanung)?",
            r"(?:wir|ich|sie|er) heirate(?:n|t)?",
            r"geheiratet",
            r"(?:frisch|gerade|jung) verheiratet",
            r"verlob(?:t|ung|ungsring)",
            r"flitterwochen",
            r"brautkleid|standesamt|trauung",
        ),
        vetoes=(r"hochzeitstag",),
    ),
    "trip": Phrases(
        patterns=(
            rf"(?:im|in den|{_DE_POSS}|zum) (?:urlaub|ferien|sommerurlaub|winterurlaub|"
            r"skiurlaub|reise|weltreise)(?! (?:anspruch|tage|geld|antrag|pass))",
            r"urlaub(?:sreise|sort|sziel)?",
            r"(?:verreisen|verreist|verreise)",
            r"(?:fliegen|fliege|reisen|reise) (?:nach|ins ausland)",
            rf"{_DE_KIN} aus (?:australien|amerika|kanada|neuseeland|dem ausland)",
            r"(?:zum|ins) (?:fussballspiel|spiel|stadion|konzert|festival)",
            r"(?:karten|tickets) für (?:das|ein|den) (?:spiel|konzert|festival|match)",
        ),
        vetoes=(r"reisepass|urlaubsanspruch|urlaubsgeld|urlaubstage|dienstreise",),
    ),
    "birthday": Phrases(
        patterns=(
            r"geburtstag(?:e|sfeier|sparty|sgeschenk|skuchen)?",
            r"werde (?:morgen |heute |bald )?(?:\d{2}|dreissig|vierzig|fünfzig|"
            r"sechzig|siebzig|achtzig|neunzig)(?! (?:euro|prozent|%|minuten|stunden|tage|grad|"
            r"wochen|monate|mal|cent|uhr))",
            r"(?:wird|werde) (?:\w+ )?(?:\d{2}|dreissig|vierzig|fünfzig|sechzig|siebzig|"
            r"achtzig|neunzig) jahre alt",
        ),
        vetoes=(r"geburtstags(?:rabatt|gutschein|angebot|aktion)",),
    ),
    "new_home": Phrases(
        patterns=(
            r"umzug(?!s?(?:service|formular))(?! (?:der|meiner|ihrer|unserer|des|von) "
            r"(?:daten|dateien|kontos?|accounts?|e-mails?|server|cloud|nummer|rufnummer))",
            r"umziehen|umgezogen|ziehen um|ziehe um|zieht um|umzugskarton\w*",
            rf"(?:{_DE_POSS}|eine|ein|die|das) (?:neue|neues|neuen|eigene|eigenes) "
            r"(?:wohnung|haus|heim|zuhause)",
            r"(?:haus|wohnung) gekauft",
            r"eingezogen",
            r"einweihungsparty|einzugsparty",
        ),
    ),
    "graduation": Phrases(
        patterns=(
            r"(?:bachelor|master|diplom|studien|schul)abschluss",
            r"(?:meinen|ihren|seinen) abschluss (?:gemacht|geschafft|bestanden)",
            r"abitur (?:gemacht|bestanden|geschafft)",
            r"studium (?:abgeschlossen|beendet|geschafft)",
            r"(?:prüfung|examen|staatsexamen|abschlussprüfung) bestanden",
            r"abschlussfeier|zeugnisübergabe|abiball",
            r"promoviert",
        ),
    ),
    "new_job": Phrases(
        patterns=(
            r"(?:neuen|neue|neuer) (?:job|stelle|arbeitsstelle|arbeit|arbeitgeber)",
            r"ersten arbeitstag|erster arbeitstag",
            r"(?:job|stelle|zusage) bekommen",
            r"(?:wurde|bin|wurden) befördert",
            r"beförderung",
        ),
    ),
    "anniversary": Phrases(
        patterns=(
            r"hochzeitstag",
            r"jahrestag",
            r"(?:silber|gold|rubin|diamant)hochzeit",
            r"(?:silberne|goldene) hochzeit",
            r"(?:\d{1,2}|zehn|zwanzig|dreissig|vierzig|fünfzig) jahre? (?:verheiratet|zusammen)",
        ),
    ),
    "retirement": Phrases(
        patterns=(
            r"in (?:rente|pension|den ruhestand) (?:gegangen|gehen|gehe|geht|gehst)",
            r"(?:gehe|geht|gehen|ging|gingen) (?:\w+ ){0,3}in (?:rente|pension|den ruhestand)",
            r"ruhestand",
            r"(?:frisch|gerade|seit kurzem|neu) pensioniert",
            r"renteneintritt",
        ),
    ),
    "bereavement": Phrases(
        patterns=(
            r"verstorben\w*",
            rf"{_DE_POSS} {_DE_KIN} (?:ist|sind) (?:gestern |letzte woche |plötzlich |leider )*"
            r"(?:gestorben|tot|von uns gegangen)",
            rf"tod {_DE_POSS}",
            r"todesfall|trauerfall|sterbefall",
            r"beerdigung|beisetzung|trauerfeier",
            r"verwitwet|witwe|witwer",
            r"in trauer|trauern",
        ),
    ),
    "illness": Phrases(
        patterns=(
            r"(?:im|ins|aus dem|vom) (?:krankenhaus|spital)|(?:in der|in die|aus der) klinik",
            r"(?:bin|ist|sind|war|waren|wurde) (?:sehr |schwer |ernsthaft |seit wochen |"
            r"noch )?(?:krank|erkrankt)",
            r"krankgeschrieben",
            r"operiert|operation (?:am|an der|an meinem)",
            r"krebs",
            r"chemo(?:therapie)?",
            r"herzinfarkt|schlaganfall",
            r"intensivstation",
            r"(?:bein|arm|hüfte|handgelenk) gebrochen",
        ),
        vetoes=(
            r"(?:arbeite|arbeitet|arbeiten|pfleger|pflegerin|ärztin|arzt|dienst|schicht)"
            r"(?: \w+){0,3} (?:im|in der) (?:krankenhaus|klinik|spital)",
        ),
    ),
}

# -- French ------------------------------------------------------------------------------
_FR_POSS = r"(?:mon|ma|mes|notre|nos|son|sa|ses|leur)"
_FR_KIN = (
    r"(?:mère|maman|père|papa|mari|femme|épouse|époux|conjoint|conjointe|compagnon|"
    r"compagne|fils|fille|frère|soeur|sœur|grand-mère|grand-père|mamie|papi|oncle|tante|"
    r"cousin|cousine|neveu|nièce|enfant|bébé|ami|amie|belle-mère|beau-père|chien|chat)"
)
_FR: Mapping[str, Phrases] = {
    "birth": Phrases(
        patterns=(
            r"enceinte",
            r"grossesse",
            r"accouch(?:é|ée|ement|er)",
            r"(?:fils|fille|bébé|enfant|petit-fils|petite-fille|jumeaux|jumelles) (?:est|sont) "
            r"(?:né|née|nés|nées|arrivé|arrivée)",
            r"(?:bébé|enfant) (?:est )?(?:arrivé|né)",
            r"naissance (?:de|d') ?(?:mon|ma|notre|nos|leur)",
            r"nouveau-né|nouveau né|nouveaux-nés",
            r"congé (?:de )?(?:maternité|paternité|parental)",
            r"(?:devenu|devenue|devenus|deviens|devenir) (?:papa|maman|père|mère|parents|"
            r"grand-père|grand-mère|grands-parents|papi|mamie)",
            r"(?:attend|attends|attendons|attendez) (?:un|notre|mon) (?:bébé|enfant|heureux "
            r"événement)",
            r"(?:eu|avoir) (?:un|notre|mon) (?:bébé|garçon|petit garçon|petite fille)",
        ),
        vetoes=(r"test de grossesse",),
    ),
    "wedding": Phrases(
        patterns=(
            r"mariage(?! entre)",
            r"(?:se|me|nous|vous|te) mari(?:er|e|ons|ez|ent)",
            r"(?:on|nous|je) (?:s'est|se sont|nous sommes|me suis|vient de nous|venons de "
            r"nous) mari(?:é|és|ée|ées)",
            r"(?:jeunes|nouveaux) mariés",
            r"fiançailles|fiancé(?:e|s|es)? (?!d')",
            rf"{_FR_POSS} fiancé(?:e)?",
            r"lune de miel|voyage de noces",
            r"robe de mariée|enterrement de vie de (?:garçon|jeune fille)",
        ),
        vetoes=(r"anniversaire de mariage|\d+ ans de mariage|noces d'(?:or|argent)",),
    ),
    "trip": Phrases(
        patterns=(
            r"(?:en|nos|mes|partir en|parti en|partie en|pars en|partons en) "
            r"vacances(?! scolaires)",
            r"(?:notre|mon|nos|mes) (?:voyage|voyages|séjour)(?! (?:d'affaires|professionnel))",
            r"(?:je suis|nous sommes|on est|je serai|nous serons|je pars|nous partons) en "
            r"(?:voyage|séjour)",
            r"(?:pars|partons|partir|voyageons|vais|allons|aller) (?:en|au|aux|à) "
            r"(?:australie|amérique|espagne|italie|portugal|grèce|japon|canada|thaïlande|"
            r"maroc|new york|londres|rome|l'étranger)",
            rf"{_FR_KIN} (?:d'australie|d'amérique|du canada|de l'étranger)",
            r"(?:aller|vais|va|allons|allez|vont|emmener \w+) (?:au|à un|voir (?:le|un)) "
            r"(?:match|concert|festival|stade)",
            r"au (?:stade|concert|festival)",
            r"(?:billets|places) pour (?:le|un|leur) (?:concert|match|festival)",
        ),
        vetoes=(r"chèques? vacances",),
    ),
    "birthday": Phrases(
        patterns=(
            rf"(?:{_FR_POSS}|bon|joyeux) anniversaire|(?:l'|d') ?anniversaire",
            r"anniversaire (?:de|d') ?(?:mon|ma|notre|nos|mes)",
            r"fête d'anniversaire|cadeau d'anniversaire|gâteau d'anniversaire",
            r"(?:fête|fêter) (?:mes|ses|ces) (?:\d{1,3}|trente|quarante|cinquante|soixante) ans",
        ),
        vetoes=(
            r"anniversaire de (?:mariage|rencontre)",
            r"(?:offre|promo|promotion|réduction|remise|code|cadeau) (?:d')?anniversaire"
            r"(?! de)",
            r"anniversaire (?:de la marque|du magasin|de l'enseigne)",
        ),
    ),
    "new_home": Phrases(
        patterns=(
            r"déménag(?:er|é|ée|és|ement|ements|eons|e|es|eront|erai|erons)",
            r"emménag(?:er|é|ée|és|ement|eons|e)",
            rf"(?:{_FR_POSS}|une|un|la|le|notre) (?:nouvelle maison|nouvel appartement|"
            r"nouveau logement|nouvel appart|nouveau chez-nous|nouveau chez nous)",
            r"(?:acheté|achat de) (?:une|notre|ma|mon) (?:maison|appartement)",
            r"pendaison de crémaillère",
        ),
    ),
    "graduation": Phrases(
        patterns=(
            r"diplômé(?:e|s|es)?",
            r"remise (?:des|de) diplômes?",
            r"(?:obtenu|eu|décroché|réussi) (?:mon|son|sa|ma|leur) (?:diplôme|bac|"
            r"baccalauréat|licence|master|doctorat|concours|permis)",
            r"fin de (?:mes|ses|nos) études",
            r"soutenance de (?:thèse|mémoire)",
        ),
    ),
    "new_job": Phrases(
        patterns=(
            r"nouveau (?:travail|boulot|job|emploi)",
            r"nouvel emploi",
            r"(?:décroché|trouvé|obtenu) (?:un|le|mon) (?:travail|boulot|job|poste|emploi|cdi)",
            r"premier jour (?:de|au|à mon) (?:travail|boulot|nouveau)",
            r"(?:été|suis) (?:embauché|embauchée|promu|promue)",
        ),
    ),
    "anniversary": Phrases(
        patterns=(
            r"anniversaire de (?:mariage|rencontre)",
            r"noces d'(?:or|argent|étain|cristal|porcelaine|vermeil|diamant)",
            r"(?:\d{1,2}|dix|vingt|trente|quarante|cinquante) ans (?:de mariage|ensemble)",
        ),
    ),
    "retirement": Phrases(
        patterns=(
            r"(?:prendre|prends|prend|pris|prenons) (?:ma|sa|leur|notre) retraite",
            r"(?:partir|parti|partie|part|pars|partons|départ) (?:à|en) (?:la )?retraite",
            r"(?:jeune|nouveau|nouvelle) retraité(?:e)?",
            r"(?:pot|fête) de (?:départ à la )?retraite",
            r"à la retraite depuis (?:peu|hier|cette|ce|la semaine)",
        ),
    ),
    "bereavement": Phrases(
        patterns=(
            r"décéd(?:é|ée|és|ées|er)",
            r"décès",
            rf"{_FR_POSS} {_FR_KIN} (?:est|sont) (?:mort|morte|morts|parti|partie|"
            r"décédé|décédée|disparu|disparue)",
            rf"(?:mort|perte|disparition) de {_FR_POSS} {_FR_KIN}",
            rf"perdu {_FR_POSS} {_FR_KIN}",
            r"obsèques|funérailles|enterrement(?! de vie)",
            r"en deuil|deuil",
            r"condoléances",
            r"veuf|veuve",
        ),
    ),
    "illness": Phrases(
        patterns=(
            r"(?:à|de|sortie de|sorti de|sortie de) l'hôpital",
            r"hospitalis(?:é|ée|és|ation)",
            r"(?:suis|est|sont|été|était|tombé|tombée) (?:très |gravement |vraiment )?"
            r"malade",
            r"opér(?:é|ée)",
            r"opération (?:chirurgicale|du|de la|de mon|de ma)",
            r"chirurgie",
            r"cancer",
            r"chimio(?:thérapie)?",
            r"infarctus|avc",
            r"soins intensifs|réanimation",
            r"(?:cassé|fracturé) (?:la|le) (?:jambe|bras|hanche|poignet|cheville)",
        ),
        vetoes=(
            r"(?:travaille|travaillons|travaillent|infirmière|infirmier|médecin|garde)"
            r"(?: \w+){0,3} à l'hôpital",
        ),
    ),
}

# -- Spanish -----------------------------------------------------------------------------
_ES_POSS = r"(?:mi|mis|nuestro|nuestra|nuestros|nuestras|su|sus)"
_ES_KIN = (
    r"(?:madre|mamá|padre|papá|marido|esposo|esposa|mujer|pareja|hijo|hija|hermano|"
    r"hermana|abuela|abuelo|tío|tía|primo|prima|sobrino|sobrina|bebé|niño|niña|amigo|"
    r"amiga|suegra|suegro|perro|perra|gato|gata|prometido|prometida)"
)
_ES: Mapping[str, Phrases] = {
    "birth": Phrases(
        patterns=(
            r"embarazad(?:a|as)|embarazo",
            r"(?:di|dio|dar|he dado|ha dado) a luz",
            r"(?:hijo|hija|bebé|niño|niña|nieto|nieta|gemelos|mellizos) (?:ha |acaba de |"
            r"acaban de )?(?:nació|nacido|nacida|nacer|nacieron)",
            r"(?:ha|han|acaba de|acaban de) nac(?:ido|er)",
            r"recién nacid(?:o|a|os|as)",
            rf"nacimiento de {_ES_POSS}",
            r"baja (?:de|por) (?:maternidad|paternidad)",
            r"(?:tuvimos|tuve|hemos tenido|he tenido) (?:un|una|nuestro|nuestra|a nuestro|"
            r"a nuestra) (?:bebé|hijo|hija|niño|niña|gemelos)",
            r"(?:acabo de ser|acabamos de ser|ser|soy) (?:papá|mamá|padre|madre|abuelo|abuela|"
            r"padres) (?:por primera vez|primerizo|primeriza)",
            r"(?:acabo de ser|acabamos de ser) (?:papá|mamá|padre|madre|abuelo|abuela|padres)",
            r"esperando (?:un|una|nuestro|nuestra|mi) (?:bebé|hijo|hija|niño|niña)",
        ),
        vetoes=(r"test de embarazo|prueba de embarazo",),
    ),
    "wedding": Phrases(
        patterns=(
            r"boda(?:s)?",
            r"(?:casarnos|casarme|casarse|nos casamos|me caso|me casé|nos casaremos|"
            r"se casa|se casó|se casan)",
            r"recién casad(?:os|as|o|a)",
            r"(?:nos hemos|me he) (?:comprometido|casado)",
            r"pedida de mano|anillo de compromiso",
            rf"{_ES_POSS} (?:prometido|prometida|novio|novia) y yo nos",
            r"luna de miel|viaje de novios",
            r"vestido de novia|despedida de soltero|despedida de soltera",
        ),
        vetoes=(r"aniversario de boda|bodas de (?:oro|plata)",),
    ),
    "trip": Phrases(
        patterns=(
            r"(?:de|mis|nuestras|unas|irnos de|ir de|voy de|vamos de|estoy de|"
            r"estamos de) vacaciones",
            r"(?:de|mi|nuestro) viaje(?! (?:de negocios|de trabajo))",
            r"(?:estoy|estamos) viajando",
            r"(?:viajo|viajamos|viajar|voy|vamos|vuelo|volamos) a (?:australia|américa|"
            r"estados unidos|méxico|argentina|francia|italia|portugal|londres|parís|roma|"
            r"nueva york|japón|canadá|el extranjero)",
            rf"{_ES_KIN} (?:viene |vienen |llega |llegan )?(?:de|desde) (?:australia|américa|"
            r"argentina|méxico|canadá|el extranjero)",
            r"(?:ir|voy|vamos|va|van|fuimos|fui) (?:a ver )?(?:al|a un|a una) (?:partido|"
            r"concierto|festival|estadio)",
            r"al (?:estadio|concierto|festival)",
            r"entradas para (?:el|un|su) (?:concierto|partido|festival)",
        ),
        vetoes=(r"(?:paga|pago|días|periodo|período) de vacaciones",),
    ),
    "birthday": Phrases(
        patterns=(
            r"cumpleaños",
            rf"(?:{_ES_POSS}|el|del) cumple(?! con)",
            r"(?:cumplo|cumplí) (?:\d{1,3}|treinta|cuarenta|cincuenta|sesenta|"
            r"setenta|ochenta|noventa) años",
        ),
        vetoes=(r"(?:descuento|regalo|oferta|cupón|promoción) de cumpleaños",),
    ),
    "new_home": Phrases(
        patterns=(
            r"mudanza",
            r"(?:mudarnos|mudarme|mudarse|nos mudamos|me mudé|me mudo|nos mudaremos|"
            r"nos hemos mudado|me he mudado|se muda|se mudó)",
            r"(?:casa|piso|apartamento) (?:nuevo|nueva)",
            r"(?:nueva|nuevo) (?:casa|piso|apartamento|hogar)",
            r"(?:comprado|compramos|compré) (?:una|un|nuestra|nuestro|mi) (?:casa|piso|"
            r"apartamento)",
        ),
    ),
    "graduation": Phrases(
        patterns=(
            r"graduación",
            r"(?:me|nos|se) (?:he |hemos |ha )?gradu(?:é|amos|ó|ado|ada|ados)",
            r"(?:terminé|acabé|termino|acabo de terminar) (?:la carrera|mis estudios|el máster|"
            r"la universidad|el doctorado)",
            r"(?:aprobé|he aprobado|aprobó|ha aprobado) (?:el|los|mis|las) (?:examen|"
            r"exámenes|oposiciones|selectividad)",
            r"(?:título|titulo) universitario",
        ),
    ),
    "new_job": Phrases(
        patterns=(
            r"nuevo (?:trabajo|empleo|puesto|curro)",
            r"primer día (?:de|en el|en mi) (?:trabajo|nuevo)",
            r"(?:me contrataron|me han contratado|me ascendieron|me han ascendido)",
            r"(?:conseguí|he conseguido|encontré|he encontrado) (?:el|un|mi) (?:trabajo|empleo|"
            r"puesto)",
        ),
    ),
    "anniversary": Phrases(
        patterns=(
            r"(?:nuestro|mi|el) aniversario(?! de la (?:marca|tienda|empresa))",
            r"aniversario de (?:boda|casados|bodas)",
            r"bodas de (?:oro|plata|diamante|rubí)",
            r"(?:\d{1,2}|diez|veinte|treinta|cuarenta|cincuenta) años (?:de casados|casados|"
            r"juntos)",
        ),
    ),
    "retirement": Phrases(
        patterns=(
            r"(?:me|se|nos) (?:he |ha |hemos )?jubil(?:é|o|ó|amos|ado|ada|ará|aré)",
            r"recién jubilad(?:o|a|os|as)",
            rf"{_ES_POSS} jubilación(?! (?:anticipada )?(?:plan|fondo|pensión))",
            r"fiesta de jubilación",
        ),
    ),
    "bereavement": Phrases(
        patterns=(
            r"falleci(?:ó|do|da|miento|eron)",
            rf"{_ES_POSS} {_ES_KIN} (?:ha |acaba de )?(?:murió|muerto|morir)",
            rf"(?:murió|ha muerto|muerte de|pérdida de|perdí a) {_ES_POSS} {_ES_KIN}",
            r"funeral|entierro|velorio|tanatorio",
            r"(?:de|en|estoy de|estamos de) luto",
            r"condolencias|pésame",
            r"viudo|viuda",
        ),
    ),
    "illness": Phrases(
        patterns=(
            r"(?:en el|al|del) hospital|hospitalizad[oa]",
            r"(?:ingresad[oa]|ingreso) en (?:el )?(?:hospital|urgencias|la uci)",
            r"(?:estoy|está|están|estaba|estuve) (?:muy |gravemente |bastante )?"
            r"enferm(?:o|a|os|as)",
            r"operad(?:o|a)|cirugía|quirófano",
            r"operación (?:de|del) (?:corazón|cadera|rodilla)",
            r"cáncer",
            r"quimio(?:terapia)?",
            r"infarto|ictus",
            r"cuidados intensivos|en la uci",
            r"(?:rompí|me rompí|se rompió) (?:la|el) (?:pierna|brazo|cadera|muñeca|tobillo)",
        ),
        vetoes=(
            r"(?:trabajo|trabaja|trabajamos|enfermera|enfermero|médico|médica|guardia)"
            r"(?: \w+){0,3} en el hospital",
        ),
    ),
}

# -- Italian -----------------------------------------------------------------------------
_IT_POSS = (
    r"(?:mio|mia|miei|mie|nostro|nostra|nostri|nostre|suo|sua|il mio|la mia|il nostro|la nostra)"
)
_IT_KIN = (
    r"(?:madre|mamma|padre|papà|marito|moglie|compagno|compagna|figlio|figlia|fratello|"
    r"sorella|nonna|nonno|zio|zia|cugino|cugina|nipote|bambino|bambina|amico|amica|"
    r"suocera|suocero|cane|gatto|fidanzato|fidanzata)"
)
_IT: Mapping[str, Phrases] = {
    "birth": Phrases(
        patterns=(
            r"incinta",
            r"gravidanza",
            r"(?:ho|ha|abbiamo) partorito|parto (?:cesareo|naturale)",
            r"(?:figlio|figlia|bambino|bambina|bimbo|bimba|nipotino|nipotina|gemelli) (?:è|sono) "
            r"(?:appena )?(?:nat[oaie])",
            r"(?:è|sono) (?:appena )?nat[oaie] (?:il|la|i|le) (?:nostro|nostra|mio|mia|nostri)",
            r"nascita (?:di|del|della|dei) (?:mio|mia|nostro|nostra|nostri)",
            r"neonat(?:o|a|i)(?! (?:per|di))",
            r"congedo (?:di )?(?:maternità|paternità|parentale)",
            r"(?:diventato|diventata|diventati|diventate|sono) (?:papà|mamma|padre|madre|"
            r"genitori|nonno|nonna|nonni)(?! di)",
            r"aspett(?:o|iamo|a) (?:un|una|il nostro|il mio) (?:bambino|bambina|figlio|figlia|"
            r"bimbo|bimba|bebè)",
        ),
        vetoes=(r"test di gravidanza",),
    ),
    "wedding": Phrases(
        patterns=(
            r"matrimonio",
            r"nozze",
            r"(?:sposarci|sposarmi|sposarsi|ci sposiamo|mi sposo|ci siamo sposati|"
            r"mi sono sposat[oa]|si sposa|si sposano)",
            r"(?:appena|neo|novelli) sposi|neosposi",
            r"fidanzamento|anello di fidanzamento",
            r"luna di miele|viaggio di nozze",
            r"abito da sposa|addio al celibato|addio al nubilato|promessi sposi",
        ),
        vetoes=(
            r"anniversario di (?:matrimonio|nozze)|nozze d'(?:oro|argento)",
            r"certificato di matrimonio",
        ),
    ),
    "trip": Phrases(
        patterns=(
            r"(?:in|mie|nostre) (?:vacanza|vacanze|ferie)",
            r"(?:partiamo|parto|andiamo|vado) (?:per le|in) (?:vacanze|vacanza|ferie)",
            r"(?:mio|nostro) viaggio(?! (?:di lavoro|d'affari))",
            r"(?:sono|siamo|ero|eravamo) in viaggio",
            r"(?:vado|andiamo|partiamo|parto|volo|voliamo|andare|partire) (?:in|a|per) "
            r"(?:australia|america|spagna|francia|portogallo|grecia|giappone|canada|londra|"
            r"parigi|new york|l'estero)",
            rf"{_IT_KIN} (?:arriva |arrivano |viene |vengono )?(?:dall'australia|dall'america|"
            r"dal canada|dall'estero)",
            r"alla partita|allo stadio|al concerto",
            r"biglietti per (?:il|la|un|una) (?:concerto|partita|festival)",
        ),
        vetoes=(r"partita iva|partita doppia",),
    ),
    "birthday": Phrases(
        patterns=(
            r"compleanno",
            r"(?:compio|ho compiuto) (?:\d{1,3}|trenta|quaranta|cinquanta|"
            r"sessanta|settanta|ottanta|novanta) anni",
        ),
        vetoes=(
            r"(?:sconto|buono|regalo|offerta) (?:di |per il )?compleanno",
            r"compleanno (?:del|della|dello|dell') ?(?:negozio|marchio|azienda|sito|app)",
        ),
    ),
    "new_home": Phrases(
        patterns=(
            r"trasloc(?:o|hi|are|ato|ata|ati|heremo)",
            r"(?:mi sono|ci siamo|si è) trasferit[oaie] (?:in|nella|a)",
            r"(?:casa|appartamento) nuov[oa]",
            r"(?:nuova|nuovo) (?:casa|appartamento)",
            r"(?:comprato|acquistato) (?:casa|una casa|un appartamento)",
            r"festa di inaugurazione della casa",
        ),
    ),
    "graduation": Phrases(
        patterns=(
            r"(?:mi sono|si è|ci siamo) (?:laureat|diplomat)[oaie]",
            r"laurea(?:ta|to|ti|te)?(?! (?:in (?:economia|legge) richiesta))",
            r"discussione della tesi|tesi di laurea",
            r"(?:preso|presa|ottenuto|ottenuta) (?:la|il) (?:maturità|diploma|laurea|dottorato)",
            r"(?:superato|passato) (?:l'esame|gli esami|la maturità)",
        ),
    ),
    "new_job": Phrases(
        patterns=(
            r"(?:un|mio|il mio) nuovo (?:lavoro|impiego)|nuovo posto di lavoro",
            r"primo giorno (?:di|al|nel nuovo) lavoro",
            r"(?:sono stato assunto|sono stata assunta|mi hanno assunt[oa]|mi hanno promoss[oa])",
            r"(?:ho trovato|trovato) (?:un|il) (?:lavoro|impiego)",
        ),
    ),
    "anniversary": Phrases(
        patterns=(
            r"anniversario(?! (?:del marchio|del negozio|dell'azienda))",
            r"nozze d'(?:oro|argento|diamante|rubino)",
            r"(?:\d{1,2}|dieci|venti|trenta|quaranta|cinquanta) anni (?:di matrimonio|insieme)",
        ),
        vetoes=(r"anniversario (?:del marchio|del negozio|dell'azienda)",),
    ),
    "retirement": Phrases(
        patterns=(
            r"(?:andato|andata|andati|vado|andrò|vanno|va|andiamo|andare) in pensione",
            r"pensionamento",
            r"(?:sono|è) in pensione da (?:poco|ieri|oggi|questa|un mese)",
            r"festa (?:di|per la) pensione",
            r"neo-?pensionat[oaie]",
        ),
    ),
    "bereavement": Phrases(
        patterns=(
            rf"(?:{_IT_POSS}|il|la|lo) {_IT_KIN} (?:è|sono) (?:\w+ )?(?:morto|morta|morti|"
            r"scomparso|scomparsa|venuto a mancare|venuta a mancare|deceduto|deceduta)",
            r"venut[oa] a mancare",
            r"decedut[oaie]|decesso",
            rf"(?:morte|perdita|scomparsa) (?:di|del|della) {_IT_POSS} {_IT_KIN}",
            r"funerale|funerali|esequie",
            r"(?:in|a) lutto|lutto",
            r"condoglianze",
            r"vedov[oa]",
        ),
    ),
    "illness": Phrases(
        patterns=(
            r"in ospedale|(?:all'|dall') ?ospedale",
            r"ricoverat[oaie]|ricovero",
            r"(?:sono|è|sei|siamo|ero|era) (?:molto |gravemente |ancora )?malat[oaie]",
            r"operat[oa]|intervento chirurgico",
            r"cancro|tumore",
            r"chemio(?:terapia)?",
            r"infarto|ictus",
            r"terapia intensiva|rianimazione",
            r"(?:rotto|rotta) (?:la|il) (?:gamba|braccio|anca|polso|caviglia)",
        ),
        vetoes=(
            r"(?:lavoro|lavora|lavoriamo|infermiera|infermiere|medico|turno)(?: \w+){0,3} "
            r"(?:in|all') ?ospedale",
        ),
    ),
}

# -- Portuguese --------------------------------------------------------------------------
_PT_POSS = r"(?:meu|minha|meus|minhas|nosso|nossa|nossos|nossas|o meu|a minha|o nosso|a nossa)"
_PT_KIN = (
    r"(?:mãe|pai|marido|esposo|esposa|mulher|companheiro|companheira|filho|filha|irmão|"
    r"irmã|avó|avô|tio|tia|primo|prima|sobrinho|sobrinha|bebê|bebé|amigo|amiga|sogra|"
    r"sogro|cachorro|cão|gato|noivo|noiva)"
)
_PT: Mapping[str, Phrases] = {
    "birth": Phrases(
        patterns=(
            r"grávida",
            r"gravidez",
            r"(?:dei|deu|dar|ter dado) à luz",
            r"(?:filho|filha|bebê|bebé|neto|neta|gêmeos|gémeos) (?:acabou de |já )?nasceu",
            r"(?:acabou de|acabaram de) nascer",
            rf"nascimento (?:do|da|dos) {_PT_POSS}",
            r"recém-nascid(?:o|a|os|as)|recém nascid(?:o|a)",
            r"licença (?:de )?(?:maternidade|paternidade|parental)",
            r"(?:tivemos|tive) (?:um|uma|o nosso|a nossa|nosso|nossa) (?:bebê|bebé|filho|filha|"
            r"menino|menina)",
            r"(?:acabei de ser|acabámos de ser|virei|fui) (?:pai|mãe|avô|avó)"
            r"(?: pela primeira vez)?",
            r"(?:esperando|à espera de) (?:um|uma|o nosso|nosso) (?:bebê|bebé|filho|filha)",
        ),
        vetoes=(r"teste de gravidez",),
    ),
    "wedding": Phrases(
        patterns=(
            r"casamento",
            r"(?:vamos|vou|vai|vão) (?:nos |me |se )?casar",
            r"(?:nos casamos|me casei|casámos|casamo-nos|casei-me|se casou|se casaram)",
            r"recém-casad(?:os|as|o|a)|recém casados",
            r"noivado|noivos|ficamos noivos",
            rf"{_PT_POSS} (?:noivo|noiva)",
            r"lua de mel",
            r"vestido de noiva|despedida de solteir[oa]",
        ),
        vetoes=(
            r"aniversário de casamento|bodas de (?:ouro|prata)",
            r"certidão de casamento",
        ),
    ),
    "trip": Phrases(
        patterns=(
            r"(?:de|minhas|nossas|umas|em|tirar|vou de|vamos de|estou de|estamos de) "
            r"férias(?! (?:escolares|coletivas))",
            r"(?:minha|nossa|uma) viagem(?! (?:de negócios|de trabalho))",
            r"(?:vou|vamos) de viagem",
            r"(?:viajo|viajamos|viajar|vou|vamos|voo) (?:para|pra) (?:a )?(?:austrália|américa|"
            r"estados unidos|portugal|brasil|frança|espanha|itália|londres|paris|nova york|"
            r"japão|canadá|o exterior|o estrangeiro)",
            r"(?:estou|estamos|está|estão) (?:viajando|de viagem|em viagem)",
            rf"{_PT_KIN} (?:da austrália|dos estados unidos|do canadá|do exterior|do estrangeiro)",
            r"ao (?:jogo|estádio|show|concerto|festival)",
            r"ingressos? (?:para|pro) (?:o|um|a) (?:show|jogo|concerto|festival)",
        ),
        vetoes=(r"(?:subsídio|abono|pagamento) de férias",),
    ),
    "birthday": Phrases(
        patterns=(
            rf"(?:{_PT_POSS}|o|do|no|feliz|de) aniversário(?! (?:de casamento|da loja|da marca))",
            r"aniversário (?:do|da) (?:meu|minha|nosso|nossa)",
            r"(?:faço|fiz|completo|completei) (?:\d{1,3}|trinta|quarenta|"
            r"cinquenta|sessenta|setenta|oitenta|noventa) anos",
        ),
        vetoes=(
            r"aniversário (?:de casamento|da loja|da marca|da empresa)",
            r"(?:desconto|presente|oferta|cupom|cupão) de aniversário",
        ),
    ),
    "new_home": Phrases(
        patterns=(
            r"mudança de casa|dia da mudança|fazer a mudança|caminhão de mudança",
            r"(?:me mudei|nos mudamos|mudamos de casa|mudei de casa|vou me mudar|"
            r"vamos nos mudar|mudar de casa|mudámo-nos|mudei-me)",
            r"(?:casa|apartamento) nov[oa]",
            r"(?:nova|novo) (?:casa|apartamento|lar)",
            r"(?:comprei|compramos|comprámos) (?:uma|um|a nossa|nossa|minha) (?:casa|"
            r"apartamento)",
        ),
    ),
    "graduation": Phrases(
        patterns=(
            r"formatura",
            r"(?:me formei|nos formamos|se formou|formei-me|me graduei|licenciei-me)",
            r"colação de grau",
            r"(?:terminei|acabei|concluí) (?:a faculdade|o curso|o mestrado|o doutorado|"
            r"a licenciatura|os estudos)",
            r"(?:passei|passou) (?:no|na) (?:vestibular|exame|prova da ordem|enem)",
        ),
    ),
    "new_job": Phrases(
        patterns=(
            r"(?:um|meu|o meu) novo (?:emprego|trabalho)",
            r"primeiro dia (?:de|no) (?:trabalho|emprego|novo)",
            r"(?:fui contratad[oa]|fui promovid[oa]|me contrataram|me promoveram)",
            r"(?:consegui|arranjei) (?:o|um) (?:emprego|trabalho)",
        ),
    ),
    "anniversary": Phrases(
        patterns=(
            r"aniversário de casamento|aniversário de namoro",
            r"bodas de (?:ouro|prata|diamante|rubi)",
            r"(?:\d{1,2}|dez|vinte|trinta|quarenta|cinquenta) anos (?:de casados|de casamento|"
            r"juntos)",
        ),
    ),
    "retirement": Phrases(
        patterns=(
            r"(?:me aposentei|vou me aposentar|se aposentou|aposentei-me|reformei-me|"
            r"vou reformar-me)",
            r"(?:recém|acabei de me|acabou de se) aposentad[oa]",
            r"(?:minha|sua) aposentadoria(?! (?:privada|complementar))",
            r"festa de (?:aposentadoria|reforma)",
        ),
    ),
    "bereavement": Phrases(
        patterns=(
            r"falec(?:eu|ido|ida|imento|eram)",
            rf"{_PT_POSS} {_PT_KIN} (?:morreu|faleceu|partiu)",
            rf"(?:morte|perda) (?:do|da|de) {_PT_POSS} {_PT_KIN}",
            r"funeral|velório|enterro",
            r"(?:de|em|estou de|estamos de) luto",
            r"condolências|pêsames",
            r"viúv[oa]",
        ),
    ),
    "illness": Phrases(
        patterns=(
            r"(?:no|ao|do) hospital|hospitalizad[oa]",
            r"internad[oa]|internação|internamento",
            r"(?:estou|está|estão|estava|fiquei|ficou) (?:muito |gravemente |bem )?doente",
            r"operad(?:o|a)|cirurgia",
            r"câncer|cancro",
            r"quimio(?:terapia)?",
            r"enfarte|infarto|avc",
            r"cuidados intensivos|na uti",
            r"(?:quebrei|parti|quebrou|partiu) (?:a|o) (?:perna|braço|anca|quadril|pulso|"
            r"tornozelo)",
        ),
        vetoes=(
            r"(?:trabalho|trabalha|trabalhamos|enfermeira|enfermeiro|médico|médica|plantão)"
            r"(?: \w+){0,3} (?:no|do) hospital",
        ),
    ),
}

LEXICONS: Mapping[str, Mapping[str, Phrases]] = {
    "en": _EN,
    "nl": _NL,
    "de": _DE,
    "fr": _FR,
    "es": _ES,
    "it": _IT,
    "pt": _PT,
}

# Per language and kind, stems of the words its patterns cannot match without (see the
# module docstring): a word of the message starting with one of them sends the message to
# those patterns. Derived from the patterns; after a change, print them anew with
# `python -m tests.unit.enrichment.moment_stems` (a test fails until they agree).
ANCHORS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "en": {
        "birth": (
            "arrived", "babies", "baby", "birth", "born", "boy", "dad", "daughter",
            "expecting", "father", "girl", "granddad", "grandfather", "grandma",
            "grandmother", "grandpa", "little", "maternity", "mom", "mother", "mum",
            "newborn", "parental", "parents", "paternity", "pregnancy", "pregnant",
            "shower", "son", "twins",
        ),
        "wedding": (
            "bride", "engaged", "engagement", "fianc", "getting", "groom", "honeymoon",
            "husband", "married", "marrying", "tying", "wedding", "wife",
        ),
        "trip": (
            "abroad", "america", "australia", "baseball", "basketball", "brazil", "canada",
            "concert", "cricket", "football", "france", "greece", "hockey", "holiday",
            "italy", "japan", "journey", "london", "mexico", "overseas", "paris",
            "portugal", "rome", "rugby", "soccer", "spain", "stadium", "thailand", "ticket",
            "trip", "turkey", "vacation", "visit", "york", "zealand",
        ),
        "birthday": (
            "bday", "birthday", "turned", "turning", "turns",
        ),
        "new_home": (
            "apartment", "flat", "home", "house", "keys", "move", "moving", "place",
        ),
        "graduation": (
            "bachelor", "defen", "degree", "diploma", "doctorate", "finished", "graduated",
            "graduating", "graduation", "master", "passed", "phd",
        ),
        "new_job": (
            "employer", "hired", "job", "position", "promoted", "promotion", "role", "work",
        ),
        "anniversary": (
            "anniversary", "married", "together", "wedding",
        ),
        "retirement": (
            "retire", "retiring",
        ),
        "bereavement": (
            "aunt", "baby", "battle", "bereaved", "bereavement", "brother", "cat", "child",
            "cousin", "dad", "daughter", "death", "died", "dog", "father", "fianc",
            "friend", "funeral", "gone", "gran", "husband", "loss", "lost", "mom", "mother",
            "mum", "nan", "nephew", "niece", "partner", "passed", "passing", "sister",
            "son", "uncle", "widow", "wife",
        ),
        "illness": (
            "attack", "battling", "broke", "cancer", "chemo", "diagnosed", "fighting",
            "hospital", "icu", "ill", "intensive", "operation", "sick", "stroke", "surgery",
            "treatment",
        ),
    },
    "nl": {
        "birth": (
            "bevallen", "bevalling", "geboorte", "geboren", "gekregen", "geworden",
            "kraambezoek", "kraamfeest", "kraamtijd", "kraamvrouw", "kraamweek",
            "kraamzorg", "ouderschapsverlof", "pasgeboren", "verwachting", "zwanger",
        ),
        "wedding": (
            "aanstaande", "bruid", "bruiloft", "getrouwd", "huwelijksfeest",
            "huwelijksreis", "trouw", "verloofd", "verloving",
        ),
        "trip": (
            "amerika", "australië", "buitenland", "canada", "concert", "festival",
            "kaartjes", "reis", "reizen", "vakantie", "vlieg", "voetbalwedstrijd",
            "wedstrijd", "wereldreis", "wintersport", "zeeland", "zomervakantie",
        ),
        "birthday": (
            "jaar", "jarig", "morgen", "vandaag", "verjaardag",
        ),
        "new_home": (
            "appartement", "flat", "gekocht", "gekregen", "housewarming", "huis",
            "ontvangen", "opgehaald", "stek", "verhuis", "verhuizen", "verhuizers",
            "verhuizing", "woning",
        ),
        "graduation": (
            "afgestudeerd", "afstudeeerfeest", "afstudeer", "afstuderen", "diploma",
            "gehaald", "gepromoveerd", "geslaagd", "promotie", "uitreiking",
        ),
        "new_job": (
            "aangenomen", "gekregen", "gepromoveerd", "nieuwe", "promotie", "werkdag",
        ),
        "anniversary": (
            "bruiloft", "getrouwd", "huwelijksjubileum", "jubileum", "samen", "trouwdag",
        ),
        "retirement": (
            "afscheid", "gepensioneerd", "pensioen", "pensionering", "vut",
        ),
        "bereavement": (
            "begrafenis", "condoleance", "crematie", "dood", "gestorven", "heengegaan",
            "overleden", "overlijden", "rouw", "uitvaart", "verlies", "weduwe", "weduwnaar",
        ),
        "illness": (
            "afdeling", "beroerte", "chemo", "gebroken", "geopereerd", "hartaanval",
            "hartinfarct", "herseninfarct", "intensive", "kanker", "operatie", "ziek",
        ),
    },
    "de": {
        "birth": (
            "bekommen", "elternzeit", "entbunden", "geboren", "geburt", "gekommen",
            "geworden", "mutterschaftsurlaub", "mutterschutz", "nachwuchs", "neugeboren",
            "schwanger",
        ),
        "wedding": (
            "brautkleid", "flitterwochen", "geheiratet", "heirate", "hochzeit",
            "standesamt", "trauung", "verheiratet", "verlobt", "verlobung",
        ),
        "trip": (
            "amerika", "ausland", "australien", "ferien", "festival", "fliege",
            "fussballspiel", "kanada", "karten", "konzert", "neuseeland", "reise",
            "skiurlaub", "sommerurlaub", "spiel", "stadion", "tickets", "urlaub",
            "verreise", "verreist", "weltreise", "winterurlaub",
        ),
        "birthday": (
            "geburtstag", "jahre", "werde",
        ),
        "new_home": (
            "eingezogen", "einweihungsparty", "einzugsparty", "gekauft", "haus", "heim",
            "umgezogen", "umziehen", "umzug", "wohnung", "ziehe", "zieht", "zuhause",
        ),
        "graduation": (
            "abiball", "abschluss", "bachelor", "bestanden", "diplom", "gemacht",
            "geschafft", "master", "promoviert", "schul", "studien", "studium",
            "zeugnisübergabe",
        ),
        "new_job": (
            "arbeit", "befördert", "beförderung", "bekommen", "job", "stelle",
        ),
        "anniversary": (
            "diamant", "gold", "hochzeit", "jahrestag", "rubin", "silber", "verheiratet",
            "zusammen",
        ),
        "retirement": (
            "pension", "rente", "ruhestand",
        ),
        "bereavement": (
            "baby", "beerdigung", "beisetzung", "bruder", "cousin", "ehefrau", "ehemann",
            "frau", "freund", "grossmutter", "grossvater", "großmutter", "großvater",
            "hund", "katze", "kind", "mama", "mann", "mutter", "neffe", "nichte", "oma",
            "onkel", "opa", "papa", "partner", "schwester", "schwiegermutter",
            "schwiegervater", "sohn", "sterbefall", "tante", "tochter", "tod", "trauer",
            "vater", "verlobte", "verstorben", "verwitwet", "witwe",
        ),
        "illness": (
            "chemo", "erkrankt", "gebrochen", "herzinfarkt", "intensivstation", "klinik",
            "krank", "krebs", "operation", "operiert", "schlaganfall", "spital",
        ),
    },
    "fr": {
        "birth": (
            "accouchement", "accoucher", "accouché", "attend", "bébé", "devenir", "devenu",
            "deviens", "enceinte", "enfant", "fille", "fils", "garçon", "grossesse",
            "jumeaux", "jumelles", "maternité", "naissance", "nouveau", "parental",
            "paternité", "petit",
        ),
        "wedding": (
            "enterrement", "fiancé", "fiançailles", "jeunes", "lune", "mariage", "marie",
            "marions", "marié", "nouveaux", "voyage",
        ),
        "trip": (
            "aller", "allons", "amérique", "australie", "billets", "canada", "concert",
            "festival", "match", "pars", "partir", "partons", "places", "stade", "séjour",
            "vacances", "vais", "voyage", "étranger",
        ),
        "birthday": (
            "anniversaire", "fête",
        ),
        "new_home": (
            "appartement", "crémaillère", "déménage", "déménagé", "emménage", "emménagé",
            "logement", "maison", "nouveau", "nouvel",
        ),
        "graduation": (
            "bac", "concours", "diplôme", "diplômé", "doctorat", "licence", "master",
            "permis", "soutenance", "études",
        ),
        "new_job": (
            "décroché", "embauché", "nouveau", "nouvel", "obtenu", "premier", "promu",
            "trouvé",
        ),
        "anniversary": (
            "anniversaire", "ensemble", "mariage", "noces",
        ),
        "retirement": (
            "retraite", "retraité",
        ),
        "bereavement": (
            "condoléances", "deuil", "disparition", "disparu", "décès", "décéder", "décédé",
            "enterrement", "funérailles", "mort", "obsèques", "parti", "perdu", "perte",
            "veuf", "veuve",
        ),
        "illness": (
            "avc", "cancer", "cassé", "chimio", "chirurgie", "fracturé", "hospitalisation",
            "hospitalisé", "hôpital", "infarctus", "intensifs", "malade", "opération",
            "opéré", "réanimation",
        ),
    },
    "es": {
        "birth": (
            "acabamos", "acabo", "embarazada", "embarazo", "esperando", "luz", "maternidad",
            "nacer", "nacida", "nacido", "nacieron", "nacimiento", "nació", "paternidad",
            "primera", "primeriza", "primerizo", "recién", "tenido", "tuve", "tuvimos",
        ),
        "wedding": (
            "boda", "casa", "caso", "casé", "casó", "comprometido", "compromiso",
            "despedida", "luna", "novia", "novio", "pedida", "prometida", "prometido",
            "recién", "vestido",
        ),
        "trip": (
            "américa", "argentina", "australia", "canadá", "concierto", "entradas",
            "estadio", "estados", "extranjero", "festival", "francia", "italia", "japón",
            "londres", "méxico", "nueva", "partido", "parís", "portugal", "roma",
            "vacaciones", "viajando", "viaje",
        ),
        "birthday": (
            "cumpl",
        ),
        "new_home": (
            "apartamento", "casa", "comprado", "compramos", "compré", "muda", "mudo",
            "mudé", "mudó", "nuev", "piso",
        ),
        "graduation": (
            "aprobado", "aprobé", "aprobó", "carrera", "doctorado", "estudios",
            "graduación", "graduada", "graduado", "graduamos", "gradué", "graduó", "máster",
            "universidad", "universitario",
        ),
        "new_job": (
            "ascendido", "ascendieron", "conseguido", "conseguí", "contratado",
            "contrataron", "encontrado", "encontré", "nuevo", "trabajo",
        ),
        "anniversary": (
            "aniversario", "bodas", "casados", "juntos",
        ),
        "retirement": (
            "jubilación", "jubilada", "jubilado", "jubilamos", "jubilará", "jubilaré",
            "jubilo", "jubilé", "jubiló",
        ),
        "bereavement": (
            "condolencias", "entierro", "fallecida", "fallecido", "fallecieron",
            "fallecimiento", "falleció", "funeral", "luto", "morir", "muerte", "muerto",
            "murió", "perdí", "pérdida", "pésame", "tanatorio", "velorio", "viud",
        ),
        "illness": (
            "cirugía", "cáncer", "enferma", "enfermo", "hospital", "ictus", "infarto",
            "ingresad", "ingreso", "intensivos", "operación", "operad", "quimio",
            "quirófano", "rompió", "rompí", "uci",
        ),
    },
    "it": {
        "birth": (
            "aspetta", "aspettiamo", "aspetto", "bambina", "bambino", "bimba", "bimbo",
            "cesareo", "figlia", "figlio", "gemelli", "genitori", "gravidanza", "incinta",
            "madre", "mamma", "maternità", "nascita", "nat", "neonat", "nipotina",
            "nipotino", "nonna", "nonni", "nonno", "padre", "papà", "parentale",
            "partorito", "paternità",
        ),
        "wedding": (
            "abito", "celibato", "fidanzamento", "matrimonio", "miele", "neosposi", "nozze",
            "nubilato", "promessi", "sposa", "sposi", "sposo", "viaggio",
        ),
        "trip": (
            "america", "andare", "andiamo", "australia", "biglietti", "canada", "concerto",
            "estero", "ferie", "partiamo", "partire", "partita", "parto", "stadio",
            "vacanza", "vacanze", "vado", "viaggio", "voliamo", "volo",
        ),
        "birthday": (
            "compio", "compiuto", "compleanno",
        ),
        "new_home": (
            "acquistato", "appartamento", "casa", "comprato", "inaugurazione", "nuov",
            "trasferit", "traslocare", "traslocata", "traslocati", "traslocato",
            "traslocheremo", "traslochi", "trasloco",
        ),
        "graduation": (
            "diploma", "discussione", "dottorato", "laurea", "maturità", "passato",
            "superato",
        ),
        "new_job": (
            "assunt", "giorno", "impiego", "lavoro", "promoss", "trovato",
        ),
        "anniversary": (
            "anniversario", "insieme", "matrimonio", "nozze",
        ),
        "retirement": (
            "neo", "pensionamento", "pensione",
        ),
        "bereavement": (
            "condoglianze", "decedut", "decesso", "esequie", "funerale", "funerali",
            "lutto", "mancare", "morta", "morte", "morti", "morto", "perdita", "scomparsa",
            "scomparso", "vedov",
        ),
        "illness": (
            "cancro", "chemio", "ictus", "infarto", "intensiva", "intervento", "malat",
            "operat", "ospedale", "rianimazione", "ricoverat", "ricovero", "rott", "tumore",
        ),
    },
    "pt": {
        "birth": (
            "acabaram", "acabou", "avó", "avô", "espera", "gravidez", "grávida", "luz",
            "maternidade", "mãe", "nasceu", "nascid", "nascimento", "pai", "parental",
            "paternidade", "tive",
        ),
        "wedding": (
            "casada", "casado", "casamento", "casamo", "casar", "casei", "casou", "casámos",
            "despedida", "ficamos", "lua", "noiv", "vestido",
        ),
        "trip": (
            "américa", "austrália", "brasil", "canadá", "concerto", "espanha", "estados",
            "estrangeiro", "estádio", "exterior", "festival", "frança", "férias",
            "ingresso", "itália", "japão", "jogo", "londres", "nova", "paris", "portugal",
            "show", "viagem", "viajando",
        ),
        "birthday": (
            "aniversário", "completei", "completo", "faço", "fiz",
        ),
        "new_home": (
            "apartamento", "caminhão", "casa", "compramos", "comprei", "comprámos",
            "mudamos", "mudança", "mudar", "mudei", "mudámo", "nov",
        ),
        "graduation": (
            "acabei", "colação", "concluí", "formamos", "formatura", "formei", "formou",
            "graduei", "licenciei", "passei", "passou", "terminei",
        ),
        "new_job": (
            "arranjei", "consegui", "contratad", "contrataram", "emprego", "primeiro",
            "promoveram", "promovid", "trabalho",
        ),
        "anniversary": (
            "aniversário", "bodas", "casados", "casamento", "juntos",
        ),
        "retirement": (
            "aposentad", "aposentar", "aposentei", "aposentou", "reforma", "reformei",
        ),
        "bereavement": (
            "condolências", "enterro", "faleceram", "faleceu", "falecida", "falecido",
            "falecimento", "funeral", "luto", "morreu", "morte", "partiu", "perda",
            "pêsames", "velório", "viúv",
        ),
        "illness": (
            "avc", "cancro", "cirurgia", "câncer", "doente", "enfarte", "hospital",
            "infarto", "intensivos", "internad", "internamento", "internação", "operad",
            "parti", "quebrei", "quebrou", "quimio", "uti",
        ),
    },
}  # fmt: skip
