"""A brand's policy for personal data in what goes to search (care config `brands[].pii`).

Search is the widest door into customer text: every agent and supervisor of the brand can
query it, its documents are copied into snapshots and backups, and they stay until the
brand's retention removes them. So by default every e-mail address, phone number, IBAN and
card number `core.pii` finds is redacted there (`[email]`, `[phone]`, `[iban]`, `[card]`);
the topics keep the original (routing, the agent's case view and erasure work from them).

A brand whose agents look customers up by e-mail or phone number may keep those kinds:

    brands:
      - name: acme
        pii:
          keep: [email, phone]

Card numbers are never kept, and there is no override. PCI DSS (v4.0 requirement 3.5.1)
requires a stored primary account number to be unreadable wherever it is stored; a search
index holding readable card numbers would bring the index, its snapshots and every host
that reads it into the cardholder-data environment, and no care conversation needs the
number (payments are never taken in a social message). An acknowledgement flag would make
that a setting one forgets it carries, so `card` in `keep` is refused at load time. That a
message holds a card number stays searchable: documents carry the kinds found
(`pii_kinds`), kept or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from socialcare.core.pii import REPLACEMENT, Match, find

KeptKind = Literal["email", "phone", "iban"]
KEPT_KINDS: tuple[str, ...] = get_args(KeptKind)
"""The kinds a brand may keep in search (every kind but `card`)."""

_CARD_REFUSED = (
    "card numbers are never kept in search: PCI DSS (requirement 3.5.1) requires a stored "
    "card number to be unreadable, and a readable one would put the search cluster and its "
    "backups in scope; remove 'card' (documents still carry 'card' in pii_kinds)"
)


class PiiPolicy(BaseModel):
    """Which kinds of personal data a brand keeps readable in search; the rest is redacted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keep: frozenset[KeptKind] = Field(
        default=frozenset(),
        description="Kinds whose original stays in search documents: email, phone, iban. "
        "Default: none (everything redacted). 'card' is refused (PCI DSS).",
    )

    @field_validator("keep", mode="before")
    @classmethod
    def _no_cards(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, Iterable) and any(item == "card" for item in value):
            raise ValueError(_CARD_REFUSED)
        return value

    def redacted(self, text: str, matches: Sequence[Match] | None = None) -> str:
        """`text` with every match of a kind this policy does not keep replaced by its
        kind in brackets; `matches` (from `core.pii.find` on this very text) saves
        finding them again."""
        found = find(text) if matches is None else matches
        pieces: list[str] = []
        at = 0
        for match in found:
            if match.kind in self.keep:
                continue
            pieces.append(text[at : match.start])
            pieces.append(REPLACEMENT[match.kind])
            at = match.end
        if not pieces:
            return text
        pieces.append(text[at:])
        return "".join(pieces)


REDACT_ALL = PiiPolicy()
"""The default: every kind redacted."""
