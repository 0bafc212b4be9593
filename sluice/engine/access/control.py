"""Access control: credentials, roles and the questions the server asks on every request.

:class:`AccessControl` owns the access state (``sluice.engine.access.state``)
and applies Milvus's rules to it.  Every change goes through
:meth:`AccessControl._change`: it works on a copy, saves the copy through the
store and only then makes it current, so a failed save leaves both the disk
and memory as they were.  Reads (authentication, privilege checks) use the
current state without locking; they never wait on a save.

Grant operations live in ``sluice.engine.access.grants`` and reach the state
through the same ``_change`` seam.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from sluice.engine.access import names
from sluice.engine.access import privileges as p
from sluice.engine.access.checker import ADMIN_ROLE, PUBLIC_ROLE, PolicyChecker
from sluice.engine.access.grants import ROLE_NOT_FOUND, GrantOperations
from sluice.engine.access.passwords import CredentialCache, hash_password, verify_password
from sluice.engine.access.state import AccessState, AccessStore, Grant
from sluice.errors import (
    AuthenticationFailed,
    MetaCorruptedError,
    PrivilegeNotAuthenticated,
    PrivilegeNotPermitted,
    RequestError,
)

log = logging.getLogger(__name__)

ROOT_USER = "root"
DEFAULT_ROLES = (ADMIN_ROLE, PUBLIC_ROLE)
USER_NOT_FOUND = "not found the user, maybe the user isn't existed or internal system error"

#: What Milvus grants the ``public`` role when it first starts (proxy.enablePublicPrivilege).
PUBLIC_GRANTS = (
    Grant(PUBLIC_ROLE, p.GLOBAL, p.ANY, p.ANY, "DescribeCollection", ROOT_USER),
    Grant(PUBLIC_ROLE, p.GLOBAL, p.ANY, p.ANY, "ShowCollections", ROOT_USER),
    Grant(PUBLIC_ROLE, p.COLLECTION, p.ANY, p.ANY, "IndexDetail", ROOT_USER),
)

T = TypeVar("T")


class AccessControl(GrantOperations):
    """Users, roles, grants and privilege groups of one data folder.  Thread-safe."""

    def __init__(
        self,
        store: AccessStore,
        *,
        root_password: str,
        max_users: int = 100,
        max_roles: int = 10,
    ) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.max_users = max_users
        self.max_roles = max_roles
        self._cache = CredentialCache()
        self._generation = 0
        self._checker = PolicyChecker()
        raw = store.load()
        if raw is None:
            state = AccessState(
                passwords={ROOT_USER: hash_password(root_password.encode())},
                roles=list(DEFAULT_ROLES),
                grants={g.key(): g for g in PUBLIC_GRANTS},
            )
            store.save(state.to_json())
            log.info("access store created with user root")
        else:
            try:
                state = AccessState.from_json(raw)
            except (KeyError, TypeError, ValueError) as exc:
                raise MetaCorruptedError(f"access state is damaged: {exc!r}") from None
        self._state = state
        self._checker.reset(state.grants.values(), state.groups)

    @property
    def state(self) -> AccessState:
        """The current state; treat as read-only."""
        return self._state

    def _change(self, mutate: Callable[[AccessState], T], *, credentials: bool = False) -> T:
        with self._lock:
            new = self._state.clone()
            result = mutate(new)
            self._store.save(new.to_json())
            self._state = new
            if credentials:
                self._generation += 1
            self._checker.reset(new.grants.values(), new.groups)
            return result

    # --- authentication -----------------------------------------------------------

    def authenticate(self, authorization: str | None) -> str:
        """The user an ``authorization`` header value (base64 ``user:password``) names.

        Raises :class:`AuthenticationFailed` with Milvus's interceptor wording.
        """
        if not authorization:
            raise AuthenticationFailed("missing authorization in header")
        key = CredentialCache.key(authorization)
        user = self._cache.get(key)
        if user is not None:
            return user
        try:
            raw = base64.b64decode(authorization, validate=True)
        except (binascii.Error, ValueError):
            raise AuthenticationFailed("invalid token format") from None
        if b":" not in raw:
            # Milvus hands tokens without a colon to its API-key hook, which the
            # open-source build does not implement: every such key fails.
            raise AuthenticationFailed("auth check failure, please check api key is correct")
        name_bytes, password = raw.split(b":", 1)
        name = name_bytes.decode("utf-8", "replace")
        generation = self._generation
        stored = self._state.passwords.get(name)
        if stored is None or not verify_password(stored, password):
            raise AuthenticationFailed()
        with self._lock:
            if generation == self._generation:
                self._cache.remember(key, name)
        return name

    def has_password(self, user: str, password: bytes) -> bool:
        stored = self._state.passwords.get(user)
        return stored is not None and verify_password(stored, password)

    # --- questions asked per request ---------------------------------------------

    def roles_of(self, user: str) -> frozenset[str]:
        """Roles bound to ``user`` plus ``public``, which every user has."""
        return frozenset((*self._state.bindings.get(user, ()), PUBLIC_ROLE))

    def allowed(
        self, user: str, object_type: str, object_names: Iterable[str], db: str, privilege: str
    ) -> bool:
        """Milvus's privilege interceptor: root always; else one role must allow every name."""
        if user == ROOT_USER:
            return True
        wanted = list(object_names)
        if object_type == p.USER and wanted == [user]:
            return True  # users may read and change their own account
        for role in self.roles_of(user):
            single = frozenset((role,))
            if wanted and all(
                self._checker.allowed(single, object_type, name, db, privilege) for name in wanted
            ):
                return True
        return False

    def sees_every_database(self, user: str) -> bool:
        return user == ROOT_USER or ADMIN_ROLE in self.roles_of(user)

    def visible_databases(self, user: str, databases: Iterable[str]) -> list[str]:
        """ListDatabases: root and admin see all, others the databases their roles hold grants in.

        ``public`` does not count, as in Milvus, so a user without roles sees none.
        """
        dbs = list(databases)
        if self.sees_every_database(user):
            return dbs
        granted = {
            g.db
            for g in self._state.grants.values()
            if g.role in self._state.bindings.get(user, ())
        }
        if p.ANY in granted:
            return dbs
        return [db for db in dbs if db in granted]

    def visible_collections(self, user: str, db: str, collections: Iterable[str]) -> list[str]:
        """ShowCollections: collections the user's bound roles hold a Collection grant on."""
        names_ = list(collections)
        if self.sees_every_database(user):
            return names_
        granted: set[str] = set()
        for g in self._state.grants.values():
            if g.role not in self._state.bindings.get(user, ()) or g.db not in (db, p.ANY):
                continue
            if g.object_type == p.GLOBAL and g.privilege == p.ALL:
                return names_
            if g.object_type == p.COLLECTION:
                if g.object_name == p.ANY:
                    return names_
                granted.add(g.object_name)
        return [n for n in names_ if n in granted]

    # --- users ----------------------------------------------------------------------

    def create_user(self, name: str, password: bytes) -> None:
        names.validate_username(name)
        names.validate_password(password)
        name = name.strip()
        hashed = hash_password(password)

        def mutate(state: AccessState) -> None:
            if name in state.passwords:
                raise RequestError(f"user already exists: {name}")
            if len(state.passwords) >= self.max_users:
                raise RequestError(
                    "unable to add user because the number of users has reached the limit"
                )
            state.passwords[name] = hashed

        self._change(mutate, credentials=True)

    def update_password(self, name: str, old: bytes, new: bytes) -> None:
        names.validate_password(new)
        stored = self._state.passwords.get(name)
        if stored is None or not verify_password(stored, old):
            raise PrivilegeNotAuthenticated(
                f"old password not correct for {name}: {PrivilegeNotAuthenticated.base_message}"
            )
        hashed = hash_password(new)

        def mutate(state: AccessState) -> None:
            state.passwords[name] = hashed

        self._change(mutate, credentials=True)
        self._cache.forget_user(name)

    def delete_user(self, name: str) -> None:
        """Milvus deletes idempotently: an unknown user is a success.  Root cannot go."""
        if name == ROOT_USER:
            raise PrivilegeNotPermitted(
                f"root user cannot be deleted: {PrivilegeNotPermitted.base_message}"
            )
        if name.strip() not in self._state.passwords:
            return

        def mutate(state: AccessState) -> None:
            state.passwords.pop(name.strip(), None)
            state.bindings.pop(name.strip(), None)

        self._change(mutate, credentials=True)
        self._cache.forget_user(name.strip())

    def list_users(self) -> list[str]:
        return sorted(self._state.passwords)

    def select_users(self, name: str | None) -> list[tuple[str, list[str]]]:
        """(user, bound roles) for one user (none if unknown) or for all."""
        if name is not None:
            names.validate_username(name)
        state = self._state
        selected = [name] if name is not None else sorted(state.passwords)
        return [(u, sorted(state.bindings.get(u, []))) for u in selected if u in state.passwords]

    # --- roles ----------------------------------------------------------------------

    def create_role(self, name: str) -> None:
        names.validate_role_name(name)

        def mutate(state: AccessState) -> None:
            if name in state.roles:
                raise RequestError(f'role [name:"{name}"] already exists')
            if len(state.roles) >= self.max_roles:
                raise RequestError(
                    "unable to create role because the number of roles has reached the limit"
                )
            state.roles.append(name)

        self._change(mutate)

    def drop_role(self, name: str, force: bool) -> None:
        names.validate_role_name(name)
        if name in DEFAULT_ROLES:
            raise PrivilegeNotPermitted(
                f"the role[{name}] is a default role, which can't be dropped: "
                f"{PrivilegeNotPermitted.base_message}"
            )

        def mutate(state: AccessState) -> None:
            if name not in state.roles:
                raise RequestError(ROLE_NOT_FOUND)
            held = [k for k, g in state.grants.items() if g.role == name]
            if held and not force:
                raise RequestError(
                    "fail to drop the role that it has privileges. "
                    "Use REVOKE API to revoke privileges"
                )
            for key in held:
                del state.grants[key]
            state.roles.remove(name)
            for roles in state.bindings.values():
                if name in roles:
                    roles.remove(name)

        self._change(mutate)

    def operate_user_role(self, user: str, role: str, add: bool) -> None:
        names.validate_username(user)
        names.validate_role_name(role)

        def mutate(state: AccessState) -> None:
            if role not in state.roles:
                raise RequestError(ROLE_NOT_FOUND)
            bound = state.bindings.setdefault(user, [])
            if add:
                if user not in state.passwords:
                    raise RequestError(USER_NOT_FOUND)
                if role not in bound:
                    bound.append(role)
            elif role in bound:
                bound.remove(role)
            if not bound:
                del state.bindings[user]

        self._change(mutate)

    def select_roles(self, name: str | None) -> list[tuple[str, list[str]]]:
        """(role, users bound to it) for one role (none if unknown) or for all."""
        if name is not None:
            names.validate_role_name(name)
        state = self._state
        selected = [name] if name is not None else sorted(state.roles)
        return [
            (r, sorted(u for u, roles in state.bindings.items() if r in roles))
            for r in selected
            if r in state.roles
        ]
