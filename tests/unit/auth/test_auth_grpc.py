"""Credentials on gRPC calls, checked by the same Authenticator as REST."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
import pytest

from socialcare.core.auth import Permission
from socialcare.core.auth.grpc_auth import grpc_principal
from socialcare.core.errors import ForbiddenError, UnauthenticatedError, grpc_status
from tests.unit.auth.conftest import AuthPlatform


class Metadata:
    """The one thing grpc_principal reads from a ServicerContext."""

    def __init__(self, metadata: Sequence[tuple[str, str]]) -> None:
        self.metadata = tuple(metadata)

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata


def context(*metadata: tuple[str, str]) -> Any:
    return Metadata(metadata)


def test_grpc_calls_carry_a_bearer_credential(auth_platform: AuthPlatform) -> None:
    authenticator = auth_platform.auth.authenticator
    token = auth_platform.admin_headers()["Authorization"]
    admin = grpc_principal(authenticator, context(("authorization", token)), Permission.INGEST)
    assert admin.id == "admin"

    with pytest.raises(UnauthenticatedError) as missing:
        grpc_principal(authenticator, context())
    assert grpc_status(missing.value)[0] is grpc.StatusCode.UNAUTHENTICATED

    key = auth_platform.client.post(
        "/v1/api-keys",
        json={"name": "bi", "brand": "acme", "permissions": ["read_events"]},
        headers=auth_platform.admin_headers(),
    ).json()["key"]
    with pytest.raises(ForbiddenError) as refused:
        grpc_principal(
            authenticator, context(("authorization", f"Bearer {key}")), Permission.INGEST
        )
    assert grpc_status(refused.value)[0] is grpc.StatusCode.PERMISSION_DENIED
