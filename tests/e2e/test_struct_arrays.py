"""Arrays of structs through pymilvus: schema, data round-trips, persistence and MAX_SIM search."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from conftest import SluiceProcess
from pymilvus import DataType, MilvusClient, MilvusException
from pymilvus.client.embedding_list import EmbeddingList

DIM = 8


def _schema(client: MilvusClient, capacity: int = 4) -> Any:
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("title_vec", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("title", DataType.VARCHAR, max_length=64)
    struct = client.create_struct_field_schema()
    struct.add_field("text", DataType.VARCHAR, max_length=32)
    struct.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    struct.add_field("page", DataType.INT32)
    struct.add_field("score", DataType.FLOAT)
    schema.add_field(
        "chunks",
        DataType.ARRAY,
        element_type=DataType.STRUCT,
        struct_schema=struct,
        max_capacity=capacity,
    )
    return schema


def _rows(count: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        chunks = [
            {
                "text": f"t{i}-{j}",
                "vec": rng.random(DIM, dtype=np.float32).tolist(),
                "page": j,
                "score": float(np.float32(j / 2)),
            }
            for j in range(int(rng.integers(0, 4)))
        ]
        rows.append(
            {
                "id": i,
                "title_vec": rng.random(DIM, dtype=np.float32).tolist(),
                "title": f"title {i}",
                "chunks": chunks,
            }
        )
    return rows


def _index_params(client: MilvusClient, struct_metric: str | None = "MAX_SIM_COSINE") -> Any:
    params = client.prepare_index_params()
    params.add_index("title_vec", index_type="FLAT", metric_type="L2")
    if struct_metric is not None:
        params.add_index("chunks[vec]", index_type="HNSW", metric_type=struct_metric)
    return params


def _create(client: MilvusClient, name: str, rows: list[dict[str, Any]]) -> None:
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, schema=_schema(client), index_params=_index_params(client))
    if rows:
        client.insert(name, rows)


def _same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["id"] == want["id"]
    assert got["title"] == want["title"]
    assert np.allclose(got["title_vec"], want["title_vec"])
    assert len(got["chunks"]) == len(want["chunks"])
    for g, w in zip(got["chunks"], want["chunks"], strict=True):
        assert g["text"] == w["text"] and g["page"] == w["page"]
        assert g["score"] == pytest.approx(w["score"])
        assert np.allclose(g["vec"], w["vec"])


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return _rows(40)


def test_describe_round_trips_the_struct_field(client: MilvusClient) -> None:
    _create(client, "st_describe", [])
    desc = client.describe_collection("st_describe")
    struct = next(f for f in desc["fields"] if f["name"] == "chunks")
    assert struct["type"] == DataType.ARRAY
    assert struct["element_type"] == DataType.STRUCT
    assert struct["params"]["max_capacity"] == 4
    subs = {f["name"]: f for f in struct["struct_fields"]}
    assert set(subs) == {"text", "vec", "page", "score"}
    assert subs["vec"]["type"] == DataType.FLOAT_VECTOR
    assert subs["vec"]["params"]["dim"] == DIM
    assert subs["text"]["type"] == DataType.VARCHAR
    assert subs["text"]["params"]["max_length"] == 32
    ids = [f["field_id"] for f in desc["fields"] if f["name"] != "chunks"]
    assert ids == [100, 101, 102]
    assert struct["field_id"] == 103
    assert sorted(f["field_id"] for f in struct["struct_fields"]) == [104, 105, 106, 107]


def test_insert_query_get_round_trip(client: MilvusClient, rows: list[dict[str, Any]]) -> None:
    _create(client, "st_rt", rows)
    client.load_collection("st_rt")
    got = client.query("st_rt", filter="id >= 0", output_fields=["*"], limit=100)
    by_id = {r["id"]: r for r in got}
    assert len(by_id) == len(rows)
    for row in rows:
        _same(by_id[row["id"]], row)
    picked = client.get("st_rt", ids=[3, 7], output_fields=["chunks[text]", "chunks[page]"])
    for hit in picked:
        want = rows[hit["id"]]["chunks"]
        assert hit["chunks"] == [{"text": c["text"], "page": c["page"]} for c in want]
        assert "title" not in hit


def test_flush_restart_and_compaction_keep_the_column(tmp_path: Path) -> None:
    proc = SluiceProcess(tmp_path / "data").start()
    try:
        client = MilvusClient(proc.uri)
        first, second, unflushed = _rows(30, seed=1), _rows(30, seed=2), _rows(5, seed=3)
        for row in second:
            row["id"] += 100
        for row in unflushed:
            row["id"] += 200
        _create(client, "st_persist", first)
        client.flush("st_persist")
        client.insert("st_persist", second)
        client.flush("st_persist")
        client.insert("st_persist", unflushed)  # only in the WAL when the process dies
        client.close()
        proc.kill()
        proc = SluiceProcess(tmp_path / "data").start()
        client = MilvusClient(proc.uri)
        client.load_collection("st_persist")
        got = client.query("st_persist", filter="id >= 0", output_fields=["*"], limit=100)
        by_id = {r["id"]: r for r in got}
        for row in first + second + unflushed:
            _same(by_id[row["id"]], row)
        client.delete("st_persist", filter="id >= 200")
        _check_max_sim(client, "st_persist", first + second, "MAX_SIM_COSINE")
        job = client.compact("st_persist")
        for _ in range(200):
            if client.get_compaction_state(job) == "Completed":
                break
            time.sleep(0.05)
        got = client.query("st_persist", filter="id >= 0", output_fields=["*"], limit=100)
        assert len(got) == 60
        for hit in got:
            want = (first + second)[hit["id"] if hit["id"] < 100 else hit["id"] - 100 + 30]
            _same(hit, want)
        _check_max_sim(client, "st_persist", first + second, "MAX_SIM_COSINE")
        client.close()
    finally:
        proc.kill()


def test_search_on_the_plain_vector_field_returns_structs(
    client: MilvusClient, rows: list[dict[str, Any]]
) -> None:
    _create(client, "st_plain", rows)
    client.load_collection("st_plain")
    query = rows[5]["title_vec"]
    hits = client.search(
        "st_plain", [query], anns_field="title_vec", limit=3, output_fields=["chunks"]
    )[0]
    assert hits[0]["id"] == 5
    _same({**rows[5], "chunks": hits[0]["entity"]["chunks"]}, rows[5])


def test_upsert_replaces_the_structs(client: MilvusClient, rows: list[dict[str, Any]]) -> None:
    _create(client, "st_upsert", rows)
    client.load_collection("st_upsert")
    new = dict(rows[2])
    new["chunks"] = [{"text": "new", "vec": [0.5] * DIM, "page": 9, "score": 1.5}]
    client.upsert("st_upsert", [new])
    got = client.get("st_upsert", ids=[2], output_fields=["chunks"])[0]
    assert got["chunks"][0]["text"] == "new" and got["chunks"][0]["page"] == 9


@pytest.mark.parametrize(
    ("chunks", "words"),
    [
        (
            [{"text": "x" * 33, "vec": [0.0] * DIM, "page": 1, "score": 0.0}],
            'length of Array array field "chunks[text]" exceeds max length',
        ),
        (
            [{"text": "x", "vec": [0.0] * DIM, "page": 1, "score": 0.0}] * 5,
            "the length (5) of 0th array exceeds max capacity (4)",
        ),
        (
            [{"text": "x", "vec": [0.0] * (DIM + 1), "page": 1, "score": 0.0}],
            "array of vector field chunks[vec] has invalid payload length 9, should be "
            "divisible by vector width 8",
        ),
    ],
)
def test_bad_rows_are_refused_with_milvus_words(
    client: MilvusClient, chunks: list[dict[str, Any]], words: str
) -> None:
    if not client.has_collection("st_bad"):
        _create(client, "st_bad", [])
    row = {"id": 1, "title_vec": [0.0] * DIM, "title": "t", "chunks": chunks}
    with pytest.raises(MilvusException) as err:
        client.insert("st_bad", [row])
    assert err.value.code == 1100
    assert words in err.value.message


def test_schema_limits_are_checked(client: MilvusClient) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    struct = client.create_struct_field_schema()
    struct.add_field("j", DataType.JSON)
    schema.add_field(
        "s", DataType.ARRAY, element_type=DataType.STRUCT, struct_schema=struct, max_capacity=2
    )
    with pytest.raises(MilvusException) as err:
        client.create_collection("st_limits", schema=schema)
    assert "not supported in a struct" in err.value.message
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    for i in range(9):
        schema.add_field(f"v{i}", DataType.FLOAT_VECTOR, dim=DIM)
    struct = client.create_struct_field_schema()
    struct.add_field("a", DataType.FLOAT_VECTOR, dim=DIM)
    struct.add_field("b", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field(
        "s", DataType.ARRAY, element_type=DataType.STRUCT, struct_schema=struct, max_capacity=2
    )
    with pytest.raises(MilvusException) as err:
        client.create_collection("st_limits", schema=schema)
    assert "maximum vector field's number should be limited to 10" in err.value.message


def _reference(rows: list[dict[str, Any]], lists: list[np.ndarray], metric: str) -> np.ndarray:
    """MAX_SIM of every list against every row, by the definition (NaN: no elements)."""
    out = np.full((len(lists), len(rows)), np.nan)
    for r, row in enumerate(rows):
        if not row["chunks"]:
            continue
        elems = np.asarray([c["vec"] for c in row["chunks"]], dtype=np.float64)
        for q, query in enumerate(lists):
            qs = np.asarray(query, dtype=np.float64)
            if metric == "MAX_SIM_L2":
                d = ((qs[:, None, :] - elems[None, :, :]) ** 2).sum(axis=2)
                out[q, r] = d.min(axis=1).sum()
                continue
            if metric == "MAX_SIM_COSINE":
                qs = qs / np.linalg.norm(qs, axis=1, keepdims=True)
                elems_n = elems / np.linalg.norm(elems, axis=1, keepdims=True)
            else:
                elems_n = elems
            out[q, r] = (qs @ elems_n.T).max(axis=1).sum()
    return out


def _check_max_sim(
    client: MilvusClient, name: str, rows: list[dict[str, Any]], metric: str
) -> None:
    """Embedding-list search hits and scores equal the exact MAX_SIM ranking (top 5)."""
    rng = np.random.default_rng(7)
    lists = [rng.random((n, DIM), dtype=np.float32) for n in (1, 3)]
    queries = []
    for matrix in lists:
        emb = EmbeddingList()
        for vec in matrix:
            emb.add(vec)
        queries.append(emb)
    res = client.search(
        name,
        queries,
        anns_field="chunks[vec]",
        search_params={"metric_type": metric},
        limit=5,
        output_fields=["chunks[text]"],
    )
    want = _reference(rows, lists, metric)
    for q, hits in enumerate(res):
        scores = np.where(np.isnan(want[q]), -np.inf if metric != "MAX_SIM_L2" else np.inf, want[q])
        order = np.argsort(-scores if metric != "MAX_SIM_L2" else scores, kind="stable")[:5]
        assert [h["id"] for h in hits] == [rows[i]["id"] for i in order]
        for hit, i in zip(hits, order, strict=True):
            assert hit["distance"] == pytest.approx(want[q][i], rel=1e-4, abs=1e-4)
            assert hit["entity"]["chunks"] == [{"text": c["text"]} for c in rows[i]["chunks"]]


@pytest.mark.parametrize("metric", ["MAX_SIM_COSINE", "MAX_SIM_IP", "MAX_SIM_L2"])
def test_embedding_list_search_matches_max_sim(
    client: MilvusClient, rows: list[dict[str, Any]], metric: str
) -> None:
    name = f"st_search_{metric.lower()}"
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(
        name, schema=_schema(client), index_params=_index_params(client, metric)
    )
    half = len(rows) // 2
    client.insert(name, rows[:half])
    client.flush(name)
    client.insert(name, rows[half:])  # one sealed and one growing segment
    client.load_collection(name)
    _check_max_sim(client, name, rows, metric)


def test_struct_index_is_required_described_and_dropped(client: MilvusClient) -> None:
    name = "st_index"
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, schema=_schema(client))
    client.create_index(name, _index_params(client, None))
    with pytest.raises(MilvusException) as err:
        client.load_collection(name)
    assert "there is no vector index on field: [chunks[vec]]" in err.value.message
    params = client.prepare_index_params()
    params.add_index(
        "chunks[vec]", index_type="HNSW", metric_type="MAX_SIM_IP", M=8, efConstruction=64
    )
    client.create_index(name, params)
    info = client.describe_index(name, "chunks[vec]")
    assert info["metric_type"] == "MAX_SIM_IP" and info["index_type"] == "HNSW"
    assert info["field_name"] == "chunks[vec]"
    client.load_collection(name)
    client.release_collection(name)
    client.drop_index(name, "chunks[vec]")
    assert "chunks[vec]" not in client.list_indexes(name)
    bad = client.prepare_index_params()
    bad.add_index("chunks[vec]", index_type="IVF_FLAT", metric_type="MAX_SIM_IP", nlist=8)
    with pytest.raises(MilvusException):
        client.create_index(name, bad)
    bad = client.prepare_index_params()
    bad.add_index("chunks[text]", index_type="INVERTED")
    with pytest.raises(MilvusException) as err:
        client.create_index(name, bad)
    assert "chunks[text]" in err.value.message


@pytest.mark.parametrize("metric", ["COSINE", "IP", "L2"])
def test_element_level_search_scores_the_best_element(
    client: MilvusClient, rows: list[dict[str, Any]], metric: str
) -> None:
    name = f"st_element_{metric.lower()}"
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(
        name, schema=_schema(client), index_params=_index_params(client, metric)
    )
    client.insert(name, rows)
    client.load_collection(name)
    query = np.random.default_rng(11).random((2, DIM), dtype=np.float32)
    res = client.search(
        name,
        query.tolist(),
        anns_field="chunks[vec]",
        search_params={"metric_type": metric},
        limit=4,
        output_fields=["chunks[page]"],
    )
    want = _reference(rows, [q[None, :] for q in query], f"MAX_SIM_{metric}")
    for q, hits in enumerate(res):
        larger = metric != "L2"
        scores = np.where(np.isnan(want[q]), -np.inf if larger else np.inf, want[q])
        order = np.argsort(-scores if larger else scores, kind="stable")[:4]
        assert [h["id"] for h in hits] == [rows[i]["id"] for i in order]
        for hit, i in zip(hits, order, strict=True):
            assert hit["distance"] == pytest.approx(want[q][i], rel=1e-4, abs=1e-4)


def test_query_kind_must_suit_the_struct_index(
    client: MilvusClient, rows: list[dict[str, Any]]
) -> None:
    _create(client, "st_kinds", rows)  # chunks[vec] indexed with MAX_SIM_COSINE
    client.load_collection("st_kinds")
    with pytest.raises(MilvusException) as err:
        client.search("st_kinds", [[0.1] * DIM], anns_field="chunks[vec]", limit=3)
    assert err.value.code == 1100 and "takes embedding lists" in err.value.message
    emb = EmbeddingList()
    emb.add([0.1] * DIM)
    with pytest.raises(MilvusException) as err:
        client.search("st_kinds", [emb], anns_field="title_vec", limit=3)
    assert err.value.code == 1100


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("element_filter(chunks, $[text] == 't1-0')", "element_filter"),
        ("id > 0 and element_filter(chunks, $[page] > 0)", "element_filter"),
        ("chunks[page] > 0", "array of structs field chunks"),
    ],
)
def test_struct_filters_are_refused_by_name(
    client: MilvusClient, rows: list[dict[str, Any]], expr: str, words: str
) -> None:
    if not client.has_collection("st_filter"):
        _create(client, "st_filter", rows)
        client.load_collection("st_filter")
    with pytest.raises(MilvusException) as err:
        client.query("st_filter", filter=expr, limit=3)
    assert err.value.code == 10 and words in err.value.message
    with pytest.raises(MilvusException) as err:
        client.search("st_filter", [[0.1] * DIM], anns_field="title_vec", filter=expr, limit=3)
    assert err.value.code == 10 and words in err.value.message
    assert client.query("st_filter", filter="title == 'chunks'", limit=3) == []


def test_rest_reads_structs_and_refuses_writing_them(
    server: SluiceProcess, client: MilvusClient, rows: list[dict[str, Any]]
) -> None:
    _create(client, "st_rest", rows)
    client.load_collection("st_rest")

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = requests.post(f"{server.http_uri}/v2/vectordb{path}", json=body, timeout=30)
        return dict(reply.json())

    got = post(
        "/entities/query",
        {"collectionName": "st_rest", "filter": "id < 3", "outputFields": ["chunks[text]"]},
    )
    assert got["code"] == 0
    for row in got["data"]:
        assert row["chunks"] == [{"text": c["text"]} for c in rows[row["id"]]["chunks"]]
    refused = post("/entities/insert", {"collectionName": "st_rest", "data": [rows[0]]})
    assert refused["code"] == 10 and "chunks" in refused["message"]
    refused = post(
        "/entities/search",
        {"collectionName": "st_rest", "data": [[0.1] * DIM], "annsField": "chunks[vec]"},
    )
    assert refused["code"] == 10 and "chunks[vec]" in refused["message"]
    schema = {
        "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": "4"}},
        ],
        "structArrayFields": [{"name": "chunks", "fields": []}],
    }
    refused = post("/collections/create", {"collectionName": "st_rest2", "schema": schema})
    assert refused["code"] == 10 and "chunks" in refused["message"]


def test_max_sim_recall_over_sealed_segments_with_filter_and_deletes(
    client: MilvusClient,
) -> None:
    """Clustered elements over three flushed segments, an HNSW declaration, a filter and
    deletes: the top 10 equal the exact MAX_SIM ranking of the rows still matching."""
    name = "st_recall"
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(
        name, schema=_schema(client), index_params=_index_params(client, "MAX_SIM_COSINE")
    )
    rng = np.random.default_rng(21)
    centres = rng.standard_normal((12, DIM)).astype(np.float32)
    rows = []
    for i in range(900):
        picks = rng.integers(0, len(centres), size=int(rng.integers(1, 5)))
        vecs = centres[picks] + 0.05 * rng.standard_normal((len(picks), DIM))
        chunks = [
            {"text": f"c{i}", "vec": v.astype(np.float32).tolist(), "page": j, "score": 0.0}
            for j, v in enumerate(vecs)
        ]
        rows.append({"id": i, "title_vec": [0.0] * DIM, "title": f"t{i}", "chunks": chunks})
    for start in (0, 300, 600):
        client.insert(name, rows[start : start + 300])
        client.flush(name)
    client.load_collection(name)
    client.delete(name, filter="id in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]")
    kept = [r for r in rows if r["id"] >= 10 and r["id"] % 2 == 0]
    lists = [
        centres[rng.integers(0, len(centres), size=2)]
        + 0.05 * rng.standard_normal((2, DIM)).astype(np.float32)
        for _ in range(8)
    ]
    queries = []
    for matrix in lists:
        emb = EmbeddingList()
        for vec in matrix:
            emb.add(vec.astype(np.float32))
        queries.append(emb)
    res = client.search(name, queries, anns_field="chunks[vec]", filter="id % 2 == 0", limit=10)
    want = _reference(kept, lists, "MAX_SIM_COSINE")
    recalls = []
    for q, hits in enumerate(res):
        best = {kept[i]["id"] for i in np.argsort(-want[q], kind="stable")[:10]}
        got = {h["id"] for h in hits}
        assert all(i % 2 == 0 and i >= 10 for i in got)
        recalls.append(len(best & got) / 10)
    assert min(recalls) >= 0.95
