"""The mapped-files cache: arrays and tables written once, handed back as read-only maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sluice.storage.mapped_files import MappedFiles


def test_arrays_come_back_mapped_and_equal(tmp_path: Path) -> None:
    files = MappedFiles(tmp_path / "mmap")
    files.reset()
    matrix = np.arange(60, dtype=np.float32).reshape(20, 3)
    mapped = files.map_array(7, 11, "field-101", matrix)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    assert np.array_equal(mapped, matrix)
    assert files.path(7, 11, "field-101.npy").exists()
    # A second map of the same segment's column reuses the file.
    again = files.map_array(7, 11, "field-101", matrix)
    assert np.array_equal(again, matrix)
    with pytest.raises(ValueError):
        mapped[0, 0] = 1.0


def test_a_file_of_another_shape_is_written_again(tmp_path: Path) -> None:
    files = MappedFiles(tmp_path)
    files.map_array(1, 2, "pk", np.arange(5, dtype=np.int64))
    longer = np.arange(8, dtype=np.int64)
    assert np.array_equal(files.map_array(1, 2, "pk", longer), longer)


def test_tables_are_mapped_from_arrow_ipc_files(tmp_path: Path) -> None:
    files = MappedFiles(tmp_path)
    table = pa.table(
        {"title": ["a", None, "ccc"], "score": [1.5, 2.5, None], "tags": [[1], [], [2, 3]]}
    )
    mapped = files.map_table(3, 4, "scalars-x", table)
    assert mapped.equals(table)
    # The buffers point into the mapped file, not into fresh process memory.
    path = str(files.path(3, 4, "scalars-x.arrow"))
    spans = [
        tuple(int(edge, 16) for edge in line.split()[0].split("-"))
        for line in Path("/proc/self/maps").read_text().splitlines()
        if line.endswith(path)
    ]
    address = mapped.column("score").chunk(0).buffers()[1].address
    assert any(start <= address < end for start, end in spans)


def test_reset_and_remove_drop_files_but_mappings_stay_readable(tmp_path: Path) -> None:
    files = MappedFiles(tmp_path / "m")
    files.reset()
    values = np.arange(10, dtype=np.int64)
    mapped = files.map_array(1, 2, "ts", values)
    files.map_array(1, 3, "ts", values)
    files.remove_segment(1, 2)
    assert not files.path(1, 2, "ts.npy").exists() and files.path(1, 3, "ts.npy").exists()
    assert np.array_equal(mapped, values)  # the mapping outlives the name
    files.remove_collection(1)
    assert not (tmp_path / "m" / "1").exists()
    files.map_array(5, 6, "ts", values)
    files.reset()
    assert list((tmp_path / "m").iterdir()) == []
