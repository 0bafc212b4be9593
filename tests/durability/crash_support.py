"""What the durability tests share: the writer's ledger and the checks made against it.

The ledger is the writer's JSON-lines log (see ``writer.py``).  From it:

- *acknowledged* ids must be present exactly once, unless an acknowledged
  delete removed them (then absent) or a delete of them was sent and never
  answered (then at most once);
- *unacknowledged* ids (the insert raised, timed out or was cut off by a
  kill) may or may not be present, but never twice;
- ids that were never sent must never appear.

Two views are checked: the API (count(*) and query by id range over
pymilvus, Strong consistency) and the raw rows of every segment, read with
the engine in-process, where a duplicate cannot hide behind the query
path's newest-version-per-key rule.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def _root_conftest() -> Any:
    """``tests/conftest.py`` by path: ``import conftest`` finds whichever conftest was last loaded.

    Run as a script (``campaign.py``), the repository root is not on the path
    yet, and the conftest imports ``tests.*``.
    """
    root = str(HERE.parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    spec = importlib.util.spec_from_file_location(
        "_sluice_tests_conftest", HERE.parent / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: The server-process helper of tests/conftest.py (a real ``sluice serve``; SIGKILL, SIGTERM).
SluiceProcess = _root_conftest().SluiceProcess
COLLECTION = "durable"
DIM = 8
BATCH_ROWS = 200
#: count(*) and query windows; a window never holds more than MAX_RESULT_WINDOW rows.
ID_WINDOW = 5000


def vector_of(ids: np.ndarray) -> np.ndarray:
    """Must match ``writer.vector_of``."""
    base = ids.astype(np.float64)[:, None]
    return np.sin(base * (np.arange(DIM) + 1) * 0.001).astype(np.float32)


def write_config(
    path: Path, *, max_bytes: int, sync_buffer_bytes: int, wal_file_bytes: int = 65536
) -> Path:
    """Tiny segments and WAL files: seals, binlog syncs, WAL rotation and trimming
    all happen every few batches, so kills land in the middle of them."""
    path.write_text(
        f"wal_file_bytes = {wal_file_bytes}\n"
        "tick_seconds = 0.2\n"
        "[segments]\n"
        f"max_bytes = {max_bytes}\n"
        f"sync_buffer_bytes = {sync_buffer_bytes}\n"
    )
    return path


# --- the ledger ---------------------------------------------------------------------------


@dataclass
class Ledger:
    batch_rows: int = BATCH_ROWS
    entries: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def read(cls, *paths: Path, batch_rows: int = BATCH_ROWS) -> Ledger:
        """One ledger from the logs of writers that used disjoint batch numbers."""
        entries = []
        for path in paths:
            for line in path.read_text().splitlines():
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    # Only the very last line can be torn (the writer was stopped mid-write).
                    continue
        return cls(batch_rows, entries)

    def ids(self, batches: Iterable[int]) -> set[int]:
        out: set[int] = set()
        for b in batches:
            out.update(range(b * self.batch_rows, (b + 1) * self.batch_rows))
        return out

    def batches(self, op: str) -> set[int]:
        return {int(e["batch"]) for e in self.entries if e["op"] == op}

    @property
    def acked_batches(self) -> set[int]:
        return self.batches("insert-ack")

    @property
    def sent_batches(self) -> set[int]:
        return self.batches("insert-start")

    @property
    def unacked_batches(self) -> set[int]:
        return self.sent_batches - self.acked_batches

    def delete_ids(self, op: str) -> set[int]:
        return {int(i) for e in self.entries if e["op"] == op for i in e["ids"]}

    @property
    def deleted(self) -> set[int]:
        return self.delete_ids("delete-ack")

    @property
    def delete_unknown(self) -> set[int]:
        return self.delete_ids("delete-start") - self.deleted

    @property
    def flushes(self) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["op"] == "flush-ack"]

    def count(self, op: str) -> int:
        return sum(1 for e in self.entries if e["op"] == op)

    def summary(self) -> dict[str, int]:
        return {
            "acked_batches": len(self.acked_batches),
            "unacked_batches": len(self.unacked_batches),
            "acked_deletes": len(self.deleted),
            "unknown_deletes": len(self.delete_unknown),
            "flush_acks": len(self.flushes),
            "flush_fails": self.count("flush-fail"),
        }


@dataclass(frozen=True)
class Expectation:
    exactly_once: set[int]
    absent: set[int]
    at_most_once: set[int]
    #: Every acknowledged id: stored exactly once, whatever deletes did to it.
    acked: set[int]
    #: ``id // ID_WINDOW`` of every id ever sent: the windows worth querying.
    windows: list[int]

    @classmethod
    def of(cls, ledger: Ledger) -> Expectation:
        acked = ledger.ids(ledger.acked_batches)
        unacked = ledger.ids(ledger.unacked_batches)
        deleted = ledger.deleted
        unknown = ledger.delete_unknown
        assert deleted <= acked and unknown <= acked, "the writer deletes acknowledged ids only"
        return cls(
            exactly_once=acked - deleted - unknown,
            absent=deleted,
            at_most_once=unacked | unknown,
            acked=acked,
            windows=sorted({i // ID_WINDOW for i in acked | unacked}),
        )

    def check_visible(self, counts: Counter[int]) -> None:
        """``counts``: how many visible rows each id has."""
        problems = []
        missing = sorted(i for i in self.exactly_once if counts.get(i, 0) == 0)
        if missing:
            problems.append(f"{len(missing)} acknowledged ids missing, e.g. {missing[:10]}")
        dup = sorted(i for i, n in counts.items() if n > 1)
        if dup:
            problems.append(f"{len(dup)} ids present more than once, e.g. {dup[:10]}")
        resurrected = sorted(i for i in self.absent if counts.get(i, 0))
        if resurrected:
            problems.append(
                f"{len(resurrected)} acknowledged deletes undone, e.g. {resurrected[:10]}"
            )
        allowed = self.exactly_once | self.at_most_once
        unsent = sorted(i for i in counts if i not in allowed and i not in self.absent)
        if unsent:
            problems.append(
                f"{len(unsent)} ids never sent (or never acked) appear, e.g. {unsent[:10]}"
            )
        assert not problems, "; ".join(problems)

    def check_raw(self, counts: Counter[int]) -> None:
        """``counts``: rows per id in segment storage, deleted or not."""
        problems = []
        wrong = sorted(i for i in self.acked if counts.get(i, 0) != 1)
        if wrong:
            sample = {i: counts.get(i, 0) for i in wrong[:10]}
            problems.append(f"{len(wrong)} acknowledged ids not stored exactly once: {sample}")
        dup = sorted(i for i, n in counts.items() if n > 1)
        if dup:
            problems.append(f"{len(dup)} ids stored more than once, e.g. {dup[:10]}")
        allowed = self.acked | self.at_most_once
        unsent = sorted(i for i in counts if i not in allowed)
        if unsent:
            problems.append(f"{len(unsent)} ids never sent stored, e.g. {unsent[:10]}")
        assert not problems, "; ".join(problems)


# --- checks over the API ---------------------------------------------------------------------


def visible_counts_via_api(client: Any, windows: Iterable[int]) -> Counter[int]:
    """Rows per id as count(*) and query see them (Strong reads).

    The query path keeps one row per key, so a duplicate shows up as a
    window whose count(*) exceeds its number of distinct ids, which fails
    at once (the raw check names the ids).  ``windows`` cover every id ever sent; a last
    count(*) over everything proves that no row lies outside them.
    """
    counts: Counter[int] = Counter()
    total = 0
    for window in windows:
        lo = window * ID_WINDOW
        expr = f"id >= {lo} and id < {lo + ID_WINDOW}"
        n = count(client, expr)
        total += n
        if n == 0:
            continue
        rows = client.query(
            COLLECTION,
            filter=expr,
            output_fields=["id", "vector"],
            limit=16384,
            consistency_level="Strong",
        )
        ids = np.array([r["id"] for r in rows], dtype=np.int64)
        vecs = np.array([r["vector"] for r in rows], dtype=np.float32).reshape(len(rows), DIM)
        np.testing.assert_allclose(vecs, vector_of(ids), rtol=0, atol=0, err_msg="row content")
        counts.update(ids.tolist())
        assert n == len(ids), (
            f"{n - len(ids)} duplicate rows: count(*) is {n} but {len(ids)} distinct ids match "
            f"{expr!r}"
        )
    everything = count(client, "")
    assert everything == total, f"{everything - total} rows have ids outside every sent batch"
    return counts


def count(client: Any, expr: str) -> int:
    rows = client.query(
        COLLECTION, filter=expr, output_fields=["count(*)"], consistency_level="Strong"
    )
    return int(rows[0]["count(*)"])


def wait_flush_states(
    uri: str, flushes: list[dict[str, Any]], timeout: float
) -> list[dict[str, Any]]:
    """GetFlushState for every acknowledged flush; returns those still false after ``timeout``."""
    import grpc
    from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc

    channel = grpc.insecure_channel(uri.split("://", 1)[-1])
    stub = milvus_pb2_grpc.MilvusServiceStub(channel)
    pending = list(flushes)
    deadline = time.monotonic() + timeout
    try:
        while pending and time.monotonic() < deadline:
            still = []
            for flush in pending:
                resp = stub.GetFlushState(
                    milvus_pb2.GetFlushStateRequest(
                        collection_name=COLLECTION,
                        segmentIDs=flush["segments"],
                        flush_ts=flush["flush_ts"],
                    ),
                    timeout=10,
                )
                assert resp.status.code == 0, resp.status
                if not resp.flushed:
                    still.append(flush)
            pending = still
            if pending:
                time.sleep(0.2)
    finally:
        channel.close()
    return pending


def create_collection(client: Any, shards: int = 2) -> None:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(COLLECTION, schema=schema, index_params=index, num_shards=shards)


# --- checks on the raw storage ---------------------------------------------------------------


def stored_counts(engine: Any, db: str = "default") -> tuple[Counter[int], Counter[int]]:
    """(rows per id in storage, visible rows per id) for ``COLLECTION``, read in-process."""
    from sluice.engine.reader import visible
    from sluice.engine.segment import SegmentLevel, SegmentState

    collection = engine.get(db, COLLECTION)
    snapshot = collection.snapshot(engine.ctx.tso.allocate())
    raw: Counter[int] = Counter()
    live: Counter[int] = Counter()
    for segment in collection.segments():
        if segment.level == SegmentLevel.L0 or segment.state == SegmentState.DROPPED:
            continue
        view = segment.view()
        raw.update(np.asarray(view.pk).tolist())
    for view in snapshot.segments:
        mask = visible(view, snapshot)
        pk = np.asarray(view.pk)
        live.update((pk if mask is None else pk[mask]).tolist())
    return raw, live


# --- subprocesses ------------------------------------------------------------------------------


def start_writer(
    uri: str, log: Path, stop_file: Path, **options: object
) -> subprocess.Popen[bytes]:
    args = [sys.executable, str(HERE / "writer.py"), "--uri", uri, "--collection", COLLECTION]
    args += ["--log", str(log), "--stop-file", str(stop_file), "--batch-rows", str(BATCH_ROWS)]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    with open(log.with_suffix(".err"), "wb") as err:
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)


def stop_writer(proc: subprocess.Popen[bytes], stop_file: Path, timeout: float = 30.0) -> None:
    stop_file.touch()
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("writer did not stop") from None
    assert code == 0, f"writer exited with {code}"


class LogTail:
    """Follows the writer's log as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pos = 0
        self._partial = b""
        self.entries: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self._pos)
            data = fh.read()
        self._pos += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        new = [json.loads(line) for line in lines if line]
        self.entries.extend(new)
        return new

    def wait_for(self, predicate: Any, timeout: float, interval: float = 0.002) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.poll():
                if predicate(entry):
                    return True
            time.sleep(interval)
        return False

    def acks(self) -> int:
        self.poll()
        return sum(1 for e in self.entries if e["op"] == "insert-ack")
