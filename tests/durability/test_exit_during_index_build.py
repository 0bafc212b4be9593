"""Two Ctrl-Cs during an index build: a clean exit, every time.

An interpreter that finalises while a FAISS build still runs on a background
thread crashes (SIGSEGV or SIGABRT after "shutdown complete").  The server
must stop the build at its next chunk, join the builder and only then exit,
with status 0, however the signals arrive.  A segment big enough for a
multi-second HNSW build is flushed once; every run starts a server on the
folder (start-up queues the missing index), waits until the build has begun,
sends SIGINT twice and checks how the process ended.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest
from crash_support import SluiceProcess
from pymilvus import DataType, MilvusClient

ROWS = 40_000
DIM = 32
RUNS = 3


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("exit_build") / "data"
    server = SluiceProcess(data).start()
    client = MilvusClient(server.uri)
    try:
        schema = client.create_schema()
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
        client.create_collection("big", schema=schema)
        vectors = np.random.default_rng(0).random((ROWS, DIM), dtype=np.float32)
        for start in range(0, ROWS, 10_000):
            client.insert(
                "big",
                [{"id": i, "v": vectors[i].tolist()} for i in range(start, start + 10_000)],
            )
        client.flush("big")
        index = client.prepare_index_params()
        index.add_index(
            "v", index_type="HNSW", metric_type="L2", params={"M": 16, "efConstruction": 400}
        )
        client.create_index("big", index, sync=False)
    finally:
        client.close()
        server.kill()  # before the build finishes: every run below builds again
    return data


def wait_for_log(server: SluiceProcess, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.log():
        assert server.proc is not None and server.proc.poll() is None, server.log()
        assert time.monotonic() < deadline, f"{text!r} never logged:\n{server.log()}"
        time.sleep(0.02)


@pytest.mark.parametrize("run", range(RUNS))
def test_double_sigint_during_index_build_exits_cleanly(folder: Path, run: int) -> None:
    server = SluiceProcess(folder)
    offset = len(server.log())
    server.start()
    try:
        assert server.proc is not None
        wait_for_log(server, "building HNSW index")
        server.proc.send_signal(signal.SIGINT)
        time.sleep(0.05 * (run + 1))
        server.proc.send_signal(signal.SIGINT)
        code = server.proc.wait(60)
    finally:
        server.kill()
    log = server.log()[offset:]
    assert code == 0, f"exit status {code} (negative: killed by a signal):\n{log}"
    assert "shutdown complete" in log
    assert "cancelled: the engine is closing" in log, "the build did not stop at a chunk"
    assert "Traceback" not in log and "Fatal Python error" not in log
