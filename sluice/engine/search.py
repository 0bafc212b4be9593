"""Vector search over a snapshot: per-segment top-k, merged across segments and shards.

Each segment answers with its own best ``limit + offset`` rows: a Flushed
segment through its FAISS index when one is built, any other segment by an
exact scan (so rows inserted a moment ago are always findable).  Filters and
MVCC visibility become one boolean mask per segment, which indexes take as a
FAISS ID selector.  Per-segment lists merge into one global top-k; when a key
appears more than once (a key inserted again), the newest row wins.

Two variants reshape the same machinery:

- **range search** (``radius``/``range_filter``): only rows inside the window;
- **search iterators** (pymilvus ``search_iterator``, "v2"): each page is the
  best ``batch`` rows strictly beyond the previous page's last score, read at
  a pinned timestamp, computed exactly so pages never overlap or skip.

Group-by returns up to ``limit`` groups (distinct values of a scalar field),
best group first, each with up to ``group_size`` hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from sluice.engine.collection import Snapshot
from sluice.engine.columns import SegmentView
from sluice.engine.output import OutputSpec, round_scores
from sluice.engine.reader import CompiledFilter, combined_mask, empty_table, gather
from sluice.engine.struct_search import ListQueries, segment_top_lists
from sluice.engine.vector_kinds import kind_search
from sluice.index import (
    IndexSpec,
    SearchParams,
    VectorIndex,
    build,
    exact_range_search,
    exact_search,
    larger_is_better,
    scan_blocks,
    thread_settings,
)
from sluice.index import merge_topk as merge_parts
from sluice.schema import CollectionSchema, DataType, FieldSchema

_INT64_MIN = np.iinfo(np.int64).min
_ROW_BITS = 40
_ROW_MASK = (1 << _ROW_BITS) - 1
_FAR = 3.0e38
_NO_FIELDS = pa.table({})


@dataclass(frozen=True)
class GroupBy:
    field: str
    size: int = 1
    strict: bool = False


@dataclass(frozen=True)
class SearchPlan:
    """Everything a search needs besides the snapshot and the query vectors."""

    field: str
    params: SearchParams
    limit: int
    offset: int = 0
    index_id: int | None = None
    round_decimal: int = -1
    #: Search-iterator page: rows strictly beyond this score.
    after: float | None = None
    group_by: GroupBy | None = None
    #: The searched field's type (float vectors go through FAISS and the BLAS scan).
    kind: DataType = DataType.FLOAT_VECTOR
    #: A BM25 output field's index spec: unindexed segments get a posting list per search.
    bm25_spec: IndexSpec | None = None
    #: Embedding-list search (``kind`` ARRAY_OF_STRUCT): the struct field and the vector
    #: sub-field searched (``field`` is then the struct column).
    struct_field: FieldSchema | None = None
    element: str = ""


@dataclass(frozen=True)
class SearchHits:
    """Per query: hit count; for all hits in order: keys, scores, output rows, group values."""

    topks: list[int]
    pks: np.ndarray
    scores: np.ndarray
    fields: pa.Table
    group_values: pa.Array | None = None
    #: The last score of each query's page (search iterators).
    last_scores: list[float] = field(default_factory=list)


def search(
    snapshot: Snapshot,
    schema: CollectionSchema,
    queries: np.ndarray,
    plan: SearchPlan,
    flt: CompiledFilter,
    output: OutputSpec,
) -> SearchHits:
    nq = queries.shape[0]
    views = snapshot.segments
    live = []
    available = 0
    for no, view in enumerate(views):
        allowed = _with_vectors(combined_mask(view, snapshot, flt), view, plan.field)
        rows = view.num_rows if allowed is None else int(np.count_nonzero(allowed))
        if rows:
            live.append((no, view, allowed))
            available += rows
    if not live:
        return _no_hits(nq, schema, output)
    want = plan.limit + plan.offset
    if len(live) == 1 and plan.group_by is None and plan.after is None:
        _, view, allowed = live[0]
        # An indexed segment is immutable, so whether its keys repeat is known once.
        if view.indexes and view.keys_unique:
            k = min(want, available)
            return _one_segment_hits(view, schema, output, plan, queries, k, allowed)
    # Group-by asks for enough candidates that ``limit`` groups usually fill up at once.
    group_size = plan.group_by.size if plan.group_by is not None else 0
    k = want if not group_size else max(want * group_size * 4, 256)
    k = max(1, min(k, available))
    while True:
        ids, scores = _candidates(live, queries, k, plan)
        keys = _key_matrix(views, ids, schema)
        found = np.count_nonzero(ids >= 0, axis=1)
        removed = _dedup_rows(views, ids, scores, keys)
        if k >= available or (plan.group_by is None and not removed):
            break
        # Queries whose candidate list came back full may have more to give.
        if plan.group_by is None:
            short = np.count_nonzero(ids >= 0, axis=1) < want
        else:
            short = _groups_found(views, ids, plan) < want
        if not (short & (found >= k)).any():
            break
        # Duplicate keys or sparse groups used up the candidates: look further.
        k = min(k * 2, available)
    if plan.group_by is None:
        return _flat_hits(views, schema, output, plan, ids, scores, keys)
    return _grouped_hits(views, schema, output, plan, ids, scores)


def _with_vectors(allowed: np.ndarray | None, view: SegmentView, field: str) -> np.ndarray | None:
    """Rows without a vector in the searched field never match (nullable vector fields)."""
    valid = view.search_validity(field)
    if valid is None:
        return allowed
    return valid if allowed is None else allowed & valid


#: Segments at least this big get a core of their own when a single query fans out
#: over segments; a smaller one is searched in the caller's thread (an index probe or
#: a scan of a few thousand rows takes less than handing work to another thread).
FANOUT_MIN_ROWS = 10_000


def _candidates(
    live: Sequence[tuple[int, SegmentView, np.ndarray | None]],
    queries: np.ndarray,
    k: int,
    plan: SearchPlan,
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` rows per query over every segment, left-packed (ids encode segment+row)."""
    metric = plan.params.metric_type

    def search_segments(
        segments: Sequence[tuple[int, SegmentView, np.ndarray | None]],
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        found = []
        for no, view, allowed in segments:
            scores, rows = _segment_topk(view, queries, k, plan, allowed)
            found.append((scores, np.where(rows >= 0, (no << _ROW_BITS) | rows, -1)))
        return found

    heavy = [s for s in live if s[1].num_rows >= FANOUT_MIN_ROWS]
    if queries.shape[0] < thread_settings().batch_min_queries and len(heavy) > 1:
        # A few queries probe each segment on one core: spread the big segments over the
        # cores; small ones (a growing segment's tail) cost less than a thread hand-off.
        light = [s for s in live if s[1].num_rows < FANOUT_MIN_ROWS]
        blocks = [
            *scan_blocks(lambda start, stop: search_segments(heavy[start:stop]), len(heavy), 1),
            search_segments(light),
        ]
    else:  # one big segment, or a batch that keeps every core busy inside each search
        blocks = [search_segments(live)]
    parts = [part for block in blocks for part in block]
    scores, ids = parts[0] if len(parts) == 1 else merge_parts(parts, k, metric)
    if plan.after is not None:
        beyond = scores < plan.after if larger_is_better(metric) else scores > plan.after
        ids = np.where(beyond, ids, -1)
    ids, scores = _left_pack(ids, scores)
    return ids, scores


def _one_segment_hits(
    view: SegmentView,
    schema: CollectionSchema,
    output: OutputSpec,
    plan: SearchPlan,
    queries: np.ndarray,
    k: int,
    allowed: np.ndarray | None,
) -> SearchHits:
    """The common search: one segment whose keys never repeat, so its top-k is the answer.

    Its rows need no segment number: as the only view it is segment 0.
    """
    scores, rows = _segment_topk(view, queries, k, plan, allowed)
    rows, scores = _left_pack(rows, scores)
    views = (view,)
    return _flat_hits(views, schema, output, plan, rows, scores, _key_matrix(views, rows, schema))


def _groups_found(views: Sequence[SegmentView], ids: np.ndarray, plan: SearchPlan) -> np.ndarray:
    """Distinct group values among each query's candidates."""
    assert plan.group_by is not None
    found = np.zeros(ids.shape[0], dtype=np.int64)
    for q in range(ids.shape[0]):
        hits = ids[q][ids[q] >= 0]
        if len(hits):
            values = _field_values(views, hits >> _ROW_BITS, hits & _ROW_MASK, plan.group_by.field)
            found[q] = len(set(values.to_pylist()))
    return found


def _left_pack(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move each query's real hits (id >= 0) to the front, keeping their order."""
    if ids.size == 0 or ids.min() >= 0:
        return ids, scores
    order = np.argsort(ids < 0, axis=1, kind="stable")
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(scores, order, axis=1)


#: Hits few enough to look their keys up one by one (:func:`_key_matrix`).
_FEW_HITS = 64


def _key_matrix(
    views: Sequence[SegmentView], ids: np.ndarray, schema: CollectionSchema
) -> np.ndarray:
    """Primary keys of every hit (unused slots hold a placeholder)."""
    if len(views) == 1:
        # Every id is a row of segment 0; unused slots (-1) read row 0, a placeholder.
        return views[0].pk[np.maximum(ids, 0)]
    valid = ids >= 0
    dtype = np.int64 if schema.primary.dtype.is_integer else object
    keys = np.zeros(ids.shape, dtype=dtype)
    if ids.size <= _FEW_HITS:
        # A single query's page: a lookup per hit beats grouping the hits by segment.
        for q, col in zip(*np.nonzero(valid), strict=True):
            hit = int(ids[q, col])
            keys[q, col] = views[hit >> _ROW_BITS].pk[hit & _ROW_MASK]
        return keys
    seg_no = np.where(valid, ids >> _ROW_BITS, -1)
    row = ids & _ROW_MASK
    for no in np.unique(seg_no[valid]):
        where = seg_no == no
        keys[where] = views[int(no)].pk[row[where]]
    return keys


def _dedup_rows(
    views: Sequence[SegmentView], ids: np.ndarray, scores: np.ndarray, keys: np.ndarray
) -> bool:
    """In place: per query, drop all but the newest row of a repeated key (rare).

    Returns whether anything was dropped.
    """
    removed = False
    for q in _rows_with_repeats(ids, keys):
        count = int(np.count_nonzero(ids[q] >= 0))
        if count < 2 or len(set(keys[q, :count].tolist())) == count:
            continue
        keep = _newest_first_hit_per_key(
            views, ids[q, :count] >> _ROW_BITS, ids[q, :count] & _ROW_MASK
        )
        kept = len(keep)
        ids[q, :kept], scores[q, :kept], keys[q, :kept] = (
            ids[q, keep],
            scores[q, keep],
            keys[q, keep],
        )
        ids[q, kept:] = -1
        removed = True
    return removed


def _rows_with_repeats(ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Queries whose hits may repeat a key, found with one vectorised sort for integer keys."""
    nq, width = ids.shape
    if width < 2:
        return np.empty(0, dtype=np.int64)
    if keys.dtype == object or nq < 8:
        # Few queries: a set per query is cheaper than setting up the sort.
        valid = ids >= 0
        return np.asarray(
            [q for q in range(nq) if len(set(keys[q][valid[q]].tolist())) < valid[q].sum()],
            dtype=np.int64,
        )
    # Empty slots get distinct placeholders below every real key, so they never match.
    filler = _INT64_MIN + np.arange(width, dtype=np.int64)
    ordered = np.sort(np.where(ids >= 0, keys, filler), axis=1)
    return np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))


def _flat_hits(
    views: Sequence[SegmentView],
    schema: CollectionSchema,
    output: OutputSpec,
    plan: SearchPlan,
    ids: np.ndarray,
    scores: np.ndarray,
    keys: np.ndarray,
) -> SearchHits:
    stop = plan.offset + plan.limit
    if plan.offset or ids.shape[1] > stop:
        ids, scores, keys = (
            ids[:, plan.offset : stop],
            scores[:, plan.offset : stop],
            keys[:, plan.offset : stop],
        )
    nq, width = ids.shape
    if width == 0 or ids.min() >= 0:
        # The usual case: every slot holds a hit, so the rows are the flattened matrix.
        flat_ids, flat_keys, flat_scores = ids.reshape(-1), keys.reshape(-1), scores.reshape(-1)
        topks = [width] * nq
        last_scores = scores[:, -1].tolist() if width else [0.0] * nq
    else:
        valid = ids >= 0
        counts = valid.sum(axis=1)
        last = scores[np.arange(len(counts)), np.maximum(counts - 1, 0)]
        flat_ids, flat_keys, flat_scores = ids[valid], keys[valid], scores[valid]
        topks = counts.tolist()
        last_scores = np.where(counts > 0, last, 0.0).tolist()
    return SearchHits(
        topks,
        flat_keys,
        round_scores(flat_scores.astype(np.float32, copy=False), plan.round_decimal),
        _output_rows(views, flat_ids, output, schema),
        None,
        last_scores,
    )


def _output_rows(
    views: Sequence[SegmentView], flat_ids: np.ndarray, output: OutputSpec, schema: CollectionSchema
) -> pa.Table:
    if not output.columns:
        return _NO_FIELDS
    return gather(views, flat_ids >> _ROW_BITS, flat_ids & _ROW_MASK, output, schema)


def _grouped_hits(
    views: Sequence[SegmentView],
    schema: CollectionSchema,
    output: OutputSpec,
    plan: SearchPlan,
    ids: np.ndarray,
    scores: np.ndarray,
) -> SearchHits:
    topks: list[int] = []
    picked_ids: list[np.ndarray] = []
    picked_scores: list[np.ndarray] = []
    group_parts: list[pa.Array] = []
    for q in range(ids.shape[0]):
        count = int(np.count_nonzero(ids[q] >= 0))
        hit_ids, hit_scores = ids[q, :count], scores[q, :count]
        chosen, values = _group(views, hit_ids, plan)
        topks.append(len(chosen))
        picked_ids.append(hit_ids[chosen])
        picked_scores.append(hit_scores[chosen])
        group_parts.append(values)
    flat_ids = np.concatenate(picked_ids)
    fields = _output_rows(views, flat_ids, output, schema)
    flat_keys = _key_matrix(views, flat_ids[None, :], schema)[0]
    all_scores = round_scores(np.concatenate(picked_scores).astype(np.float32), plan.round_decimal)
    return SearchHits(topks, flat_keys, all_scores, fields, pa.concat_arrays(group_parts))


def _segment_topk(
    view: SegmentView,
    queries: np.ndarray,
    k: int,
    plan: SearchPlan,
    allowed: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    params = plan.params
    if plan.struct_field is not None:
        assert isinstance(queries, ListQueries)
        elements = view.element_vectors(plan.struct_field, plan.element)
        return segment_top_lists(elements, queries, k, params.metric_type, allowed)
    if plan.after is not None:
        # Iterator pages scan exactly, so consecutive pages neither overlap nor skip.
        # The window is exclusive of the last bound: the next float32 beyond it.
        # A range search's own window (radius/range_filter) still bounds every page.
        low_first = not larger_is_better(params.metric_type)
        far = _FAR if low_first else -_FAR
        radius = far if params.radius is None else params.radius
        edge = float(np.nextafter(np.float32(plan.after), np.float32(far)))
        if params.range_filter is not None:
            edge = max(edge, params.range_filter) if low_first else min(edge, params.range_filter)
        if plan.bm25_spec is not None:
            window = replace(params, radius=radius, range_filter=float(edge))
            return _bm25_postings(view, plan).range_search(queries, k, window, allowed)
        if plan.kind != DataType.FLOAT_VECTOR:
            window = replace(params, radius=radius, range_filter=float(edge))
            return kind_search(plan.kind, view.search_data(plan.field), queries, window, k, allowed)
        return exact_range_search(
            view.vector(plan.field), queries, k, params.metric_type, radius, float(edge), allowed
        )
    index = view.vector_index(plan.index_id)
    if index is not None and index.ntotal == view.num_rows:
        return index.search(queries, k, params if params.k == k else replace(params, k=k), allowed)
    if plan.bm25_spec is not None:
        return _bm25_postings(view, plan).search(queries, k, replace(params, k=k), allowed)
    if plan.kind != DataType.FLOAT_VECTOR:
        return kind_search(plan.kind, view.search_data(plan.field), queries, params, k, allowed)
    vectors = view.vector(plan.field)
    if params.is_range:
        assert params.radius is not None
        return exact_range_search(
            vectors, queries, k, params.metric_type, params.radius, params.range_filter, allowed
        )
    return exact_search(vectors, queries, k, params.metric_type, allowed)


def _bm25_postings(view: SegmentView, plan: SearchPlan) -> VectorIndex:
    """Posting lists of a segment without a built BM25 index (growing, or not built yet).

    Building them is linear in the segment's non-zeros, the cost of one exact scan.
    """
    assert plan.bm25_spec is not None
    return build(plan.bm25_spec, view.search_data(plan.field))


def _newest_first_hit_per_key(
    views: Sequence[SegmentView], seg_no: np.ndarray, row: np.ndarray
) -> np.ndarray:
    """Positions to keep: each key once, at its best rank, but only the newest version.

    A key inserted twice (without upsert, which deletes the old row) can match
    twice.  A key appears once in a result; when both versions are among the
    candidates, the newest one stays, as a get by key would return it.  An
    older version that matched alone stays too: like Milvus, Sluice does not
    look for other versions of a key outside the candidates.
    """
    n = len(row)
    if n < 2:
        return np.arange(n)
    keys = np.array([views[int(s)].pk[int(r)] for s, r in zip(seg_no, row, strict=True)])
    if len(np.unique(keys)) == n:
        return np.arange(n)
    stamps = np.array([int(views[int(s)].ts[int(r)]) for s, r in zip(seg_no, row, strict=True)])
    newest: dict[object, int] = {}
    for i, key in enumerate(keys.tolist()):
        best = newest.get(key)
        if best is None or stamps[i] > stamps[best]:
            newest[key] = i
    return np.array(sorted(newest.values()), dtype=np.int64)


def _group(
    views: Sequence[SegmentView], hit_ids: np.ndarray, plan: SearchPlan
) -> tuple[np.ndarray, pa.Array]:
    """Best-first hits regrouped: up to ``limit`` groups (after ``offset``), each ``size`` hits."""
    group_by = plan.group_by
    assert group_by is not None
    values = _field_values(views, hit_ids >> _ROW_BITS, hit_ids & _ROW_MASK, group_by.field)
    members: dict[object, list[int]] = {}
    order: list[object] = []
    for i, value in enumerate(values.to_pylist()):
        if value not in members:
            if len(order) >= plan.limit + plan.offset:
                continue
            members[value] = []
            order.append(value)
        if len(members[value]) < group_by.size:
            members[value].append(i)
    picked = np.asarray(
        [i for value in order[plan.offset :] for i in members[value]], dtype=np.int64
    )
    return picked, values.take(pa.array(picked))


def _field_values(
    views: Sequence[SegmentView], seg_no: np.ndarray, row: np.ndarray, name: str
) -> pa.Array:
    table = gather(views, seg_no, row, OutputSpec((name,), None), schema=None)
    return table.column(name).combine_chunks()


def _empty_keys(schema: CollectionSchema) -> np.ndarray:
    return np.empty(0, dtype=np.int64 if schema.primary.dtype.is_integer else object)


def _no_hits(nq: int, schema: CollectionSchema, output: OutputSpec) -> SearchHits:
    return SearchHits(
        [0] * nq,
        _empty_keys(schema),
        np.empty(0, np.float32),
        empty_table(schema, output) if output.columns else pa.table({}),
        None,
        [0.0] * nq,
    )
