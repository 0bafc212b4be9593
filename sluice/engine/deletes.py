"""Deletes as MVCC tombstones: which rows a read at timestamp T must not see.

A delete of key ``k`` at time ``d`` hides every row with primary key ``k``
inserted before ``d`` (``row_ts < d``), for reads at ``T >= d``.  Rows
inserted after the delete stay visible, which is what makes delete + insert
an upsert.  Rows are never rewritten; compaction would be the place to drop
them physically.

For a read, :meth:`DeleteLog.snapshot` reduces the tombstones with
``d <= T`` to one latest delete time per key (sorted keys, so membership is a
vectorised ``searchsorted``).  Reads at or after the newest tombstone — every
Strong read — share one cached snapshot until the next delete.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from sluice.engine.columns import ChunkedColumn


@dataclass(frozen=True)
class DeleteSnapshot:
    keys: np.ndarray
    latest: np.ndarray

    def hidden(self, pk: np.ndarray, row_ts: np.ndarray) -> np.ndarray:
        """Mask of rows a delete in this snapshot hides."""
        if len(self.keys) == 0 or len(pk) == 0:
            return np.zeros(len(pk), dtype=bool)
        pos = np.searchsorted(self.keys, pk)
        pos = np.minimum(pos, len(self.keys) - 1)
        match = self.keys[pos] == pk
        return match & (row_ts < self.latest[pos])

    @property
    def empty(self) -> bool:
        return len(self.keys) == 0


_EMPTY = DeleteSnapshot(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64))


class DeleteLog:
    def __init__(self, pk_dtype: type) -> None:
        self._pk = ChunkedColumn(pk_dtype)
        self._ts = ChunkedColumn(np.uint64)
        self._lock = threading.Lock()
        self._max_ts = 0
        self._cache: tuple[int, DeleteSnapshot] | None = None

    def __len__(self) -> int:
        return len(self._ts)

    def add(self, pks: np.ndarray, timestamp: int | np.ndarray) -> None:
        ts = (
            np.full(len(pks), timestamp, dtype=np.uint64)
            if isinstance(timestamp, int)
            else timestamp.astype(np.uint64, copy=False)
        )
        with self._lock:
            self._pk.append(pks)
            self._ts.append(ts)
            if len(ts):
                self._max_ts = max(self._max_ts, int(ts.max()))

    def snapshot(self, read_ts: int) -> DeleteSnapshot:
        with self._lock:
            count = len(self._ts)
            if count == 0:
                return _EMPTY
            covers_all = read_ts >= self._max_ts
            if covers_all and self._cache is not None and self._cache[0] == count:
                return self._cache[1]
            pk = self._pk.read(count)
            ts = self._ts.read(count)
        if not covers_all:
            keep = ts <= np.uint64(read_ts)
            pk, ts = pk[keep], ts[keep]
        snap = _reduce(pk, ts)
        if covers_all:
            with self._lock:
                self._cache = (count, snap)
        return snap


def _reduce(pk: np.ndarray, ts: np.ndarray) -> DeleteSnapshot:
    if len(pk) == 0:
        return _EMPTY
    order = np.lexsort((ts, pk))
    pk_sorted, ts_sorted = pk[order], ts[order]
    last = np.ones(len(pk_sorted), dtype=bool)
    last[:-1] = pk_sorted[1:] != pk_sorted[:-1]
    return DeleteSnapshot(pk_sorted[last], ts_sorted[last])
