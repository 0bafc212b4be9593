"""Flush as Milvus defines it: every FlushResponse field, checked for meaning.

The raw stub shows the whole ``FlushResponse``; ``GetPersistentSegmentInfo``
and ``GetCollectionStatistics`` are the independent witnesses for what the
response claims (which segments, which rows, persisted or not).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from helpers import (
    COLLECTION_NOT_EXISTS,
    FLUSHED,
    L1,
    RawMilvus,
    SluiceProcess,
    assert_ok,
    assert_recent_tso,
    assert_status,
    count,
    milvus_error,
    quick_collection,
    row_count,
    rows,
    tso_for,
    tso_ms,
    vchannel_pattern,
    wait_for,
)
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import milvus_pb2

DIM = 8


def _make(client: MilvusClient, name: str, n: int = 0, shards: int = 2, start: int = 0) -> None:
    if not client.has_collection(name):
        quick_collection(client, name, DIM, shards=shards)
    if n:
        assert client.insert(name, rows(n, DIM, start=start, seed=start))["insert_count"] == n


def _ids(response: milvus_pb2.FlushResponse, field: str, name: str) -> list[int]:
    return list(getattr(response, field)[name].data)


def _cp_offset(position) -> int:  # type: ignore[no-untyped-def]
    return int.from_bytes(position.msgID, "little")


def test_flush_response_fields(client: MilvusClient, raw: RawMilvus) -> None:
    _make(client, "fr", 300)
    described = raw.describe("fr")
    vchannels = set(described.virtual_channel_names)
    before_ms = int(time.time() * 1000)
    stamp = raw.call("AllocTimestamp", milvus_pb2.AllocTimestampRequest()).timestamp

    response = raw.flush("fr")

    assert_ok(response.status)
    assert response.db_name == "default"
    for field in ("coll_segIDs", "flush_coll_segIDs", "coll_seal_times", "coll_flush_ts"):
        assert set(getattr(response, field)) == {"fr"}, field
    sealed = _ids(response, "coll_segIDs", "fr")
    # One growing segment per shard was sealed; nothing was flushed before.
    assert len(sealed) == 2 and len(set(sealed)) == 2
    assert _ids(response, "flush_coll_segIDs", "fr") == []

    flush_ts = response.coll_flush_ts["fr"]
    assert_recent_tso(flush_ts, within=5)
    assert tso_ms(flush_ts) >= before_ms - 5
    assert flush_ts > stamp
    assert response.coll_seal_times["fr"] == tso_ms(flush_ts) // 1000

    assert set(response.channel_cps) == vchannels
    pattern = vchannel_pattern(described.collectionID)
    for vchannel, position in response.channel_cps.items():
        assert pattern.fullmatch(vchannel)
        assert position.channel_name == vchannel
        assert len(position.msgID) == 8
        assert position.timestamp <= flush_ts

    raw.wait_flushed("fr", response)
    segments = raw.segments("fr")
    assert {s.segmentID for s in segments} == set(sealed)
    assert all(s.state == FLUSHED and s.level == L1 for s in segments)
    assert all(s.num_rows > 0 for s in segments)
    assert sum(s.num_rows for s in segments) == 300
    assert {s.collectionID for s in segments} == {described.collectionID}
    assert len({s.partitionID for s in segments}) == 1
    assert {s.insert_channel for s in segments} == vchannels
    assert row_count(client, "fr") == 300


def test_first_flush_checkpoints_are_tsos(client: MilvusClient, raw: RawMilvus) -> None:
    _make(client, "fresh_cp", 20)
    created = raw.describe("fresh_cp").created_timestamp
    response = raw.flush("fresh_cp")
    assert_ok(response.status)
    assert len(response.channel_cps) == 2
    for position in response.channel_cps.values():
        assert_recent_tso(position.timestamp, within=60)
        assert created <= position.timestamp <= response.coll_flush_ts["fresh_cp"]


def test_two_flushes_in_a_row(client: MilvusClient, raw: RawMilvus) -> None:
    _make(client, "twice", 100)
    first = raw.flush("twice")
    assert_ok(first.status)
    raw.wait_flushed("twice", first)
    first_sealed = set(_ids(first, "coll_segIDs", "twice"))
    assert len(first_sealed) == 2

    _make(client, "twice", 50, start=100)
    second = raw.flush("twice")
    assert_ok(second.status)
    second_sealed = set(_ids(second, "coll_segIDs", "twice"))
    # The first flush's segments are now "already flushed"; the new rows went to new segments.
    assert set(_ids(second, "flush_coll_segIDs", "twice")) == first_sealed
    assert len(second_sealed) == 2
    assert second_sealed.isdisjoint(first_sealed)
    assert second.coll_flush_ts["twice"] > first.coll_flush_ts["twice"]
    # Checkpoints read before sealing: past the first flush, not yet at the second.
    for vchannel, position in second.channel_cps.items():
        assert first.coll_flush_ts["twice"] <= position.timestamp < second.coll_flush_ts["twice"]
        assert _cp_offset(position) > _cp_offset(first.channel_cps[vchannel])

    raw.wait_flushed("twice", second)
    by_id = {s.segmentID: s for s in raw.segments("twice")}
    assert set(by_id) == first_sealed | second_sealed
    assert all(s.state == FLUSHED for s in by_id.values())
    assert sum(by_id[i].num_rows for i in first_sealed) == 100
    assert sum(by_id[i].num_rows for i in second_sealed) == 50
    assert row_count(client, "twice") == 150
    assert count(client, "twice") == 150

    # A third flush with nothing new: no sealed segments, all four already flushed.
    third = raw.flush("twice")
    assert _ids(third, "coll_segIDs", "twice") == []
    assert set(_ids(third, "flush_coll_segIDs", "twice")) == first_sealed | second_sealed


def test_flush_with_nothing_inserted(client: MilvusClient, raw: RawMilvus) -> None:
    _make(client, "empty_flush")
    response = raw.flush("empty_flush")
    assert_ok(response.status)
    assert _ids(response, "coll_segIDs", "empty_flush") == []
    assert _ids(response, "flush_coll_segIDs", "empty_flush") == []
    assert_recent_tso(response.coll_flush_ts["empty_flush"], within=5)

    started = time.monotonic()
    raw.wait_flushed("empty_flush", response, timeout=5)
    assert time.monotonic() - started < 2.0
    started = time.monotonic()
    client.flush("empty_flush")
    assert time.monotonic() - started < 2.0
    assert raw.segments("empty_flush") == []
    assert row_count(client, "empty_flush") == 0


def test_flush_missing_collection(client: MilvusClient, raw: RawMilvus) -> None:
    response = raw.flush("x")
    assert_status(
        response.status,
        100,
        reason="collection not found[database=default][collection=x]",
        legacy=COLLECTION_NOT_EXISTS,
    )
    assert not response.status.retriable
    assert not response.coll_segIDs and not response.coll_flush_ts

    # pymilvus raises at once: code 100 is not retried.
    started = time.monotonic()
    with milvus_error(100, message="collection not found[database=default][collection=x]"):
        client.flush("x")
    assert time.monotonic() - started < 1.0


def test_flush_fails_whole_request_for_one_missing_name(
    client: MilvusClient, raw: RawMilvus
) -> None:
    _make(client, "partly", 10)
    response = raw.flush("partly", "ghost")
    assert_status(
        response.status,
        100,
        reason="collection not found[database=default][collection=ghost]",
        legacy=COLLECTION_NOT_EXISTS,
    )
    # Nothing was sealed for the existing collection either.
    assert raw.segments("partly") == []


def test_get_flush_state_for_missing_collection(raw: RawMilvus) -> None:
    response = raw.flush_state("nowhere", [], tso_for(time.time()))
    assert_status(
        response.status,
        100,
        reason="collection not found[database=default][collection=nowhere]",
        legacy=COLLECTION_NOT_EXISTS,
    )
    assert response.flushed is False


def test_flush_unknown_database(server: SluiceProcess) -> None:
    nope = RawMilvus(server, db="nope")
    try:
        response = nope.flush("fr")
    finally:
        nope.close()
    assert_status(response.status, 800, reason="database not found[database=nope]")


def test_flush_request_db_name_wins_over_header(raw: RawMilvus) -> None:
    request = milvus_pb2.FlushRequest(db_name="nope", collection_names=["fr"])
    response = raw.call("Flush", request)
    assert_status(response.status, 800, reason="database not found[database=nope]")


def test_flush_echoes_database_from_header(client: MilvusClient, server: SluiceProcess) -> None:
    _make(client, "db_echo", 5)
    named = RawMilvus(server, db="default")
    try:
        response = named.flush("db_echo")
    finally:
        named.close()
    assert_ok(response.status)
    assert response.db_name == "default"


def test_flush_empty_name_list(raw: RawMilvus) -> None:
    response = raw.flush()
    assert_ok(response.status)
    assert response.db_name == "default"
    assert not response.coll_segIDs and not response.flush_coll_segIDs
    assert not response.coll_flush_ts and not response.coll_seal_times


def test_flush_several_collections_in_one_request(client: MilvusClient, raw: RawMilvus) -> None:
    _make(client, "multi_a", 30)
    _make(client, "multi_b", 40, shards=1)
    response = raw.flush("multi_a", "multi_b")
    assert_ok(response.status)
    assert set(response.coll_flush_ts) == {"multi_a", "multi_b"}
    # One flush timestamp for the whole request.
    assert response.coll_flush_ts["multi_a"] == response.coll_flush_ts["multi_b"]
    assert len(_ids(response, "coll_segIDs", "multi_a")) == 2
    assert len(_ids(response, "coll_segIDs", "multi_b")) == 1
    for name, n in (("multi_a", 30), ("multi_b", 40)):
        raw.wait_flushed(name, response)
        segments = raw.segments(name)
        assert {s.segmentID for s in segments} == set(_ids(response, "coll_segIDs", name))
        assert sum(s.num_rows for s in segments) == n
        assert row_count(client, name) == n


def test_get_flush_state_semantics(client: MilvusClient, raw: RawMilvus) -> None:
    _make(client, "fs_sem", 20)
    response = raw.flush("fs_sem")
    raw.wait_flushed("fs_sem", response)
    flush_ts = response.coll_flush_ts["fs_sem"]

    # Unknown segment IDs count as flushed (dropped or compacted away).
    state = raw.flush_state("fs_sem", [123456789], flush_ts)
    assert_ok(state.status)
    assert state.flushed is True
    # A flush_ts no channel checkpoint has reached is not flushed: it is not "always true".
    state = raw.flush_state("fs_sem", [], tso_for(time.time() + 3600))
    assert_ok(state.status)
    assert state.flushed is False


def test_get_flush_state_without_a_collection_name(client: MilvusClient, raw: RawMilvus) -> None:
    """The Node SDK's flushSync sends only segment IDs (and flush_ts), as Milvus accepts."""
    _make(client, "fs_nameless", 30)
    _make(client, "fs_nameless_other", 30)
    response = raw.flush("fs_nameless", "fs_nameless_other")
    segments = _ids(response, "coll_segIDs", "fs_nameless") + _ids(
        response, "coll_segIDs", "fs_nameless_other"
    )
    assert segments
    flush_ts = response.coll_flush_ts["fs_nameless"]

    def nameless_flushed() -> bool:
        state = raw.flush_state("", segments, flush_ts)
        assert_ok(state.status)
        return bool(state.flushed)

    wait_for(nameless_flushed, what="GetFlushState without a collection name")
    assert raw.flushed("fs_nameless", response) and raw.flushed("fs_nameless_other", response)
    # Unknown segments without a name: nothing left to wait for, as in Milvus.
    state = raw.flush_state("", [987654321], tso_for(time.time() + 3600))
    assert_ok(state.status)
    assert state.flushed is True
    # The segments' own channels are still checked against flush_ts.
    state = raw.flush_state("", segments, tso_for(time.time() + 3600))
    assert_ok(state.status)
    assert state.flushed is False


def test_inserts_after_flush_go_to_new_segments(client: MilvusClient, raw: RawMilvus) -> None:
    _make(client, "after", 40)
    client.flush("after")
    before = {s.segmentID: s.num_rows for s in raw.segments("after")}
    assert sum(before.values()) == 40

    _make(client, "after", 40, start=40)
    # The new rows are visible but not persisted; the flushed segments did not grow.
    assert count(client, "after") == 80
    assert {s.segmentID: s.num_rows for s in raw.segments("after")} == before
    assert row_count(client, "after") == 40

    client.flush("after")
    after = {s.segmentID: s.num_rows for s in raw.segments("after")}
    assert {k: v for k, v in after.items() if k in before} == before
    new = set(after) - set(before)
    assert len(new) == 2
    assert sum(after[k] for k in new) == 40
    assert row_count(client, "after") == 80


def test_pymilvus_flush_waits_and_returns_none(client: MilvusClient, raw: RawMilvus) -> None:
    _make(client, "py_flush", 64)
    assert client.flush("py_flush") is None
    segments = raw.segments("py_flush")
    assert segments and all(s.state == FLUSHED for s in segments)
    assert row_count(client, "py_flush") == 64


def test_idle_shard_checkpoint_also_reaches_flush_ts(client: MilvusClient, raw: RawMilvus):
    _make(client, "one_row", 1)
    response = raw.flush("one_row")
    assert_ok(response.status)
    # One row lands on one shard: one sealed segment, but both vchannels are checked.
    assert len(_ids(response, "coll_segIDs", "one_row")) == 1
    assert len(response.channel_cps) == 2
    raw.wait_flushed("one_row", response)
    assert row_count(client, "one_row") == 1
    # Every checkpoint, including the idle shard's, has passed this flush.
    later = raw.flush("one_row")
    for position in later.channel_cps.values():
        assert position.timestamp >= response.coll_flush_ts["one_row"]


def test_flush_during_concurrent_inserts(
    client: MilvusClient, raw: RawMilvus, server: SluiceProcess
) -> None:
    _make(client, "busy")
    stop = threading.Event()
    acked = [0]
    failures: list[BaseException] = []

    def writer() -> None:
        own = MilvusClient(server.uri)
        try:
            batch = 0
            while not stop.is_set():
                own.insert("busy", rows(20, DIM, start=batch * 20, seed=batch))
                batch += 1
                acked[0] = batch * 20
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)
        finally:
            own.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_for(lambda: acked[0] >= 200, timeout=20, what="200 acknowledged rows")
        acked_before_flush = acked[0]
        response = raw.flush("busy")
        assert_ok(response.status)
        raw.wait_flushed("busy", response)
        persisted = row_count(client, "busy")
    finally:
        stop.set()
        thread.join()
    assert not failures, failures
    # Every insert acknowledged before Flush was sent is persisted once the flush completes.
    assert acked_before_flush <= persisted <= acked[0]
    by_id = {s.segmentID: s for s in raw.segments("busy")}
    assert all(by_id[i].state == FLUSHED for i in _ids(response, "coll_segIDs", "busy"))
    assert count(client, "busy") == acked[0]


def test_flush_with_a_repeated_name(tmp_path: Path) -> None:
    # Its own server: the bug wedges the collection and the persister for good.
    proc = SluiceProcess(tmp_path / "data").start()
    client = MilvusClient(proc.uri, timeout=5)
    raw = RawMilvus(proc)
    try:
        _make(client, "repeated", 10)
        response = raw.call(
            "Flush", milvus_pb2.FlushRequest(collection_names=["repeated", "repeated"]), timeout=2
        )
        assert_ok(response.status)
        assert set(response.coll_flush_ts) == {"repeated"}
        client.insert("repeated", rows(5, DIM, start=10), timeout=5)
        client.flush("repeated", timeout=10)
        assert row_count(client, "repeated") == 15
    finally:
        raw.close()
        client.close()
        proc.kill()


def test_flush_does_not_need_a_loaded_collection(client: MilvusClient, raw: RawMilvus) -> None:
    schema = client.create_schema(enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection("unloaded", schema=schema, num_shards=2)
    assert client.get_load_state("unloaded")["state"].name == "NotLoad"
    assert client.insert("unloaded", rows(25, DIM))["insert_count"] == 25
    client.flush("unloaded")
    assert row_count(client, "unloaded") == 25
    assert sum(s.num_rows for s in raw.segments("unloaded")) == 25
