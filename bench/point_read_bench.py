"""Single-id get QPS and small ``create_index`` through pymilvus: Sluice vs milvus-lite, same run.

Both servers run as child processes (see ``servers.py``) on fresh folders.  On each:

1. **create_index on a small flushed collection.**  ``--small`` rows (default 10,000)
   of 128-d vectors are inserted and flushed, then ``MilvusClient.create_index`` is
   timed as a client sees it, for HNSW (M=16, efConstruction=200, L2,
   ``bench_milvus.py``'s index) and for IVF_FLAT (nlist=128): pymilvus sleeps 0.5 s
   before its first state check and then polls every 0.5 s, so a build not finished
   by a check costs the client up to another half second.  Repeated
   ``--index-repeats`` times each (drop index, create again); medians are reported.
   Target: HNSW <= 0.6 s.
2. **single-id get.**  ``--n`` rows (default 100,000) with an INT64 ``tag`` are
   inserted, flushed, indexed and loaded; then ``client.get(ids=[one id],
   output_fields=["tag"])`` runs in a loop over random IDs for ``--seconds`` per
   round (``bench_milvus.py``'s query-by-id shape), every answer checked.  Rounds
   alternate the servers so machine noise lands on both.  Target: Sluice's median
   QPS >= milvus-lite's.

    .venv/bin/python bench/point_read_bench.py                 # ~3 minutes
    .venv/bin/python bench/point_read_bench.py --n 20000 --rounds 3 --seconds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from pymilvus import DataType, MilvusClient
from servers import connect, running

DIM = 128
SMALL = "small"
BIG = "points"
CREATE_INDEX_TARGET_S = 0.6


def _log(message: str) -> None:
    print(message, flush=True)


def _create(client: MilvusClient, name: str) -> None:
    if client.has_collection(name):
        client.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("tag", DataType.INT64)
    client.create_collection(name, schema=schema)


def _fill(client: MilvusClient, name: str, vectors: np.ndarray, tags: np.ndarray) -> None:
    for start in range(0, len(vectors), 5000):
        stop = min(len(vectors), start + 5000)
        rows = [
            {"id": i, "vec": vectors[i].tolist(), "tag": int(tags[i])} for i in range(start, stop)
        ]
        client.insert(name, rows)
    client.flush(name)


SMALL_INDEXES = {
    "HNSW": {"M": 16, "efConstruction": 200},
    "IVF_FLAT": {"nlist": 128},
}


def _hnsw(client: MilvusClient, index_type: str = "HNSW") -> object:
    params = client.prepare_index_params()
    params.add_index(
        "vec", index_type=index_type, metric_type="L2", params=SMALL_INDEXES[index_type]
    )
    return params


def _create_index_times(client: MilvusClient, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for index_type in SMALL_INDEXES:
        for _ in range(repeats):
            if client.list_indexes(SMALL):
                client.release_collection(SMALL)
                client.drop_index(SMALL, "vec")
            started = time.perf_counter()
            client.create_index(SMALL, _hnsw(client, index_type))
            times.setdefault(index_type, []).append(time.perf_counter() - started)
            client.load_collection(SMALL)
    return times


def _get_round(client: MilvusClient, tags: np.ndarray, seconds: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(tags), size=1_000_000)
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        key = int(picks[done % len(picks)])
        rows = client.get(BIG, ids=[key], output_fields=["tag"])
        if len(rows) != 1 or int(rows[0]["tag"]) != int(tags[key]):
            raise RuntimeError(f"get({key}) returned {rows!r}")
        done += 1
    return done / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--index-repeats", type=int, default=3)
    parser.add_argument(
        "--shared-dir",
        type=Path,
        default=Path(os.environ.get("SLUICE_SHARED_BENCH", "/work/shared/bench")),
    )
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    small = rng.random((args.small, DIM), dtype=np.float32)
    vectors = rng.random((args.n, DIM), dtype=np.float32)
    tags = rng.integers(0, 1_000_000, size=args.n)
    names = ("sluice", "lite")
    with running(names, args.shared_dir, [], 120.0, _log) as servers:
        clients = {name: connect(servers[name].uri, timeout=600.0) for name in names}
        index_times: dict[str, dict[str, list[float]]] = {}
        for name, client in clients.items():
            _create(client, SMALL)
            _fill(client, SMALL, small, rng.integers(0, 100, size=args.small))
            index_times[name] = _create_index_times(client, args.index_repeats)
            _log(f"{name}: create_index on {args.small:,} flushed rows: {index_times[name]}")
            _create(client, BIG)
            _fill(client, BIG, vectors, tags)
            client.create_index(BIG, _hnsw(client))
            client.load_collection(BIG)
            _get_round(client, tags, 1.0, 0)  # warm-up
        qps: dict[str, list[float]] = {name: [] for name in names}
        for round_no in range(args.rounds):
            order = names if round_no % 2 == 0 else names[::-1]
            for name in order:
                qps[name].append(_get_round(clients[name], tags, args.seconds, round_no))
            _log(f"round {round_no + 1}: " + ", ".join(f"{n} {qps[n][-1]:.0f}" for n in names))
        for client in clients.values():
            client.close()
    return _report(args, index_times, qps)


def _report(
    args: argparse.Namespace,
    index_times: dict[str, dict[str, list[float]]],
    qps: dict[str, list[float]],
) -> int:
    print(f"\nload average: {os.getloadavg()[0]:.2f}")
    print(f"create_index on {args.small:,} x {DIM} flushed rows, median of repeats:")
    for name, by_type in index_times.items():
        for index_type, times in by_type.items():
            rounded = [round(t, 3) for t in times]
            print(f"  {name:7} {index_type:9} {statistics.median(times):6.3f} s  {rounded}")
    sluice_index = statistics.median(index_times["sluice"]["HNSW"])
    verdict = "PASS" if sluice_index <= CREATE_INDEX_TARGET_S else "FAIL"
    print(f"  target HNSW <= {CREATE_INDEX_TARGET_S} s: {verdict}")
    print(f"single-id get on {args.n:,} rows, QPS per round (median):")
    for name, values in qps.items():
        print(f"  {name:7} {statistics.median(values):8.0f}  {[round(v) for v in values]}")
    ratio = statistics.median(qps["sluice"]) / statistics.median(qps["lite"])
    print(f"  sluice / lite = {ratio:.2f}  target >= 1.0: {'PASS' if ratio >= 1.0 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
