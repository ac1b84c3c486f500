"""The account directory: users, API keys and the signing key, held in memory by every
process and kept on the compacted topic `auth.accounts` (ADR 0007).

Why a topic and not a database: the topic is already the platform's durable store, on
both backends, and every process (gateway, ingestion, ... in one process or many) needs
the same directory to check a credential without a network call. So each process
rebuilds the directory by replaying the topic at start (`load_accounts`) and then follows
it (`AccountsFollower`), as ingestion's seen-ids do; the directory is small (a record per
user and key), so the replay takes milliseconds.

A write (`save`) publishes the entity's whole new state, waits until it is durable, then
applies it here at once; other processes apply it when their follower reads it, within a
poll. Records apply in log order, so every process converges on the same state. Two
admins changing the same user within that moment on two processes: the later record
wins, as with any last-write-wins store.

The signing key: when SOCIALCARE_AUTH_SECRET is unset, the first process to start
publishes a random key; every process uses the key with the lowest offset, so two
processes that both published one at their very first start still agree.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TypeVar

from socialcare.core.bus import Bus, Producer, TopicPartition
from socialcare.core.bus.base import Record
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.events import InvalidRecordError, decode, new_event_id
from socialcare.core.follower import TopicFollower, replay_to_end
from socialcare.v1 import auth_pb2

log = logging.getLogger(__name__)

SOURCE = "auth"
_UNCONFIRMED = 1 << 62  # a signing key applied locally before its offset is known


class AccountDirectory:
    """Users, API keys and signing keys by id; thread-safe. Getters return copies, so a
    caller may change what it got and `save` it."""

    def __init__(self, producer: Producer | None = None, *, write_timeout_s: float = 10.0) -> None:
        self._producer = producer
        self._write_timeout_s = write_timeout_s
        self._lock = threading.Lock()
        self._users: dict[str, auth_pb2.UserAccount] = {}
        self._usernames: dict[str, str] = {}
        self._keys: dict[str, auth_pb2.ApiKey] = {}
        self._signing: dict[str, tuple[int, bytes]] = {}
        self.applied = 0

    # -- reading -------------------------------------------------------------------------

    def user(self, user_id: str) -> auth_pb2.UserAccount | None:
        with self._lock:
            found = self._users.get(user_id)
            return _copy(found) if found is not None else None

    def user_by_username(self, username: str) -> auth_pb2.UserAccount | None:
        with self._lock:
            user_id = self._usernames.get(username.lower())
            found = self._users.get(user_id) if user_id is not None else None
            return _copy(found) if found is not None else None

    def users(self) -> list[auth_pb2.UserAccount]:
        with self._lock:
            return sorted((_copy(u) for u in self._users.values()), key=lambda u: u.username)

    def api_key(self, key_id: str) -> auth_pb2.ApiKey | None:
        with self._lock:
            found = self._keys.get(key_id)
            return _copy(found) if found is not None else None

    def api_keys(self) -> list[auth_pb2.ApiKey]:
        with self._lock:
            return sorted(
                (_copy(k) for k in self._keys.values()), key=lambda k: k.created_at.seconds
            )

    def signing_secret(self) -> bytes | None:
        """The secret of the signing key with the lowest offset; None before there is one."""
        with self._lock:
            if not self._signing:
                return None
            return min(self._signing.values())[1]

    def has_confirmed_signing_key(self) -> bool:
        with self._lock:
            return any(offset < _UNCONFIRMED for offset, _ in self._signing.values())

    # -- applying ------------------------------------------------------------------------

    def apply(self, record: auth_pb2.AccountRecord, offset: int | None = None) -> None:
        """Make `record` the current state of its entity (records apply in log order)."""
        entry = record.WhichOneof("entry")
        with self._lock:
            if entry == "user":
                self._apply_user(record.user)
            elif entry == "api_key":
                self._keys[record.api_key.id] = _copy(record.api_key)
            elif entry == "signing_key":
                key = record.signing_key
                known = self._signing.get(key.id)
                position = _UNCONFIRMED if offset is None else offset
                if known is None or position < known[0]:
                    self._signing[key.id] = (position, bytes(key.secret))
            else:
                log.warning("an account record without an entry was ignored")
                return
            self.applied += 1

    def _apply_user(self, user: auth_pb2.UserAccount) -> None:
        previous = self._users.get(user.id)
        if previous is not None and self._usernames.get(previous.username) == user.id:
            del self._usernames[previous.username]
        self._users[user.id] = _copy(user)
        holder = self._usernames.get(user.username)
        if holder is not None and holder != user.id:
            log.warning(
                "two users claim one username; the later record takes it",
                extra={"username": user.username, "user_id": user.id, "previous": holder},
            )
        self._usernames[user.username] = user.id

    def apply_records(self, records: Iterable[Record]) -> int:
        """Apply topic records in order; poison records are logged and skipped. Returns how
        many were read."""
        read = 0
        for record in records:
            read += 1
            try:
                self.apply(decode(record, auth_pb2.AccountRecord), record.offset)
            except InvalidRecordError as exc:
                log.warning(
                    "an auth.accounts record could not be read and was ignored",
                    extra={"offset": record.offset, "error": str(exc)},
                )
        return read

    # -- writing -------------------------------------------------------------------------

    def save(self, record: auth_pb2.AccountRecord) -> None:
        """Publish `record` (durably) and apply it here. Raises BusError (503) when the bus
        does not take it; then nothing changed here."""
        if self._producer is None:
            raise RuntimeError("this account directory is read-only (no producer)")
        if not record.record_id:
            record.record_id = new_event_id()
        for delivery in publish_effects(
            self._producer, [Emit(Topic.AUTH_ACCOUNTS, record)], source=SOURCE
        ):
            delivery.wait(self._write_timeout_s)
        self.apply(record)

    def save_user(self, user: auth_pb2.UserAccount) -> None:
        self.save(auth_pb2.AccountRecord(user=user))

    def save_api_key(self, key: auth_pb2.ApiKey) -> None:
        self.save(auth_pb2.AccountRecord(api_key=key))


_M = TypeVar("_M", auth_pb2.UserAccount, auth_pb2.ApiKey)


def _copy(message: _M) -> _M:
    clone = type(message)()
    clone.CopyFrom(message)
    return clone


def load_accounts(bus: Bus, producer: Producer | None) -> tuple[AccountDirectory, int]:
    """The directory rebuilt from `auth.accounts` (blocks until the replay is done), and the
    offset after the last record read, where an `AccountsFollower` takes over."""
    directory = AccountDirectory(producer)
    end = replay_into(directory, bus)
    log.info(
        "account directory rebuilt",
        extra={"records": directory.applied, "users": len(directory.users())},
    )
    return directory, end


def replay_into(directory: AccountDirectory, bus: Bus) -> int:
    """Replay the whole topic into `directory`; returns the offset after the last record."""
    ends = replay_to_end(bus, Topic.AUTH_ACCOUNTS.value, directory.apply_records)
    return ends.get(TopicPartition(Topic.AUTH_ACCOUNTS.value, 0), 0)


class AccountsFollower(TopicFollower):
    """A `Component`: one thread applying every other process's account changes
    (`TopicFollower`: a group of its own that never commits, starting where the replay
    ended). A record this process wrote itself is applied again when read: harmless, as a
    record is an entity's whole state and records apply in log order.
    """

    def __init__(self, bus: Bus, directory: AccountDirectory, next_offset: int) -> None:
        topic = Topic.AUTH_ACCOUNTS.value
        super().__init__(
            bus,
            [topic],
            directory.apply_records,
            name="auth-accounts",
            group="auth-accounts",
            start={TopicPartition(topic, 0): next_offset},
        )
