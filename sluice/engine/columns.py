"""Growable numpy columns and immutable segment snapshots for readers.

Writers append under their channel's lock; readers never take it.  A
:class:`GrowableArray` publishes ``(buffer, length)`` as one tuple, so a reader
always gets a buffer that holds at least ``length`` valid rows, even while a
writer reallocates.  Rows below a published length are never rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from sluice.schema import TS_COLUMN


class GrowableArray:
    """An append-only numpy array with amortised doubling."""

    def __init__(self, dtype: np.dtype | type, width: int | None = None, capacity: int = 1024):
        shape: tuple[int, ...] = (capacity,) if width is None else (capacity, width)
        self._state: tuple[np.ndarray, int] = (np.empty(shape, dtype=dtype), 0)

    def __len__(self) -> int:
        return self._state[1]

    def append(self, values: np.ndarray) -> None:
        data, n = self._state
        need = n + len(values)
        if need > len(data):
            grown = np.empty((max(need, 2 * len(data)), *data.shape[1:]), dtype=data.dtype)
            grown[:n] = data[:n]
            data = grown
        data[n:need] = values
        self._state = (data, need)

    def view(self) -> np.ndarray:
        data, n = self._state
        return data[:n]


def vector_column(values: np.ndarray) -> pa.FixedSizeListArray:
    """Zero-copy Arrow view of an ``(n, dim)`` float32 array."""
    flat = pa.array(np.ascontiguousarray(values, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])


def vectors_of(column: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    """``(n, dim)`` float32 numpy view of a fixed-size-list column (copies only across chunks)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    assert isinstance(column, pa.FixedSizeListArray)
    values = column.values
    start = column.offset * dim
    flat = values.to_numpy(zero_copy_only=False)[start : start + len(column) * dim]
    return flat.reshape(len(column), dim)


@dataclass(frozen=True)
class SegmentView:
    """The rows of one segment as a reader sees them at one moment.

    ``scalars`` holds every non-vector column (primary key and ``$meta``
    included) in record batches; vectors, primary keys and timestamps are also
    kept as numpy arrays because search and MVCC work on them directly.
    """

    segment_id: int
    num_rows: int
    scalars: tuple[pa.RecordBatch, ...]
    scalar_schema: pa.Schema
    pk: np.ndarray
    ts: np.ndarray
    vectors: Mapping[str, np.ndarray] = field(default_factory=dict)

    def table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows as one Arrow table (vectors as fixed-size lists, ``$ts`` included)."""
        base = pa.Table.from_batches(list(self.scalars), schema=self.scalar_schema)
        wanted = list(columns) if columns is not None else None
        names: list[str] = []
        arrays: list[pa.ChunkedArray | pa.Array] = []
        for name in base.column_names:
            if wanted is None or name in wanted:
                names.append(name)
                arrays.append(base.column(name))
        for name, vectors in self.vectors.items():
            if wanted is None or name in wanted:
                names.append(name)
                arrays.append(vector_column(vectors))
        if wanted is None or TS_COLUMN in wanted:
            names.append(TS_COLUMN)
            arrays.append(pa.array(self.ts, type=pa.uint64()))
        table = pa.Table.from_arrays(arrays, names=names) if names else base.select([])
        if table.num_rows != self.num_rows and names:
            table = table.slice(0, self.num_rows)
        return table

    def slice_table(self, start: int, stop: int) -> pa.Table:
        return self.table().slice(start, stop - start)

    @property
    def nbytes(self) -> int:
        total = sum(b.nbytes for b in self.scalars) + self.ts.nbytes
        return total + sum(v.nbytes for v in self.vectors.values())
