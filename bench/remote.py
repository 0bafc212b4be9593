"""Remote backends against the local data folder, in one run: insert, search, failover.

Starts etcd, NATS JetStream and SeaweedFS (S3) on loopback (the binaries the
tests use), then:

1. insert throughput: the same pymilvus batches into a node on the local
   folder and a node on etcd + NATS + S3, interleaved, ``--repeats`` times;
2. search QPS once loaded: single-vector searches against both, interleaved;
3. failover: ``--rounds`` times, the writer under insert load is killed
   (SIGKILL); the time until the standby answers an insert is measured, and
   every acknowledged row is checked on the new writer.

    .venv/bin/python bench/remote.py                 # about 5 minutes on 2 cores
    .venv/bin/python bench/remote.py --quick         # about 2 minutes
    .venv/bin/python bench/remote.py --nats-sync     # JetStream fsyncs every message

Targets: remote insert >= 0.5x local, remote search >= 0.9x local, failover
<= 10 s with 0 acknowledged rows lost.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pymilvus import MilvusClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import remote_backends, services  # noqa: E402
from tests.conftest import SluiceProcess  # noqa: E402
from tests.durability.remote_support import Writer, stored_ids  # noqa: E402

DIM = 128


def _batches(n: int, batch: int, seed: int = 0) -> list[list[dict[str, object]]]:
    rng = np.random.default_rng(seed)
    vectors = rng.random((n, DIM), dtype=np.float32)
    return [
        [{"id": i, "vector": vectors[i]} for i in range(start, min(n, start + batch))]
        for start in range(0, n, batch)
    ]


def insert_rate(uri: str, name: str, batches: list[list[dict[str, object]]]) -> float:
    client = MilvusClient(uri)
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, dimension=DIM, auto_id=False)
    rows = sum(len(b) for b in batches)
    started = time.perf_counter()
    for batch in batches:
        client.insert(name, batch)
    elapsed = time.perf_counter() - started
    client.close()
    return rows / elapsed


def search_qps(uri: str, name: str, queries: np.ndarray) -> float:
    client = MilvusClient(uri)
    started = time.perf_counter()
    for q in queries:
        client.search(name, [q.tolist()], limit=10)
    elapsed = time.perf_counter() - started
    client.close()
    return len(queries) / elapsed


def prepare_search(uri: str, name: str) -> None:
    client = MilvusClient(uri)
    client.flush(name)
    client.release_collection(name)
    client.drop_index(name, "vector")
    params = client.prepare_index_params()
    params.add_index(
        "vector", index_type="HNSW", metric_type="COSINE", params={"M": 16, "efConstruction": 100}
    )
    client.create_index(name, params)
    client.load_collection(name)
    while True:
        info = client.describe_index(name, "vector")
        if int(info.get("pending_index_rows", 0)) == 0 and int(info.get("indexed_rows", 0)) > 0:
            break
        time.sleep(0.5)
    client.close()


def failover_rounds(folder: Path, config: Path, rounds: int) -> list[dict[str, float]]:
    nodes = [SluiceProcess(folder / f"node{i}" / "data", config=config) for i in range(2)]
    for n in nodes:
        n.data_dir.parent.mkdir(parents=True, exist_ok=True)
    writer_node, standby = nodes
    writer_node.start(60)
    standby.start(wait=False)
    client = MilvusClient(writer_node.uri)
    client.create_collection("fo", dimension=8)
    client.close()
    results = []
    acked: set[int] = set()
    next_id = 0
    try:
        for round_no in range(rounds):
            writer = Writer(writer_node.uri, "fo", start=next_id, batch=50)
            writer.start()
            writer.some_acked.wait(60)
            time.sleep(0.5)
            killed = time.monotonic()
            writer_node.kill()
            acked |= set(writer.finish())
            next_id = writer.next + 1_000
            standby.wait_ready(60)
            ready = time.monotonic()
            probe = MilvusClient(standby.uri, timeout=30)
            probe.insert("fo", [{"id": next_id, "vector": [0.0] * 8}])
            probe.close()
            acked.add(next_id)
            next_id += 1
            accepted = time.monotonic()
            lost = len(acked - stored_ids(standby.uri, "fo"))
            results.append(
                {
                    "round": round_no,
                    "ready_s": ready - killed,
                    "write_s": accepted - killed,
                    "lost": lost,
                }
            )
            print(
                f"  failover {round_no}: writes accepted after {accepted - killed:.2f} s, lost {lost}"
            )
            writer_node, standby = standby, writer_node
            standby.start(wait=False)
    finally:
        for n in nodes:
            n.kill()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--nq", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--lease-ttl", type=int, default=3)
    parser.add_argument("--nats-sync", action="store_true", help="JetStream fsyncs every message")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    # A killed writer makes pymilvus log every refused retry; the figures are what matters.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    if args.quick:
        args.n, args.nq, args.repeats, args.rounds = 20_000, 200, 1, 3
    work = Path(tempfile.mkdtemp(prefix="sluice-remote-bench-"))
    etcd = services.EtcdService(work / "etcd")
    nats = services.NatsService(work / "nats", sync_always=args.nats_sync)
    s3 = services.SeaweedService(work / "s3")
    started: list[services.Service] = []
    nodes: list[SluiceProcess] = []
    try:
        for service in (etcd, nats, s3):
            service.start()
            started.append(service)
        tables = remote_backends.deployment_tables(
            etcd, nats, s3, "bench", lease_ttl=args.lease_ttl
        )
        remote_config = remote_backends.write_config(work / "remote.toml", tables)
        (work / "local").mkdir()
        (work / "remote").mkdir()
        local = SluiceProcess(work / "local" / "data").start(60)
        remote = SluiceProcess(work / "remote" / "data", config=remote_config).start(60)
        nodes += [local, remote]
        batches = _batches(args.n, args.batch)
        rates: dict[str, list[float]] = {"local": [], "remote": []}
        for r in range(args.repeats):
            for label, proc in (("local", local), ("remote", remote)):
                rates[label].append(insert_rate(proc.uri, "bench", batches))
            print(
                f"  insert repeat {r}: local {rates['local'][-1]:,.0f} rows/s, remote {rates['remote'][-1]:,.0f} rows/s"
            )
        for proc in nodes:
            prepare_search(proc.uri, "bench")
        queries = np.random.default_rng(7).random((args.nq, DIM), dtype=np.float32)
        qps: dict[str, list[float]] = {"local": [], "remote": []}
        for r in range(args.repeats):
            for label, proc in (("local", local), ("remote", remote)):
                qps[label].append(search_qps(proc.uri, "bench", queries))
            print(
                f"  search repeat {r}: local {qps['local'][-1]:,.0f} QPS, remote {qps['remote'][-1]:,.0f} QPS"
            )
        for proc in nodes:
            proc.kill()
        failover_config = remote_backends.write_config(
            work / "failover.toml",
            remote_backends.deployment_tables(etcd, nats, s3, "failover", lease_ttl=args.lease_ttl),
        )
        rounds = failover_rounds(work / "failover", failover_config, args.rounds)
    finally:
        for proc in nodes:
            proc.kill()
        for service in started:
            service.kill()
    insert_ratio = statistics.median(rates["remote"]) / statistics.median(rates["local"])
    search_ratio = statistics.median(qps["remote"]) / statistics.median(qps["local"])
    worst = max(r["write_s"] for r in rounds)
    lost = sum(int(r["lost"]) for r in rounds)
    result = {
        "rows": args.n,
        "batch": args.batch,
        "nats_sync_always": args.nats_sync,
        "insert_rows_per_s": {k: statistics.median(v) for k, v in rates.items()},
        "insert_ratio": insert_ratio,
        "search_qps": {k: statistics.median(v) for k, v in qps.items()},
        "search_ratio": search_ratio,
        "failover_s": [round(r["write_s"], 2) for r in rounds],
        "failover_worst_s": worst,
        "failover_lost_rows": lost,
        "lease_ttl_s": args.lease_ttl,
    }
    print(
        f"insert   remote/local {insert_ratio:.2f}x  (target >= 0.5)  {'ok' if insert_ratio >= 0.5 else 'MISS'}"
    )
    print(
        f"search   remote/local {search_ratio:.2f}x  (target >= 0.9)  {'ok' if search_ratio >= 0.9 else 'MISS'}"
    )
    print(
        f"failover worst {worst:.2f} s over {len(rounds)} rounds, {lost} acknowledged rows lost  (target <= 10 s, 0)"
    )
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
