"""Auth for one process: the directory replayed and followed, the first-start accounts,
and the `Authenticator` every credential check goes through.

    auth = open_auth(runtime)              # blocks for the replay (milliseconds)
    parts.components += auth.components    # the follower: keep them in the process
    app = build_app(...)
    install_auth(app, auth.authenticator)  # current_principal / require work on the app
    app.include_router(auth_router(auth))  # the gateway only: sign-in, users, keys

Call it once per process (it is the process's directory), before the app serves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from socialcare.core.auth.accounts import (
    AccountDirectory,
    AccountsFollower,
    load_accounts,
    replay_into,
)
from socialcare.core.auth.admin import AccountAdmin
from socialcare.core.auth.authenticator import Authenticator
from socialcare.core.auth.settings import AuthSettings
from socialcare.core.runtime import Component, Runtime

log = logging.getLogger(__name__)


@dataclass
class AuthParts:
    """What auth adds to a process."""

    authenticator: Authenticator
    admin: AccountAdmin
    directory: AccountDirectory
    settings: AuthSettings
    components: list[Component] = field(default_factory=list)


def open_auth(
    runtime: Runtime, settings: AuthSettings | None = None, *, bootstrap: bool = True
) -> AuthParts:
    """The process's auth over `runtime`'s bus: the directory rebuilt from `auth.accounts`,
    its follower (a component to run), and with `bootstrap` the first-start work: the
    signing key (when SOCIALCARE_AUTH_SECRET is unset) and user `admin` (its generated
    password printed once), and in dev mode the dev password printed.

    Processes that only check credentials may pass `bootstrap=False`; one that does
    bootstrap must exist (the gateway).
    """
    settings = settings or AuthSettings.from_platform(runtime.settings)
    directory, end = load_accounts(runtime.bus, runtime.producer)
    admin = AccountAdmin(directory, settings, runtime.care)
    if bootstrap:
        if settings.auth_secret is None and directory.signing_secret() is None:
            admin.ensure_signing_key()
            # Another process may have published one first: replay so the key with the
            # lowest offset is the one used here too.
            end = replay_into(directory, runtime.bus)
        generated = admin.ensure_admin()
        if generated is not None:
            _announce(
                "first start: user `admin` was created with this password (shown once; "
                "set SOCIALCARE_ADMIN_PASSWORD to choose it):",
                generated,
            )
    authenticator = Authenticator(directory, settings, runtime.care)
    runtime.on_close(authenticator.close)
    if bootstrap and authenticator.dev_password is not None:
        _announce(
            "dev mode: the care config's agents sign in with their agent id and this "
            "password (SOCIALCARE_DEV_PASSWORD chooses it):",
            authenticator.dev_password,
        )
    follower = AccountsFollower(runtime.bus, directory, end)
    return AuthParts(authenticator, admin, directory, settings, [follower])


def _announce(text: str, secret: str) -> None:
    # Printed, not only logged: it must reach the operator once, whatever the log level,
    # and stay out of structured logs shipped elsewhere.
    print(f"socialcare: {text}\n    {secret}", flush=True)
    log.warning(text.split(":")[0] + " (password printed on stdout)")
