"""Who may see and do what on the gateway's routes (ADR 0007): brands and actors.

Brands are isolated: a principal sees the cases of their brands only, and a case's brand is
`care.brand(case.brand).name`, so a case that names no brand (or one that is not
configured) belongs to the first brand. Everything else of a case (its messages, its
escalations) is of the case's brand.

The search projection has the case's own `brand` field on case documents only, and the
first brand's cases include those without one, which a filter cannot ask for. So:

* a principal who sees every configured brand (admins, most single-brand platforms): no
  restriction at all;
* on the cases index, a principal who does not see the first brand: the filter
  `brand in <their brands>` selects exactly their cases (`BrandScope.case_filter`);
* otherwise (the first brand among others, and on the messages and escalations indices,
  which have no brand) the gateway checks each document: `BrandScope.sees_case_document`,
  or the brand of the hit's case looked up in the cases index (`visible_case_ids`).

Acting: an agent acts only in their own name (`Principal.may_act_as`); assigning a case
to someone else needs `reassign` (leads, admins) unless the agent owns the case and hands
it over (`assign_allowed`); so does moving someone else's case by a merge
(`reassign_allowed`), and setting another agent's presence (`presence_allowed`).
Acknowledging and resolving an escalation is for leads,
operations, admins and an agent it is on call for (`may_handle_escalation`), in the name
`escalation_handler` gives; the REST routes and the console's buttons and routes ask these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from socialcare.core.auth import Permission, Principal
from socialcare.core.domain.care_config import Agent, CareConfig
from socialcare.core.errors import ForbiddenError
from socialcare.core.search import SearchIndex, SearchQuery, SearchResult, UnknownIndexError
from socialcare.core.search.indices import CASES
from socialcare.v1 import escalation_pb2


def case_brand(care: CareConfig, brand: str | None) -> str:
    """The brand a case belongs to, from its own `brand` field (case or document)."""
    return care.brand(brand or "").name


@dataclass(frozen=True)
class BrandScope:
    """The brands one principal sees, against the configured ones.

    `seen` None: every brand (no check needed). Otherwise the configured brand names the
    principal sees, possibly none.
    """

    care: CareConfig
    seen: frozenset[str] | None

    @classmethod
    def of(cls, care: CareConfig, principal: Principal) -> BrandScope:
        if principal.brands is None:
            return cls(care, None)
        configured = frozenset(b.name for b in care.effective_brands)
        seen = configured & principal.brands
        return cls(care, None if seen == configured else seen)

    @property
    def everything(self) -> bool:
        return self.seen is None

    @property
    def nothing(self) -> bool:
        return self.seen is not None and not self.seen

    def sees(self, brand: str) -> bool:
        """True for a brand name (`care.brand(...).name`) the principal sees."""
        return self.seen is None or brand in self.seen

    def sees_case(self, case_brand_field: str | None) -> bool:
        """True for a case whose own `brand` field is this."""
        return self.sees(case_brand(self.care, case_brand_field))

    def sees_case_document(self, document: Mapping[str, Any]) -> bool:
        return self.sees_case(document.get("brand"))

    @property
    def case_filter(self) -> list[str] | None:
        """The values of the cases index's `brand` field that select exactly the cases the
        principal sees, when there are such values: None when the principal sees the first
        brand (its cases include those with no brand field) or everything."""
        if self.seen is None or not self.seen:
            return None
        if self.care.effective_brands[0].name in self.seen:
            return None
        return sorted(self.seen)

    def sees_agent(self, agent: Agent) -> bool:
        """An agent of the roster who answers (some of) the principal's brands."""
        return self.seen is None or not agent.brands or bool(self.seen & set(agent.brands))


def visible_case_ids(search: SearchIndex, scope: BrandScope, case_ids: Iterable[str]) -> set[str]:
    """Of `case_ids`, those of cases the scope sees, by their documents in the cases index.

    A case not (yet) in the index counts as unseen: a brand that cannot be told is not
    shown. Raises SearchError (503) when the index cannot answer.
    """
    wanted = sorted(set(case_ids))
    if scope.everything:
        return set(wanted)
    if not wanted or scope.nothing:
        return set()
    try:
        found = search.search(CASES, SearchQuery(filters={"id": wanted}, limit=len(wanted)))
    except UnknownIndexError:
        return set()
    return {h.id for h in found.hits if scope.sees_case_document(h.document)}


def empty_result() -> SearchResult:
    return SearchResult(total=0, hits=[])


def assign_allowed(principal: Principal, *, target: str, owner: str) -> None:
    """May `principal` make `target` the owner of a case `owner` has now? Claiming a case
    for oneself: yes (the caller checked `may_act_as` for the actor). Giving it to
    someone else: with `reassign`, or as its owner handing it over. ForbiddenError
    naming `agent` otherwise."""
    if principal.may_act_as(target) or principal.can(Permission.REASSIGN):
        return
    if principal.agent_id is not None and owner == principal.agent_id:
        return
    raise ForbiddenError(
        "assigning a case to another agent needs the reassign permission "
        "(team leads), unless you own the case and hand it over",
        field="agent",
    )


def reassign_allowed(principal: Principal, *, owner: str, field: str = "agent") -> None:
    """May `principal` move a case `owner` holds (merge it away, or merge into it)? A case
    nobody holds, or one the caller holds (or acts for, as an admin): yes; someone else's
    needs `reassign`, as giving it to another agent does. ForbiddenError naming `field`."""
    if not owner or principal.may_act_as(owner) or principal.can(Permission.REASSIGN):
        return
    raise ForbiddenError(
        f"the case is {owner}'s: moving someone else's case needs the reassign permission "
        "(team leads)",
        field=field,
    )


def presence_allowed(principal: Principal, agent_id: str) -> None:
    """May `principal` set `agent_id`'s presence? Their own (or any, as an admin), and a
    supervisor (`reassign`) anyone's of their brands. ForbiddenError naming `agent`."""
    if principal.may_act_as(agent_id) or principal.can(Permission.REASSIGN):
        return
    raise ForbiddenError(
        "you may set only your own presence; a supervisor (reassign permission) sets anyone's",
        field="agent",
    )


def forbid_acting_as(agent_id: str, field: str = "agent") -> ForbiddenError:
    return ForbiddenError(
        f"you may act only in your own agent's name, not as {agent_id!r}", field=field
    )


def may_handle_escalation(principal: Principal, escalation: escalation_pb2.Escalation) -> bool:
    """May `principal` acknowledge or resolve `escalation`? Leads (`reassign`), operations
    (`read_operations`) and admins, and an agent the escalation is on call for."""
    return (
        principal.can(Permission.REASSIGN)
        or principal.can(Permission.READ_OPERATIONS)
        or principal.is_admin
        or (principal.agent_id is not None and principal.agent_id in escalation.on_call)
    )


def escalation_handling_allowed(
    principal: Principal, escalation: escalation_pb2.Escalation
) -> None:
    """`may_handle_escalation`, as a ForbiddenError when not."""
    if not may_handle_escalation(principal, escalation):
        raise ForbiddenError(
            "acknowledging and resolving escalations is for leads, operations and whoever "
            "is on call for it"
        )


def escalation_handler(principal: Principal) -> str:
    """Who acknowledges or resolves an escalation, as the escalation records it: the
    principal's roster agent, or their account id (a lead or operations user not on the
    roster)."""
    return principal.agent_id or principal.id
