"""Index lifecycle through pymilvus: describe, create twice, drop, load rules, state RPCs, restart.

Indexes are built per flushed segment in the background; the builder logs
``built <TYPE> index <name> for segment <id> ...`` for each one.  An index
persisted before a restart must be loaded, not rebuilt, and serve searches
at once.  This module restarts its server, so it owns its ``server`` fixture.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import numpy as np
import pytest
from helpers import (
    RawMilvus,
    SluiceProcess,
    assert_ok,
    assert_status,
    brute_force,
    clustered,
    count,
    hit_ids,
    milvus_error,
    mixture_queries,
    recall,
    wait_indexed,
)
from pymilvus import DataType, MilvusClient, connections, utility
from pymilvus.grpc_gen import milvus_pb2

from tests import remote_backends

DIM = 16
STRONG = {"consistency_level": "Strong"}
HNSW = {"M": 16, "efConstruction": 100}


def _schema(client: MilvusClient, *vector_fields: str) -> Any:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    for field in vector_fields or ("vector",):
        schema.add_field(field, DataType.FLOAT_VECTOR, dim=DIM)
    return schema


def _hnsw(client: MilvusClient, metric: str = "L2", **params: Any) -> Any:
    index = client.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type=metric, params=params or HNSW)
    return index


def _fill(client: MilvusClient, name: str, data: np.ndarray, start: int = 0) -> None:
    client.insert(name, [{"id": start + i, "vector": v.tolist()} for i, v in enumerate(data)])


def _built_segments(log: str, index_type: str, index_name: str) -> list[int]:
    return [
        int(s) for s in re.findall(rf"built {index_type} index {index_name} for segment (\d+)", log)
    ]


def _raw_description(raw: RawMilvus, name: str) -> milvus_pb2.IndexDescription:
    response = raw.call("DescribeIndex", milvus_pb2.DescribeIndexRequest(collection_name=name))
    assert_ok(response.status)
    assert len(response.index_descriptions) == 1
    return response.index_descriptions[0]


# --- DescribeIndex ----------------------------------------------------------------------------


def test_describe_index_through_the_lifecycle(client: MilvusClient, raw: RawMilvus) -> None:
    client.create_collection(
        "desc", schema=_schema(client), index_params=_hnsw(client), num_shards=2
    )
    empty = client.describe_index("desc", "vector")
    assert (empty["total_rows"], empty["indexed_rows"], empty["pending_index_rows"]) == (0, 0, 0)
    assert empty["state"] == "Finished"

    data = clustered(800, DIM, clusters=10, seed=1)[0]
    _fill(client, "desc", data)
    # Growing rows are searched without an index and are not counted.
    assert client.describe_index("desc", "vector")["total_rows"] == 0

    client.flush("desc")
    info = wait_indexed(client, "desc", "vector", rows=800)
    assert info["index_type"] == "HNSW" and info["metric_type"] == "L2"
    assert info["field_name"] == "vector" and info["index_name"] == "vector"
    assert (info["total_rows"], info["indexed_rows"], info["pending_index_rows"]) == (800, 800, 0)
    assert info["state"] == "Finished"
    # MilvusClient sent flat keys and a "params" JSON: both come back.
    assert (info["M"], info["efConstruction"]) == ("16", "100")
    assert info["params"] == HNSW

    description = _raw_description(raw, "desc")
    params = {kv.key: kv.value for kv in description.params}
    assert json.loads(params["params"]) == HNSW
    assert params["M"] == "16" and params["index_type"] == "HNSW"
    assert description.indexID > 0 and description.state == 3
    assert description.total_rows == description.indexed_rows == 800

    # Loaded segments name their index once it is built.
    segments = client.list_loaded_segments("desc")
    assert len(segments) == 2
    assert all(s.index_name == "vector" and s.index_id == description.indexID for s in segments)


@pytest.mark.filterwarnings("ignore:.*ORM-style PyMilvus API")
def test_index_created_through_the_orm(server: SluiceProcess, client: MilvusClient) -> None:
    """The ORM sends only a ``params`` JSON string; DescribeIndex shows it flattened too."""
    from pymilvus import Collection

    connections.connect(alias="lifecycle_orm", uri=server.uri)
    try:
        client.create_collection("orm_idx", schema=_schema(client))
        collection = Collection("orm_idx", using="lifecycle_orm")
        collection.create_index(
            "vector",
            {"index_type": "IVF_FLAT", "metric_type": "IP", "params": {"nlist": 32}},
            index_name="ivf",
        )
        info = client.describe_index("orm_idx", "ivf")
        assert info["index_type"] == "IVF_FLAT" and info["metric_type"] == "IP"
        assert info["nlist"] == "32" and info["params"] == {"nlist": 32}
        assert collection.index().params["params"] == {"nlist": 32}

        _fill(client, "orm_idx", clustered(600, DIM, clusters=8, seed=2)[0])
        client.flush("orm_idx")
        utility.wait_for_index_building_complete(
            "orm_idx", "ivf", timeout=30, using="lifecycle_orm"
        )
        progress = utility.index_building_progress("orm_idx", "ivf", using="lifecycle_orm")
        assert progress["total_rows"] == progress["indexed_rows"] == 600
        assert progress["pending_index_rows"] == 0
    finally:
        connections.disconnect("lifecycle_orm")


def test_index_state_rpcs(client: MilvusClient, raw: RawMilvus) -> None:
    client.create_collection("state_rpc", schema=_schema(client), index_params=_hnsw(client))
    _fill(client, "state_rpc", clustered(300, DIM, seed=3)[0])
    client.flush("state_rpc")
    wait_indexed(client, "state_rpc", "vector", rows=300)
    state = raw.call("GetIndexState", milvus_pb2.GetIndexStateRequest(collection_name="state_rpc"))
    assert_ok(state.status)
    assert state.state == 3  # Finished
    progress = raw.call(
        "GetIndexBuildProgress",
        milvus_pb2.GetIndexBuildProgressRequest(collection_name="state_rpc", index_name="vector"),
    )
    assert_ok(progress.status)
    assert progress.indexed_rows == progress.total_rows == 300


def test_describe_missing_index(client: MilvusClient, raw: RawMilvus) -> None:
    client.create_collection("no_index", schema=_schema(client))
    response = raw.call(
        "DescribeIndex", milvus_pb2.DescribeIndexRequest(collection_name="no_index")
    )
    assert_status(response.status, 700, reason="index not found[collection=no_index]", legacy=25)
    client.create_index("no_index", _hnsw(client))
    named = raw.call(
        "DescribeIndex",
        milvus_pb2.DescribeIndexRequest(collection_name="no_index", index_name="other"),
    )
    assert_status(named.status, 700, reason="index not found[indexName=other]", legacy=25)
    assert client.describe_index("no_index", "other") is None
    assert client.list_indexes("no_index") == ["vector"]


# --- create, drop, load rules -------------------------------------------------------------------


def test_same_index_twice_succeeds_different_fails(client: MilvusClient, raw: RawMilvus) -> None:
    client.create_collection("twice", schema=_schema(client), index_params=_hnsw(client))
    before = _raw_description(raw, "twice").indexID
    client.create_index("twice", _hnsw(client))
    assert client.list_indexes("twice") == ["vector"]
    assert _raw_description(raw, "twice").indexID == before

    message = (
        "CreateIndex failed: at most one distinct index is allowed per field: invalid parameter"
    )
    with milvus_error(1100, message=message):
        client.create_index("twice", _hnsw(client, M=32, efConstruction=100))
    with milvus_error(1100, message=message):
        client.create_index("twice", _hnsw(client, metric="IP"))
    other = client.prepare_index_params()
    other.add_index("vector", index_type="FLAT", metric_type="L2")
    with milvus_error(1100, message=message):
        client.create_index("twice", other)
    assert client.describe_index("twice", "vector")["M"] == "16"


def test_bad_index_parameters(client: MilvusClient) -> None:
    client.create_collection("bad_params", schema=_schema(client))
    pq = client.prepare_index_params()
    pq.add_index("vector", index_type="IVF_PQ", metric_type="L2", params={"nlist": 16, "m": 7})
    with milvus_error(
        1100,
        match=r"should be a multiple of the number of subquantizers \(m\)\. Dimension: 16, m: 7.*"
        r"invalid parameter\[expected=valid index params\]\[actual=invalid index params\]$",
    ):
        client.create_index("bad_params", pq)
    auto = client.prepare_index_params()
    auto.add_index("vector", index_type="AUTOINDEX", metric_type="L2", params={"M": 8})
    with milvus_error(65535, message="only metric type can be passed when use AutoIndex"):
        client.create_index("bad_params", auto)
    unknown = client.prepare_index_params()
    unknown.add_index("vector", index_type="NOPE", metric_type="L2")
    with milvus_error(
        1100, message="invalid parameter[expected=valid index][actual=invalid index type: NOPE]"
    ):
        client.create_index("bad_params", unknown)
    assert client.list_indexes("bad_params") == []


def test_drop_index_needs_release_and_load_needs_index(client: MilvusClient) -> None:
    client.create_collection("drops", schema=_schema(client), index_params=_hnsw(client))
    _fill(client, "drops", clustered(200, DIM, seed=4)[0])
    # Milvus 2.6 refuses only vector indexes on a loaded collection (scalar ones drop freely).
    with milvus_error(1100, match=r"^vector index cannot be dropped on loaded collection: \d+: "):
        client.drop_index("drops", "vector")
    assert client.list_indexes("drops") == ["vector"]

    client.release_collection("drops")
    client.drop_index("drops", "vector")
    assert client.list_indexes("drops") == []
    assert client.describe_index("drops", "vector") is None
    with milvus_error(700, message="index not found[collection=drops]", legacy=25):
        client.load_collection("drops")
    # The data is untouched: index again, load, read.
    client.create_index("drops", _hnsw(client))
    client.load_collection("drops")
    assert count(client, "drops") == 200


def test_load_needs_every_vector_field_indexed(client: MilvusClient) -> None:
    client.create_collection("two_vectors", schema=_schema(client, "a", "b"))
    index = client.prepare_index_params()
    index.add_index("a", index_type="FLAT", metric_type="L2")
    client.create_index("two_vectors", index)
    with milvus_error(
        65535, message="there is no vector index on field: [b], please create index firstly"
    ):
        client.load_collection("two_vectors")


def test_index_created_after_data_is_flushed(client: MilvusClient, server: SluiceProcess) -> None:
    """CreateIndex on existing flushed segments builds for each of them; search uses them."""
    client.create_collection("late", schema=_schema(client), num_shards=2)
    base, centres = clustered(2000, DIM, clusters=20, spread=0.4, seed=5)
    _fill(client, "late", base)
    client.flush("late")
    with milvus_error(700, message="index not found[collection=late]"):
        client.load_collection("late")
    client.create_index("late", _hnsw(client, metric="COSINE"))
    info = client.describe_index("late", "vector")
    assert info["indexed_rows"] == info["total_rows"] == 2000
    segments = {s.segment_id for s in client.list_persistent_segments("late")}
    assert set(_built_segments(server.log(), "HNSW", "vector")) >= segments

    client.load_collection("late")
    queries = mixture_queries(centres, 20, spread=0.4, seed=6)
    result = client.search(
        "late", queries.tolist(), limit=10, search_params={"params": {"ef": 64}}, **STRONG
    )
    want, _ = brute_force(base, queries, "COSINE", 10)
    assert recall(hit_ids(result), want.tolist()) >= 0.95


@pytest.mark.skipif(
    remote_backends.requested(),
    reason="looks at index files in the data folder; on remote backends they are in S3",
)
def test_drop_and_rebuild_with_another_type(client: MilvusClient, server: SluiceProcess) -> None:
    client.create_collection("swap", schema=_schema(client), index_params=_hnsw(client))
    base, centres = clustered(1500, DIM, clusters=15, spread=0.4, seed=7)
    _fill(client, "swap", base)
    client.flush("swap")
    wait_indexed(client, "swap", "vector", rows=1500)
    old_files = list((server.data_dir / "segments" / "index_files").rglob("*.slix"))

    client.release_collection("swap")
    client.drop_index("swap", "vector")
    ivf = client.prepare_index_params()
    ivf.add_index("vector", index_type="IVF_FLAT", metric_type="IP", params={"nlist": 16})
    client.create_index("swap", ivf)
    client.load_collection("swap")
    assert wait_indexed(client, "swap", "vector", rows=1500)["index_type"] == "IVF_FLAT"
    segment = client.list_loaded_segments("swap")[0].segment_id
    assert segment in _built_segments(server.log(), "IVF_FLAT", "vector")
    # The dropped index's files are gone; the new one has its own.
    swap_files = [p for p in old_files if f"/{segment}/" in str(p)]
    assert swap_files and not any(p.exists() for p in swap_files)
    new_files = (server.data_dir / "segments" / "index_files").rglob(f"*/{segment}/*.slix")
    assert list(new_files), "no index file for the new index"

    queries = mixture_queries(centres, 20, spread=0.4, seed=8)
    result = client.search(
        "swap", queries.tolist(), limit=10, search_params={"params": {"nprobe": 16}}, **STRONG
    )
    want, _ = brute_force(base, queries, "IP", 10)
    assert hit_ids(result) == want.tolist()


# --- restart ----------------------------------------------------------------------------------------


def test_index_survives_restart_without_rebuild(
    client: MilvusClient, server: SluiceProcess
) -> None:
    client.create_collection(
        "durable", schema=_schema(client), index_params=_hnsw(client), num_shards=2
    )
    base, centres = clustered(3000, DIM, clusters=30, spread=0.4, seed=9)
    _fill(client, "durable", base[:2000])
    client.flush("durable")
    wait_indexed(client, "durable", "vector", rows=2000)
    _fill(client, "durable", base[2000:], start=2000)  # growing at restart, replayed from the WAL
    segments = {s.segment_id for s in client.list_loaded_segments("durable")}
    assert len(segments) == 2
    assert set(_built_segments(server.log(), "HNSW", "vector")) >= segments

    before = len(server.log())
    server.restart()
    client_after = MilvusClient(server.uri)
    try:
        # Indexed already: no wait, no rebuild.
        info = client_after.describe_index("durable", "vector")
        assert (info["indexed_rows"], info["total_rows"], info["state"]) == (2000, 2000, "Finished")
        queries = mixture_queries(centres, 20, spread=0.4, seed=10)
        result = client_after.search(
            "durable", queries.tolist(), limit=10, search_params={"params": {"ef": 64}}, **STRONG
        )
        want, _ = brute_force(base, queries, "L2", 10)
        assert recall(hit_ids(result), want.tolist()) >= 0.95
        loaded = client_after.list_loaded_segments("durable")
        assert {s.segment_id for s in loaded} == segments
        assert all(s.index_name == "vector" for s in loaded)
        time.sleep(1.0)  # a rebuild would run in the background: give it time to show
        rebuilt = set(_built_segments(server.log()[before:], "HNSW", "vector")) & segments
        assert not rebuilt, f"segments rebuilt after restart: {rebuilt}"
    finally:
        client_after.close()


def test_index_build_interrupted_by_a_crash_completes_after_restart(
    client: MilvusClient, server: SluiceProcess
) -> None:
    """SIGKILL right after a flush, while indexes may still be building: they finish later."""
    params = {"M": 32, "efConstruction": 400}
    client.create_collection(
        "crashy", schema=_schema(client), index_params=_hnsw(client, **params), num_shards=2
    )
    base, centres = clustered(6000, DIM, clusters=40, spread=0.4, seed=11)
    _fill(client, "crashy", base)
    client.flush("crashy")
    server.kill()
    server.start()
    after = MilvusClient(server.uri)
    try:
        info = wait_indexed(after, "crashy", "vector", rows=6000)
        assert info["pending_index_rows"] == 0
        queries = mixture_queries(centres, 20, spread=0.4, seed=12)
        result = after.search(
            "crashy", queries.tolist(), limit=10, search_params={"params": {"ef": 64}}, **STRONG
        )
        want, _ = brute_force(base, queries, "L2", 10)
        assert recall(hit_ids(result), want.tolist()) >= 0.95
        assert count(after, "crashy") == 6000
    finally:
        after.close()
