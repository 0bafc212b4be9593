"""Exact search against a float64 reference: every metric, masks, chunking, ranges."""

from __future__ import annotations

import numpy as np
import pytest

from sluice.index import exact as exact_module
from sluice.index import exact_range_search, exact_search
from sluice.index.exact import rescore_pairs

from .support import true_scores

METRICS = ["L2", "IP", "COSINE"]


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return (
        rng.normal(size=(3000, 24)).astype(np.float32),
        rng.normal(size=(17, 24)).astype(np.float32),
    )


def reference(data: np.ndarray, queries: np.ndarray, k: int, metric: str, allowed=None):
    truth = true_scores(data, queries, metric)
    if allowed is not None:
        truth[:, ~allowed] = -np.inf
    order = np.argsort(-truth, axis=1, kind="stable")[:, :k]
    return truth, order


@pytest.mark.parametrize("metric", METRICS)
def test_matches_reference(small: tuple[np.ndarray, np.ndarray], metric: str) -> None:
    data, queries = small
    scores, ids = exact_search(data, queries, 10, metric)
    truth, order = reference(data, queries, 10, metric)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    assert np.array_equal(ids, order)
    expected = np.take_along_axis(truth, order, axis=1)
    expected = -expected if metric == "L2" else expected
    assert np.allclose(scores, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("metric", METRICS)
def test_mask_and_small_blocks(
    small: tuple[np.ndarray, np.ndarray], metric: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, queries = small
    monkeypatch.setattr(exact_module, "BLOCK_ELEMENTS", 17 * 100)
    monkeypatch.setattr(exact_module, "_MIN_BLOCK_ROWS", 100)
    allowed = np.random.default_rng(5).random(len(data)) < 0.3
    _, ids = exact_search(data, queries, 7, metric, allowed)
    _, order = reference(data, queries, 7, metric, allowed)
    assert np.array_equal(ids, order)
    assert allowed[ids].all()


def test_padding_when_fewer_rows_than_k(small: tuple[np.ndarray, np.ndarray]) -> None:
    data, queries = small
    allowed = np.zeros(len(data), bool)
    allowed[[5, 9]] = True
    scores, ids = exact_search(data, queries[:2], 4, "L2", allowed)
    assert (ids[:, 2:] == -1).all()
    assert np.isinf(scores[:, 2:]).all() and (scores[:, 2:] > 0).all()
    assert set(ids[0, :2].tolist()) == {5, 9}
    scores, ids = exact_search(data, queries[:2], 4, "IP", np.zeros(len(data), bool))
    assert (ids == -1).all() and (scores == -np.inf).all()


def test_duplicate_vectors_rank_by_row() -> None:
    data = np.ones((6, 4), np.float32)
    _, ids = exact_search(data, data[:1], 3, "L2")
    assert ids.tolist() == [[0, 1, 2]]


def test_cosine_zero_vector_scores_zero() -> None:
    data = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0]], np.float32)
    scores, ids = exact_search(data, np.array([[3, 0, 0], [0, 0, 0]], np.float32), 3, "COSINE")
    assert not np.isnan(scores).any()
    assert ids[0].tolist() == [1, 0, 2]
    assert scores[0].tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert scores[1].tolist() == pytest.approx([0.0, 0.0, 0.0])


def test_cached_norms_give_the_same_answer(small: tuple[np.ndarray, np.ndarray]) -> None:
    data, queries = small
    norms = np.linalg.norm(data, axis=1).astype(np.float32)
    for metric in ("L2", "COSINE"):
        plain = exact_search(data, queries, 5, metric)
        cached = exact_search(data, queries, 5, metric, norms=norms)
        assert np.array_equal(plain[1], cached[1])
        assert np.allclose(plain[0], cached[0], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    ("metric", "radius", "range_filter"),
    [("L2", 40.0, 30.0), ("L2", 35.0, None), ("IP", 2.0, 6.0), ("COSINE", 0.2, 0.5)],
)
def test_range_window(
    small: tuple[np.ndarray, np.ndarray], metric: str, radius: float, range_filter: float | None
) -> None:
    data, queries = small
    k = 50
    _, ids = exact_range_search(data, queries, k, metric, radius, range_filter)
    truth = true_scores(data, queries, metric)
    value = -truth if metric == "L2" else truth
    if metric == "L2":
        inside = (value < radius) & (value >= (range_filter if range_filter is not None else -1))
    else:
        inside = (value > radius) & (
            value <= (range_filter if range_filter is not None else np.inf)
        )
    for row in range(len(queries)):
        got = [i for i in ids[row].tolist() if i >= 0]
        assert inside[row, got].all()
        assert len(got) == min(k, int(inside[row].sum()))
        want = np.flatnonzero(inside[row])
        best = want[np.argsort(-truth[row, want], kind="stable")][:k]
        assert set(got) == set(best.tolist())


def test_rescore_pairs_matches_exact_scores(small: tuple[np.ndarray, np.ndarray]) -> None:
    data, queries = small
    for metric in METRICS:
        scores, ids = exact_search(data, queries, 4, metric)
        qid = np.repeat(np.arange(len(queries)), 4)
        again = rescore_pairs(data, queries, qid, ids.ravel(), metric)
        assert np.allclose(again, scores.ravel(), rtol=1e-4, atol=1e-3)
