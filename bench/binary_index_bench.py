"""BIN_FLAT HAMMING single-query search against raw FAISS ``IndexBinaryFlat``, in-process.

A million random 256-bit vectors.  Each round times a burst of single-query
searches (k = 10) through Sluice's BIN_FLAT index and through a bare
``faiss.IndexBinaryFlat`` over the same codes, alternating, both on one
OpenMP thread (Sluice's policy for single queries; see
``sluice.index.threads``).  Reported: median QPS of each, the ratio
Sluice/FAISS (target >= 0.7), and whether both returned the same distances.
The engine and API overhead on top is measured elsewhere.

    .venv/bin/python bench/binary_index_bench.py             # 1,000,000 x 256 bits
    .venv/bin/python bench/binary_index_bench.py --n 200000 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import faiss
import numpy as np

from sluice.index import build, parse_index_spec, parse_search_params
from sluice.schema import DataType, FieldSchema

TARGET = 0.7


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, size=(args.n, args.dim // 8), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(args.rounds * args.burst, args.dim // 8), dtype=np.uint8)
    field = FieldSchema("bits", DataType.BINARY_VECTOR, field_id=101, dim=args.dim)
    spec = parse_index_spec(field, "BIN_FLAT", "HAMMING", {})
    index = build(spec, codes)
    params = parse_search_params(spec, None, {}, 10)
    raw = faiss.IndexBinaryFlat(args.dim)
    raw.add(codes)
    faiss.omp_set_num_threads(1)
    ours, theirs, same = [], [], True
    for r in range(args.rounds):
        burst = queries[r * args.burst : (r + 1) * args.burst]
        t0 = time.perf_counter()
        found = [index.search(burst[i : i + 1], 10, params) for i in range(args.burst)]
        t1 = time.perf_counter()
        expected = [raw.search(burst[i : i + 1], 10) for i in range(args.burst)]
        t2 = time.perf_counter()
        ours.append(args.burst / (t1 - t0))
        theirs.append(args.burst / (t2 - t1))
        same &= all(np.array_equal(a[0], b[0]) for a, b in zip(found, expected, strict=True))
    qps, raw_qps = statistics.median(ours), statistics.median(theirs)
    print(f"{args.n} x {args.dim} bits, single queries, k=10, one thread")
    print(f"sluice BIN_FLAT     median {qps:8.1f} QPS")
    print(f"faiss IndexBinaryFlat median {raw_qps:8.1f} QPS")
    print(f"ratio sluice/faiss  {qps / raw_qps:6.2f}   (target >= {TARGET})")
    print(f"same distances      {same}")
    print("PASS" if qps / raw_qps >= TARGET and same else "MISS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
