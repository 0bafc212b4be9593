"""Authentication as Milvus does it: credentials on every RPC, users with argon2 passwords.

One server with authorization on; each test names its own users.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from access_helpers import AUTH_ENV, ROOT_TOKEN, AuthedStub, client, grpc_refusal, list_databases
from helpers import SluiceProcess, milvus_error
from pymilvus import MilvusClient, MilvusException
from pymilvus.grpc_gen import milvus_pb2

WRONG = "auth check failure, please check username and password are correct"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    proc = SluiceProcess(tmp_path_factory.mktemp("auth") / "data", env=AUTH_ENV).start()
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


def _connect(server: SluiceProcess, token: str | None) -> AuthedStub:
    return AuthedStub(server.port, token)


def test_missing_credentials_are_refused_with_unauthenticated(server: SluiceProcess) -> None:
    stub = _connect(server, None)
    with grpc_refusal(grpc.StatusCode.UNAUTHENTICATED, "missing authorization in header"):
        stub.call("Connect", milvus_pb2.ConnectRequest())
    with grpc_refusal(grpc.StatusCode.UNAUTHENTICATED, "missing authorization in header"):
        stub.call("GetVersion", milvus_pb2.GetVersionRequest())
    stub.close()


@pytest.mark.parametrize("token", ["root:Milvuskk", "rootnn:Milvus", "root:"])
def test_wrong_credentials_are_refused(server: SluiceProcess, token: str) -> None:
    stub = _connect(server, token)
    with grpc_refusal(grpc.StatusCode.UNAUTHENTICATED, WRONG):
        list_databases(stub)
    stub.close()


def test_malformed_and_api_key_tokens(server: SluiceProcess) -> None:
    stub = AuthedStub(server.port, None)
    stub.metadata = (("authorization", "%%% not base64"),)
    with grpc_refusal(grpc.StatusCode.UNAUTHENTICATED, "invalid token format"):
        list_databases(stub)
    stub.metadata = (("authorization", base64.b64encode(b"an-api-key").decode()),)
    with grpc_refusal(
        grpc.StatusCode.UNAUTHENTICATED, "auth check failure, please check api key is correct"
    ):
        list_databases(stub)
    stub.close()


def test_pymilvus_refuses_to_connect_with_a_wrong_password(server: SluiceProcess) -> None:
    with pytest.raises(MilvusException, match="Fail connecting"):
        MilvusClient(server.uri, token="root:not-the-password")
    with pytest.raises(MilvusException, match="Fail connecting"):
        MilvusClient(server.uri)


def test_root_connects_with_token_and_with_user_password(server: SluiceProcess) -> None:
    by_token = client(server.uri, ROOT_TOKEN)
    by_user = MilvusClient(server.uri, user="root", password="Milvus")
    assert by_token.list_databases() == ["default"]
    assert "root" in by_user.list_users()
    by_token.close()
    by_user.close()


def test_user_lifecycle(server: SluiceProcess, root: MilvusClient) -> None:
    root.create_user("lifecycle_user", "first-pass")
    assert "lifecycle_user" in root.list_users()
    stub = _connect(server, "lifecycle_user:first-pass")
    assert list_databases(stub) == []  # no roles yet: no database is visible
    root.update_password("lifecycle_user", "first-pass", "second-pass")
    with grpc_refusal(grpc.StatusCode.UNAUTHENTICATED, WRONG):
        list_databases(stub)  # the cached old credential was forgotten
    fresh = _connect(server, "lifecycle_user:second-pass")
    assert list_databases(fresh) == []
    root.drop_user("lifecycle_user")
    assert "lifecycle_user" not in root.list_users()
    with grpc_refusal(grpc.StatusCode.UNAUTHENTICATED, WRONG):
        list_databases(fresh)
    root.drop_user("lifecycle_user")  # dropping again is a success, as in Milvus
    stub.close()
    fresh.close()


def test_user_can_change_its_own_password_but_not_others(
    server: SluiceProcess, root: MilvusClient
) -> None:
    root.create_user("self_changer", "self-pass")
    root.create_user("someone_else", "other-pass")
    me = _connect(server, "self_changer:self-pass")
    request = milvus_pb2.UpdateCredentialRequest(
        username="self_changer",
        oldPassword=base64.b64encode(b"self-pass").decode(),
        newPassword=base64.b64encode(b"self-pass-2").decode(),
    )
    assert me.call("UpdateCredential", request).code == 0
    me = _connect(server, "self_changer:self-pass-2")
    request.username = "someone_else"
    request.oldPassword = base64.b64encode(b"other-pass").decode()
    with grpc_refusal(
        grpc.StatusCode.PERMISSION_DENIED,
        "PrivilegeUpdateUser: permission deny to self_changer in the `default` database",
    ):
        me.call("UpdateCredential", request)
    me.close()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("0", "invalid user name 0, the first character must be a letter, but got 0"),
        (
            "n@me",
            "invalid user name n@me, username must contain only numbers, letters and "
            "underscores, but got %!s(uint8=64)",
        ),
        (
            "a" * 33,
            f"invalid username {'a' * 33} with length 33, the length of username must be "
            "less than %!d(string=32)",
        ),
    ],
)
def test_invalid_user_names(root: MilvusClient, name: str, message: str) -> None:
    with milvus_error(1100, message=f"{message}: invalid parameter"):
        root.create_user(name, "valid-password")


@pytest.mark.parametrize("password", ["p@ss", "12345", "x" * 73])
def test_invalid_password_lengths(root: MilvusClient, password: str) -> None:
    n = len(password)
    with milvus_error(
        1100,
        message=f"invalid password length: invalid parameter[{n} out of range 6 <= value <= 72]",
    ):
        root.create_user("pw_len_user", password)


def test_credential_rules(root: MilvusClient) -> None:
    with milvus_error(65535, message="user already exists: root"):
        root.create_user("root", "whatever1")
    with milvus_error(1401, message="root user cannot be deleted: privilege not permitted"):
        root.drop_user("root")
    root.create_user("old_pw_user", "right-pass")
    with milvus_error(1400, message="old password not correct for old_pw_user: not authenticated"):
        root.update_password("old_pw_user", "wrong-pass", "new-pass-1")
    with milvus_error(1400, message="old password not correct for nobody_here: not authenticated"):
        root.update_password("nobody_here", "right-pass", "new-pass-1")


def test_root_bypasses_every_privilege(root: MilvusClient) -> None:
    root.create_collection("root_bypass", dimension=4)
    root.insert("root_bypass", [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}])
    assert root.query("root_bypass", filter="id == 1", output_fields=["id"]) == [{"id": 1}]
    root.drop_collection("root_bypass")


def test_access_state_survives_restart_and_kill(tmp_path: Path) -> None:
    server = SluiceProcess(tmp_path / "data", env=AUTH_ENV).start()
    try:
        root = client(server.uri, ROOT_TOKEN)
        root.create_user("durable_user", "durable-pass")
        root.create_role("durable_role")
        root.grant_role("durable_user", "durable_role")
        root.grant_privilege("durable_role", "Global", "CreateCollection", "*")
        root.update_password("root", "Milvus", "new-root-pass")
        root.close()
        server.kill()  # kill -9: every acknowledged change must already be on disk
        server.start()
        stub = _connect(server, "durable_user:durable-pass")
        assert list_databases(stub) == ["default"]
        stub.close()
        with grpc_refusal(grpc.StatusCode.UNAUTHENTICATED, WRONG):
            list_databases(_connect(server, ROOT_TOKEN))
        root = client(server.uri, "root:new-root-pass")
        root.create_user("second_user", "second-pass")
        root.close()
        server.restart()  # clean stop
        root = client(server.uri, "root:new-root-pass")
        assert root.describe_user("durable_user")["roles"] == ("durable_role",)
        assert {"durable_user", "second_user"} <= set(root.list_users())
        grants = root.describe_role("durable_role")["privileges"]
        assert [(g["object_type"], g["privilege"]) for g in grants] == [
            ("Global", "CreateCollection")
        ]
        root.close()
    finally:
        server.kill()


def test_loopback_server_needs_no_credentials_by_default(tmp_path: Path) -> None:
    server = SluiceProcess(tmp_path / "data").start()
    try:
        stub = _connect(server, None)
        assert list_databases(stub) == ["default"]
        stub.close()
        assert "authorization off" in server.log()
    finally:
        server.kill()


def test_default_root_password_from_the_environment(tmp_path: Path) -> None:
    env = {**AUTH_ENV, "SLUICE_SECURITY_DEFAULT_ROOT_PASSWORD": "s3cret-root"}
    server = SluiceProcess(tmp_path / "data", env=env).start()
    try:
        assert list_databases(_connect(server, "root:s3cret-root")) == ["default"]
        with grpc_refusal(grpc.StatusCode.UNAUTHENTICATED, WRONG):
            list_databases(_connect(server, ROOT_TOKEN))
        assert "default password" not in server.log()
    finally:
        server.kill()
