"""HybridSearch and rerank functions through pymilvus, checked against formulas computed here.

Every fused ranking is recomputed in the test from the separate searches'
results (RRF ``sum 1/(k + rank)``; weighted sums with Milvus's per-metric
normalisation; decay factors; boosts), so a result can only pass if Sluice
fuses what the separate searches return, with Milvus's formulas.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from helpers import RawMilvus, assert_status, create_indexed, milvus_error
from pymilvus import (
    AnnSearchRequest,
    DataType,
    Function,
    FunctionType,
    MilvusClient,
    RRFRanker,
    WeightedRanker,
)
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

N = 300
DIM_A, DIM_B = 8, 4


@pytest.fixture(scope="module")
def coll(client: MilvusClient) -> Iterator[str]:
    name = "hybrid_main"
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("a", DataType.FLOAT_VECTOR, dim=DIM_A)
    schema.add_field("b", DataType.FLOAT_VECTOR, dim=DIM_B)
    schema.add_field("c", DataType.FLOAT_VECTOR, dim=DIM_B)
    schema.add_field("n", DataType.INT64)
    schema.add_field("price", DataType.DOUBLE)
    schema.add_field("tag", DataType.VARCHAR, max_length=16)
    index = client.prepare_index_params()
    index.add_index("a", index_type="FLAT", metric_type="COSINE")
    index.add_index("b", index_type="FLAT", metric_type="L2")
    index.add_index("c", index_type="FLAT", metric_type="IP")
    create_indexed(client, name, schema, index)
    rng = np.random.default_rng(7)
    rows = [
        {
            "id": i,
            "a": rng.standard_normal(DIM_A).tolist(),
            "b": rng.standard_normal(DIM_B).tolist(),
            "c": rng.standard_normal(DIM_B).tolist(),
            "n": int(i % 17),
            "price": float(rng.uniform(0, 100)),
            "tag": f"t{i % 5}",
        }
        for i in range(N)
    ]
    client.insert(name, rows[: N // 2])
    client.flush(name)
    client.insert(name, rows[N // 2 :])  # half sealed, half growing
    yield name
    client.drop_collection(name)


def _queries(seed: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    return {
        "a": rng.standard_normal(DIM_A).tolist(),
        "b": rng.standard_normal(DIM_B).tolist(),
        "c": rng.standard_normal(DIM_B).tolist(),
    }


METRICS = {"a": "COSINE", "b": "L2", "c": "IP"}


def _separate(
    client: MilvusClient, name: str, field: str, vector: list[float], limit: int, expr: str = ""
) -> list[tuple[int, float]]:
    hits = client.search(
        name,
        [vector],
        anns_field=field,
        limit=limit,
        filter=expr,
        search_params={"metric_type": METRICS[field]},
    )[0]
    return [(h["id"], h["distance"]) for h in hits]


def _ranked(scores: dict[int, float], limit: int, offset: int = 0) -> list[tuple[int, float]]:
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return ordered[offset : offset + limit]


def _rrf(lists: Sequence[Sequence[tuple[int, float]]], k: float = 60.0) -> dict[int, float]:
    fused: dict[int, float] = {}
    for hits in lists:
        for rank, (pk, _) in enumerate(hits, start=1):
            fused[pk] = fused.get(pk, 0.0) + 1.0 / (k + rank)
    return fused


def _normalised(score: float, metric: str) -> float:
    if metric == "COSINE":
        return (1.0 + score) / 2.0
    if metric == "IP":
        return 0.5 + math.atan(score) / math.pi
    return 1.0 - 2.0 * math.atan(score) / math.pi


def _weighted(
    lists: Sequence[Sequence[tuple[int, float]]],
    metrics: Sequence[str],
    weights: Sequence[float],
    norm: bool,
) -> dict[int, float]:
    mixed = len({m == "L2" for m in metrics}) > 1
    fused: dict[int, float] = {}
    for hits, metric, weight in zip(lists, metrics, weights, strict=True):
        for pk, score in hits:
            if norm:
                value = _normalised(score, metric)
            elif mixed and metric == "L2":
                value = 1.0 - 2.0 * math.atan(score) / math.pi
            else:
                value = score
            fused[pk] = fused.get(pk, 0.0) + weight * value
    return fused


def _assert_same(got: Sequence[dict[str, Any]], expected: Sequence[tuple[int, float]]) -> None:
    assert [h["id"] for h in got] == [pk for pk, _ in expected]
    for hit, (_, score) in zip(got, expected, strict=True):
        assert hit["distance"] == pytest.approx(score, rel=1e-5, abs=1e-6)


def _request(field: str, vector: list[float], limit: int, expr: str = "") -> AnnSearchRequest:
    return AnnSearchRequest(
        [vector], field, {"metric_type": METRICS[field]}, limit=limit, expr=expr or None
    )


# --- fusion -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rrf_equals_fusion_of_the_separate_searches(
    client: MilvusClient, coll: str, seed: int
) -> None:
    q = _queries(seed)
    subs = [("a", 20, ""), ("b", 15, "n > 4"), ("c", 25, 'tag != "t1"')]
    lists = [_separate(client, coll, f, q[f], lim, e) for f, lim, e in subs]
    requests = [_request(f, q[f], lim, e) for f, lim, e in subs]
    got = client.hybrid_search(coll, requests, RRFRanker(40), limit=12, output_fields=["n"])[0]
    _assert_same(got, _ranked(_rrf(lists, 40.0), 12))
    by_id = {h["id"]: h["entity"]["n"] for h in got}
    assert all(n == pk % 17 for pk, n in by_id.items())


@pytest.mark.parametrize("norm", [True, False])
def test_weighted_equals_fusion_of_the_separate_searches(
    client: MilvusClient, coll: str, norm: bool
) -> None:
    q = _queries(11)
    weights = [0.2, 0.5, 0.9]
    fields = ["a", "b", "c"]
    lists = [_separate(client, coll, f, q[f], 30) for f in fields]
    requests = [_request(f, q[f], 30) for f in fields]
    ranker = WeightedRanker(*weights, norm_score=norm)
    got = client.hybrid_search(coll, requests, ranker, limit=10, offset=3)[0]
    expected = _weighted(lists, [METRICS[f] for f in fields], weights, norm)
    _assert_same(got, _ranked(expected, 10, 3))


def test_weighted_over_distances_only_ranks_ascending(client: MilvusClient, coll: str) -> None:
    q = _queries(12)
    lists = [_separate(client, coll, "b", q["b"], 20)]
    got = client.hybrid_search(
        coll, [_request("b", q["b"], 20)], WeightedRanker(0.5, norm_score=False), limit=5
    )[0]
    expected = sorted(((pk, 0.5 * s) for pk, s in lists[0]), key=lambda kv: (kv[1], kv[0]))
    _assert_same(got, expected[:5])


def test_rrf_as_a_function_and_legacy_default(client: MilvusClient, coll: str) -> None:
    q = _queries(13)
    requests = [_request("a", q["a"], 10), _request("c", q["c"], 10)]
    lists = [_separate(client, coll, "a", q["a"], 10), _separate(client, coll, "c", q["c"], 10)]
    rrf = Function(
        name="rrf",
        input_field_names=[],
        function_type=FunctionType.RERANK,
        params={"reranker": "rrf", "k": 10},
    )
    got = client.hybrid_search(coll, requests, rrf, limit=8)[0]
    _assert_same(got, _ranked(_rrf(lists, 10.0), 8))
    # Without a ranker, Milvus fuses with RRF(60).
    got = client.hybrid_search(coll, requests, None, limit=8)[0]
    _assert_same(got, _ranked(_rrf(lists), 8))


def test_round_decimal_and_several_queries(client: MilvusClient, coll: str) -> None:
    q1, q2 = _queries(21), _queries(22)
    requests = [
        AnnSearchRequest([q1["a"], q2["a"]], "a", {"metric_type": "COSINE"}, limit=10),
        AnnSearchRequest([q1["b"], q2["b"]], "b", {"metric_type": "L2"}, limit=10),
    ]
    result = client.hybrid_search(coll, requests, RRFRanker(), limit=4, round_decimal=3)
    assert len(result) == 2
    for qv, hits in zip((q1, q2), result, strict=True):
        lists = [_separate(client, coll, f, qv[f], 10) for f in ("a", "b")]
        expected = _ranked(_rrf(lists), 4)
        assert [h["id"] for h in hits] == [pk for pk, _ in expected]
        for hit, (_, score) in zip(hits, expected, strict=True):
            assert hit["distance"] == pytest.approx(math.floor(score * 1000 + 0.5) / 1000, abs=1e-6)


def test_group_by_keeps_group_size_hits_per_group(client: MilvusClient, coll: str) -> None:
    q = _queries(31)
    requests = [_request("a", q["a"], 6), _request("b", q["b"], 6)]
    hits = client.hybrid_search(
        coll,
        requests,
        RRFRanker(),
        limit=3,
        group_by_field="tag",
        group_size=2,
        output_fields=["tag"],
    )[0]
    tags = [h["entity"]["tag"] for h in hits]
    assert len(set(tags)) <= 3
    assert all(tags.count(t) <= 2 for t in tags)
    assert all(h["id"] % 5 == int(h["entity"]["tag"][1:]) for h in hits)


def test_partition_and_output_fields(client: MilvusClient, coll: str) -> None:
    q = _queries(41)
    requests = [_request("a", q["a"], 5), _request("c", q["c"], 5)]
    hits = client.hybrid_search(
        coll, requests, RRFRanker(), limit=3, partition_names=["_default"], output_fields=["*"]
    )[0]
    assert set(hits[0]["entity"]) == {"id", "a", "b", "c", "n", "price", "tag"}
    with milvus_error(1100, match="partition name nope not found"):
        client.hybrid_search(coll, requests, RRFRanker(), limit=3, partition_names=["nope"])


# --- rerank functions on a single search ----------------------------------------------


def _decay(kind: str, origin: float, scale: float, offset: float, decay: float) -> Callable:
    def factor(value: float) -> float:
        d = max(0.0, abs(value - origin) - offset)
        if kind == "gauss":
            return decay ** ((d / scale) ** 2)
        if kind == "exp":
            return decay ** (d / scale)
        return max(decay, 1.0 - (1.0 - decay) * d / scale)

    return factor


@pytest.mark.parametrize("kind", ["gauss", "exp", "linear"])
def test_search_with_decay_rescores_hits(client: MilvusClient, coll: str, kind: str) -> None:
    q = _queries(51)
    plain = client.search(
        coll, [q["a"]], anns_field="a", limit=20, output_fields=["price"], search_params={}
    )[0]
    factor = _decay(kind, 50.0, 20.0, 5.0, 0.3)
    expected = {h["id"]: h["distance"] * factor(h["entity"]["price"]) for h in plain}
    ranker = Function(
        name="d",
        input_field_names=["price"],
        function_type=FunctionType.RERANK,
        params={
            "reranker": "decay",
            "function": kind,
            "origin": 50,
            "scale": 20,
            "offset": 5,
            "decay": 0.3,
        },
    )
    got = client.search(
        coll, [q["a"]], anns_field="a", limit=15, offset=5, ranker=ranker, output_fields=["tag"]
    )[0]
    _assert_same(got, _ranked(expected, 15, 5))
    assert set(got[0]["entity"]) == {"tag"}  # the decay input is not returned unasked


def test_decay_turns_distances_into_similarities(client: MilvusClient, coll: str) -> None:
    q = _queries(52)
    plain = client.search(coll, [q["b"]], anns_field="b", limit=10, output_fields=["n"])[0]
    factor = _decay("linear", 8.0, 4.0, 0.0, 0.5)
    expected = {
        h["id"]: (1.0 - 2.0 * math.atan(h["distance"]) / math.pi) * factor(h["entity"]["n"])
        for h in plain
    }
    ranker = Function(
        name="d",
        input_field_names=["n"],
        function_type=FunctionType.RERANK,
        params={"reranker": "decay", "function": "linear", "origin": 8, "scale": 4},
    )
    got = client.search(coll, [q["b"]], anns_field="b", limit=10, ranker=ranker)[0]
    _assert_same(got, _ranked(expected, 10))


def test_search_with_boost_multiplies_matching_hits(client: MilvusClient, coll: str) -> None:
    q = _queries(53)
    plain = client.search(coll, [q["a"]], anns_field="a", limit=10, output_fields=["tag"])[0]
    expected = {
        h["id"]: h["distance"] * (3.0 if h["entity"]["tag"] == "t2" else 1.0) for h in plain
    }
    boost = Function(
        name="b",
        input_field_names=[],
        function_type=FunctionType.RERANK,
        params={"reranker": "boost", "filter": 'tag == "t2"', "weight": 3.0},
    )
    got = client.search(coll, [q["a"]], anns_field="a", limit=10, ranker=boost)[0]
    _assert_same(got, _ranked(expected, 10))


def test_a_ranker_is_never_ignored(client: MilvusClient, coll: str) -> None:
    q = _queries(54)
    plain = client.search(coll, [q["a"]], anns_field="a", limit=10)[0]
    ranker = Function(
        name="d",
        input_field_names=["n"],
        function_type=FunctionType.RERANK,
        params={"reranker": "decay", "function": "exp", "origin": 0, "scale": 1},
    )
    reranked = client.search(coll, [q["a"]], anns_field="a", limit=10, ranker=ranker)[0]
    assert [h["distance"] for h in reranked] != [h["distance"] for h in plain]


# --- refusals ----------------------------------------------------------------------------


def _rerank(params: dict[str, Any], inputs: Sequence[str] = ()) -> Function:
    return Function(
        name="r", input_field_names=list(inputs), function_type=FunctionType.RERANK, params=params
    )


@pytest.mark.parametrize(
    ("ranker", "message"),
    [
        (
            _rerank(
                {
                    "reranker": "model",
                    "provider": "tei",
                    "queries": ["x"],
                    "endpoint": "http://127.0.0.1:9",
                },
                ["tag"],
            ),
            "model rerankers call an external inference service",
        ),
        (_rerank({"reranker": "nope"}), "rerank_builder: unsupported reranker nope"),
        (
            _rerank({"reranker": "decay", "function": "gauss", "origin": 1, "scale": 1}, ["tag"]),
            "decay input field tag must be numeric, got VarChar",
        ),
        (
            _rerank({"reranker": "decay", "function": "gauss", "scale": 1}, ["n"]),
            "decay origin not specified",
        ),
        (
            _rerank({"reranker": "decay", "function": "gauss", "origin": 1, "scale": 1}, ["x"]),
            "input field x not found in collection schema",
        ),
        (_rerank({"reranker": "rrf"}, ["n"]), "The rrf function does not support input"),
    ],
)
def test_refused_rankers(client: MilvusClient, coll: str, ranker: Function, message: str) -> None:
    q = _queries(61)
    with milvus_error(match=message):
        client.search(coll, [q["a"]], anns_field="a", limit=3, ranker=ranker)


def test_weights_must_match_the_searches(client: MilvusClient, coll: str) -> None:
    q = _queries(62)
    requests = [_request("a", q["a"], 5), _request("b", q["b"], 5)]
    with milvus_error(1100, match="the length of weights param mismatch with ann search requests"):
        client.hybrid_search(coll, requests, WeightedRanker(0.5), limit=3)


def _raw_hybrid(
    coll: str, q: dict[str, list[float]], **rank: str
) -> milvus_pb2.HybridSearchRequest:
    placeholder = common_pb2.PlaceholderGroup()
    holder = placeholder.placeholders.add(tag="$0", type=101)
    holder.values.append(np.asarray(q["a"], dtype="<f4").tobytes())
    sub = milvus_pb2.SearchRequest(
        collection_name=coll,
        placeholder_group=placeholder.SerializeToString(),
        dsl_type=common_pb2.BoolExprV1,
        search_params=[
            common_pb2.KeyValuePair(key="anns_field", value="a"),
            common_pb2.KeyValuePair(key="topk", value="5"),
        ],
        nq=1,
    )
    return milvus_pb2.HybridSearchRequest(
        collection_name=coll,
        requests=[sub, sub],
        rank_params=[common_pb2.KeyValuePair(key=k, value=v) for k, v in rank.items()],
    )


def test_raw_rank_params_are_checked(raw: RawMilvus, coll: str) -> None:
    q = _queries(63)
    response = raw.call("HybridSearch", _raw_hybrid(coll, q))
    assert_status(response.status, 65535, reason="limit not found in rank_params")
    response = raw.call("HybridSearch", _raw_hybrid(coll, q, limit="x"))
    assert_status(response.status, 65535, reason="limit [x] is invalid")
    response = raw.call("HybridSearch", _raw_hybrid(coll, q, limit="3", strategy="avg"))
    assert_status(response.status, 65535, match="unsupported rank type avg")
    response = raw.call("HybridSearch", _raw_hybrid(coll, q, limit="3", round_decimal="9"))
    assert_status(response.status, 65535, match=r"round_decimal \[9\] is invalid")
    response = raw.call("HybridSearch", _raw_hybrid(coll, q, limit="20000"))
    assert_status(response.status, 65535, match="invalid max query result window")
    ok = raw.call("HybridSearch", _raw_hybrid(coll, q, limit="3"))
    assert ok.status.code == 0 and list(ok.results.topks) == [3]


def test_function_score_refuses_other_function_types(raw: RawMilvus, coll: str) -> None:
    request = _raw_hybrid(coll, _queries(64), limit="3")
    request.function_score.functions.add(
        name="bm", type=schema_pb2.FunctionType.BM25, input_field_names=["tag"]
    )
    response = raw.call("HybridSearch", request)
    assert_status(response.status, 65535, reason="BM25 is not rerank function.")


def test_highlighter_is_refused_by_name(raw: RawMilvus, coll: str) -> None:
    request = _raw_hybrid(coll, _queries(65), limit="3").requests[0]
    request.highlighter.type = common_pb2.HighlightType.Lexical
    response = raw.call("Search", request)
    assert_status(response.status, 10, match="highlighters are not supported by Sluice")


def test_partitions_restrict_every_sub_search(client: MilvusClient, coll: str) -> None:
    client.create_partition(coll, "recent")
    rng = np.random.default_rng(99)
    fresh = [
        {
            "id": 10_000 + i,
            "a": rng.standard_normal(DIM_A).tolist(),
            "b": rng.standard_normal(DIM_B).tolist(),
            "c": rng.standard_normal(DIM_B).tolist(),
            "n": i,
            "price": 1.0,
            "tag": "t9",
        }
        for i in range(20)
    ]
    client.insert(coll, fresh, partition_name="recent")
    client.load_partitions(coll, ["recent"])
    q = _queries(71)
    requests = [_request("a", q["a"], 10), _request("b", q["b"], 10)]
    hits = client.hybrid_search(coll, requests, RRFRanker(), limit=8, partition_names=["recent"])
    assert len(hits[0]) == 8 and all(h["id"] >= 10_000 for h in hits[0])
    everywhere = client.hybrid_search(coll, requests, RRFRanker(), limit=8)[0]
    assert any(h["id"] < 10_000 for h in everywhere)
