"""Which segments a compaction pass merges: Milvus's trigger, then consolidation of underfull ones."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from sluice.engine.compaction import plan_group

MAX = 1000


@pytest.fixture(autouse=True)
def no_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the size rules decide: no segment holds deleted rows."""
    monkeypatch.setattr("sluice.engine.compaction._dead_rows", lambda *args: 0)


def _collection() -> Any:
    settings = SimpleNamespace(segments=SimpleNamespace(max_bytes=MAX))
    tso = SimpleNamespace(allocate=lambda: 1)
    return SimpleNamespace(ctx=SimpleNamespace(settings=settings, tso=tso))


def _segments(*sizes: int) -> list[Any]:
    return [SimpleNamespace(id=i, nbytes=size) for i, size in enumerate(sizes)]


def _sizes(merges: list[list[Any]]) -> list[list[int]]:
    return [[s.nbytes for s in merge] for merge in merges]


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ((100, 100, 100), [[100, 100, 100]]),  # three small: Milvus's min.segment
        ((450, 420), [[450, 420]]),  # two small filling 85 % of a segment
        ((100, 100, 100, 900, 950), [[100, 100, 100]]),  # packed within one segment
        ((300, 400, 420, 30), [[420, 400, 300]]),  # no trigger: consolidated instead
    ],
)
def test_small_segments_merge_as_milvus_triggers(sizes: tuple[int, ...], expected: list) -> None:
    assert _sizes(plan_group(_collection(), _segments(*sizes), forced=False)) == expected


def test_underfull_segments_that_fit_in_fewer_are_consolidated_until_they_do() -> None:
    """After churn: 0.63, 0.56, 0.52, 0.07 of a segment where two would hold the rows."""
    sizes = [630, 560, 520, 70]
    passes = 0
    while True:
        merges = plan_group(_collection(), _segments(*sizes), forced=False)
        if not merges:
            break
        assert len(merges) == 1 and len(merges[0]) >= 2
        chosen = [s.nbytes for s in merges[0]]
        total = sum(chosen)
        assert total <= 2 * MAX
        left = list(sizes)
        for size in chosen:
            left.remove(size)
        # A merge writes full segments and one remainder, as compaction cuts its output.
        sizes = left + [MAX] * (total // MAX) + ([total % MAX] if total % MAX else [])
        passes += 1
        assert passes < 10
    assert len(sizes) == math.ceil(sum(sizes) / MAX) == 2


@pytest.mark.parametrize("sizes", [(840, 840), (900, 600), (1000, 1000, 300)])
def test_segments_that_cannot_fit_in_fewer_stay(sizes: tuple[int, ...]) -> None:
    assert plan_group(_collection(), _segments(*sizes), forced=False) == []
