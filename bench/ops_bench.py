"""Operations benchmarks: bulk import, /metrics scrape, metrics overhead, REST vs gRPC search.

    python bench/ops_bench.py import  [--rows 1000000] [--dim 128]
    python bench/ops_bench.py scrape  [--collections 100]
    python bench/ops_bench.py overhead [--seconds 10] [--rounds 3]
    python bench/ops_bench.py rest    [--seconds 10] [--rounds 3]

* ``import``: the same rows loaded twice into fresh collections of one server:
  pymilvus ``insert`` in 5,000-row batches plus a flush, then a Parquet file
  (written by pymilvus's ``LocalBulkWriter`` layout) through ``Import`` until the
  job says Completed; then a search to show the rows are searchable.
* ``scrape``: 100 collections with a few segments each; median time of 20 ``/metrics``
  GETs.
* ``overhead``: single-query search QPS against a server with ``[http] metrics``
  on and one with it off, alternating rounds, same data.
* ``rest``: single-query search QPS through pymilvus (gRPC) and through
  ``POST /v2/vectordb/entities/search`` (one keep-alive HTTP session), alternating.

Servers are child processes on free loopback ports, stopped by pid when done.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import requests
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import milvus_pb2

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(folder: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, str]]:
    port, http = free_port(), free_port()
    ready = folder / "ready"
    ready.unlink(missing_ok=True)
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "sluice", "serve", "--data", str(folder / "data"),
         "--port", str(port), "--http-port", str(http), "--ready-file", str(ready),
         "--log-level", "WARNING"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (ready.exists() and ready.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "server.log").read_text())
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{http}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def collection(client: MilvusClient, name: str, dim: int, index: str = "FLAT") -> None:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    params = client.prepare_index_params()
    params.add_index("vector", index_type=index, metric_type="L2")
    client.create_collection(name, schema=schema, index_params=params)


def bench_import(rows: int, dim: int) -> None:
    data = np.random.default_rng(0).random((rows, dim), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as (uri, _http):
        client = MilvusClient(uri)
        collection(client, "by_insert", dim)
        collection(client, "by_import", dim)
        started = time.perf_counter()
        batch = 5000
        for start in range(0, rows, batch):
            chunk = data[start : start + batch]
            client.insert(
                "by_insert",
                [{"id": start + i, "vector": v} for i, v in enumerate(chunk.tolist())],
            )
        client.flush("by_insert")
        insert_s = time.perf_counter() - started
        path = Path(tmp) / "rows.parquet"
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(data.ravel()), dim)
        table = pa.table(
            {"id": pa.array(np.arange(rows)), "vector": vectors.cast(pa.list_(pa.float32()))}
        )
        # LocalBulkWriter's layout: row groups of about 32 MB (65,536 rows of 128 floats).
        pq.write_table(table, path, row_group_size=max(1000, (32 << 20) // (4 * dim + 8)))
        started = time.perf_counter()
        reply = client._get_connection()._stub.Import(
            milvus_pb2.ImportRequest(collection_name="by_import", files=[str(path)])
        )
        job = reply.tasks[0]
        while True:
            state = client._get_connection()._stub.GetImportState(
                milvus_pb2.GetImportStateRequest(task=job)
            )
            if state.state in (1, 6):
                break
            time.sleep(0.02)
        import_s = time.perf_counter() - started
        assert state.state == 6, state
        hits = client.search("by_import", [data[123].tolist()], limit=1)
        found = client.query("by_import", filter="", output_fields=["count(*)"])[0]["count(*)"]
        print(f"rows={rows} dim={dim}")
        print(
            f"pymilvus insert (5000-row batches) + flush: {insert_s:.2f} s = {rows / insert_s:,.0f} rows/s"
        )
        print(
            f"bulk import from Parquet until Completed:   {import_s:.2f} s = {rows / import_s:,.0f} rows/s"
        )
        print(f"ratio: {insert_s / import_s:.1f}x; count(*) after import = {found}; "
              f"nearest to row 123 is {hits[0][0]['id']}")  # fmt: skip


def bench_scrape(collections: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as (uri, http):
        client = MilvusClient(uri)
        rng = np.random.default_rng(1)
        for i in range(collections):
            collection(client, f"c{i}", 16)
            for _ in range(2):
                client.insert(
                    f"c{i}",
                    [{"id": j, "vector": v} for j, v in enumerate(rng.random((50, 16)).tolist())],
                )
                client.flush(f"c{i}")
        session = requests.Session()
        times = []
        for _ in range(20):
            started = time.perf_counter()
            body = session.get(f"{http}/metrics", timeout=30).text
            times.append(time.perf_counter() - started)
        print(f"collections={collections}, /metrics size {len(body):,} bytes")
        print(
            f"scrape median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms"
        )


def qps(call: Callable[[], object], seconds: float) -> float:
    deadline = time.perf_counter() + seconds
    done = 0
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        call()
        done += 1
    return done / (time.perf_counter() - started)


def _loaded(uri: str, rows: int, dim: int) -> tuple[MilvusClient, np.ndarray]:
    client = MilvusClient(uri, dedicated=True)
    collection(client, "s", dim, index="HNSW")
    data = np.random.default_rng(2).random((rows, dim), dtype=np.float32)
    for start in range(0, rows, 5000):
        client.insert(
            "s",
            [
                {"id": start + i, "vector": v}
                for i, v in enumerate(data[start : start + 5000].tolist())
            ],
        )
    client.flush("s")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # the HNSW builds run in the background
        index = client.describe_index("s", "vector")
        if index.get("pending_index_rows", 1) == 0 and index.get("indexed_rows") == rows:
            break
        time.sleep(0.5)
    return client, data


def bench_overhead(seconds: float, rounds: int, rows: int = 20_000, dim: int = 128) -> None:
    """Alternate restarts of one data folder with metrics on and off: same index files, so
    the two configurations search the very same HNSW graphs."""
    results: dict[str, list[float]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with server(folder) as (uri, _):
            client, data = _loaded(uri, rows, dim)
            client.close()
        query = [data[7].tolist()]
        for _ in range(rounds):
            for label, env in (("off", {"SLUICE_HTTP_METRICS": "false"}), ("on", {})):
                with server(folder, env) as (uri, _):
                    client = MilvusClient(uri, dedicated=True)
                    client.search("s", query, limit=10)  # warm the plan
                    results[label].append(
                        qps(lambda c=client: c.search("s", query, limit=10), seconds)
                    )
                    client.close()
    med_on, med_off = statistics.median(results["on"]), statistics.median(results["off"])
    print(
        f"single-query search QPS, metrics on:  {[round(x) for x in results['on']]} median {med_on:.0f}"
    )
    print(
        f"single-query search QPS, metrics off: {[round(x) for x in results['off']]} median {med_off:.0f}"
    )
    print(f"metrics cost: {100 * (1 - med_on / med_off):.1f} % of QPS")


def bench_rest(seconds: float, rounds: int, rows: int = 20_000, dim: int = 128) -> None:
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as (uri, http):
        client, data = _loaded(uri, rows, dim)
        session = requests.Session()
        body = {"collectionName": "s", "data": [data[7].tolist()], "limit": 10}
        url = f"{http}/v2/vectordb/entities/search"
        assert session.post(url, json=body, timeout=30).json()["code"] == 0
        results: dict[str, list[float]] = {"grpc": [], "rest": []}
        for _ in range(rounds):
            results["grpc"].append(qps(lambda: client.search("s", body["data"], limit=10), seconds))
            results["rest"].append(
                qps(lambda: session.post(url, json=body, timeout=30).json(), seconds)
            )
        grpc_qps, rest_qps = statistics.median(results["grpc"]), statistics.median(results["rest"])
        print(f"gRPC (pymilvus) QPS: {[round(x) for x in results['grpc']]} median {grpc_qps:.0f}")
        print(f"REST (requests)  QPS: {[round(x) for x in results['rest']]} median {rest_qps:.0f}")
        print(f"REST / gRPC: {rest_qps / grpc_qps:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    imp = sub.add_parser("import")
    imp.add_argument("--rows", type=int, default=1_000_000)
    imp.add_argument("--dim", type=int, default=128)
    scrape = sub.add_parser("scrape")
    scrape.add_argument("--collections", type=int, default=100)
    for name in ("overhead", "rest"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--seconds", type=float, default=10.0)
        cmd.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.what == "import":
        bench_import(args.rows, args.dim)
    elif args.what == "scrape":
        bench_scrape(args.collections)
    elif args.what == "overhead":
        bench_overhead(args.seconds, args.rounds)
    else:
        bench_rest(args.seconds, args.rounds)
    shutil.rmtree(ROOT / "bench" / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main()
