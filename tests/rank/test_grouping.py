"""Grouped reranking: groups filled best-first, scored, ordered and paged as Milvus does."""

from __future__ import annotations

import numpy as np
import pytest

from sluice.errors import ParameterInvalid
from sluice.rank import Window, select_groups


def _run(
    scores: list[float], groups: list[str], limit: int, size: int, **kw: object
) -> tuple[list[int], list[float]]:
    ids = np.arange(len(scores), dtype=np.int64)
    out = select_groups(
        ids,
        np.asarray(scores, np.float32),
        groups,
        Window(limit, int(kw.pop("offset", 0))),
        size,
        **kw,
    )
    return out.ids.tolist(), [round(float(s), 5) for s in out.scores]


def test_groups_take_their_best_hits_and_rank_by_the_best() -> None:
    ids, scores = _run([0.9, 0.8, 0.7, 0.95, 0.1], ["x", "x", "x", "y", "z"], limit=2, size=2)
    assert ids == [3, 0, 1]
    assert scores == [0.95, 0.9, 0.8]


def test_sum_and_avg_scorers() -> None:
    values = [0.5, 0.5, 0.9]
    groups = ["x", "x", "y"]
    assert _run(values, groups, 1, 2, scorer="sum")[0] == [0, 1]
    assert _run(values, groups, 1, 2, scorer="avg")[0] == [2]


def test_equal_group_scores_prefer_the_larger_group_then_the_smaller_key() -> None:
    assert _run([0.5, 0.5, 0.5], ["x", "y", "y"], 1, 2)[0] == [1, 2]
    assert _run([0.5, 0.5], ["y", "x"], 1, 1)[0] == [0]


def test_offset_counts_groups_and_strict_drops_short_groups() -> None:
    groups = ["x", "x", "y", "z", "z"]
    scores = [0.9, 0.8, 0.85, 0.7, 0.6]
    assert _run(scores, groups, 2, 2, offset=1)[0] == [2, 3, 4]
    assert _run(scores, groups, 3, 2, strict=True)[0] == [0, 1, 3, 4]


def test_unknown_scorer_is_refused() -> None:
    with pytest.raises(ParameterInvalid, match="input group scorer type: median is not supported"):
        _run([0.1], ["x"], 1, 1, scorer="median")


def test_string_keys_break_ties_in_byte_order() -> None:
    ids = np.asarray(["b", "a", "c"], dtype=object)
    out = select_groups(ids, np.asarray([0.5, 0.5, 0.4], np.float32), ["g", "h", "i"], Window(3), 1)
    assert out.ids.tolist() == ["a", "b", "c"]
    assert out.positions.tolist() == [1, 0, 2]
