"""Identity and access (ADR 0007): who is calling (`Principal`), what they may do
(`Permission`), and the FastAPI dependencies that ask (`current_principal`, `require`).

    from socialcare.core.auth import Permission, Principal, current_principal, require

    @router.post("/v1/cases/{case_id}/replies")
    def reply(..., principal: Annotated[Principal, Depends(require(Permission.ACT))]): ...
"""

from socialcare.core.auth.dependencies import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    CurrentPrincipal,
    csrf_token,
    current_principal,
    install_auth,
    optional_principal,
    require,
)
from socialcare.core.auth.principal import Permission, Principal, Role

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "CurrentPrincipal",
    "Permission",
    "Principal",
    "Role",
    "csrf_token",
    "current_principal",
    "install_auth",
    "optional_principal",
    "require",
]
