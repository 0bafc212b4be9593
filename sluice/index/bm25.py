"""BM25 on sparse vectors, scored as Milvus and knowhere score it.

A BM25 field stores, per document, the term frequencies Milvus's BM25
function produced (column = term id, value = count).  Scoring a query splits
between two places, as in Milvus:

* **Query weights** (the query node's ``idfOracle.BuildIDF`` over the
  collection's ``BM25Stats``): the query arrives as term frequencies too, and
  each becomes ``tf_q * idf(t)`` with
  ``idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))``, where ``N`` is the
  number of documents and ``df(t)`` the number holding term ``t``.
* **Document values** (knowhere's ``GetDocValueBM25Computer``): each stored
  ``tf`` becomes ``tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))``,
  ``dl`` being the document's length (the sum of its term frequencies) and
  ``avgdl`` the corpus's average length (``numToken / numRow``, at least 1).

The score is the inner product of the two.  ``k1`` and ``b`` come from the
index (``bm25_k1`` 1.2, ``bm25_b`` 0.75 by default); ``N``, ``df`` and
``avgdl`` are corpus statistics.  Whoever owns the whole collection (the
engine: every segment, growing and sealed) merges per-segment
:class:`Bm25Stats` and passes them in :attr:`SearchParams.bm25`; without
them a segment's index falls back to its own statistics, and ``bm25_avgdl``
(default 100) stands in for an empty corpus's length.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sluice.index.kinds import sparse_rows


@dataclass(frozen=True)
class Bm25Stats:
    """Corpus statistics: document count, total length, and documents per term.

    ``terms`` are sorted unique term ids (int64); ``doc_freq[i]`` is the number
    of documents holding ``terms[i]``.  Merging is exact: counts add.
    """

    doc_count: int
    total_length: float
    terms: np.ndarray
    doc_freq: np.ndarray

    @property
    def avgdl(self) -> float:
        """``numToken / numRow`` (0 for an empty corpus), Milvus's ``GetAvgdl``."""
        if self.doc_count == 0 or self.total_length == 0:
            return 0.0
        return self.total_length / self.doc_count

    @classmethod
    def of_documents(cls, docs: sp.csr_matrix) -> Bm25Stats:
        """The statistics of a matrix of term-frequency rows (one document each).

        Rows are made canonical first, so a term counts once per document.
        """
        canonical = sparse_rows(docs)
        terms, counts = np.unique(canonical.indices, return_counts=True)
        return cls(
            doc_count=int(canonical.shape[0]),
            total_length=float(canonical.data.sum(dtype=np.float64)),
            terms=terms.astype(np.int64),
            doc_freq=counts.astype(np.int64),
        )

    @classmethod
    def merge(cls, parts: Iterable[Bm25Stats]) -> Bm25Stats:
        """The statistics of the union of disjoint corpora."""
        parts = list(parts)
        if not parts:
            return cls(0, 0.0, np.empty(0, np.int64), np.empty(0, np.int64))
        terms = np.concatenate([p.terms for p in parts])
        freq = np.concatenate([p.doc_freq for p in parts])
        unique, inverse = np.unique(terms, return_inverse=True)
        merged = np.bincount(inverse, weights=freq, minlength=unique.size).astype(np.int64)
        return cls(
            doc_count=sum(p.doc_count for p in parts),
            total_length=sum(p.total_length for p in parts),
            terms=unique,
            doc_freq=merged,
        )

    def idf(self, term_ids: np.ndarray) -> np.ndarray:
        """``ln(1 + (N - df + 0.5) / (df + 0.5))`` per term (df 0 for unseen terms), float32."""
        term_ids = np.asarray(term_ids, dtype=np.int64)
        df = np.zeros(term_ids.shape, dtype=np.float64)
        if self.terms.size:
            pos = np.minimum(np.searchsorted(self.terms, term_ids), self.terms.size - 1)
            found = self.terms[pos] == term_ids
            df[found] = self.doc_freq[pos[found]]
        n = float(self.doc_count)
        return np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)

    def query_weights(self, queries: sp.csr_matrix) -> sp.csr_matrix:
        """Term-frequency queries turned into ``tf * idf`` weights (a new matrix)."""
        weighted = queries.copy()
        weighted.data = (weighted.data * self.idf(weighted.indices)).astype(np.float32)
        return weighted


def document_values(
    docs: sp.csr_matrix, k1: float, b: float, avgdl: float, lengths: np.ndarray | None = None
) -> np.ndarray:
    """knowhere's BM25 document value for every stored ``tf`` of ``docs`` (float32, CSR order).

    ``lengths`` are the rows' lengths (row sums) when the caller has them.
    """
    avgdl = max(float(avgdl), 1.0)
    if lengths is None:
        lengths = np.asarray(docs.sum(axis=1), dtype=np.float32).ravel()
    per_value = np.repeat(lengths.astype(np.float32), np.diff(docs.indptr))
    return posting_values(docs.data, per_value, k1, b, avgdl)


def posting_values(
    tf: np.ndarray, doc_len: np.ndarray, k1: float, b: float, avgdl: float
) -> np.ndarray:
    """``tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))`` elementwise, float32."""
    length = np.float32(max(float(avgdl), 1.0))
    k1f, bf = np.float32(k1), np.float32(b)
    norm = k1f * (np.float32(1.0) - bf + bf * (doc_len / length))
    return (tf * (k1f + np.float32(1.0)) / (tf + norm)).astype(np.float32, copy=False)
