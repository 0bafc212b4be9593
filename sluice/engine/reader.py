"""Reads at a timestamp: visibility, count and query over a collection snapshot.

A row is visible to a read at ``T`` when it was inserted at or before ``T``
and no delete at or before ``T`` (and after the insert) names its key.
Visibility and filters are computed per segment on whole columns; only the
(small) result is assembled row by row.

When several visible rows share a primary key (a key inserted twice), a
query keeps the newest one, as Milvus's reduce step does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.engine.collection import Snapshot
from sluice.engine.columns import SegmentView
from sluice.engine.deletes import DeleteSnapshot
from sluice.engine.output import OutputSpec, project_dynamic
from sluice.engine.scalar_indexes import BuiltScalarIndex, segment_lookup
from sluice.query import BoundExpr, evaluate
from sluice.schema import DYNAMIC_FIELD, CollectionSchema
from sluice.types import arrow_type

#: Filter masks remembered per segment view (oldest evicted first).
_MASKS_PER_VIEW = 16


@dataclass(frozen=True)
class RowFilter:
    """A compiled filter; ``keys`` is set when it is a plain primary-key membership test."""

    bound: BoundExpr | None = None
    keys: np.ndarray | None = None
    #: Identifies the filter with its parameter values (``""``: do not cache).
    cache_key: str = ""

    def mask(self, view: SegmentView) -> np.ndarray | None:
        """Rows of ``view`` that pass (``None``: all of them)."""
        if self.keys is not None:
            return np.isin(view.pk, self.keys)
        if self.bound is None:
            return None
        # A view's rows never change, so a mask (or a decoded JSON path) computed
        # for it stays valid: repeated filters cost a lookup.
        masks: dict[str, np.ndarray] = view.__dict__.setdefault("_filter_masks", {})
        if self.cache_key and self.cache_key in masks:
            return masks[self.cache_key]
        table = view.table(sorted(self.bound.fields))
        json_cache = view.__dict__.setdefault("_json_paths", {})
        scalar = {k: v for k, v in view.indexes.items() if isinstance(v, BuiltScalarIndex)}
        lookup = segment_lookup(view.num_rows, scalar, lambda name: table.column(name))
        mask = np.asarray(evaluate(self.bound, table, json_cache, index=lookup), dtype=bool)
        if self.cache_key:
            if len(masks) >= _MASKS_PER_VIEW:
                masks.pop(next(iter(masks)))
            masks[self.cache_key] = mask
        return mask


def _hidden(view: SegmentView, deletes: DeleteSnapshot) -> np.ndarray | None:
    """Rows of ``view`` a delete hides, cached on the view per delete snapshot."""
    cached = view.__dict__.get("_hidden")
    if cached is not None and cached[0] is deletes:
        return cached[1]
    hidden = deletes.hidden(view.pk, view.ts)
    result = hidden if hidden.any() else None
    view.__dict__["_hidden"] = (deletes, result)
    return result


def visible(view: SegmentView, snapshot: Snapshot) -> np.ndarray | None:
    """MVCC mask of ``view`` at the snapshot's timestamp (``None``: every row)."""
    mask: np.ndarray | None = None
    # Rows of a segment arrive in timestamp order, so the last one is the newest.
    if view.num_rows and int(view.ts[-1]) > snapshot.read_ts:
        mask = view.ts <= np.uint64(snapshot.read_ts)
    if not snapshot.deletes.empty:
        hidden = _hidden(view, snapshot.deletes)
        if hidden is not None:
            mask = ~hidden if mask is None else mask & ~hidden
    return mask


def combined_mask(view: SegmentView, snapshot: Snapshot, flt: RowFilter) -> np.ndarray | None:
    """Visible rows that pass ``flt`` (``None``: every row)."""
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
        mask = combined_mask(view, snapshot, flt)
        total += view.num_rows if mask is None else int(np.count_nonzero(mask))
    return total


def query(
    snapshot: Snapshot,
    schema: CollectionSchema,
    flt: RowFilter,
    output: OutputSpec,
    limit: int | None,
    offset: int,
    order_by: Sequence[tuple[str, str]] = (),
) -> pa.Table:
    """Matching rows, newest version per key, ordered by primary key (or ``order_by``,
    then primary key), then paginated."""
    seg_nos, rows, pks, stamps = [], [], [], []
    for no, view in enumerate(snapshot.segments):
        mask = combined_mask(view, snapshot, flt)
        idx = np.arange(view.num_rows) if mask is None else np.flatnonzero(mask)
        if len(idx) == 0:
            continue
        seg_nos.append(np.full(len(idx), no, dtype=np.int64))
        rows.append(idx)
        pks.append(view.pk[idx])
        stamps.append(view.ts[idx])
    if not rows:
        return empty_table(schema, output)
    seg_no = np.concatenate(seg_nos)
    row = np.concatenate(rows)
    order = _newest_per_key_sorted(np.concatenate(pks), np.concatenate(stamps))
    if order_by:
        order = _ordered_by(snapshot.segments, seg_no, row, order, order_by)
    stop = len(order) if limit is None else offset + limit
    order = order[offset:stop]
    return gather(snapshot.segments, seg_no[order], row[order], output, schema)


def _ordered_by(
    segments: Sequence[SegmentView],
    seg_no: np.ndarray,
    row: np.ndarray,
    order: np.ndarray,
    order_by: Sequence[tuple[str, str]],
) -> np.ndarray:
    """``order`` (key-sorted candidates) re-sorted by the fields; ties keep key order."""
    names = [name for name, _ in order_by]
    keys = gather(segments, seg_no[order], row[order], OutputSpec(tuple(names), None), None)
    keys = keys.append_column("__rank", pa.array(np.arange(len(order))))
    sort_keys = [(name, direction) for name, direction in order_by] + [("__rank", "ascending")]
    ranked = pc.sort_indices(keys, sort_keys=sort_keys, null_placement="at_end")
    return order[np.asarray(ranked)]


def _newest_per_key_sorted(pk: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Indices of the newest row per key, in ascending key order."""
    if pk.dtype == object:
        by_ts = np.argsort(ts, kind="stable")
        order = by_ts[np.argsort(pk[by_ts].astype(str), kind="stable")]
    else:
        order = np.lexsort((ts, pk))
    sorted_pk = pk[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = sorted_pk[1:] != sorted_pk[:-1]
    return order[last]


def gather(
    segments: Sequence[SegmentView],
    seg_no: np.ndarray,
    row: np.ndarray,
    output: OutputSpec,
    schema: CollectionSchema | None,
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
        if schema is None:
            return pa.table({name: pa.array([]) for name in columns})
        return empty_table(schema, output)
    if len(pieces) == 1:
        result = pieces[0]
    else:
        merged = pa.concat_tables(pieces)
        inverse = np.empty(len(row), dtype=np.int64)
        inverse[np.concatenate(positions)] = np.arange(len(row))
        result = merged.take(pa.array(inverse))
    if output.dynamic_keys:
        idx = result.column_names.index(DYNAMIC_FIELD)
        projected = project_dynamic(result.column(DYNAMIC_FIELD), output.dynamic_keys)
        result = result.set_column(idx, DYNAMIC_FIELD, projected)
    return result


def empty_table(schema: CollectionSchema, output: OutputSpec) -> pa.Table:
    fields = []
    for name in output.columns:
        fld = schema.get(name) if name != DYNAMIC_FIELD else schema.dynamic_field
        assert fld is not None
        fields.append(pa.field(name, arrow_type(fld)))
    return pa.schema(fields).empty_table()
