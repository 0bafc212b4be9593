"""Whether a role set may use a privilege on an object: Milvus's policy matcher.

A grant reads ``(role, object type, object name, database, privilege)``.
Before matching, privilege groups are expanded into one policy per member
(built-in groups of the newer API and custom groups; the member's own object
type decides whether the policy keeps the grant's object name or ``*``), as
Milvus's root coordinator does when it builds the proxy's policy list.  A
request matches a policy when the object types agree, the policy's database
and object name are equal or ``*``, and its privilege is equal or ``*``.
Two more rules come from Milvus's matcher: ``All`` grants every privilege in
its database (exactly that database), and the older ``ReadOnly`` /
``ReadWrite`` / ``Admin`` groups are matched by membership.  The ``admin``
role is allowed everything.

Results are cached per request shape and dropped whenever the access state
changes, so a steady workload costs one dictionary lookup per request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from sluice.engine.access import privileges as p
from sluice.engine.access.state import Grant

ADMIN_ROLE = "admin"
PUBLIC_ROLE = "public"

#: (object type, object name, db, privilege) of one expanded policy.
Policy = tuple[str, str, str, str]


def expand(grant: Grant, custom_groups: Mapping[str, list[str]]) -> list[Policy]:
    """The policies one grant stands for."""
    members = p.BUILTIN_GROUPS.get(grant.privilege)
    if members is None and grant.privilege in custom_groups:
        members = tuple(custom_groups[grant.privilege])
    if members is None:
        return [(grant.object_type, grant.object_name, grant.db, grant.privilege)]
    policies = []
    for member in members:
        object_type = p.object_type_of(member)
        name = p.ANY if object_type == p.GLOBAL else grant.object_name
        policies.append((object_type, name, grant.db, member))
    return policies


def _matches(policy: Policy, object_type: str, name: str, db: str, privilege: str) -> bool:
    p_type, p_name, p_db, p_priv = policy
    if p_priv == p.ALL:
        return p_db == db
    legacy = p.LEGACY_GROUPS.get(p_priv)
    if legacy is not None:
        if p_db != db or privilege not in legacy:
            return False
        return p_priv == "Admin" or p_name == p.ANY or name in (p.ANY, p_name)
    return (
        p_type == object_type
        and p_db in (p.ANY, db)
        and p_name in (p.ANY, name)
        and p_priv in (p.ANY, privilege)
    )


class PolicyChecker:
    """Answers ``allowed(roles, ...)`` from expanded grants, with a result cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._policies: dict[str, list[Policy]] = {}
        self._results: dict[tuple[frozenset[str], str, str, str, str], bool] = {}

    def reset(self, grants: Iterable[Grant], custom_groups: Mapping[str, list[str]]) -> None:
        """Rebuild from the current state (called after every change)."""
        policies: dict[str, list[Policy]] = {}
        for grant in grants:
            policies.setdefault(grant.role, []).extend(expand(grant, custom_groups))
        with self._lock:
            self._policies = policies
            self._results = {}

    def allowed(
        self, roles: frozenset[str], object_type: str, name: str, db: str, privilege: str
    ) -> bool:
        key = (roles, object_type, name, db, privilege)
        cached = self._results.get(key)
        if cached is not None:
            return cached
        policies = self._policies
        result = ADMIN_ROLE in roles or any(
            _matches(policy, object_type, name, db, privilege)
            for role in roles
            for policy in policies.get(role, ())
        )
        with self._lock:
            if policies is self._policies:
                if len(self._results) > 100_000:
                    self._results.clear()
                self._results[key] = result
        return result
