"""The console's own words in English and Dutch (customers' words are never translated).

One dict per language with the same keys (a test keeps them in step). The language is the
user's choice (the `socialcare_lang` cookie the language switch sets), else the browser's
`Accept-Language`, else English. Strings with `{name}` fields are filled with
`str.format` by the template (`t.key.format(...)`); Jinja2 escapes the result.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGE_COOKIE = "socialcare_lang"
DEFAULT_LANGUAGE = "en"

EN: dict[str, str] = {
    "app_name": "socialcare",
    "skip_to_content": "Skip to content",
    "main_navigation": "Main",
    "nav_inbox": "Inbox",
    "nav_wall": "Command center",
    "signed_in_as": "Signed in as {name}",
    "sign_out": "Sign out",
    "language": "Language",
    "change_language": "Change",
    "lang_en": "English",
    "lang_nl": "Nederlands",
    # sign-in
    "sign_in": "Sign in",
    "sign_in_title": "Sign in to socialcare",
    "username": "Username",
    "password": "Password",
    "sign_in_sso": "Sign in with SSO",
    "or": "or",
    "sign_in_failed": "Sign-in failed: check your username and password, or try again later.",
    # inbox
    "inbox_title": "Inbox",
    "my_cases": "My cases",
    "my_queues": "My queues",
    "my_queues_hint": (
        "Waiting in {queues}, in {languages}: highest priority and least SLA time first."
    ),
    "consultations": "Asked for my advice",
    "no_cases": "Nothing here right now.",
    "board_loading": "Loading the cases… this page updates by itself.",
    "col_priority": "Priority",
    "col_customer": "Customer",
    "col_message": "Last message",
    "col_language": "Language",
    "col_channel": "Channel",
    "col_queue": "Queue",
    "col_sla": "First response due",
    "col_status": "Status",
    "col_assignee": "Owner",
    "live_updates_on": "Live updates on",
    "live_updates_off": "Live updates paused; reconnecting…",
    "new_activity": "Inbox updated",
    "not_an_agent": (
        "You are not on the agent roster, so you have no inbox. Operations use the command center."
    ),
    # statuses, priorities, sentiment, sla
    "status_open": "Waiting",
    "status_assigned": "Assigned",
    "status_waiting_on_customer": "Waiting on customer",
    "status_resolved": "Resolved",
    "priority_high": "High",
    "priority_normal": "Normal",
    "priority_low": "Low",
    "priority_urgent": "Urgent",
    "sentiment_negative": "Negative",
    "sentiment_neutral": "Neutral",
    "sentiment_positive": "Positive",
    "sla_running": "Running",
    "sla_met": "Met",
    "sla_breached": "Breached",
    "sla_paused": "Paused (awaiting customer)",
    "sla_left": "{time} left",
    "sla_overdue": "overdue by {time}",
    "sla_none": "no deadline",
    # case
    "case_title": "Case {id}",
    "back_to_inbox": "Back to inbox",
    "conversation": "Conversation",
    "customer": "Customer",
    "reach": "Reach",
    "followers": "{count} followers",
    "customer_value": "Customer value",
    "unknown": "unknown",
    "previous_cases": "Previous cases",
    "no_previous_cases": "No earlier cases of this customer.",
    "escalations": "Escalations",
    "no_escalations": "No escalations.",
    "consultants": "Specialists consulted",
    "details": "Details",
    "opened": "Opened",
    "first_response": "First response",
    "message_from_customer": "Customer message",
    "message_from_agent": "Reply by {agent}",
    "internal_note": "Internal note by {agent} (not sent to the customer)",
    "sentiment": "Sentiment",
    "sentiment_value": "{label} ({score})",
    "delivery": "Delivery",
    "delivery_pending": "pending",
    "delivery_sent": "sent",
    "delivery_delivered": "delivered",
    "delivery_read": "read",
    "delivery_failed": "failed",
    "attachment": "Attachment: {type}",
    "case_not_found": "No case {id}, or not one you may see.",
    "case_unavailable": "The case cannot be read right now ({reason}). Try again in a moment.",
    # composer and actions
    "composer": "Reply",
    "canned_answer": "Canned answer",
    "canned_none": "— choose a canned answer —",
    "insert": "Insert",
    "reply_text": "Your reply",
    "signature_note": (
        "Your signature “{signature}” is added: {limit} characters in all on {channel}."
    ),
    "no_limit": "No length limit on {channel}.",
    "counter": "{used} of {limit} characters",
    "counter_full": "Limit reached: {limit} characters including your signature.",
    "send": "Send reply",
    "claim": "Claim case",
    "transfer": "Transfer",
    "transfer_to": "Transfer to",
    "transfer_reason": "Reason for the transfer",
    "note": "Internal note",
    "note_text": "Note (never sent to the customer)",
    "consult": "Consult a specialist (optional)",
    "consult_none": "— nobody —",
    "add_note": "Add note",
    "resolve": "Resolve case",
    "act_as": "Act as agent",
    "read_only": "You can read this case but not act on it.",
    "case_is_resolved": "This case is resolved; it reopens when the customer writes again.",
    "sent_ok": "Done. The case updates in a moment.",
    "action_failed": "Not done: {reason}",
    "rejected": "Routing refused the action: {reason}",
    "whatsapp_template_note": (
        "After 24 hours without a customer message, WhatsApp only accepts an approved template."
    ),
    "whatsapp_window_closed": (
        "The customer last wrote more than 24 hours ago: WhatsApp now delivers only a "
        "template the brand had approved."
    ),
    "template": "Approved template",
    "template_parameters": "Template values",
    "template_parameters_hint": "One value per line, for {{1}}, {{2}}, … in order.",
    "send_template": "Send template",
    "no_templates": (
        "This brand has no approved WhatsApp templates (care config meta.whatsapp_templates), "
        "so this customer cannot be answered on WhatsApp until they write again."
    ),
    # wall
    "wall_title": "Command center",
    "wall_window": "Last 24 hours, updated live.",
    "sla_by_language": "First response by language",
    "col_cases": "Cases",
    "col_attainment": "SLA met",
    "col_p50": "p50",
    "col_p90": "p90",
    "col_open": "Open",
    "col_at_risk": "At risk",
    "col_breached_open": "Overdue now",
    "col_target": "Target",
    "queue_depths": "Queues",
    "col_waiting": "Waiting",
    "col_in_progress": "With an agent",
    "col_waiting_customer": "Waiting on customer",
    "col_oldest": "Oldest waiting",
    "agents_present": "Agents at the console",
    "col_team": "Team",
    "col_time_zone": "Time zone",
    "col_present": "At the console",
    "col_roster": "On the roster",
    "col_local_time": "Local time",
    "presence_note": "Counted from open consoles on this gateway process.",
    "sentiment_trend": "Sentiment of customer messages per hour",
    "col_hour": "Hour (UTC)",
    "col_average": "Average",
    "col_messages": "Messages",
    "open_escalations": "Open escalations and incidents",
    "col_trigger": "Trigger",
    "col_tier": "Tier",
    "col_reason": "Reason",
    "col_raised": "Raised",
    "col_case": "Case",
    "incident": "Incident",
    "no_data": "No data yet.",
    "forbidden": "You may not see this page.",
    "error_title": "Something went wrong",
}

NL: dict[str, str] = {
    "app_name": "socialcare",
    "skip_to_content": "Naar de inhoud",
    "main_navigation": "Hoofdmenu",
    "nav_inbox": "Inbox",
    "nav_wall": "Commandocentrum",
    "signed_in_as": "Ingelogd als {name}",
    "sign_out": "Uitloggen",
    "language": "Taal",
    "change_language": "Wijzig",
    "lang_en": "English",
    "lang_nl": "Nederlands",
    "sign_in": "Inloggen",
    "sign_in_title": "Inloggen bij socialcare",
    "username": "Gebruikersnaam",
    "password": "Wachtwoord",
    "sign_in_sso": "Inloggen met SSO",
    "or": "of",
    "sign_in_failed": (
        "Inloggen mislukt: controleer je gebruikersnaam en wachtwoord, of probeer het "
        "later opnieuw."
    ),
    "inbox_title": "Inbox",
    "my_cases": "Mijn cases",
    "my_queues": "Mijn wachtrijen",
    "my_queues_hint": (
        "Wachtend in {queues}, in {languages}: hoogste prioriteit en minste SLA-tijd eerst."
    ),
    "consultations": "Om mijn advies gevraagd",
    "no_cases": "Op dit moment niets.",
    "board_loading": "Cases worden geladen… deze pagina werkt zichzelf bij.",
    "col_priority": "Prioriteit",
    "col_customer": "Klant",
    "col_message": "Laatste bericht",
    "col_language": "Taal",
    "col_channel": "Kanaal",
    "col_queue": "Wachtrij",
    "col_sla": "Eerste reactie uiterlijk",
    "col_status": "Status",
    "col_assignee": "Eigenaar",
    "live_updates_on": "Live bijwerken aan",
    "live_updates_off": "Live bijwerken gepauzeerd; opnieuw verbinden…",
    "new_activity": "Inbox bijgewerkt",
    "not_an_agent": (
        "Je staat niet op het agentenrooster en hebt dus geen inbox. Operations gebruikt "
        "het commandocentrum."
    ),
    "status_open": "Wachtend",
    "status_assigned": "Toegewezen",
    "status_waiting_on_customer": "Wacht op klant",
    "status_resolved": "Opgelost",
    "priority_high": "Hoog",
    "priority_normal": "Normaal",
    "priority_low": "Laag",
    "priority_urgent": "Urgent",
    "sentiment_negative": "Negatief",
    "sentiment_neutral": "Neutraal",
    "sentiment_positive": "Positief",
    "sla_running": "Loopt",
    "sla_met": "Gehaald",
    "sla_breached": "Overschreden",
    "sla_paused": "Gepauzeerd (wacht op klant)",
    "sla_left": "nog {time}",
    "sla_overdue": "{time} te laat",
    "sla_none": "geen termijn",
    "case_title": "Case {id}",
    "back_to_inbox": "Terug naar de inbox",
    "conversation": "Gesprek",
    "customer": "Klant",
    "reach": "Bereik",
    "followers": "{count} volgers",
    "customer_value": "Klantwaarde",
    "unknown": "onbekend",
    "previous_cases": "Eerdere cases",
    "no_previous_cases": "Geen eerdere cases van deze klant.",
    "escalations": "Escalaties",
    "no_escalations": "Geen escalaties.",
    "consultants": "Geraadpleegde specialisten",
    "details": "Gegevens",
    "opened": "Geopend",
    "first_response": "Eerste reactie",
    "message_from_customer": "Bericht van de klant",
    "message_from_agent": "Antwoord van {agent}",
    "internal_note": "Interne notitie van {agent} (niet naar de klant gestuurd)",
    "sentiment": "Sentiment",
    "sentiment_value": "{label} ({score})",
    "delivery": "Bezorging",
    "delivery_pending": "in behandeling",
    "delivery_sent": "verstuurd",
    "delivery_delivered": "bezorgd",
    "delivery_read": "gelezen",
    "delivery_failed": "mislukt",
    "attachment": "Bijlage: {type}",
    "case_not_found": "Geen case {id}, of niet een die je mag zien.",
    "case_unavailable": "De case kan nu niet worden gelezen ({reason}). Probeer het zo opnieuw.",
    "composer": "Antwoorden",
    "canned_answer": "Standaardantwoord",
    "canned_none": "— kies een standaardantwoord —",
    "insert": "Invoegen",
    "reply_text": "Je antwoord",
    "signature_note": (
        "Je ondertekening “{signature}” wordt toegevoegd: in totaal {limit} tekens op {channel}."
    ),
    "no_limit": "Geen lengtelimiet op {channel}.",
    "counter": "{used} van {limit} tekens",
    "counter_full": "Limiet bereikt: {limit} tekens inclusief je ondertekening.",
    "send": "Antwoord versturen",
    "claim": "Case oppakken",
    "transfer": "Overdragen",
    "transfer_to": "Overdragen aan",
    "transfer_reason": "Reden van de overdracht",
    "note": "Interne notitie",
    "note_text": "Notitie (nooit naar de klant gestuurd)",
    "consult": "Specialist raadplegen (optioneel)",
    "consult_none": "— niemand —",
    "add_note": "Notitie toevoegen",
    "resolve": "Case afsluiten",
    "act_as": "Handelen als agent",
    "read_only": "Je kunt deze case lezen maar er niets mee doen.",
    "case_is_resolved": "Deze case is opgelost; hij gaat weer open als de klant opnieuw schrijft.",
    "sent_ok": "Gedaan. De case wordt zo bijgewerkt.",
    "action_failed": "Niet gelukt: {reason}",
    "rejected": "Routing weigerde de actie: {reason}",
    "whatsapp_template_note": (
        "Na 24 uur zonder bericht van de klant accepteert WhatsApp alleen een goedgekeurd sjabloon."
    ),
    "whatsapp_window_closed": (
        "De klant schreef meer dan 24 uur geleden: WhatsApp bezorgt nu alleen een sjabloon "
        "dat het merk liet goedkeuren."
    ),
    "template": "Goedgekeurd sjabloon",
    "template_parameters": "Waarden voor het sjabloon",
    "template_parameters_hint": "Eén waarde per regel, voor {{1}}, {{2}}, … op volgorde.",
    "send_template": "Sjabloon versturen",
    "no_templates": (
        "Dit merk heeft geen goedgekeurde WhatsApp-sjablonen (care config "
        "meta.whatsapp_templates): deze klant kan via WhatsApp pas antwoord krijgen als hij "
        "opnieuw schrijft."
    ),
    "wall_title": "Commandocentrum",
    "wall_window": "Afgelopen 24 uur, live bijgewerkt.",
    "sla_by_language": "Eerste reactie per taal",
    "col_cases": "Cases",
    "col_attainment": "SLA gehaald",
    "col_p50": "p50",
    "col_p90": "p90",
    "col_open": "Open",
    "col_at_risk": "Dreigt te laat",
    "col_breached_open": "Nu te laat",
    "col_target": "Norm",
    "queue_depths": "Wachtrijen",
    "col_waiting": "Wachtend",
    "col_in_progress": "Bij een agent",
    "col_waiting_customer": "Wacht op klant",
    "col_oldest": "Langst wachtend",
    "agents_present": "Agents achter de console",
    "col_team": "Team",
    "col_time_zone": "Tijdzone",
    "col_present": "Achter de console",
    "col_roster": "Op het rooster",
    "col_local_time": "Lokale tijd",
    "presence_note": "Geteld aan de open consoles op dit gatewayproces.",
    "sentiment_trend": "Sentiment van klantberichten per uur",
    "col_hour": "Uur (UTC)",
    "col_average": "Gemiddeld",
    "col_messages": "Berichten",
    "open_escalations": "Open escalaties en incidenten",
    "col_trigger": "Aanleiding",
    "col_tier": "Niveau",
    "col_reason": "Reden",
    "col_raised": "Gemeld",
    "col_case": "Case",
    "incident": "Incident",
    "no_data": "Nog geen gegevens.",
    "forbidden": "Je mag deze pagina niet zien.",
    "error_title": "Er ging iets mis",
}

CATALOGS: Mapping[str, Mapping[str, str]] = {"en": EN, "nl": NL}
LANGUAGES: tuple[str, ...] = tuple(CATALOGS)

# The strings the console's script needs (countdowns, counter, stream state, errors).
SCRIPT_KEYS = (
    "sla_left",
    "sla_overdue",
    "counter",
    "counter_full",
    "live_updates_on",
    "live_updates_off",
    "new_activity",
    "sent_ok",
    "action_failed",
    "rejected",
)


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The user's chosen language, else the browser's most preferred one that we have
    (`Accept-Language` quality values; the earlier entry on a tie), else English."""
    if cookie is not None and cookie in CATALOGS:
        return cookie
    best: tuple[float, str] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        if code not in CATALOGS:
            continue
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, code)
    return best[1] if best else DEFAULT_LANGUAGE


def catalog(language: str) -> Mapping[str, str]:
    return CATALOGS.get(language, EN)
