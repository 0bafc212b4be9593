"""Cost of authentication + TLS on single-query search: the same workload with and without.

Starts two Sluice servers on loopback: one plain (authorization off, no TLS) and one
secured (authorization on, ``tls_mode`` 1 with a throwaway CA), loads the same rows into
both, waits for their indexes, then measures single-query ``MilvusClient.search`` QPS on
each in alternating rounds (so both figures come from the same minutes) and reports the
median of each and their ratio.  Target: secured >= 0.85x plain.

    .venv/bin/python bench/auth_overhead.py               # about two minutes on 2 cores
    .venv/bin/python bench/auth_overhead.py --rounds 3 --seconds 3 --n 5000   # quicker

Prints ``RESULT {json}`` as its last line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from pymilvus import MilvusClient

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.85


def _certs_module() -> ModuleType:
    """The test suite's certificate maker (one copy of that code in the repository)."""
    spec = importlib.util.spec_from_file_location("_certs", ROOT / "tests" / "e2e" / "certs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _start(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    ready = folder / "ready"
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "sluice", "serve", "--data", str(folder / "data"),
         "--port", "0", "--ready-file", str(ready), "--log-level", "WARNING"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ready.exists() and ready.read_text().strip():
            return proc, int(ready.read_text())
        if proc.poll() is not None:
            raise RuntimeError((folder / "server.log").read_text())
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def _load(client: MilvusClient, data: np.ndarray) -> None:
    client.create_collection("bench", dimension=data.shape[1], metric_type="L2")
    for start in range(0, len(data), 5000):
        rows = [
            {"id": start + i, "vector": v.tolist()}
            for i, v in enumerate(data[start : start + 5000])
        ]
        client.insert("bench", rows)
    client.flush("bench")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        info = client.describe_index("bench", "vector")
        if info["indexed_rows"] == info["total_rows"] == len(data):
            return
        time.sleep(0.5)
    raise RuntimeError("index build did not finish")


def _qps(client: MilvusClient, queries: np.ndarray, seconds: float) -> float:
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        client.search("bench", [queries[done % len(queries)].tolist()], limit=10)
        done += 1
    return done / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="rows loaded into each server")
    parser.add_argument("--dim", type=int, default=128, help="vector dimension")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per server")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of one round")
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    data = rng.random((args.n, args.dim), dtype=np.float32)
    queries = rng.random((1000, args.dim), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="sluice-auth-bench-") as tmp:
        folder = Path(tmp)
        certs = _certs_module().make_certs(folder / "certs")
        (folder / "plain").mkdir()
        (folder / "secure").mkdir()
        plain_env = {"SLUICE_SECURITY_AUTHORIZATION_ENABLED": "false"}
        secure_env = {
            "SLUICE_SECURITY_AUTHORIZATION_ENABLED": "true",
            "SLUICE_SECURITY_TLS_MODE": "1",
            "SLUICE_SECURITY_SERVER_PEM_PATH": str(certs.server_cert),
            "SLUICE_SECURITY_SERVER_KEY_PATH": str(certs.server_key),
        }
        servers = []
        try:
            plain_proc, plain_port = _start(folder / "plain", plain_env)
            servers.append(plain_proc)
            secure_proc, secure_port = _start(folder / "secure", secure_env)
            servers.append(secure_proc)
            plain = MilvusClient(f"http://127.0.0.1:{plain_port}")
            secure = MilvusClient(
                f"https://localhost:{secure_port}",
                token="root:Milvus",
                server_pem_path=str(certs.ca),
            )
            for client in (plain, secure):
                _load(client, data)
                _qps(client, queries, 1.0)  # warm-up
            results: dict[str, list[float]] = {"plain": [], "auth_tls": []}
            for _ in range(args.rounds):
                results["plain"].append(_qps(plain, queries, args.seconds))
                results["auth_tls"].append(_qps(secure, queries, args.seconds))
            plain.close()
            secure.close()
        finally:
            for proc in servers:
                proc.send_signal(signal.SIGTERM)
            for proc in servers:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    medians = {k: statistics.median(v) for k, v in results.items()}
    ratio = medians["auth_tls"] / medians["plain"]
    print(f"plain    QPS per round: {', '.join(f'{q:.0f}' for q in results['plain'])}")
    print(f"auth+TLS QPS per round: {', '.join(f'{q:.0f}' for q in results['auth_tls'])}")
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(f"median plain {medians['plain']:.0f} QPS, auth+TLS {medians['auth_tls']:.0f} QPS: "
          f"ratio {ratio:.3f} (target >= {TARGET}) {verdict}")  # fmt: skip
    summary = {"n": args.n, "dim": args.dim, "rounds": results, "median": medians, "ratio": ratio}
    print("RESULT " + json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
