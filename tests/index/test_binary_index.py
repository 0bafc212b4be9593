"""BIN_FLAT and BIN_IVF_FLAT: exact HAMMING/JACCARD against an unpacked-bits reference."""

from __future__ import annotations

import numpy as np
import pytest

from sluice.index import BinaryIndex, build, load_index, parse_index_spec, parse_search_params
from sluice.schema import DataType

from .support import typed_field

N, DIM = 3_000, 128


@pytest.fixture(scope="module")
def codes() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    centres = rng.integers(0, 2, size=(30, DIM), dtype=np.uint8)
    bits = centres[rng.integers(0, 30, N)] ^ (rng.random((N, DIM)) < 0.1)
    qbits = centres[rng.integers(0, 30, 12)] ^ (rng.random((12, DIM)) < 0.1)
    return np.packbits(bits.astype(np.uint8), axis=1), np.packbits(qbits.astype(np.uint8), axis=1)


def reference(rows: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """``(nq, n)`` distances from unpacked bits, float64."""
    a = np.unpackbits(queries, axis=1).astype(bool)[:, None, :]
    b = np.unpackbits(rows, axis=1).astype(bool)[None, :, :]
    if metric == "HAMMING":
        return (a != b).sum(axis=2).astype(np.float64)
    inter = (a & b).sum(axis=2)
    union = (a | b).sum(axis=2)
    return np.where(union > 0, 1.0 - inter / np.maximum(union, 1), 1.0)


def index_for(index_type: str, metric: str, rows: np.ndarray) -> BinaryIndex:
    params = {"nlist": 32} if index_type == "BIN_IVF_FLAT" else {}
    field = typed_field(DataType.BINARY_VECTOR, rows.shape[1] * 8)
    spec = parse_index_spec(field, index_type, metric, params)
    built = build(spec, rows)
    assert isinstance(built, BinaryIndex)
    return built


@pytest.mark.parametrize("metric", ["HAMMING", "JACCARD"])
def test_bin_flat_is_exact(codes: tuple[np.ndarray, np.ndarray], metric: str) -> None:
    rows, queries = codes
    index = index_for("BIN_FLAT", metric, rows)
    scores, ids = index.search(queries, 10, parse_search_params(index.spec, None, {}, 10))
    truth = reference(rows, queries, metric)
    assert np.allclose(scores, np.sort(truth, axis=1)[:, :10], atol=1e-6)
    assert np.allclose(np.take_along_axis(truth, ids, axis=1), scores, atol=1e-6)


@pytest.mark.parametrize("nq", [1, 3])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_blocked_hamming_scan_equals_one_scan(
    nq: int, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Single queries scan in one block per core; ties still go to the lowest rows."""
    from sluice.index import binary_index
    from sluice.index import threads as omp

    rng = np.random.default_rng(8)
    rows = rng.integers(0, 256, size=(5_001, 2), dtype=np.uint8)  # 16 bits: many ties
    queries = rng.integers(0, 256, size=(nq, 2), dtype=np.uint8)
    monkeypatch.setattr(binary_index, "PARALLEL_BLOCK_ROWS", 1_000)
    monkeypatch.setattr(omp, "_settings", omp.ThreadSettings(threads, 8))
    index = index_for("BIN_FLAT", "HAMMING", rows)
    scores, ids = index.search(queries, 25, parse_search_params(index.spec, None, {}, 25))
    truth = reference(rows, queries, "HAMMING")
    for q in range(nq):
        expected = np.lexsort((np.arange(len(rows)), truth[q]))[:25]
        np.testing.assert_array_equal(ids[q], expected)
        np.testing.assert_array_equal(scores[q], truth[q][expected])


@pytest.mark.parametrize("metric", ["HAMMING", "JACCARD"])
def test_bin_ivf_flat_recall(codes: tuple[np.ndarray, np.ndarray], metric: str) -> None:
    rows, queries = codes
    index = index_for("BIN_IVF_FLAT", metric, rows)
    assert index.nlist == 32
    _, ids = index.search(queries, 10, parse_search_params(index.spec, None, {"nprobe": 8}, 10))
    truth = reference(rows, queries, metric)
    kth = np.sort(truth, axis=1)[:, 9:10]
    hits = np.take_along_axis(truth, ids, axis=1) <= kth + 1e-9
    assert hits.mean() >= 0.95


@pytest.mark.parametrize("index_type", ["BIN_FLAT", "BIN_IVF_FLAT"])
@pytest.mark.parametrize("metric", ["HAMMING", "JACCARD"])
def test_filtered_and_range_search(
    codes: tuple[np.ndarray, np.ndarray], index_type: str, metric: str
) -> None:
    rows, queries = codes
    index = index_for(index_type, metric, rows)
    allowed = np.zeros(N, dtype=bool)
    allowed[::7] = True
    params = parse_search_params(index.spec, None, {"nprobe": 32}, 10)
    scores, ids = index.search(queries, 10, params, allowed)
    assert (ids >= 0).all() and allowed[ids].all()
    truth = reference(rows, queries, metric)
    truth[:, ~allowed] = np.inf
    assert np.allclose(scores, np.sort(truth, axis=1)[:, :10], atol=1e-6)
    radius = 40.0 if metric == "HAMMING" else 0.5
    window = parse_search_params(
        index.spec, None, {"nprobe": 32, "radius": radius, "range_filter": 0.0}, 50
    )
    scores, ids = index.search(queries, 50, window)
    found = ids >= 0
    assert found.any() and (scores[found] < radius).all()


def test_structure_metrics_return_matches_in_row_order(
    codes: tuple[np.ndarray, np.ndarray],
) -> None:
    rows, _ = codes
    probe = np.zeros((1, DIM // 8), dtype=np.uint8)
    probe[0, 0] = 0b1000_0001
    sub = index_for("BIN_FLAT", "SUBSTRUCTURE", rows)
    scores, ids = sub.search(probe, 5, parse_search_params(sub.spec, None, {}, 5))
    expected = np.flatnonzero((rows[:, 0] & probe[0, 0]) == probe[0, 0])[:5]
    assert ids[0].tolist() == expected.tolist() and (scores == 0).all()
    sup = index_for("BIN_FLAT", "SUPERSTRUCTURE", rows)
    full = np.full((1, DIM // 8), 255, dtype=np.uint8)
    _, ids = sup.search(full, 5, parse_search_params(sup.spec, None, {}, 5))
    assert ids[0].tolist() == [0, 1, 2, 3, 4]


def test_jaccard_of_two_empty_vectors_is_one() -> None:
    rows = np.zeros((3, 2), dtype=np.uint8)
    index = index_for("BIN_FLAT", "JACCARD", rows)
    scores, _ = index.search(
        np.zeros((1, 2), np.uint8), 3, parse_search_params(index.spec, None, {}, 3)
    )
    assert scores.tolist() == [[1.0, 1.0, 1.0]]


@pytest.mark.parametrize("index_type", ["BIN_FLAT", "BIN_IVF_FLAT"])
def test_round_trip(codes: tuple[np.ndarray, np.ndarray], index_type: str) -> None:
    rows, queries = codes
    index = index_for(index_type, "JACCARD", rows)
    loaded = load_index(index.spec, index.serialize())
    params = parse_search_params(index.spec, None, {"nprobe": 4}, 10)
    assert np.array_equal(
        index.search(queries, 10, params)[1], loaded.search(queries, 10, params)[1]
    )
