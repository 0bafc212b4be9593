"""Token indexes that answer ``text_match`` and ``phrase_match`` for a collection's segments.

A Flushed segment gets one :class:`~sluice.text.TokenIndex` per match-enabled
field, built by the index builder beside the segment's vector indexes,
written to ``index_files/<coll>/<part>/<seg>/match_<field id>.stix`` and
loaded at start-up (a file that is missing or does not decode is rebuilt;
the file is derived data, so losing it loses nothing).  Every other segment
is answered by analysing its rows: a growing segment only ever gains rows,
so its rows are indexed in chunks as they arrive and earlier chunks are
reused by later reads.  The filter evaluator reaches all of this through
its index hook (:class:`SegmentTextLookup`), which answers the text leaves
and passes every other leaf on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sluice.engine.text_fields import field_analyzer, match_fields
from sluice.query import IndexLeaf, IndexLookup
from sluice.query.index_hook import PHRASE_MATCH, TEXT_MATCH
from sluice.schema import CollectionSchema, FieldSchema
from sluice.text import Analyzer, TokenIndex

log = logging.getLogger(__name__)

#: Chunks kept per growing segment and field before they are rebuilt as one.
MAX_CHUNKS = 32

ColumnReader = Callable[[str], "pa.ChunkedArray | pa.Array"]


def text_index_path(collection_id: int, partition_id: int, segment_id: int, field_id: int) -> str:
    return f"index_files/{collection_id}/{partition_id}/{segment_id}/match_{field_id}.stix"


class TextMatchIndexes:
    """A collection's token indexes: one per (sealed segment, field), chunks for the rest."""

    def __init__(self, schema: CollectionSchema) -> None:
        self.fields: dict[str, FieldSchema] = {}
        self.analyzers: dict[str, Analyzer] = {}
        self._sealed: dict[tuple[int, str], TokenIndex] = {}
        self._chunks: dict[tuple[int, str], list[TokenIndex]] = {}
        self._lock = threading.Lock()
        self.follow(schema)

    def follow(self, schema: CollectionSchema) -> None:
        """Take in match-enabled fields the schema gained (AddCollectionField)."""
        for field in match_fields(schema):
            if field.name not in self.fields:
                self.analyzers[field.name] = field_analyzer(field)
                self.fields = {**self.fields, field.name: field}

    def has_sealed(self, segment_id: int, field: str) -> bool:
        return (segment_id, field) in self._sealed

    def publish(self, segment_id: int, field: str, index: TokenIndex) -> None:
        """A sealed segment's index is ready: reads use it and drop the chunks."""
        with self._lock:
            self._sealed[(segment_id, field)] = index
            self._chunks.pop((segment_id, field), None)

    def forget(self, segment_id: int) -> None:
        """Drop a segment's indexes (it left memory; loading it publishes them again)."""
        with self._lock:
            for key in [k for k in self._sealed if k[0] == segment_id]:
                del self._sealed[key]
            for key in [k for k in self._chunks if k[0] == segment_id]:
                del self._chunks[key]

    def lookup(
        self, segment_id: int, num_rows: int, column: ColumnReader, fallback: IndexLookup | None
    ) -> SegmentTextLookup:
        return SegmentTextLookup(self, segment_id, num_rows, column, fallback)

    def indexes(
        self, segment_id: int, field: str, num_rows: int, column: ColumnReader
    ) -> list[TokenIndex]:
        """Indexes covering (at least) the first ``num_rows`` rows of the segment, in row order."""
        key = (segment_id, field)
        sealed = self._sealed.get(key)
        if sealed is not None and sealed.num_rows >= num_rows:
            return [sealed]
        with self._lock:
            chunks = list(self._chunks.get(key, ()))
        covered = sum(c.num_rows for c in chunks)
        if covered >= num_rows:
            return chunks
        if len(chunks) >= MAX_CHUNKS:
            # Many small inserts left many small chunks: analyse the rows again as one.
            chunks, covered = [], 0
        texts = _texts(column(field), covered, num_rows)
        extended = [*chunks, TokenIndex.build(self.analyzers[field], texts)]
        with self._lock:
            # A concurrent reader may have extended the chunks too; keep the longer cover.
            current = self._chunks.get(key, [])
            if key not in self._sealed and sum(c.num_rows for c in current) < num_rows:
                self._chunks[key] = extended
        return extended


@dataclass(frozen=True)
class SegmentTextLookup:
    """The evaluator's index hook for one segment: text leaves here, the rest to ``fallback``."""

    owner: TextMatchIndexes
    segment_id: int
    num_rows: int
    column: ColumnReader
    fallback: IndexLookup | None = None

    def lookup(self, leaf: IndexLeaf, num_rows: int) -> np.ndarray | None:
        if leaf.op not in (TEXT_MATCH, PHRASE_MATCH):
            return None if self.fallback is None else self.fallback.lookup(leaf, num_rows)
        analyzer = self.owner.analyzers.get(leaf.field)
        if analyzer is None:
            return None
        parts = self.owner.indexes(self.segment_id, leaf.field, num_rows, self.column)
        return match(parts, analyzer, leaf, num_rows)


@dataclass(frozen=True)
class TableTextLookup:
    """Text leaves over an arbitrary batch (a search's hits): its rows are analysed on the spot."""

    analyzers: dict[str, Analyzer]
    table: pa.Table

    def lookup(self, leaf: IndexLeaf, num_rows: int) -> np.ndarray | None:
        analyzer = self.analyzers.get(leaf.field)
        if leaf.op not in (TEXT_MATCH, PHRASE_MATCH) or analyzer is None:
            return None
        index = TokenIndex.build(analyzer, _texts(self.table.column(leaf.field), 0, num_rows))
        return match([index], analyzer, leaf, num_rows)


def match(
    parts: Sequence[TokenIndex], analyzer: Analyzer, leaf: IndexLeaf, num_rows: int
) -> np.ndarray:
    query = str(leaf.operands[0])
    if leaf.op == TEXT_MATCH:
        masks = [p.text_match(analyzer, query) for p in parts]
    else:
        slop = int(leaf.operands[1])  # type: ignore[arg-type]
        masks = [p.phrase_match(analyzer, query, slop) for p in parts]
    mask = masks[0] if len(masks) == 1 else np.concatenate(masks)
    return mask[:num_rows]


def _texts(column: pa.ChunkedArray | pa.Array, start: int, stop: int) -> list[str | None]:
    values: list[str | None] = column.slice(start, stop - start).to_pylist()
    return values
