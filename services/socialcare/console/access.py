"""The console's one door to identity and access (ADR 0007, `socialcare.core.auth`).

Everything the console needs from `core.auth` comes through this module, so the console
depends on that package in one place: `Permission`, `Principal`, `current_principal` (the
signed-in caller, or `UnauthenticatedError`) and the session's CSRF token, which the page
carries in `<meta name="csrf-token">` and the console's script sends as `X-CSRF-Token`
on every POST (`core.auth` checks it on every cookie-authenticated change).
"""

from __future__ import annotations

from fastapi import Request

from socialcare.core.auth import CSRF_COOKIE, CSRF_HEADER, Permission, Principal, current_principal
from socialcare.core.auth import csrf_token as session_csrf_token

__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "Permission", "Principal", "csrf_token"]
__all__ += ["current_principal"]


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser's session, or empty before sign-in."""
    return session_csrf_token(request) or ""
