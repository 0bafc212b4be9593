"""The access-control engine without a server: state, policy matching, persistence seams."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from sluice.engine.access import AccessControl, Grant, MetaStoreAccessStore
from sluice.engine.access.checker import PolicyChecker, expand
from sluice.errors import AuthenticationFailed, MetaCorruptedError, ParameterInvalid, RequestError
from sluice.storage.local_meta import LocalMetaStore


class MemoryStore:
    """An AccessStore in memory that can be told to fail its next save."""

    def __init__(self) -> None:
        self.saved: dict[str, Any] | None = None
        self.fail = False

    def load(self) -> dict[str, Any] | None:
        return self.saved

    def save(self, state: dict[str, Any]) -> None:
        if self.fail:
            raise OSError(28, "No space left on device")
        self.saved = state


def _access(store: Any = None, **kwargs: Any) -> AccessControl:
    return AccessControl(store or MemoryStore(), root_password="Milvus", **kwargs)


def _header(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def test_first_open_creates_root_and_default_roles(tmp_path: Path) -> None:
    store = LocalMetaStore(tmp_path)
    access = AccessControl(MetaStoreAccessStore(store), root_password="first-root")
    assert store.get(MetaStoreAccessStore.KEY) is not None
    assert access.list_users() == ["root"]
    assert [r for r, _ in access.select_roles(None)] == ["admin", "public"]
    assert access.authenticate(_header("root:first-root")) == "root"
    store.close()
    again = AccessControl(
        MetaStoreAccessStore(LocalMetaStore(tmp_path)), root_password="ignored-now"
    )
    with pytest.raises(AuthenticationFailed):
        again.authenticate(_header("root:ignored-now"))


def test_a_failed_save_changes_nothing() -> None:
    store = MemoryStore()
    access = _access(store)
    store.fail = True
    with pytest.raises(OSError):
        access.create_user("alice", b"alice-pass")
    assert access.list_users() == ["root"]
    store.fail = False
    access.create_user("alice", b"alice-pass")
    assert access.list_users() == ["alice", "root"]


def test_credential_cache_forgets_changed_passwords() -> None:
    access = _access()
    access.create_user("alice", b"alice-pass")
    header = _header("alice:alice-pass")
    assert access.authenticate(header) == "alice"
    assert access.authenticate(header) == "alice"  # cached
    access.update_password("alice", b"alice-pass", b"alice-pass-2")
    with pytest.raises(AuthenticationFailed):
        access.authenticate(header)
    assert access.authenticate(_header("alice:alice-pass-2")) == "alice"
    access.delete_user("alice")
    with pytest.raises(AuthenticationFailed):
        access.authenticate(_header("alice:alice-pass-2"))


def test_user_and_role_counts_are_limited() -> None:
    access = _access(max_users=2, max_roles=3)
    access.create_user("alice", b"alice-pass")
    with pytest.raises(RequestError, match="number of users has reached the limit"):
        access.create_user("bob", b"bob-pass-1")
    access.create_role("one")
    with pytest.raises(RequestError, match="number of roles has reached the limit"):
        access.create_role("two")


@pytest.mark.parametrize(
    ("grant", "request_", "allowed"),
    [
        (
            ("Collection", "c1", "default", "Search"),
            ("Collection", "c1", "default", "Search"),
            True,
        ),
        (
            ("Collection", "c1", "default", "Search"),
            ("Collection", "c2", "default", "Search"),
            False,
        ),
        (("Collection", "c1", "default", "Search"), ("Collection", "c1", "db2", "Search"), False),
        (("Collection", "*", "default", "Search"), ("Collection", "c9", "default", "Search"), True),
        (("Collection", "*", "*", "Search"), ("Collection", "c9", "db2", "Search"), True),
        (("Collection", "c1", "default", "*"), ("Collection", "c1", "default", "Insert"), True),
        (
            ("Collection", "c1", "default", "Search"),
            ("Collection", "c1", "default", "Query"),
            False,
        ),
        (("Global", "*", "default", "All"), ("Collection", "c1", "default", "Delete"), True),
        (("Global", "*", "default", "All"), ("Collection", "c1", "db2", "Delete"), False),
        (
            ("Collection", "c1", "default", "ReadOnly"),
            ("Collection", "c1", "default", "Query"),
            True,
        ),
        (
            ("Collection", "c1", "default", "ReadOnly"),
            ("Collection", "c1", "default", "Insert"),
            False,
        ),
        (("Global", "*", "default", "Admin"), ("Global", "*", "default", "CreateOwnership"), True),
        (
            ("Global", "c1", "default", "CollectionReadOnly"),
            ("Collection", "c1", "default", "Query"),
            True,
        ),
        (
            ("Global", "c1", "default", "CollectionReadOnly"),
            ("Collection", "c2", "default", "Query"),
            False,
        ),
        (
            ("Global", "c1", "default", "CollectionReadOnly"),
            ("Global", "*", "default", "DescribeCollection"),
            True,
        ),
        (("Global", "*", "*", "ClusterAdmin"), ("Global", "*", "db7", "CreateOwnership"), True),
    ],
)
def test_policy_matching(
    grant: tuple[str, str, str, str], request_: tuple[str, str, str, str], allowed: bool
) -> None:
    checker = PolicyChecker()
    checker.reset([Grant("r", *grant)], {})
    assert checker.allowed(frozenset({"r"}), *request_) is allowed


def test_custom_group_members_follow_the_group() -> None:
    grant = Grant("r", "Global", "c1", "default", "mine")
    assert expand(grant, {"mine": ["Insert", "DescribeCollection"]}) == [
        ("Collection", "c1", "default", "Insert"),
        ("Global", "*", "default", "DescribeCollection"),
    ]


def test_admin_role_and_root_are_allowed_everything() -> None:
    access = _access()
    access.create_user("alice", b"alice-pass")
    assert not access.allowed("alice", "Global", ["*"], "default", "CreateCollection")
    access.operate_user_role("alice", "admin", True)
    assert access.allowed("alice", "Global", ["*"], "default", "CreateCollection")
    assert access.allowed("root", "Collection", ["x"], "anything", "Insert")


def test_users_may_act_on_themselves() -> None:
    access = _access()
    access.create_user("alice", b"alice-pass")
    assert access.allowed("alice", "User", ["alice"], "default", "UpdateUser")
    assert not access.allowed("alice", "User", ["root"], "default", "UpdateUser")


def test_several_objects_must_all_be_allowed_by_one_role() -> None:
    access = _access()
    access.create_user("alice", b"alice-pass")
    access.create_role("flusher")
    access.operate_user_role("alice", "flusher", True)
    access.operate_privilege(
        role="flusher",
        object_type="Collection",
        object_name="a",
        db="default",
        privilege="Flush",
        grantor="root",
        grant=True,
    )
    assert access.allowed("alice", "Collection", ["a"], "default", "Flush")
    assert not access.allowed("alice", "Collection", ["a", "b"], "default", "Flush")


def test_privilege_group_levels_must_agree() -> None:
    access = _access()
    access.create_privilege_group("mixed")
    access.operate_privilege_group("mixed", ["Insert"], True)
    with pytest.raises(ParameterInvalid, match="privileges are not the same privilege level"):
        access.operate_privilege_group("mixed", ["CreateDatabase"], True)
    with pytest.raises(ParameterInvalid, match="defined by built in privileges"):
        access.create_privilege_group("Insert")


def test_restore_checks_everything_before_changing_anything() -> None:
    access = _access()
    access.create_role("kept")
    backup = access.backup()
    access.create_user("alice", b"alice-pass")
    with pytest.raises(RequestError, match=r"role \[kept\] already exists"):
        access.restore(backup)
    assert access.list_users() == ["alice", "root"]


def test_a_damaged_state_file_is_reported_not_replaced(tmp_path: Path) -> None:
    store = LocalMetaStore(tmp_path)
    key = MetaStoreAccessStore.KEY
    store.commit({key: b"{ not json"})
    with pytest.raises(MetaCorruptedError, match=r"key access: access state is not valid JSON"):
        AccessControl(MetaStoreAccessStore(store), root_password="Milvus")
    store.commit({key: b'{"version": 1, "passwords": {}}'})
    with pytest.raises(MetaCorruptedError, match="access state is damaged"):
        AccessControl(MetaStoreAccessStore(store), root_password="Milvus")
    assert store.get(key) == b'{"version": 1, "passwords": {}}'
