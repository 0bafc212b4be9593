"""Binary HAMMING search through pymilvus against raw FAISS ``IndexBinaryFlat`` in-process.

A million random 256-bit vectors go into a Sluice server (BIN_FLAT, HAMMING)
through pymilvus, are flushed, indexed and loaded; the same codes go into a
bare ``faiss.IndexBinaryFlat`` in this process.  Rounds alternate a burst of
single-query ``client.search`` calls (k = 10) with a burst of single-query
FAISS searches, so machine noise lands on both.  FAISS is timed on one
OpenMP thread (how Sluice answers a single query) and on its default thread
count.  Reported: median QPS of each and the ratio Sluice/FAISS (target at
least 0.7), and whether the answers' distances agree.

    .venv/bin/python bench/binary_search_bench.py                 # 1,000,000 x 256 bits
    .venv/bin/python bench/binary_search_bench.py --n 200000 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import faiss
import numpy as np
from pymilvus import DataType
from servers import BENCH_DIR, connect, running

TARGET = 0.7
NAME = "binary"
BITS = 256
K = 10


def _load(client, codes: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    if client.has_collection(NAME):
        client.drop_collection(NAME)
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.BINARY_VECTOR, dim=BITS)
    client.create_collection(NAME, schema=schema)
    batch = 50_000
    for start in range(0, len(codes), batch):
        rows = [
            {"id": start + i, "v": code.tobytes()}
            for i, code in enumerate(codes[start : start + batch])
        ]
        client.insert(NAME, rows)
    client.flush(NAME)
    index = client.prepare_index_params()
    index.add_index("v", index_type="BIN_FLAT", metric_type="HAMMING")
    client.create_index(NAME, index)
    client.load_collection(NAME)


def _burst(call, queries: np.ndarray, seconds: float) -> float:  # type: ignore[no-untyped-def]
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        call(queries[done % len(queries)])
        done += 1
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(args.n, BITS // 8), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(200, BITS // 8), dtype=np.uint8)
    flat = faiss.IndexBinaryFlat(BITS)
    flat.add(codes)
    default_threads = faiss.omp_get_max_threads()
    with running(["sluice"], BENCH_DIR, [], 60.0, print) as servers:
        client = connect(servers["sluice"].uri)
        started = time.perf_counter()
        _load(client, codes)
        print(
            f"{args.n:,} vectors inserted, flushed, indexed in {time.perf_counter() - started:.0f} s"
        )

        def sluice_one(q: np.ndarray) -> object:
            return client.search(NAME, [q.tobytes()], anns_field="v", limit=K)

        def faiss_one(q: np.ndarray) -> object:
            return flat.search(q[None, :], K)

        agree = True
        for q in queries[:20]:
            hits = client.search(NAME, [q.tobytes()], anns_field="v", limit=K)[0]
            distances, _ = flat.search(q[None, :], K)
            agree &= [h["distance"] for h in hits] == distances[0].astype(float).tolist()
        sluice_qps, one_qps, many_qps = [], [], []
        for _ in range(args.rounds):
            sluice_qps.append(_burst(sluice_one, queries, args.seconds))
            faiss.omp_set_num_threads(1)
            one_qps.append(_burst(faiss_one, queries, args.seconds))
            faiss.omp_set_num_threads(default_threads)
            many_qps.append(_burst(faiss_one, queries, args.seconds))
        sluice, one, many = (statistics.median(x) for x in (sluice_qps, one_qps, many_qps))
        print(f"sluice via pymilvus      median {sluice:8.1f} QPS")
        print(f"faiss 1 thread           median {one:8.1f} QPS   ratio {sluice / one:.2f}")
        print(
            f"faiss {default_threads} threads          median {many:8.1f} QPS   "
            f"ratio {sluice / many:.2f}"
        )
        print(f"same distances as faiss: {agree}")
        print("PASS" if sluice / one >= TARGET else "FAIL", f"(target >= {TARGET} x one thread)")


if __name__ == "__main__":
    main()
