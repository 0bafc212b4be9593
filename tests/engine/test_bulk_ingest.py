"""Bulk ingest is files first, then one commit: before the commit nothing is visible or kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sluice.config import Settings
from sluice.engine import Column, Engine, bulk_ingest, import_job, submit_import
from sluice.engine.import_jobs import wait_for
from sluice.errors import ImportFailed
from sluice.schema import CollectionSchema, DataType, FieldSchema

DIM = 4


def open_engine(folder: Path) -> Engine:
    return Engine(Settings(data_dir=folder))


def create(engine: Engine, name: str = "c") -> None:
    schema = CollectionSchema(
        name=name,
        fields=(
            FieldSchema(name="id", dtype=DataType.INT64, is_primary=True),
            FieldSchema(name="v", dtype=DataType.FLOAT_VECTOR, dim=DIM),
        ),
    )
    engine.create_collection("default", schema, shards_num=2)


def columns(n: int) -> list[Column]:
    flat = pa.array(np.random.default_rng(0).random(n * DIM, dtype=np.float32))
    return [
        Column("id", DataType.INT64, pa.array(np.arange(n))),
        Column("v", DataType.FLOAT_VECTOR, pa.FixedSizeListArray.from_arrays(flat, DIM), dim=DIM),
    ]


def visible(engine: Engine) -> int:
    collection = engine.get("default", "c")
    return sum(v.num_rows for v in collection.snapshot(2**62).segments)


def test_uncommitted_segments_are_invisible_and_removed_at_the_next_start(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    create(engine)
    collection = engine.get("default", "c")
    table = bulk_ingest.prepare_batch(collection, columns(100), 100)
    written = bulk_ingest.write_segments(collection, collection.meta.default_partition_id, [table])
    assert written.rows == 100 and len(written.by_channel) == 2  # split by shard
    files = [tmp_path / "segments" / rel for rel in written.files]
    assert all(f.exists() for f in files)
    assert visible(engine) == 0
    engine.close()  # a crash before the commit: nothing names the files
    engine = open_engine(tmp_path)
    try:
        assert visible(engine) == 0
        assert not any(f.exists() for f in files)
    finally:
        engine.close()


def test_committed_segments_survive_a_restart(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    create(engine)
    collection = engine.get("default", "c")
    table = bulk_ingest.prepare_batch(collection, columns(100), 100)
    written = bulk_ingest.write_segments(collection, collection.meta.default_partition_id, [table])
    bulk_ingest.commit_segments(collection, written, {"test/marker": b"1"})
    assert visible(engine) == 100
    assert engine.stores.meta.get("test/marker") == b"1"
    engine.close()
    engine = open_engine(tmp_path)
    try:
        assert visible(engine) == 100
    finally:
        engine.close()


def test_unknown_job_and_missing_file(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    try:
        create(engine)
        with pytest.raises(ImportFailed) as info:
            import_job(engine, 12345)
        assert info.value.message == (
            "importing data failed: import job does not exist, jobID=12345"
        )
        job_id = submit_import(engine, "default", "c", "", [["nothing.parquet"]])
        job = wait_for(engine.imports, job_id, 30)
        assert job.state == "Failed" and "no such file" in job.reason
    finally:
        engine.close()
