"""Stopping and restarting a server on the same data folder.

A clean stop (SIGTERM) exits 0 after persisting everything, so the next start
replays no WAL record; a crash (SIGKILL) leaves the WAL to replay, and
acknowledged writes survive either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    L1,
    RawMilvus,
    SluiceProcess,
    count,
    quick_collection,
    row_count,
    rows,
    write_config,
)
from pymilvus import MilvusClient

DIM = 8
STRONG = {"consistency_level": "Strong"}


@pytest.fixture
def proc(tmp_path: Path) -> Iterator[SluiceProcess]:
    server = SluiceProcess(tmp_path / "data").start()
    try:
        yield server
    finally:
        server.kill()


def _fill(client: MilvusClient) -> list[dict]:
    """Flushed rows, unflushed rows and deletes on a 2-shard collection, plus an auto-id one."""
    quick_collection(client, "kept", DIM, shards=2)
    data = rows(120, DIM)
    client.insert("kept", data[:80])
    client.flush("kept")
    client.insert("kept", data[80:])
    client.delete("kept", ids=[0, 1, 90, 91])
    quick_collection(client, "kept_empty", DIM)
    quick_collection(client, "kept_auto", DIM, auto_id=True)
    client.insert("kept_auto", [{"vector": r["vector"]} for r in data[:30]])
    return data


def _snapshot(client: MilvusClient) -> dict:
    desc = client.describe_collection("kept")
    hits = client.search("kept", [rows(1, DIM, seed=77)[0]["vector"]], limit=5, **STRONG)
    return {
        "count": count(client, "kept"),
        "ids": sorted(r["id"] for r in client.query("kept", filter="id >= 0", **STRONG)),
        "described": desc,
        "hits": [h["id"] for h in hits[0]],
        "collections": sorted(client.list_collections()),
        "auto_ids": sorted(r["id"] for r in client.query("kept_auto", filter="id > 0", **STRONG)),
    }


def _assert_auto_ids_stay_unique(client: MilvusClient, before: list[int]) -> None:
    """IDs handed out after a restart never repeat one handed out before it."""
    new = client.insert("kept_auto", [{"vector": [0.5] * DIM} for _ in range(30)])["ids"]
    assert len(set(new)) == 30
    assert set(new).isdisjoint(before)
    assert count(client, "kept_auto") == len(before) + 30


def _log_since(server: SluiceProcess, offset: int) -> str:
    return server.log()[offset:]


def test_sigterm_exits_zero_and_restart_replays_nothing(proc: SluiceProcess) -> None:
    client = MilvusClient(proc.uri)
    data = _fill(client)
    before = _snapshot(client)
    client.close()
    assert before["count"] == 116

    assert proc.stop() == 0
    offset = len(proc.log())
    proc.start()

    client = MilvusClient(proc.uri)
    raw = RawMilvus(proc)
    try:
        after = _snapshot(client)
        assert after == before
        assert len(after["auto_ids"]) == 30
        got = client.get("kept", ids=[85], output_fields=["vector"], **STRONG)
        np.testing.assert_allclose(got[0]["vector"], data[85]["vector"], rtol=1e-6)
        assert client.get("kept", ids=[0, 90], **STRONG) == []
        # Nothing persisted is replayed after a clean stop.
        restart_log = _log_since(proc, offset)
        assert "engine open" in restart_log
        assert "replayed" not in restart_log
        # The server keeps working: new writes, and a flush that persists them.
        old_segments = {s.segmentID for s in raw.segments("kept") if s.level == L1}
        client.insert("kept", rows(5, DIM, start=500))
        response = raw.flush("kept")
        assert old_segments <= set(response.flush_coll_segIDs["kept"].data)
        assert old_segments.isdisjoint(response.coll_segIDs["kept"].data)
        raw.wait_flushed("kept", response)
        assert count(client, "kept") == 121
        assert row_count(client, "kept") == 125
        _assert_auto_ids_stay_unique(client, after["auto_ids"])
    finally:
        raw.close()
        client.close()


def test_sigkill_replays_the_wal_and_loses_nothing(proc: SluiceProcess) -> None:
    client = MilvusClient(proc.uri)
    _fill(client)
    before = _snapshot(client)
    client.close()

    proc.kill()
    offset = len(proc.log())
    proc.start()

    client = MilvusClient(proc.uri)
    raw = RawMilvus(proc)
    try:
        assert _snapshot(client) == before
        # The unflushed inserts and the deletes came back from the WAL...
        assert "replayed" in _log_since(proc, offset)
        # ...and the flushed segments from their files.
        flushed = [s for s in raw.segments("kept") if s.level == L1]
        assert sum(s.num_rows for s in flushed) == 80
        _assert_auto_ids_stay_unique(client, before["auto_ids"])
    finally:
        raw.close()
        client.close()


def test_sigterm_during_a_flush_finishes_it(tmp_path: Path) -> None:
    # Every segment write takes 2 s: SIGTERM lands while the flush is persisting.
    config = write_config(tmp_path, "[flush]\nstate_wait_ms = 0\n")
    env = {"SLUICE_TEST_STORAGE_DELAY": "2"}
    proc = SluiceProcess(tmp_path / "data", env=env, config=config).start()
    try:
        client = MilvusClient(proc.uri)
        quick_collection(client, "mid_flush", DIM, shards=2)
        client.insert("mid_flush", rows(40, DIM))
        client.close()
        raw = RawMilvus(proc)
        response = raw.flush("mid_flush")
        assert raw.flushed("mid_flush", response) is False
        raw.close()

        assert proc.stop() == 0
        offset = len(proc.log())
        proc.start()

        raw = RawMilvus(proc)
        client = MilvusClient(proc.uri)
        try:
            # The acknowledged flush finished before the process exited.
            assert raw.flushed("mid_flush", response) is True
            assert "replayed" not in _log_since(proc, offset)
            assert row_count(client, "mid_flush") == 40
            assert count(client, "mid_flush") == 40
        finally:
            raw.close()
            client.close()
    finally:
        proc.kill()
