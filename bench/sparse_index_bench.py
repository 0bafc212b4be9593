"""SPARSE_INVERTED_INDEX search against an exact scipy.sparse product, in-process, same run.

100k documents of ~100 distinct terms each over a 30k-term vocabulary drawn
Zipf-like (term ``r`` has weight ``1 / r``, so the commonest terms sit in most
documents); queries are drawn the same way with ~20 terms.  Per query, the
index's ``search`` (k = 10) is timed against ``docs @ q.T`` on the CSR matrix
followed by a top-10 selection (the exact answer), interleaved query by query
so machine noise lands on both.  Reported: median milliseconds per query for
each, the ratio scipy/index (target > 1), recall@10 at the default
``drop_ratio_search`` 0 (target 1.0: the index is exact), and, for
information, recall@10 when the smallest 10 % and 20 % of each query's values
are dropped (knowhere's refine_factor 1).

    .venv/bin/python bench/sparse_index_bench.py               # 100k docs, 200 queries
    .venv/bin/python bench/sparse_index_bench.py --docs 20000 --queries 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import scipy.sparse as sp

from sluice.index import build, parse_index_spec, parse_search_params
from sluice.schema import DataType, FieldSchema

VOCAB = 30_000


def zipf_matrix(rows: int, terms: int, rng: np.random.Generator) -> sp.csr_matrix:
    weights = 1.0 / np.arange(1, VOCAB + 1)
    cols = rng.choice(VOCAB, size=(rows, terms), p=weights / weights.sum())
    values = rng.random((rows, terms)).astype(np.float32)
    indptr = np.arange(0, rows * terms + 1, terms)
    matrix = sp.csr_matrix((values.ravel(), cols.ravel(), indptr), shape=(rows, VOCAB))
    matrix.sum_duplicates()
    return matrix


def exact_top10(docs: sp.csr_matrix, query: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray((docs @ query.T).todense()).ravel()
    top = np.argpartition(-scores, 10)[:10]
    order = top[np.argsort(-scores[top], kind="stable")]
    return order, scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--terms", type=int, default=135, help="draws per document (~100 distinct)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--query-terms", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    docs = zipf_matrix(args.docs, args.terms, rng)
    queries = zipf_matrix(args.queries, args.query_terms, rng)
    field = FieldSchema("sparse", DataType.SPARSE_FLOAT_VECTOR, field_id=101)
    spec = parse_index_spec(field, "SPARSE_INVERTED_INDEX", "IP", {})
    started = time.perf_counter()
    index = build(spec, docs)
    built = time.perf_counter() - started
    print(
        f"{args.docs} docs, {docs.nnz / args.docs:.1f} non-zeros each, vocabulary {VOCAB}; "
        f"index built in {built:.2f} s, {index.memory_bytes / 2**20:.0f} MiB"
    )
    exact_params = parse_search_params(spec, None, {}, 10)
    dropped = {
        ratio: parse_search_params(spec, None, {"drop_ratio_search": ratio}, 10)
        for ratio in (0.1, 0.2)
    }
    index_ms, scipy_ms, hits = [], [], 0
    hits_dropped = dict.fromkeys(dropped, 0)
    for i in range(args.queries):
        query = queries[i]
        t0 = time.perf_counter()
        _, ids = index.search(query, 10, exact_params)
        t1 = time.perf_counter()
        truth, scores = exact_top10(docs, query)
        t2 = time.perf_counter()
        index_ms.append((t1 - t0) * 1e3)
        scipy_ms.append((t2 - t1) * 1e3)
        kth = scores[truth[-1]]
        hits += int(np.count_nonzero(scores[ids[0][ids[0] >= 0]] >= kth - 1e-6))
        for ratio, params in dropped.items():
            _, approx = index.search(query, 10, params)
            found = approx[0][approx[0] >= 0]
            hits_dropped[ratio] += int(np.count_nonzero(scores[found] >= kth - 1e-6))
    ours, theirs = statistics.median(index_ms), statistics.median(scipy_ms)
    recall = hits / (10 * args.queries)
    print(f"index search      median {ours:7.3f} ms/query")
    print(f"scipy docs @ q.T  median {theirs:7.3f} ms/query (exact, plus top-10)")
    print(f"ratio scipy/index {theirs / ours:6.2f}x   (target > 1)")
    print(f"recall@10 drop_ratio_search=0   {recall:.4f}  (target >= 0.98; exact: 1.0)")
    for ratio, count in hits_dropped.items():
        print(f"recall@10 drop_ratio_search={ratio} {count / (10 * args.queries):.4f}")
    ok = theirs / ours > 1 and recall >= 0.98
    print("PASS" if ok else "MISS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
