"""REST with authorization on: Bearer tokens, HTTP Basic, 401 and 403 as Milvus answers them.

The REST layer runs the same gate as gRPC (one privilege table), so a user
without a grant is refused with the privilege interceptor's text, and quota
and login rules are the gRPC ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from access_helpers import AUTH_ENV, ROOT_TOKEN
from helpers import SluiceProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    proc = SluiceProcess(tmp_path_factory.mktemp("rest-auth") / "data", env=AUTH_ENV).start()
    try:
        yield proc
    finally:
        proc.kill()


def post(server: SluiceProcess, path: str, body: Any, token: str | None = ROOT_TOKEN, **kw: Any):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.post(
        f"{server.http_uri}/v2/vectordb{path}", json=body, headers=headers, timeout=30, **kw
    )


def test_missing_or_wrong_credentials_are_401(server: SluiceProcess) -> None:
    for token in (None, "root:wrong", "nobody:secret1"):
        reply = post(server, "/collections/list", {}, token=token)
        assert reply.status_code == 401
        assert reply.json() == {"code": 1800, "message": "user hasn't authenticated"}


def test_root_by_bearer_and_by_basic_auth(server: SluiceProcess) -> None:
    reply = post(server, "/collections/create", {"collectionName": "guarded", "dimension": 4})
    assert reply.json() == {"code": 0, "data": {}}
    basic = requests.post(
        f"{server.http_uri}/v2/vectordb/collections/list",
        json={},
        auth=("root", "Milvus"),
        timeout=30,
    )
    assert basic.status_code == 200 and "guarded" in basic.json()["data"]


def test_user_without_privilege_is_403_and_grant_opens_it(server: SluiceProcess) -> None:
    assert (
        post(server, "/users/create", {"userName": "ann", "password": "secret-1"}).json()["code"]
        == 0
    )
    assert "ann" in post(server, "/users/list", {}).json()["data"]
    post(server, "/collections/create", {"collectionName": "private", "dimension": 4})
    body = {"collectionName": "private", "data": [[0.1, 0.2, 0.3, 0.4]], "limit": 1}
    refused = post(server, "/entities/search", body, token="ann:secret-1")
    assert refused.status_code == 403
    assert refused.json() == {
        "code": 65535,
        "message": "rpc error: code = PermissionDenied desc = PrivilegeSearch: permission deny "
        "to ann in the `default` database",
    }
    assert post(server, "/roles/create", {"roleName": "reader"}).json()["code"] == 0
    grant = {
        "roleName": "reader",
        "objectType": "Collection",
        "objectName": "private",
        "privilege": "Search",
    }
    assert post(server, "/roles/grant_privilege", grant).json()["code"] == 0
    assert (
        post(server, "/users/grant_role", {"userName": "ann", "roleName": "reader"}).json()["code"]
        == 0
    )
    assert post(server, "/users/describe", {"userName": "ann"}).json()["data"] == ["reader"]
    privileges = post(server, "/roles/describe", {"roleName": "reader"}).json()["data"]
    assert {"objectType": "Collection", "objectName": "private", "privilege": "Search"}.items() <= (
        privileges[0].items()
    )
    allowed = post(server, "/entities/search", body, token="ann:secret-1")
    assert allowed.status_code == 200 and allowed.json()["code"] == 0


def test_admin_endpoints_need_root(server: SluiceProcess, tmp_path: Path) -> None:
    reply = requests.post(
        f"{server.http_uri}/v2/sluice/stats",
        json={},
        headers={"Authorization": "Bearer ann:secret-1"},
        timeout=30,
    )
    assert reply.status_code in (401, 403)
    root = requests.post(
        f"{server.http_uri}/v2/sluice/stats",
        json={},
        headers={"Authorization": f"Bearer {ROOT_TOKEN}"},
        timeout=30,
    )
    assert root.json()["code"] == 0


def test_metrics_and_healthz_need_no_login(server: SluiceProcess) -> None:
    assert requests.get(f"{server.http_uri}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{server.http_uri}/metrics", timeout=10).status_code == 200
