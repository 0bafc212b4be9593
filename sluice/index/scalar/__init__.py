"""Scalar indexes: INVERTED, STL_SORT, BITMAP, TRIE, NGRAM, RTREE and JSON path indexes.

What the engine calls, per index and per sealed segment:

    spec = parse_scalar_index_spec(field, index_type, params,
                                   resolve_json_path=resolver)   # CreateIndex; Milvus's errors
    index = build_scalar_index(spec, column)     # one segment's Arrow column
    blob = to_bytes(index); index = from_bytes(blob)             # persistence
    lookup = SegmentIndexes(num_rows, {(field, nested_path): index, ...}, column_reader)
    mask = evaluate(bound, table, index=lookup)  # sluice.query: leaves answered by indexes

Modules, one job each:

* :mod:`~sluice.index.scalar.spec`: Milvus 2.6's per-type rules and wording;
* :mod:`~sluice.index.scalar.building`: :func:`build_scalar_index`;
* :mod:`~sluice.index.scalar.base`: the lookup contract (exact answer or ``None``);
* :mod:`~sluice.index.scalar.sorted_index`: STL_SORT, INVERTED, TRIE;
* :mod:`~sluice.index.scalar.bitmap`: BITMAP (roaring bitmaps);
* :mod:`~sluice.index.scalar.ngram`: NGRAM; :mod:`~sluice.index.scalar.rtree`: RTREE;
* :mod:`~sluice.index.scalar.jsoncast` / :mod:`~sluice.index.scalar.json_index`:
  JSON path values and their typed lookups;
* :mod:`~sluice.index.scalar.domain`, :mod:`~sluice.index.scalar.postings`,
  :mod:`~sluice.index.scalar.columns`, :mod:`~sluice.index.scalar.rows`: keys,
  sorted postings, column conversion, lookup results;
* :mod:`~sluice.index.scalar.codec`: bytes and back;
* :mod:`~sluice.index.scalar.probe`: :class:`SegmentIndexes`, the evaluator's hook.

Nothing here imports the engine, storage, query or API layers.
"""

from sluice.index.scalar.base import ScalarIndex
from sluice.index.scalar.building import build_scalar_index
from sluice.index.scalar.codec import CorruptIndex, from_bytes, to_bytes
from sluice.index.scalar.probe import SegmentIndexes, answer
from sluice.index.scalar.rows import RowHits
from sluice.index.scalar.spec import (
    AUTOINDEX,
    BITMAP,
    HYBRID,
    INVERTED,
    NGRAM,
    RTREE,
    SCALAR_INDEX_TYPES,
    STL_SORT,
    TRIE,
    ScalarIndexSpec,
    auto_index_type,
    parse_scalar_index_spec,
)

__all__ = [
    "AUTOINDEX",
    "BITMAP",
    "HYBRID",
    "INVERTED",
    "NGRAM",
    "RTREE",
    "SCALAR_INDEX_TYPES",
    "STL_SORT",
    "TRIE",
    "CorruptIndex",
    "RowHits",
    "ScalarIndex",
    "ScalarIndexSpec",
    "SegmentIndexes",
    "answer",
    "auto_index_type",
    "build_scalar_index",
    "from_bytes",
    "parse_scalar_index_spec",
    "to_bytes",
]
