"""What the statistics and segment listings say (spec §4.7-4.8, §7.6).

``row_count`` counts rows in persisted, non-dropped segments: unflushed
inserts are not in it and deletes are not subtracted (Milvus subtracts them
only when compaction rewrites segments).  ``count(*)`` is the exact count.
"""

from __future__ import annotations

from pathlib import Path

from helpers import (
    COLLECTION_NOT_EXISTS,
    FLUSHED,
    FLUSHING,
    L0,
    L1,
    SEALED,
    RawMilvus,
    SluiceProcess,
    count,
    milvus_error,
    quick_collection,
    row_count,
    rows,
    wait_for,
    write_config,
)
from pymilvus import MilvusClient
from pymilvus.grpc_gen import milvus_pb2

DIM = 8


def test_row_count_counts_persisted_rows_only(client: MilvusClient) -> None:
    quick_collection(client, "rc", DIM, shards=2)
    client.insert("rc", rows(100, DIM))
    # 100 rows of dim 8 are far below the 16 MiB sync buffer and the 600 s sync
    # period, so the background persister has had no reason to write them yet.
    assert row_count(client, "rc") == 0
    assert count(client, "rc") == 100

    client.flush("rc")
    assert row_count(client, "rc") == 100

    client.delete("rc", ids=list(range(10)))
    client.flush("rc")
    # Deletes are persisted as delta logs; row_count does not subtract them.
    assert row_count(client, "rc") == 100
    assert count(client, "rc") == 90


def test_persistent_segments_list_l0_delete_segments(client: MilvusClient, raw: RawMilvus):
    quick_collection(client, "l0", DIM, shards=2)
    client.insert("l0", rows(50, DIM))
    client.flush("l0")
    data_segments = {s.segmentID for s in raw.segments("l0")}
    assert len(data_segments) == 2

    client.delete("l0", ids=list(range(20)))
    client.flush("l0")
    segments = raw.segments("l0")
    l0 = [s for s in segments if s.level == L0]
    # Deletes were persisted per shard as L0 (delete-only) segments with 0 rows.
    assert len(l0) == 2
    assert all(s.num_rows == 0 and s.state == FLUSHED for s in l0)
    assert {s.insert_channel for s in l0} == set(raw.describe("l0").virtual_channel_names)
    assert {s.segmentID for s in segments if s.level == L1} == data_segments

    # L0 segments are never reported as "already flushed" by the next flush.
    response = raw.flush("l0")
    assert set(response.flush_coll_segIDs["l0"].data) == data_segments
    assert count(client, "l0") == 30


def test_list_persistent_segments_through_pymilvus(client: MilvusClient) -> None:
    quick_collection(client, "listed", DIM, shards=2)
    assert client.list_persistent_segments("listed") == []
    client.insert("listed", rows(40, DIM))
    # Growing segments are not persistent segments.
    assert client.list_persistent_segments("listed") == []
    client.flush("listed")
    infos = client.list_persistent_segments("listed")
    assert len(infos) == 2
    assert sum(i.num_rows for i in infos) == 40
    assert {i.state.name for i in infos} == {"Flushed"}
    assert {int(i.level) for i in infos} == {L1}
    collection_id = client.describe_collection("listed")["collection_id"]
    assert {i.collection_id for i in infos} == {collection_id}


def test_missing_collection_in_stats_and_segments(client: MilvusClient, raw: RawMilvus):
    message = "collection not found[database=default][collection=ghost]"
    with milvus_error(100, message=message, legacy=COLLECTION_NOT_EXISTS):
        client.get_collection_stats("ghost")
    response = raw.call(
        "GetPersistentSegmentInfo",
        milvus_pb2.GetPersistentSegmentInfoRequest(collectionName="ghost"),
    )
    assert (response.status.code, response.status.reason) == (100, message)


def test_loaded_segments(client: MilvusClient, server: SluiceProcess) -> None:
    quick_collection(client, "loaded_segs", DIM, shards=2)
    client.insert("loaded_segs", rows(40, DIM))
    client.flush("loaded_segs")
    infos = client.list_loaded_segments("loaded_segs")
    assert len(infos) == 2
    assert sum(i.num_rows for i in infos) == 40
    assert {i.state.name for i in infos} == {"Sealed"}


def test_background_persistence_without_flush(tmp_path: Path) -> None:
    # Tiny buffers: the persister writes binlogs on its own, and full segments seal.
    config = write_config(tmp_path, "[segments]\nsync_buffer_bytes = 4096\nmax_bytes = 65536\n")
    proc = SluiceProcess(tmp_path / "data", config=config).start()
    client = MilvusClient(proc.uri)
    raw = RawMilvus(proc)
    try:
        quick_collection(client, "auto_persist", DIM, shards=1)
        for batch in range(10):
            client.insert("auto_persist", rows(200, DIM, start=batch * 200, seed=batch))
        # No flush: rows still reach segment files, and row_count follows them.
        wait_for(lambda: row_count(client, "auto_persist") > 0, timeout=10, what="a sync")
        # Segments that reached max_bytes were sealed and persisted by themselves.
        wait_for(lambda: raw.segments("auto_persist"), timeout=10, what="an auto-sealed segment")
        sealed = raw.segments("auto_persist")
        assert all(s.state in (SEALED, FLUSHING, FLUSHED) for s in sealed)
        assert row_count(client, "auto_persist") <= 2000

        client.flush("auto_persist")
        segments = raw.segments("auto_persist")
        assert len(segments) >= 2
        assert all(s.state == FLUSHED for s in segments)
        assert sum(s.num_rows for s in segments) == 2000
        assert row_count(client, "auto_persist") == 2000
        assert count(client, "auto_persist") == 2000
    finally:
        raw.close()
        client.close()
        proc.kill()
