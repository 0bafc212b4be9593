"""BM25 as Milvus computes it: term-frequency vectors, corpus statistics, scores.

Insert side (Milvus's BM25 function): a document's sparse vector maps each
token's hash (:mod:`sluice.text.hashing`) to the number of times the token
occurs; an empty text gives an empty vector.

Query side (Milvus's IDF oracle): a query text becomes the same kind of
vector, and each term's weight is ``tf * ln(1 + (N - df + 0.5) / (df + 0.5))``
(computed in float64, stored as float32) where ``N`` is the number of rows
and ``df`` the rows containing the term.  ``avgdl`` is tokens / rows (0 for
an empty corpus).

Document side (knowhere's BM25 metric): a document scores
``sum_q w_q * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))`` with
``dl`` the document's token count (its vector's sum).

:class:`CorpusStats` can be built per segment, merged and subtracted, so an
engine can keep the statistics of exactly the live rows across segments,
deletes and restarts.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sluice.text.analyzer import Analyzer
from sluice.text.hashing import token_hash, token_hashes

DEFAULT_K1 = 1.2
DEFAULT_B = 0.75
DEFAULT_AVGDL = 100.0

_U32 = npt.NDArray[np.uint32]
_F32 = npt.NDArray[np.float32]
_I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class SparseRows:
    """Sparse vectors in CSR form; each row's indices are sorted and unique (as Milvus stores them)."""

    indptr: _I64
    indices: _U32
    values: _F32

    @property
    def num_rows(self) -> int:
        return len(self.indptr) - 1

    def row(self, i: int) -> tuple[_U32, _F32]:
        lo, hi = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.indices[lo:hi], self.values[lo:hi]

    def row_ids(self) -> _I64:
        """The row of each stored element."""
        return np.repeat(np.arange(self.num_rows, dtype=np.int64), np.diff(self.indptr))

    def row_sums(self) -> npt.NDArray[np.float64]:
        """Each row's total (for BM25 vectors: the document length in tokens)."""
        sums: npt.NDArray[np.float64] = np.bincount(
            self.row_ids(), weights=self.values.astype(np.float64), minlength=self.num_rows
        ).astype(np.float64)
        return sums


#: Up to this many tokens in all, rows are counted in plain Python: a query's few
#: tokens cost less that way than numpy's fixed cost per call.
SMALL_BATCH_TOKENS = 256


def term_frequency_rows(token_lists: Sequence[Sequence[str]]) -> SparseRows:
    """Milvus's BM25 function output for already analyzed documents."""
    if sum(len(tokens) for tokens in token_lists) <= SMALL_BATCH_TOKENS:
        return _counted_rows(token_lists)
    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    hashes = token_hashes(tok for tokens in token_lists for tok in tokens)
    rows = np.repeat(np.arange(len(token_lists), dtype=np.int64), lengths)
    keys = (rows << 32) | hashes.astype(np.int64)
    unique, counts = np.unique(keys, return_counts=True)
    unique_rows = unique >> 32
    indptr = np.zeros(len(token_lists) + 1, dtype=np.int64)
    np.cumsum(np.bincount(unique_rows, minlength=len(token_lists)), out=indptr[1:])
    return SparseRows(indptr, (unique & 0xFFFFFFFF).astype(np.uint32), counts.astype(np.float32))


def _counted_rows(token_lists: Sequence[Sequence[str]]) -> SparseRows:
    """:func:`term_frequency_rows` of a small batch: the same rows, counted by a dict."""
    indptr, indices, values = [0], [], []
    for tokens in token_lists:
        counts = Counter(token_hash(token) for token in tokens)
        for term in sorted(counts):
            indices.append(term)
            values.append(counts[term])
        indptr.append(len(indices))
    return SparseRows(
        np.array(indptr, dtype=np.int64),
        np.array(indices, dtype=np.uint32),
        np.array(values, dtype=np.float32),
    )


def document_vectors(analyzer: Analyzer, texts: Sequence[str]) -> SparseRows:
    """The sparse vectors Milvus's BM25 function computes at insert."""
    return term_frequency_rows(analyzer.token_lists(texts))


def query_vector(analyzer: Analyzer, text: str) -> tuple[_U32, _F32]:
    """A query text's term hashes and term frequencies (before IDF weighting)."""
    return term_frequency_rows([analyzer.tokens(text)]).row(0)


@dataclass(frozen=True, eq=False)
class CorpusStats:
    """Rows, tokens and per-term document frequencies of a set of BM25 vectors.

    Statistics are additive: a collection's are the sum of its segments',
    and removing rows (deletes, dropped segments) subtracts theirs.
    """

    num_rows: int
    num_tokens: int
    #: Sorted term hashes with a non-zero document frequency, and those frequencies.
    terms: _U32
    doc_freq: _I64

    @classmethod
    def empty(cls) -> CorpusStats:
        return cls(0, 0, np.zeros(0, np.uint32), np.zeros(0, np.int64))

    @classmethod
    def of(cls, rows: SparseRows) -> CorpusStats:
        """Statistics of ``rows`` (every row counts, empty ones included, as in Milvus)."""
        terms, counts = np.unique(rows.indices, return_counts=True)
        tokens = int(np.rint(rows.values.astype(np.float64).sum()))
        return cls(rows.num_rows, tokens, terms.astype(np.uint32), counts.astype(np.int64))

    def merge(self, other: CorpusStats) -> CorpusStats:
        return self._combine(other, 1)

    def subtract(self, other: CorpusStats) -> CorpusStats:
        """Remove rows counted in ``other`` (which must be a subset of these)."""
        if other.num_rows > self.num_rows or other.num_tokens > self.num_tokens:
            raise ValueError("cannot subtract statistics of rows that were never counted")
        return self._combine(other, -1)

    def _combine(self, other: CorpusStats, sign: int) -> CorpusStats:
        terms = np.concatenate((self.terms, other.terms))
        freq = np.concatenate((self.doc_freq, sign * other.doc_freq))
        unique, inverse = np.unique(terms, return_inverse=True)
        summed = np.bincount(inverse, weights=freq, minlength=len(unique)).astype(np.int64)
        if (summed < 0).any():
            raise ValueError("cannot subtract statistics of rows that were never counted")
        keep = summed > 0
        return CorpusStats(
            self.num_rows + sign * other.num_rows,
            self.num_tokens + sign * other.num_tokens,
            unique[keep].astype(np.uint32),
            summed[keep],
        )

    @property
    def avgdl(self) -> float:
        if self.num_rows == 0 or self.num_tokens == 0:
            return 0.0
        return self.num_tokens / self.num_rows

    def document_frequency(self, terms: _U32) -> _I64:
        at = np.searchsorted(self.terms, terms)
        found = at < len(self.terms)
        found[found] = self.terms[at[found]] == terms[found]
        out = np.zeros(len(terms), dtype=np.int64)
        out[found] = self.doc_freq[at[found]]
        return out

    def idf(self, terms: _U32) -> npt.NDArray[np.float64]:
        """``ln(1 + (N - df + 0.5) / (df + 0.5))`` per term."""
        df = self.document_frequency(terms).astype(np.float64)
        return np.log1p((self.num_rows - df + 0.5) / (df + 0.5))

    def query_weights(self, terms: _U32, tf: _F32) -> _F32:
        """Milvus's query vector values: ``tf * float32(idf)``, in float32."""
        return tf.astype(np.float32) * self.idf(terms).astype(np.float32)

    def to_bytes(self) -> bytes:
        """``version:i32, rows:i64, tokens:i64`` then ``(term:u32, df:i32)`` pairs, little-endian."""
        pairs = np.empty(len(self.terms), dtype=[("t", "<u4"), ("d", "<i4")])
        pairs["t"] = self.terms
        pairs["d"] = self.doc_freq
        return struct.pack("<iqq", 0, self.num_rows, self.num_tokens) + pairs.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> CorpusStats:
        if len(data) < 20 or (len(data) - 20) % 8:
            raise ValueError(f"BM25 statistics of {len(data)} bytes are damaged")
        _version, rows, tokens = struct.unpack_from("<iqq", data)
        pairs = np.frombuffer(data, dtype=[("t", "<u4"), ("d", "<i4")], offset=20)
        return cls(rows, tokens, pairs["t"].astype(np.uint32), pairs["d"].astype(np.int64))


def score_documents(
    query_terms: _U32,
    query_weights: _F32,
    docs: SparseRows,
    k1: float = DEFAULT_K1,
    b: float = DEFAULT_B,
    avgdl: float = DEFAULT_AVGDL,
) -> _F32:
    """Every document's BM25 score for a weighted query (0 where no term matches)."""
    if avgdl <= 0:
        raise ValueError("avgdl must be positive")
    order = np.argsort(query_terms)
    sorted_terms, sorted_weights = query_terms[order], query_weights[order].astype(np.float64)
    at = np.searchsorted(sorted_terms, docs.indices)
    at_clipped = np.minimum(at, max(len(sorted_terms) - 1, 0))
    hit = (at < len(sorted_terms)) & (sorted_terms[at_clipped] == docs.indices)
    if len(sorted_terms) == 0:
        hit[:] = False
    rows = docs.row_ids()[hit]
    tf = docs.values[hit].astype(np.float64)
    dl = docs.row_sums()[rows]
    weight = sorted_weights[at_clipped[hit]]
    contrib = weight * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
    return np.bincount(rows, weights=contrib, minlength=docs.num_rows).astype(np.float32)


def top_k(scores: _F32, k: int, ids: _I64 | None = None) -> tuple[_I64, _F32]:
    """The ``k`` best (highest) scores, ties broken by smaller id, zero scores excluded."""
    ids = np.arange(len(scores), dtype=np.int64) if ids is None else ids
    keep = scores > 0
    ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores.astype(np.float64)))[:k]
    return ids[order], scores[order]


def idf_reference(num_rows: int, df: int) -> float:
    """The IDF formula for one term, in plain floats (tests and cross-checks)."""
    return math.log(1 + (num_rows - df + 0.5) / (df + 0.5))
