"""Read-path figures: index build, single-query and batched search, recall.

The shared scripts do most of the work, each in its own process, and report a
``RESULT {json}`` line that is parsed here:

* ``bench_milvus.py`` against Sluice, with the raw FAISS HNSW and numpy references (they
  run in the client process, so they are measured once), and against milvus-lite with
  ``--no-reference``.
* ``ceiling.py`` against the null server: the client + RPC ceiling for one query per call.

Two measurements are made here, in this process:

* the null server driven by bench_milvus.py's own ``timed_search_loop``: the same request
  shape and the same QPS definition (queries over wall time, ``tolist`` and hit parsing
  included) as the Sluice figure, so their ratio compares like with like.  ceiling.py
  counts only the time inside calls, which flatters the ceiling a little.
* batched search on Sluice: 100 query vectors per ``MilvusClient.search`` call against the
  index bench_milvus.py just built, compared with FAISS searching all queries in one call.

Afterwards ``run.py`` starts the FAISS floor (``floor_server.py``: Search is one FAISS call)
and :func:`interleaved_loops` drives null, floor and Sluice with the same loop in turns,
so all three single-query figures come from the same minutes.

A failing or timed-out step is recorded as ``{"error": ...}`` and the run goes on, so one
broken endpoint still leaves the others' figures.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
from pymilvus import MilvusClient
from servers import connect
from workload import EF, TOP_K, Workload

RESULT_PREFIX = "RESULT "
COLLECTION = "bench"
VECTOR_FIELD = "vec"  # bench_milvus.py's name for it
SEARCH_PARAMS = {"metric_type": "L2", "params": {"ef": EF}}

Log = Callable[[str], None]


class ScriptError(RuntimeError):
    """A benchmark script failed or printed no RESULT line."""


def parse_result(stdout: str) -> dict[str, Any]:
    """The JSON of the last ``RESULT`` line a script printed."""
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise ScriptError("no RESULT line in the script's output")
    parsed: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return parsed


def run_script(argv: list[str], timeout_s: float, log: Log) -> dict[str, Any]:
    """Run a script with its progress (stderr) passed through, and parse its RESULT line."""
    log("running " + " ".join(argv[1:]))
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0:
        raise ScriptError(f"{Path(argv[1]).name} exited with code {proc.returncode}")
    return parse_result(proc.stdout)


def guarded(label: str, step: Callable[[], dict[str, Any]], log: Log) -> dict[str, Any]:
    """Run ``step``; on failure log it and return ``{"error": ...}`` instead of raising."""
    t = time.perf_counter()
    try:
        out = step()
    except Exception as exc:  # the report shows the error in place of the figures
        log(f"{label} failed: {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}
    log(f"{label} done in {time.perf_counter() - t:.1f}s")
    return out


def bench_milvus_argv(
    shared_dir: Path, uri: str, n: int, nq: int, repeats: int, label: str, references: bool
) -> list[str]:
    argv = [sys.executable, str(shared_dir / "bench_milvus.py"), "--uri", uri]
    argv += ["--n", str(n), "--nq", str(nq), "--get-n", str(min(nq, 1000))]
    argv += ["--repeats", str(repeats), "--label", label]
    return argv if references else [*argv, "--no-reference"]


def ceiling_argv(shared_dir: Path, uri: str, n: int, nq: int) -> list[str]:
    script = shared_dir / "ceiling.py"
    return [sys.executable, str(script), "--uri", uri, "--n", str(n), "--nq", str(nq)]


def null_same_loop(bm: ModuleType, uri: str, w: Workload, repeats: int) -> dict[str, Any]:
    """The null server's single-query QPS measured by bench_milvus.py's own loop."""
    client = connect(uri)
    try:
        bm.timed_search_loop(client, COLLECTION, w.queries[:20], TOP_K, EF, 1)
        qps, lat, _ = bm.timed_search_loop(client, COLLECTION, w.queries, TOP_K, EF, repeats)
    finally:
        client.close()
    return {
        "search_qps": round(statistics.median(qps), 2),
        "search_qps_all": [round(v, 2) for v in qps],
        "search_p50_ms": round(float(np.percentile(lat, 50)) * 1000, 3),
        "search_p99_ms": round(float(np.percentile(lat, 99)) * 1000, 3),
    }


INTERLEAVED_ORDER = ("null", "floor", "sluice")


def interleaved_loops(
    bm: ModuleType, uris: Mapping[str, str], w: Workload, repeats: int
) -> dict[str, Any]:
    """bench_milvus.py's single-query loop on each endpoint in turn, ``repeats`` rounds.

    Each round runs every endpoint's loop back to back (seconds apart), so the per-round
    ratios compare endpoints under the same machine load; their medians are reported.
    """
    names = [name for name in INTERLEAVED_ORDER if name in uris]
    clients = {name: connect(uris[name]) for name in names}
    qps: dict[str, list[float]] = {name: [] for name in names}
    try:
        for client in clients.values():
            bm.timed_search_loop(client, COLLECTION, w.queries[:20], TOP_K, EF, 1)
        for _ in range(repeats):
            for name, client in clients.items():
                loop_qps, _, _ = bm.timed_search_loop(client, COLLECTION, w.queries, TOP_K, EF, 1)
                qps[name].append(loop_qps[0])
    finally:
        for client in clients.values():
            client.close()
    out: dict[str, Any] = {
        name: {
            "search_qps": round(statistics.median(values), 2),
            "search_qps_all": [round(v, 2) for v in values],
        }
        for name, values in qps.items()
    }
    pairs = (("sluice", "null"), ("floor", "null"), ("sluice", "floor"))
    out["paired"] = {
        f"{a}_over_{b}": [round(x / y, 4) for x, y in zip(qps[a], qps[b], strict=True)]
        for a, b in pairs
        if a in qps and b in qps
    }
    return out


def search_batch(client: MilvusClient, queries: npt.NDArray[np.float32]) -> list[list[int]]:
    """One search call with ``len(queries)`` vectors; the ids of each query's hits."""
    result = client.search(
        COLLECTION,
        data=queries.tolist(),
        limit=TOP_K,
        search_params=SEARCH_PARAMS,
        anns_field=VECTOR_FIELD,
    )
    return [[int(hit["id"]) for hit in hits] for hits in result]


def batched_search(
    bm: ModuleType, uri: str, w: Workload, batch: int, repeats: int
) -> dict[str, Any]:
    """QPS of ``batch``-vector search calls over the time inside calls, and recall@10.

    Expects the collection bench_milvus.py left behind: indexed, loaded, ``vec`` field.
    """
    truth = bm.exact_knn(w.vectors, w.queries, TOP_K)
    chunks = [w.queries[s : s + batch] for s in range(0, w.queries.shape[0], batch)]
    client = connect(uri)
    try:
        search_batch(client, chunks[0])
        qps: list[float] = []
        found: list[list[int]] = []
        for _ in range(repeats):
            found, in_calls = [], 0.0
            for chunk in chunks:
                t = time.perf_counter()
                found += search_batch(client, chunk)
                in_calls += time.perf_counter() - t
            qps.append(w.queries.shape[0] / in_calls)
    finally:
        client.close()
    return {
        "batch": batch,
        "queries": int(w.queries.shape[0]),
        "search_qps": round(statistics.median(qps), 1),
        "search_qps_all": [round(v, 1) for v in qps],
        "recall_at_10": round(bm.recall_at_k(found, truth, TOP_K), 4),
    }


def run(
    uris: Mapping[str, str],
    bm: ModuleType,
    w: Workload,
    shared_dir: Path,
    *,
    repeats: int,
    lite_repeats: int,
    search_batch_size: int,
    timeout_s: float,
    log: Log,
) -> dict[str, Any]:
    """Null ceiling first (cheapest), then Sluice with references, then milvus-lite."""
    n, nq = w.n, int(w.queries.shape[0])
    out: dict[str, Any] = {"n": n, "nq": nq, "repeats": repeats, "lite_repeats": lite_repeats}
    if "null" in uris:
        null = uris["null"]
        argv = ceiling_argv(shared_dir, null, n, nq)
        out["null_ceiling"] = guarded("ceiling.py", lambda: run_script(argv, timeout_s, log), log)
        out["null_same_loop"] = guarded(
            "null same-loop search", lambda: null_same_loop(bm, null, w, repeats), log
        )
    if "sluice" in uris:
        sluice = uris["sluice"]
        argv = bench_milvus_argv(shared_dir, sluice, n, nq, repeats, "sluice", references=True)
        out["sluice"] = guarded(
            "bench_milvus.py on sluice", lambda: run_script(argv, timeout_s, log), log
        )
        if "error" not in out["sluice"]:
            out["sluice_batched"] = guarded(
                "sluice batched search",
                lambda: batched_search(bm, sluice, w, search_batch_size, repeats),
                log,
            )
    if "lite" in uris:
        lite = uris["lite"]
        argv = bench_milvus_argv(shared_dir, lite, n, nq, lite_repeats, "lite", references=False)
        out["lite"] = guarded(
            "bench_milvus.py on milvus-lite", lambda: run_script(argv, timeout_s, log), log
        )
    return out
