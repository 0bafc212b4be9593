"""Users, roles, grants and privilege groups, and the seam that persists them.

The whole access state is small (at most hundreds of users and roles), so it
is kept in memory and written whole on every change through an
:class:`AccessStore`.  The local store is one JSON file in the data folder,
replaced atomically (temporary file, fsync, rename, fsync directory; see
``sluice.storage.atomic``): a crash leaves either the state before a change
or the state after it, never a mix.  A change that cannot be saved is not
applied in memory either, so what clients are told always matches the disk.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from sluice.errors import MetaCorruptedError
from sluice.storage.meta_store import MetaStore

FORMAT_VERSION = 1


@dataclass(frozen=True, order=True)
class Grant:
    """One privilege (or group, ``All``, ``*``) granted to a role on one object."""

    role: str
    object_type: str
    object_name: str
    db: str
    privilege: str
    grantor: str = field(default="", compare=False)

    def key(self) -> tuple[str, str, str, str, str]:
        return (self.role, self.object_type, self.object_name, self.db, self.privilege)


@dataclass
class AccessState:
    """Everything the access store remembers."""

    #: user name -> argon2 hash of the password
    passwords: dict[str, str] = field(default_factory=dict)
    #: role names, including the built-in ``admin`` and ``public``
    roles: list[str] = field(default_factory=list)
    #: user name -> roles bound to it (``public`` is implied, never stored)
    bindings: dict[str, list[str]] = field(default_factory=dict)
    grants: dict[tuple[str, str, str, str, str], Grant] = field(default_factory=dict)
    #: custom privilege group -> its privileges
    groups: dict[str, list[str]] = field(default_factory=dict)

    def clone(self) -> AccessState:
        return copy.deepcopy(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "passwords": self.passwords,
            "roles": self.roles,
            "bindings": self.bindings,
            "grants": [
                {
                    "role": g.role,
                    "object_type": g.object_type,
                    "object_name": g.object_name,
                    "db": g.db,
                    "privilege": g.privilege,
                    "grantor": g.grantor,
                }
                for g in sorted(self.grants.values())
            ],
            "groups": self.groups,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AccessState:
        if raw.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported access state version {raw.get('version')!r}")
        grants = [Grant(**g) for g in raw["grants"]]
        return cls(
            passwords=dict(raw["passwords"]),
            roles=list(raw["roles"]),
            bindings={u: list(r) for u, r in raw["bindings"].items()},
            grants={g.key(): g for g in grants},
            groups={name: list(p) for name, p in raw["groups"].items()},
        )


class AccessStore(Protocol):
    """Where the access state lives between runs."""

    def load(self) -> dict[str, Any] | None:
        """The saved state, or ``None`` when nothing was ever saved."""
        ...

    def save(self, state: dict[str, Any]) -> None:
        """Replace the saved state atomically and durably."""
        ...


class MetaStoreAccessStore:
    """:class:`AccessStore` as one key of the metadata store (``access``), committed atomically."""

    KEY = "access"

    def __init__(self, store: MetaStore) -> None:
        self._store = store

    def load(self) -> dict[str, Any] | None:
        raw = self._store.get(self.KEY)
        if raw is None:
            return None
        try:
            value = orjson.loads(raw)
        except ValueError as exc:
            raise MetaCorruptedError(
                f"metadata key {self.KEY}: access state is not valid JSON ({exc})"
            ) from None
        if not isinstance(value, dict):
            raise MetaCorruptedError(f"metadata key {self.KEY}: not an access state")
        return value

    def save(self, state: dict[str, Any]) -> None:
        self._store.commit({self.KEY: orjson.dumps(state, option=orjson.OPT_SORT_KEYS)})
