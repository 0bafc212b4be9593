"""Churn: 8 clients mixing inserts, deletes, flushes and searches, then idle; compaction's work.

One Sluice server (default settings: automatic compaction every 60 s).  For
``--minutes`` eight client threads each loop over random operations (insert
100 rows 50 %, delete 20 live rows 20 %, flush 5 %, search 25 %), keeping a
model of the live keys.  Then the server is left idle for ``--idle`` seconds.
Reported:

* data segments left (GetPersistentSegmentInfo, level-0 delete segments not
  counted) against what the live rows need at ``segments.max_bytes`` (at
  least one per shard): target at most 2x;
* single-query search latency p50 on the churned collection against a fresh
  collection holding the same live rows (inserted, flushed, indexed, loaded),
  each measured once its index covers every row: target at most 1.2x;
* that the churned collection holds exactly the model's rows;
* then (unless ``--settle 0``) the same once the server has gone quiet (under
  1 % of a core for 10 s: no merge left running) or ``--settle`` seconds have
  passed: how long compaction took to finish, where it converged, and the
  latency without a merge running beside the searches.

    .venv/bin/python bench/churn_bench.py                  # 5 minutes + 60 s idle
    .venv/bin/python bench/churn_bench.py --minutes 1 --idle 65
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import common_pb2, milvus_pb2
from servers import BENCH_DIR, connect, running

DIM = 64
NAME, FRESH = "churn", "churn_fresh"
MAX_BYTES = 128 * 2**20  # segments.max_bytes default


def _create(client: MilvusClient, name: str) -> None:
    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index(
        "v", index_type="HNSW", metric_type="L2", params={"M": 16, "efConstruction": 100}
    )
    client.create_collection(name, schema=schema, index_params=index)


class Model:
    """The live keys, shared by the client threads."""

    def __init__(self) -> None:
        self.live: set[int] = set()
        self.next_id = 0
        self.lock = threading.Lock()
        self.ops = {"insert": 0, "delete": 0, "flush": 0, "search": 0}

    def take_ids(self, n: int) -> range:
        with self.lock:
            start = self.next_id
            self.next_id += n
        return range(start, start + n)


def _client_loop(uri: str, model: Model, deadline: float, seed: int) -> None:
    client = connect(uri)
    rng = np.random.default_rng(seed)
    while time.monotonic() < deadline:
        roll = rng.random()
        if roll < 0.5:
            ids = model.take_ids(100)
            vectors = rng.random((100, DIM), dtype=np.float32)
            client.insert(NAME, [{"id": i, "v": vectors[k].tolist()} for k, i in enumerate(ids)])
            with model.lock:
                model.live.update(ids)
                model.ops["insert"] += 1
        elif roll < 0.7:
            with model.lock:
                pool = list(model.live)
            if not pool:
                continue
            victims = rng.choice(pool, size=min(20, len(pool)), replace=False).tolist()
            client.delete(NAME, ids=victims)
            with model.lock:
                model.live.difference_update(victims)
                model.ops["delete"] += 1
        elif roll < 0.75:
            client.flush(NAME)
            with model.lock:
                model.ops["flush"] += 1
        else:
            client.search(NAME, [rng.random(DIM, dtype=np.float32).tolist()], limit=10)
            with model.lock:
                model.ops["search"] += 1
    client.close()


def _segments(stub: object, name: str) -> list[milvus_pb2.PersistentSegmentInfo]:
    request = milvus_pb2.GetPersistentSegmentInfoRequest(collectionName=name)
    response = stub.GetPersistentSegmentInfo(request)  # type: ignore[attr-defined]
    return [s for s in response.infos if s.level != common_pb2.SegmentLevel.L0]


def _p50(client: MilvusClient, name: str, queries: np.ndarray) -> float:
    for q in queries[:50]:
        client.search(name, [q.tolist()], limit=10)
    took = []
    for q in queries:
        started = time.perf_counter()
        client.search(name, [q.tolist()], limit=10)
        took.append(time.perf_counter() - started)
    return statistics.median(took) * 1e3


def _wait_indexed(client: MilvusClient, name: str, timeout: float = 600.0) -> None:
    """Until every row of ``name`` is in a built index: latency is measured on indexes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.describe_index(name, "v")
        if int(info.get("pending_index_rows", 1)) == 0:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{name}: index not built in {timeout:.0f} s")


def _all_rows(client: MilvusClient, name: str) -> dict[int, list[float]]:
    rows: dict[int, list[float]] = {}
    iterator = client.query_iterator(name, batch_size=5000, filter="id >= 0", output_fields=["v"])
    while True:
        page = iterator.next()
        if not page:
            break
        rows.update({r["id"]: r["v"] for r in page})
    iterator.close()
    return rows


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _settle(pid: int, limit: float) -> float:
    """Seconds until the server spends under 1 % of a core over 10 s (at most ``limit``)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = _cpu_seconds(pid)
        time.sleep(10)
        if _cpu_seconds(pid) - before < 0.1:
            break
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--settle", type=float, default=900.0, help="0: skip the settled figures")
    args = parser.parse_args()
    with running(["sluice"], BENCH_DIR, [], 60.0, print) as servers:
        uri = servers["sluice"].uri
        client = connect(uri)
        _create(client, NAME)
        client.load_collection(NAME)
        model = Model()
        deadline = time.monotonic() + args.minutes * 60
        threads = [
            threading.Thread(target=_client_loop, args=(uri, model, deadline, seed))
            for seed in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stub = client._get_connection()._stub
        churned = len(_segments(stub, NAME))
        print(f"churn done: {model.ops}; {len(model.live):,} live rows; {churned} data segments")
        time.sleep(args.idle)
        segments = _segments(stub, NAME)
        rows = _all_rows(client, NAME)
        exact = set(rows) == model.live
        live_bytes = len(rows) * (DIM * 4 + 8 + 8)
        needed = max(1, math.ceil(live_bytes / MAX_BYTES))
        queries = np.random.default_rng(99).random((500, DIM), dtype=np.float32)
        _wait_indexed(client, NAME)
        churned_p50 = _p50(client, NAME, queries)
        settled = None
        if args.settle > 0:
            took = _settle(servers["sluice"].process.pid, args.settle)
            after = _segments(stub, NAME)
            settled = (took, after, _p50(client, NAME, queries))
        _create(client, FRESH)
        ids = sorted(rows)
        for start in range(0, len(ids), 5000):
            part = ids[start : start + 5000]
            client.insert(FRESH, [{"id": i, "v": rows[i]} for i in part])
        client.flush(FRESH)
        client.load_collection(FRESH)
        _wait_indexed(client, FRESH)
        fresh_p50 = _p50(client, FRESH, queries)
        print(f"after {args.idle:.0f} s idle: {len(segments)} data segments, {needed} needed")
        print(f"  rows per segment       {sorted((s.num_rows for s in segments), reverse=True)}")
        print(f"  segments / needed      {len(segments) / needed:5.2f}   (target <= 2.0)")
        print(f"  search p50 churned     {churned_p50:6.3f} ms")
        print(f"  search p50 fresh       {fresh_p50:6.3f} ms")
        print(f"  churned / fresh        {churned_p50 / fresh_p50:5.2f}   (target <= 1.2)")
        print(f"  rows equal the model   {exact}")
        if settled is not None:
            took, after, settled_p50 = settled
            print(f"settled {took:.0f} s later: {len(after)} data segments")
            print(f"  rows per segment       {sorted((s.num_rows for s in after), reverse=True)}")
            print(f"  segments / needed      {len(after) / needed:5.2f}")
            print(f"  search p50 settled     {settled_p50:6.3f} ms")
            print(f"  settled / fresh        {settled_p50 / fresh_p50:5.2f}")


if __name__ == "__main__":
    main()
