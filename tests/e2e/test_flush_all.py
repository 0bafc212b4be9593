"""FlushAll and GetFlushAllState (spec §3 flush_all, §4.4, §7.4)."""

from __future__ import annotations

import time

from helpers import (
    FLUSHED,
    RawMilvus,
    assert_ok,
    assert_recent_tso,
    count,
    quick_collection,
    row_count,
    rows,
    tso_for,
    wait_for,
)
from pymilvus import MilvusClient
from pymilvus.grpc_gen import milvus_pb2

DIM = 8


def _state(raw: RawMilvus, **fields: object) -> milvus_pb2.GetFlushAllStateResponse:
    return raw.call("GetFlushAllState", milvus_pb2.GetFlushAllStateRequest(**fields))


def test_flush_all_persists_every_collection(client: MilvusClient, raw: RawMilvus) -> None:
    quick_collection(client, "fa_one", DIM, shards=2)
    quick_collection(client, "fa_two", DIM, shards=1)
    client.insert("fa_one", rows(70, DIM))
    client.insert("fa_two", rows(30, DIM, seed=3))
    assert row_count(client, "fa_one") == 0 and row_count(client, "fa_two") == 0
    stamp = raw.call("AllocTimestamp", milvus_pb2.AllocTimestampRequest()).timestamp

    response = raw.call("FlushAll", milvus_pb2.FlushAllRequest())
    assert_ok(response.status)
    flush_all_ts = response.flush_all_ts
    assert_recent_tso(flush_all_ts, within=5)
    assert flush_all_ts > stamp
    # Every pchannel of every collection is named in the cluster info.
    pchannels = {
        p for name in ("fa_one", "fa_two") for p in raw.describe(name).physical_channel_names
    }
    assert pchannels <= set(response.cluster_info.pchannels)

    def flushed() -> bool:
        state = _state(raw, flush_all_ts=flush_all_ts)
        assert_ok(state.status)
        return bool(state.flushed)

    wait_for(flushed, timeout=20, what="GetFlushAllState")
    for name, n in (("fa_one", 70), ("fa_two", 30)):
        segments = raw.segments(name)
        assert segments and all(s.state == FLUSHED for s in segments)
        assert sum(s.num_rows for s in segments) == n
        assert row_count(client, name) == n

    # Per-pchannel targets (flush_all_tss) are honoured too.
    tss = {p: flush_all_ts for p in response.cluster_info.pchannels}
    state = _state(raw, flush_all_tss=tss)
    assert_ok(state.status)
    assert state.flushed is True


def test_flush_all_state_is_false_for_a_future_timestamp(
    client: MilvusClient, raw: RawMilvus
) -> None:
    quick_collection(client, "fa_future", DIM)
    state = _state(raw, flush_all_ts=tso_for(time.time() + 3600))
    assert_ok(state.status)
    assert state.flushed is False


def test_flush_all_state_needs_a_timestamp(client: MilvusClient, raw: RawMilvus) -> None:
    state = _state(raw)
    assert state.status.code != 0
    assert state.flushed is False
    # flush_all_tss must name every pchannel in use (spec §4.4: parameter invalid).
    quick_collection(client, "fa_tss", DIM)
    stamp = tso_for(time.time())
    state = _state(raw, flush_all_tss={"by-dev-rootcoord-dml_nope": stamp})
    assert state.status.code == 1100
    assert state.flushed is False


def test_pymilvus_flush_all(client: MilvusClient, raw: RawMilvus) -> None:
    quick_collection(client, "fa_py", DIM, shards=2)
    client.insert("fa_py", rows(45, DIM))
    client.delete("fa_py", ids=[0, 1, 2])
    assert client.flush_all() is None
    assert row_count(client, "fa_py") == 45
    assert count(client, "fa_py") == 42
    assert all(s.state == FLUSHED for s in raw.segments("fa_py"))

    stamp = raw.call("FlushAll", milvus_pb2.FlushAllRequest()).flush_all_ts
    wait_for(lambda: client.get_flush_all_state(flush_all_ts=stamp), timeout=10)


def test_collection_created_after_flush_all_does_not_block_it(
    client: MilvusClient, raw: RawMilvus
) -> None:
    response = raw.call("FlushAll", milvus_pb2.FlushAllRequest())
    assert_ok(response.status)
    # Everything that existed at FlushAll time is persisted...
    wait_for(
        lambda: _state(raw, flush_all_ts=response.flush_all_ts).flushed,
        timeout=10,
        what="FlushAll of the existing collections",
    )
    # ...and a collection created afterwards holds nothing older than the FlushAll.
    quick_collection(client, "fa_late", DIM)
    try:
        wait_for(
            lambda: _state(raw, flush_all_ts=response.flush_all_ts).flushed,
            timeout=3,
            what="GetFlushAllState after a new collection appeared",
        )
    finally:
        client.drop_collection("fa_late")
