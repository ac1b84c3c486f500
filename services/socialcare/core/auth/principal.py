"""Who is calling, and what they may do: permissions, roles and the `Principal`.

Every credential (a password sign-in's token or session, an OIDC sign-in, an API key)
becomes one `Principal`, so an endpoint asks one question, `principal.can(permission)`,
and one about brands, `principal.sees_brand(brand)`, whatever door the caller came in by.

Roles are bundles of permissions (ADR 0007):

* agent: read the cases of their brands, act on cases as themselves;
* lead: an agent who may also reassign and transfer any case of their brands;
* operations: read everything of their brands (cases, events, the wall), change nothing;
* admin: everything, every brand; manages users, API keys and config; may act for any
  agent (the command records who did);
* integrator: nothing by role: an API key carries its own permissions and one brand.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Permission(StrEnum):
    INGEST = "ingest"
    """Send messages in (`POST /v1/messages`, gRPC IngestService)."""
    READ_CASES = "read_cases"
    """List, search and read cases and escalations of the principal's brands."""
    ACT = "act"
    """Act on a case (reply, claim, note, resolve) as the principal's own agent."""
    REASSIGN = "reassign"
    """Assign or transfer a case to another agent."""
    READ_EVENTS = "read_events"
    """Read the event stream (SSE, event APIs) of the principal's brands."""
    READ_OPERATIONS = "read_operations"
    """The command-center wall and operational figures."""
    MANAGE_WEBHOOKS = "manage_webhooks"
    """Create, change and replay the webhook subscriptions of the principal's brand."""
    MANAGE = "manage"
    """Users, API keys and config; act for any agent."""


class Role(StrEnum):
    AGENT = "agent"
    LEAD = "lead"
    OPERATIONS = "operations"
    ADMIN = "admin"
    INTEGRATOR = "integrator"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset({Permission.READ_CASES, Permission.ACT}),
    Role.LEAD: frozenset({Permission.READ_CASES, Permission.ACT, Permission.REASSIGN}),
    Role.OPERATIONS: frozenset(
        {Permission.READ_CASES, Permission.READ_EVENTS, Permission.READ_OPERATIONS}
    ),
    Role.ADMIN: frozenset(Permission),
    Role.INTEGRATOR: frozenset(),
}

_ROLE_NAMES = frozenset(r.value for r in Role)

API_KEY_PERMISSIONS: frozenset[Permission] = frozenset(
    {Permission.INGEST, Permission.READ_EVENTS, Permission.READ_CASES, Permission.MANAGE_WEBHOOKS}
)
"""What an API key may be given: integrators send messages in and read, never act."""


def permissions_of(roles: frozenset[str]) -> frozenset[Permission]:
    """The union of the roles' permissions; an unknown role name grants nothing."""
    granted: set[Permission] = set()
    for name in roles:
        if name in _ROLE_NAMES:
            granted |= ROLE_PERMISSIONS[Role(name)]
    return frozenset(granted)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    `brands` None means every brand (admins, and agents of a platform with brands not
    configured per user). `agent_id` is the roster agent this user is (care config
    `agents[].id`), the only name an agent may act in. `language` is the user's console
    language, when they chose one.
    """

    kind: Literal["user", "api_key"]
    id: str
    name: str
    roles: frozenset[str]
    brands: frozenset[str] | None
    agent_id: str | None
    permissions: frozenset[Permission]
    language: str | None = None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def sees_brand(self, brand: str) -> bool:
        """True when the principal may see things of `brand` (a case's
        `care.brand(case.brand).name`: the first brand for a case that names none)."""
        return self.brands is None or brand in self.brands

    @property
    def is_admin(self) -> bool:
        return self.can(Permission.MANAGE)

    def may_act_as(self, agent_id: str) -> bool:
        """True when the principal may act on a case in `agent_id`'s name: their own agent
        (with ACT), or anyone's for an admin (recorded as acting for them)."""
        if self.is_admin:
            return True
        return self.can(Permission.ACT) and self.agent_id is not None and self.agent_id == agent_id

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "roles": sorted(self.roles),
            "brands": None if self.brands is None else sorted(self.brands),
            "agent_id": self.agent_id,
            "permissions": sorted(p.value for p in self.permissions),
            "language": self.language,
        }
