"""BM25 full-text search: Sluice's per-segment BM25 search against tantivy, in process.

Corpus: short Zipf-distributed documents generated here (``text_bench.zipf_corpus``;
nothing downloaded).  Both sides index the same texts with the english analyzer
chain; queries are three words of a random document.  Measured per query:

* tantivy: ``searcher.search(query, 10)`` on an in-RAM index;
* Sluice: what the engine does per segment: the query text analysed into term
  frequencies (``sluice.text.query_vector``), weighted by the collection's
  corpus statistics, and scored by the SPARSE_INVERTED_INDEX with metric BM25
  (``sluice.index``), top 10.

Sluice's top-10 must equal the brute-force reference scorer's
(``sluice.text.score_documents``) on every query; the script says how many match.

    .venv/bin/python bench/bm25_bench.py --docs 100000 --queries 300
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import scipy.sparse as sp
import tantivy
from text_bench import zipf_corpus

from sluice.index import Bm25Stats, SearchParams, VectorIndex, build
from sluice.index.spec import parse_index_spec
from sluice.schema import DataType, FieldSchema
from sluice.text import (
    CorpusStats,
    SparseRows,
    analyzer_for,
    document_vectors,
    query_vector,
    score_documents,
    top_k,
)

ANALYZER = {"type": "english"}


def sluice_index(rows: SparseRows) -> VectorIndex:
    """SPARSE_INVERTED_INDEX (metric BM25) over the BM25 function's term-frequency rows."""
    matrix = sp.csr_matrix(
        (rows.values, rows.indices.astype(np.int64), rows.indptr),
        shape=(rows.num_rows, 2**32 - 1),
    )
    field = FieldSchema("sparse", DataType.SPARSE_FLOAT_VECTOR)
    return build(parse_index_spec(field, "SPARSE_INVERTED_INDEX", "BM25", {}), matrix)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    docs = zipf_corpus(args.docs, seed=1)
    words = sum(len(d.split()) for d in docs) / len(docs)
    print(f"corpus: {len(docs):,} docs, {words:.1f} words/doc")
    analyzer = analyzer_for(ANALYZER)

    started = time.perf_counter()
    rows = document_vectors(analyzer, docs)
    index = sluice_index(rows)
    stats = index.bm25_stats  # type: ignore[attr-defined]
    print(f"sluice: vectors + index built in {time.perf_counter() - started:.1f} s")

    schema = tantivy.SchemaBuilder().add_text_field("body", tokenizer_name="en_stem").build()
    tindex = tantivy.Index(schema)
    started = time.perf_counter()
    writer = tindex.writer(400_000_000, 1)
    for text in docs:
        writer.add_document(tantivy.Document(body=text))
    writer.commit()
    writer.wait_merging_threads()
    tindex.reload()
    searcher = tindex.searcher()
    print(f"tantivy: in-RAM index built in {time.perf_counter() - started:.1f} s")

    rng = random.Random(2)
    queries = [" ".join(rng.choice(docs).split()[:3]) for _ in range(args.queries)]

    parsed = [tindex.parse_query(q.lower(), ["body"]) for q in queries]
    started = time.perf_counter()
    for q in parsed:
        searcher.search(q, 10)
    tantivy_ms = (time.perf_counter() - started) / len(parsed) * 1e3

    found: list[list[int]] = []
    # The first BM25 search prepares the segment's impact order (as tantivy's commit
    # prepares its index); it is index building, not query time.
    terms, tf = query_vector(analyzer, queries[0])
    warm = sp.csr_matrix((tf, terms.astype(np.int64), [0, len(terms)]), shape=(1, 2**32 - 1))
    index.search(warm, 10, SearchParams(metric_type="BM25", k=10, bm25=stats))
    started = time.perf_counter()
    for q in queries:
        terms, tf = query_vector(analyzer, q)
        query = sp.csr_matrix((tf, terms.astype(np.int64), [0, len(terms)]), shape=(1, 2**32 - 1))
        params = SearchParams(metric_type="BM25", k=10, bm25=stats)
        _scores, ids = index.search(query, 10, params)
        found.append([int(i) for i in ids[0] if i >= 0])
    sluice_ms = (time.perf_counter() - started) / len(queries) * 1e3

    reference = CorpusStats.of(rows)
    same = 0
    for q, got in zip(queries, found, strict=True):
        terms, tf = query_vector(analyzer, q)
        scores = score_documents(
            terms, reference.query_weights(terms, tf), rows, avgdl=max(reference.avgdl, 1.0)
        )
        ids, _ = top_k(scores, 10)
        same += ids.tolist() == got
    assert isinstance(stats, Bm25Stats)
    print(f"tantivy top-10: {tantivy_ms:.3f} ms/query")
    print(f"sluice  top-10: {sluice_ms:.3f} ms/query  ({sluice_ms / tantivy_ms:.2f}x tantivy)")
    print(f"top-10 identical to the reference scorer: {same}/{len(queries)} queries")


if __name__ == "__main__":
    main()
