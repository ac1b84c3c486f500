"""Every topic name in one place; each dead-letter topic stands beside the topic it serves.

The names are part of the public contract for integrators: never rename, only add.
"""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    MESSAGES_RAW = "social.messages.raw"
    MESSAGES_ENRICHED = "social.messages.enriched"
    COMMANDS = "care.commands"
    CASES = "care.cases"
    SLA = "care.sla"
    ESCALATIONS = "care.escalations"
    OUTBOUND = "care.outbound"

    @property
    def dlq(self) -> str:
        """Where a consumer of this topic puts records it cannot process."""
        return dlq_of(self.value)


def dlq_of(topic: str) -> str:
    return f"{topic}.dlq"


ALL_TOPICS: tuple[str, ...] = tuple(t.value for t in Topic) + tuple(t.dlq for t in Topic)
