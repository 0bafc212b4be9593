"""Compaction end to end: manual and automatic merges, their state, and their safety.

Every check compares the collection with a model (a dict of the live rows):
after a merge, with deletes and inserts running beside it, across a kill -9
in the middle of one, and after a restart.  Segment counts come from
GetPersistentSegmentInfo, as a Milvus user would read them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import RawMilvus, SluiceProcess, milvus_error, wait_for, write_config
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import common_pb2, milvus_pb2

DIM = 8
BATCH = 400


def _create(client: MilvusClient, name: str, **properties: str) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("t", DataType.INT64)
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 64})
    client.create_collection(name, schema=schema, index_params=index, properties=properties)


def _vector(i: int) -> list[float]:
    return np.random.default_rng(i).random(DIM).astype(np.float32).tolist()


def _insert(client: MilvusClient, name: str, ids: range, model: dict[int, int]) -> None:
    client.insert(name, [{"id": i, "v": _vector(i), "t": i * 7} for i in ids])
    model.update({i: i * 7 for i in ids})


def _rows(client: MilvusClient, name: str) -> dict[int, int]:
    got = client.query(name, filter="id >= 0", output_fields=["t"], limit=16384)
    return {r["id"]: r["t"] for r in got}


def _data_segments(raw: RawMilvus, name: str) -> list[milvus_pb2.PersistentSegmentInfo]:
    """Segments holding rows (level-0 segments hold deletes only)."""
    return [s for s in raw.segments(name) if s.level != common_pb2.SegmentLevel.L0]


def _compact(client: MilvusClient, name: str, timeout: float = 60) -> int:
    job = client.compact(name)
    wait_for(
        lambda: str(client.get_compaction_state(job)).find("Completed") >= 0,
        timeout=timeout,
        what=f"compaction {job}",
    )
    return job


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    """A server whose automatic compaction looks every half second."""
    env = {"SLUICE_COMPACTION_INTERVAL_SECONDS": "0.5"}
    proc = SluiceProcess(tmp_path_factory.mktemp("compaction") / "data", env=env).start()
    try:
        yield proc
    finally:
        proc.kill()


def test_manual_compaction_merges_segments_and_keeps_every_answer(
    client: MilvusClient, raw: RawMilvus
) -> None:
    name = "cmp_manual"
    _create(client, name, **{"collection.autocompaction.enabled": "false"})
    model: dict[int, int] = {}
    for b in range(5):
        _insert(client, name, range(b * BATCH, (b + 1) * BATCH), model)
        client.flush(name)
    client.delete(name, filter="id < 150")
    for i in range(150):
        model.pop(i)
    before = [raw_segment.segmentID for raw_segment in _data_segments(raw, name)]
    assert len(before) == 5
    probe = _vector(777)
    searched = client.search(name, [probe], limit=10, anns_field="v")[0]
    job = _compact(client, name)
    after = _data_segments(raw, name)
    assert len(after) == 1 and after[0].num_rows == len(model)
    assert after[0].is_sorted and sorted(after[0].compaction_from) == sorted(before)
    assert _rows(client, name) == model
    assert [h["id"] for h in client.search(name, [probe], limit=10, anns_field="v")[0]] == [
        h["id"] for h in searched
    ]
    plans = raw.call(
        "GetCompactionStateWithPlans", milvus_pb2.GetCompactionPlansRequest(compactionID=job)
    )
    assert plans.state == 2  # Completed
    (merge,) = plans.mergeInfos
    assert sorted(merge.sources) == sorted(before)
    assert list(merge.targets) == [after[0].segmentID]
    described = client.describe_index(name, "v")
    assert described["indexed_rows"] == len(model)


def test_compaction_state_answers_and_refusals(client: MilvusClient, raw: RawMilvus) -> None:
    state = raw.call("GetCompactionState", milvus_pb2.GetCompactionStateRequest(compactionID=42))
    assert state.status.code == 0 and state.state == 2 and state.completedPlanNo == 0
    with milvus_error(100, match="collection not found"):
        client.compact("cmp_missing")
    _create(client, "cmp_cluster")
    # No clustering key: nothing to cluster.  As Milvus, success with no job (ID -1).
    assert client.compact("cmp_cluster", is_clustering=True) == -1
    assert str(client.get_compaction_state(-1)) == "Completed"


def test_writes_during_compaction_are_never_lost(client: MilvusClient, raw: RawMilvus) -> None:
    name = "cmp_churn"
    _create(client, name, **{"collection.autocompaction.enabled": "false"})
    model: dict[int, int] = {}
    for b in range(6):
        _insert(client, name, range(b * BATCH, (b + 1) * BATCH), model)
        client.flush(name)
    lock = threading.Lock()
    stop = threading.Event()

    def writer() -> None:
        rng = np.random.default_rng(9)
        next_id = 10_000
        while not stop.is_set():
            victims = rng.choice(6 * BATCH, size=20, replace=False).tolist()
            client.delete(name, ids=victims)
            with lock:
                for v in victims:
                    model.pop(v, None)
            _insert(client, name, range(next_id, next_id + 20), model)
            next_id += 20

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(3):
            _compact(client, name)
            client.flush(name)
    finally:
        stop.set()
        thread.join()
    assert _rows(client, name) == model


def test_kill_during_compaction_leaves_old_or_new_segments(tmp_path: Path) -> None:
    """Writes are slowed so the kill lands inside the merge; the rows are whole either way."""
    data = tmp_path / "data"
    proc = SluiceProcess(data, env={"SLUICE_TEST_STORAGE_DELAY": "0.3"}).start()
    model: dict[int, int] = {}
    try:
        client = MilvusClient(proc.uri)
        _create(client, "cmp_kill", **{"collection.autocompaction.enabled": "false"})
        for b in range(4):
            _insert(client, "cmp_kill", range(b * BATCH, (b + 1) * BATCH), model)
            client.flush("cmp_kill")
        client.delete("cmp_kill", filter="id < 100")
        for i in range(100):
            model.pop(i)
        client.compact("cmp_kill")
        time.sleep(0.45)  # inside the merge: its binlog or index file is being written
        client.close()
    finally:
        proc.kill()
    proc = SluiceProcess(data).start()
    try:
        client = MilvusClient(proc.uri)
        client.load_collection("cmp_kill")
        assert _rows(client, "cmp_kill") == model
        raw = RawMilvus(proc)
        segments = _data_segments(raw, "cmp_kill")
        assert len(segments) in (1, 4)
        assert sum(s.num_rows for s in segments) in (len(model), 4 * BATCH)
        _compact(client, "cmp_kill")
        assert len(_data_segments(raw, "cmp_kill")) == 1
        assert _rows(client, "cmp_kill") == model
        files = [p for p in (data / "segments" / "insert_log").rglob("*.parquet")]
        assert len(files) == 1  # the old binlogs and any abandoned ones are gone
        raw.close()
    finally:
        proc.kill()


def test_automatic_compaction_respects_the_collection_property(fast: SluiceProcess) -> None:
    client = MilvusClient(fast.uri)
    raw = RawMilvus(fast)
    try:
        model_on: dict[int, int] = {}
        model_off: dict[int, int] = {}
        _create(client, "cmp_auto")
        _create(client, "cmp_off", **{"collection.autocompaction.enabled": "false"})
        for b in range(5):
            _insert(client, "cmp_auto", range(b * 50, (b + 1) * 50), model_on)
            _insert(client, "cmp_off", range(b * 50, (b + 1) * 50), model_off)
            client.flush("cmp_auto")
            client.flush("cmp_off")
        wait_for(
            lambda: len(_data_segments(raw, "cmp_auto")) == 1, timeout=30, what="auto compaction"
        )
        assert _rows(client, "cmp_auto") == model_on
        time.sleep(1.5)  # three more passes
        assert len(_data_segments(raw, "cmp_off")) == 5
    finally:
        raw.close()
        client.close()


def test_ttl_expired_rows_are_dropped_physically(client: MilvusClient, raw: RawMilvus) -> None:
    name = "cmp_ttl"
    _create(
        client,
        name,
        **{"collection.ttl.seconds": "2", "collection.autocompaction.enabled": "false"},
    )
    model: dict[int, int] = {}
    _insert(client, name, range(0, BATCH), model)
    client.flush(name)
    time.sleep(2.5)
    _insert(client, name, range(BATCH, 2 * BATCH), model)
    client.flush(name)
    _compact(client, name)
    segments = _data_segments(raw, name)
    assert sum(s.num_rows for s in segments) == BATCH
    assert set(_rows(client, name)) == set(range(BATCH, 2 * BATCH))


def test_delete_segments_merge_into_one_and_keep_hiding_rows(tmp_path: Path) -> None:
    proc = SluiceProcess(tmp_path / "data").start()
    try:
        client = MilvusClient(proc.uri)
        raw = RawMilvus(proc)
        name = "cmp_l0"
        _create(client, name, **{"collection.autocompaction.enabled": "false"})
        model: dict[int, int] = {}
        _insert(client, name, range(0, BATCH), model)
        client.flush(name)
        for start in range(0, 50, 10):  # five flushes, each leaving a delete segment
            client.delete(name, ids=list(range(start, start + 10)))
            client.flush(name)
            for i in range(start, start + 10):
                model.pop(i)

        def level0() -> list[milvus_pb2.PersistentSegmentInfo]:
            return [s for s in raw.segments(name) if s.level == common_pb2.SegmentLevel.L0]

        assert len(level0()) == 5
        _compact(client, name)
        assert len(level0()) == 1
        assert _rows(client, name) == model
        raw.close()
        client.close()
        proc.kill()
        proc.start()
        client = MilvusClient(proc.uri)
        client.load_collection(name)
        assert _rows(client, name) == model
        client.close()
    finally:
        proc.kill()


def test_a_backlog_of_small_segments_merges_one_full_segment_at_a_time(tmp_path: Path) -> None:
    """Merges are packed to ``segments.max_bytes`` each, so no merge rebuilds the world."""
    config = write_config(tmp_path, "[segments]\nmax_bytes = 65536\n")
    proc = SluiceProcess(tmp_path / "data", config=config).start()
    client = MilvusClient(proc.uri)
    raw = RawMilvus(proc)
    try:
        name = "cmp_packed"
        schema = client.create_schema()
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
        schema.add_field("t", DataType.INT64)
        index = client.prepare_index_params()
        index.add_index("v", index_type="FLAT", metric_type="L2")
        client.create_collection(
            name,
            schema=schema,
            index_params=index,
            num_shards=1,
            properties={"collection.autocompaction.enabled": "false"},
        )
        model: dict[int, int] = {}
        for b in range(8):  # about 11 KB each: under half of max_bytes, so small
            _insert(client, name, range(b * 200, (b + 1) * 200), model)
            client.flush(name)
        before = {s.segmentID for s in _data_segments(raw, name)}
        assert len(before) == 8
        job = _compact(client, name)
        plans = raw.call(
            "GetCompactionStateWithPlans", milvus_pb2.GetCompactionPlansRequest(compactionID=job)
        )
        merges = [sorted(m.sources) for m in plans.mergeInfos]
        assert len(merges) == 2, merges  # five segments fill 64 KB; three are left
        assert sorted(s for m in merges for s in m) == sorted(before)
        assert _rows(client, name) == model
        assert len(_data_segments(raw, name)) == 2
    finally:
        raw.close()
        client.close()
        proc.kill()
