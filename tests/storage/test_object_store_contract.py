"""The object store contract (segment files, delta logs, index files), local folder and S3."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sluice.errors import SegmentFileCorruptedError, StorageUnavailable
from sluice.storage.object_store import open_object_store
from sluice.storage.segment_files import SegmentFiles
from tests import services

Opener = Callable[[], SegmentFiles]


def _s3_opener(service: services.SeaweedService, prefix: str) -> Opener:
    return lambda: open_object_store(
        f"s3://{service.bucket}/{prefix}",
        endpoint=service.endpoint,
        access_key=services.S3_ACCESS_KEY,
        secret_key=services.S3_SECRET_KEY,
        region=services.S3_REGION,
    )


@pytest.fixture(params=["local", "s3"])
def open_files(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    if request.param == "s3":
        yield _s3_opener(request.getfixturevalue("s3_service"), f"t/{uuid.uuid4().hex}")
    else:
        yield lambda: open_object_store(str(tmp_path / "objects"))


def _table(rows: int, dim: int = 8) -> pa.Table:
    vectors = np.random.default_rng(rows).random((rows, dim), dtype=np.float32)
    return pa.table(
        {
            "pk": pa.array(np.arange(rows, dtype=np.int64)),
            "vec": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
            "tag": pa.array([f"t{i}" for i in range(rows)]),
        }
    )


def test_tables_round_trip_with_vectors(open_files: Opener) -> None:
    files = open_files()
    table = _table(1000)
    stored = files.write_table("insert_log/1/2/3/100.parquet", table)
    assert stored.size > 0
    again = open_files().read_table("insert_log/1/2/3/100.parquet", stored)
    assert again.equals(table)


def test_a_changed_table_file_is_refused_by_name(open_files: Opener) -> None:
    files = open_files()
    rel = "insert_log/1/2/3/101.parquet"
    stored = files.write_table(rel, _table(50))
    damaged = bytearray(files.read_bytes(rel))
    damaged[len(damaged) // 2] ^= 0x10
    files.write_bytes(rel, bytes(damaged))
    with pytest.raises(SegmentFileCorruptedError, match=f"{rel} fails its checksum"):
        files.read_table(rel, stored)
    files.write_bytes(rel, bytes(damaged[:-7]))
    with pytest.raises(SegmentFileCorruptedError, match="its manifest says"):
        files.read_table(rel, stored)


def test_bytes_round_trip_and_large_files(open_files: Opener) -> None:
    files = open_files()
    blob = np.random.default_rng(1).bytes(12 << 20)  # past one multipart part
    assert files.write_bytes("index_files/7/8/index", blob) == len(blob)
    assert open_files().read_bytes("index_files/7/8/index") == blob


def test_listing_and_deleting(open_files: Opener) -> None:
    files = open_files()
    for rel in ("delta_log/1/a.parquet", "delta_log/1/b.parquet", "delta_log/2/c.parquet"):
        files.write_table(rel, _table(3))
    assert sorted(files.list_files("delta_log")) == [
        "delta_log/1/a.parquet",
        "delta_log/1/b.parquet",
        "delta_log/2/c.parquet",
    ]
    assert sorted(files.list_dirs("delta_log")) == ["1", "2"]
    files.delete_file("delta_log/1/a.parquet")
    files.delete_file("delta_log/1/missing.parquet")  # deleting nothing is fine
    assert sorted(files.list_files("delta_log/1")) == ["delta_log/1/b.parquet"]
    files.delete_dir("delta_log/2")
    assert files.list_files("delta_log/2") == []
    assert files.list_files("nothing/here") == [] and files.list_dirs("nothing") == []


def test_reading_a_missing_file_says_so(open_files: Opener) -> None:
    files = open_files()
    with pytest.raises(FileNotFoundError):
        files.read_bytes("index_files/none")
    with pytest.raises(SegmentFileCorruptedError, match=r"none\.parquet is missing"):
        files.read_table("insert_log/none.parquet")


def test_s3_outage_fails_by_name_and_recovers(tmp_path: Path) -> None:
    service = services.started(services.SeaweedService(tmp_path / "s3"))
    assert isinstance(service, services.SeaweedService)
    try:
        files = _s3_opener(service, "outage")()
        files.write_bytes("before", b"1")
        service.kill()
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match=f"S3 at {service.endpoint}"):
            files.write_bytes("during", b"2")
        with pytest.raises(StorageUnavailable, match="S3 at"):
            files.read_bytes("before")
        assert time.monotonic() - started < 60  # bounded, never a hang
        service.start()
        files.write_bytes("after", b"3")
        assert files.read_bytes("before") == b"1"
        assert sorted(files.list_files("")) == ["after", "before"]
    finally:
        service.kill()
