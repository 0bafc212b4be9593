"""Deletes as MVCC tombstones: which rows a read at timestamp T must not see.

A delete of key ``k`` at time ``d`` hides every row with primary key ``k``
inserted before ``d`` (``row_ts < d``), for reads at ``T >= d``.  Rows
inserted after the delete stay visible, which is what makes delete + insert
an upsert.  Rows are never rewritten; compaction would be the place to drop
them physically.

A delete has a scope, as in Milvus: a delete that names a partition hides
rows of that partition only; any other delete (``ALL_PARTITIONS``) hides the
key wherever it lives.  Tombstones are kept per scope, so the per-segment
check stays two vectorised lookups: the collection-wide tombstones and those
of the segment's own partition.

For a read, :meth:`DeleteLog.snapshot` reduces the tombstones with
``d <= T`` to one latest delete time per key and scope (sorted keys, so
membership is a vectorised ``searchsorted``).  Reads at or after the newest
tombstone — every Strong read — share one cached snapshot until the next
delete.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from sluice.engine.columns import ChunkedColumn

#: The scope of a delete that names no partition (Milvus's ``AllPartitionsID``).
ALL_PARTITIONS = -1


@dataclass(frozen=True)
class KeyTimes:
    """Deleted keys (sorted) and the latest delete time of each."""

    keys: np.ndarray
    latest: np.ndarray

    def hidden(self, pk: np.ndarray, row_ts: np.ndarray) -> np.ndarray:
        """Mask of rows a delete here hides."""
        if len(self.keys) == 0 or len(pk) == 0:
            return np.zeros(len(pk), dtype=bool)
        pos = np.searchsorted(self.keys, pk)
        pos = np.minimum(pos, len(self.keys) - 1)
        match = self.keys[pos] == pk
        return match & (row_ts < self.latest[pos])


_NO_KEYS = KeyTimes(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64))


@dataclass(frozen=True)
class DeleteSnapshot:
    """The tombstones a read at one timestamp honours, by scope."""

    everywhere: KeyTimes = _NO_KEYS
    by_partition: Mapping[int, KeyTimes] = field(default_factory=dict)

    def hidden(
        self, pk: np.ndarray, row_ts: np.ndarray, partition_id: int = ALL_PARTITIONS
    ) -> np.ndarray:
        """Mask of rows (all of partition ``partition_id``) a delete in this snapshot hides."""
        mask = self.everywhere.hidden(pk, row_ts)
        scoped = self.by_partition.get(partition_id)
        if scoped is not None:
            mask |= scoped.hidden(pk, row_ts)
        return mask

    @property
    def empty(self) -> bool:
        return len(self.everywhere.keys) == 0 and not self.by_partition


_EMPTY = DeleteSnapshot()


class _Tombstones:
    """The deletes of one scope, as appended."""

    def __init__(self, pk_dtype: type) -> None:
        self.pk = ChunkedColumn(pk_dtype)
        self.ts = ChunkedColumn(np.uint64)


class DeleteLog:
    def __init__(self, pk_dtype: type) -> None:
        self._pk_dtype = pk_dtype
        self._scopes: dict[int, _Tombstones] = {}
        self._lock = threading.Lock()
        self._count = 0
        #: Bumped by every change; a cached snapshot is valid for one version.
        self._version = 0
        self._max_ts = 0
        self._cache: tuple[int, DeleteSnapshot] | None = None

    def __len__(self) -> int:
        return self._count

    def add(
        self, pks: np.ndarray, timestamp: int | np.ndarray, partition_id: int = ALL_PARTITIONS
    ) -> None:
        ts = (
            np.full(len(pks), timestamp, dtype=np.uint64)
            if isinstance(timestamp, int)
            else timestamp.astype(np.uint64, copy=False)
        )
        if len(ts) == 0:
            return
        with self._lock:
            scope = self._scopes.get(partition_id)
            if scope is None:
                scope = self._scopes[partition_id] = _Tombstones(self._pk_dtype)
            scope.pk.append(pks)
            scope.ts.append(ts)
            self._count += len(ts)
            self._version += 1
            self._max_ts = max(self._max_ts, int(ts.max()))

    def forget(self, partition_ids: set[int] | None = None) -> None:
        """Drop the tombstones scoped to ``partition_ids`` (``None``: every tombstone).

        Used when those partitions (or every row of the collection) are gone,
        so no row remains for the tombstones to hide.
        """
        with self._lock:
            if partition_ids is None:
                self._scopes.clear()
            else:
                for pid in partition_ids:
                    self._scopes.pop(pid, None)
            self._count = sum(len(s.ts) for s in self._scopes.values())
            self._version += 1
            self._cache = None

    def snapshot(self, read_ts: int) -> DeleteSnapshot:
        with self._lock:
            version = self._version
            if self._count == 0:
                return _EMPTY
            covers_all = read_ts >= self._max_ts
            if covers_all and self._cache is not None and self._cache[0] == version:
                return self._cache[1]
            columns = {
                pid: (scope.pk.read(len(scope.ts)), scope.ts.read(len(scope.ts)))
                for pid, scope in self._scopes.items()
            }
        reduced: dict[int, KeyTimes] = {}
        for pid, (pk, ts) in columns.items():
            if not covers_all:
                keep = ts <= np.uint64(read_ts)
                pk, ts = pk[keep], ts[keep]
            if len(pk):
                reduced[pid] = _reduce(pk, ts)
        everywhere = reduced.pop(ALL_PARTITIONS, _NO_KEYS)
        snap = DeleteSnapshot(everywhere, reduced) if (reduced or len(everywhere.keys)) else _EMPTY
        if covers_all:
            with self._lock:
                if self._version == version:
                    self._cache = (version, snap)
        return snap


def _reduce(pk: np.ndarray, ts: np.ndarray) -> KeyTimes:
    order = np.lexsort((ts, pk))
    pk_sorted, ts_sorted = pk[order], ts[order]
    last = np.ones(len(pk_sorted), dtype=bool)
    last[:-1] = pk_sorted[1:] != pk_sorted[:-1]
    return KeyTimes(pk_sorted[last], ts_sorted[last])
