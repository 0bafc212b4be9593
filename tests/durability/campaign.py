"""A long fault campaign: many kill -9s under load, then single-byte corruptions at rest.

    python tests/durability/campaign.py --kills 100 --corruptions 50 [--seed N] [--workdir DIR]

Phase 1 runs two writers (``writer.py``: inserts, deletes, flushes, each
acknowledgement fsynced to a ledger) plus an operator thread that builds and
drops indexes and asks for compactions, and SIGKILLs the server at random
moments (``random``, ``insert``, ``flush``, ``persist``, ``index``,
``recovery``: see ``test_crash.py``), restarting it on the same folder each time.

Phase 2 keeps writing, then per round kills the server, flips one random bit
at a random offset of one stored file (a WAL file, a segment file, an index
file, the metadata journal or snapshot) and starts the server again.  Each
round ends one of three ways:

* **recovered**: the server starts and every acknowledged row is there with its
  exact content (the damage did not matter, or was repaired without loss);
* **refused**: the server will not start and says why in one line naming the
  damaged file, with no traceback; the bit is then flipped back (the operator
  restored the file) and the server must start and hold every acknowledged row;
* **failure**: anything else: rows lost or changed while the server runs, a
  hang, a crash, a traceback, or a refusal that does not say what is wrong.

The campaign prints one line per round and a JSON summary; it exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from crash_support import (  # noqa: E402
    COLLECTION,
    Expectation,
    Ledger,
    LogTail,
    SluiceProcess,
    create_collection,
    start_writer,
    stop_writer,
    visible_counts_via_api,
    write_config,
)

#: gRPC channel options for a connection that shares no subchannel with older ones.
FRESH_CHANNEL = {"grpc.use_local_subchannel_pool": 1}
KILL_MODES = ("random", "insert", "persist", "flush", "index", "recovery")
SECOND_WRITER_BATCHES = 100_000
#: Files a corruption may hit, by kind: a glob under the data folder.
TARGETS = {
    "wal": "wal/**/*.wal",
    "segment": "segments/insert_log/**/*.parquet",
    "delta": "segments/delta_log/**/*.parquet",
    "index": "segments/index_files/**/*",
    "meta-journal": "meta/journal",
    "meta-snapshot": "meta/snapshot",
}


class Operator(threading.Thread):
    """Builds and drops indexes and requests compactions while the server comes and goes."""

    def __init__(self, server: SluiceProcess, seed: int) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.rng = random.Random(seed)
        self.stop_event = threading.Event()
        self.building = threading.Event()

    def run(self) -> None:
        from pymilvus import MilvusClient

        while not self.stop_event.is_set():
            try:
                client = MilvusClient(self.server.uri, timeout=5)
                try:
                    self.building.set()
                    client.release_collection(COLLECTION)
                    client.drop_index(COLLECTION, "vector")
                    index = client.prepare_index_params()
                    kind = self.rng.choice(["FLAT", "HNSW", "IVF_FLAT"])
                    params = {"M": 8, "efConstruction": 40} if kind == "HNSW" else {"nlist": 16}
                    index.add_index("vector", index_type=kind, metric_type="L2", params=params)
                    client.create_index(COLLECTION, index)
                    client.load_collection(COLLECTION)
                    self.building.clear()
                    client.compact(COLLECTION)
                finally:
                    client.close()
            except Exception:
                # The server is being killed all the time; the writers prove durability.
                self.building.clear()
            self.stop_event.wait(self.rng.uniform(0.2, 1.5))


def _wait_acks(tail: LogTail, n: int, server: SluiceProcess, timeout: float = 60) -> None:
    target = tail.acks() + n
    deadline = time.monotonic() + timeout
    while tail.acks() < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"writer made no progress:\n{server.log()[-3000:]}")
        time.sleep(0.01)


def _parquet_count(data: Path) -> int:
    return sum(1 for _ in (data / "segments").rglob("*.parquet"))


def kill_phase(server: SluiceProcess, data: Path, tail: LogTail, rounds: int, rng: random.Random, operator: Operator) -> Counter[str]:  # fmt: skip
    kills: Counter[str] = Counter()
    for round_no in range(rounds):
        mode = KILL_MODES[round_no % len(KILL_MODES)]
        _wait_acks(tail, rng.randint(1, 6), server)
        if mode == "insert":
            tail.wait_for(lambda e: e["op"] == "insert-start", 10)
            time.sleep(rng.uniform(0, 0.004))
        elif mode == "flush":
            tail.wait_for(lambda e: e["op"] == "flush-start", 10)
            time.sleep(rng.uniform(0, 0.03))
        elif mode == "persist":
            before = _parquet_count(data)
            deadline = time.monotonic() + 10
            while _parquet_count(data) == before and time.monotonic() < deadline:
                time.sleep(0.002)
        elif mode == "index":
            operator.building.wait(10)
            time.sleep(rng.uniform(0, 0.2))
        else:
            time.sleep(rng.uniform(0, 0.8))
        server.kill()
        kills[mode] += 1
        time.sleep(rng.uniform(0, 0.2))
        server.start(timeout=60)
        if mode == "recovery":
            time.sleep(rng.uniform(0, 0.05))
            server.kill()
            kills["recovery-again"] += 1
            server.start(timeout=60)
        print(f"kill {round_no + 1}/{rounds} ({mode}): restarted", flush=True)
    return kills


def _flip(path: Path, rng: random.Random) -> tuple[int, int]:
    data = bytearray(path.read_bytes())
    offset = rng.randrange(len(data))
    original = data[offset]
    data[offset] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    return offset, original


def _restore(path: Path, offset: int, original: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] = original
    path.write_bytes(bytes(data))


class Writers:
    """The writer processes; held still (SIGSTOP) while rows are counted.

    The check compares per-window counts, queries and a total taken one after
    another; a batch landing between them would look like a duplicate or a
    stray row.  A stopped writer's request already on the wire is given a
    moment to land first.
    """

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        for proc in self.procs:
            proc.send_signal(signal.SIGSTOP)
        time.sleep(1.0)
        try:
            yield
        finally:
            for proc in self.procs:
                proc.send_signal(signal.SIGCONT)


def _check_rows(server: SluiceProcess, logs: list[Path], writers: Writers) -> str | None:
    """``None`` when every acknowledged row is there exactly as written, else what is wrong."""
    from pymilvus import MilvusClient, MilvusException

    with writers.held():
        expect = Expectation.of(Ledger.read(*logs))
        # A connection of its own: pymilvus shares channels per address and gRPC
        # shares subchannels, and one to a killed server may still be backing off.
        client = MilvusClient(server.uri, timeout=30, dedicated=True, grpc_options=FRESH_CHANNEL)
        try:
            _ensure_loaded(client)
            expect.check_visible(visible_counts_via_api(client, expect.windows))
        except (AssertionError, MilvusException) as err:
            if server.proc is not None and server.proc.poll() is not None:
                return f"the server died after starting:\n{server.log()[-1500:]}"
            text = str(err).strip() or type(err).__name__
            return text[:600]
        finally:
            client.close()
    return None


def _ensure_loaded(client: Any) -> None:
    """The operator thread may have been killed between a release and the next load."""
    if not client.list_indexes(COLLECTION):
        index = client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="L2")
        client.create_index(COLLECTION, index)
    client.load_collection(COLLECTION)


def _start_outcome(server: SluiceProcess) -> tuple[bool, str]:
    """(started, what the failed start printed)."""
    before = len(server.log())
    try:
        server.start(timeout=60)
        return True, ""
    except RuntimeError:
        server.kill()
        return False, server.log()[before:]


def _clear_refusal(output: str, path: Path) -> bool:
    """One clear line naming the damaged file (or its folder), and no traceback."""
    if "Traceback (most recent call last)" in output:
        return False
    names = {path.name, path.parent.name}
    return any(re.search(re.escape(name), output) for name in names)


def corruption_phase(server: SluiceProcess, data: Path, tail: LogTail, logs: list[Path], writers: Writers, rounds: int, rng: random.Random) -> tuple[Counter[str], list[str]]:  # fmt: skip
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    for round_no in range(rounds):
        _wait_acks(tail, rng.randint(2, 8), server)
        server.kill()
        kind = rng.choice(sorted(TARGETS))
        files = [p for p in data.glob(TARGETS[kind]) if p.is_file() and p.stat().st_size]
        if not files:
            kind = "wal"
            files = [p for p in data.glob(TARGETS[kind]) if p.is_file() and p.stat().st_size]
        path = rng.choice(files)
        offset, original = _flip(path, rng)
        where = f"{kind} {path.relative_to(data)} @{offset}"
        started, output = _start_outcome(server)
        if started:
            problem = _check_rows(server, logs, writers)
            if problem is None:
                outcomes["recovered"] += 1
                print(f"corruption {round_no + 1}/{rounds} {where}: recovered", flush=True)
                continue
            failures.append(f"{where}: started but rows are wrong: {problem}")
            outcomes["silent-loss"] += 1
            print(f"corruption {round_no + 1}/{rounds} {where}: SILENT LOSS {problem}", flush=True)
            continue
        clear = _clear_refusal(output, path)
        _restore(path, offset, original)
        started_again, output_again = _start_outcome(server)
        if not started_again:
            failures.append(
                f"{where}: still refuses after the file was restored: {output_again[-500:]}"
            )
            outcomes["stuck"] += 1
            break
        problem = _check_rows(server, logs, writers)
        if problem is not None:
            failures.append(f"{where}: rows wrong after restoring the file: {problem}")
            outcomes["loss-after-restore"] += 1
        elif clear:
            outcomes["refused"] += 1
        else:
            failures.append(f"{where}: refused without a clear message: {output[-800:]}")
            outcomes["unclear-refusal"] += 1
        print(f"corruption {round_no + 1}/{rounds} {where}: refused ({'clear' if clear else 'UNCLEAR'})", flush=True)  # fmt: skip
    return outcomes, failures


def run(kills: int, corruptions: int, seed: int, workdir: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    config = write_config(workdir / "sluice.toml", max_bytes=65536, sync_buffer_bytes=32768)
    server = SluiceProcess(data, config=config).start()
    logs = [workdir / "writer-a.log", workdir / "writer-b.log"]
    stop = workdir / "writer.stop"
    writers = Writers()
    operator = Operator(server, seed)
    try:
        from pymilvus import MilvusClient

        setup = MilvusClient(server.uri)
        create_collection(setup)
        setup.close()
        for n, log in enumerate(logs):
            writers.procs.append(start_writer(server.uri, log, stop, seed=seed + n, pause=0.02, first_batch=n * SECOND_WRITER_BATCHES, flush_every=6 + 3 * n))  # fmt: skip
        operator.start()
        tail = LogTail(logs[0])
        kill_counts = kill_phase(server, data, tail, kills, rng, operator)
        operator.stop_event.set()
        operator.join(30)
        outcomes, failures = corruption_phase(server, data, tail, logs, writers, corruptions, rng)
        for proc in writers.procs:
            stop_writer(proc, stop)
        writers.procs = []
        final = _check_rows(server, logs, Writers())
        if final is not None:
            failures.append(f"final check: {final}")
        if "Traceback (most recent call last)" in server.log():
            failures.append("the server log holds a traceback")
        summary = Ledger.read(*logs).summary()
    finally:
        operator.stop_event.set()
        for proc in writers.procs:
            proc.kill()
        server.kill()
    return {
        "seed": seed,
        "kills": sum(kill_counts.values()),
        "kills_by_mode": dict(kill_counts),
        "corruptions": sum(outcomes.values()),
        "corruption_outcomes": dict(outcomes),
        "ledger": summary,
        "failures": failures,
    }


def main() -> None:
    import logging

    # pymilvus logs every refused connection while the server is down; the ledger tells the story.
    logging.disable(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--corruptions", type=int, default=50)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-campaign-") as tmp:
        result = run(args.kills, args.corruptions, args.seed, args.workdir or Path(tmp))
    print("CAMPAIGN", json.dumps(result), flush=True)
    sys.exit(1 if result["failures"] else 0)


if __name__ == "__main__":
    main()
