"""Local files that sealed segments' columns and indexes are memory-mapped from.

Milvus's query nodes copy a segment's binlogs into local files under
``mmapDirPath`` and map them, so a collection larger than memory is served
from the page cache; Sluice does the same.  The files are a cache: they are
written from data already persisted in segment files, never named by a
manifest, and the whole folder is emptied when an engine opens it.

Layout: ``<root>/<collection id>/<segment id>/<name>``.  A segment's
content never changes once it is sealed, so a file that exists is reused;
files are written under a temporary name and renamed, so a crash never
leaves a half-written file under a real name (and start-up empties the
folder anyway).  Removing a segment's files while readers still hold arrays
mapped from them is safe: on POSIX systems a mapping outlives the name.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc


class MappedFiles:
    """Write arrays and tables once, hand back read-only memory maps of them."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    @property
    def root(self) -> Path:
        return self._root

    def reset(self) -> None:
        """Empty the folder (start-up: nothing in it is referenced any more)."""
        if self._root.exists():
            shutil.rmtree(self._root)
        self._root.mkdir(parents=True, exist_ok=True)

    def path(self, collection_id: int, segment_id: int, name: str) -> Path:
        return self._root / str(collection_id) / str(segment_id) / name

    def map_array(
        self, collection_id: int, segment_id: int, name: str, array: np.ndarray
    ) -> np.ndarray:
        """A read-only memory map holding ``array``'s values (written on first use)."""
        path = self.path(collection_id, segment_id, f"{name}.npy")
        if not path.exists():

            def write(tmp: Path) -> None:
                with tmp.open("wb") as out:  # a path would gain a ".npy" suffix
                    np.save(out, np.ascontiguousarray(array), allow_pickle=False)

            self._write(path, write)
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        if mapped.shape != array.shape or mapped.dtype != array.dtype:
            # Left by an older layout of the same segment: write it again.
            path.unlink()
            return self.map_array(collection_id, segment_id, name, array)
        return mapped

    def map_table(
        self, collection_id: int, segment_id: int, name: str, table: pa.Table
    ) -> pa.Table:
        """A table whose buffers point into a memory-mapped Arrow IPC file of ``table``."""
        path = self.path(collection_id, segment_id, f"{name}.arrow")
        if not path.exists():
            combined = table.combine_chunks()

            def write(tmp: Path) -> None:
                with ipc.new_file(str(tmp), combined.schema) as writer:
                    writer.write_table(combined)

            self._write(path, write)
        with pa.memory_map(str(path), "r") as source:
            mapped = ipc.open_file(source).read_all()
        if not mapped.schema.equals(table.schema) or mapped.num_rows != table.num_rows:
            path.unlink()
            return self.map_table(collection_id, segment_id, name, table)
        return mapped

    def copy_in(self, collection_id: int, segment_id: int, name: str, data: bytes) -> Path:
        """Store ``data`` (an index file from a remote store) and return its local path."""
        path = self.path(collection_id, segment_id, name)
        if not path.exists():
            self._write(path, lambda tmp: tmp.write_bytes(data))
        return path

    def remove_segment(self, collection_id: int, segment_id: int) -> None:
        shutil.rmtree(self._root / str(collection_id) / str(segment_id), ignore_errors=True)

    def remove_collection(self, collection_id: int) -> None:
        shutil.rmtree(self._root / str(collection_id), ignore_errors=True)

    def _write(self, path: Path, fill: Callable[[Path], object]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            fill(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
