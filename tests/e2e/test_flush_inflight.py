"""A flush observed while it is still persisting.

The server runs with ``SLUICE_TEST_STORAGE_DELAY=2`` (every segment-file write
takes two more seconds) and ``[flush] state_wait_ms = 0`` (GetFlushState
answers at once instead of waiting for the persister), so the states between
"Flush answered" and "data on disk" can be seen from outside.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    FLUSHED,
    FLUSHING,
    L0,
    L1,
    SEALED,
    RawMilvus,
    SluiceProcess,
    assert_ok,
    count,
    quick_collection,
    row_count,
    rows,
    wait_for,
    write_config,
)
from pymilvus import MilvusClient
from pymilvus.grpc_gen import milvus_pb2

DELAY = 2.0
DIM = 8


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    root: Path = tmp_path_factory.mktemp("slow")
    config = write_config(root, "[flush]\nstate_wait_ms = 0\n")
    proc = SluiceProcess(
        root / "data", env={"SLUICE_TEST_STORAGE_DELAY": str(DELAY)}, config=config
    ).start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture(scope="module")
def slow_client(slow_server: SluiceProcess) -> Iterator[MilvusClient]:
    client = MilvusClient(slow_server.uri)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def slow_raw(slow_server: SluiceProcess) -> Iterator[RawMilvus]:
    raw = RawMilvus(slow_server)
    try:
        yield raw
    finally:
        raw.close()


def test_flush_seen_in_flight(slow_client: MilvusClient, slow_raw: RawMilvus) -> None:
    quick_collection(slow_client, "inflight", DIM, shards=2)
    slow_client.insert("inflight", rows(80, DIM))

    started = time.monotonic()
    response = slow_raw.flush("inflight")
    assert_ok(response.status)
    answered = time.monotonic() - started
    # Flush seals and answers; it does not wait for the writes.
    assert answered < DELAY
    sealed = set(response.coll_segIDs["inflight"].data)
    assert len(sealed) == 2
    flush_ts = response.coll_flush_ts["inflight"]

    state = slow_raw.flush_state("inflight", list(sealed), flush_ts)
    assert_ok(state.status)
    assert state.flushed is False
    # Nothing persisted yet: row_count counts persisted rows only; queries see everything.
    assert row_count(slow_client, "inflight") == 0
    assert count(slow_client, "inflight") == 80

    seen: set[int] = set()
    flushed_at = None
    deadline = time.monotonic() + 6 * DELAY + 10
    while time.monotonic() < deadline:
        states = {s.segmentID: s.state for s in slow_raw.segments("inflight")}
        assert set(states) == sealed
        if slow_raw.flushed("inflight", response):
            flushed_at = time.monotonic() - started
            break
        seen.update(states.values())
        time.sleep(0.1)
    assert flushed_at is not None, "flush never completed"
    # Between the answer and completion the segments were Sealed or Flushing, never more.
    assert seen, "no poll happened before completion"
    assert seen <= {SEALED, FLUSHING, FLUSHED}
    assert seen & {SEALED, FLUSHING}
    # At least one 2-second segment write happened after Flush answered.
    assert flushed_at >= DELAY * 0.9

    segments = slow_raw.segments("inflight")
    assert all(s.state == FLUSHED for s in segments)
    assert sum(s.num_rows for s in segments) == 80
    assert row_count(slow_client, "inflight") == 80
    # Once true, it stays true.
    assert slow_raw.flushed("inflight", response) is True


def test_pymilvus_flush_blocks_until_persisted(
    slow_client: MilvusClient, slow_raw: RawMilvus
) -> None:
    quick_collection(slow_client, "blocking", DIM, shards=1)
    slow_client.insert("blocking", rows(30, DIM))
    assert row_count(slow_client, "blocking") == 0

    started = time.monotonic()
    slow_client.flush("blocking")
    elapsed = time.monotonic() - started

    assert elapsed >= DELAY * 0.9, "flush returned before the segment write could finish"
    assert row_count(slow_client, "blocking") == 30
    segments = slow_raw.segments("blocking")
    assert len(segments) == 1 and segments[0].state == FLUSHED
    assert segments[0].num_rows == 30


def test_delete_only_flush_waits_for_the_delta_log(
    slow_client: MilvusClient, slow_raw: RawMilvus
) -> None:
    quick_collection(slow_client, "deletes_only", DIM, shards=1)
    slow_client.insert("deletes_only", rows(20, DIM))
    slow_client.flush("deletes_only")
    data_segments = {s.segmentID for s in slow_raw.segments("deletes_only")}

    slow_client.delete("deletes_only", ids=[1, 2, 3])
    response = slow_raw.flush("deletes_only")
    assert_ok(response.status)
    # No growing segment to seal, but the deletes before flush_ts still have to reach disk.
    assert list(response.coll_segIDs["deletes_only"].data) == []
    assert set(response.flush_coll_segIDs["deletes_only"].data) == data_segments
    assert slow_raw.flushed("deletes_only", response) is False

    started = time.monotonic()
    slow_raw.wait_flushed("deletes_only", response, timeout=6 * DELAY + 10)
    assert time.monotonic() - started >= DELAY * 0.5
    levels = sorted(s.level for s in slow_raw.segments("deletes_only"))
    assert levels == [L0, L1]
    assert count(slow_client, "deletes_only") == 17
    assert row_count(slow_client, "deletes_only") == 20


def test_flush_all_seen_in_flight(slow_client: MilvusClient, slow_raw: RawMilvus) -> None:
    quick_collection(slow_client, "fa_inflight", DIM, shards=1)
    slow_client.insert("fa_inflight", rows(10, DIM))
    response = slow_raw.call("FlushAll", milvus_pb2.FlushAllRequest())
    assert_ok(response.status)

    def state() -> bool:
        reply = slow_raw.call(
            "GetFlushAllState",
            milvus_pb2.GetFlushAllStateRequest(flush_all_ts=response.flush_all_ts),
        )
        assert_ok(reply.status)
        return bool(reply.flushed)

    assert state() is False
    wait_for(state, timeout=6 * DELAY + 10, what="GetFlushAllState")
    assert row_count(slow_client, "fa_inflight") == 10


def test_acknowledged_flush_completes_after_a_crash(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[flush]\nstate_wait_ms = 0\n")
    proc = SluiceProcess(
        tmp_path / "data", env={"SLUICE_TEST_STORAGE_DELAY": str(DELAY)}, config=config
    ).start()
    try:
        client = MilvusClient(proc.uri)
        quick_collection(client, "crashy", DIM, shards=2)
        client.insert("crashy", rows(50, DIM))
        client.close()
        raw = RawMilvus(proc)
        response = raw.flush("crashy")
        raw.close()
        assert_ok(response.status)

        proc.kill()  # while the 2-second segment writes are in progress
        proc.start()

        raw = RawMilvus(proc)
        client = MilvusClient(proc.uri)
        try:
            # The same flush (same segment IDs, same flush_ts) completes after recovery.
            raw.wait_flushed("crashy", response, timeout=8 * DELAY + 10)
            segments = raw.segments("crashy")
            assert {s.segmentID for s in segments} == set(response.coll_segIDs["crashy"].data)
            assert all(s.state == FLUSHED for s in segments)
            assert sum(s.num_rows for s in segments) == 50
            assert row_count(client, "crashy") == 50
            assert count(client, "crashy") == 50
        finally:
            raw.close()
            client.close()
    finally:
        proc.kill()
