"""Scale: a million vectors through pymilvus, Sluice beside real Milvus 2.3.5, same run.

For each engine in ``--engines`` (``sluice``; ``milvus235``: the standalone
server from ``../shared/reference``, set up as its README says), on the same
clustered data (``bench_milvus.make_data``) and the same HNSW parameters
(M=16, efConstruction=200, L2; search ef=64), in this order:

1. insert ``--n`` rows in batches of 10,000 (id + vector);
2. flush;
3. create the index and wait until every row is indexed;
4. load;
5. single-query search QPS over ``--queries`` queries (each query timed as a
   client sees it, results parsed) and recall@10 against exact numpy top-10;
6. server memory: RSS and RssAnon summed over the server's process tree;
7. restart: SIGTERM, start again on the same data, load, and time until the
   first search answers (restart-to-serving).

Each engine runs alone (the other is stopped), so both get the machine.
``sluice-mmap`` is Sluice with ``[mmap]`` on for vector fields, vector
indexes and scalar fields (memory after the restart is the steady state:
every segment loaded from its files and mapped).

    .venv/bin/python bench/scale_bench.py --n 1000000 --dim 128
    .venv/bin/python bench/scale_bench.py --n 200000 --dim 768 --engines sluice
    .venv/bin/python bench/scale_bench.py --engines sluice,sluice-mmap,milvus235
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pymilvus import DataType, MilvusClient
from servers import BENCH_DIR, LOOPBACK, free_port

SHARED = BENCH_DIR.parent.parent / "shared"
sys.path.insert(0, str(SHARED / "bench"))
from bench_milvus import exact_knn, make_data, recall_at_k  # noqa: E402

NAME = "scale"
K = 10
EF = 64
HNSW = {"M": 16, "efConstruction": 200}
MILVUS235_PYTHON = Path.home() / ".cache" / "milvus235" / "bin" / "python"


#: ``sluice-mmap``: Sluice with every sealed column and index memory-mapped.
MMAP_CONFIG = "[mmap]\nvector_field = true\nvector_index = true\nscalar_field = true\n"


def _argv(engine: str, data: Path, port: int) -> list[str]:
    if engine in ("sluice", "sluice-mmap"):
        argv = [sys.executable, "-m", "sluice", "serve", "--data", str(data), "--host", LOOPBACK,
                "--port", str(port), "--http-port", "0", "--log-level", "WARNING"]  # fmt: skip
        if engine == "sluice-mmap":
            config = data.parent / "sluice.toml"
            config.write_text(MMAP_CONFIG)
            argv += ["--config", str(config)]
        return argv
    if engine == "milvus235":
        script = SHARED / "reference" / "serve_milvus23.py"
        return [str(MILVUS235_PYTHON), str(script), str(data), str(port)]
    raise ValueError(f"unknown engine {engine!r}")


class Engine:
    """One server process (and its children) on a data folder that survives restarts."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 300.0) -> float:
        """Seconds from launch until pymilvus lists collections."""
        started = time.perf_counter()
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            _argv(self.name, self.folder / "data", self.port),
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.folder / 'server.log'}")
            self._follow_port()
            try:
                MilvusClient(self.uri, timeout=2).list_collections()
                return time.perf_counter() - started
            except Exception:  # not up yet
                time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not answer in {timeout:.0f} s")

    def _follow_port(self) -> None:
        """Milvus 2.3.5 takes the next free port when its own is still held after a restart;
        its wrapper prints ``started PORT``."""
        if self.name != "milvus235":
            return
        try:
            lines = (self.folder / "server.log").read_text(errors="replace").splitlines()
        except OSError:
            return
        started = [line.split()[1] for line in lines if line.startswith("started ")]
        if started and started[-1].isdigit():
            self.port = int(started[-1])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def memory(self) -> dict[str, float]:
        """RSS and RssAnon in MiB, summed over the process tree."""
        assert self.process is not None
        totals = {"rss_mib": 0.0, "rss_anon_mib": 0.0}
        for pid in _tree(self.process.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon"):
                    field = "rss_mib" if key == "VmRSS" else "rss_anon_mib"
                    totals[field] += int(value.split()[0]) / 1024
        return {k: round(v, 1) for k, v in totals.items()}


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _timed(label: str, call: Callable[[], object], out: dict[str, object]) -> None:
    started = time.perf_counter()
    call()
    out[label] = round(time.perf_counter() - started, 2)
    print(f"    {label:<22} {out[label]} s", flush=True)


def _build(client: MilvusClient, x: np.ndarray, out: dict[str, object]) -> None:
    if client.has_collection(NAME):
        client.drop_collection(NAME)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=x.shape[1])
    client.create_collection(NAME, schema=schema)

    def insert() -> None:
        for start in range(0, len(x), 10_000):
            block = x[start : start + 10_000]
            rows = [{"id": start + i, "vec": v} for i, v in enumerate(block.tolist())]
            client.insert(NAME, rows)

    def index() -> None:
        params = client.prepare_index_params()
        params.add_index("vec", index_type="HNSW", metric_type="L2", params=HNSW)
        client.create_index(NAME, params, timeout=7200)
        while True:
            info = client.describe_index(NAME, "vec")
            if int(info.get("indexed_rows", 0)) >= len(x) and info.get("state") == "Finished":
                return
            time.sleep(0.2)

    _timed("insert_s", insert, out)
    _timed("flush_s", lambda: client.flush(NAME), out)
    _timed("index_s", index, out)
    _timed("load_s", lambda: client.load_collection(NAME, timeout=3600), out)


def _search(client: MilvusClient, q: np.ndarray, gt: np.ndarray, out: dict[str, object]) -> None:
    params = {"metric_type": "L2", "params": {"ef": EF}}
    for v in q[:20].tolist():
        client.search(NAME, [v], limit=K, search_params=params, anns_field="vec")
    found = []
    started = time.perf_counter()
    for v in q.tolist():
        hits = client.search(NAME, [v], limit=K, search_params=params, anns_field="vec")[0]
        found.append([int(h["id"]) for h in hits])
    out["search_qps"] = round(len(q) / (time.perf_counter() - started), 1)
    out["recall_at_10"] = round(recall_at_k(found, gt, K), 4)
    print(f"    search_qps             {out['search_qps']}", flush=True)
    print(f"    recall_at_10           {out['recall_at_10']}", flush=True)


def _restart(engine: Engine, q: np.ndarray, out: dict[str, object]) -> None:
    engine.stop()
    started = time.perf_counter()
    engine.start(timeout=1800)
    client = MilvusClient(engine.uri, timeout=3600)
    client.load_collection(NAME, timeout=3600)
    params = {"metric_type": "L2", "params": {"ef": EF}}
    client.search(NAME, [q[0].tolist()], limit=K, search_params=params, anns_field="vec")
    out["restart_to_serving_s"] = round(time.perf_counter() - started, 2)
    print(f"    restart_to_serving_s   {out['restart_to_serving_s']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--engines", default="sluice,milvus235")
    parser.add_argument("--keep", action="store_true", help="keep the data folders")
    args = parser.parse_args()
    # pymilvus logs every reconnection attempt while a server restarts.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    _, x, _, q = make_data(args.n, args.dim, 256, args.queries, 7)
    print(f"data: {args.n:,} x {args.dim} float32 ({x.nbytes / 2**20:,.0f} MiB)", flush=True)
    gt = exact_knn(x, q, K)
    results: dict[str, dict[str, object]] = {}
    for name in args.engines.split(","):
        folder = Path(tempfile.mkdtemp(prefix=f"scale-{name}-"))
        engine = Engine(name, folder)
        out: dict[str, object] = {}
        results[name] = out
        print(f"{name}:", flush=True)
        try:
            out["startup_s"] = round(engine.start(), 2)
            client = MilvusClient(engine.uri, timeout=3600)
            _build(client, x, out)
            _search(client, q, gt, out)
            out.update(engine.memory())
            print(f"    memory                 {engine.memory()}", flush=True)
            _restart(engine, q, out)
            out["after_restart"] = engine.memory()
        except Exception as exc:  # one engine failing still reports the other
            out["error"] = repr(exc)
            print(f"    error: {exc!r}", flush=True)
        finally:
            engine.stop()
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    raw_mib = x.nbytes / 2**20
    print(f"RESULT {json.dumps({'n': args.n, 'dim': args.dim, 'raw_mib': raw_mib, **results})}")


if __name__ == "__main__":
    main()
