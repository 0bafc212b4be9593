"""Segments: the unit of storage, sealing and persistence.

A segment holds the rows of one (partition, vchannel) pair.  Its life, with
Milvus's ``common.SegmentState`` numbers:

    Growing(2) --seal--> Sealed(3) --final sync starts--> Flushing(5) --> Flushed(4)
                                                                      \\-> Dropped(6) if empty

While Growing, rows buffered in memory are also persisted in pieces
("binlogs") whenever the buffer passes ``sync_buffer_bytes`` or goes stale,
so a Flush only has the tail left to write.  ``synced_rows`` rows are in
binlogs; ``synced_end`` is the WAL offset after the last record those rows
came from, so recovery skips records already persisted.  ``pending`` lists
the WAL records whose rows are not yet persisted, oldest first; the oldest
one bounds the channel checkpoint.

A Flushed data segment may be *non-resident*: its rows, indexes and key
index are not in memory, only its metadata (binlogs, index files, row count
and size).  That is how segments of released partitions are held (see
:mod:`sluice.engine.residency`).  :meth:`Segment.view` loads such a segment
first, through the loader it was given, once however many threads ask, so
every reader of rows is correct whatever the load state; :meth:`Segment.evict`
drops the rows again (views already handed out keep their arrays).
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from sluice.engine.columns import MAX_CHUNKS, ChunkedColumn, DenseColumn, SegmentIndex, SegmentView
from sluice.engine.ingest import missing_column
from sluice.engine.key_index import SegmentKeys
from sluice.schema import TS_COLUMN, CollectionSchema, DataType, FieldSchema
from sluice.storage.segment_files import StoredFile
from sluice.types import Storage, arrow_field, type_info


class SegmentState(enum.IntEnum):
    NONE = 0
    NOT_EXIST = 1
    GROWING = 2
    SEALED = 3
    FLUSHED = 4
    FLUSHING = 5
    DROPPED = 6
    IMPORTING = 7


class SegmentLevel(enum.IntEnum):
    LEGACY = 0
    L0 = 1
    L1 = 2
    L2 = 3


@dataclass(frozen=True)
class Binlog:
    """One persisted file of a segment: insert rows, or deletes for L0 segments.

    ``crc32`` is the whole file's checksum, verified when the file is loaded
    (``None`` only in manifests written before checksums were recorded).
    """

    path: str
    rows: int
    bytes: int
    crc32: int | None = None

    @classmethod
    def written(cls, path: str, rows: int, stored: StoredFile) -> Binlog:
        return cls(path, rows, stored.size, stored.crc32)

    @property
    def expected(self) -> StoredFile | None:
        """What a read must find in the file (``None``: an old manifest, unverifiable)."""
        return None if self.crc32 is None else StoredFile(self.bytes, self.crc32)

    def to_dict(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"path": self.path, "rows": self.rows, "bytes": self.bytes}
        if self.crc32 is not None:
            raw["crc32"] = self.crc32
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Binlog:
        crc = raw.get("crc32")
        return cls(
            str(raw["path"]), int(raw["rows"]), int(raw["bytes"]), None if crc is None else int(crc)
        )


@dataclass(frozen=True)
class PendingRecord:
    """A WAL record whose rows are in memory but not yet in a binlog."""

    row_end: int
    offset: int
    end: int
    timestamp: int


#: Reads a non-resident segment's rows, indexes and placement back into it.
SegmentLoader = Callable[["Segment"], None]


class Segment:
    """A segment's metadata and in-memory rows.

    Mutations happen under the owning channel's lock (appends, seals) or the
    segment's ``sync_lock`` (persistence); readers use :meth:`view`.
    """

    def __init__(
        self,
        segment_id: int,
        *,
        collection_id: int,
        partition_id: int,
        channel: str,
        schema: CollectionSchema,
        level: SegmentLevel = SegmentLevel.L1,
        state: SegmentState = SegmentState.GROWING,
        created_ts: int = 0,
    ) -> None:
        self.id = segment_id
        self.collection_id = collection_id
        self.partition_id = partition_id
        self.channel = channel
        self.level = level
        #: Rows are in primary-key order (compaction output); GetPersistentSegmentInfo says so.
        self.is_sorted = False
        #: The segments a compaction merged into this one.
        self.compacted_from: tuple[int, ...] = ()
        #: Clustering compaction output: the lowest and highest clustering-key value of the
        #: rows (``(None, None)``: only nulls), so reads whose filter rules out the range
        #: skip the segment.  ``None``: not clustered, the segment may hold any value.
        self.cluster_range: tuple[Any, Any] | None = None
        #: Primary keys sorted for lookups, shared by every view of this segment.
        self.keys = SegmentKeys()
        self.state = state
        self.created_ts = created_ts
        self.binlogs: list[Binlog] = []
        self.synced_rows = 0
        self.synced_end = 0
        self.pending: deque[PendingRecord] = deque()
        self.sync_lock = threading.Lock()
        self._consolidating = threading.Lock()
        #: Built indexes by index ID (flushed segments only). The dict is
        #: replaced, never mutated, so readers holding the old one stay consistent.
        self.indexes: Mapping[int, SegmentIndex] = {}
        #: Persisted index files by index ID.
        self.index_files: dict[int, str] = {}
        #: Scalar columns served from a memory map (see :mod:`sluice.engine.placement`).
        self.mapped_columns: frozenset[str] = frozenset()
        #: Persisted token indexes (``text_match``) by field name.
        self.text_index_files: dict[str, str] = {}
        self.last_write = time.monotonic()
        #: When the oldest row not yet in a binlog arrived (``None``: all persisted).
        self.unsynced_since: float | None = None
        #: Bytes the rows take in memory; a non-resident segment keeps the
        #: size it had (or an estimate from its binlogs), for compaction planning.
        self.nbytes = 0
        self._resident = True
        #: Bumped whenever the segment becomes resident or non-resident.
        self._residency_epoch = 0
        self._residency = threading.RLock()
        #: The thread running the loader (it reads the rows it is loading).
        self._loading_thread: int | None = None
        self._loader: SegmentLoader | None = None
        self._stored_rows = 0
        self._schema = schema
        pk = schema.primary
        #: Fields held as numpy matrices (dense vectors); every other column is Arrow.
        self._dense = _dense_fields(schema)
        self._scalar_schema = _scalar_schema(schema)
        self._pk_dtype: type = np.int64 if pk.dtype == DataType.INT64 else object
        self._pk = ChunkedColumn(self._pk_dtype)
        self._ts = ChunkedColumn(np.uint64)
        self._vectors = {
            f.name: DenseColumn(f, ChunkedColumn(*_matrix_shape(f))) for f in self._dense
        }
        self._view = self._make_view(())

    @property
    def state(self) -> SegmentState:
        return self._state

    @state.setter
    def state(self, state: SegmentState) -> None:
        self._state = state
        # Only a growing segment takes rows; any other keeps its key index for good.
        self.keys.sealed = state != SegmentState.GROWING

    # --- reading ----------------------------------------------------------

    @property
    def num_rows(self) -> int:
        if not self._resident:
            return self._stored_rows
        return self._view.num_rows

    @property
    def resident(self) -> bool:
        """Whether the rows are in memory (every segment but an evicted Flushed one)."""
        return self._resident

    @property
    def has_rows(self) -> bool:
        """Resident, or being loaded by the calling thread (the loader's own steps)."""
        return self._resident or self._loading_thread == threading.get_ident()

    @property
    def residency_lock(self) -> threading.RLock:
        """Held while the segment is read in or evicted; hold it to keep either from happening.

        Taken before any other lock that the loader takes (placement's), so
        a loader and a holder never wait for each other.
        """
        return self._residency

    def has_index(self, index_id: int) -> bool:
        """Whether the segment has index ``index_id``: loaded, or persisted while non-resident."""
        if self._resident:
            return index_id in self.indexes
        return index_id in self.index_files

    def view(self) -> SegmentView:
        while True:
            epoch = self._residency_epoch
            view = self._view
            if not self._resident:
                if self._loading_thread == threading.get_ident():
                    return view  # the loader reading the rows it has read so far
                self.make_resident()
                continue
            if len(view.scalars) > 1 and self._state != SegmentState.GROWING:
                view = self._consolidate(view)
            if view.indexes is not self.indexes:
                view = self._with_indexes(view)
            # An eviction (or a load) since ``epoch`` may have replaced what was read.
            if epoch == self._residency_epoch and self._resident:
                return view

    def _with_indexes(self, view: SegmentView) -> SegmentView:
        with self._consolidating:
            if self._view is not view:
                return self._view
            view = view.with_indexes(self.indexes)
            self._view = view
            return view

    # --- residency ------------------------------------------------------------

    def defer_rows(self, loader: SegmentLoader, nbytes: int) -> None:
        """Start non-resident: the rows stay in the binlogs until :meth:`view` asks.

        ``nbytes``: the size the rows are expected to take in memory.
        """
        assert self.num_rows == 0, "only an empty segment defers its rows"
        self._loader = loader
        self._stored_rows = sum(b.rows for b in self.binlogs)
        self.nbytes = nbytes
        self._resident = False
        self._residency_epoch += 1

    def make_resident(self) -> None:
        """Read a non-resident segment's rows back (no-op when resident); one thread loads.

        Others asking meanwhile wait for it.  A failed load leaves the
        segment non-resident and raises.
        """
        with self._residency:
            if self._resident or self._loading_thread is not None:
                return
            loader = self._loader
            assert loader is not None, f"segment {self.id} is non-resident without a loader"
            self._drop_rows()
            expected_bytes, self.nbytes = self.nbytes, 0
            self._loading_thread = threading.get_ident()
            try:
                loader(self)
                if self._view.num_rows != self._stored_rows:
                    raise ValueError(
                        f"segment {self.id}: {self._view.num_rows} rows loaded, "
                        f"its binlogs hold {self._stored_rows}"
                    )
                self._resident = True
                self._residency_epoch += 1
            except BaseException:
                self._drop_rows()
                self.nbytes = expected_bytes
                raise
            finally:
                self._loading_thread = None

    def evict(self, loader: SegmentLoader) -> bool:
        """Drop a Flushed data segment's rows, indexes and key index; ``loader`` reads them back.

        Only a segment whose every row is in its binlogs is evicted (growing
        and sealed ones hold rows no binlog has yet).  Views already handed
        out keep their arrays, so nothing is freed under a reader.  Returns
        whether the segment was evicted.
        """
        if self._state != SegmentState.FLUSHED or self.level == SegmentLevel.L0:
            return False
        with self._residency, self._consolidating:
            if not self._resident or self._loading_thread is not None:
                return False
            rows = self._view.num_rows
            if not rows or rows != sum(b.rows for b in self.binlogs):
                return False
            self._loader = loader
            self._stored_rows = rows
            self._resident = False
            self._residency_epoch += 1
            self._drop_rows()
        return True

    def _drop_rows(self) -> None:
        """Empty every in-memory column and index (the segment is or becomes non-resident)."""
        self.indexes = {}
        keys = SegmentKeys()
        keys.sealed = self._state != SegmentState.GROWING
        self.keys = keys
        self.mapped_columns = frozenset()
        self._pk = ChunkedColumn(self._pk_dtype)
        self._ts = ChunkedColumn(np.uint64)
        self._vectors = {
            f.name: DenseColumn(f, ChunkedColumn(*_matrix_shape(f))) for f in self._dense
        }
        self._view = self._make_view(())

    def _consolidate(self, view: SegmentView) -> SegmentView:
        """Merge a sealed segment's scalar batches into one, once.

        A growing segment gains one batch per insert; reading a few rows of a
        many-batch table makes Arrow concatenate every batch, so once the
        segment stops taking rows its batches are merged (one copy of its
        scalar columns).  Only growing segments append, so the view replaced
        here cannot have gained rows meanwhile.
        """
        with self._consolidating:
            if self._view is not view:
                return self._view
            table = pa.Table.from_batches(list(view.scalars), schema=self._scalar_schema)
            merged = view.with_scalars(tuple(table.combine_chunks().to_batches()))
            self._view = merged
            return merged

    @property
    def unsynced_rows(self) -> int:
        return self.num_rows - self.synced_rows

    @property
    def is_growing(self) -> bool:
        return self.state == SegmentState.GROWING

    @property
    def first_pending(self) -> PendingRecord | None:
        return self.pending[0] if self.pending else None

    # --- writing (caller holds the channel lock) ----------------------------

    def append(self, rows: pa.Table, timestamp: int, offset: int, end: int) -> None:
        """Add rows that a WAL record at ``offset`` carries (all stamped ``timestamp``)."""
        n = rows.num_rows
        self._append_columns(rows, np.full(n, timestamp, dtype=np.uint64))
        self.pending.append(PendingRecord(self.num_rows, offset, end, timestamp))
        self.last_write = time.monotonic()
        if self.unsynced_since is None:
            self.unsynced_since = self.last_write

    def load(self, table: pa.Table) -> None:
        """Add already-persisted rows (a binlog read at start-up); ``$ts`` comes with them."""
        ts = table.column(TS_COLUMN).to_numpy().astype(np.uint64, copy=False)
        self._append_columns(table.drop_columns([TS_COLUMN]), ts)

    def load_with_vectors(self, tables: list[pa.Table], vectors: Mapping[str, np.ndarray]) -> None:
        """Add persisted rows whose dense ``vectors`` come whole from elsewhere (an index).

        ``tables`` are the segment's binlogs read without those columns;
        ``vectors`` hold every row of the segment, in order.
        """
        rows = sum(t.num_rows for t in tables)
        for table in tables:
            ts = table.column(TS_COLUMN).to_numpy().astype(np.uint64, copy=False)
            self._append_columns(table.drop_columns([TS_COLUMN]), ts, skip=frozenset(vectors))
        for name, matrix in vectors.items():
            if len(matrix) != rows:
                raise ValueError(f"{name}: {len(matrix)} vectors for {rows} rows")
            self._vectors[name].matrix.adopt(matrix)
            self.nbytes += int(matrix.nbytes)
        self._view = self._make_view(self._view.scalars)

    def place(
        self,
        *,
        vectors: Mapping[str, np.ndarray],
        scalars: pa.Table | None = None,
        pk: np.ndarray | None = None,
        ts: np.ndarray | None = None,
    ) -> None:
        """Serve columns of a sealed segment from other arrays holding the same rows.

        ``vectors`` by field name, ``scalars`` every Arrow column, ``pk`` and
        ``ts`` the key and timestamp columns: each replaces what the segment
        holds (see :mod:`sluice.engine.placement`).  New views read the new
        arrays; views already handed out keep theirs.
        """
        assert self._state != SegmentState.GROWING, "only sealed segments are placed"
        with self._consolidating:
            if not self.has_rows:
                return  # evicted meanwhile: its next load places it afresh
            for name, matrix in vectors.items():
                self._vectors[name].matrix.replace(matrix)
            if pk is not None:
                self._pk.replace(pk)
            if ts is not None:
                self._ts.replace(ts)
            batches = self._view.scalars
            if scalars is not None:
                if scalars.num_rows != self.num_rows:
                    raise ValueError("replacement scalars differ in row count")
                batches = tuple(scalars.select(self._scalar_schema.names).to_batches())
            self._view = self._make_view(batches)

    def dense_columns(self) -> dict[str, np.ndarray]:
        """Each dense vector field's matrix, as readers see it now."""
        return dict(self.view().vectors)

    def adopt_schema(self, schema: CollectionSchema) -> None:
        """Take on fields added to the collection since this segment was made.

        Stored rows get the new scalar columns filled with each field's
        default value, or nulls; rows appended later carry them.  The caller
        holds the channel lock; readers keep the view they already have.
        """
        with self._residency:
            self._adopt_schema(schema)

    def _adopt_schema(self, schema: CollectionSchema) -> None:
        dense = {f.name for f in _dense_fields(schema)}
        added = [
            f
            for f in schema.fields
            if f.name not in dense and f.name not in self._scalar_schema.names
        ]
        if not added:
            self._schema = schema
            return
        batches = []
        for batch in self._view.scalars:
            for fld in added:
                batch = batch.append_column(arrow_field(fld), missing_column(fld, batch.num_rows))
            batches.append(batch)
        self._schema = schema
        self._scalar_schema = _scalar_schema(schema)
        self._view = self._make_view(tuple(batches))

    def _append_columns(
        self, rows: pa.Table, ts: np.ndarray, *, skip: frozenset[str] = frozenset()
    ) -> None:
        rows = self._conform(rows)
        pk_name = self._schema.primary.name
        pk = rows.column(pk_name).to_numpy(zero_copy_only=False)
        self._pk.append(pk)
        self._ts.append(ts)
        added = int(ts.nbytes + pk.nbytes)
        for fld in self._dense:
            if fld.name not in skip:
                added += self._vectors[fld.name].append(rows.column(fld.name))
        scalars = rows.select(self._scalar_schema.names).cast(self._scalar_schema)
        batches = tuple(scalars.combine_chunks().to_batches())
        added += sum(b.nbytes for b in batches)
        self.nbytes += added
        held = self._view.scalars + batches
        if len(held) > MAX_CHUNKS:
            # Many tiny inserts: keep reads from concatenating thousands of batches.
            merged = pa.Table.from_batches(list(held), schema=self._scalar_schema)
            held = tuple(merged.combine_chunks().to_batches())
        self._view = self._make_view(held)

    def _conform(self, rows: pa.Table) -> pa.Table:
        """``rows`` with every scalar field of the schema (fields added later filled in).

        Rows written before a field was added (older WAL records and binlogs)
        lack its column; they read as the field's default value, or null.
        """
        present = set(rows.column_names)
        dense = {f.name for f in self._dense}
        for fld in self._schema.fields:
            if fld.name not in present and fld.name not in dense:
                rows = rows.append_column(arrow_field(fld), missing_column(fld, rows.num_rows))
        return rows

    def _make_view(self, scalars: tuple[pa.RecordBatch, ...]) -> SegmentView:
        return SegmentView(
            indexes=self.indexes,
            segment_id=self.id,
            partition_id=self.partition_id,
            num_rows=len(self._ts),
            scalars=scalars,
            scalar_schema=self._scalar_schema,
            pk=self._pk,
            ts=self._ts,
            vectors=self._vectors,
            keys=self.keys,
        )

    # --- persistence bookkeeping ----------------------------------------------

    def mark_synced(self, rows: int, wal_end: int, binlog: Binlog | None) -> None:
        """Record that the first ``rows`` rows are persisted (caller holds the channel lock)."""
        if binlog is not None:
            self.binlogs.append(binlog)
        self.synced_rows = rows
        self.synced_end = max(self.synced_end, wal_end)
        while self.pending and self.pending[0].row_end <= rows:
            self.pending.popleft()
        self.unsynced_since = time.monotonic() if self.pending else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "partition": self.partition_id,
            "channel": self.channel,
            "level": int(self.level),
            "state": int(self.state),
            "created_ts": self.created_ts,
            "binlogs": [b.to_dict() for b in self.binlogs],
            "synced_rows": self.synced_rows,
            "synced_end": self.synced_end,
            "index_files": {str(k): v for k, v in self.index_files.items()},
            "text_index_files": dict(self.text_index_files),
            "is_sorted": self.is_sorted,
            "compacted_from": list(self.compacted_from),
            "cluster_range": None if self.cluster_range is None else list(self.cluster_range),
        }


def _matrix_shape(fld: FieldSchema) -> tuple[np.dtype, int]:
    info = type_info(fld.dtype)
    assert info.numpy_dtype is not None
    return info.numpy_dtype, info.matrix_width(fld)


def _dense_fields(schema: CollectionSchema) -> tuple[FieldSchema, ...]:
    return tuple(f for f in schema.fields if type_info(f.dtype).storage == Storage.DENSE)


def _scalar_schema(schema: CollectionSchema) -> pa.Schema:
    """Every column held in Arrow batches: all but the dense vector fields."""
    dense = {f.name for f in _dense_fields(schema)}
    return pa.schema([arrow_field(f) for f in schema.fields if f.name not in dense])
