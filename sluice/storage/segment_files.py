"""Segment files (Parquet binlogs and delta logs) on any ``pyarrow.fs`` filesystem.

Local disk, S3, GCS or an in-memory filesystem are the same code: the store
takes a ``pyarrow.fs.FileSystem`` and a root.  Files are written once and
never modified; a file becomes part of a segment only when the manifest that
names it is committed, so a crash mid-write leaves an unreferenced file and
never a half-read segment.

On a local filesystem each file and its directory are fsynced before
``write_table`` returns (pyarrow does not fsync); object stores make a PUT
durable by themselves.

Float vectors are stored as ``fixed_size_binary(dim * 4)`` columns rather than
Parquet lists: a flat column writes and reads several times faster and maps
straight back onto the numpy buffer.  The field metadata key
``sluice.vector_dim`` marks them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from sluice.storage.atomic import fsync_dir

_VECTOR_DIM = b"sluice.vector_dim"


class SegmentFiles:
    def __init__(self, filesystem: pafs.FileSystem, root: str) -> None:
        self._fs = filesystem
        self._root = root.rstrip("/")
        self._local = isinstance(filesystem, pafs.LocalFileSystem)

    @classmethod
    def for_uri(cls, uri: str) -> SegmentFiles:
        """``/path``, ``file:///path``, ``s3://bucket/prefix``... as pyarrow understands them."""
        if "://" not in uri:
            Path(uri).mkdir(parents=True, exist_ok=True)
            uri = Path(uri).resolve().as_uri()
        filesystem, root = pafs.FileSystem.from_uri(uri)
        return cls(filesystem, root)

    def _full(self, rel: str) -> str:
        return f"{self._root}/{rel}"

    def write_table(self, rel: str, table: pa.Table) -> int:
        """Write ``table`` as Parquet at ``rel``; return its size in bytes."""
        full = self._full(rel)
        parent = full.rsplit("/", 1)[0]
        self._fs.create_dir(parent, recursive=True)
        pq.write_table(
            _flatten_vectors(table),
            full,
            filesystem=self._fs,
            compression="snappy",
            use_dictionary=False,
            write_statistics=True,
        )
        self._make_durable(full, parent)
        info = self._fs.get_file_info(full)
        return int(info.size or 0)

    def _make_durable(self, full: str, parent: str) -> None:
        """fsync a new local file and its directory (object stores need nothing)."""
        if not self._local:
            return
        fd = os.open(full, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(Path(parent))

    def write_bytes(self, rel: str, data: bytes) -> int:
        """Write an opaque file (a serialised index) at ``rel``, durably; return its size."""
        full = self._full(rel)
        parent = full.rsplit("/", 1)[0]
        self._fs.create_dir(parent, recursive=True)
        with self._fs.open_output_stream(full) as out:
            out.write(data)
        self._make_durable(full, parent)
        return len(data)

    def read_bytes(self, rel: str) -> bytes:
        with self._fs.open_input_stream(self._full(rel)) as src:
            return bytes(src.read())

    def delete_file(self, rel: str) -> None:
        full = self._full(rel)
        if self._fs.get_file_info(full).type == pafs.FileType.File:
            self._fs.delete_file(full)

    def read_table(self, rel: str) -> pa.Table:
        return _restore_vectors(pq.read_table(self._full(rel), filesystem=self._fs))

    def delete_dir(self, rel: str) -> None:
        full = self._full(rel)
        if self._fs.get_file_info(full).type != pafs.FileType.NotFound:
            self._fs.delete_dir(full)

    def list_files(self, rel: str) -> list[str]:
        """Every file below ``rel``, as paths relative to the store's root."""
        full = self._full(rel)
        if self._fs.get_file_info(full).type == pafs.FileType.NotFound:
            return []
        infos = self._fs.get_file_info(pafs.FileSelector(full, recursive=True))
        prefix = len(self._root) + 1
        return [i.path[prefix:] for i in infos if i.type == pafs.FileType.File]

    def list_dirs(self, rel: str) -> list[str]:
        full = self._full(rel)
        if self._fs.get_file_info(full).type == pafs.FileType.NotFound:
            return []
        infos = self._fs.get_file_info(pafs.FileSelector(full, recursive=False))
        return [i.base_name for i in infos if i.type == pafs.FileType.Directory]


def _flatten_vectors(table: pa.Table) -> pa.Table:
    fields = []
    arrays = []
    for fld, column in zip(table.schema, table.columns, strict=True):
        typ = fld.type
        if pa.types.is_fixed_size_list(typ) and typ.value_type == pa.float32():
            dim = typ.list_size
            chunks = []
            for chunk in column.chunks:
                values = chunk.values.slice(chunk.offset * dim, len(chunk) * dim)
                flat = pa.concat_arrays([values]) if values.offset else values
                chunks.append(
                    pa.Array.from_buffers(
                        pa.binary(dim * 4), len(chunk), [_validity(chunk), flat.buffers()[1]]
                    )
                )
            fields.append(
                pa.field(
                    fld.name,
                    pa.binary(dim * 4),
                    nullable=fld.nullable,
                    metadata={_VECTOR_DIM: str(dim).encode()},
                )
            )
            arrays.append(pa.chunked_array(chunks, type=pa.binary(dim * 4)))
        else:
            fields.append(fld)
            arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=table.schema.metadata))


def _validity(chunk: pa.Array) -> pa.Buffer | None:
    """A null bitmap starting at the chunk's first row (nullable vector fields)."""
    if chunk.null_count == 0:
        return None
    return pa.array(chunk.is_valid().to_numpy(zero_copy_only=False)).buffers()[1]


def _restore_vectors(table: pa.Table) -> pa.Table:
    fields = []
    arrays = []
    for fld, column in zip(table.schema, table.columns, strict=True):
        meta = fld.metadata or {}
        if _VECTOR_DIM in meta:
            dim = int(meta[_VECTOR_DIM])
            chunks = []
            for chunk in column.chunks:
                data = chunk.buffers()[1]
                start = chunk.offset * dim * 4
                values = pa.Array.from_buffers(
                    pa.float32(), len(chunk) * dim, [None, data.slice(start, len(chunk) * dim * 4)]
                )
                mask = None if chunk.null_count == 0 else pc.invert(chunk.is_valid())
                chunks.append(pa.FixedSizeListArray.from_arrays(values, dim, mask=mask))
            typ = pa.list_(pa.float32(), dim)
            fields.append(pa.field(fld.name, typ, nullable=fld.nullable))
            arrays.append(pa.chunked_array(chunks, type=typ))
        else:
            fields.append(fld)
            arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
