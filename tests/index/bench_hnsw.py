"""Benchmark: Sluice's HNSW wrapper against raw FAISS on clustered data.

Not collected by pytest.  Run from the repository root:

    .venv/bin/python -m tests.index.bench_hnsw --rows 100000 --dim 128

Reports build time, single-query latency (median and p99 over one-row
searches on one OpenMP thread, as concurrent callers are served), filtered
single-query latency, batched throughput, and recall@10 against exact search.
"""

from __future__ import annotations

import os

# As sluice.index does, but before this script's own `import faiss` loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import statistics
import time
from collections.abc import Callable

import faiss
import numpy as np

from sluice.index import build, exact_search, parse_index_spec, parse_search_params
from sluice.schema import DataType, FieldSchema


def clustered(rows: int, dim: int, clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32) * 4
    data = centres[rng.integers(0, clusters, rows)] + rng.normal(size=(rows, dim))
    queries = centres[rng.integers(0, clusters, 1000)] + rng.normal(size=(1000, dim))
    return data.astype(np.float32), queries.astype(np.float32)


def latencies(call: Callable[[np.ndarray], object], queries: np.ndarray) -> list[float]:
    out = []
    for row in queries:
        one = row[None, :]
        start = time.perf_counter()
        call(one)
        out.append((time.perf_counter() - start) * 1e6)
    return out


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return f"{name:<30} median {statistics.median(ordered):7.1f} us   p99 {p99:7.1f} us"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--ef", type=int, default=64)
    args = parser.parse_args()

    data, queries = clustered(args.rows, args.dim, args.clusters, seed=0)
    queries = queries[: args.queries]
    field = FieldSchema("v", DataType.FLOAT_VECTOR, dim=args.dim)
    spec = parse_index_spec(field, "HNSW", "L2", {"M": "16", "efConstruction": "200"})
    params = parse_search_params(spec, "L2", {"params": {"ef": args.ef}}, 10)

    start = time.perf_counter()
    index = build(spec, data)
    print(f"{'sluice build':<30} {time.perf_counter() - start:7.2f} s")
    faiss.omp_set_num_threads(faiss.omp_get_max_threads())
    raw = faiss.IndexHNSWFlat(args.dim, 16, faiss.METRIC_L2)
    raw.hnsw.efConstruction = 200
    start = time.perf_counter()
    raw.add(data)
    print(f"{'raw faiss build':<30} {time.perf_counter() - start:7.2f} s")
    print(f"{'sluice memory_bytes':<30} {index.memory_bytes / 2**20:7.1f} MiB")

    raw_params = faiss.SearchParametersHNSW()
    raw_params.efSearch = args.ef
    faiss.omp_set_num_threads(1)
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(3):  # interleave passes so machine noise hits both alike
        ours += latencies(lambda q: index.search(q, 10, params), queries)
        theirs += latencies(lambda q: raw.search(q, 10, params=raw_params), queries)
    print(summary("sluice single query", ours))
    print(summary("raw faiss single query", theirs))

    allowed = np.random.default_rng(1).random(args.rows) < 0.1
    print(
        summary(
            "sluice single, 10% filter",
            latencies(lambda q: index.search(q, 10, params, allowed), queries[:300]),
        )
    )
    sparse = np.random.default_rng(2).random(args.rows) < 0.01
    print(
        summary(
            "sluice single, 1% filter",
            latencies(lambda q: index.search(q, 10, params, sparse), queries[:300]),
        )
    )

    start = time.perf_counter()
    _, found = index.search(queries, 10, params)
    batch = time.perf_counter() - start
    print(f"{'sluice batch of ' + str(len(queries)):<30} {len(queries) / batch:9.0f} QPS")

    _, truth = exact_search(data, queries, 10, "L2")
    hits = sum(len(set(a) & set(b)) for a, b in zip(found.tolist(), truth.tolist(), strict=True))
    print(f"{'recall@10 at ef=' + str(args.ef):<30} {hits / truth.size:7.4f}")


if __name__ == "__main__":
    main()
