"""Managing accounts: users and API keys (role admin), and the first-start accounts.

The rules an admin's change must pass (known roles, brands and agents, a unique username,
a long enough password) live here, not in the REST handlers, so every door that manages
accounts applies the same ones. Every change is one record on `auth.accounts`.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Iterable

from socialcare.core.auth.accounts import AccountDirectory
from socialcare.core.auth.authenticator import ROLES
from socialcare.core.auth.passwords import generate_password, hash_password
from socialcare.core.auth.principal import API_KEY_PERMISSIONS, Role
from socialcare.core.auth.settings import AuthSettings
from socialcare.core.auth.tokens import new_api_key
from socialcare.core.clock import to_timestamp, utc_now
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.errors import ConflictError, FieldProblem, InvalidRequestError, NotFoundError
from socialcare.core.events import new_event_id
from socialcare.v1 import auth_pb2

log = logging.getLogger(__name__)

ADMIN_USER_ID = "admin"
ADMIN_USERNAME = "admin"
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
_USERNAME = re.compile(USERNAME_PATTERN)


class AccountAdmin:
    def __init__(
        self, directory: AccountDirectory, settings: AuthSettings, care: CareConfig
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.care = care

    # -- users ---------------------------------------------------------------------------

    def create_user(
        self,
        *,
        username: str,
        password: str | None,
        display_name: str = "",
        roles: Iterable[str] = (),
        brands: Iterable[str] = (),
        all_brands: bool = False,
        agent_id: str | None = None,
        language: str | None = None,
    ) -> auth_pb2.UserAccount:
        """A new local user. 422 names a bad field; 409 `username_taken`."""
        name = username.strip().lower()
        if not _USERNAME.match(name):
            raise _invalid("username", "must be 1-64 of a-z 0-9 . _ @ -, starting alphanumeric")
        if self.directory.user_by_username(name) is not None:
            raise ConflictError(
                f"username {name!r} is taken", code="username_taken", field="username"
            )
        now = to_timestamp(utc_now())
        user = auth_pb2.UserAccount(
            id=uuid.uuid4().hex,
            username=name,
            display_name=display_name.strip() or name,
            roles=self._roles(roles),
            brands=self._brands(brands),
            all_brands=all_brands,
            agent_id=self._agent(agent_id),
            language=language or "",
            source="local",
            created_at=now,
            updated_at=now,
        )
        if password is not None:
            user.password_hash = self._hash(password)
        self.directory.save_user(user)
        log.info("user created", extra={"user_id": user.id, "username": name})
        return user

    def update_user(
        self,
        user_id: str,
        *,
        password: str | None = None,
        display_name: str | None = None,
        roles: Iterable[str] | None = None,
        brands: Iterable[str] | None = None,
        all_brands: bool | None = None,
        agent_id: str | None = None,
        disabled: bool | None = None,
        language: str | None = None,
    ) -> auth_pb2.UserAccount:
        """Change the given fields (None: unchanged; `agent_id=""` removes the agent). A new
        password or disabling ends the user's tokens and sessions."""
        user = self.directory.user(user_id)
        if user is None:
            raise NotFoundError(f"user {user_id} not found")
        if password is not None:
            user.password_hash = self._hash(password)
            user.session_epoch += 1
        if display_name is not None:
            user.display_name = display_name.strip() or user.username
        if roles is not None:
            user.ClearField("roles")
            user.roles.extend(self._roles(roles))
        if brands is not None:
            user.ClearField("brands")
            user.brands.extend(self._brands(brands))
        if all_brands is not None:
            user.all_brands = all_brands
        if agent_id is not None:
            user.agent_id = self._agent(agent_id or None)
        if disabled is not None and disabled != user.disabled:
            user.disabled = disabled
            user.session_epoch += 1
        if language is not None:
            user.language = language
        user.updated_at.CopyFrom(to_timestamp(utc_now()))
        self.directory.save_user(user)
        log.info("user changed", extra={"user_id": user.id})
        return user

    def _hash(self, password: str) -> str:
        if len(password) < self.settings.password_min_length:
            raise _invalid(
                "password", f"must be at least {self.settings.password_min_length} characters"
            )
        return hash_password(password)

    def _roles(self, roles: Iterable[str]) -> list[str]:
        chosen = sorted(set(roles))
        unknown = [r for r in chosen if r not in ROLES]
        if unknown:
            raise _invalid("roles", f"unknown roles {unknown}; known: {sorted(ROLES)}")
        return chosen

    def _brands(self, brands: Iterable[str]) -> list[str]:
        chosen = sorted(set(brands))
        known = {b.name for b in self.care.effective_brands}
        unknown = [b for b in chosen if b not in known]
        if unknown:
            raise _invalid("brands", f"unknown brands {unknown}; known: {sorted(known)}")
        return chosen

    def _agent(self, agent_id: str | None) -> str:
        if agent_id is None:
            return ""
        if agent_id not in self.care.agents_by_id:
            raise _invalid("agent_id", f"{agent_id!r} is not an agent of the care config")
        return agent_id

    # -- API keys ------------------------------------------------------------------------

    def create_api_key(
        self, *, name: str, brand: str, permissions: Iterable[str], created_by: str
    ) -> tuple[auth_pb2.ApiKey, str]:
        """A new key and its plaintext, which is shown once and never stored."""
        self._brands([brand])
        chosen = sorted(set(permissions))
        allowed = {p.value for p in API_KEY_PERMISSIONS}
        wrong = [p for p in chosen if p not in allowed]
        if wrong or not chosen:
            raise _invalid("permissions", f"choose from {sorted(allowed)}")
        fresh = new_api_key()
        key = auth_pb2.ApiKey(
            id=fresh.key_id,
            name=name.strip(),
            secret_sha256=fresh.secret_sha256,
            brand=brand,
            permissions=chosen,
            created_by=created_by,
            created_at=to_timestamp(utc_now()),
        )
        self.directory.save_api_key(key)
        log.info("API key created", extra={"key_id": key.id, "brand": brand})
        return key, fresh.plaintext

    def revoke_api_key(self, key_id: str) -> auth_pb2.ApiKey:
        key = self.directory.api_key(key_id)
        if key is None:
            raise NotFoundError(f"API key {key_id} not found")
        if not key.revoked:
            key.revoked = True
            key.revoked_at.CopyFrom(to_timestamp(utc_now()))
            self.directory.save_api_key(key)
            log.info("API key revoked", extra={"key_id": key.id})
        return key

    # -- first start ---------------------------------------------------------------------

    def ensure_signing_key(self) -> None:
        """Publish a random signing key when SOCIALCARE_AUTH_SECRET is unset and the topic
        holds none yet (the first start)."""
        if self.settings.auth_secret is not None or self.directory.signing_secret() is not None:
            return
        self.directory.save(
            auth_pb2.AccountRecord(
                record_id=new_event_id(),
                signing_key=auth_pb2.SigningKey(
                    id=uuid.uuid4().hex,
                    secret=secrets.token_bytes(32),
                    created_at=to_timestamp(utc_now()),
                ),
            )
        )
        log.info("token signing key generated and stored on auth.accounts")

    def ensure_admin(self) -> str | None:
        """Create user `admin` at the first start: with SOCIALCARE_ADMIN_PASSWORD, else a
        generated password, which is returned (for the caller to print once) and never
        stored in clear. None when `admin` exists or the password came from the env."""
        if self.directory.user(ADMIN_USER_ID) is not None:
            return None
        configured = self.settings.admin_password
        password = configured.get_secret_value() if configured is not None else generate_password()
        now = to_timestamp(utc_now())
        self.directory.save_user(
            auth_pb2.UserAccount(
                id=ADMIN_USER_ID,
                username=ADMIN_USERNAME,
                display_name="Administrator",
                password_hash=hash_password(password),
                roles=[Role.ADMIN.value],
                all_brands=True,
                source="local",
                created_at=now,
                updated_at=now,
            )
        )
        log.info("first start: user admin created")
        return None if configured is not None else password


def _invalid(field: str, message: str) -> InvalidRequestError:
    return InvalidRequestError.from_problems([FieldProblem(field, "invalid", message)])
