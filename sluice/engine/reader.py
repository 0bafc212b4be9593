"""Reads at a timestamp: count, query and vector search over a collection snapshot.

A row is visible to a read at ``T`` when it was inserted at or before ``T``
and no delete at or before ``T`` (and after the insert) names its key.
Visibility, filters and distances are computed per segment on whole
columns; only the (small) result is assembled row by row.

When several visible rows share a primary key (a key inserted twice), a
result keeps the newest one, as Milvus's reduce step does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sluice.engine.collection import Snapshot
from sluice.engine.columns import SegmentView
from sluice.engine.output import OutputSpec, project_dynamic, round_scores
from sluice.index import exact_search, merge_topk
from sluice.query import BoundExpr, evaluate
from sluice.schema import DYNAMIC_FIELD, CollectionSchema


@dataclass(frozen=True)
class RowFilter:
    """A compiled filter; ``keys`` is set when it is a plain primary-key membership test."""

    bound: BoundExpr | None = None
    keys: np.ndarray | None = None

    def mask(self, view: SegmentView) -> np.ndarray | None:
        """Rows of ``view`` that pass (``None``: all of them)."""
        if self.keys is not None:
            return np.isin(view.pk, self.keys)
        if self.bound is None:
            return None
        table = view.table(sorted(self.bound.fields))
        return np.asarray(evaluate(self.bound, table), dtype=bool)


def visible(view: SegmentView, snapshot: Snapshot) -> np.ndarray | None:
    """MVCC mask of ``view`` at the snapshot's timestamp (``None``: every row)."""
    mask: np.ndarray | None = None
    # Rows of a segment arrive in timestamp order, so the last one is the newest.
    if len(view.ts) and int(view.ts[-1]) > snapshot.read_ts:
        mask = view.ts <= np.uint64(snapshot.read_ts)
    if not snapshot.deletes.empty:
        hidden = snapshot.deletes.hidden(view.pk, view.ts)
        if hidden.any():
            mask = ~hidden if mask is None else mask & ~hidden
    return mask


def _combined(view: SegmentView, snapshot: Snapshot, flt: RowFilter) -> np.ndarray | None:
    a = visible(view, snapshot)
    b = flt.mask(view)
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def count(snapshot: Snapshot, flt: RowFilter) -> int:
    total = 0
    for view in snapshot.segments:
        mask = _combined(view, snapshot, flt)
        total += view.num_rows if mask is None else int(np.count_nonzero(mask))
    return total


def query(
    snapshot: Snapshot,
    schema: CollectionSchema,
    flt: RowFilter,
    output: OutputSpec,
    limit: int | None,
    offset: int,
) -> pa.Table:
    """Matching rows, newest version per key, ordered by primary key, then paginated."""
    seg_nos, rows, pks, stamps = [], [], [], []
    for no, view in enumerate(snapshot.segments):
        mask = _combined(view, snapshot, flt)
        idx = np.arange(view.num_rows) if mask is None else np.flatnonzero(mask)
        if len(idx) == 0:
            continue
        seg_nos.append(np.full(len(idx), no, dtype=np.int64))
        rows.append(idx)
        pks.append(view.pk[idx])
        stamps.append(view.ts[idx])
    if not rows:
        return _empty(schema, output)
    seg_no = np.concatenate(seg_nos)
    row = np.concatenate(rows)
    pk = np.concatenate(pks)
    ts = np.concatenate(stamps)
    order = _newest_per_key_sorted(pk, ts)
    stop = len(order) if limit is None else offset + limit
    order = order[offset:stop]
    return gather(snapshot.segments, seg_no[order], row[order], output, schema)


def _newest_per_key_sorted(pk: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Indices of the newest row per key, in ascending key order."""
    order = np.lexsort((ts, pk)) if pk.dtype != object else _object_lexsort(pk, ts)
    sorted_pk = pk[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = sorted_pk[1:] != sorted_pk[:-1]
    return order[last]


def _object_lexsort(pk: np.ndarray, ts: np.ndarray) -> np.ndarray:
    by_ts = np.argsort(ts, kind="stable")
    return by_ts[np.argsort(pk[by_ts].astype(str), kind="stable")]


def gather(
    segments: Sequence[SegmentView],
    seg_no: np.ndarray,
    row: np.ndarray,
    output: OutputSpec,
    schema: CollectionSchema,
) -> pa.Table:
    """Columns of ``output`` for the given (segment, row) pairs, in that order."""
    columns = list(output.columns)
    pieces: list[pa.Table] = []
    positions: list[np.ndarray] = []
    for no in np.unique(seg_no):
        where = np.flatnonzero(seg_no == no)
        table = segments[int(no)].table(columns).select(columns)
        pieces.append(table.take(pa.array(row[where])))
        positions.append(where)
    if not pieces:
        return _empty(schema, output)
    merged = pa.concat_tables(pieces)
    inverse = np.empty(len(row), dtype=np.int64)
    inverse[np.concatenate(positions)] = np.arange(len(row))
    result = merged.take(pa.array(inverse))
    if output.dynamic_keys:
        idx = result.column_names.index(DYNAMIC_FIELD)
        projected = project_dynamic(result.column(DYNAMIC_FIELD), output.dynamic_keys)
        result = result.set_column(idx, DYNAMIC_FIELD, projected)
    return result


def _empty(schema: CollectionSchema, output: OutputSpec) -> pa.Table:
    fields = []
    for name in output.columns:
        fld = schema.get(name) if name != DYNAMIC_FIELD else schema.dynamic_field
        assert fld is not None
        fields.append(pa.field(name, fld.arrow_type))
    return pa.schema(fields).empty_table()


@dataclass(frozen=True)
class SearchHits:
    """Per query: the hit keys and scores; ``fields`` holds output rows for all hits in order."""

    topks: list[int]
    pks: np.ndarray
    scores: np.ndarray
    fields: pa.Table


def search(
    snapshot: Snapshot,
    schema: CollectionSchema,
    field_name: str,
    queries: np.ndarray,
    limit: int,
    metric: str,
    flt: RowFilter,
    output: OutputSpec,
    *,
    offset: int = 0,
    round_decimal: int = -1,
) -> SearchHits:
    """Exact top-``limit`` per query across every segment (indexes arrive with the read path)."""
    k = limit + offset
    nq = len(queries)
    per_segment = []
    for no, view in enumerate(snapshot.segments):
        allowed = _combined(view, snapshot, flt)
        if allowed is not None and not allowed.any():
            continue
        scores, idx = exact_search(view.vectors[field_name], queries, k, metric, allowed)
        encoded = np.where(idx >= 0, (np.int64(no) << 40) | idx, -1)
        per_segment.append((scores, encoded))
    if not per_segment:
        return SearchHits(
            [0] * nq, _empty_pk(schema), np.empty(0, np.float32), _empty(schema, output)
        )
    scores, ids = merge_topk(per_segment, k, metric)
    topks: list[int] = []
    all_seg: list[np.ndarray] = []
    all_row: list[np.ndarray] = []
    all_scores: list[np.ndarray] = []
    for q in range(nq):
        valid = ids[q] >= 0
        hit_ids, hit_scores = ids[q][valid], scores[q][valid]
        seg_no, row = hit_ids >> 40, hit_ids & ((1 << 40) - 1)
        keep = _dedup_hits(snapshot.segments, seg_no, row)
        seg_no, row = seg_no[keep][offset:k], row[keep][offset:k]
        hit_scores = hit_scores[keep][offset:k]
        topks.append(len(row))
        all_seg.append(seg_no)
        all_row.append(row)
        all_scores.append(hit_scores)
    seg_cat = np.concatenate(all_seg) if all_seg else np.empty(0, np.int64)
    row_cat = np.concatenate(all_row) if all_row else np.empty(0, np.int64)
    pks = _pks_of(snapshot.segments, seg_cat, row_cat, schema)
    fields = (
        gather(snapshot.segments, seg_cat, row_cat, output, schema)
        if output.columns
        else pa.table({})
    )
    score_cat = round_scores(np.concatenate(all_scores).astype(np.float32), round_decimal)
    return SearchHits(topks, pks, score_cat, fields)


def _dedup_hits(segments: Sequence[SegmentView], seg_no: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Keep the first hit of each key (hits are best-first)."""
    if len(row) < 2:
        return np.arange(len(row))
    keys = [segments[int(s)].pk[int(r)] for s, r in zip(seg_no, row, strict=True)]
    seen: set[object] = set()
    keep = []
    for i, key in enumerate(keys):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def _pks_of(
    segments: Sequence[SegmentView], seg_no: np.ndarray, row: np.ndarray, schema: CollectionSchema
) -> np.ndarray:
    if len(row) == 0:
        return _empty_pk(schema)
    return np.asarray([segments[int(s)].pk[int(r)] for s, r in zip(seg_no, row, strict=True)])


def _empty_pk(schema: CollectionSchema) -> np.ndarray:
    return np.empty(0, dtype=np.int64 if schema.primary.dtype.is_integer else object)
