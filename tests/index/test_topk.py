"""Top-k selection and cross-segment merging: padding, metric direction, ties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.index import larger_is_better, merge_topk, worst_score
from sluice.index.topk import smallest_k, topk_from_ranges


def test_merge_distances_keeps_smallest_and_skips_padding() -> None:
    seg_a = (np.array([[0.5, 2.0, np.inf]], np.float32), np.array([[10, 11, -1]]))
    seg_b = (np.array([[0.1, 0.7]], np.float32), np.array([[20, 21]]))
    scores, ids = merge_topk([seg_a, seg_b], 4, "L2")
    assert ids.tolist() == [[20, 10, 21, 11]]
    assert scores[0].tolist() == pytest.approx([0.1, 0.5, 0.7, 2.0])


def test_merge_similarities_keeps_largest_and_pads() -> None:
    seg_a = (np.array([[0.9, -0.2]], np.float32), np.array([[1, 2]]))
    seg_b = (np.array([[0.95, 123.0]], np.float32), np.array([[7, -1]]))
    scores, ids = merge_topk([seg_a, seg_b], 5, "COSINE")
    assert ids.tolist() == [[7, 1, 2, -1, -1]]
    assert scores[0, :3].tolist() == pytest.approx([0.95, 0.9, -0.2])
    assert scores[0, 3] == -np.inf


def test_merge_breaks_ties_by_smaller_id() -> None:
    seg_a = (np.array([[1.0, 1.0]], np.float32), np.array([[9, 4]]))
    seg_b = (np.array([[1.0]], np.float32), np.array([[6]]))
    _, ids = merge_topk([seg_a, seg_b], 2, "IP")
    assert ids.tolist() == [[4, 6]]


def test_merge_rejects_mismatched_parts() -> None:
    with pytest.raises(ValueError):
        merge_topk([], 3, "L2")
    with pytest.raises(ValueError):
        merge_topk([(np.zeros((2, 3)), np.zeros((1, 3), np.int64))], 3, "L2")


@settings(max_examples=60, deadline=None)
@given(
    metric=st.sampled_from(["L2", "IP", "COSINE"]),
    k=st.integers(1, 8),
    widths=st.lists(st.integers(0, 6), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_merge_matches_a_plain_sort(metric: str, k: int, widths: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    nq = 3
    parts = []
    next_id = 0
    for width in widths:
        scores = rng.integers(-3, 4, size=(nq, width)).astype(np.float32)  # many ties
        ids = np.arange(next_id, next_id + nq * width).reshape(nq, width)
        next_id += nq * width
        ids[rng.random((nq, width)) < 0.2] = -1
        parts.append((scores, ids))
    got_scores, got_ids = merge_topk(parts, k, metric)
    sign = -1.0 if larger_is_better(metric) else 1.0
    for row in range(nq):
        pairs = [
            (sign * float(s), int(i))
            for scores, ids in parts
            for s, i in zip(scores[row], ids[row], strict=True)
            if i >= 0
        ]
        pairs.sort()
        expected = [i for _, i in pairs[:k]] + [-1] * max(0, k - len(pairs))
        assert got_ids[row].tolist() == expected
        pad = got_ids[row] < 0
        assert np.all(got_scores[row][pad] == worst_score(metric))


def test_smallest_k_ties_go_to_the_left() -> None:
    keys = np.array([[3.0, 1.0, 1.0, 1.0, 0.0], [np.inf, 2.0, np.inf, 2.0, 2.0]], np.float32)
    assert smallest_k(keys, 3).tolist() == [[4, 1, 2], [1, 3, 4]]
    assert smallest_k(keys, 10).shape == (2, 5)


def test_topk_from_ranges_applies_range_filter_and_k() -> None:
    lims = np.array([0, 3, 3, 5])
    dist = np.array([0.5, 0.1, 0.9, 0.3, 0.2], np.float32)
    ids = np.array([5, 6, 7, 8, 9])
    scores, out = topk_from_ranges(lims, dist, ids, 2, "L2", range_filter=0.2)
    assert out.tolist() == [[5, 7], [-1, -1], [9, 8]]
    assert scores[0].tolist() == pytest.approx([0.5, 0.9])
    scores, out = topk_from_ranges(lims, dist, ids, 2, "IP", range_filter=0.6)
    assert out.tolist() == [[5, 6], [-1, -1], [8, 9]]
