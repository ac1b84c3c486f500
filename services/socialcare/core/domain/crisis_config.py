"""The crisis section of the care config (see CareConfig): what counts as a crisis.

A crisis is many negative messages about one topic of one brand in one language, far more
than usual. The detector (socialcare.escalation.crisis) compares the negatives in a short
window with a rolling baseline; this section says which topics exist (keywords, per brand
or for all brands), how long the window and the baseline are, how far above the baseline
is a crisis (`factor`), how few messages never are (`min_volume`), and when an incident is
over (`close_factor` for `cooldown`, so a rate hovering around the threshold does not open
and close incidents every minute). A brand may override the thresholds (a brand with a
million followers is noisier than a small one).

Topic classification is one function, `CrisisConfig.topic_of`, so a smarter classifier
(intents, issue 13) replaces it in one place. A topic's keywords match by the shared
keyword rules (`socialcare.core.domain.keywords`, as listening and escalation keywords do):
whole words with Unicode case folding, phrases whose words may be separated by any spaces
or hyphens ("app down" matches "app-down"), and `word*` prefixes ("storing*" matches
"storingen").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from socialcare.core.domain.durations import parse_duration
from socialcare.core.domain.keywords import Terms, fold

if TYPE_CHECKING:
    from socialcare.core.domain.care_config import CareConfig

OTHER_TOPIC = "other"


def _seconds(value: str | float) -> float:
    return parse_duration(value)


class CrisisTopic(BaseModel):
    """A subject customers complain about together (an outage, a recall, a price change)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    keywords: list[str] = Field(
        min_length=1,
        description="Words, phrases or `word*` prefixes in any language; a message "
        "mentioning one is about the topic (case-insensitive, whole words; the rules of "
        "socialcare.core.domain.keywords).",
    )
    brands: list[str] = Field(
        default_factory=list, description="Only for these brands; empty = every brand."
    )

    @field_validator("keywords")
    @classmethod
    def _clean(cls, value: list[str]) -> list[str]:
        cleaned = [k.strip() for k in value]
        if any(not k for k in cleaned):
            raise ValueError("a keyword must not be empty")
        Terms(cleaned)  # ValueError naming a keyword that cannot match anything ("*")
        return cleaned

    @cached_property
    def terms(self) -> Terms:
        """All keywords compiled into one expression, whole words only ('bank' does not
        match 'bankrupt'; 'bank*' does)."""
        return Terms(self.keywords)


class CrisisOverride(BaseModel):
    """Thresholds of one brand, where they differ from the section's."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    brand: str = Field(min_length=1)
    window_seconds: float | None = Field(default=None, alias="window")
    factor: float | None = Field(default=None, gt=1)
    min_volume: int | None = Field(default=None, ge=1)
    close_factor: float | None = Field(default=None, gt=0)
    cooldown_seconds: float | None = Field(default=None, alias="cooldown")

    @field_validator("window_seconds", "cooldown_seconds", mode="before")
    @classmethod
    def _duration(cls, value: str | float | None) -> float | None:
        return None if value is None else _seconds(value)


@dataclass(frozen=True, slots=True)
class CrisisThresholds:
    """The thresholds the detector applies to one brand."""

    window_seconds: float
    baseline_seconds: float
    factor: float
    min_volume: int
    close_factor: float
    cooldown_seconds: float


class CrisisConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = Field(default=True, description="False: no signals, no incidents.")
    topics: list[CrisisTopic] = Field(default_factory=list)
    window_seconds: float = Field(default=900.0, alias="window")
    baseline_seconds: float = Field(
        default=86400.0,
        alias="baseline",
        description="The rolling baseline the window is compared with; minutes inside an "
        "incident are left out of it, so a crisis does not become the new normal.",
    )
    factor: float = Field(default=3.0, gt=1, description="Open at this many times the baseline.")
    min_volume: int = Field(
        default=10, ge=1, description="Never open on fewer negatives than this in the window."
    )
    close_factor: float = Field(
        default=1.5, gt=0, description="Close once the rate stays below this * baseline..."
    )
    cooldown_seconds: float = Field(default=1800.0, alias="cooldown", description="...this long.")
    update_every_cases: int = Field(
        default=10, ge=1, description="An UPDATED event each time this many more cases joined..."
    )
    update_every_seconds: float = Field(
        default=300.0, alias="update_every", description="...or this long passed with new ones."
    )
    brands: list[CrisisOverride] = Field(default_factory=list)

    @field_validator(
        "window_seconds",
        "baseline_seconds",
        "cooldown_seconds",
        "update_every_seconds",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: str | float) -> float:
        return _seconds(value)

    def thresholds(self, brand: str) -> CrisisThresholds:
        """The section's thresholds with `brand`'s overrides applied."""
        o = next((o for o in self.brands if o.brand == brand), None)
        return CrisisThresholds(
            window_seconds=o.window_seconds or self.window_seconds if o else self.window_seconds,
            baseline_seconds=self.baseline_seconds,
            factor=o.factor or self.factor if o else self.factor,
            min_volume=o.min_volume or self.min_volume if o else self.min_volume,
            close_factor=o.close_factor or self.close_factor if o else self.close_factor,
            cooldown_seconds=(
                o.cooldown_seconds or self.cooldown_seconds if o else self.cooldown_seconds
            ),
        )

    def topic_of(self, brand: str, text: str) -> str:
        """The topic `text` (a message to `brand`) is about: the first configured topic of
        the brand whose keyword it mentions, else `other`. The one classifier: replace it
        here when intents arrive."""
        folded = fold(text)
        for topic in self.topics:
            if (not topic.brands or brand in topic.brands) and topic.terms.search(folded):
                return topic.name
        return OTHER_TOPIC

    def topic_names(self) -> list[str]:
        """Every topic name, `other` included: the bounded set of label values."""
        return sorted({t.name for t in self.topics} | {OTHER_TOPIC})


def check(care: CareConfig) -> None:
    """Cross-references to the rest of the config; ValueError names the entry at fault."""
    section = care.crisis
    brands = {b.name for b in care.effective_brands}
    seen: set[str] = set()
    for topic in section.topics:
        if topic.name == OTHER_TOPIC:
            raise ValueError(f"crisis topic {OTHER_TOPIC!r} is reserved for unmatched messages")
        if topic.name in seen:
            raise ValueError(f"crisis topic {topic.name!r} is defined twice")
        seen.add(topic.name)
        unknown = sorted(set(topic.brands) - brands)
        if unknown:
            raise ValueError(
                f"crisis topic {topic.name!r}: brands {', '.join(unknown)} are not configured "
                f"({', '.join(sorted(brands))})"
            )
    overridden: set[str] = set()
    for override in section.brands:
        if override.brand not in brands:
            raise ValueError(
                f"crisis override for brand {override.brand!r}: not a configured brand "
                f"({', '.join(sorted(brands))})"
            )
        if override.brand in overridden:
            raise ValueError(f"crisis override for brand {override.brand!r} appears twice")
        overridden.add(override.brand)
    if section.baseline_seconds < 4 * section.window_seconds:
        raise ValueError("crisis baseline must be at least four windows long")
    for override in section.brands:
        thresholds = section.thresholds(override.brand)
        if thresholds.close_factor >= thresholds.factor:
            raise ValueError(
                f"crisis override for brand {override.brand!r}: close_factor must be below "
                "factor (or incidents would close as soon as they open)"
            )
    if section.close_factor >= section.factor:
        raise ValueError("crisis close_factor must be below factor")
