"""Which segments a compaction pass merges: Milvus's trigger, then consolidation of underfull ones."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from sluice.engine.compaction import plan_group, tier
from sluice.engine.segment import SegmentLevel

MAX = 1000


@pytest.fixture(autouse=True)
def no_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the size rules decide: no segment holds deleted rows."""
    monkeypatch.setattr("sluice.engine.compaction._dead_rows", lambda *args: 0)


def _collection(max_bytes: int = MAX) -> Any:
    settings = SimpleNamespace(segments=SimpleNamespace(max_bytes=max_bytes))
    tso = SimpleNamespace(allocate=lambda: 1)
    return SimpleNamespace(ctx=SimpleNamespace(settings=settings, tso=tso))


def _segments(*sizes: int, level: SegmentLevel = SegmentLevel.L1) -> list[Any]:
    return [SimpleNamespace(id=i, nbytes=size, level=level) for i, size in enumerate(sizes)]


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


def _after(sizes: list[int], merges: list[list[Any]], max_bytes: int) -> list[int]:
    """The group's sizes once ``merges`` ran: outputs cut at ``max_bytes`` (no deleted rows)."""
    left = list(sizes)
    for merge in merges:
        total = sum(s.nbytes for s in merge)
        for s in merge:
            left.remove(s.nbytes)
        left += [max_bytes] * (total // max_bytes) + (
            [total % max_bytes] if total % max_bytes else []
        )
    return left


def test_a_merge_of_one_tier_lands_in_a_higher_tier() -> None:
    big = 2**20
    for size in (1, 500, 3 * 1024, 40_000, 100_000):
        assert tier(3 * size, big) > tier(size, big) or tier(3 * size, big) == tier(size, big) == 0
    assert tier(3 * 1024 * 3, big) == tier(3 * 1024, big) + 1


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ((100, 100, 100), [[100, 100, 100]]),  # one tier
        ((5, 100, 300), []),  # three tiers: nothing merges while the shard is written
        ((450, 420), [[450, 420]]),  # fills 85 % of a segment: the output is final
        ((5, 6, 7, 300), [[5, 6, 7]]),
    ],
)
def test_a_busy_shard_merges_segments_of_one_tier(sizes: tuple[int, ...], expected: list) -> None:
    merges = plan_group(_collection(), _segments(*sizes), forced=False, quiet=False)
    assert _sizes(merges) == expected


def _churn(quiet: bool) -> tuple[int, int]:
    """300 flushes of 1 KiB into a 1 MiB-segment group, a pass after each; bytes rewritten, segments."""
    big = 2**20
    collection = _collection(big)
    sizes: list[int] = []
    rewritten = 0
    for _ in range(300):
        sizes.append(1024)
        while merges := plan_group(collection, _segments(*sizes), forced=False, quiet=quiet):
            rewritten += sum(s.nbytes for m in merges for s in m)
            sizes = _after(sizes, merges, big)
    return rewritten, len(sizes)


def test_tiered_merging_rewrites_each_row_a_logarithmic_number_of_times() -> None:
    written = 300 * 1024
    tiered, tiered_segments = _churn(quiet=False)
    packed, _ = _churn(quiet=True)
    assert tiered <= 6 * written  # about one rewrite per tier (log3 of 300 flushes ~ 5.2)
    assert packed > 20 * tiered  # packing re-merges the growing output with every flush
    assert tiered_segments <= 2 * 6  # at most two segments per tier wait for a third


def test_clustered_segments_are_never_merged_for_size() -> None:
    """L2 segments each hold one clustering-key range: merging them would blur the ranges."""
    clustered = _segments(100, 100, 100, 100, level=SegmentLevel.L2)
    for segment in clustered:
        segment.resident = False  # no deleted rows to look for
    for quiet in (False, True):
        assert plan_group(_collection(), clustered, forced=False, quiet=quiet) == []
    mixed = clustered + _segments(100, 100, 100)
    merges = plan_group(_collection(), mixed, forced=False, quiet=True)
    assert merges == [mixed[4:]]
