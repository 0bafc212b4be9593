"""Per-segment vector indexes: built in the background, persisted beside the segment.

Milvus indexes each sealed segment separately, after it is flushed; Sluice
does the same.  A segment that becomes Flushed, or every Flushed segment when
CreateIndex arrives, is queued for the builder thread, which:

1. builds the index from the segment's vectors (FAISS releases the GIL and
   uses every core, so inserts and searches carry on meanwhile);
2. writes the serialised index to ``index_files/<coll>/<part>/<seg>/<index>.slix``
   through the segment store and fsyncs it;
3. commits the collection manifest naming the file;
4. publishes the index to readers (until then the segment is searched exactly).

At start-up an index file named by the manifest is loaded, never rebuilt; a
Flushed segment without one is queued again.  An index is immutable: dropping
it removes the files, and a new CreateIndex builds new ones.

Growing segments are never indexed; searches scan them exactly, so fresh rows
are always findable.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from sluice.engine.catalog import IndexMeta
from sluice.engine.collection import Collection
from sluice.engine.columns import SegmentIndex
from sluice.engine.context import EngineContext
from sluice.engine.indexes import spec_of
from sluice.engine.scalar_indexes import build_for, load_for
from sluice.engine.segment import Segment, SegmentLevel, SegmentState
from sluice.engine.vector_kinds import ExactKindIndex, is_other_kind
from sluice.errors import IndexBuildCancelled, StorageWriteError
from sluice.index import IndexSpec, build, load_index
from sluice.index.scalar import ScalarIndexSpec
from sluice.schema import FieldSchema

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
        self._stopping = threading.Event()
        #: Indexes built (not loaded) since start: tests and metrics read it.
        self.builds = 0
        self._thread = threading.Thread(target=self._run, name="sluice-index", daemon=True)
        self._thread.start()

    def request(self, collection: Collection, segment: Segment) -> None:
        if not collection.meta.indexes or not indexable(segment):
            return
        key = (collection.id, segment.id)
        with self._lock:
            if key in self._pending:
                return
            self._pending.add(key)
        self._queue.put((collection, segment))

    def request_all(self, collection: Collection) -> None:
        for segment in collection.segments():
            self.request(collection, segment)

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
            try:
                for index in list(collection.meta.indexes):
                    if self._build_one(collection, segment, index):
                        self.builds += 1
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
        if collection.dropped or index.index_id in segment.indexes:
            return False
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
            built = _build(collection, segment, index, spec, self._stopping.is_set)
        except IndexBuildCancelled:
            log.info("index build for segment %d cancelled: the engine is closing", segment.id)
            return False
        if self._stopping.is_set():
            return False
        rel = index_file_path(collection.id, segment, index.index_id)
        self._ctx.files.write_bytes(rel, built.serialize())
        if index not in collection.meta.indexes or collection.dropped or self._stopping.is_set():
            self._ctx.files.delete_file(rel)
            return False
        segment.index_files[index.index_id] = rel
        collection.save_manifest()
        segment.indexes = {**segment.indexes, index.index_id: built}
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
    collection: Collection,
    segment: Segment,
    index: IndexMeta,
    spec: IndexSpec | ScalarIndexSpec,
    cancelled: Callable[[], bool],
) -> Any:
    field = collection.schema.get(index.field_name)
    assert field is not None
    if isinstance(spec, ScalarIndexSpec):
        return build_for(spec, _column(segment, field.name))
    if is_other_kind(field):
        return _exact(segment, field, spec)
    vectors = segment.view().vectors[index.field_name]
    return build(spec, vectors, rerank_vectors=vectors, cancelled=cancelled)


def _column(segment: Segment, name: str) -> Any:
    return segment.view().table([name]).column(name)


def _exact(segment: Segment, field: FieldSchema, spec: IndexSpec) -> ExactKindIndex:
    return ExactKindIndex(spec, field.dtype, segment.view().search_data(field.name))


def load_segment_indexes(ctx: EngineContext, collection: Collection, segment: Segment) -> None:
    """Load the index files a recovered segment's manifest names (no rebuild)."""
    declared = {i.index_id: i for i in collection.meta.indexes}
    loaded: dict[int, SegmentIndex] = {}
    for index_id, rel in list(segment.index_files.items()):
        index = declared.get(index_id)
        if index is None or not indexable(segment):
            ctx.files.delete_file(rel)
            del segment.index_files[index_id]
            continue
        spec = spec_of(collection, index)
        field = collection.schema.get(index.field_name)
        if isinstance(spec, ScalarIndexSpec):
            loaded[index_id] = load_for(spec, ctx.files.read_bytes(rel))
            continue
        if field is not None and is_other_kind(field):
            loaded[index_id] = _exact(segment, field, spec)
            continue
        vectors = segment.view().vectors[index.field_name]
        loaded[index_id] = load_index(spec, ctx.files.read_bytes(rel), rerank_vectors=vectors)
    segment.indexes = loaded


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
