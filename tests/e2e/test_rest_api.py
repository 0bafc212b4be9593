"""Milvus's RESTful API v2 on the HTTP port: requests shaped as Milvus's docs show them.

Every answer is checked for Milvus's shape: ``{"code": 0, "data": ...}`` on
success, ``{"code": N, "message": ...}`` with HTTP 200 for Milvus errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import requests
from helpers import SluiceProcess

DIM = 4


def post(server: SluiceProcess, path: str, body: Any, **headers: str) -> dict[str, Any]:
    reply = requests.post(
        f"{server.http_uri}/v2/vectordb{path}", json=body, headers=headers, timeout=30
    )
    assert reply.status_code == 200, reply.text
    answer: dict[str, Any] = reply.json()
    return answer


def ok(answer: dict[str, Any]) -> Any:
    assert answer["code"] == 0, answer
    return answer["data"]


def ok_or_unsupported(answer: dict[str, Any], rpc: str) -> Any:
    """The data, or ``None`` when the RPC behind the endpoint answers "not supported" (code 10).

    Features land in the gRPC servicer one by one; REST must answer exactly as
    the RPC does either way.
    """
    if answer["code"] == 10:
        assert answer["message"] == f"service unimplemented: {rpc} is not supported by Sluice"
        return None
    return ok(answer)


@pytest.fixture(scope="module")
def docs(server: SluiceProcess) -> str:
    """A collection made by the quick path, with ten rows."""
    ok(post(server, "/collections/create", {"collectionName": "docs", "dimension": DIM}))
    rng = np.random.default_rng(0)
    rows = [
        {"id": i, "vector": rng.random(DIM).tolist(), "color": "red" if i % 2 else "blue"}
        for i in range(10)
    ]
    data = ok(post(server, "/entities/insert", {"collectionName": "docs", "data": rows}))
    assert data == {"insertCount": 10, "insertIds": list(range(10))}
    return "docs"


def test_collection_endpoints(server: SluiceProcess, docs: str) -> None:
    assert docs in ok(post(server, "/collections/list", {}))
    assert ok(post(server, "/collections/has", {"collectionName": docs})) == {"has": True}
    assert ok(post(server, "/collections/has", {"collectionName": "nope"})) == {"has": False}
    described = ok(post(server, "/collections/describe", {"collectionName": docs}))
    assert described["collectionName"] == docs
    assert described["load"] == "LoadStateLoaded"
    assert described["enableDynamicField"] is True
    assert [f["name"] for f in described["fields"]] == ["id", "vector"]
    assert described["fields"][0]["primaryKey"] is True
    assert described["indexes"] == [
        {"indexName": "vector", "fieldName": "vector", "metricType": "COSINE"}
    ]
    state = ok(post(server, "/collections/get_load_state", {"collectionName": docs}))
    assert state == {"loadState": "LoadStateLoaded", "loadProgress": 100}
    assert ok(post(server, "/indexes/list", {"collectionName": docs})) == ["vector"]
    index = ok(post(server, "/indexes/describe", {"collectionName": docs, "indexName": "vector"}))
    assert index[0]["metricType"] == "COSINE" and index[0]["indexName"] == "vector"
    partitions = post(server, "/partitions/list", {"collectionName": docs})
    assert ok_or_unsupported(partitions, "ShowPartitions") in (None, ["_default"])


def test_query_get_and_search(server: SluiceProcess, docs: str) -> None:
    rows = ok(
        post(
            server,
            "/entities/query",
            {"collectionName": docs, "filter": "id < 3", "outputFields": ["color"]},
        )
    )
    assert rows == [
        {"id": 0, "color": "blue"},
        {"id": 1, "color": "red"},
        {"id": 2, "color": "blue"},
    ]
    count = ok(
        post(
            server,
            "/entities/query",
            {"collectionName": docs, "filter": "", "outputFields": ["count(*)"]},
        )
    )
    assert count == [{"count(*)": 10}]
    got = ok(post(server, "/entities/get", {"collectionName": docs, "id": [3, 4]}))
    assert [r["id"] for r in got] == [3, 4] and len(got[0]["vector"]) == DIM
    query_vector = ok(post(server, "/entities/get", {"collectionName": docs, "id": 5}))[0]["vector"]
    hits = ok(
        post(
            server,
            "/entities/search",
            {
                "collectionName": docs,
                "data": [query_vector],
                "limit": 3,
                "outputFields": ["color"],
                "filter": 'color == "red"',
            },
        )
    )
    assert hits[0]["id"] == 5 and hits[0]["color"] == "red"
    assert len(hits) == 3 and all(h["color"] == "red" for h in hits)
    assert hits[0]["distance"] == pytest.approx(1.0, abs=1e-5)
    strings = post(
        server,
        "/entities/get",
        {"collectionName": docs, "id": 1},
        **{"Accept-Type-Allow-Int64": "false"},
    )
    assert ok(strings)[0]["id"] == "1"


def test_upsert_and_delete(server: SluiceProcess, docs: str) -> None:
    row = {"id": 100, "vector": [0.1] * DIM, "color": "green"}
    assert ok(post(server, "/entities/upsert", {"collectionName": docs, "data": [row]})) == {
        "upsertCount": 1,
        "upsertIds": [100],
    }
    row["color"] = "violet"
    ok(post(server, "/entities/upsert", {"collectionName": docs, "data": [row]}))
    got = ok(
        post(
            server, "/entities/get", {"collectionName": docs, "id": 100, "outputFields": ["color"]}
        )
    )
    assert got == [{"id": 100, "color": "violet"}]
    deleted = ok(
        post(server, "/entities/delete", {"collectionName": docs, "filter": "id in [100]"})
    )
    assert deleted == {"deleteCount": 1}
    assert ok(post(server, "/entities/get", {"collectionName": docs, "id": 100})) == []


def test_binding_errors_use_milvus_codes(server: SluiceProcess, docs: str) -> None:
    missing = post(server, "/collections/describe", {"dbName": "default"})
    assert missing == {
        "code": 1802,
        "message": "missing required parameters, error: Key: 'CollectionNameReq.CollectionName' "
        "Error:Field validation for 'CollectionName' failed on the 'required' tag",
    }
    wrong_type = post(server, "/entities/query", {"collectionName": docs, "limit": "ten"})
    assert wrong_type["code"] == 1801
    assert wrong_type["message"] == (
        "can only accept json format request, error: json: cannot unmarshal string into Go "
        "struct field QueryReqV2.limit of type int32"
    )
    reply = requests.post(
        f"{server.http_uri}/v2/vectordb/collections/list", data=b"{oops", timeout=10
    )
    assert reply.status_code == 200 and reply.json()["code"] == 1801


def test_rpc_errors_pass_through_with_milvus_wording(server: SluiceProcess, docs: str) -> None:
    unknown = post(server, "/entities/query", {"collectionName": "ghost", "filter": "id > 0"})
    assert unknown["code"] == 100 and "ghost" in unknown["message"]
    bad_filter = post(server, "/entities/query", {"collectionName": docs, "filter": "id >>> 1"})
    assert bad_filter["code"] == 1100
    assert bad_filter["message"].startswith("failed to create query plan")
    wrong_dim = post(server, "/entities/search", {"collectionName": docs, "data": [[0.1, 0.2]]})
    assert wrong_dim["code"] == 1801
    assert "dimension: 4, but length of []float: 2" in wrong_dim["message"]
    missing_vector = post(server, "/entities/insert", {"collectionName": docs, "data": [{"id": 7}]})
    assert missing_vector["code"] == 1804
    assert "missing vector field: vector" in missing_vector["message"]


def test_unsupported_rpcs_answer_through_rest(server: SluiceProcess, docs: str) -> None:
    """RPCs Sluice does not serve answer as their gRPC twin does: code 10, by name."""
    answer = post(server, "/aliases/create", {"collectionName": docs, "aliasName": "a1"})
    if ok_or_unsupported(answer, "CreateAlias") is not None:
        described = ok(post(server, "/aliases/describe", {"aliasName": "a1"}))
        assert described["collectionName"] == docs


def test_hybrid_search(server: SluiceProcess) -> None:
    schema = {
        "autoID": False,
        "enableDynamicField": False,
        "fields": [
            {"fieldName": "pk", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "a", "dataType": "FloatVector", "elementTypeParams": {"dim": 4}},
            {"fieldName": "b", "dataType": "FloatVector", "elementTypeParams": {"dim": 4}},
        ],
    }
    index_params = [
        {"fieldName": "a", "indexName": "a", "metricType": "L2", "indexType": "FLAT"},
        {"fieldName": "b", "indexName": "b", "metricType": "L2", "indexType": "FLAT"},
    ]
    ok(
        post(
            server,
            "/collections/create",
            {"collectionName": "two", "schema": schema, "indexParams": index_params},
        )
    )
    rows = [{"pk": i, "a": [float(i)] * 4, "b": [float(-i)] * 4} for i in range(5)]
    ok(post(server, "/entities/insert", {"collectionName": "two", "data": rows}))
    answer = post(
        server,
        "/entities/hybrid_search",
        {
            "collectionName": "two",
            "search": [
                {"data": [[1.0] * 4], "annsField": "a", "limit": 2},
                {"data": [[-1.0] * 4], "annsField": "b", "limit": 2},
            ],
            "rerank": {"strategy": "rrf", "params": {"k": 10}},
            "limit": 2,
        },
    )
    hits = ok_or_unsupported(answer, "HybridSearch")
    if hits is not None:
        assert hits[0]["id"] == 1


def test_unknown_path_is_404(server: SluiceProcess) -> None:
    reply = requests.post(f"{server.http_uri}/v2/vectordb/nothing/here", json={}, timeout=10)
    assert reply.status_code == 404


def test_healthz(server: SluiceProcess) -> None:
    reply = requests.get(f"{server.http_uri}/healthz", timeout=10)
    assert reply.status_code == 200 and reply.text == "OK"
