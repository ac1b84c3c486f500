"""How routing weighs, queues and closes cases: the `routing:` and `intents:` sections of
the care config.

* `routing.priority`: the signals a case's priority is made of (urgency, sentiment, reach,
  customer value, SLA time left), their weights, and the score at which each level starts.
  The case shows every factor's share (scenario 5: the valued customer against the
  influencer), so a supervisor can see *why* and change the weights.
* `routing.lifecycle`: the customer decides when a case is solved (scenario 2): an agent's
  resolve asks "has this been solved?", the case resolves on a yes or after
  `confirmation_timeout`; a resolved case reopens when the customer writes within
  `reopen_within` and closes after it; a satisfaction question (CSAT or NPS) follows the
  resolution (scenario 4). Owners who go offline lose their cases after `offline_grace`;
  owners silent for `silent_owner_after` while the customer waits lose them to a colleague.
* `routing.messages`: the texts routing sends in the agent's name, per language.
* `intents`: the brand's taxonomy of questions and leads (billing, outage, sales lead, ...),
  with words and example messages per language that recognise them; a sales intent sends
  the case to a queue that lists it (scenario 8), and every intent of a message is a
  question the case must answer (scenario 1).

Pure configuration: validated once at start-up (`check` runs from CareConfig's validator);
a mistake names the entry and field.
"""

from __future__ import annotations

import string
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from socialcare.core.domain.durations import parse_duration
from socialcare.core.domain.keywords import keyword_pattern
from socialcare.core.domain.validators import (
    ANY_LANGUAGE,
    NAME_PATTERN,
    check_language,
    check_unique,
)

if TYPE_CHECKING:
    from socialcare.core.domain.care_config import CareConfig

# The priority levels from lowest to highest (the same four SLA policies can name).
LEVELS = ("low", "normal", "high", "urgent")
# The signals a priority score is made of, in the order the case explains them on a tie.
FACTORS = ("urgency", "sentiment", "reach", "customer_value", "sla")
# The variables routing's own messages may use.
MESSAGE_VARIABLES = frozenset({"customer_first_name", "agent_first_name"})
# An intent's example messages: at most this many per language, each at most this long.
MAX_EXAMPLES = 50
MAX_EXAMPLE_CHARS = 300


class PriorityWeights(BaseModel):
    """How much each signal (0..1) counts; the score is the weighted mean. A weight of 0
    leaves a signal out."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    urgency: float = Field(default=1.0, ge=0, le=100)
    sentiment: float = Field(default=1.0, ge=0, le=100)
    reach: float = Field(default=1.0, ge=0, le=100)
    customer_value: float = Field(default=1.5, ge=0, le=100)
    sla: float = Field(default=1.0, ge=0, le=100)

    @model_validator(mode="after")
    def _some_weight(self) -> PriorityWeights:
        if sum(self.of(f) for f in FACTORS) <= 0:
            raise ValueError("at least one weight must be above 0")
        return self

    def of(self, factor: str) -> float:
        return float(getattr(self, factor))


class PriorityLevels(BaseModel):
    """The score (0..1) from which a case has each level; below `normal` it is low."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    normal: float = Field(default=0.1, ge=0, le=1)
    high: float = Field(default=0.35, ge=0, le=1)
    urgent: float = Field(default=0.7, ge=0, le=1)

    @model_validator(mode="after")
    def _ascending(self) -> PriorityLevels:
        if not self.normal <= self.high <= self.urgent:
            raise ValueError("levels must ascend: normal <= high <= urgent")
        return self

    def level(self, score: float) -> str:
        if score >= self.urgent:
            return "urgent"
        if score >= self.high:
            return "high"
        if score >= self.normal:
            return "normal"
        return "low"


class PriorityConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    weights: PriorityWeights = Field(default_factory=PriorityWeights)
    levels: PriorityLevels = Field(default_factory=PriorityLevels)
    reach_from: int = Field(
        default=1_000,
        ge=0,
        description="Followers below this count as no reach (signal 0).",
    )
    reach_full_at: int = Field(
        default=1_000_000,
        ge=1,
        description="Followers from which reach is full (signal 1); in between it grows "
        "with the logarithm of the followers.",
    )
    value_full_at: float = Field(
        default=10_000.0,
        gt=0,
        description="A customer value (Author.customer_value, e.g. yearly revenue) from which "
        "the value signal is full; a customer tier gives its own signal (see "
        "`tier_values`), the larger of the two counts.",
    )
    tier_values: dict[str, float] = Field(
        default_factory=dict,
        description="Value signal (0..1) per customer tier; unset tiers are spread evenly "
        "by their place in `customer_tiers` (the first 0, the last 1).",
    )

    @model_validator(mode="after")
    def _reach_range(self) -> PriorityConfig:
        if self.reach_full_at <= self.reach_from:
            raise ValueError("reach_full_at must be above reach_from")
        for tier, value in self.tier_values.items():
            if not 0 <= value <= 1:
                raise ValueError(f"tier_values.{tier}: must be between 0 and 1")
        return self


class SurveyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["csat", "nps", "none"] = Field(
        default="csat",
        description="csat: 'how satisfied, 1-5'; nps: 'how likely to recommend, 0-10'; "
        "none: no question after resolution.",
    )
    answer_within: str = Field(
        default="3d", description="An answer after this is an ordinary message."
    )

    _check_duration = field_validator("answer_within")(lambda v: _duration(v))

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=parse_duration(self.answer_within))


class LifecycleConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    confirm_resolution: bool = Field(
        default=True,
        description="Ask the customer 'has this been solved?' and resolve on their yes (or "
        "the timeout); false = an agent's resolve resolves at once.",
    )
    confirmation_timeout: str = Field(
        default="48h", description="No answer to 'has this been solved?' by then: resolved."
    )
    reopen_within: str = Field(
        default="7d",
        description="A customer message this long after resolution reopens the case; later "
        "the case is closed and a message opens a new one.",
    )
    silent_owner_after: str | None = Field(
        default="2h",
        description="The customer waits this long on an assigned case without a reply from "
        "its owner: it goes to another agent with room. null = never.",
    )
    offline_grace: str = Field(
        default="5m",
        description="An owner offline this long loses their open cases to agents online.",
    )
    default_presence: Literal["online", "offline"] = Field(
        default="online",
        description="The presence of an agent who never set one (online: a fresh install "
        "routes without anyone signing in first).",
    )
    survey: SurveyConfig = Field(default_factory=SurveyConfig)

    @field_validator("confirmation_timeout", "reopen_within", "offline_grace")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @field_validator("silent_owner_after")
    @classmethod
    def _optional_duration(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)

    @property
    def confirmation(self) -> timedelta:
        return timedelta(seconds=parse_duration(self.confirmation_timeout))

    @property
    def reopen_window(self) -> timedelta:
        return timedelta(seconds=parse_duration(self.reopen_within))

    @property
    def silent_owner(self) -> timedelta | None:
        if self.silent_owner_after is None:
            return None
        return timedelta(seconds=parse_duration(self.silent_owner_after))

    @property
    def grace(self) -> timedelta:
        return timedelta(seconds=parse_duration(self.offline_grace))


def _default_confirmation() -> dict[str, str]:
    return {
        "en": "Hi {customer_first_name}, has this been solved for you? Just reply yes or no.",
        "nl": "Hoi {customer_first_name}, is het hiermee opgelost? Antwoord gerust met ja of nee.",
        "de": "Hallo {customer_first_name}, ist das damit gelöst? Antworte einfach mit ja oder "
        "nein.",
        "fr": "Bonjour {customer_first_name}, est-ce résolu pour vous ? Répondez simplement oui "
        "ou non.",
        "es": "Hola {customer_first_name}, ¿se ha resuelto? Responde sí o no.",
        "it": "Ciao {customer_first_name}, è stato risolto? Rispondi pure sì o no.",
        "pt": "Olá {customer_first_name}, ficou resolvido? Responda sim ou não.",
    }


def _default_csat() -> dict[str, str]:
    return {
        "en": "How satisfied are you with our help, from 1 (not at all) to 5 (very)?",
        "nl": "Hoe tevreden ben je over onze hulp, van 1 (helemaal niet) tot 5 (heel erg)?",
        "de": "Wie zufrieden bist du mit unserer Hilfe, von 1 (gar nicht) bis 5 (sehr)?",
        "fr": "Êtes-vous satisfait de notre aide, de 1 (pas du tout) à 5 (très) ?",
        "es": "¿Qué tan satisfecho estás con nuestra ayuda, de 1 (nada) a 5 (mucho)?",
        "it": "Quanto sei soddisfatto del nostro aiuto, da 1 (per niente) a 5 (molto)?",
        "pt": "Qual a sua satisfação com a nossa ajuda, de 1 (nada) a 5 (muito)?",
    }


def _default_nps() -> dict[str, str]:
    return {
        "en": "How likely are you to recommend us to a friend, from 0 to 10?",
        "nl": "Hoe waarschijnlijk is het dat je ons aanbeveelt bij een vriend, van 0 tot 10?",
        "de": "Wie wahrscheinlich empfiehlst du uns einem Freund, von 0 bis 10?",
        "fr": "Quelle est la probabilité que vous nous recommandiez à un ami, de 0 à 10 ?",
        "es": "¿Qué probabilidad hay de que nos recomiendes a un amigo, de 0 a 10?",
        "it": "Quanto è probabile che ci consigli a un amico, da 0 a 10?",
        "pt": "Qual a probabilidade de nos recomendar a um amigo, de 0 a 10?",
    }


class RoutingMessages(BaseModel):
    """What routing says to the customer in the agent's name, per language (ISO 639-1);
    a language without its own text gets the English one. {customer_first_name} and
    {agent_first_name} are filled in; the brand's signature is added like to any reply."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    confirmation: dict[str, str] = Field(default_factory=_default_confirmation)
    csat: dict[str, str] = Field(default_factory=_default_csat)
    nps: dict[str, str] = Field(default_factory=_default_nps)

    @field_validator("confirmation", "csat", "nps")
    @classmethod
    def _texts(cls, value: dict[str, str]) -> dict[str, str]:
        if "en" not in value:
            raise ValueError("needs an 'en' text (the fallback for other languages)")
        for language, text in value.items():
            check_language(language)
            _check_variables(text)
        return value

    def text(self, which: Literal["confirmation", "csat", "nps"], language: str) -> str:
        """The text for `language` (English when it has none), variables not filled."""
        texts: dict[str, str] = getattr(self, which)
        return texts.get(language) or texts["en"]


class RoutingConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    priority: PriorityConfig = Field(default_factory=PriorityConfig)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    messages: RoutingMessages = Field(default_factory=RoutingMessages)


class IntentDefinition(BaseModel):
    """One entry of the intent taxonomy: a kind of question or lead, and what recognises it
    in a message: words (per language, `*` = any; matched as in `core.domain.keywords`:
    whole words, `word*` prefixes, phrases) and example messages (per language, `*` = any),
    which catch the wordings no keyword list foresees (`enrichment.intent_examples`).
    Either may be left out, not both."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=60, pattern=NAME_PATTERN)
    keywords: dict[str, list[str]] = Field(
        default_factory=dict,
        min_length=1,
        description="Words and phrases per language (`*` = any) that name the intent.",
    )
    examples: dict[str, list[str]] = Field(
        default_factory=dict,
        min_length=1,
        description="Example customer messages per language (`*` = any), at most "
        f"{MAX_EXAMPLES} per language of at most {MAX_EXAMPLE_CHARS} characters: a clause no "
        "keyword matches that reads like them gets the intent.",
    )
    brands: list[str] = Field(
        default_factory=list, description="Only for these brands' messages; empty = every brand."
    )
    sales: bool = Field(
        default=False,
        description="A sales lead (scenario 8): the case goes to a queue that lists this intent.",
    )
    product: str | None = Field(
        default=None,
        max_length=60,
        pattern=NAME_PATTERN,
        description="The product the intent is about: agents with skill product:<name> are "
        "preferred, specialists with it are suggested for consults.",
    )
    urgency: float = Field(
        default=0.0, ge=0, le=1, description="How urgent a message with this intent is (0..1)."
    )
    question: bool = Field(
        default=True,
        description="A question the case must answer before it can be proposed as solved "
        "(false for e.g. compliments).",
    )

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for language, words in value.items():
            if language != ANY_LANGUAGE:
                check_language(language)
            if not words:
                raise ValueError(f"{language}: list at least one keyword")
            for word in words:
                keyword_pattern(word)
        return value

    @field_validator("examples")
    @classmethod
    def _examples(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        cleaned: dict[str, list[str]] = {}
        for language, texts in value.items():
            code = language if language == ANY_LANGUAGE else check_language(language)
            if code in cleaned:
                raise ValueError(f"{language}: listed twice (as {code!r})")
            if not texts:
                raise ValueError(f"{language}: list at least one example (or leave it out)")
            if len(texts) > MAX_EXAMPLES:
                raise ValueError(
                    f"{language}: {len(texts)} examples, at most {MAX_EXAMPLES} per language "
                    "(a few typical wordings recognise more than many near copies)"
                )
            for number, text in enumerate(texts, start=1):
                _check_example(text, f"{language} example {number}")
            cleaned[code] = [" ".join(t.split()) for t in texts]
        return cleaned

    @model_validator(mode="after")
    def _recognisable(self) -> IntentDefinition:
        if not self.keywords and not self.examples:
            raise ValueError(
                f"intent {self.name!r}: list keywords or examples (or both); without either "
                "it is never found"
            )
        return self


def _check_example(text: str, where: str) -> None:
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"{where}: empty; write a message a customer would send")
    if len(stripped) > MAX_EXAMPLE_CHARS:
        raise ValueError(
            f"{where}: {len(stripped)} characters, at most {MAX_EXAMPLE_CHARS} (one clause or "
            "sentence: a message is compared clause by clause)"
        )
    if not any(c.isalnum() for c in stripped):
        raise ValueError(f"{where}: {stripped!r} has no letters or digits to compare")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in stripped):
        raise ValueError(f"{where}: contains a lone surrogate (broken Unicode)")


def check(care: CareConfig) -> None:
    """Cross-section rules: names an intent uses must exist elsewhere in the config."""
    check_unique("intent name", [i.name for i in care.intents])
    brand_names = {b.name for b in care.effective_brands}
    for intent in care.intents:
        unknown = sorted(set(intent.brands) - brand_names)
        if unknown:
            raise ValueError(
                f"intent {intent.name!r}: brands {', '.join(unknown)} are not configured"
            )
    for tier in care.routing.priority.tier_values:
        if tier not in care.customer_tiers:
            raise ValueError(
                f"routing.priority.tier_values: {tier!r} is not a customer tier "
                f"({', '.join(care.customer_tiers)})"
            )


def _duration(value: str) -> str:
    parse_duration(value)
    return value


def _check_variables(text: str) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ValueError(f"braces do not pair up ({exc}); write {{{{ for a brace") from None
    unknown = names - MESSAGE_VARIABLES
    if unknown:
        raise ValueError(
            f"unknown variable {{{sorted(unknown)[0]}}}: only "
            + ", ".join(f"{{{n}}}" for n in sorted(MESSAGE_VARIABLES))
            + " may be used"
        )
