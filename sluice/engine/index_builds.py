"""Per-segment indexes (vector and scalar): built in the background, persisted beside the segment.

Milvus indexes each sealed segment separately, after it is flushed; Sluice
does the same.  A segment that becomes Flushed, or every Flushed segment when
CreateIndex arrives, is queued for the builder thread, which:

1. builds the index from the segment's vectors (FAISS releases the GIL and
   uses every core, so inserts and searches carry on meanwhile), or a scalar
   index from the segment's column (whole-column NumPy work);
2. writes the serialised index to ``index_files/<coll>/<part>/<seg>/<index>.slix``
   through the segment store and fsyncs it;
3. commits the collection manifest naming the file;
4. publishes the index to readers (until then the segment is searched exactly).

At start-up an index file named by the manifest is loaded, never rebuilt; a
Flushed segment without one is queued again.  A file that cannot be loaded
(missing, truncated, failing its checksum) is logged, forgotten and rebuilt
from the segment: a damaged index never stops start-up and never answers.
A segment of a released partition is not in memory (see
:mod:`sluice.engine.residency`): its persisted files count as built, and
one lacking an index is read for the build and leaves memory again after.
An index is immutable: dropping it removes the files, and a new CreateIndex
builds new ones.

Growing segments are never indexed; searches and filters scan them, so fresh
rows are always found.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sluice import telemetry
from sluice.engine.catalog import IndexMeta
from sluice.engine.collection import Collection
from sluice.engine.columns import SegmentIndex
from sluice.engine.context import EngineContext
from sluice.engine.indexes import AnySpec, is_emb_list_index, spec_of
from sluice.engine.placement import load_mapped, place_collection, place_segment
from sluice.engine.residency import evict_unserved, served
from sluice.engine.scalar_indexes import build_scalar, indexed_column, load_scalar
from sluice.engine.segment import Segment, SegmentLevel, SegmentState
from sluice.engine.text_match_files import build_text_indexes, wants_text_indexes
from sluice.engine.vector_kinds import is_other_kind
from sluice.errors import IndexBuildCancelled, StorageWriteError
from sluice.index import FaissIndex, IndexSpec, build, load_index
from sluice.index.faiss_storage import stores_raw_vectors
from sluice.index.scalar import ScalarIndexSpec

log = logging.getLogger(__name__)


def index_file_path(collection_id: int, segment: Segment, index_id: int) -> str:
    return f"index_files/{collection_id}/{segment.partition_id}/{segment.id}/{index_id}.slix"


def indexable(segment: Segment) -> bool:
    return (
        segment.state == SegmentState.FLUSHED
        and segment.level != SegmentLevel.L0
        and segment.num_rows > 0
    )


class IndexBuilder:
    """One background thread that builds missing segment indexes, oldest request first."""

    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx
        self._queue: queue.Queue[tuple[Collection, Segment] | None] = queue.Queue()
        self._pending: set[tuple[int, int]] = set()
        self._lock = threading.Lock()
        #: Notified after every segment's builds, so index-state readers can wait for them.
        self._progress = threading.Condition(self._lock)
        #: The collection whose segment is being built right now.
        self._active: int | None = None
        self._stopping = threading.Event()
        #: Indexes built (not loaded) since start: tests and metrics read it.
        self.builds = 0
        self._thread = threading.Thread(target=self._run, name="sluice-index", daemon=True)
        self._thread.start()

    def request(self, collection: Collection, segment: Segment) -> None:
        if not indexable(segment):
            return
        if not _lacks_index(collection, segment) and (
            not segment.resident or served(collection, segment)
        ):
            return  # (a resident segment of a released partition is queued to leave memory)
        key = (collection.id, segment.id)
        with self._lock:
            if key in self._pending:
                return
            self._pending.add(key)
        self._queue.put((collection, segment))

    def request_all(self, collection: Collection) -> None:
        for segment in collection.segments():
            self.request(collection, segment)

    def wait_for_progress(self, collection_id: int, timeout: float) -> bool:
        """Wait up to ``timeout`` for a build of the collection to end; False if none is due."""
        with self._progress:
            busy = self._active == collection_id or any(
                c == collection_id for c, _ in self._pending
            )
            if busy:
                self._progress.wait(timeout)
            return busy

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop taking work and wait for the builder; a build in progress is never committed.

        A build stops at its next chunk (see :func:`sluice.index.build`).
        Returns whether the thread ended; it may not if one native FAISS call
        (an IVF training run) outlasts ``timeout``.
        """
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            collection, segment = item
            if self._stopping.is_set():
                return
            with self._lock:
                self._pending.discard((collection.id, segment.id))
                self._active = collection.id
            try:
                self._build_segment(collection, segment)
            finally:
                with self._progress:
                    self._active = None
                    self._progress.notify_all()

    def _build_segment(self, collection: Collection, segment: Segment) -> None:
        try:
            if not _lacks_index(collection, segment):
                evict_unserved(self._ctx, collection, [segment])
                return
            # A non-resident segment is read first: its rows and the indexes it has.
            segment.make_resident()
            for index in list(collection.meta.indexes):
                if self._build_one(collection, segment, index):
                    self.builds += 1
            if not self._stopping.is_set():
                self.builds += build_text_indexes(self._ctx, collection, segment)
            if not self._stopping.is_set():
                place_segment(self._ctx, collection, segment)
            # A released partition's segment (read for the build, or flushed) leaves memory.
            evict_unserved(self._ctx, collection, [segment])
        except OSError as exc:
            # A full or read-only disk: one line, no traceback; the next start rebuilds it.
            log.error(
                "building an index for segment %d failed: %s",
                segment.id,
                StorageWriteError.from_os_error(exc).message,
            )
        except Exception:
            log.exception("building an index for segment %d failed", segment.id)

    def _build_one(self, collection: Collection, segment: Segment, index: IndexMeta) -> bool:
        if collection.dropped or segment.has_index(index.index_id):
            return False
        if is_emb_list_index(collection, index):
            return False  # embedding lists are searched exactly: nothing to build
        started = time.perf_counter()
        spec = spec_of(collection, index)
        log.info(
            "building %s index %s for segment %d (%d rows)",
            spec.engine_type,
            index.index_name,
            segment.id,
            segment.num_rows,
        )
        try:
            built = self._build(collection, segment, index, spec)
        except IndexBuildCancelled:
            log.info("index build for segment %d cancelled: the engine is closing", segment.id)
            return False
        if self._stopping.is_set():
            return False
        rel = index_file_path(collection.id, segment, index.index_id)
        self._ctx.files.write_bytes(rel, built.serialize())
        gone = collection.find_segment(segment.id) is not segment  # truncated or partition dropped
        if (
            index not in collection.meta.indexes
            or collection.dropped
            or gone
            or self._stopping.is_set()
        ):
            self._ctx.files.delete_file(rel)
            return False
        segment.index_files[index.index_id] = rel
        collection.save_manifest()
        with segment.residency_lock:
            if segment.resident:  # else the next load reads the file
                segment.indexes = {**segment.indexes, index.index_id: built}
        telemetry.INDEX_BUILD_SECONDS.observe(time.perf_counter() - started)
        log.info(
            "built %s index %s for segment %d (%d rows) in %.2fs",
            spec.engine_type,
            index.index_name,
            segment.id,
            segment.num_rows,
            time.perf_counter() - started,
        )
        return True

    def _build(
        self, collection: Collection, segment: Segment, index: IndexMeta, spec: AnySpec
    ) -> SegmentIndex:
        return build_segment_index(collection, segment, index, spec, self._stopping.is_set)


def _lacks_index(collection: Collection, segment: Segment) -> bool:
    """Whether a declared index or token index of ``segment`` is neither loaded nor persisted."""
    if any(
        not segment.has_index(i.index_id) and not is_emb_list_index(collection, i)
        for i in collection.meta.indexes
    ):
        return True
    if not wants_text_indexes(collection, segment):
        return False
    registry = collection.text_match
    return any(
        not registry.has_sealed(segment.id, name)
        and (segment.resident or name not in segment.text_index_files)
        for name in registry.fields
    )


def build_segment_index(
    collection: Collection,
    segment: Segment,
    index: IndexMeta,
    spec: AnySpec,
    cancelled: Callable[[], bool],
) -> SegmentIndex:
    """One declared index over one segment's rows (raises if ``cancelled`` turns true)."""
    view = segment.view()
    if isinstance(spec, ScalarIndexSpec):
        name = indexed_column(spec)
        return build_scalar(spec, view.table([name]).column(name))
    field = collection.schema.get(index.field_name)
    if field is not None and is_other_kind(field):
        return build(
            spec,
            view.search_data(field.name),
            cancelled=cancelled,
            valid=view.search_validity(field.name),
        )
    vectors = view.vectors[index.field_name]
    return build(spec, vectors, rerank_vectors=vectors, cancelled=cancelled)


def build_index_file(
    ctx: EngineContext,
    collection: Collection,
    segment: Segment,
    index: IndexMeta,
    cancelled: Callable[[], bool],
) -> tuple[str, SegmentIndex]:
    """Build ``index`` for a segment no reader sees yet and write its file (compaction)."""
    built = build_segment_index(collection, segment, index, spec_of(collection, index), cancelled)
    rel = index_file_path(collection.id, segment, index.index_id)
    ctx.files.write_bytes(rel, built.serialize())
    return rel, built


def decode_index(spec: AnySpec, blob: bytes, rerank_vectors: Any = None) -> SegmentIndex:
    """An index from its file's bytes; damaged bytes raise (never a wrong index)."""
    if isinstance(spec, ScalarIndexSpec):
        return load_scalar(spec, blob)
    return load_index(spec, blob, rerank_vectors=rerank_vectors)


def indexes_holding_vectors(
    ctx: EngineContext, collection: Collection, segment: Segment, rows: int
) -> tuple[dict[int, SegmentIndex], dict[str, np.ndarray]]:
    """Indexes of a segment being recovered that bring its raw vectors, and those vectors.

    A FLAT or HNSW index over L2 stores every vector as inserted, so start-up
    reads the segment's other columns only and serves vectors from the index
    (as Milvus skips loading raw data an index holds).  Anything unexpected
    (a damaged file, a different structure) leaves the field to the binlogs.
    """
    loaded: dict[int, SegmentIndex] = {}
    vectors: dict[str, np.ndarray] = {}
    declared = {i.index_id: i for i in collection.meta.indexes}
    for index_id, rel in segment.index_files.items():
        index = declared.get(index_id)
        field = None if index is None else collection.schema.get(index.field_name)
        if index is None or field is None or field.nullable or field.name in vectors:
            continue
        spec = spec_of(collection, index)
        if not isinstance(spec, IndexSpec) or not stores_raw_vectors(spec):
            continue
        try:
            built = load_mapped(ctx, collection, segment, index, rel, attach=False)
            if built is None:
                built = load_index(spec, ctx.files.read_bytes(rel))
        except Exception:  # load_segment_indexes reports it and queues a rebuild
            continue
        stored = built.stored_vectors() if isinstance(built, FaissIndex) else None
        if stored is not None and stored.shape[0] == rows:
            loaded[index_id] = built
            vectors[field.name] = stored
    return loaded, vectors


def load_segment_indexes(
    ctx: EngineContext,
    collection: Collection,
    segment: Segment,
    preloaded: Mapping[int, SegmentIndex] | None = None,
) -> None:
    """Load the index files a recovered segment's manifest names (no rebuild).

    A file that does not load is logged and forgotten; the builder, which runs
    over every Flushed segment at start-up, then rebuilds it from the segment.
    ``preloaded`` are indexes already loaded (see :func:`indexes_holding_vectors`).
    """
    declared = {i.index_id: i for i in collection.meta.indexes}
    loaded: dict[int, SegmentIndex] = dict(preloaded or {})
    for index_id, rel in list(segment.index_files.items()):
        if index_id in loaded:
            continue
        index = declared.get(index_id)
        if index is None or not indexable(segment):
            ctx.files.delete_file(rel)
            del segment.index_files[index_id]
            continue
        try:
            spec = spec_of(collection, index)
            field = collection.schema.get(index.field_name)
            # Other kinds keep their own data (or float32 copies) inside the index.
            plain = isinstance(spec, ScalarIndexSpec) or (
                field is not None and is_other_kind(field)
            )
            mapped = load_mapped(ctx, collection, segment, index, rel)
            if mapped is not None:
                loaded[index_id] = mapped
                continue
            vectors = None if plain else _vectors(segment, index)
            loaded[index_id] = decode_index(spec, ctx.files.read_bytes(rel), vectors)
        except Exception as exc:  # a damaged file must never stop start-up
            log.error(
                "index file %s (index %s, segment %d) cannot be loaded, rebuilding it: %s",
                rel,
                index.index_name,
                segment.id,
                " ".join(str(exc).split()) or type(exc).__name__,
            )
            del segment.index_files[index_id]
            _forget_file(ctx, rel)
    segment.indexes = loaded


def _forget_file(ctx: EngineContext, rel: str) -> None:
    """Delete a damaged index file (best effort: the rebuild overwrites it anyway)."""
    try:
        ctx.files.delete_file(rel)
    except OSError as exc:
        log.warning("cannot delete damaged index file %s: %s", rel, exc)


def _vectors(segment: Segment, index: IndexMeta) -> Any:
    return segment.view().vectors[index.field_name]


def drop_segment_indexes(ctx: EngineContext, collection: Collection, index_id: int) -> None:
    """Forget ``index_id`` on every segment and delete its files."""
    removed = []
    for segment in collection.segments():
        if index_id in segment.index_files or index_id in segment.indexes:
            segment.indexes = {k: v for k, v in segment.indexes.items() if k != index_id}
            rel = segment.index_files.pop(index_id, None)
            if rel is not None:
                removed.append(rel)
    if removed:
        collection.save_manifest()
    for rel in removed:
        ctx.files.delete_file(rel)
    # Segments that read their vectors from the dropped index take a copy of their own.
    place_collection(ctx, collection)
