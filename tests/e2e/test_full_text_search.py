"""Full-text search end to end: BM25 functions, text queries, live-corpus scores, hybrid fusion.

Scores are checked against BM25 computed here from the documents themselves
(k1 1.2, b 0.75, IDF ``ln(1 + (N - df + 0.5) / (df + 0.5))``, avgdl = tokens
/ documents over the rows a search can see), before and after deletes,
flush, a kill -9 and a restart.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import RawMilvus, SluiceProcess, assert_status, milvus_error
from pymilvus import (
    AnnSearchRequest,
    DataType,
    Function,
    FunctionType,
    MilvusClient,
    RRFRanker,
)
from pymilvus.grpc_gen import milvus_pb2, schema_pb2

WORDS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "honey", "iris", "jade"]
QUERIES = ["apple banana", "fig", "jade jade honey", "cherry date elder fig", "kiwi"]
K1, B = 1.2, 0.75


def _documents(n: int, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 12)))) for _ in range(n)]


def _schema(client: MilvusClient, *, dense: bool = True) -> object:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=1000, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    if dense:
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=8)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["text"],
            output_field_names=["sparse"],
        )
    )
    return schema


def _create(client: MilvusClient, name: str, docs: list[str], **index: object) -> None:
    client.create_collection(name, schema=_schema(client))
    params = client.prepare_index_params()
    params.add_index(
        "sparse", **({"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25"} | index)
    )
    params.add_index("dense", index_type="FLAT", metric_type="L2")
    client.create_index(name, params)
    rng = np.random.default_rng(1)
    rows = [
        {"id": i, "text": d, "dense": rng.random(8).astype(np.float32).tolist()}
        for i, d in enumerate(docs)
    ]
    client.insert(name, rows)
    client.load_collection(name)


def _reference(
    docs: list[str], live: set[int], query: str, limit: int = 10
) -> list[tuple[int, float]]:
    tokens = {i: docs[i].split() for i in live}
    n = len(tokens)
    avgdl = sum(len(t) for t in tokens.values()) / n
    df = Counter(w for t in tokens.values() for w in set(t))
    wanted = Counter(query.split())
    scores = {}
    for i, words in tokens.items():
        tf = Counter(words)
        score = 0.0
        for word, count in wanted.items():
            if word in tf:
                idf = math.log(1 + (n - df[word] + 0.5) / (df[word] + 0.5))
                norm = tf[word] + K1 * (1 - B + B * len(words) / avgdl)
                score += count * idf * tf[word] * (K1 + 1) / norm
        if score > 0:
            scores[i] = score
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]


def _assert_scores(client: MilvusClient, name: str, docs: list[str], live: set[int]) -> None:
    for query in QUERIES:
        hits = client.search(name, data=[query], anns_field="sparse", limit=10)[0]
        every = dict(_reference(docs, live, query, limit=len(docs)))
        expected = sorted(every.values(), reverse=True)[:10]
        assert [h["distance"] for h in hits] == pytest.approx(expected, abs=1e-5)
        for hit in hits:  # each hit is a live document, scored as the formula says
            assert every[hit["id"]] == pytest.approx(hit["distance"], abs=1e-5)


@pytest.fixture(scope="module")
def docs() -> list[str]:
    return _documents(300)


def test_scores_follow_bm25_over_the_live_corpus(client: MilvusClient, docs: list[str]) -> None:
    _create(client, "ft_scores", docs)
    live = set(range(len(docs)))
    _assert_scores(client, "ft_scores", docs, live)
    client.delete("ft_scores", filter="id < 50")
    live -= set(range(50))
    _assert_scores(client, "ft_scores", docs, live)
    client.flush("ft_scores")
    _assert_scores(client, "ft_scores", docs, live)
    # New documents move every statistic: count, average length, document frequencies.
    extra = ["apple apple apple", "fig honey"]
    client.insert(
        "ft_scores", [{"id": 1000 + i, "text": t, "dense": [0.0] * 8} for i, t in enumerate(extra)]
    )
    docs_plus = docs + extra
    remap = {i: i for i in live} | {len(docs) + i: len(docs) + i for i in range(len(extra))}
    scores = client.search("ft_scores", data=["apple"], anns_field="sparse", limit=3)[0]
    expected = _reference(docs_plus, set(remap), "apple", 3)
    assert [h["distance"] for h in scores] == pytest.approx([s for _, s in expected], abs=1e-5)
    assert scores[0]["id"] == 1000


def test_output_field_is_computed_never_sent_never_read(
    client: MilvusClient, raw: RawMilvus, docs: list[str]
) -> None:
    _create(client, "ft_rules", docs[:20])
    ids = schema_pb2.FieldData(field_name="id", type=schema_pb2.DataType.Int64)
    ids.scalars.long_data.data.append(99)
    text = schema_pb2.FieldData(field_name="text", type=schema_pb2.DataType.VarChar)
    text.scalars.string_data.data.append("apple")
    dense = schema_pb2.FieldData(field_name="dense", type=schema_pb2.DataType.FloatVector)
    dense.vectors.dim = 8
    dense.vectors.float_vector.data.extend([0.0] * 8)
    sparse = schema_pb2.FieldData(field_name="sparse", type=schema_pb2.DataType.SparseFloatVector)
    sparse.vectors.sparse_float_vector.dim = 2
    sparse.vectors.sparse_float_vector.contents.append(
        np.array([(1, 1.0)], dtype=[("i", "<u4"), ("v", "<f4")]).tobytes()
    )
    request = milvus_pb2.InsertRequest(
        collection_name="ft_rules", fields_data=[ids, text, dense, sparse], num_rows=1
    )
    assert_status(
        raw.call("Insert", request).status,
        1100,
        match="Attempt to insert an unexpected function output field `sparse` to collection",
    )
    with milvus_error(65535, message="not allowed to retrieve raw data of field sparse"):
        client.query("ft_rules", filter="id == 1", output_fields=["sparse"])
    rows = client.query("ft_rules", filter="id == 1", output_fields=["*"])
    assert set(rows[0]) == {"id", "text", "dense"}
    hits = client.search(
        "ft_rules", data=["apple"], anns_field="sparse", limit=2, output_fields=["*"]
    )
    assert all("sparse" not in h["entity"] for h in hits[0])


def test_index_rules_for_bm25_output(client: MilvusClient) -> None:
    client.create_collection("ft_index", schema=_schema(client))
    params = client.prepare_index_params()
    params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    with milvus_error(
        65535, message="index metric type of BM25 function output field must be BM25, got IP"
    ):
        client.create_index("ft_index", params)
    params = client.prepare_index_params()
    params.add_index("sparse", index_type="SPARSE_WAND", metric_type="BM25", params={"bm25_k1": 5})
    with milvus_error(1100, match=r"invalid bm25_k1: 5, must be in range \[0, 3\]"):
        client.create_index("ft_index", params)
    params = client.prepare_index_params()
    params.add_index("sparse", index_type="AUTOINDEX", metric_type="BM25")
    client.create_index("ft_index", params)
    described = client.describe_index("ft_index", "sparse")
    assert described["metric_type"] == "BM25"
    assert described["index_type"] == "AUTOINDEX"
    # An explicit type shows the defaults Milvus fills in.
    client.drop_index("ft_index", "sparse")
    params = client.prepare_index_params()
    params.add_index("sparse", index_type="SPARSE_WAND")
    client.create_index("ft_index", params)
    described = client.describe_index("ft_index", "sparse")
    assert described["metric_type"] == "BM25"
    filled = (described["bm25_k1"], described["bm25_b"], described["bm25_avgdl"])
    assert filled == ("1.2", "0.75", "100")


def test_k1_and_b_come_from_the_index(client: MilvusClient, docs: list[str]) -> None:
    global K1, B
    _create(client, "ft_params", docs[:100], params={"bm25_k1": 2.0, "bm25_b": 0.3})
    saved = (K1, B)
    K1, B = 2.0, 0.3
    try:
        _assert_scores(client, "ft_params", docs[:100], set(range(100)))
    finally:
        K1, B = saved


def test_hybrid_dense_and_bm25_equals_rrf_of_the_two(client: MilvusClient, docs: list[str]) -> None:
    _create(client, "ft_hybrid", docs)
    vector = np.random.default_rng(5).random(8).astype(np.float32).tolist()
    text = client.search("ft_hybrid", data=["apple fig"], anns_field="sparse", limit=20)[0]
    dense = client.search("ft_hybrid", data=[vector], anns_field="dense", limit=20)[0]
    fused: dict[int, float] = {}
    for hits in (text, dense):
        for rank, hit in enumerate(hits):
            fused[hit["id"]] = fused.get(hit["id"], 0.0) + 1.0 / (60 + rank + 1)
    expected = sorted(fused.items(), key=lambda item: -item[1])[:5]
    got = client.hybrid_search(
        "ft_hybrid",
        [
            AnnSearchRequest(data=["apple fig"], anns_field="sparse", param={}, limit=20),
            AnnSearchRequest(data=[vector], anns_field="dense", param={}, limit=20),
        ],
        RRFRanker(60),
        limit=5,
    )[0]
    assert [h["distance"] for h in got] == pytest.approx([s for _, s in expected], abs=1e-6)
    assert {h["id"] for h in got} <= set(fused)


@pytest.fixture()
def own_server(tmp_path: Path) -> Iterator[SluiceProcess]:
    proc = SluiceProcess(tmp_path / "data").start()
    try:
        yield proc
    finally:
        proc.kill()


def test_scores_survive_kill_and_restart(own_server: SluiceProcess, docs: list[str]) -> None:
    client = MilvusClient(own_server.uri)
    _create(client, "ft_durable", docs)
    client.delete("ft_durable", filter="id in [1, 2, 3]")
    live = set(range(len(docs))) - {1, 2, 3}
    client.flush("ft_durable")
    # Rows after the flush live only in the WAL when the process dies.
    client.delete("ft_durable", filter="id in [10, 11]")
    live -= {10, 11}
    client.close()
    own_server.kill()
    own_server.start()
    client = MilvusClient(own_server.uri)
    try:
        client.load_collection("ft_durable")
        _assert_scores(client, "ft_durable", docs, live)
    finally:
        client.close()
