"""Bulk import of files written by pymilvus's LocalBulkWriter, through gRPC and REST.

Each format imports and is searchable when the job says Completed; a bad
file fails the job with a reason naming it and imports nothing; jobs are
remembered across a restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from helpers import RawMilvus, SluiceProcess, count
from pymilvus import DataType, MilvusClient
from pymilvus.bulk_writer import BulkFileType, LocalBulkWriter
from pymilvus.grpc_gen import milvus_pb2

DIM = 8
ROWS = 500


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    proc = SluiceProcess(tmp_path_factory.mktemp("imports") / "data").start()
    try:
        yield proc
    finally:
        proc.kill()


def make_schema(client: MilvusClient, *, auto_id: bool = False) -> Any:
    schema = client.create_schema(auto_id=auto_id, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("name", DataType.VARCHAR, max_length=32)
    schema.add_field("score", DataType.DOUBLE)
    schema.add_field("doc", DataType.JSON)
    return schema


def create(client: MilvusClient, name: str, **kwargs: Any) -> Any:
    schema = make_schema(client, **kwargs)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    return schema


def write_files(
    schema: Any, folder: Path, kind: BulkFileType, *, start: int = 0
) -> list[list[str]]:
    folder.mkdir(parents=True, exist_ok=True)
    writer = LocalBulkWriter(schema=schema, local_path=str(folder), file_type=kind)
    rng = np.random.default_rng(start)
    for i in range(start, start + ROWS):
        writer.append_row(
            {
                "id": i,
                "vector": rng.random(DIM).tolist(),
                "name": f"n{i}",
                "score": i / 2,
                "doc": {"k": i},
                "extra": i * 3,
            }
        )
    writer.commit()
    return [list(batch) for batch in writer.batch_files]


def wait_job(raw: RawMilvus, job_id: int, timeout: float = 60) -> milvus_pb2.GetImportStateResponse:
    deadline = time.monotonic() + timeout
    while True:
        state = raw.call("GetImportState", milvus_pb2.GetImportStateRequest(task=job_id))
        assert state.status.code == 0, state.status.reason
        if state.state in (1, 6) or time.monotonic() > deadline:  # Failed, Completed
            return state
        time.sleep(0.05)


def grpc_import(raw: RawMilvus, collection: str, files: list[str]) -> int:
    request = milvus_pb2.ImportRequest(collection_name=collection, files=files)
    response = raw.call("Import", request)
    assert response.status.code == 0, response.status.reason
    return int(response.tasks[0])


@pytest.mark.parametrize("kind", [BulkFileType.PARQUET, BulkFileType.JSON, BulkFileType.CSV])
def test_each_format_imports_through_grpc(
    server: SluiceProcess, client: MilvusClient, raw: RawMilvus, tmp_path: Path, kind: BulkFileType
) -> None:
    name = f"imp_{kind.name.lower()}"
    schema = create(client, name)
    (files,) = write_files(schema, tmp_path, kind)
    state = wait_job(raw, grpc_import(raw, name, files))
    infos = {kv.key: kv.value for kv in state.infos}
    assert state.state == 6, infos
    assert state.row_count == ROWS and infos["progress_percent"] == "100"
    assert count(client, name) == ROWS
    got = client.query(name, filter="id in [7]", output_fields=["name", "score", "doc", "extra"])
    assert [dict(r) for r in got] == [
        {"id": 7, "name": "n7", "score": 3.5, "doc": {"k": 7}, "extra": 21}
    ]
    vector = client.get(name, ids=[11], output_fields=["vector"])[0]["vector"]
    hits = client.search(name, [vector], limit=1, anns_field="vector")
    assert hits[0][0]["id"] == 11


def test_numpy_batch_through_rest_jobs(
    server: SluiceProcess, client: MilvusClient, tmp_path: Path
) -> None:
    schema = create(client, "imp_numpy")
    batches = write_files(schema, tmp_path, BulkFileType.NUMPY)
    url = f"{server.http_uri}/v2/vectordb/jobs/import"
    created = requests.post(
        f"{url}/create", json={"collectionName": "imp_numpy", "files": batches}, timeout=30
    ).json()
    assert created["code"] == 0
    job_id = created["data"]["jobId"]
    assert isinstance(job_id, str)
    deadline = time.monotonic() + 60
    while True:
        progress = requests.post(f"{url}/describe", json={"jobId": job_id}, timeout=30).json()
        assert progress["code"] == 0
        if progress["data"]["state"] in ("Completed", "Failed") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    data = progress["data"]
    assert data["state"] == "Completed", data
    assert data["progress"] == 100 and data["importedRows"] == ROWS and data["totalRows"] == ROWS
    assert data["fileSize"] > 0 and len(data["details"]) == 1
    listed = requests.post(f"{url}/list", json={"collectionName": "imp_numpy"}, timeout=30).json()
    assert {
        "jobId": job_id,
        "collectionName": "imp_numpy",
        "state": "Completed",
        "progress": 100,
    } in (listed["data"]["records"])
    assert count(client, "imp_numpy") == ROWS


def _parquet(path: Path, columns: dict[str, Any]) -> str:
    pq.write_table(pa.table(columns), path)
    return str(path)


def _good_columns(n: int = 10, dim: int = DIM) -> dict[str, Any]:
    return {
        "id": pa.array(range(n), type=pa.int64()),
        "vector": pa.array(
            np.random.default_rng(1).random((n, dim)).tolist(), pa.list_(pa.float32())
        ),
        "name": pa.array([f"x{i}" for i in range(n)]),
        "score": pa.array([1.0] * n),
        "doc": pa.array(["{}"] * n),
    }


def bad_files(folder: Path) -> dict[str, tuple[list[str], str]]:
    """Files a Milvus import refuses, with a fragment of the reason."""
    wrong_dim = _parquet(folder / "dim.parquet", _good_columns(dim=DIM + 1))
    unknown = _good_columns()
    unknown["nope"] = pa.array([1] * 10)
    long_name = _good_columns()
    long_name["name"] = pa.array(["y" * 40] * 10)
    bad_json = folder / "bad.json"
    bad_json.write_text('{"rows": [{"id": 1,')
    return {
        "dimension": ([wrong_dim], "is not equal to schema dim (8)"),
        "unknown field": ([_parquet(folder / "unknown.parquet", unknown)], "'nope' is not in"),
        "too long": ([_parquet(folder / "long.parquet", long_name)], "exceeds max length"),
        "broken json": ([str(bad_json)], "not valid JSON"),
        "missing file": ([str(folder / "absent.parquet")], "no such file"),
    }


def test_bad_files_fail_the_job_and_import_nothing(
    server: SluiceProcess, client: MilvusClient, raw: RawMilvus, tmp_path: Path
) -> None:
    create(client, "imp_bad")
    good = _parquet(tmp_path / "good.parquet", _good_columns())
    for label, (files, reason) in bad_files(tmp_path).items():
        # A good file before the bad one: nothing of it may land either.
        request = milvus_pb2.ImportRequest(collection_name="imp_bad", files=[good, *files])
        response = raw.call("Import", request)
        assert response.status.code == 0, response.status.reason
        state = wait_job(raw, int(response.tasks[0]))
        infos = {kv.key: kv.value for kv in state.infos}
        assert state.state == 1, label
        assert reason in infos["failed_reason"], (label, infos["failed_reason"])
        assert infos["failed_reason"].startswith("importing data failed")
    assert count(client, "imp_bad") == 0


def test_request_errors(server: SluiceProcess, client: MilvusClient, raw: RawMilvus) -> None:
    create(client, "imp_req")
    empty = raw.call("Import", milvus_pb2.ImportRequest(collection_name="imp_req", files=[]))
    assert empty.status.code == 2100
    assert empty.status.reason == "importing data failed: import request is empty"
    missing = raw.call(
        "Import", milvus_pb2.ImportRequest(collection_name="ghost", files=["a.parquet"])
    )
    assert missing.status.code == 100
    wrong_type = raw.call(
        "Import", milvus_pb2.ImportRequest(collection_name="imp_req", files=["a.txt"])
    )
    assert wrong_type.status.code == 2100 and "unsupported file type" in wrong_type.status.reason
    partition = raw.call(
        "Import",
        milvus_pb2.ImportRequest(collection_name="imp_req", partition_name="p9", files=["a.json"]),
    )
    assert partition.status.code == 200


def test_auto_id_collections_refuse_keys_and_generate_them(
    server: SluiceProcess, client: MilvusClient, raw: RawMilvus, tmp_path: Path
) -> None:
    create(client, "imp_auto", auto_id=True)
    with_keys = _parquet(tmp_path / "keys.parquet", _good_columns())
    state = wait_job(raw, grpc_import(raw, "imp_auto", [with_keys]))
    reason = {kv.key: kv.value for kv in state.infos}["failed_reason"]
    assert state.state == 1 and "auto-generated, no need to provide" in reason
    columns = _good_columns()
    del columns["id"]
    state = wait_job(
        raw, grpc_import(raw, "imp_auto", [_parquet(tmp_path / "nokeys.parquet", columns)])
    )
    assert state.state == 6
    ids = [r["id"] for r in client.query("imp_auto", filter="", limit=20, output_fields=["id"])]
    assert len(set(ids)) == 10


def test_jobs_survive_a_restart(
    server: SluiceProcess, client: MilvusClient, raw: RawMilvus
) -> None:
    listed = raw.call("ListImportTasks", milvus_pb2.ListImportTasksRequest())
    assert listed.status.code == 0 and listed.tasks
    before = {t.id: (t.state, t.row_count) for t in listed.tasks}
    server.restart()
    fresh = RawMilvus(server)
    try:
        after = fresh.call("ListImportTasks", milvus_pb2.ListImportTasksRequest())
        assert {t.id: (t.state, t.row_count) for t in after.tasks} == before
        mine = fresh.call(
            "ListImportTasks", milvus_pb2.ListImportTasksRequest(collection_name="imp_parquet")
        )
        assert [t.state for t in mine.tasks] == [6]
    finally:
        fresh.close()
    reconnected = MilvusClient(server.uri)
    try:
        assert count(reconnected, "imp_parquet") == ROWS
    finally:
        reconnected.close()


def test_bm25_outputs_are_computed_for_imported_rows(
    client: MilvusClient, raw: RawMilvus, tmp_path: Path
) -> None:
    """Files carry only the text; the BM25 function fills the sparse field, as on insert."""
    from pymilvus import Function, FunctionType

    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["text"],
            output_field_names=["sparse"],
        )
    )
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection("imp_bm25", schema=schema, index_params=index)
    texts = ["red apples", "green apples and pears", "blue sky"]
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "text": pa.array(texts)})
    path = tmp_path / "texts.parquet"
    pq.write_table(table, path)
    state = wait_job(raw, grpc_import(raw, "imp_bm25", [str(path)]))
    assert state.state == 6, {kv.key: kv.value for kv in state.infos}
    hits = client.search("imp_bm25", data=["apples"], anns_field="sparse", limit=5)[0]
    assert sorted(h["id"] for h in hits) == [1, 2]
    assert hits[0]["id"] == 1  # the shorter document scores higher for the same term
