"""Tombstones with a scope: a delete naming a partition hides rows of that partition only."""

from __future__ import annotations

import numpy as np

from sluice.engine.deletes import ALL_PARTITIONS, DeleteLog


def _hidden(
    log: DeleteLog, read_ts: int, pk: list[int], ts: list[int], partition: int
) -> list[bool]:
    snap = log.snapshot(read_ts)
    mask = snap.hidden(np.asarray(pk, dtype=np.int64), np.asarray(ts, dtype=np.uint64), partition)
    return mask.tolist()


def test_scoped_and_collection_wide_tombstones() -> None:
    log = DeleteLog(np.int64)
    log.add(np.array([1, 2]), 10, partition_id=7)
    log.add(np.array([3]), 20)
    # Partition 7 loses keys 1 and 2 (inserted before 10) and key 3 (collection-wide).
    assert _hidden(log, 100, [1, 2, 3, 4], [5, 5, 5, 5], 7) == [True, True, True, False]
    # Another partition keeps 1 and 2.
    assert _hidden(log, 100, [1, 2, 3], [5, 5, 5], 8) == [False, False, True]
    # Rows inserted after the delete stay; reads before it see everything.
    assert _hidden(log, 100, [1], [15], 7) == [False]
    assert _hidden(log, 9, [1, 3], [5, 5], 7) == [False, False]


def test_forget_drops_a_scope_and_the_cached_snapshot() -> None:
    log = DeleteLog(np.int64)
    log.add(np.array([1]), 10, partition_id=7)
    log.add(np.array([1]), 10, partition_id=ALL_PARTITIONS)
    assert _hidden(log, 100, [1], [5], 8) == [True]
    log.forget({ALL_PARTITIONS})
    assert _hidden(log, 100, [1], [5], 8) == [False]
    assert _hidden(log, 100, [1], [5], 7) == [True]
    log.forget()
    assert len(log) == 0
    assert log.snapshot(100).empty


def test_string_keys() -> None:
    log = DeleteLog(object)
    log.add(np.array(["a", "b"], dtype=object), 10, partition_id=3)
    snap = log.snapshot(50)
    mask = snap.hidden(np.array(["a", "c"], dtype=object), np.array([1, 1], dtype=np.uint64), 3)
    assert mask.tolist() == [True, False]
