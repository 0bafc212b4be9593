"""Password hashing (argon2id) and the cache that keeps it off the request path.

argon2 is deliberately slow (tens of milliseconds), so hashing every RPC's
credentials would cap a server at a few dozen requests per second.  Each
``authorization`` value that has once verified is remembered, keyed by a
SHA-256 of the value (so the raw secret is not held as a dictionary key),
and answered from memory afterwards; changing or deleting a user's password
forgets every value that named that user.  Failed attempts are never cached.
"""

from __future__ import annotations

import hashlib
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()


def hash_password(password: bytes) -> str:
    """An argon2id hash with a random salt, in the PHC string format."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: bytes) -> bool:
    """Whether ``password`` matches; an unreadable hash (from another system) never does."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class CredentialCache:
    """``authorization`` values already verified, and the user each one names.  Thread-safe."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._users: dict[bytes, str] = {}
        self._keys_by_user: dict[str, set[bytes]] = {}
        self._max = max_entries

    @staticmethod
    def key(value: str) -> bytes:
        return hashlib.sha256(value.encode()).digest()

    def get(self, key: bytes) -> str | None:
        return self._users.get(key)

    def remember(self, key: bytes, user: str) -> None:
        with self._lock:
            if len(self._users) >= self._max:
                self._users.clear()
                self._keys_by_user.clear()
            self._users[key] = user
            self._keys_by_user.setdefault(user, set()).add(key)

    def forget_user(self, user: str) -> None:
        with self._lock:
            for key in self._keys_by_user.pop(user, ()):
                self._users.pop(key, None)
