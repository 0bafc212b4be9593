"""The metadata store on a local folder: a journal of commits plus a snapshot.

Files in ``<folder>``::

    snapshot    every key and value as of commit number ``seq`` (replaced atomically)
    journal     commits after (or around) the snapshot, appended in order

A commit is one journal record, written and fsynced before :meth:`commit`
returns, so its cost depends on what it changes, never on how much metadata
exists.  Record format (little-endian)::

    u32 body_length | u32 crc32(body) |
    body = u64 seq | u32 n_puts | (u32 key_len | key | u32 value_len | value)* |
           u32 n_deletes | (u32 key_len | key)*

Opening reads the snapshot, then applies every journal record whose ``seq``
is newer.  Only a torn tail (an incomplete or unchecksummed *last* record,
which no caller was ever told was committed) is cut; a damaged record followed
by more data is corruption and stops the open with an error naming the file
and offset, touching nothing.

When the journal outgrows the snapshot the store checkpoints: it writes a new
snapshot (temp file, fsync, rename, fsync directory) and then replaces the
journal with an empty one the same way.  A crash between the two leaves
records the snapshot already holds; their ``seq`` makes replay skip them.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from sluice.errors import MetaCorruptedError, StorageError, StorageWriteError
from sluice.storage.atomic import fsync_dir, write_atomic

_HEADER = struct.Struct("<II")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_SNAPSHOT_MAGIC = b"SLUICE-META-1\n"
#: Checkpoint once the journal is this large and larger than the snapshot.
CHECKPOINT_BYTES = 1 << 20


class LocalMetaStore:
    """:class:`~sluice.storage.meta_store.MetaStore` on a local folder.  Thread-safe."""

    def __init__(self, folder: Path, *, fsync: bool = True, read_only: bool = False) -> None:
        """Open the store in ``folder``; ``read_only`` changes no file (for ``sluice check``)."""
        self._dir = folder
        self._fsync = fsync
        self._lock = threading.Lock()
        if not read_only:
            folder.mkdir(parents=True, exist_ok=True)
        self._values: dict[str, bytes] = {}
        self._seq = self._load_snapshot()
        self._snapshot_bytes = self._size(self._snapshot_path)
        journal_end = self._replay_journal()
        #: Bytes of an incomplete last commit found at open (cut unless read-only).
        self.torn_tail_bytes = self._size(self._journal_path) - journal_end
        self._journal_bytes = journal_end
        self._fd = -1
        if read_only:
            return
        self._fd = os.open(self._journal_path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.ftruncate(self._fd, journal_end)
        os.lseek(self._fd, journal_end, os.SEEK_SET)

    # --- MetaStore --------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._values.get(key)

    def scan(self, prefix: str) -> dict[str, bytes]:
        with self._lock:
            found = {k: v for k, v in self._values.items() if k.startswith(prefix)}
        return dict(sorted(found.items()))

    def commit(self, puts: Mapping[str, bytes], deletes: Iterable[str] = ()) -> None:
        deleted = list(deletes)
        with self._lock:
            if self._fd < 0:
                raise StorageError(f"metadata store {self._dir} is closed or read-only")
            seq = self._seq + 1
            body = _encode(seq, puts, deleted)
            record = _HEADER.pack(len(body), zlib.crc32(body)) + body
            start = self._journal_bytes
            try:
                _write_all(self._fd, record)
                if self._fsync:
                    os.fsync(self._fd)
            except OSError as exc:
                # A failed commit must leave no partial record behind later ones.
                try:
                    os.ftruncate(self._fd, start)
                    os.lseek(self._fd, start, os.SEEK_SET)
                except OSError:
                    pass
                raise StorageWriteError.from_os_error(exc, self._journal_path) from exc
            self._journal_bytes = start + len(record)
            self._seq = seq
            _apply(self._values, puts, deleted)
            if self._journal_bytes >= max(CHECKPOINT_BYTES, self._snapshot_bytes):
                self._checkpoint()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    # --- files ---------------------------------------------------------------------

    @property
    def _snapshot_path(self) -> Path:
        return self._dir / "snapshot"

    @property
    def _journal_path(self) -> Path:
        return self._dir / "journal"

    @staticmethod
    def _size(path: Path) -> int:
        return path.stat().st_size if path.exists() else 0

    def _load_snapshot(self) -> int:
        path = self._snapshot_path
        if not path.exists():
            return 0
        data = path.read_bytes()
        body, crc = data[:-4], data[-4:]
        if (
            len(data) < len(_SNAPSHOT_MAGIC) + 16
            or not body.startswith(_SNAPSHOT_MAGIC)
            or _U32.pack(zlib.crc32(body)) != crc
        ):
            raise MetaCorruptedError(f"metadata snapshot {path} is damaged (checksum mismatch)")
        pos = len(_SNAPSHOT_MAGIC)
        (seq,) = _U64.unpack_from(body, pos)
        pos += 8
        (count,) = _U32.unpack_from(body, pos)
        pos += 4
        for _ in range(count):
            key, pos = _read_bytes(body, pos)
            value, pos = _read_bytes(body, pos)
            self._values[key.decode()] = value
        return int(seq)

    def _replay_journal(self) -> int:
        """Apply journal records newer than the snapshot; return the valid length."""
        path = self._journal_path
        if not path.exists():
            return 0
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            if pos + _HEADER.size > len(data):
                break  # torn header at the tail
            length, crc = _HEADER.unpack_from(data, pos)
            end = pos + _HEADER.size + length
            if end > len(data):
                break  # torn body at the tail
            body = data[pos + _HEADER.size : end]
            if zlib.crc32(body) != crc:
                if end == len(data):
                    break  # the last record, half-written: a torn tail
                raise MetaCorruptedError(
                    f"metadata journal {path} is damaged at offset {pos}: "
                    "a record fails its checksum and later records follow"
                )
            seq, puts, deletes = _decode(body)
            if seq > self._seq:
                _apply(self._values, puts, deletes)
                self._seq = seq
            pos = end
        return pos

    def _checkpoint(self) -> None:
        """Fold the journal into a new snapshot (caller holds the lock)."""
        parts = [_SNAPSHOT_MAGIC, _U64.pack(self._seq), _U32.pack(len(self._values))]
        for key, value in self._values.items():
            encoded = key.encode()
            parts += [_U32.pack(len(encoded)), encoded, _U32.pack(len(value)), value]
        body = b"".join(parts)
        write_atomic(self._snapshot_path, body + _U32.pack(zlib.crc32(body)))
        self._snapshot_bytes = len(body) + 4
        write_atomic(self._journal_path, b"")
        os.close(self._fd)
        self._fd = os.open(self._journal_path, os.O_WRONLY)
        self._journal_bytes = 0
        fsync_dir(self._dir)


def _encode(seq: int, puts: Mapping[str, bytes], deletes: list[str]) -> bytes:
    parts = [_U64.pack(seq), _U32.pack(len(puts))]
    for key, value in puts.items():
        encoded = key.encode()
        parts += [_U32.pack(len(encoded)), encoded, _U32.pack(len(value)), bytes(value)]
    parts.append(_U32.pack(len(deletes)))
    for key in deletes:
        encoded = key.encode()
        parts += [_U32.pack(len(encoded)), encoded]
    return b"".join(parts)


def _decode(body: bytes) -> tuple[int, dict[str, bytes], list[str]]:
    (seq,) = _U64.unpack_from(body, 0)
    pos = 8
    (n_puts,) = _U32.unpack_from(body, pos)
    pos += 4
    puts: dict[str, bytes] = {}
    for _ in range(n_puts):
        key, pos = _read_bytes(body, pos)
        value, pos = _read_bytes(body, pos)
        puts[key.decode()] = value
    (n_deletes,) = _U32.unpack_from(body, pos)
    pos += 4
    deletes = []
    for _ in range(n_deletes):
        key, pos = _read_bytes(body, pos)
        deletes.append(key.decode())
    return int(seq), puts, deletes


def _read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    (length,) = _U32.unpack_from(data, pos)
    start = pos + 4
    return data[start : start + length], start + length


def _apply(values: dict[str, bytes], puts: Mapping[str, bytes], deletes: Iterable[str]) -> None:
    for key in deletes:
        values.pop(key, None)
    for key, value in puts.items():
        values[key] = bytes(value)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
