"""RBAC as Milvus 2.6: roles, grants on global/database/collection objects, privilege groups.

One server with authorization on.  Grants take effect on the next request
(Milvus caches them in the proxy; Sluice checks the live state), so no test
waits.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from access_helpers import AUTH_ENV, ROOT_TOKEN, AuthedStub, client, grpc_refusal, list_databases
from helpers import SluiceProcess, milvus_error
from pymilvus import MilvusClient
from pymilvus.grpc_gen import milvus_pb2

DIM = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    env = {**AUTH_ENV, "SLUICE_QUOTA_MAX_ROLE_NUM": "50"}
    proc = SluiceProcess(tmp_path_factory.mktemp("rbac") / "data", env=env).start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture(scope="module")
def root(server: SluiceProcess) -> Iterator[MilvusClient]:
    milvus = client(server.uri, ROOT_TOKEN)
    try:
        yield milvus
    finally:
        milvus.close()


def _collection(root: MilvusClient, name: str) -> None:
    root.create_collection(name, dimension=DIM)
    root.insert(name, [{"id": i, "vector": [0.1 * i, 0.2, 0.3, 0.4]} for i in range(5)])


def _user_with_role(root: MilvusClient, user: str, role: str) -> None:
    root.create_user(user, f"{user}-pass")
    root.create_role(role)
    root.grant_role(user, role)


def _as(server: SluiceProcess, user: str) -> MilvusClient:
    return client(server.uri, f"{user}:{user}-pass")


def _stub(server: SluiceProcess, user: str, db: str | None = None) -> AuthedStub:
    return AuthedStub(server.port, f"{user}:{user}-pass", db)


def _query(stub: AuthedStub, collection: str) -> milvus_pb2.QueryResults:
    return stub.call(
        "Query",
        milvus_pb2.QueryRequest(collection_name=collection, expr="id >= 0", output_fields=["id"]),
    )


def _deny(privilege: str, user: str, db: str = "default") -> str:
    return f"Privilege{privilege}: permission deny to {user} in the `{db}` database"


def test_search_denied_then_granted_then_revoked(server: SluiceProcess, root: MilvusClient) -> None:
    _collection(root, "rbac_search")
    _user_with_role(root, "searcher", "search_role")
    user = _as(server, "searcher")
    query = [[0.1, 0.2, 0.3, 0.4]]
    with grpc_refusal(grpc.StatusCode.PERMISSION_DENIED, _deny("Search", "searcher")):
        user.search("rbac_search", query, limit=2)
    root.grant_privilege("search_role", "Collection", "Search", "rbac_search")
    assert len(user.search("rbac_search", query, limit=2)[0]) == 2
    root.revoke_privilege("search_role", "Collection", "Search", "rbac_search")
    with grpc_refusal(grpc.StatusCode.PERMISSION_DENIED, _deny("Search", "searcher")):
        user.search("rbac_search", query, limit=2)
    user.close()


def test_collection_scoped_grant(server: SluiceProcess, root: MilvusClient) -> None:
    _collection(root, "scoped_a")
    _collection(root, "scoped_b")
    _user_with_role(root, "inserter", "insert_role")
    root.grant_privilege("insert_role", "Collection", "Insert", "scoped_a")
    user = _as(server, "inserter")
    row = [{"id": 100, "vector": [0.5, 0.5, 0.5, 0.5]}]
    assert user.insert("scoped_a", row)["insert_count"] == 1
    with grpc_refusal(grpc.StatusCode.PERMISSION_DENIED, _deny("Insert", "inserter")):
        user.insert("scoped_b", row)
    index = user.prepare_index_params()
    index.add_index("vector", metric_type="COSINE")
    with grpc_refusal(grpc.StatusCode.PERMISSION_DENIED, _deny("CreateIndex", "inserter")):
        user.create_index("scoped_a", index)
    assert user.list_collections() == ["scoped_a"]  # only what the role was granted
    user.close()


def test_database_scoped_grants(server: SluiceProcess, root: MilvusClient) -> None:
    _collection(root, "db_scoped")
    _user_with_role(root, "db_reader", "db_role")
    root.grant_privilege_v2("db_role", "Query", "*", db_name="other_db")
    stub = _stub(server, "db_reader")
    with grpc_refusal(grpc.StatusCode.PERMISSION_DENIED, _deny("Query", "db_reader")):
        _query(stub, "db_scoped")
    root.grant_privilege_v2("db_role", "Query", "*", db_name="default")
    assert _query(stub, "db_scoped").status.code == 0
    # A grant in every database ("*") covers a database named in the header too.
    root.revoke_privilege_v2("db_role", "Query", "*", db_name="default")
    root.grant_privilege_v2("db_role", "Query", "*", db_name="*")
    assert _query(stub, "db_scoped").status.code == 0
    other = _stub(server, "db_reader", db="other_db")
    response = _query(other, "db_scoped")
    assert response.status.code == 800  # allowed, and the database does not exist
    assert list_databases(stub) == ["default"]  # a "*" grant makes every database visible
    stub.close()
    other.close()


def test_global_all_and_admin_role(server: SluiceProcess, root: MilvusClient) -> None:
    _user_with_role(root, "all_user", "all_role")
    root.grant_privilege("all_role", "Global", "All", "*")
    user = _as(server, "all_user")
    user.create_collection("made_by_all_user", dimension=DIM)
    user.create_user("made_by_all", "made-pass")
    user.drop_user("made_by_all")
    user.drop_collection("made_by_all_user")
    user.close()
    root.create_user("admin_user", "admin_user-pass")
    root.grant_role("admin_user", "admin")
    admin = _as(server, "admin_user")
    admin.create_collection("made_by_admin", dimension=DIM)
    assert "made_by_admin" in admin.list_collections()
    assert admin.list_databases() == ["default"]
    admin.drop_collection("made_by_admin")
    admin.close()


def test_new_user_has_only_public_privileges(server: SluiceProcess, root: MilvusClient) -> None:
    _collection(root, "public_only")
    root.create_user("nobody", "nobody-pass")
    user = _as(server, "nobody")
    with grpc_refusal(grpc.StatusCode.PERMISSION_DENIED, _deny("Load", "nobody")):
        user.load_collection("public_only")
    with grpc_refusal(grpc.StatusCode.PERMISSION_DENIED, _deny("CreateCollection", "nobody")):
        user.create_collection("nobody_coll", dimension=DIM)
    with grpc_refusal(grpc.StatusCode.PERMISSION_DENIED, _deny("CreateOwnership", "nobody")):
        user.create_role("nobody_role")
    with grpc_refusal(grpc.StatusCode.PERMISSION_DENIED, _deny("ManageOwnership", "nobody")):
        user.grant_role("nobody", "admin")
    # public may describe collections and list them (an empty list: no bound role grants any).
    assert user.describe_collection("public_only")["collection_name"] == "public_only"
    assert user.list_collections() == []
    user.close()


def test_privilege_groups(server: SluiceProcess, root: MilvusClient) -> None:
    _collection(root, "grouped")
    root.load_collection("grouped")
    _user_with_role(root, "grouper", "group_role")
    user = _as(server, "grouper")
    query = [[0.1, 0.2, 0.3, 0.4]]
    root.grant_privilege_v2("group_role", "CollectionReadOnly", "grouped")
    assert len(user.search("grouped", query, limit=1)[0]) == 1
    row = [{"id": 200, "vector": [0.1, 0.1, 0.1, 0.1]}]
    with grpc_refusal(grpc.StatusCode.PERMISSION_DENIED, _deny("Insert", "grouper")):
        user.insert("grouped", row)
    root.revoke_privilege_v2("group_role", "CollectionReadOnly", "grouped")
    root.create_privilege_group("insert_group")
    root.add_privileges_to_group("insert_group", ["Insert"])
    root.grant_privilege_v2("group_role", "insert_group", "grouped")
    assert user.insert("grouped", row)["insert_count"] == 1
    with milvus_error(
        1100,
        message="privilege group [insert_group] is used by role [group_role], "
        "Use REVOKE API to revoke it first: invalid parameter",
    ):
        root.drop_privilege_group("insert_group")
    root.remove_privileges_from_group("insert_group", ["Insert"])
    with grpc_refusal(grpc.StatusCode.PERMISSION_DENIED, _deny("Insert", "grouper")):
        user.insert("grouped", row)
    root.revoke_privilege_v2("group_role", "insert_group", "grouped")
    root.drop_privilege_group("insert_group")
    names = [g["privilege_group"] for g in root.list_privilege_groups()]
    assert "insert_group" not in names and "CollectionReadOnly" in names
    with milvus_error(
        1100,
        message="dbName and collectionName should be * for the cluster level privilege: "
        "ClusterReadOnly: invalid parameter",
    ):
        root.grant_privilege_v2("group_role", "ClusterReadOnly", "grouped")
    user.close()


def test_role_and_grant_errors(root: MilvusClient) -> None:
    root.create_role("error_role")
    with milvus_error(65535, message='role [name:"error_role"] already exists'):
        root.create_role("error_role")
    for name in ("admin", "public"):
        with milvus_error(
            1401,
            message=f"the role[{name}] is a default role, which can't be dropped: "
            "privilege not permitted",
        ):
            root.drop_role(name)
    missing = "not found the role, maybe the role isn't existed or internal system error"
    with milvus_error(65535, message=missing):
        root.drop_role("no_such_role")
    with milvus_error(65535, message=missing):
        root.describe_role("no_such_role")
    with milvus_error(
        65535, message="not found the user, maybe the user isn't existed or internal system error"
    ):
        root.grant_role("no_such_user", "error_role")
    root.revoke_role("no_such_user", "error_role")  # removing an absent binding succeeds
    with milvus_error(65535, message="the object entity in the request is nil or invalid"):
        root.revoke_privilege("error_role", "NoSuchObject", "*", "*")
    with milvus_error(65535, message="not found the privilege name[Bogus] in object[Global]"):
        root.revoke_privilege("error_role", "Global", "Bogus", "*")
    with milvus_error(
        802,
        message="database name can only contain numbers, letters and underscores: "
        "invalid database name[database=n%$#@!]",
    ):
        root.grant_privilege_v2("error_role", "Insert", "*", db_name="n%$#@!")
    root.grant_privilege("error_role", "Global", "CreateCollection", "*")
    with milvus_error(
        65535,
        message="fail to drop the role that it has privileges. Use REVOKE API to revoke privileges",
    ):
        root.drop_role("error_role")
    root.drop_role("error_role", force_drop=True)
    assert "error_role" not in root.list_roles()


def test_load_grant_brings_its_related_privileges(root: MilvusClient) -> None:
    root.create_role("loader_role")
    root.grant_privilege("loader_role", "Collection", "Load", "anything")
    privileges = {g["privilege"] for g in root.describe_role("loader_role")["privileges"]}
    assert privileges == {"Load", "GetLoadState", "GetLoadingProgress"}
    root.drop_role("loader_role", force_drop=True)


def test_user_may_list_grants_of_own_role_only(server: SluiceProcess, root: MilvusClient) -> None:
    _user_with_role(root, "introspector", "intro_role")
    root.create_role("foreign_role")
    user = _as(server, "introspector")
    stub = _stub(server, "introspector")
    own = milvus_pb2.SelectGrantRequest(
        entity=milvus_pb2.GrantEntity(role=milvus_pb2.RoleEntity(name="intro_role"))
    )
    assert stub.call("SelectGrant", own).status.code == 0
    foreign = milvus_pb2.SelectGrantRequest(
        entity=milvus_pb2.GrantEntity(role=milvus_pb2.RoleEntity(name="foreign_role"))
    )
    with grpc_refusal(grpc.StatusCode.PERMISSION_DENIED, _deny("SelectOwnership", "introspector")):
        stub.call("SelectGrant", foreign)
    assert user.describe_user("introspector")["roles"] == ("intro_role",)
    user.close()
    stub.close()


def test_backup_and_restore_rbac(server: SluiceProcess, root: MilvusClient) -> None:
    root.create_user("backup_user", "backup-pass")
    root.create_role("backup_role")
    root.grant_role("backup_user", "backup_role")
    root.create_privilege_group("backup_group")
    root.add_privileges_to_group("backup_group", ["Query"])
    root.grant_privilege_v2("backup_role", "backup_group", "*")
    stub = AuthedStub(server.port, ROOT_TOKEN)
    response = stub.call("BackupRBAC", milvus_pb2.BackupRBACMetaRequest())
    full = response.RBAC_meta
    assert "backup_role" in [r.name for r in full.roles]
    assert "root" not in [u.user for u in full.users]
    assert {"admin", "public"}.isdisjoint(r.name for r in full.roles)
    # Restore only this test's part: the rest of the backup still exists on the server.
    backup = milvus_pb2.RBACMeta(
        users=[u for u in full.users if u.user == "backup_user"],
        roles=[r for r in full.roles if r.name == "backup_role"],
        grants=[g for g in full.grants if g.role.name == "backup_role"],
        privilege_groups=[g for g in full.privilege_groups if g.group_name == "backup_group"],
    )
    root.drop_role("backup_role", force_drop=True)
    root.drop_user("backup_user")
    root.drop_privilege_group("backup_group")
    restore = milvus_pb2.RestoreRBACMetaRequest(RBAC_meta=backup)
    assert stub.call("RestoreRBAC", restore).code == 0
    assert root.describe_user("backup_user")["roles"] == ("backup_role",)
    privileges = root.describe_role("backup_role")["privileges"]
    assert [p["privilege"] for p in privileges] == ["backup_group"]
    again = stub.call("RestoreRBAC", restore)
    assert (again.code, again.reason) == (65535, "role [backup_role] already exists")
    # The restored password hash still logs the user in.
    assert list_databases(AuthedStub(server.port, "backup_user:backup-pass")) == ["default"]
    stub.close()
