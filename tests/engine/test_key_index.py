"""Primary-key lookups within a segment (sluice/engine/key_index.py) against ``np.isin``."""

from __future__ import annotations

import numpy as np
import pytest

from sluice.engine.key_index import REBUILD_TAIL_ROWS, KeyIndex, SegmentKeys


def _expected(pk: np.ndarray, keys: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isin(pk, keys))


@pytest.mark.parametrize("repeats", [False, True])
def test_find_matches_isin_for_int_keys(repeats: bool) -> None:
    rng = np.random.default_rng(1)
    pk = rng.integers(-50, 50, size=400) if repeats else rng.permutation(400) - 200
    index = KeyIndex(pk)
    for size in (0, 1, 2, 7, 60):
        keys = rng.integers(-260, 260, size=size)
        assert np.array_equal(index.find(np.asarray(keys)), _expected(pk, keys))
    # A key asked for twice still yields each row once.
    twice = np.array([pk[3], pk[3], pk[9]])
    assert np.array_equal(index.find(twice), _expected(pk, twice))


def test_find_matches_isin_for_string_keys() -> None:
    pk = np.asarray([f"k{i % 37}" for i in range(200)], dtype=object)
    index = KeyIndex(pk)
    keys = np.asarray(["k3", "k36", "missing", "k3"], dtype=object)
    assert np.array_equal(index.find(keys), _expected(pk, keys))
    assert len(index.find(np.asarray(["zzz"], dtype=object))) == 0


def test_empty_segment_finds_nothing() -> None:
    index = KeyIndex(np.empty(0, dtype=np.int64))
    assert len(index.find(np.array([1]))) == 0


def test_growing_segment_answers_from_prefix_and_tail() -> None:
    """Views of one segment share the index; rows appended later are scanned, then sorted in."""
    rng = np.random.default_rng(7)
    full = rng.permutation(3 * REBUILD_TAIL_ROWS).astype(np.int64)
    keys = SegmentKeys()
    for length in (5, 100, REBUILD_TAIL_ROWS, REBUILD_TAIL_ROWS + 3, 3 * REBUILD_TAIL_ROWS):
        pk = full[:length]
        wanted = rng.choice(full, size=20)
        assert np.array_equal(keys.rows_with(pk, wanted), _expected(pk, wanted))
    # An older, shorter view never sees rows past its own length.
    short = full[:50]
    assert np.array_equal(keys.rows_with(short, full[40:60]), np.arange(40, 50))


def test_sealed_segment_sorts_the_tail_in_once() -> None:
    full = np.arange(1000, dtype=np.int64)[::-1].copy()
    keys = SegmentKeys()
    keys.rows_with(full[:10], full[:1])
    keys.sealed = True
    assert np.array_equal(keys.rows_with(full, np.array([0, 999])), [0, 999])
    index = keys._index
    assert index is not None and index.rows == 1000
    keys.rows_with(full, np.array([5]))
    assert keys._index is index
