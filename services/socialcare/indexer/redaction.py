"""Personal data out of search documents, by the brand's policy (`Brand.pii`).

Every string a document carries is customer-facing text unless its key says it is an
identifier: case and message text, the customer's handle and name, a message's author,
intents' questions, special moments' quotes, survey comments, agents' notes, an
escalation's reason, identities (an e-mail or phone identity's value). Walking the whole
document, not a list of text fields, means a field added to the case JSON later is covered
without anyone remembering this module.

Left alone (the keys routing, the console and erasure join on, never shown as prose): `id`,
`*_id`, `*_ids`, `conversation_key`, `url`, and timestamps (`*_at`). A WhatsApp customer's
id is the bare number (`31612345678`), which `core.pii` does not read as a phone (no `+`
or trunk 0), so it stays joinable.

Each document gets `pii_kinds`: the kinds found in it, kept or redacted, so "cases with a
card number" stays one keyword filter away although the number itself is gone.

The matches come from `core.pii.find`, the function enrichment used for
`EnrichedMessage.pii`, so the spans are the same; they are found again here because a case
event carries its messages without them (`CaseMessage` has no such field).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.pii_policy import REDACT_ALL, PiiPolicy
from socialcare.core.pii import Kind, find
from socialcare.core.search import IndexedDocument

PII_KINDS = "pii_kinds"
_IDENTIFIERS = frozenset({"id", "conversation_key", "url", PII_KINDS})
_IDENTIFIER_SUFFIXES = ("_id", "_ids", "_at")


def policy_of(care: CareConfig | None, brand: str) -> PiiPolicy:
    """The PII policy of the brand called `brand` (as `CareConfig.brand` resolves it);
    without a care config, everything is redacted."""
    return care.brand(brand).pii if care is not None else REDACT_ALL


def redact_documents(
    documents: list[tuple[str, IndexedDocument]], policy: PiiPolicy
) -> list[tuple[str, IndexedDocument]]:
    """The same documents with their text redacted by `policy` and `pii_kinds` set."""
    return [
        (index, IndexedDocument(doc.id, redact_body(doc.body, policy), doc.version))
        for index, doc in documents
    ]


def redact_body(body: Mapping[str, Any], policy: PiiPolicy) -> dict[str, Any]:
    """A copy of a document body with its text redacted and `pii_kinds` (sorted) set."""
    kinds: set[Kind] = set()
    redacted: dict[str, Any] = _redact_mapping(body, policy, kinds)
    redacted[PII_KINDS] = sorted(kinds)
    return redacted


def _redact_mapping(node: Mapping[str, Any], policy: PiiPolicy, kinds: set[Kind]) -> dict[str, Any]:
    return {
        key: value
        if key in _IDENTIFIERS or key.endswith(_IDENTIFIER_SUFFIXES)
        else _redact(value, policy, kinds)
        for key, value in node.items()
    }


def _redact(value: Any, policy: PiiPolicy, kinds: set[Kind]) -> Any:
    if isinstance(value, str):
        matches = find(value)
        if not matches:
            return value
        kinds.update(match.kind for match in matches)
        return policy.redacted(value, matches)
    if isinstance(value, Mapping):
        return _redact_mapping(value, policy, kinds)
    if isinstance(value, list | tuple):
        return [_redact(item, policy, kinds) for item in value]
    return value
