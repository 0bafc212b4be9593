"""Segment files round-trip on every ``pyarrow.fs`` backend.

One fixture yields a :class:`SegmentFiles` per backend; every test runs on
each.  Vectors must come back as ``fixed_size_list<float32>`` columns whatever
the chunking and slicing of the table written (the persister writes slices
of a growing segment), and nullable and string columns must keep their nulls.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from sluice.storage.segment_files import SegmentFiles

BACKENDS = ["local", "local-uri", "memory"]


@pytest.fixture(params=BACKENDS)
def files(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SegmentFiles]:
    if request.param == "local":
        root = tmp_path / "segments"
        root.mkdir()
        yield SegmentFiles(pafs.LocalFileSystem(), str(root))
    elif request.param == "local-uri":
        yield SegmentFiles.for_uri(str(tmp_path / "segments"))
    else:
        yield SegmentFiles(pafs._MockFileSystem(), "bucket/segments")


def vectors(rows: int, dim: int, seed: int = 0) -> pa.FixedSizeListArray:
    data = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1)), dim)


def sample_table(rows: int, dim: int = 8, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    ints = rng.integers(-1000, 1000, rows).tolist()
    schema = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("vec", pa.list_(pa.float32(), dim), nullable=False),
            pa.field("age", pa.int32(), nullable=True),
            pa.field("score", pa.float64(), nullable=True),
            pa.field("name", pa.string(), nullable=True),
            pa.field("title", pa.string(), nullable=False),
            pa.field("flag", pa.bool_(), nullable=True),
            pa.field("$meta", pa.binary(), nullable=True),
            pa.field("$ts", pa.uint64(), nullable=False),
        ]
    )
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64) * 7 - 3),
            "vec": vectors(rows, dim, seed),
            "age": pa.array([None if i % 3 == 0 else v for i, v in enumerate(ints)], pa.int32()),
            "score": pa.array([None if i % 4 == 1 else i / 3 for i in range(rows)]),
            "name": pa.array([None if i % 5 == 2 else f"név-{i}-日本" for i in range(rows)]),
            "title": pa.array(["" if i % 7 == 0 else "t" * (i % 50) for i in range(rows)]),
            "flag": pa.array([None if i % 6 == 0 else i % 2 == 0 for i in range(rows)]),
            "$meta": pa.array([b'{"k": %d}' % i if i % 2 else None for i in range(rows)]),
            "$ts": pa.array(np.arange(rows, dtype=np.uint64) + (1 << 50)),
        },
        schema=schema,
    )


def assert_same(got: pa.Table, want: pa.Table) -> None:
    assert got.schema.names == want.schema.names
    for name in want.schema.names:
        want_field = want.schema.field(name)
        assert got.schema.field(name).type == want_field.type, name
        assert got.schema.field(name).nullable == want_field.nullable, name
        assert got.column(name).combine_chunks().equals(want.column(name).combine_chunks()), name
    assert got.num_rows == want.num_rows


def test_round_trip(files: SegmentFiles) -> None:
    table = sample_table(500)
    stored = files.write_table("insert_log/1/2/3/4.parquet", table)
    assert stored.size > 0
    got = files.read_table("insert_log/1/2/3/4.parquet", stored)
    assert_same(got, table)
    vec = got.column("vec").combine_chunks()
    assert isinstance(vec, pa.FixedSizeListArray)
    np.testing.assert_array_equal(
        vec.values.to_numpy().reshape(-1, 8),
        table.column("vec").combine_chunks().values.to_numpy().reshape(-1, 8),
    )


@pytest.mark.parametrize("dim", [1, 3, 128])
def test_sliced_and_chunked_vectors(files: SegmentFiles, dim: int) -> None:
    """What the persister writes: a slice (offset > 0) of a multi-chunk growing segment."""
    parts = [sample_table(n, dim, seed) for seed, n in enumerate([7, 64, 1, 33])]
    table = pa.concat_tables(parts)
    assert table.column("vec").num_chunks == 4
    for start, length in [(0, 105), (3, 50), (70, 1), (71, 34), (104, 1)]:
        piece = table.slice(start, length)
        rel = f"insert_log/1/2/{dim}/{start}.parquet"
        files.write_table(rel, piece)
        assert_same(files.read_table(rel), piece)


def test_vector_not_null_survives(files: SegmentFiles) -> None:
    table = sample_table(4)
    assert not table.schema.field("vec").nullable
    files.write_table("insert_log/1/1/1/2.parquet", table)
    assert not files.read_table("insert_log/1/1/1/2.parquet").schema.field("vec").nullable


def test_sliced_child_array(files: SegmentFiles) -> None:
    """A vector column whose child values array itself starts at an offset."""
    flat = pa.array(np.arange(100, dtype=np.float32)).slice(4)
    vec = pa.FixedSizeListArray.from_arrays(flat, 4)
    table = pa.table({"id": pa.array(np.arange(24, dtype=np.int64)), "vec": vec})
    files.write_table("insert_log/9/9/9/1.parquet", table)
    got = files.read_table("insert_log/9/9/9/1.parquet")
    np.testing.assert_array_equal(
        got.column("vec").combine_chunks().flatten().to_numpy(), np.arange(4, 100, dtype=np.float32)
    )


def test_all_null_and_empty_strings(files: SegmentFiles) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "nothing": pa.nulls(3, pa.int64()),
            "s": pa.array(["", None, "x"]),
            "vec": vectors(3, 2),
        }
    )
    files.write_table("insert_log/1/1/1/1.parquet", table)
    assert_same(files.read_table("insert_log/1/1/1/1.parquet"), table)


def test_delta_log_round_trip(files: SegmentFiles) -> None:
    keys = np.array([5, -1, 2**62], dtype=np.int64)
    stamps = np.array([1, 2, 2**63], dtype=np.uint64)
    table = pa.table({"pk": pa.array(keys), "ts": pa.array(stamps)})
    files.write_table("delta_log/1/2/3/4.parquet", table)
    got = files.read_table("delta_log/1/2/3/4.parquet")
    np.testing.assert_array_equal(got.column("pk").to_numpy(), keys)
    np.testing.assert_array_equal(got.column("ts").to_numpy(), stamps)
    strings = pa.table({"pk": pa.array(["a", "ünï"]), "ts": pa.array([1, 2], pa.uint64())})
    files.write_table("delta_log/1/2/3/5.parquet", strings)
    assert files.read_table("delta_log/1/2/3/5.parquet").column("pk").to_pylist() == ["a", "ünï"]


def test_list_and_delete_dirs(files: SegmentFiles) -> None:
    assert files.list_dirs("insert_log") == []
    files.delete_dir("insert_log/404")  # missing: not an error
    for coll in (10, 11):
        files.write_table(f"insert_log/{coll}/1/1/1.parquet", sample_table(3))
    assert sorted(files.list_dirs("insert_log")) == ["10", "11"]
    files.delete_dir("insert_log/10")
    assert files.list_dirs("insert_log") == ["11"]
    assert_same(files.read_table("insert_log/11/1/1/1.parquet"), sample_table(3))


def test_local_writes_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Crash safety step (b): the file and its directory are on disk before write_table returns."""
    files = SegmentFiles.for_uri(str(tmp_path / "segments"))
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    files.write_table("insert_log/1/2/3/4.parquet", sample_table(10))
    target = tmp_path / "segments" / "insert_log" / "1" / "2" / "3"
    assert synced == [str(target / "4.parquet"), str(target)]


def test_memory_backend_does_not_touch_local_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(os, "fsync", calls.append)
    files = SegmentFiles(pafs._MockFileSystem(), "bucket")
    files.write_table("insert_log/1/1/1/1.parquet", sample_table(5))
    assert calls == []
