"""Where a flushed segment's data lives: in process memory or memory-mapped.

Milvus's ``mmap.enabled`` decides, per field and per index, whether a
sealed segment is served from memory or from files mapped into it; an
index's or a field's own setting wins over the collection's property, which
wins over the server default (``[mmap]``, Milvus's ``queryNode.mmap.*``).
Mapped columns are copied from the segment into files under the mapped-files
cache (:class:`~sluice.storage.mapped_files.MappedFiles`), mapped indexes
are FAISS's own memory maps of the index file (a copy in the cache when the
segment files live in an object store).  Either way the bytes come from the
page cache, so a collection larger than memory can be served, and the
process's anonymous memory holds only what is not mapped.

Independently of mmap, a segment never keeps its raw vectors twice: when a
FLAT or HNSW index stores them unchanged (L2, and IP for FLAT), the segment
reads its vectors from the index (Milvus likewise skips loading raw vectors
an index holds).  Dropping that index hands the segment a copy of its own.

:func:`place_segment` applies the settings to one Flushed segment; it runs
when a segment is loaded at start-up, after its indexes are built (so after
every flush and compaction), on LoadCollection (the settings may only change
while a collection is released) and after DropIndex.  It never changes a
value: every column is replaced by one holding the same rows, so readers
see no difference and snapshots taken before keep the arrays they hold.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from sluice.engine.catalog import CollectionMeta, IndexMeta
from sluice.engine.collection import Collection
from sluice.engine.columns import SegmentIndex
from sluice.engine.context import EngineContext
from sluice.engine.freed_memory import release_freed_memory
from sluice.engine.indexes import spec_of
from sluice.engine.segment import Segment, SegmentLevel, SegmentState
from sluice.engine.vector_kinds import is_other_kind
from sluice.index import FaissIndex, load_index, load_mapped_index
from sluice.index.faiss_storage import reads_index_storage
from sluice.index.spec import IndexSpec
from sluice.schema import DataType, FieldSchema

log = logging.getLogger(__name__)

MMAP_KEY = "mmap.enabled"
#: The older spelling Milvus still accepts in a field's parameters.
LEGACY_FIELD_MMAP_KEY = "mmap_enabled"
_TRUE = frozenset({"true", "1", "t", "yes", "on"})
_FALSE = frozenset({"false", "0", "f", "no", "off"})
#: One placement at a time per segment (builder thread, LoadCollection, DropIndex).
_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def field_mapped(ctx: EngineContext, meta: CollectionMeta, field: FieldSchema) -> bool:
    """Whether ``field``'s raw data is served from a memory map."""
    params = field.type_params
    own_field = params.get(MMAP_KEY, params.get(LEGACY_FIELD_MMAP_KEY))
    for own in (own_field, meta.properties.get(MMAP_KEY)):
        decided = _flag(own)
        if decided is not None:
            return decided
    settings = ctx.settings.mmap
    return settings.vector_field if field.dtype.is_vector else settings.scalar_field


def index_mapped(ctx: EngineContext, meta: CollectionMeta, index: IndexMeta) -> bool:
    """Whether ``index``'s vector index files are served from memory maps."""
    for own in (index.params.get(MMAP_KEY), meta.properties.get(MMAP_KEY)):
        decided = _flag(own)
        if decided is not None:
            return decided
    return ctx.settings.mmap.vector_index


def placeable(segment: Segment) -> bool:
    return (
        segment.state == SegmentState.FLUSHED
        and segment.level != SegmentLevel.L0
        and segment.num_rows > 0
    )


def place_segment(ctx: EngineContext, collection: Collection, segment: Segment) -> None:
    """Put ``segment``'s columns and indexes where the mmap settings say.

    A non-resident segment (released) is left alone: loading it places it.
    """
    if not placeable(segment) or not segment.has_rows or collection.dropped:
        return
    # The residency lock first (the loader holds it when it places): no eviction meanwhile.
    with segment.residency_lock, _lock(segment.id):
        if not segment.has_rows:
            return
        meta = collection.meta
        indexes = _place_indexes(ctx, collection, segment)
        vectors = _place_vectors(ctx, meta, segment, indexes)
        scalars, pk, ts = _place_scalars(ctx, meta, segment)
        if vectors or scalars is not None or pk is not None:
            segment.place(vectors=vectors, scalars=scalars, pk=pk, ts=ts)
        for name, matrix in vectors.items():
            for index_id, index in indexes.items():
                declared = _declared(meta, index_id)
                if (
                    isinstance(index, FaissIndex)
                    and declared is not None
                    and declared.field_name == name
                ):
                    index.attach_vectors(matrix)
        changed = {k: v for k, v in indexes.items() if segment.indexes.get(k) is not v}
        if changed:
            live = segment.indexes
            segment.indexes = {k: changed.get(k, v) for k, v in live.items()}
        if vectors or scalars is not None or pk is not None or changed:
            release_freed_memory()


def forget_segment(ctx: EngineContext, collection_id: int, segment_id: int) -> None:
    """Remove a retired segment's mapped files (arrays mapped from them stay valid)."""
    ctx.stores.mapped.remove_segment(collection_id, segment_id)
    with _LOCKS_GUARD:
        _LOCKS.pop(segment_id, None)


def _lock(segment_id: int) -> threading.Lock:
    with _LOCKS_GUARD:
        found = _LOCKS.get(segment_id)
        if found is None:
            found = _LOCKS[segment_id] = threading.Lock()
        return found


def _declared(meta: CollectionMeta, index_id: int) -> IndexMeta | None:
    return next((i for i in meta.indexes if i.index_id == index_id), None)


def _place_indexes(
    ctx: EngineContext, collection: Collection, segment: Segment
) -> dict[int, SegmentIndex]:
    """The segment's indexes, each reloaded mapped or in memory where the settings changed."""
    meta = collection.meta
    placed: dict[int, SegmentIndex] = dict(segment.indexes)
    for index_id, index in segment.indexes.items():
        declared = _declared(meta, index_id)
        rel = segment.index_files.get(index_id)
        if not isinstance(index, FaissIndex) or declared is None or rel is None:
            continue
        want = index_mapped(ctx, meta, declared)
        if index.mapped == want:
            continue
        try:
            reloaded = _reload(ctx, collection, segment, declared, rel, want)
        except Exception as exc:  # the index in hand keeps serving
            log.error(
                "index %s of segment %d cannot be %s: %s",
                declared.index_name,
                segment.id,
                "mapped" if want else "read into memory",
                " ".join(str(exc).split()) or type(exc).__name__,
            )
            continue
        if reloaded is not None:
            placed[index_id] = reloaded
    return placed


def load_mapped(
    ctx: EngineContext,
    collection: Collection,
    segment: Segment,
    declared: IndexMeta,
    rel: str,
    *,
    attach: bool = True,
) -> SegmentIndex | None:
    """A vector index loaded from its file by FAISS (start-up), mapped where the settings say.

    ``None`` when FAISS cannot read it directly (a remote store without
    mmap, an older file format, a scalar index): the caller reads its bytes.
    ``attach``: give it the segment's vectors (re-ranking, exact scans); off
    while the segment is still empty because its vectors will come from here.
    """
    if not isinstance(spec_of(collection, declared), IndexSpec):
        return None
    mapped = index_mapped(ctx, collection.meta, declared)
    if not mapped and ctx.files.local_path(rel) is None:
        return None
    return _reload(ctx, collection, segment, declared, rel, mapped, attach=attach)


def _reload(
    ctx: EngineContext,
    collection: Collection,
    segment: Segment,
    declared: IndexMeta,
    rel: str,
    mapped: bool,
    *,
    attach: bool = True,
) -> SegmentIndex | None:
    spec = spec_of(collection, declared)
    assert isinstance(spec, IndexSpec)
    field = collection.schema.get(declared.field_name)
    plain = field is None or is_other_kind(field) or not attach
    vectors = None if plain else segment.view().vectors.get(declared.field_name)
    local = ctx.files.local_path(rel)
    if not mapped:
        if local is not None:
            found = load_mapped_index(spec, local, rerank_vectors=vectors, mmap=False)
            if found is not None:
                return found
        return load_index(spec, ctx.files.read_bytes(rel), rerank_vectors=vectors)
    if local is None:
        name = f"index-{declared.index_id}.slix"
        local = str(
            ctx.stores.mapped.copy_in(collection.id, segment.id, name, ctx.files.read_bytes(rel))
        )
    return load_mapped_index(spec, local, rerank_vectors=vectors)


def _place_vectors(
    ctx: EngineContext,
    meta: CollectionMeta,
    segment: Segment,
    indexes: Mapping[int, SegmentIndex],
) -> dict[str, np.ndarray]:
    """Dense vector columns that move: onto an index's storage, into a map, or back."""
    current = segment.dense_columns()
    moved: dict[str, np.ndarray] = {}
    for field in meta.schema.fields:
        matrix = current.get(field.name)
        if matrix is None:
            continue
        source = None if field.nullable else _stored_by_index(meta, field, indexes, matrix)
        if source is None:
            if field_mapped(ctx, meta, field):
                if not isinstance(matrix, np.memmap):
                    source = ctx.stores.mapped.map_array(
                        meta.id, segment.id, f"field-{field.field_id}", matrix
                    )
            elif isinstance(matrix, np.memmap) or reads_index_storage(matrix):
                source = np.array(matrix)  # back into memory (or off a dropped index)
        if source is not None and not _same_array(source, matrix):
            moved[field.name] = source
    return moved


def _stored_by_index(
    meta: CollectionMeta,
    field: FieldSchema,
    indexes: Mapping[int, SegmentIndex],
    matrix: np.ndarray,
) -> np.ndarray | None:
    if field.dtype != DataType.FLOAT_VECTOR:
        return None
    for index_id, index in indexes.items():
        declared = _declared(meta, index_id)
        if declared is None or declared.field_name != field.name:
            continue
        if isinstance(index, FaissIndex):
            stored = index.stored_vectors()
            if stored is not None and stored.shape == matrix.shape:
                return stored
    return None


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Both read the same memory (a column and a fresh slice of it)."""
    return a.shape == b.shape and a.__array_interface__["data"] == b.__array_interface__["data"]


def _place_scalars(
    ctx: EngineContext, meta: CollectionMeta, segment: Segment
) -> tuple[pa.Table | None, np.ndarray | None, np.ndarray | None]:
    """Scalar columns (and keys, timestamps) that move into a map or back into memory."""
    view = segment.view()
    table = view.scalar_table()
    names = set(table.column_names)
    mapped_fields = [
        f for f in meta.schema.fields if f.name in names and field_mapped(ctx, meta, f)
    ]
    mapped_names = {f.name for f in mapped_fields}
    is_mapped = {name: name in segment.mapped_columns for name in table.column_names}
    scalars: pa.Table | None = None
    if any(is_mapped[n] != (n in mapped_names) for n in table.column_names):
        columns = {n: table.column(n) for n in table.column_names}
        if mapped_fields:
            ids = "-".join(str(f.field_id) for f in sorted(mapped_fields, key=lambda f: f.field_id))
            digest = hashlib.sha1(ids.encode()).hexdigest()[:12]
            part = ctx.stores.mapped.map_table(
                meta.id, segment.id, f"scalars-{digest}", table.select(sorted(mapped_names))
            )
            for name in mapped_names:
                columns[name] = part.column(name)
        for name in names - mapped_names:
            if is_mapped[name]:
                columns[name] = _copy_column(table.column(name))
        scalars = pa.table(list(columns.values()), schema=table.schema)
        segment.mapped_columns = frozenset(mapped_names)
    pk = ts = None
    primary = meta.schema.primary
    keys_mapped = primary.name in mapped_names and primary.dtype == DataType.INT64
    if keys_mapped != isinstance(view.pk, np.memmap):
        if keys_mapped:
            pk = ctx.stores.mapped.map_array(meta.id, segment.id, "pk", view.pk)
            ts = ctx.stores.mapped.map_array(meta.id, segment.id, "ts", view.ts)
        else:
            pk, ts = np.array(view.pk), np.array(view.ts)
    return scalars, pk, ts


def _copy_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` with its buffers copied into process memory (off a memory map)."""
    sink = pa.BufferOutputStream()
    table = pa.table({"c": column})
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    copied = pa.ipc.open_stream(pa.BufferReader(sink.getvalue().to_pybytes())).read_all()
    return copied.column("c")


def place_collection(ctx: EngineContext, collection: Collection) -> None:
    """Apply the mmap settings to every Flushed segment (LoadCollection, DropIndex)."""
    for segment in collection.segments():
        place_segment(ctx, collection, segment)
