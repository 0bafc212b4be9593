"""Namespace operations: DDL latency, and partition-key pruning against a plain collection.

    .venv/bin/python bench/namespace_bench.py            # about a minute
    .venv/bin/python bench/namespace_bench.py --n 200000 --ops 500

Starts one Sluice server (``sluice serve`` on a temporary folder) and measures,
through pymilvus:

* the latency of CreatePartition, CreateAlias and RenameCollection on an idle
  collection (p50 and p95 of ``--ops`` calls each; target p50 <= 20 ms).  The
  figures include pymilvus's own work per call;
* single-query search QPS with a filter on the partition key (``tenant ==
  t``) over a partition-key collection (16 partitions) and over the same rows
  in a collection without partitions (target: the partitioned one at least as
  fast).  Both collections are flushed and indexed (HNSW); rounds interleave
  the two, alternating which goes first, so warm-up and machine noise hit both
  alike.  Over gRPC most of a search's time is the client's and the
  transport's, so the ratio moves by several percent from run to run.

Prints one line per figure and a ``RESULT`` JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pymilvus import DataType, MilvusClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import running

DDL_TARGET_MS = 20.0


def _latencies(calls: list[Callable[[], object]]) -> dict[str, float]:
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95) - 1],
        "calls": len(times),
    }


def ddl(client: MilvusClient, ops: int) -> dict[str, dict[str, float]]:
    client.create_collection("ddl_target", dimension=8)
    client.create_collection("ddl_other", dimension=8)
    partitions = _latencies(
        [lambda i=i: client.create_partition("ddl_target", f"p{i}") for i in range(ops)]
    )
    aliases = _latencies(
        [lambda i=i: client.create_alias("ddl_other", f"alias_{i}") for i in range(ops)]
    )
    names = ["ddl_renamed", "ddl_other"]
    renames = _latencies(
        [lambda i=i: client.rename_collection(names[(i + 1) % 2], names[i % 2]) for i in range(ops)]
    )
    return {"create_partition": partitions, "create_alias": aliases, "rename_collection": renames}


def _collection(client: MilvusClient, name: str, dim: int, keyed: bool) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tenant", DataType.INT64, is_partition_key=keyed)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    extra = {"num_partitions": 16} if keyed else {}
    client.create_collection(name, schema=schema, **extra)


def pruning(
    client: MilvusClient, n: int, dim: int, queries: int, rounds: int
) -> dict[str, float | list[float]]:
    rng = np.random.default_rng(7)
    vectors = rng.random((n, dim), dtype=np.float32)
    tenants = rng.integers(0, 1000, n)
    for name, keyed in (("keyed", True), ("plain", False)):
        _collection(client, name, dim, keyed)
        for start in range(0, n, 10_000):
            stop = min(n, start + 10_000)
            client.insert(
                name,
                [
                    {"id": i, "tenant": int(tenants[i]), "vector": vectors[i].tolist()}
                    for i in range(start, stop)
                ],
            )
        client.flush(name)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="HNSW", metric_type="L2", params={"M": 16})
        client.create_index(name, index)
        client.load_collection(name)
    query_vectors = rng.random((queries, dim), dtype=np.float32)
    filters = [f"tenant == {int(t)}" for t in rng.integers(0, 1000, queries)]
    qps: dict[str, list[float]] = {"keyed": [], "plain": []}
    for round_no in range(rounds):
        # Alternate which goes first, so warming up and machine noise land on both.
        for name in ("keyed", "plain") if round_no % 2 == 0 else ("plain", "keyed"):
            started = time.perf_counter()
            for q, expr in zip(query_vectors, filters, strict=True):
                client.search(name, [q.tolist()], limit=10, filter=expr)
            qps[name].append(queries / (time.perf_counter() - started))
    keyed, plain = statistics.median(qps["keyed"]), statistics.median(qps["plain"])
    return {
        "keyed_qps": keyed,
        "plain_qps": plain,
        "ratio": keyed / plain,
        "keyed_rounds": qps["keyed"],
        "plain_rounds": qps["plain"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=200, help="calls per DDL operation")
    parser.add_argument("--n", type=int, default=100_000, help="rows per search collection")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=300, help="searches per round")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    shared = Path("/nonexistent")  # only Sluice is started: no shared scripts needed
    with running(["sluice"], shared, [], 60.0, print) as servers:
        client = MilvusClient(servers["sluice"].uri)
        result: dict[str, object] = {"ddl": ddl(client, args.ops)}
        for op, figures in result["ddl"].items():  # type: ignore[attr-defined]
            verdict = "ok" if figures["p50_ms"] <= DDL_TARGET_MS else "MISSED"
            print(
                f"{op:18s} p50 {figures['p50_ms']:6.2f} ms  p95 {figures['p95_ms']:6.2f} ms "
                f"({figures['calls']} calls; target p50 <= {DDL_TARGET_MS:.0f} ms: {verdict})"
            )
        pruned = pruning(client, args.n, args.dim, args.queries, args.rounds)
        result["partition_key_search"] = pruned
        ratio = float(pruned["ratio"])  # type: ignore[arg-type]
        verdict = "ok" if ratio >= 1.0 else "MISSED"
        print(
            f"partition-key filtered search: {pruned['keyed_qps']:.0f} QPS over 16 partitions, "
            f"{pruned['plain_qps']:.0f} QPS without partitions "
            f"(ratio {ratio:.2f}; target >= 1: {verdict}); rounds: keyed "
            f"{[round(q) for q in pruned['keyed_rounds']]}, plain "
            f"{[round(q) for q in pruned['plain_rounds']]}"
        )
        client.close()
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
