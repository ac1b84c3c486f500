"""Credentials on gRPC calls: `authorization: Bearer <token or API key>` metadata.

A servicer asks `grpc_principal(authenticator, context)` at the top of its method body,
inside the `try` that ends in `abort_call`, so a missing or bad credential ends the call
with UNAUTHENTICATED and a missing permission with PERMISSION_DENIED (the error model's
codes for 401 and 403).
"""

from __future__ import annotations

import grpc

from socialcare.core.auth.authenticator import Authenticator
from socialcare.core.auth.principal import Permission, Principal
from socialcare.core.errors import ForbiddenError, UnauthenticatedError


def grpc_principal(
    authenticator: Authenticator,
    context: grpc.ServicerContext,
    permission: Permission | None = None,
) -> Principal:
    """The caller of this call (with `permission`, when given). Raises
    UnauthenticatedError / ForbiddenError."""
    header = None
    for key, value in context.invocation_metadata() or ():
        if key.lower() == "authorization":
            header = value if isinstance(value, str) else value.decode("latin-1")
    if header is None:
        raise UnauthenticatedError("send metadata authorization: Bearer <access token or API key>")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise UnauthenticatedError(
            "send metadata authorization: Bearer <access token or API key>", code="invalid_token"
        )
    principal = authenticator.principal_from_bearer(credential.strip())
    if permission is not None and not principal.can(permission):
        raise ForbiddenError(f"this needs the {permission.value} permission")
    return principal
