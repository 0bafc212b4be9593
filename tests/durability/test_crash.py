"""SIGKILL the server again and again under load; nothing acknowledged may be lost or doubled.

Two writer processes (``writer.py``) insert 200-row batches with unique ids
into a two-shard collection, delete a few acknowledged ids now and then and
flush every few batches, logging each acknowledgement (fsynced) only after
the server answered.  Meanwhile the test kills the server with SIGKILL and
restarts it on the same folder, aiming each kill at a different moment:

- ``random``: after a random delay;
- ``insert``: the instant the writer starts an insert (mid-RPC: WAL append,
  fsync, or the reply);
- ``flush``: just after the writer sends a Flush (barrier, seal, final sync);
- ``persist``: the instant a new segment file appears on disk (the binlog is
  being written, or is written but its manifest is not yet committed);
- ``recovery``: a random kill, then a second one within 50 ms of the restart,
  while the server persists what it has just replayed.

Segments are tiny (64 KiB, 32 KiB sync buffer) so seals and binlog syncs are
constant, WAL files are 64 KiB so they rotate and get trimmed all the time,
and every other round stretches segment writes
(``SLUICE_TEST_STORAGE_DELAY``) to widen the window between a binlog and its
manifest.

At the end every acknowledged row must be present exactly once with its own
vector, acknowledged deletes stay deleted, nothing never sent appears,
unacknowledged batches appear at most once, and every acknowledged flush
reports flushed.  Set ``SLUICE_CRASH_SEED`` to replay a run's kill schedule.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import pytest
from crash_support import (
    BATCH_ROWS,
    COLLECTION,
    Expectation,
    Ledger,
    LogTail,
    SluiceProcess,
    create_collection,
    start_writer,
    stop_writer,
    stored_counts,
    visible_counts_via_api,
    wait_flush_states,
    write_config,
)

MODES = [
    "random",
    "insert",
    "persist",
    "flush",
    "recovery",
    "insert",
    "persist",
    "random",
    "flush",
    "recovery",
]
#: The second writer's batch numbers start here, far from the first writer's.
SECOND_WRITER_BATCHES = 100_000


def parquet_files(data: Path) -> set[str]:
    return {str(p) for p in (data / "segments").rglob("*.parquet")}


def wait_for_new_file(data: Path, timeout: float) -> bool:
    before = parquet_files(data)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if parquet_files(data) - before:
            return True
        time.sleep(0.002)
    return False


@pytest.mark.slow
def test_acknowledged_writes_survive_repeated_sigkill(tmp_path: Path) -> None:
    seed = int(os.environ.get("SLUICE_CRASH_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    print(f"SLUICE_CRASH_SEED={seed}")
    data = tmp_path / "data"
    config = write_config(tmp_path / "sluice.toml", max_bytes=65536, sync_buffer_bytes=32768)
    server = SluiceProcess(data, config=config, env={"SLUICE_TEST_STORAGE_DELAY": "0"}).start()
    # Two writers with disjoint ids, so inserts, deletes and flushes from different
    # connections interleave on the server (group commit, flush barriers, seals).
    logs = [tmp_path / "writer-a.log", tmp_path / "writer-b.log"]
    stop = tmp_path / "writer.stop"
    writers: list[subprocess.Popen[bytes]] = []
    kills: list[tuple[str, bool]] = []
    try:
        from pymilvus import MilvusClient

        setup = MilvusClient(server.uri)
        create_collection(setup)
        setup.close()

        for n, log in enumerate(logs):
            writers.append(
                start_writer(
                    server.uri,
                    log,
                    stop,
                    seed=seed + n,
                    pause=0.02,
                    first_batch=n * SECOND_WRITER_BATCHES,
                    flush_every=6 + 3 * n,
                )
            )
        tail = LogTail(logs[0])
        other = LogTail(logs[1])
        for round_no, mode in enumerate(MODES):
            # Let the writers get a few acknowledged batches into this server's life.
            target = tail.acks() + rng.randint(2, 10)
            deadline = time.monotonic() + 30
            while tail.acks() < target:
                assert time.monotonic() < deadline, (
                    f"writer made no progress:\n{server.log()[-3000:]}"
                )
                for proc, log in zip(writers, logs, strict=True):
                    assert proc.poll() is None, (
                        f"writer died: {log.with_suffix('.err').read_text()}"
                    )
                time.sleep(0.01)
            if mode in ("random", "recovery"):
                time.sleep(rng.uniform(0.0, 0.8))
                hit = True
            elif mode == "insert":
                hit = tail.wait_for(lambda e: e["op"] == "insert-start", 10)
                time.sleep(rng.uniform(0.0, 0.004))
            elif mode == "flush":
                hit = tail.wait_for(lambda e: e["op"] == "flush-start", 10)
                time.sleep(rng.uniform(0.0, 0.03))
            else:
                hit = wait_for_new_file(data, 10)
            server.kill()
            kills.append((mode, hit))
            time.sleep(rng.uniform(0.0, 0.3))
            server.env["SLUICE_TEST_STORAGE_DELAY"] = "0.05" if round_no % 2 == 0 else "0"
            server.start()
            if mode == "recovery":
                # Again, while the restarted server persists what it just replayed.
                time.sleep(rng.uniform(0.0, 0.05))
                server.kill()
                kills.append(("recovery", True))
                server.start()

        # Some acknowledged writes after the last restart, then quiet writers.
        target = (tail.acks() + 5, other.acks() + 5)
        deadline = time.monotonic() + 30
        while tail.acks() < target[0] or other.acks() < target[1]:
            assert time.monotonic() < deadline, f"writers stalled:\n{server.log()[-3000:]}"
            time.sleep(0.01)
        for proc in writers:
            stop_writer(proc, stop)
        writers = []

        ledger = Ledger.read(*logs)
        summary = ledger.summary()
        print(f"kills={kills} ledger={summary}")
        assert len(kills) == len(MODES) + MODES.count("recovery")
        assert sum(hit for _, hit in kills) >= len(kills) - 2, f"kills missed their moment: {kills}"
        assert summary["acked_batches"] >= 40
        assert summary["acked_deletes"] > 0 and summary["flush_acks"] > 0
        assert "replayed" in server.log(), "no restart had anything to replay: kills came too late"
        expect = Expectation.of(ledger)

        client = MilvusClient(server.uri)
        try:
            expect.check_visible(visible_counts_via_api(client, expect.windows))
        finally:
            client.close()
        # Every flush acknowledged before any of the crashes completes, with no further Flush.
        unflushed = wait_flush_states(server.uri, ledger.flushes, timeout=30)
        assert not unflushed, (
            f"{len(unflushed)} acknowledged flushes never completed: {unflushed[:3]}"
        )

        # One more crash, then look at every stored row in-process.
        server.kill()
        from sluice.config import Settings
        from sluice.engine.engine import Engine

        engine = Engine(Settings.from_toml(config, data_dir=data))
        try:
            raw, live = stored_counts(engine)
        finally:
            engine.close()
        # Not a requirement (an unacknowledged insert may land on one shard and not the
        # other), but worth seeing: what became of the inserts nobody heard back from.
        fates = {"absent": 0, "partial": 0, "whole": 0}
        for batch in ledger.unacked_batches:
            stored = sum(raw.get(i, 0) for i in ledger.ids([batch]))
            fates["absent" if stored == 0 else "whole" if stored == BATCH_ROWS else "partial"] += 1
        print(f"unacknowledged batches: {fates}")
        expect.check_raw(raw)
        expect.check_visible(live)
    finally:
        stop.touch()
        for proc in writers:
            proc.kill()
            proc.wait()
        server.kill()


@pytest.mark.slow
@pytest.mark.parametrize(
    "pending_delete", [False, True], ids=["inserts-only", "with-pending-delete"]
)
def test_flush_acknowledged_before_sigkill_completes_after_restart(
    tmp_path: Path, pending_delete: bool
) -> None:
    """Flush answered, server killed before persisting it, restarted: GetFlushState turns true."""
    import grpc
    from pymilvus import MilvusClient
    from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc

    # Segment writes take 3 s, so the kill lands before the flush has persisted anything.
    server = SluiceProcess(tmp_path / "data", env={"SLUICE_TEST_STORAGE_DELAY": "3"}).start()
    try:
        client = MilvusClient(server.uri)
        create_collection(client)
        client.insert(COLLECTION, [{"id": i, "vector": [i / 100] * 8} for i in range(100)])
        if pending_delete:
            client.delete(COLLECTION, ids=[1, 2, 3])
        channel = grpc.insecure_channel(server.uri.split("://", 1)[1])
        response = milvus_pb2_grpc.MilvusServiceStub(channel).Flush(
            milvus_pb2.FlushRequest(collection_names=[COLLECTION]), timeout=10
        )
        channel.close()
        assert response.status.code == 0
        flush = {
            "segments": list(response.coll_segIDs[COLLECTION].data),
            "flush_ts": response.coll_flush_ts[COLLECTION],
        }
        server.kill()
        server.env["SLUICE_TEST_STORAGE_DELAY"] = "0"
        server.start()
        assert not wait_flush_states(server.uri, [flush], timeout=5)
        assert count_rows(client) == (97 if pending_delete else 100)
        client.close()
    finally:
        server.kill()


def count_rows(client: object) -> int:
    rows = client.query(  # type: ignore[attr-defined]
        COLLECTION, filter="", output_fields=["count(*)"], consistency_level="Strong"
    )
    return int(rows[0]["count(*)"])
