"""Grant, revoke and list privileges; privilege groups; backup and restore of it all.

A mixin of :class:`~sluice.engine.access.control.AccessControl`: every change
goes through its ``_change`` seam.  Checks and wording follow Milvus's proxy
(name validation, code 1100) and root coordinator (existence checks, most of
them plain errors with code 65535, as Milvus 2.6 reports them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sluice.engine.access import names
from sluice.engine.access import privileges as p
from sluice.engine.access.state import AccessState, Grant
from sluice.errors import ParameterInvalid, RequestError

ROLE_NOT_FOUND = "not found the role, maybe the role isn't existed or internal system error"
_OBJECT_INVALID = "the object entity in the request is nil or invalid"

T = TypeVar("T")


@dataclass(frozen=True)
class UserBackup:
    name: str
    password_hash: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class RbacBackup:
    """What BackupRBAC returns and RestoreRBAC takes (root, admin and public are left out)."""

    users: tuple[UserBackup, ...] = ()
    roles: tuple[str, ...] = ()
    grants: tuple[Grant, ...] = ()
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()


class GrantOperations:
    _state: AccessState
    _change: Callable[..., Any]

    # --- grants ---------------------------------------------------------------------

    def operate_privilege(
        self,
        *,
        role: str,
        object_type: str,
        object_name: str,
        db: str,
        privilege: str,
        grantor: str,
        grant: bool,
    ) -> None:
        """OperatePrivilege (the first grant API): ``privilege`` on ``object_type``/``object_name``."""
        names.validate_privilege(privilege)
        names.validate_object_type(object_type)
        names.validate_object_name(object_name)
        names.validate_role_name(role)
        if object_type not in p.OBJECT_TYPES:
            raise RequestError(_OBJECT_INVALID)
        self._require_role(role)
        if privilege != p.ANY:
            if privilege in self._state.groups:
                raise RequestError(f"can not operate the custom privilege group [{privilege}]")
            if privilege in p.BUILTIN_GROUPS:
                raise RequestError(f"can not operate the built-in privilege group [{privilege}]")
            if privilege not in p.OBJECT_PRIVILEGES[object_type]:
                raise RequestError(
                    f"not found the privilege name[{privilege}] in object[{object_type}]"
                )
        if object_type == p.GLOBAL and privilege not in p.LEGACY_GROUPS:
            object_name = p.ANY
        self._apply(
            Grant(role, object_type, object_name, db or "default", privilege, grantor), grant
        )

    def operate_privilege_v2(
        self,
        *,
        role: str,
        privilege: str,
        db: str,
        collection: str,
        grantor: str,
        grant: bool,
    ) -> None:
        """OperatePrivilegeV2: the object type follows from the privilege; levels are checked."""
        names.validate_role_name(role)
        names.validate_privilege(privilege)
        if db != p.ANY:
            names.validate_database_name(db)
        names.validate_collection_name(collection)
        self._require_role(role)
        if privilege != p.ANY and not (p.is_defined(privilege) or privilege in self._state.groups):
            raise RequestError(f"not found the privilege name[{privilege}]")
        self._check_levels(privilege, db, collection)
        grant_ = Grant(role, p.object_type_of(privilege), collection, db, privilege, grantor)
        self._apply(grant_, grant)

    def _require_role(self, role: str) -> None:
        if role not in self._state.roles:
            raise RequestError(ROLE_NOT_FOUND)

    def _check_levels(self, privilege: str, db: str, collection: str) -> None:
        """``validatePrivilegeGroupParams``: a group's level constrains its database and collection."""
        members = p.BUILTIN_GROUPS.get(privilege) or tuple(self._state.groups.get(privilege, ()))
        if not members:
            return
        level = p.level_of(members[0])
        if level == p.CLUSTER_LEVEL and (db != p.ANY or collection != p.ANY):
            raise ParameterInvalid.msg(
                f"dbName and collectionName should be * for the cluster level privilege: {privilege}"
            )
        if level == p.DATABASE_LEVEL and collection not in ("", p.ANY):
            raise ParameterInvalid.msg(
                f"collectionName should be * for the database level privilege: {privilege}"
            )
        if level == p.COLLECTION_LEVEL and db == p.ANY and collection not in ("", p.ANY):
            raise ParameterInvalid.msg(
                f"please specify database name for the collection level privilege: {privilege}"
            )

    def _apply(self, grant: Grant, add: bool) -> None:
        """Grant or revoke, with the privileges Milvus grants alongside (Load, Flush)."""
        related = [
            Grant(grant.role, grant.object_type, grant.object_name, grant.db, extra, grant.grantor)
            for extra in p.RELATED_PRIVILEGES.get(grant.privilege, ())
        ]

        def mutate(state: AccessState) -> None:
            for g in (grant, *related):
                if add:
                    state.grants.setdefault(g.key(), g)
                else:
                    state.grants.pop(g.key(), None)

        self._change(mutate)

    def select_grants(
        self, role: str, object_type: str | None, object_name: str | None, db: str
    ) -> list[Grant]:
        """SelectGrant: a role's grants in ``db`` (``*`` grants count in every database)."""
        if object_type is not None:
            names.validate_object_type(object_type)
            names.validate_object_name(object_name or "")
        names.validate_role_name(role)
        self._require_role(role)
        if object_type is not None and object_type not in p.OBJECT_TYPES:
            raise RequestError(
                f"not found the object type[name: {object_type}], "
                f"supported the object types: [{' '.join(p.OBJECT_TYPES)}]"
            )
        db = db or "default"
        found = [
            g
            for g in self._state.grants.values()
            if g.role == role
            and (db == p.ANY or g.db in (db, p.ANY))
            and (object_type is None or g.object_type == object_type)
            and (not object_name or g.object_name == object_name)
        ]
        return sorted(found)

    # --- privilege groups -----------------------------------------------------------

    def create_privilege_group(self, name: str) -> None:
        names.validate_privilege_group_name(name)

        def mutate(state: AccessState) -> None:
            if name in state.groups:
                raise ParameterInvalid.msg(f"privilege group name [{name}] is defined by users")
            if p.is_defined(name):
                raise ParameterInvalid.msg(
                    f"privilege group name [{name}] is defined by built in privileges "
                    "or privilege groups in system"
                )
            state.groups[name] = []

        self._change(mutate)

    def drop_privilege_group(self, name: str) -> None:
        """Dropping a name that is no custom group is a success, as in Milvus."""
        names.validate_privilege_group_name(name)
        if name not in self._state.groups:
            return

        def mutate(state: AccessState) -> None:
            for g in sorted(state.grants.values()):
                if g.privilege == name:
                    raise ParameterInvalid.msg(
                        f"privilege group [{name}] is used by role [{g.role}], "
                        "Use REVOKE API to revoke it first"
                    )
            state.groups.pop(name, None)

        self._change(mutate)

    def list_privilege_groups(self) -> list[tuple[str, list[str]]]:
        """Custom groups (by name), then the nine built-in ones."""
        custom = [(n, list(privs)) for n, privs in sorted(self._state.groups.items())]
        return custom + [(n, list(privs)) for n, privs in p.BUILTIN_GROUPS.items()]

    def operate_privilege_group(self, name: str, privileges: Iterable[str], add: bool) -> None:
        names.validate_privilege_group_name(name)
        wanted = list(privileges)
        for privilege in wanted:
            names.validate_privilege(privilege)

        def mutate(state: AccessState) -> None:
            if name not in state.groups:
                raise ParameterInvalid.msg(
                    f"there is no privilege group name [{name}] defined in system to operate"
                )
            if not wanted:
                raise ParameterInvalid.msg("privileges is empty when alter the privilege group")
            for privilege in wanted:
                if not p.is_defined(privilege) and privilege not in state.groups:
                    raise ParameterInvalid.msg(
                        "there is no privilege name or privilege group name "
                        f"[{privilege}] defined in system to operate"
                    )
            members = state.groups[name]
            if add:
                levels = {p.level_of(x) for x in (*members, *wanted)}
                if len(levels) > 1:
                    raise ParameterInvalid.msg("privileges are not the same privilege level")
                members.extend(x for x in dict.fromkeys(wanted) if x not in members)
            else:
                state.groups[name] = [x for x in members if x not in wanted]

        self._change(mutate)

    # --- backup and restore ---------------------------------------------------------

    def backup(self) -> RbacBackup:
        state = self._state
        builtin = {"root", "admin", "public"}
        return RbacBackup(
            users=tuple(
                UserBackup(u, h, tuple(sorted(state.bindings.get(u, []))))
                for u, h in sorted(state.passwords.items())
                if u not in builtin
            ),
            roles=tuple(r for r in sorted(state.roles) if r not in builtin),
            grants=tuple(g for g in sorted(state.grants.values()) if g.role not in builtin),
            groups=tuple((n, tuple(privs)) for n, privs in sorted(state.groups.items())),
        )

    def restore(self, backup: RbacBackup) -> None:
        """RestoreRBAC: add everything or nothing; an empty backup is a no-op."""
        if not (backup.users or backup.roles or backup.grants or backup.groups):
            return

        def mutate(state: AccessState) -> None:
            roles_after = set(state.roles)
            for role in backup.roles:
                if role in state.roles:
                    raise RequestError(f"role [{role}] already exists")
                roles_after.add(role)
            groups_after = set(state.groups)
            for name, _ in backup.groups:
                if name in state.groups:
                    raise RequestError(f"privilege group [{name}] already exists")
                groups_after.add(name)
            for g in backup.grants:
                known = g.privilege == p.ANY or g.privilege in groups_after
                if not known and not p.is_defined(g.privilege):
                    raise RequestError(f"privilege [{g.privilege}] does not exist")
                if g.role not in roles_after:
                    raise RequestError(f"role [{g.role}] does not exist")
            for user in backup.users:
                if user.name in state.passwords:
                    raise RequestError(f"user [{user.name}] already exists")
                for role in user.roles:
                    if role not in roles_after:
                        raise RequestError(f"role [{role}] does not exist")
            state.roles.extend(backup.roles)
            for name, privs in backup.groups:
                state.groups[name] = list(privs)
            for g in backup.grants:
                state.grants[g.key()] = g
            for user in backup.users:
                state.passwords[user.name] = user.password_hash
                if user.roles:
                    state.bindings[user.name] = list(user.roles)

        self._change(mutate, credentials=True)
