"""BM25 vectors, statistics and scores against an independent implementation."""

from __future__ import annotations

import math
import random
import zlib
from collections import Counter

import numpy as np
import pytest

from sluice.text import (
    CorpusStats,
    analyzer_for,
    document_vectors,
    query_vector,
    score_documents,
    token_hash,
    top_k,
)

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
]


def corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def test_token_hash_is_crc32_of_the_first_100_bytes() -> None:
    assert token_hash("milvus") == zlib.crc32(b"milvus")
    long = "é" * 60  # 120 bytes: Go slices bytes, not characters
    assert token_hash(long) == zlib.crc32(long.encode()[:100])


def test_document_vectors_are_term_frequencies_by_hash() -> None:
    rows = document_vectors(analyzer_for({}), ["b a b", "", "C"])
    idx, val = rows.row(0)
    assert dict(zip(idx.tolist(), val.tolist(), strict=True)) == {
        token_hash("a"): 1.0,
        token_hash("b"): 2.0,
    }
    assert list(idx) == sorted(idx)
    assert rows.row(1)[0].size == 0
    assert rows.row(2)[0].tolist() == [token_hash("c")]


def independent_scores(docs: list[str], query: str, k1: float, b: float) -> list[float]:
    """The BM25 formula written out term by term over token lists."""
    analyzer = analyzer_for({})
    token_docs = [Counter(analyzer.tokens(d)) for d in docs]
    n = len(docs)
    avgdl = sum(sum(c.values()) for c in token_docs) / n
    scores = []
    for counts in token_docs:
        dl = sum(counts.values())
        total = 0.0
        for term, qtf in Counter(analyzer.tokens(query)).items():
            df = sum(1 for c in token_docs if term in c)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = counts.get(term, 0)
            if tf == 0:
                continue
            total += qtf * idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
        scores.append(total)
    return scores


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (2.0, 0.0), (1.5, 1.0)])
def test_scores_equal_the_formula(k1: float, b: float) -> None:
    docs = corpus(300, seed=int(k1 * 10 + b * 100))
    analyzer = analyzer_for({})
    rows = document_vectors(analyzer, docs)
    stats = CorpusStats.of(rows)
    for query in ["alpha", "beta gamma", "delta delta zeta", "omega alpha kappa"]:
        terms, tf = query_vector(analyzer, query)
        got = score_documents(terms, stats.query_weights(terms, tf), rows, k1, b, stats.avgdl)
        want = independent_scores(docs, query, k1, b)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_statistics_merge_and_subtract_per_segment() -> None:
    analyzer = analyzer_for({})
    docs = corpus(200, seed=3)
    whole = CorpusStats.of(document_vectors(analyzer, docs))
    a = CorpusStats.of(document_vectors(analyzer, docs[:120]))
    b = CorpusStats.of(document_vectors(analyzer, docs[120:]))
    merged = a.merge(b)
    assert (merged.num_rows, merged.num_tokens) == (whole.num_rows, whole.num_tokens)
    np.testing.assert_array_equal(merged.terms, whole.terms)
    np.testing.assert_array_equal(merged.doc_freq, whole.doc_freq)
    back = merged.subtract(b)
    np.testing.assert_array_equal(back.doc_freq, a.doc_freq)
    assert back.avgdl == a.avgdl
    restored = CorpusStats.from_bytes(merged.to_bytes())
    np.testing.assert_array_equal(restored.doc_freq, merged.doc_freq)
    assert restored.num_tokens == merged.num_tokens
    with pytest.raises(ValueError, match="never counted"):
        a.subtract(merged)


def test_empty_corpus_has_zero_avgdl_and_query_weights_follow_milvus() -> None:
    empty = CorpusStats.empty()
    assert empty.avgdl == 0.0
    terms = np.array([token_hash("x")], dtype=np.uint32)
    # N = 0, df = 0: ln(1 + 0.5 / 0.5) = ln 2, times the query's term frequency.
    np.testing.assert_allclose(
        empty.query_weights(terms, np.array([3.0], np.float32)), [3 * math.log(2)], rtol=1e-6
    )


def test_top_k_breaks_ties_by_smaller_id() -> None:
    ids, scores = top_k(np.array([0.5, 0.9, 0.5, 0.0, 0.9], np.float32), 3)
    assert ids.tolist() == [1, 4, 0]
    assert scores.tolist() == pytest.approx([0.9, 0.9, 0.5])


def test_small_batches_counted_in_python_equal_the_vectorised_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Queries take the dict-counting path; it must give the numpy path's rows exactly."""
    from sluice.text import bm25

    rng = random.Random(7)
    words = ["river", "Flüsse", "a", "é" * 120, "川", "river", ""]
    batches = [
        [[rng.choice(words) for _ in range(rng.randint(0, 12))] for _ in range(rng.randint(1, 6))]
        for _ in range(40)
    ]
    small = [bm25.term_frequency_rows(batch) for batch in batches]
    monkeypatch.setattr(bm25, "SMALL_BATCH_TOKENS", -1)
    for batch, got in zip(batches, small, strict=True):
        want = bm25.term_frequency_rows(batch)
        for name in ("indptr", "indices", "values"):
            left, right = getattr(got, name), getattr(want, name)
            assert left.dtype == right.dtype, name
            np.testing.assert_array_equal(left, right)
