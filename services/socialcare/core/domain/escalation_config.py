"""The escalation section of the care config (see CareConfig)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from socialcare.core.domain.care_config import CareConfig


class EscalationConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def check(care: CareConfig) -> None:
    """Cross-references to the rest of the config; ValueError names the entry at fault."""
