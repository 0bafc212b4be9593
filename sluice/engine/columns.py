"""Append-only numpy columns and the segment snapshots readers work on.

Writers append under their channel's lock; readers never take it.

A :class:`ChunkedColumn` keeps arrays as they arrived (an insert's arrays are
adopted, not copied, which keeps the write path free of large memcpys and
page faults) and concatenates them only when a reader needs one contiguous
array.  The concatenation replaces the chunks it merged, so repeated reads
of an unchanged column cost nothing, and rows below any published length are
never rewritten.  :class:`SegmentView` snapshots a segment at one row count
and consolidates lazily, on first use.
"""

from __future__ import annotations

import bisect
import copy
import threading
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse

from sluice.engine.key_index import SegmentKeys
from sluice.engine.scalar_indexes import BuiltScalarIndex, segment_lookup
from sluice.engine.struct_search import SegmentElements
from sluice.engine.view_cache import ViewCache
from sluice.index import VectorIndex
from sluice.index.scalar import SegmentIndexes
from sluice.schema import TS_COLUMN, FieldSchema
from sluice.types import type_info
from sluice.types.sparse import csr
from sluice.types.structs import element_matrix, element_offsets
from sluice.types.vectors import valid_rows

#: What a sealed segment keeps per declared index: a vector index or a scalar one.
SegmentIndex: TypeAlias = VectorIndex | BuiltScalarIndex

#: Consolidate eagerly once a column holds this many chunks (tiny inserts).
MAX_CHUNKS = 256


class ChunkedColumn:
    """An append-only column of one dtype (rows may be vectors of fixed width)."""

    def __init__(self, dtype: np.dtype | type, width: int | None = None) -> None:
        self._dtype = np.dtype(dtype)
        self._shape = () if width is None else (width,)
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        #: ``_ends[i]``: rows in chunks ``0..i`` together.
        self._ends: list[int] = []

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def append(self, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        values = np.asarray(values, dtype=self._dtype)
        with self._lock:
            self._chunks.append(values)
            self._ends.append(len(self) + len(values))
            if len(self._chunks) > MAX_CHUNKS:
                self._merge_prefix(len(self._chunks))

    def read(self, rows: int) -> np.ndarray:
        """The first ``rows`` rows as one array (``rows`` must be a published length).

        The copy happens outside the lock, so a writer never waits for a
        reader's concatenation; the merged array then replaces the chunks it
        came from unless another reader got there first.  A reader holding an
        older snapshot may find its rows inside a chunk a newer reader merged:
        it gets a view of that chunk's first ``rows`` rows.
        """
        if rows == 0:
            return self._empty()
        with self._lock:
            count = bisect.bisect_left(self._ends, rows) + 1
            end = self._ends[count - 1]
            if count == 1:
                return self._chunks[0][:rows]
            chunks = self._chunks[:count]
        merged = np.concatenate(chunks)
        with self._lock:
            current = self._chunks[:count]
            if len(current) == count and all(a is b for a, b in zip(current, chunks, strict=True)):
                self._chunks[:count] = [merged]
                self._ends[:count] = [end]
        return merged[:rows]

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (within a published length), copying only the chunks involved."""
        if stop <= start:
            return self._empty()
        with self._lock:
            chunks = list(self._chunks)
            ends = list(self._ends)
        pieces = []
        begin = 0
        for chunk, end in zip(chunks, ends, strict=True):
            if end > start and begin < stop:
                pieces.append(chunk[max(start, begin) - begin : min(stop, end) - begin])
            begin = end
            if begin >= stop:
                break
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def adopt(self, values: np.ndarray) -> None:
        """Take ``values`` as the whole column of a segment being loaded (it holds no rows yet)."""
        with self._lock:
            if self._chunks or values.dtype != self._dtype:
                raise ValueError("adopt needs an empty column of the same dtype")
            if len(values):
                self._chunks = [values]
                self._ends = [len(values)]

    def replace(self, values: np.ndarray) -> None:
        """Serve every row from ``values``, equal to the rows held (sealed segments only).

        Used to move a column into a memory map or onto an index's storage;
        arrays readers already hold stay valid.
        """
        with self._lock:
            if len(values) != len(self) or values.dtype != self._dtype:
                raise ValueError(
                    f"replacement column has {len(values)} rows of {values.dtype}, "
                    f"expected {len(self)} of {self._dtype}"
                )
            self._chunks = [values] if len(values) else []
            self._ends = [len(values)] if len(values) else []

    def _empty(self) -> np.ndarray:
        return np.empty((0, *self._shape), dtype=self._dtype)

    def _merge_prefix(self, count: int) -> None:
        """Merge the first ``count`` chunks (caller holds the lock; only for tiny chunks)."""
        self._chunks[:count] = [np.concatenate(self._chunks[:count])]
        self._ends[:count] = [self._ends[count - 1]]


class DenseColumn:
    """A dense vector field as a chunked numpy matrix, plus row validity when nullable.

    The matrix form is what search reads; the field's registry entry converts
    between it and the Arrow column (a null row is a zero row here and a
    false in ``valid``).
    """

    def __init__(self, fld: FieldSchema, matrix: ChunkedColumn) -> None:
        self.field = fld
        self.info = type_info(fld.dtype)
        self.matrix = matrix
        self.valid = ChunkedColumn(np.bool_) if fld.nullable else None

    def append(self, column: pa.ChunkedArray | pa.Array) -> int:
        """Add a column's rows; return the bytes added."""
        array = _one_chunk(column)
        assert self.info.to_matrix is not None
        matrix = self.info.to_matrix(self.field, array)
        self.matrix.append(matrix)
        added = int(matrix.nbytes)
        if self.valid is not None:
            valid = valid_rows(array)
            self.valid.append(np.ones(len(array), np.bool_) if valid is None else valid)
            added += len(array)
        return added

    def arrow(self, matrix: np.ndarray, valid: np.ndarray | None) -> pa.Array:
        assert self.info.from_matrix is not None
        array = self.info.from_matrix(self.field, matrix)
        if valid is None or valid.all():
            return array
        return pc.if_else(pa.array(valid), array, pa.nulls(len(array), array.type))


def _one_chunk(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


class SegmentView:
    """The rows of one segment as a reader sees them at one moment.

    ``scalars`` holds every non-vector column (primary key and ``$meta``
    included) in record batches; primary keys, timestamps and vectors are
    also available as numpy arrays, because MVCC and search work on them.
    What readers derive from the rows is kept in :attr:`cache` (see
    :mod:`sluice.engine.view_cache`); primary-key lookups go through the
    segment's shared :class:`~sluice.engine.key_index.SegmentKeys`.
    """

    def __init__(
        self,
        segment_id: int,
        num_rows: int,
        scalars: tuple[pa.RecordBatch, ...],
        scalar_schema: pa.Schema,
        pk: ChunkedColumn,
        ts: ChunkedColumn,
        vectors: Mapping[str, DenseColumn],
        indexes: Mapping[int, SegmentIndex] | None = None,
        keys: SegmentKeys | None = None,
        partition_id: int = -1,
    ) -> None:
        self.segment_id = segment_id
        #: The partition the rows belong to (deletes scoped to it apply to them).
        self.partition_id = partition_id
        #: Indexes built for this segment, by index ID (Flushed segments only).
        self.indexes: Mapping[int, SegmentIndex] = indexes if indexes is not None else {}
        self.num_rows = num_rows
        self.scalars = scalars
        self.scalar_schema = scalar_schema
        self.cache = ViewCache()
        self._pk = pk
        self._ts = ts
        self._vectors = vectors
        #: Sparse vector columns as CSR matrices, built on first search (rows never change).
        self._sparse: dict[str, scipy.sparse.csr_matrix] = {}
        #: Which rows of a sparse vector column hold a vector (``None``: all), on first search.
        self._sparse_validity: dict[str, np.ndarray | None] = {}
        #: Struct vector sub-fields: every element's vector and each row's element offsets.
        self._elements: dict[tuple[str, str], SegmentElements] = {}
        self._keys = keys if keys is not None else SegmentKeys()
        self._scalar_lookup: tuple[SegmentIndexes | None] | None = None
        self._scalar_table: pa.Table | None = None

    def with_indexes(self, indexes: Mapping[int, SegmentIndex]) -> SegmentView:
        """The same rows with a newer set of built indexes (row caches carry over)."""
        view = copy.copy(self)
        view.indexes = indexes
        view._scalar_lookup = None
        return view

    def with_scalars(self, scalars: tuple[pa.RecordBatch, ...]) -> SegmentView:
        """The same rows held in other batches (a consolidation; row caches carry over)."""
        view = copy.copy(self)
        view.scalars = scalars
        view._scalar_table = None
        return view

    def vector_index(self, index_id: int | None) -> VectorIndex | None:
        """The vector index ``index_id`` built for these rows, if any."""
        index = self.indexes.get(index_id) if index_id is not None else None
        # A plain class check: VectorIndex is a runtime protocol, slow to test on a hot path.
        return None if index is None or isinstance(index, BuiltScalarIndex) else index

    def scalar_lookup(self) -> SegmentIndexes | None:
        """The filter evaluator's hook over this segment's scalar indexes (``None``: none)."""
        cached = self._scalar_lookup
        if cached is None:
            built = {k: v for k, v in self.indexes.items() if isinstance(v, BuiltScalarIndex)}
            lookup = segment_lookup(self.num_rows, built, self._column)
            cached = self._scalar_lookup = (lookup,)
        return cached[0]

    def _column(self, name: str) -> pa.ChunkedArray:
        return self.table([name]).column(name)

    def key_rows(self, keys: np.ndarray) -> np.ndarray:
        """Rows (ascending) whose primary key is one of ``keys``, without a scan."""
        return self._keys.rows_with(self.pk, keys)

    @cached_property
    def pk(self) -> np.ndarray:
        return self._pk.read(self.num_rows)

    @cached_property
    def ts(self) -> np.ndarray:
        return self._ts.read(self.num_rows)

    @cached_property
    def keys_unique(self) -> bool:
        """No primary key appears twice among these rows (so no row shadows another here).

        One sort per view, remembered; searches over a single segment skip
        their duplicate-key pass when this holds.
        """
        pk = self.pk
        if len(pk) < 2:
            return True
        if pk.dtype == object:
            return len(set(pk.tolist())) == len(pk)
        ordered = np.sort(pk)
        return not bool((ordered[1:] == ordered[:-1]).any())

    @cached_property
    def vectors(self) -> dict[str, np.ndarray]:
        """Dense vector fields as ``(rows, width)`` matrices (null rows are zeros)."""
        return {name: col.matrix.read(self.num_rows) for name, col in self._vectors.items()}

    @cached_property
    def vector_validity(self) -> dict[str, np.ndarray | None]:
        """Per dense vector field, which rows hold a vector (``None``: all of them)."""
        out: dict[str, np.ndarray | None] = {}
        for name, col in self._vectors.items():
            valid = None if col.valid is None else col.valid.read(self.num_rows)
            out[name] = None if valid is None or valid.all() else valid
        return out

    def vector(self, name: str) -> np.ndarray:
        return self.vectors[name]

    def search_data(self, name: str) -> np.ndarray | scipy.sparse.csr_matrix:
        """What search scans for a vector field: its dense matrix or its sparse CSR rows."""
        if name in self._vectors:
            return self.vectors[name]
        cached = self._sparse.get(name)
        if cached is None:
            cached = csr(self.table([name]).column(name).combine_chunks())
            self._sparse[name] = cached
        return cached

    def element_vectors(self, fld: FieldSchema, sub: str) -> SegmentElements:
        """A struct vector sub-field's elements ``(elements, dim)`` and per-row offsets.

        Gathered on first search; the rows of a view never change.
        """
        key = (fld.name, sub)
        cached = self._elements.get(key)
        if cached is None:
            column = self.table([fld.name]).column(fld.name)
            cached = SegmentElements(element_matrix(fld, column, sub), element_offsets(column))
            self._elements[key] = cached
        return cached

    def search_validity(self, name: str) -> np.ndarray | None:
        """Rows of a vector field that hold a vector (``None``: every row)."""
        if name in self._vectors:
            return self.vector_validity[name]
        if name in self._sparse_validity:
            return self._sparse_validity[name]
        column = self.table([name]).column(name)
        valid = None
        if column.null_count:
            valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
        self._sparse_validity[name] = valid
        return valid

    def scalar_table(self) -> pa.Table:
        """Every non-vector column as one table over :attr:`scalars` (built once per view)."""
        table = self._scalar_table
        if table is None:
            table = pa.Table.from_batches(list(self.scalars), schema=self.scalar_schema)
            self._scalar_table = table
        return table

    def table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows as one Arrow table (every field in its storage type, ``$ts`` included)."""
        wanted = set(columns) if columns is not None else None
        base = self.scalar_table()
        names: list[str] = []
        arrays: list[pa.ChunkedArray | pa.Array] = []
        for name in base.column_names:
            if wanted is None or name in wanted:
                names.append(name)
                arrays.append(base.column(name))
        for name, col in self._vectors.items():
            if wanted is None or name in wanted:
                names.append(name)
                arrays.append(col.arrow(self.vectors[name], self.vector_validity[name]))
        if wanted is None or TS_COLUMN in wanted:
            names.append(TS_COLUMN)
            arrays.append(pa.array(self.ts, type=pa.uint64()))
        if not names:
            return pa.table({"__rows": pa.nulls(self.num_rows)}).select([])
        return pa.Table.from_arrays(arrays, names=names)

    def table_range(self, start: int, stop: int) -> pa.Table:
        """Rows ``start:stop`` with every column, reading only the chunks that hold them."""
        base = self.scalar_table()
        table = base.slice(start, stop - start)
        for name, col in self._vectors.items():
            valid = None if col.valid is None else col.valid.read_range(start, stop)
            table = table.append_column(name, col.arrow(col.matrix.read_range(start, stop), valid))
        return table.append_column(
            TS_COLUMN, pa.array(self._ts.read_range(start, stop), type=pa.uint64())
        )
