"""Clustering (major) compaction through pymilvus, as a Milvus user runs it.

``compact(is_clustering=True)`` on a collection with a clustering key
re-cuts its segments by key range (level L2, sorted), reports a clustering
plan, and leaves every answer as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import RawMilvus, SluiceProcess, wait_for, write_config
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import common_pb2, milvus_pb2

DIM = 8
NAME = "clu_int"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    """Segments of 64 KiB (about 1,500 rows here), so clustering cuts several."""
    root = tmp_path_factory.mktemp("clustering")
    config = write_config(root, "[segments]\nmax_bytes = 65536\n")
    proc = SluiceProcess(root / "data", config=config).start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture
def client(server: SluiceProcess) -> Iterator[MilvusClient]:
    opened = MilvusClient(server.uri)
    yield opened
    opened.close()


@pytest.fixture
def raw(server: SluiceProcess) -> Iterator[RawMilvus]:
    opened = RawMilvus(server)
    yield opened
    opened.close()


def _create(client: MilvusClient, name: str, key_type: DataType) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    extra = {"max_length": 16} if key_type == DataType.VARCHAR else {}
    schema.add_field("k", key_type, is_clustering_key=True, **extra)
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 64})
    client.create_collection(
        name,
        schema=schema,
        index_params=index,
        num_shards=1,
        properties={"collection.autocompaction.enabled": "false"},
    )


def _insert(client: MilvusClient, name: str, ids: range, model: dict[int, int]) -> None:
    rng = np.random.default_rng(ids.start)
    keys = rng.integers(0, 1000, len(ids)).tolist()
    vectors = rng.random((len(ids), DIM), dtype=np.float32)
    client.insert(
        name, [{"id": i, "v": vectors[n].tolist(), "k": keys[n]} for n, i in enumerate(ids)]
    )
    model.update(zip(ids, keys, strict=True))
    client.flush(name)


def _cluster(client: MilvusClient, name: str) -> int:
    job = client.compact(name, is_clustering=True)
    assert job > 0
    wait_for(
        lambda: client.get_compaction_state(job) == "Completed", timeout=120, what=f"job {job}"
    )
    return job


def _matching(client: MilvusClient, name: str, text: str) -> dict[int, int]:
    got = client.query(name, filter=text, output_fields=["k"], limit=16384)
    return {r["id"]: r["k"] for r in got}


def test_clustering_compaction_cuts_segments_by_key_and_keeps_every_answer(
    client: MilvusClient, raw: RawMilvus
) -> None:
    _create(client, NAME, DataType.INT64)
    model: dict[int, int] = {}
    for b in range(4):
        _insert(client, NAME, range(b * 1000, (b + 1) * 1000), model)
    before = {s.segmentID for s in raw.segments(NAME)}
    probe = np.random.default_rng(5).random(DIM).tolist()
    searched = client.search(NAME, [probe], limit=10, filter="k >= 500", anns_field="v")[0]

    job = _cluster(client, NAME)

    plans = raw.call(
        "GetCompactionStateWithPlans", milvus_pb2.GetCompactionPlansRequest(compactionID=job)
    )
    assert plans.state == common_pb2.Completed
    (plan,) = plans.mergeInfos
    assert plan.type == common_pb2.CompactionTypeClustering
    assert plan.state == common_pb2.CompactionTaskStateCompleted
    assert set(plan.sources) == before
    after = raw.segments(NAME)
    assert {s.segmentID for s in after} == set(plan.targets)
    assert len(after) >= 2
    assert all(s.level == common_pb2.SegmentLevel.L2 and s.is_sorted for s in after)
    assert sum(s.num_rows for s in after) == len(model)
    for text, keep in [
        ("k == 321", lambda k: k == 321),
        ("k in [1, 500, 999]", lambda k: k in (1, 500, 999)),
        ("k >= 250 and k < 260", lambda k: 250 <= k < 260),
        ("k < 5 or k > 995", lambda k: k < 5 or k > 995),
        ("k != 7", lambda k: k != 7),
    ]:
        expected = {i: k for i, k in model.items() if keep(k)}
        assert _matching(client, NAME, text) == expected, text
    again = client.search(NAME, [probe], limit=10, filter="k >= 500", anns_field="v")[0]
    assert [h["id"] for h in again] == [h["id"] for h in searched]

    # Nothing new since: a second clustering compaction has no plan and completes.
    job = client.compact(NAME, is_clustering=True)
    wait_for(lambda: client.get_compaction_state(job) == "Completed", what="empty job")
    assert {s.segmentID for s in raw.segments(NAME)} == set(plan.targets)


def test_a_varchar_partition_and_clustering_key_compacts_each_partition(
    client: MilvusClient, raw: RawMilvus
) -> None:
    """The Milvus suite's shape: one VARCHAR field is both partition and clustering key."""
    name = "clu_tags"
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field(
        "tag", DataType.VARCHAR, max_length=16, is_partition_key=True, is_clustering_key=True
    )
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="COSINE")
    client.create_collection(name, schema=schema, index_params=index, num_partitions=4)
    rows = [
        {"id": i, "v": np.random.default_rng(i).random(DIM).tolist(), "tag": f"t{i % 37:02d}"}
        for i in range(3000)
    ]
    client.insert(name, rows)
    client.flush(name)
    _cluster(client, name)
    segments = raw.segments(name)
    assert segments and all(s.level == common_pb2.SegmentLevel.L2 for s in segments)
    assert sum(s.num_rows for s in segments) == 3000
    got = client.query(name, filter='tag == "t05"', output_fields=["tag"], limit=16384)
    assert sorted(r["id"] for r in got) == [i for i in range(3000) if i % 37 == 5]
    assert client.describe_collection(name)["fields"][2]["is_clustering_key"] is True


def test_clustered_segments_survive_a_restart(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[segments]\nmax_bytes = 65536\n")
    proc = SluiceProcess(tmp_path / "data", config=config).start()
    model: dict[int, int] = {}
    try:
        client = MilvusClient(proc.uri)
        _create(client, "clu_restart", DataType.INT64)
        for b in range(3):
            _insert(client, "clu_restart", range(b * 1000, (b + 1) * 1000), model)
        _cluster(client, "clu_restart")
        raw = RawMilvus(proc)
        clustered = {s.segmentID for s in raw.segments("clu_restart")}
        raw.close()
        client.close()
    finally:
        proc.kill()
    proc = SluiceProcess(tmp_path / "data", config=config).start()
    try:
        client = MilvusClient(proc.uri)
        client.load_collection("clu_restart")
        raw = RawMilvus(proc)
        segments = raw.segments("clu_restart")
        assert {s.segmentID for s in segments} == clustered
        assert all(s.level == common_pb2.SegmentLevel.L2 for s in segments)
        expected = {i: k for i, k in model.items() if 100 <= k <= 120}
        assert _matching(client, "clu_restart", "k >= 100 and k <= 120") == expected
        raw.close()
        client.close()
    finally:
        proc.kill()
