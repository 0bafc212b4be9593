"""Full-text and hybrid search through pymilvus against a Sluice server.

One collection of short generated documents (``text_bench.zipf_corpus``, nothing
downloaded): ``text`` (english analyzer) feeds a BM25 function into ``sparse``
(SPARSE_INVERTED_INDEX, metric BM25); ``dense`` holds random 64-d vectors
(HNSW, COSINE).  After a flush and index builds, single-query loops measure:

* dense HNSW search (one vector);
* BM25 search (one text: three words of a random document);
* hybrid search: both as sub-searches, fused by RRF.

Targets: BM25 QPS at least 0.8x dense QPS; hybrid latency at most 1.3x the sum of
the two single searches' latencies.

    .venv/bin/python bench/fulltext_bench.py --docs 100000 --seconds 10
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import numpy as np
from pymilvus import AnnSearchRequest, DataType, Function, FunctionType, RRFRanker
from servers import BENCH_DIR, connect, running
from text_bench import zipf_corpus

DIM = 64
NAME = "fulltext"


def build(client, docs: list[str]) -> None:  # type: ignore[no-untyped-def]
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field(
        "text",
        DataType.VARCHAR,
        max_length=1000,
        enable_analyzer=True,
        analyzer_params={"type": "english"},
    )
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["text"],
            output_field_names=["sparse"],
        )
    )
    index = client.prepare_index_params()
    index.add_index("dense", index_type="HNSW", metric_type="COSINE", params={"M": 16})
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(NAME, schema=schema, index_params=index)
    rng = np.random.default_rng(0)
    batch = 5000
    for start in range(0, len(docs), batch):
        part = docs[start : start + batch]
        vectors = rng.standard_normal((len(part), DIM)).astype(np.float32)
        client.insert(
            NAME,
            [
                {"id": start + i, "text": t, "dense": vectors[i].tolist()}
                for i, t in enumerate(part)
            ],
        )
    client.flush(NAME)
    for field in ("dense", "sparse"):
        while True:
            info = client.describe_index(NAME, field)
            if int(info.get("pending_index_rows", 1)) == 0:
                break
            time.sleep(0.5)


def loop(label: str, call: Callable[[int], object], seconds: float) -> float:
    latencies = []
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        call(i)
        latencies.append(time.perf_counter() - started)
        i += 1
    mean_ms = statistics.fmean(latencies) * 1e3
    print(f"  {label:<22} {len(latencies) / seconds:8.1f} QPS  {mean_ms:7.3f} ms mean")
    return mean_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    docs = zipf_corpus(args.docs, seed=1)
    rng = random.Random(2)
    texts = [" ".join(rng.choice(docs).split()[:3]) for _ in range(1000)]
    vectors = np.random.default_rng(3).standard_normal((1000, DIM)).astype(np.float32).tolist()
    with running(["sluice"], BENCH_DIR, [], 60.0, print) as servers:
        client = connect(servers["sluice"].uri)
        started = time.perf_counter()
        build(client, docs)
        print(
            f"{args.docs:,} docs inserted, flushed and indexed in {time.perf_counter() - started:.0f} s"
        )

        def dense(i: int) -> object:
            return client.search(NAME, [vectors[i % 1000]], anns_field="dense", limit=10)

        def bm25(i: int) -> object:
            return client.search(NAME, [texts[i % 1000]], anns_field="sparse", limit=10)

        def hybrid(i: int) -> object:
            requests = [
                AnnSearchRequest([vectors[i % 1000]], "dense", {}, limit=10),
                AnnSearchRequest([texts[i % 1000]], "sparse", {}, limit=10),
            ]
            return client.hybrid_search(NAME, requests, RRFRanker(), limit=10)

        for call in (dense, bm25, hybrid):  # warm the plans
            call(0)
        print("single-query loops")
        dense_ms = loop("dense HNSW", dense, args.seconds)
        bm25_ms = loop("BM25 text", bm25, args.seconds)
        hybrid_ms = loop("hybrid (RRF)", hybrid, args.seconds)
        print(f"BM25 QPS / dense QPS: {dense_ms / bm25_ms:.2f} (target >= 0.8)")
        ratio = hybrid_ms / (dense_ms + bm25_ms)
        print(f"hybrid / (dense + BM25) latency: {ratio:.2f} (target <= 1.3)")
        client.close()


if __name__ == "__main__":
    main()
