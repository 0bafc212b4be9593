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

Every binlog is written from one in-memory buffer whose CRC-32 is returned
with its size (:class:`StoredFile`); the manifest records both, and
``read_table(..., expect=...)`` refuses a file whose length or checksum differ
with :class:`~sluice.errors.SegmentFileCorruptedError` naming it.  Parquet's
own page checksums are optional and do not cover the footer, so a flipped bit
could otherwise change a value without any error.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from sluice.errors import SegmentFileCorruptedError, StorageUnavailable
from sluice.storage.atomic import fsync_dir

_VECTOR_DIM = b"sluice.vector_dim"
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class StoredFile:
    """What a manifest records to verify a file: its length and CRC-32."""

    size: int
    crc32: int


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

    def local_path(self, rel: str) -> str | None:
        """The operating-system path of ``rel`` when the store is a local disk, else ``None``."""
        return self._full(rel) if self._local else None

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self._fs

    @property
    def root(self) -> str:
        return self._root

    @_remote_errors("write")
    def write_table(self, rel: str, table: pa.Table) -> StoredFile:
        """Write ``table`` as Parquet at ``rel``, durably; return its size and CRC-32."""
        buffer = pa.BufferOutputStream()
        pq.write_table(
            _flatten_vectors(table),
            buffer,
            compression="snappy",
            use_dictionary=False,
            write_statistics=True,
        )
        data = buffer.getvalue()
        self._write(rel, data)
        return StoredFile(data.size, zlib.crc32(data))

    def _write(self, rel: str, data: pa.Buffer | bytes) -> None:
        full = self._full(rel)
        parent = full.rsplit("/", 1)[0]
        if self._make_dirs:
            self._fs.create_dir(parent, recursive=True)
        with self._fs.open_output_stream(full) as out:
            out.write(data)
        self._make_durable(full, parent)

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
        self._write(rel, data)
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
    def read_table(
        self, rel: str, expect: StoredFile | None = None, *, skip: frozenset[str] = frozenset()
    ) -> pa.Table:
        """Read the Parquet file at ``rel``; with ``expect``, verify its length and CRC-32 first.

        Columns named in ``skip`` are not decoded (the whole file is still
        read and verified).

        A file that is missing where ``expect`` says it exists, differs from
        ``expect``, or cannot be parsed raises
        :class:`~sluice.errors.SegmentFileCorruptedError` naming it.
        """
        full = self._full(rel)
        try:
            data = self._read_whole(full)
        except FileNotFoundError:
            raise SegmentFileCorruptedError(f"segment file {rel} is missing") from None
        if expect is not None:
            if data.size != expect.size:
                raise SegmentFileCorruptedError(
                    f"segment file {rel} holds {data.size} bytes, its manifest says {expect.size}"
                )
            if zlib.crc32(data) != expect.crc32:
                raise SegmentFileCorruptedError(
                    f"segment file {rel} fails its checksum (the manifest's CRC-32 differs)"
                )
        try:
            source = pa.BufferReader(data)
            if skip:
                names = pq.read_schema(source).names
                table = pq.read_table(source, columns=[n for n in names if n not in skip])
            else:
                table = pq.read_table(source)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise SegmentFileCorruptedError(f"segment file {rel} cannot be parsed: {exc}") from None
        return _restore_vectors(table)

    def _read_whole(self, full: str) -> pa.Buffer:
        """The file's bytes.  A local file is mapped, not copied: an input stream's
        ``read_buffer`` reads a 128 MiB binlog in pieces at about 1 GB/s, which made reading
        the binlogs most of a large collection's start-up.  A segment file is written once,
        under a name never used again, before any manifest names it, and is never
        changed in place, so the mapping cannot shrink under the reader."""
        if self._local:
            with pa.memory_map(full) as mapped:
                return mapped.read_buffer()
        with self._fs.open_input_stream(full) as src:
            return src.read_buffer()

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
