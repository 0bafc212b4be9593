"""A segment's token index for ``text_match`` and ``phrase_match``.

Built once from a column of texts with the field's analyzer: every distinct
token gets an ID, and its posting lists the rows it occurs in with the
token's positions, sorted (row, position).  Lookups return boolean row
masks and are vectorised over postings (no per-row Python loops).

Semantics (Milvus's, whose matching is tantivy's):

* ``text_match(field, 'q')`` keeps rows containing any token of the
  analyzed query; a query without tokens matches nothing.
* ``phrase_match(field, 'q', slop)`` keeps rows where every query token
  occurs at positions that, each shifted back by its position in the
  analyzed query (stop words leave gaps), lie within ``slop`` of each
  other: ``max - min <= slop``.  Slop 0 is the exact phrase; slop 2 lets
  two adjacent words swap, as Milvus documents.

The index is immutable; :meth:`TokenIndex.to_bytes` / :meth:`from_bytes`
store it beside a sealed segment.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sluice.text.analyzer import Analyzer

_Mask = npt.NDArray[np.bool_]
_I64 = npt.NDArray[np.int64]
#: Shifted positions fit in 32 bits; rows occupy the high bits of a combined key.
_POSITION_BITS = 32
_POSITION_BIAS = 1 << 30


@dataclass(frozen=True, eq=False)
class TokenIndex:
    num_rows: int
    #: term -> term ID (vocabulary order).
    vocabulary: dict[str, int]
    #: Postings of term ``t`` are ``rows[offsets[t]:offsets[t+1]]`` (with ``positions``).
    offsets: _I64
    rows: npt.NDArray[np.int32]
    positions: npt.NDArray[np.int32]

    @classmethod
    def build(cls, analyzer: Analyzer, texts: Sequence[str | None]) -> TokenIndex:
        """Index ``texts`` (``None``: a null row, which never matches)."""
        vocabulary: dict[str, int] = {}
        term_ids: list[int] = []
        row_ids: list[int] = []
        positions: list[int] = []
        detailed = analyzer.analyze
        for row, text in enumerate(texts):
            if not text:
                continue
            for token in detailed(text):
                term = vocabulary.setdefault(token.text, len(vocabulary))
                term_ids.append(term)
                row_ids.append(row)
                positions.append(token.position)
        terms = np.asarray(term_ids, dtype=np.int64)
        rows = np.asarray(row_ids, dtype=np.int32)
        pos = np.asarray(positions, dtype=np.int32)
        order = np.lexsort((pos, rows, terms))
        offsets = np.zeros(len(vocabulary) + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=len(vocabulary)), out=offsets[1:])
        return cls(len(texts), vocabulary, offsets, rows[order], pos[order])

    def _postings(self, term: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
        tid = self.vocabulary.get(term)
        if tid is None:
            empty = np.zeros(0, dtype=np.int32)
            return empty, empty
        lo, hi = int(self.offsets[tid]), int(self.offsets[tid + 1])
        return self.rows[lo:hi], self.positions[lo:hi]

    def text_match(self, analyzer: Analyzer, query: str) -> _Mask:
        """Rows containing any token of ``query``."""
        mask = np.zeros(self.num_rows, dtype=np.bool_)
        for term in set(analyzer.tokens(query)):
            mask[self._postings(term)[0]] = True
        return mask

    def phrase_match(self, analyzer: Analyzer, query: str, slop: int = 0) -> _Mask:
        """Rows where the analyzed ``query`` occurs as a phrase within ``slop``."""
        if slop < 0:
            raise ValueError("slop must not be negative")
        mask = np.zeros(self.num_rows, dtype=np.bool_)
        tokens = analyzer.analyze(query)
        if not tokens:
            return mask
        base = tokens[0].position
        slots = [(t.text, t.position - base) for t in tokens]
        # Rows holding every query token.
        candidates: npt.NDArray[np.int32] | None = None
        for term, _ in slots:
            rows = np.unique(self._postings(term)[0])
            candidates = rows if candidates is None else np.intersect1d(candidates, rows)
            if len(candidates) == 0:
                return mask
        assert candidates is not None
        keys = []
        for term, offset in slots:
            rows, pos = self._postings(term)
            keep = np.isin(rows, candidates)
            shifted = pos[keep].astype(np.int64) - offset + _POSITION_BIAS
            keys.append((rows[keep].astype(np.int64) << _POSITION_BITS) | shifted)
        # A match has a smallest shifted position; try each occurrence as that minimum
        # and take, for every slot, its first occurrence at or after it in the same row.
        starts = np.unique(np.concatenate(keys))
        start_rows = starts >> _POSITION_BITS
        widest = np.zeros(len(starts), dtype=np.int64)
        found = np.ones(len(starts), dtype=np.bool_)
        for slot_keys in keys:
            at = np.searchsorted(slot_keys, starts, side="left")
            inside = at < len(slot_keys)
            nxt = np.where(inside, slot_keys[np.minimum(at, len(slot_keys) - 1)], 0)
            found &= inside & ((nxt >> _POSITION_BITS) == start_rows)
            widest = np.maximum(widest, nxt - starts)
        hits = found & (widest <= slop)
        mask[start_rows[hits]] = True
        return mask

    def to_bytes(self) -> bytes:
        terms = list(self.vocabulary)
        encoded = [t.encode("utf-8") for t in terms]
        lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
        buffer = io.BytesIO()
        np.savez(
            buffer,
            num_rows=np.int64(self.num_rows),
            term_bytes=np.frombuffer(b"".join(encoded), dtype=np.uint8),
            term_lengths=lengths,
            offsets=self.offsets,
            rows=self.rows,
            positions=self.positions,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TokenIndex:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            blob = arrays["term_bytes"].tobytes()
            ends = np.cumsum(arrays["term_lengths"])
            starts = ends - arrays["term_lengths"]
            vocabulary = {
                blob[s:e].decode("utf-8"): i
                for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True))
            }
            return cls(
                int(arrays["num_rows"]),
                vocabulary,
                arrays["offsets"].astype(np.int64),
                arrays["rows"].astype(np.int32),
                arrays["positions"].astype(np.int32),
            )
