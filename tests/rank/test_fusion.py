"""RRF, weighted fusion, decay and boost equal the hand-computed formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sluice.errors import ParameterInvalid
from sluice.rank import (
    BoostApplication,
    BoostRanker,
    Hits,
    RerankParamsError,
    Window,
    apply_boosts,
    ranker_from_function,
    ranker_from_rank_params,
)
from sluice.schema import DataType


def hits(ids: list[int], scores: list[float], metric: str = "IP") -> Hits:
    return Hits(np.array(ids, np.int64), np.array(scores, np.float32), metric)


def test_rrf_by_hand() -> None:
    ranker = ranker_from_rank_params("rrf", {"k": 60})
    out = ranker.fuse([hits([1, 2, 3], [0.9, 0.8, 0.7]), hits([3, 4], [5, 4])], Window(10))
    expected = {1: 1 / 61, 2: 1 / 62, 3: 1 / 63 + 1 / 61, 4: 1 / 62}
    assert out.ids.tolist() == [3, 1, 2, 4]  # 2 and 4 tie: smaller id first
    assert out.scores.tolist() == pytest.approx([expected[i] for i in out.ids.tolist()], rel=1e-6)


def test_weighted_normalisation_per_metric() -> None:
    ranker = ranker_from_function(
        {"reranker": "weighted", "weights": "[0.3, 0.7]", "norm_score": "true"}, [], {}
    )
    out = ranker.fuse(
        [hits([1, 2], [0.5, -0.2], "COSINE"), hits([2, 3], [1.5, 3.0], "L2")], Window(10)
    )
    cos = {1: (1 + 0.5) / 2, 2: (1 - 0.2) / 2}
    l2 = {2: 1 - 2 * math.atan(1.5) / math.pi, 3: 1 - 2 * math.atan(3.0) / math.pi}
    expected = {i: 0.3 * cos.get(i, 0) + 0.7 * l2.get(i, 0) for i in (1, 2, 3)}
    order = sorted(expected, key=lambda i: (-expected[i], i))
    assert out.ids.tolist() == order
    assert out.scores.tolist() == pytest.approx([expected[i] for i in order], rel=1e-6)


def test_weighted_ip_and_bm25_normalisation() -> None:
    ranker = ranker_from_rank_params("weighted", {"weights": [1.0, 1.0], "norm_score": True})
    out = ranker.fuse([hits([1], [2.0], "IP"), hits([2], [2.0], "BM25")], Window(10))
    assert dict(zip(out.ids.tolist(), out.scores.tolist(), strict=True)) == pytest.approx(
        {1: 0.5 + math.atan(2) / math.pi, 2: 2 * math.atan(2) / math.pi}, rel=1e-6
    )


def test_weighted_without_norm_all_distances_ascends() -> None:
    ranker = ranker_from_rank_params("weighted", {"weights": [0.5, 0.5]})
    out = ranker.fuse(
        [hits([1, 2], [0.1, 0.4], "L2"), hits([2, 3], [0.2, 0.3], "L2")], Window(2, offset=1)
    )
    # scores: 1 -> 0.05, 2 -> 0.3, 3 -> 0.15; ascending then offset 1
    assert out.ids.tolist() == [3, 2]
    assert out.scores.tolist() == pytest.approx([0.15, 0.3])


def test_weighted_mixed_metrics_flip_distances() -> None:
    ranker = ranker_from_rank_params("weighted", {"weights": [1, 1]})
    out = ranker.fuse([hits([1], [0.8], "IP"), hits([2], [1.0], "L2")], Window(10, round_decimal=3))
    assert out.ids.tolist() == [1, 2]
    assert out.scores.tolist() == pytest.approx([0.8, round(1 - 2 * math.atan(1.0) / math.pi, 3)])


def test_weights_must_match_searches() -> None:
    ranker = ranker_from_rank_params("weighted", {"weights": [0.5, 0.5]})
    with pytest.raises(ParameterInvalid) as info:
        ranker.fuse([hits([1], [1.0])], Window(10))
    assert info.value.message == (
        "the length of weights param mismatch with ann search requests: "
        "invalid parameter[expected=1][actual=2]"
    )


def test_string_primary_keys() -> None:
    ranker = ranker_from_rank_params("rrf", {})
    a = Hits(np.array(["b", "a"]), np.array([1, 0.5], np.float32))
    b = Hits(np.array(["a", "c"]), np.array([1, 0.5], np.float32))
    out = ranker.fuse([a, b], Window(3))
    assert out.ids.tolist() == ["a", "b", "c"]


def test_decay_formulas_by_hand() -> None:
    types = {"ts": DataType.INT64}
    base = {"reranker": "decay", "origin": "100", "scale": "10", "offset": "2", "decay": "0.5"}
    values = np.array([100.0, 107.0, 130.0])
    search = hits([1, 2, 3], [1.0, 1.0, 1.0])
    d = np.maximum(0, np.abs(values - 100) - 2)
    expected = {
        "gauss": np.exp(d**2 * math.log(0.5) / 100),
        "exp": np.exp(math.log(0.5) / 10 * d),
        "linear": np.maximum(0.5, 1 - 0.05 * d),
    }
    for function, factor in expected.items():
        ranker = ranker_from_function({**base, "function": function}, ["ts"], types)
        out = ranker.rerank([search], [values], Window(10))
        assert out.ids.tolist() == [1, 2, 3]
        assert out.scores.tolist() == pytest.approx(factor.tolist(), rel=1e-6)


def test_decay_takes_the_best_score_across_searches_and_flips_distances() -> None:
    ranker = ranker_from_function(
        {"reranker": "decay", "function": "exp", "origin": "0", "scale": "1"},
        ["v"],
        {"v": DataType.FLOAT},
    )
    out = ranker.rerank(
        [hits([1], [0.2], "IP"), hits([1, 2], [0.0, 0.5], "L2")],
        [np.array([0.0]), np.array([0.0, 1.0])],
        Window(10),
    )
    assert out.scores.tolist() == pytest.approx(
        [1.0, (1 - 2 * math.atan(0.5) / math.pi) * 0.5], rel=1e-6
    )


def test_boost_modes() -> None:
    search = hits([1, 2, 3], [1.0, 2.0, 3.0])
    matched = np.array([True, False, True])
    one = BoostApplication(BoostRanker(2.0), matched)
    two = BoostApplication(BoostRanker(0.5), np.array([True, True, False]))
    out = apply_boosts(search, [one, two], Window(10))
    assert dict(zip(out.ids.tolist(), out.scores.tolist(), strict=True)) == {1: 1.0, 2: 1.0, 3: 6.0}
    out = apply_boosts(search, [one, two], Window(10), boost_mode="sum", function_mode="sum")
    assert dict(zip(out.ids.tolist(), out.scores.tolist(), strict=True)) == {1: 3.5, 2: 2.5, 3: 5.0}


def test_boost_random_score_is_reproducible_and_bounded() -> None:
    ranker = ranker_from_function(
        {"reranker": "boost", "weight": "1", "random_score": '{"seed": 7}'}, [], {}
    )
    assert isinstance(ranker, BoostRanker)
    ids = np.arange(50)
    first = ranker.contributions(ids, None)
    assert np.array_equal(first, ranker.contributions(ids, None))
    assert ((first >= 0) & (first < 1)).all() and len(set(first.tolist())) > 40


REFUSED = [
    ({"reranker": "rrf", "k": "abc"}, [], "Param k:abc is not a number"),
    ({"reranker": "rrf", "k": "0"}, [], "The rank params k should be in range (0, 16384)"),
    ({"reranker": "rrf", "k": "16384"}, [], "The rank params k should be in range (0, 16384)"),
    (
        {"reranker": "rrf"},
        ["a", "b"],
        "The rrf function does not support input parameters, but got [a b]",
    ),
    ({"reranker": "weighted"}, [], "weights not found"),
    (
        {"reranker": "weighted", "weights": "[1.5]"},
        [],
        "rank param weight should be in range [0, 1]",
    ),
    (
        {"reranker": "weighted", "weights": "x"},
        [],
        "Parse weights param failed, weight should be []float, bug got: x",
    ),
    (
        {"reranker": "weighted", "weights": "[1]", "norm_score": "maybe"},
        [],
        "norm_score params must be true/false, bug got maybe",
    ),
    (
        {"reranker": "decay", "function": "gauss", "origin": "0", "scale": "1"},
        [],
        "rerank_builder: decay reranker requires exactly 1 input field, got 0",
    ),
    (
        {"reranker": "decay", "function": "gauss", "scale": "1"},
        ["n"],
        "decay origin not specified",
    ),
    (
        {"reranker": "decay", "function": "gauss", "origin": "0"},
        ["n"],
        "decay scale not specified",
    ),
    (
        {"reranker": "decay", "function": "gauss", "origin": "x", "scale": "1"},
        ["n"],
        "decay param origin: x is not a number",
    ),
    (
        {"reranker": "decay", "function": "gauss", "origin": "0", "scale": "0"},
        ["n"],
        "rerank_builder: decay: scale must be > 0, got 0.000000",
    ),
    (
        {"reranker": "decay", "function": "gauss", "origin": "0", "scale": "1", "offset": "-1"},
        ["n"],
        "rerank_builder: decay: offset must be >= 0, got -1.000000",
    ),
    (
        {"reranker": "decay", "function": "gauss", "origin": "0", "scale": "1", "decay": "1"},
        ["n"],
        "rerank_builder: decay: decay must be 0 < decay < 1, got 1.000000",
    ),
    (
        {"reranker": "decay", "function": "cubic", "origin": "0", "scale": "1"},
        ["n"],
        'rerank_builder: decay: invalid function "cubic", must be one of [gauss, exp, linear]',
    ),
    (
        {"reranker": "decay", "function": "gauss", "origin": "0", "scale": "1"},
        ["s"],
        "rerank_builder: decay input field s must be numeric, got VarChar",
    ),
    (
        {
            "reranker": "model",
            "provider": "tei",
            "endpoint": "http://127.0.0.1:1",
            "queries": '["q"]',
        },
        ["s"],
        "model rerankers call an external inference service, which Sluice does not run",
    ),
    (
        {"reranker": "model", "provider": "tei", "queries": '["q"]'},
        ["n"],
        "rerank_builder: model input field n must be VarChar, got Int32",
    ),
    (
        {"reranker": "model", "provider": "openai", "queries": '["q"]'},
        ["s"],
        "unknown rerank model provider:openai",
    ),
    (
        {"reranker": "model", "provider": "tei", "queries": "[]"},
        ["s"],
        "rerank_builder: rerank queries must not be empty",
    ),
    (
        {"reranker": "model", "provider": "tei", "endpoint": "ftp://x", "queries": '["q"]'},
        ["s"],
        "Rerank endpoint: [ftp://x] is not a valid http/https link",
    ),
    (
        {"reranker": "model", "provider": "cohere", "queries": "[1]"},
        ["s"],
        "rerank_builder: parse rerank params [queries] failed: cannot unmarshal [1] into []string",
    ),
    (
        {"reranker": "model", "provider": "cohere"},
        ["s"],
        "rerank_builder: rerank function missing required param: queries",
    ),
    (
        {"reranker": "magic"},
        [],
        "rerank_builder: unsupported reranker magic",
    ),
]


@pytest.mark.parametrize(("params", "inputs", "message"), REFUSED)
def test_refusals(params: dict, inputs: list[str], message: str) -> None:
    with pytest.raises(RerankParamsError) as info:
        ranker_from_function(params, inputs, {"n": DataType.INT32, "s": DataType.VARCHAR})
    assert info.value.message == message
    assert info.value.code == 65535
