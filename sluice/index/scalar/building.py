"""Building a scalar index from a spec and one sealed segment's column.

This is the one entry point the engine calls per segment: it picks the
structure the spec resolved to (HYBRID decides by counting distinct values,
as Milvus's hybrid index does) and hands the column to it.  Column shapes:

* BOOL, INT8-INT64, FLOAT, DOUBLE, VARCHAR: the primitive Arrow array;
* TIMESTAMPTZ: int64 (or an Arrow timestamp, read as its int64 value);
* ARRAY: ``list<element>``;
* JSON: binary (or string) cells holding the JSON text;
* GEOMETRY: binary WKB or string WKT cells.

Chunked arrays are accepted.  Row offsets in every answer are positions in
this column, so the engine must build and query with the same row order.
"""

from __future__ import annotations

import numpy as np

from sluice.index.scalar.base import ScalarIndex
from sluice.index.scalar.bitmap import BitmapIndex
from sluice.index.scalar.columns import ArrowColumn, KeyColumn, key_column
from sluice.index.scalar.domain import INT
from sluice.index.scalar.json_index import JsonPathIndex
from sluice.index.scalar.jsoncast import json_keys
from sluice.index.scalar.ngram import NgramIndex
from sluice.index.scalar.rtree import RTreeIndex
from sluice.index.scalar.sorted_index import InvertedIndex, SortIndex, TrieIndex
from sluice.index.scalar.spec import (
    BITMAP,
    HYBRID,
    INVERTED,
    NGRAM,
    RTREE,
    STL_SORT,
    TRIE,
    ScalarIndexSpec,
)


def _from_keys(spec: ScalarIndexSpec, keys: KeyColumn) -> ScalarIndex:
    engine = spec.engine_type
    if engine == HYBRID:
        if keys.keys.dtype == object:
            distinct = len(set(keys.keys.tolist()))
        else:
            distinct = len(np.unique(keys.keys))
        if distinct < spec.bitmap_cardinality_limit:
            return BitmapIndex.build(keys)
        if keys.domain == INT and not keys.is_array:
            return SortIndex.build(keys)
        return InvertedIndex.build(keys)
    if engine == STL_SORT:
        return SortIndex.build(keys)
    if engine == INVERTED:
        return InvertedIndex.build(keys)
    if engine == BITMAP:
        return BitmapIndex.build(keys)
    if engine == TRIE:
        return TrieIndex.build(keys)
    if engine == NGRAM:
        assert spec.min_gram is not None and spec.max_gram is not None
        return NgramIndex.build(keys, spec.min_gram, spec.max_gram)
    raise ValueError(f"{engine} does not index {spec.dtype.milvus_name} values")


def build_scalar_index(spec: ScalarIndexSpec, column: ArrowColumn) -> ScalarIndex:
    """Build the index ``spec`` describes over ``column`` (one sealed segment's rows)."""
    if spec.engine_type == RTREE:
        return RTreeIndex.build(column)
    if spec.is_json:
        assert spec.json_cast_type is not None
        extracted = json_keys(
            column,
            spec.nested_path,
            spec.json_cast_type,
            dynamic=spec.is_dynamic,
            cast_function=spec.json_cast_function,
        )
        inner = {domain: _from_keys(spec, keys) for domain, keys in extracted.by_domain.items()}
        return JsonPathIndex(
            inner,
            spec.nested_path,
            spec.json_cast_type,
            extracted.num_rows,
            extracted.present,
            extracted.array_rows,
            extracted.has_inexact_ints,
            spec.json_cast_function,
        )
    return _from_keys(spec, key_column(column, spec.dtype, spec.element_type))
