"""Every dense index family x metric x vector kind against an exact float64 reference.

Small clustered data (4k x 32) keeps the suite fast; each type gets parameters
that reach recall@10 >= 0.95 there (quantised types through their refine
step, as Milvus would be configured for that recall).  FLAT is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from sluice.index import build, load_index, parse_index_spec, parse_search_params
from sluice.index.faiss_index import FaissIndex
from sluice.schema import DataType

from .support import Clustered, make_clustered, recall_at_k, true_scores, typed_field

N, D = 4_000, 32

BUILD: dict[str, dict[str, object]] = {
    "FLAT": {},
    "HNSW": {"M": 16, "efConstruction": 100},
    "IVF_FLAT": {"nlist": 32},
    "IVF_SQ8": {"nlist": 32},
    "IVF_PQ": {"nlist": 32, "m": 16, "nbits": 6},
    "HNSW_SQ": {"M": 16, "efConstruction": 100, "sq_type": "SQ8", "refine": "true"},
    "HNSW_PQ": {"M": 16, "efConstruction": 200, "m": 16, "nbits": 6, "refine": True},
    "HNSW_PRQ": {"M": 16, "efConstruction": 100, "m": 4, "nrq": 2, "nbits": 3, "refine": "true"},
    "IVF_RABITQ": {"nlist": 32, "refine": "true", "refine_type": "fp16"},
    "SCANN": {"nlist": 32, "with_raw_data": "true"},
    "DISKANN": {"max_degree": 32, "search_list_size": 100},
}
SEARCH: dict[str, dict[str, object]] = {
    "FLAT": {},
    "HNSW": {"ef": 64},
    "IVF_FLAT": {"nprobe": 8},
    "IVF_SQ8": {"nprobe": 8},
    "IVF_PQ": {"nprobe": 8, "refine_k": 8},
    "HNSW_SQ": {"ef": 64, "refine_k": 2},
    "HNSW_PQ": {"ef": 400, "refine_k": 30},
    "HNSW_PRQ": {"ef": 200, "refine_k": 20},
    "IVF_RABITQ": {"nprobe": 8, "refine_k": 20, "rbq_bits_query": 0},
    "SCANN": {"nprobe": 8, "reorder_k": 200},
    "DISKANN": {"search_list": 64},
}
INT8_TYPES = ("HNSW", "HNSW_SQ", "HNSW_PQ", "HNSW_PRQ")


@pytest.fixture(scope="module")
def data() -> Clustered:
    return make_clustered(N, D, 40, 20, seed=11)


def as_kind(x: np.ndarray, dtype: DataType) -> np.ndarray:
    if dtype == DataType.FLOAT16_VECTOR:
        return x.astype(np.float16)
    if dtype == DataType.BFLOAT16_VECTOR:
        return x.astype(ml_dtypes.bfloat16)
    if dtype == DataType.INT8_VECTOR:
        return np.clip(np.round(x * 12), -127, 127).astype(np.int8)
    return x


@pytest.fixture(scope="module")
def built(data: Clustered) -> Callable[[str, str, DataType], tuple[Any, np.ndarray, np.ndarray]]:
    cache: dict[tuple[str, str, DataType], tuple[Any, np.ndarray, np.ndarray]] = {}

    def get(index_type: str, metric: str, dtype: DataType) -> tuple[Any, np.ndarray, np.ndarray]:
        key = (index_type, metric, dtype)
        if key not in cache:
            rows, queries = as_kind(data.data, dtype), as_kind(data.queries, dtype)
            spec = parse_index_spec(typed_field(dtype, D), index_type, metric, BUILD[index_type])
            cache[key] = (build(spec, rows, rerank_vectors=rows), rows, queries)
        return cache[key]

    return get


CASES = [(t, m, DataType.FLOAT_VECTOR) for t in BUILD for m in ("L2", "IP", "COSINE")]
CASES += [(t, "COSINE", DataType.FLOAT16_VECTOR) for t in BUILD]
CASES += [(t, "L2", DataType.BFLOAT16_VECTOR) for t in BUILD]
CASES += [(t, m, DataType.INT8_VECTOR) for t in INT8_TYPES for m in ("L2", "IP")]


@pytest.mark.parametrize(("index_type", "metric", "dtype"), CASES)
def test_recall_against_exact_reference(
    built: Callable[..., tuple[Any, np.ndarray, np.ndarray]],
    index_type: str,
    metric: str,
    dtype: DataType,
) -> None:
    index, rows, queries = built(index_type, metric, dtype)
    params = parse_search_params(index.spec, None, SEARCH[index_type], 10)
    scores, ids = index.search(queries, 10, params)
    truth = true_scores(rows.astype(np.float32), queries.astype(np.float32), metric)
    assert recall_at_k(ids, truth, 10) >= (1.0 if index_type == "FLAT" else 0.95)
    if index_type == "FLAT":
        expected = -np.sort(-truth, axis=1)[:, :10]
        shown = scores if metric != "L2" else -scores
        assert np.allclose(shown, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("index_type", list(BUILD))
def test_filtered_search_returns_only_allowed_rows(
    built: Callable[..., tuple[Any, np.ndarray, np.ndarray]], index_type: str
) -> None:
    index, rows, queries = built(index_type, "L2", DataType.FLOAT_VECTOR)
    allowed = np.zeros(N, dtype=bool)
    allowed[np.random.default_rng(3).choice(N, N // 5, replace=False)] = True
    params = parse_search_params(index.spec, None, SEARCH[index_type], 10)
    _, ids = index.search(queries, 10, params, allowed)
    assert (ids >= 0).all() and allowed[ids].all()
    truth = true_scores(rows, queries, "L2")
    truth[:, ~allowed] = -np.inf
    assert recall_at_k(ids, truth, 10) >= 0.95


@pytest.mark.parametrize("index_type", list(BUILD))
@pytest.mark.parametrize("metric", ["L2", "IP"])
def test_range_search_stays_inside_the_window(
    built: Callable[..., tuple[Any, np.ndarray, np.ndarray]], index_type: str, metric: str
) -> None:
    index, rows, queries = built(index_type, metric, DataType.FLOAT_VECTOR)
    truth = true_scores(rows, queries, metric)
    kth = -np.sort(-truth, axis=1)[:, 30]
    if metric == "L2":
        radius, window = float(np.median(-kth)), {}
        window = {"radius": radius, "range_filter": 0.0}
    else:
        window = {"radius": float(np.median(kth)), "range_filter": float(truth.max() + 1)}
    params = parse_search_params(index.spec, None, {**SEARCH[index_type], **window}, 20)
    scores, ids = index.search(queries, 20, params)
    found = ids >= 0
    assert found.sum() > 0
    if metric == "L2":
        assert (scores[found] < window["radius"]).all()
    else:
        assert (scores[found] > window["radius"]).all()
    real = np.take_along_axis(truth, np.where(found, ids, 0), axis=1)[found]
    tolerance = 1e-3 * max(1.0, float(np.abs(real).max()))
    if metric == "L2":
        assert (-real < window["radius"] + tolerance).all()
    else:
        assert (real > window["radius"] - tolerance).all()


@pytest.mark.parametrize("index_type", list(BUILD))
def test_serialised_index_loads_and_answers_the_same(
    built: Callable[..., tuple[Any, np.ndarray, np.ndarray]], index_type: str
) -> None:
    index, rows, queries = built(index_type, "COSINE", DataType.FLOAT16_VECTOR)
    loaded = load_index(index.spec, index.serialize(), rerank_vectors=rows)
    assert isinstance(loaded, FaissIndex)
    params = parse_search_params(index.spec, None, SEARCH[index_type], 10)
    first, again = index.search(queries, 10, params), loaded.search(queries, 10, params)
    assert np.array_equal(first[1], again[1])
    assert np.allclose(first[0], again[0])
    assert loaded.memory_bytes > 0


def test_refine_k_widens_the_candidates(
    built: Callable[..., tuple[Any, np.ndarray, np.ndarray]],
) -> None:
    index, rows, queries = built("IVF_RABITQ", "L2", DataType.FLOAT_VECTOR)
    truth = true_scores(rows, queries, "L2")
    narrow = parse_search_params(index.spec, None, {"nprobe": 8, "refine_k": 1}, 10)
    wide = parse_search_params(index.spec, None, {"nprobe": 8, "refine_k": 20}, 10)
    low = recall_at_k(index.search(queries, 10, narrow)[1], truth, 10)
    high = recall_at_k(index.search(queries, 10, wide)[1], truth, 10)
    assert high > low
