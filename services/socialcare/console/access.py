"""The console's one door to identity and access (ADR 0007).

Everything the console needs from `socialcare.core.auth` comes through this module, so the
console depends on that package in one place: `Permission`, `Principal` and
`current_principal` (a FastAPI dependency: the signed-in caller, or `UnauthenticatedError`).

`core.auth` is being written beside the console. Until it lands, this module holds a
stand-in with exactly its interface whose `current_principal` knows nobody (every page
sends the visitor to /login, every stream answers 401): secure by default. When it lands,
the stand-in below is replaced by one import:

    from socialcare.core.auth import Permission, Principal, current_principal

The CSRF names are the double-submit pair the console's script sends with every POST
(`X-CSRF-Token`, the value of the `socialcare_csrf` cookie, which `core.auth` sets at
sign-in and checks on every cookie-authenticated POST).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from fastapi import Request

from socialcare.core.errors import UnauthenticatedError

CSRF_COOKIE = "socialcare_csrf"
CSRF_HEADER = "X-CSRF-Token"


class Permission(StrEnum):
    """What a principal may do (stand-in for `core.auth.Permission`)."""

    INGEST = "ingest"
    READ_CASES = "read_cases"
    ACT = "act"
    REASSIGN = "reassign"
    READ_EVENTS = "read_events"
    READ_OPERATIONS = "read_operations"
    MANAGE = "manage"


@dataclass(frozen=True)
class Principal:
    """Who is calling (stand-in for `core.auth.Principal`)."""

    kind: Literal["user", "api_key"]
    id: str
    name: str
    roles: frozenset[str]
    brands: frozenset[str] | None  # None = every brand
    agent_id: str | None  # the roster agent this user is, if any
    permissions: frozenset[Permission]
    language: str | None = None  # the user's console language, when they chose one

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def sees_brand(self, brand: str) -> bool:
        return self.brands is None or brand in self.brands


def current_principal(request: Request) -> Principal:
    """The signed-in caller; UnauthenticatedError (401) without a valid credential.

    Stand-in until `core.auth` lands: nobody is signed in."""
    raise UnauthenticatedError("sign in first: no valid session or bearer token")


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser (empty before sign-in), for the page's
    `<meta name="csrf-token">`, which the console's script sends as `X-CSRF-Token`."""
    return request.cookies.get(CSRF_COOKIE, "")
