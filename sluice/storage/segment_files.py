"""Segment files (Parquet binlogs and delta logs) on any ``pyarrow.fs`` filesystem.

Local disk, S3, GCS or an in-memory filesystem are the same code: the store
takes a ``pyarrow.fs.FileSystem`` and a root.  Files are written once and
never modified; a file becomes part of a segment only when the manifest that
names it is committed, so a crash mid-write leaves an unreferenced file and
never a half-read segment.

On a local filesystem each file and its directory are fsynced before
``write_table`` returns (pyarrow does not fsync); object stores make a PUT
durable by themselves, and have no directories to create.  On a remote
filesystem any I/O failure other than a missing file becomes
:class:`~sluice.errors.StorageUnavailable` naming the service.

Float vectors are stored as ``fixed_size_binary(dim * 4)`` columns rather than
Parquet lists: a flat column writes and reads several times faster and maps
straight back onto the numpy buffer.  The field metadata key
``sluice.vector_dim`` marks them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from sluice.errors import StorageUnavailable
from sluice.storage.atomic import fsync_dir

_VECTOR_DIM = b"sluice.vector_dim"
P = ParamSpec("P")
R = TypeVar("R")


def _remote_errors(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """On a remote store, report I/O failures (not missing files) as the service being unavailable."""

    def wrap(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(*args, **kwargs)
            except FileNotFoundError:
                raise
            except OSError as exc:
                store: Any = args[0]
                if store.service is None:
                    raise
                rel = args[1] if len(args) > 1 else ""
                raise StorageUnavailable(
                    f"{StorageUnavailable.base_message}: {store.service}: cannot {what} {rel}: {exc}"
                ) from exc

        return call

    return wrap


class SegmentFiles:
    def __init__(
        self, filesystem: pafs.FileSystem, root: str, *, service: str | None = None
    ) -> None:
        self._fs = filesystem
        self._root = root.rstrip("/")
        self._local = isinstance(filesystem, pafs.LocalFileSystem)
        #: Object stores have no directories: creating one costs a request for nothing.
        self._make_dirs = not isinstance(filesystem, pafs.S3FileSystem)
        #: Names a remote store in errors ("S3 at http://..."); None for local disk.
        self.service = service

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

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self._fs

    @property
    def root(self) -> str:
        return self._root

    @_remote_errors("write")
    def write_table(self, rel: str, table: pa.Table) -> int:
        """Write ``table`` as Parquet at ``rel``; return its size in bytes."""
        full = self._full(rel)
        parent = full.rsplit("/", 1)[0]
        if self._make_dirs:
            self._fs.create_dir(parent, recursive=True)
        with self._fs.open_output_stream(full) as out:
            pq.write_table(
                _flatten_vectors(table),
                out,
                compression="snappy",
                use_dictionary=False,
                write_statistics=True,
            )
            size = int(out.tell())
        self._make_durable(full, parent)
        return size

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

    @_remote_errors("write")
    def write_bytes(self, rel: str, data: bytes) -> int:
        """Write an opaque file (a serialised index) at ``rel``, durably; return its size."""
        full = self._full(rel)
        parent = full.rsplit("/", 1)[0]
        if self._make_dirs:
            self._fs.create_dir(parent, recursive=True)
        with self._fs.open_output_stream(full) as out:
            out.write(data)
        self._make_durable(full, parent)
        return len(data)

    @_remote_errors("read")
    def read_bytes(self, rel: str) -> bytes:
        with self._fs.open_input_stream(self._full(rel)) as src:
            return bytes(src.read())

    @_remote_errors("delete")
    def delete_file(self, rel: str) -> None:
        full = self._full(rel)
        if self._fs.get_file_info(full).type == pafs.FileType.File:
            self._fs.delete_file(full)

    @_remote_errors("read")
    def read_table(self, rel: str) -> pa.Table:
        return _restore_vectors(pq.read_table(self._full(rel), filesystem=self._fs))

    @_remote_errors("delete")
    def delete_dir(self, rel: str) -> None:
        full = self._full(rel)
        if self._fs.get_file_info(full).type != pafs.FileType.NotFound:
            self._fs.delete_dir(full)

    @_remote_errors("list")
    def list_files(self, rel: str) -> list[str]:
        """Every file below ``rel``, as paths relative to the store's root."""
        full = self._full(rel)
        if self._fs.get_file_info(full).type == pafs.FileType.NotFound:
            return []
        infos = self._fs.get_file_info(pafs.FileSelector(full, recursive=True))
        prefix = len(self._root) + 1
        return [i.path[prefix:] for i in infos if i.type == pafs.FileType.File]

    @_remote_errors("list")
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
                    pa.Array.from_buffers(pa.binary(dim * 4), len(chunk), [None, flat.buffers()[1]])
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
                chunks.append(pa.FixedSizeListArray.from_arrays(values, dim))
            typ = pa.list_(pa.float32(), dim)
            fields.append(pa.field(fld.name, typ, nullable=fld.nullable))
            arrays.append(pa.chunked_array(chunks, type=typ))
        else:
            fields.append(fld)
            arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
