"""What clustering compaction buys: filtered reads on the clustering key, mix vs clustered.

One Sluice server (``segments.max_bytes`` of ``--segment-mib``, automatic compaction off)
gets ``--n`` rows (64-d vectors, an INT64 primary key, an INT64 clustering key ``k``
uniform in ``[0, --keys)``), flushed in ``--flushes`` batches.  Then:

1. ``compact()`` (mix): segments merged to full size, sorted by primary key, each
   holding every key value.  Query and search latencies are measured.
2. ``compact(is_clustering=True)``: the same rows re-cut by ``k`` range (L2 segments).
   The same requests are measured again, so the only difference is the layout.

Requests (``--requests`` each, single client, p50 in ms): a query ``k == v`` returning
its rows; a query ``k >= v and k < v + span`` counting them; a top-10 search with the
filter ``k >= v and k < v + span``.  Every answer after clustering is checked against
the one before (same rows, same top-10 IDs).

    .venv/bin/python bench/clustering_bench.py                   # ~4 minutes
    .venv/bin/python bench/clustering_bench.py --n 100000 --requests 100
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from pymilvus import DataType, MilvusClient
from servers import BENCH_DIR, connect, running

NAME = "clustering_bench"
DIM = 64


def _log(message: str) -> None:
    print(message, flush=True)


def _create(client: MilvusClient) -> None:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("k", DataType.INT64, is_clustering_key=True)
    index = client.prepare_index_params()
    index.add_index(
        "vec", index_type="HNSW", metric_type="L2", params={"M": 16, "efConstruction": 100}
    )
    client.create_collection(
        NAME,
        schema=schema,
        index_params=index,
        num_shards=1,
        properties={"collection.autocompaction.enabled": "false"},
    )


def _fill(client: MilvusClient, n: int, keys: int, flushes: int) -> None:
    rng = np.random.default_rng(11)
    per_flush = -(-n // flushes)
    for start in range(0, n, per_flush):
        stop = min(n, start + per_flush)
        for batch in range(start, stop, 10_000):
            end = min(stop, batch + 10_000)
            vectors = rng.random((end - batch, DIM), dtype=np.float32)
            values = rng.integers(0, keys, end - batch)
            client.insert(
                NAME,
                [
                    {"id": i, "vec": vectors[i - batch].tolist(), "k": int(values[i - batch])}
                    for i in range(batch, end)
                ],
            )
        client.flush(NAME)


def _compact(client: MilvusClient, clustering: bool) -> float:
    started = time.perf_counter()
    job = client.compact(NAME, is_clustering=clustering)
    while client.get_compaction_state(job) != "Completed":
        time.sleep(0.2)
    return time.perf_counter() - started


def _timed(requests: list[Callable[[], Any]]) -> tuple[float, list[Any]]:
    """p50 latency (ms) of the requests, and their answers."""
    answers = []
    times = []
    for request in requests:
        started = time.perf_counter()
        answers.append(request())
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), answers


def _requests(
    client: MilvusClient, keys: int, span: int, count: int
) -> dict[str, list[Callable[[], Any]]]:
    rng = np.random.default_rng(3)
    points = rng.integers(0, keys, count).tolist()
    starts = rng.integers(0, max(1, keys - span), count).tolist()
    probes = rng.random((count, DIM), dtype=np.float32)

    def point(v: int) -> Callable[[], Any]:
        return lambda: sorted(
            r["id"] for r in client.query(NAME, filter=f"k == {v}", output_fields=["id"])
        )

    def counted(v: int) -> Callable[[], Any]:
        text = f"k >= {v} and k < {v + span}"
        return lambda: client.query(NAME, filter=text, output_fields=["count(*)"])[0]["count(*)"]

    def searched(v: int, probe: np.ndarray) -> Callable[[], Any]:
        text = f"k >= {v} and k < {v + span}"
        return lambda: [
            h["id"]
            for h in client.search(
                NAME, [probe.tolist()], limit=10, filter=text, search_params={"ef": 64}
            )[0]
        ]

    return {
        "query k == v": [point(v) for v in points],
        f"count k in [v, v+{span})": [counted(v) for v in starts],
        f"search top-10, k in [v, v+{span})": [
            searched(v, probes[i]) for i, v in enumerate(starts)
        ],
    }


def _measure(client: MilvusClient, args: argparse.Namespace) -> dict[str, tuple[float, list[Any]]]:
    requests = _requests(client, args.keys, args.span, args.requests)
    for run in requests.values():  # warm: every segment loaded, caches filled
        for request in run[:5]:
            request()
    return {label: _timed(run) for label, run in requests.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--span", type=int, default=100)
    parser.add_argument("--flushes", type=int, default=20)
    parser.add_argument("--segment-mib", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    os.environ["SLUICE_SEGMENTS_MAX_BYTES"] = str(args.segment_mib << 20)
    os.environ["SLUICE_COMPACTION_AUTO"] = "false"
    with running(["sluice"], BENCH_DIR, [], 60.0, _log) as servers:
        client = connect(servers["sluice"].uri, timeout=600)
        _create(client)
        started = time.perf_counter()
        _fill(client, args.n, args.keys, args.flushes)
        _log(f"inserted and flushed {args.n:,} rows in {time.perf_counter() - started:.1f} s")
        client.load_collection(NAME)
        mix_s = _compact(client, clustering=False)
        _log(f"mix compaction: {mix_s:.1f} s")
        mixed = _measure(client, args)
        cluster_s = _compact(client, clustering=True)
        _log(f"clustering compaction: {cluster_s:.1f} s")
        clustered = _measure(client, args)
        _log("")
        _log(f"{'request':<34} {'mix p50 ms':>11} {'clustered p50 ms':>17} {'speed-up':>9}")
        for label, (before, answers) in mixed.items():
            after, again = clustered[label]
            if "search" in label:  # HNSW graphs differ with the layout: the hits' overlap
                pairs = zip(answers, again, strict=True)
                overlap = np.mean([len(set(a) & set(b)) / max(1, len(a)) for a, b in pairs])
                note = f" (top-10 overlap {overlap:.3f})"
            else:
                note = "" if answers == again else " (ANSWERS DIFFER)"
            _log(f"{label:<34} {before:>11.3f} {after:>17.3f} {before / after:>8.2f}x{note}")
        client.close()


if __name__ == "__main__":
    main()
