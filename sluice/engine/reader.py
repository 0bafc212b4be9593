"""Reads at a timestamp: visibility, count and query over a collection snapshot.

A row is visible to a read at ``T`` when it was inserted at or before ``T``
and no delete at or before ``T`` (and after the insert) names its key.
Visibility and filters are computed per segment on whole columns; only the
(small) result is assembled row by row.  A filter that only names primary
keys (``get``, ``id in [...]``) looks its rows up in each segment's sorted
keys instead, and checks visibility of those rows alone.  Filters on fields
with scalar indexes ask the segment's indexes first (:meth:`SegmentView.scalar_lookup`).

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
from sluice.engine.output import OutputSpec, narrow_outputs, project_dynamic
from sluice.engine.text_match import TextMatchIndexes
from sluice.query import BoundExpr, IndexLookup, evaluate, indexed_rows
from sluice.schema import DYNAMIC_FIELD, CollectionSchema
from sluice.types import arrow_type


@dataclass(frozen=True)
class CompiledFilter:
    """A filter compiled for reads; ``keys`` is set when it only names primary keys."""

    bound: BoundExpr | None = None
    keys: np.ndarray | None = None
    #: Identifies the filter with its parameter values (``""``: do not cache).
    cache_key: str = ""
    #: The collection's token indexes, when the filter uses ``text_match``/``phrase_match``.
    text: TextMatchIndexes | None = None

    def indexed_rows(self, view: SegmentView) -> np.ndarray | None:
        """Rows of ``view`` that pass, when one index lookup answers the whole filter."""
        hook = view.scalar_lookup() if self.bound is not None else None
        if hook is None or self.bound is None:
            return None
        table = view.table(sorted(self.bound.fields))
        return indexed_rows(self.bound, table, hook, view.cache.json_paths)

    def mask(self, view: SegmentView) -> np.ndarray | None:
        """Rows of ``view`` that pass (``None``: all of them)."""
        if self.keys is not None:
            mask = np.zeros(view.num_rows, dtype=bool)
            mask[view.key_rows(self.keys)] = True
            return mask
        if self.bound is None:
            return None
        cache = view.cache
        if self.cache_key:
            cached = cache.filter_masks.get(self.cache_key)
            if cached is not None:
                return cached
        table = view.table(sorted(self.bound.fields))
        hook: IndexLookup | None = view.scalar_lookup()
        if self.text is not None:
            # Text leaves go to the token indexes, every other leaf on to the scalar ones.
            hook = self.text.lookup(view.segment_id, view.num_rows, table.column, hook)
        mask = np.asarray(evaluate(self.bound, table, cache.json_paths, index=hook), dtype=bool)
        if self.cache_key:
            cache.remember_mask(self.cache_key, mask)
        return mask


def _hidden(view: SegmentView, deletes: DeleteSnapshot) -> np.ndarray | None:
    """Rows of ``view`` a delete hides (``None``: none), remembered per delete snapshot."""
    known, rows = view.cache.hidden_rows(deletes)
    if known:
        return rows
    hidden = deletes.hidden(view.pk, view.ts, view.partition_id)
    result = hidden if hidden.any() else None
    view.cache.hidden = (deletes, result)
    return result


def visible(view: SegmentView, snapshot: Snapshot) -> np.ndarray | None:
    """MVCC mask of ``view`` at the snapshot's timestamp (``None``: every row).

    Rows inserted before the snapshot's ``expire_before`` (the collection's
    TTL) are invisible too.
    """
    mask: np.ndarray | None = None
    # Rows of a segment arrive in timestamp order, so the last one is the newest.
    if view.num_rows and int(view.ts[-1]) > snapshot.read_ts:
        mask = view.ts <= np.uint64(snapshot.read_ts)
    expire = snapshot.expire_before
    if expire and view.num_rows and int(view.ts[0]) < expire:
        alive = view.ts >= np.uint64(expire)
        mask = alive if mask is None else mask & alive
    if not snapshot.deletes.empty:
        hidden = _hidden(view, snapshot.deletes)
        if hidden is not None:
            mask = ~hidden if mask is None else mask & ~hidden
    return mask


def visible_rows(view: SegmentView, snapshot: Snapshot, rows: np.ndarray) -> np.ndarray:
    """The visible ones among ``rows`` of ``view``, checking only those rows (as :func:`visible`)."""
    if len(rows) == 0:
        return rows
    keep: np.ndarray | None = None
    # Rows of a segment arrive in timestamp order: when the newest is old enough, all are.
    if int(view.ts[-1]) > snapshot.read_ts:
        keep = view.ts[rows] <= np.uint64(snapshot.read_ts)
    expire = snapshot.expire_before
    if expire and int(view.ts[0]) < expire:
        alive = view.ts[rows] >= np.uint64(expire)
        keep = alive if keep is None else keep & alive
    if not snapshot.deletes.empty:
        hidden = snapshot.deletes.hidden(view.pk[rows], view.ts[rows], view.partition_id)
        keep = ~hidden if keep is None else keep & ~hidden
    return rows if keep is None or keep.all() else rows[keep]


def combined_mask(view: SegmentView, snapshot: Snapshot, flt: CompiledFilter) -> np.ndarray | None:
    """Visible rows that pass ``flt`` (``None``: every row)."""
    a = visible(view, snapshot)
    b = flt.mask(view)
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def matching_rows(view: SegmentView, snapshot: Snapshot, flt: CompiledFilter) -> np.ndarray:
    """Visible rows of ``view`` that pass ``flt``, ascending.

    Primary-key filters and filters one index answers whole look their rows
    up and check visibility of those rows only; others evaluate a mask.
    """
    rows = view.key_rows(flt.keys) if flt.keys is not None else flt.indexed_rows(view)
    if rows is not None:
        return visible_rows(view, snapshot, rows)
    mask = combined_mask(view, snapshot, flt)
    return np.arange(view.num_rows) if mask is None else np.flatnonzero(mask)


def count(snapshot: Snapshot, flt: CompiledFilter) -> int:
    total = 0
    for view in snapshot.segments:
        rows = view.key_rows(flt.keys) if flt.keys is not None else flt.indexed_rows(view)
        if rows is not None:
            total += len(visible_rows(view, snapshot, rows))
            continue
        mask = combined_mask(view, snapshot, flt)
        total += view.num_rows if mask is None else int(np.count_nonzero(mask))
    return total


def query(
    snapshot: Snapshot,
    schema: CollectionSchema,
    flt: CompiledFilter,
    output: OutputSpec,
    limit: int | None,
    offset: int,
    order_by: Sequence[tuple[str, str]] = (),
) -> pa.Table:
    """Matching rows, newest version per key, ordered by primary key (or ``order_by``,
    then primary key), then paginated."""
    seg_nos, rows, pks, stamps = [], [], [], []
    for no, view in enumerate(snapshot.segments):
        idx = matching_rows(view, snapshot, flt)
        if len(idx) == 0:
            continue
        seg_nos.append(np.full(len(idx), no, dtype=np.int64))
        rows.append(idx)
        pks.append(view.pk[idx])
        stamps.append(view.ts[idx])
    if not rows:
        return empty_table(schema, output)
    if len(rows) == 1 and len(rows[0]) == 1:  # a get of one key: nothing to order
        if offset > 0 or limit == 0:
            return empty_table(schema, output)
        return gather(snapshot.segments, seg_nos[0], rows[0], output, schema)
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
    for no in np.unique(seg_no) if len(seg_no) > 1 else seg_no:
        where = np.flatnonzero(seg_no == no) if len(seg_no) > 1 else np.zeros(1, dtype=np.int64)
        pieces.append(take_rows(_output_table(segments[int(no)], columns), row[where]))
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
    if schema is None:
        if output.dynamic_keys:
            idx = result.column_names.index(DYNAMIC_FIELD)
            projected = project_dynamic(result.column(DYNAMIC_FIELD), output.dynamic_keys)
            result = result.set_column(idx, DYNAMIC_FIELD, projected)
        return result
    return narrow_outputs(result, schema, output)


def _output_table(view: SegmentView, columns: list[str]) -> pa.Table:
    scalar = view.scalar_table()
    names = scalar.schema.names
    if all(c in names for c in columns):
        return scalar.select(columns)  # no vectors or timestamps: no new table to build
    return view.table(columns).select(columns)


#: Up to this many rows, :func:`take_rows` slices instead of gathering.
_SLICED_ROWS = 16


def take_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """``table.take(rows)`` reading only the chunks that hold ``rows``.

    pyarrow's ``take`` on a chunked column concatenates every chunk first, so
    fetching a few rows of a million-row segment would copy the whole
    segment; here each chunk holding wanted rows is taken from alone.
    """
    if len(rows) == 1:
        return table.slice(int(rows[0]), 1)
    batches = table.to_batches()
    if len(batches) <= 1 and len(rows) > _SLICED_ROWS:
        return table.take(pa.array(rows))
    lengths = np.fromiter((b.num_rows for b in batches), dtype=np.int64, count=len(batches))
    ends = np.cumsum(lengths)
    which = np.searchsorted(ends, rows, side="right")
    if len(rows) <= _SLICED_ROWS:
        # A get: one zero-copy slice per row beats a gather (and any concatenation).
        starts = (ends - lengths).tolist()
        places = zip(which.tolist(), rows.tolist(), strict=True)
        pieces = [batches[b].slice(r - starts[b], 1) for b, r in places]
        return pa.Table.from_batches(pieces, schema=table.schema).combine_chunks()
    order = np.argsort(which, kind="stable")
    grouped = which[order]
    parts = []
    for batch_no in np.unique(grouped):
        lo, hi = np.searchsorted(grouped, [batch_no, batch_no + 1])
        local = rows[order[lo:hi]] - (ends[batch_no] - lengths[batch_no])
        parts.append(batches[int(batch_no)].take(pa.array(local)))
    taken = pa.Table.from_batches(parts, schema=table.schema).combine_chunks()
    inverse = np.empty(len(rows), dtype=np.int64)
    inverse[order] = np.arange(len(rows))
    return taken.take(pa.array(inverse))


def empty_table(schema: CollectionSchema, output: OutputSpec) -> pa.Table:
    fields = []
    for name in output.columns:
        fld = schema.get(name) if name != DYNAMIC_FIELD else schema.dynamic_field
        assert fld is not None
        fields.append(pa.field(name, arrow_type(fld)))
    return pa.schema(fields).empty_table()
