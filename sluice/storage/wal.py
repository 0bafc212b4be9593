"""A per-channel write-ahead log: append-only, checksummed, group-committed.

Layout: a directory of files named by the global byte offset of their first
record (``00000000000000000000.wal``, ``00000000000067108912.wal``...).  A
record's *offset* is its global position, so offsets grow for ever and make
stable message IDs (Milvus ``MsgPosition.msgID`` is the 8-byte little-endian
offset).  Records never span files.

Record format (little-endian)::

    u32 body_length | u32 crc32(body) | body = u8 kind | u64 timestamp | payload

Durability: ``append`` hands the bytes to the kernel; ``sync(end)`` returns
once everything up to ``end`` is fsynced.  Concurrent writers share fsyncs:
the first waiter becomes the leader and syncs everything written so far, the
others wait for it (group commit).  A file is fsynced before the log rotates
away from it, and the directory is fsynced when a file is created.

Recovery keeps the longest valid prefix.  Opening the log scans every file;
at the first record that is short, fails its checksum or has an impossible
length, the file is truncated there and any later files are deleted.  A torn
tail from a crash mid-append is therefore cut, never fatal; the records lost
were never acknowledged, because acknowledgement waits for ``sync``.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.errors import WALCorruptedError
from sluice.storage.atomic import fsync_dir

log = logging.getLogger(__name__)

#: Anything exporting the buffer protocol (bytes, memoryview, pyarrow.Buffer).
Buffer = Any

_HEADER = struct.Struct("<II")
_BODY_PREFIX = struct.Struct("<BQ")
HEADER_BYTES = _HEADER.size + _BODY_PREFIX.size
_SUFFIX = ".wal"
#: No single record may exceed this; a larger length field means corruption.
MAX_RECORD_BYTES = 1 << 31


@dataclass(frozen=True, slots=True)
class Record:
    offset: int
    end: int
    kind: int
    timestamp: int
    payload: bytes


class WriteAheadLog:
    """One channel's log.  Thread-safe."""

    def __init__(self, directory: Path, *, fsync: bool = True, file_bytes: int = 64 << 20) -> None:
        self._dir = directory
        self._fsync = fsync
        self._file_bytes = file_bytes
        self._append_lock = threading.Lock()
        self._sync_cond = threading.Condition()
        self._syncing = False
        self._durable = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._starts = self._recover()
        if not self._starts:
            self._starts = [0]
            self._create_file(0)
        last = self._starts[-1]
        self._fd = os.open(self._path(last), os.O_WRONLY | os.O_APPEND)
        self._file_start = last
        self._end = last + os.fstat(self._fd).st_size
        self._durable = self._end

    # --- public -----------------------------------------------------------

    @property
    def end_offset(self) -> int:
        """Offset the next record will get."""
        return self._end

    @property
    def first_offset(self) -> int:
        return self._starts[0]

    def append(self, kind: int, timestamp: int, *payload: Buffer) -> Record:
        """Write one record whose payload is the concatenation of ``payload``.

        The record is not yet durable: call :meth:`sync` with its ``end``.
        """
        body_prefix = _BODY_PREFIX.pack(kind, timestamp)
        crc = zlib.crc32(body_prefix)
        length = len(body_prefix)
        for part in payload:
            crc = zlib.crc32(part, crc)
            length += memoryview(part).nbytes
        header = _HEADER.pack(length, crc)
        with self._append_lock:
            if self._end - self._file_start >= self._file_bytes:
                self._rotate()
            offset = self._end
            try:
                _write_all(self._fd, [header, body_prefix, *payload])
            except OSError:
                # Never leave a partial record in the middle of the log: later
                # appends would land behind it and recovery would cut them off.
                os.ftruncate(self._fd, offset - self._file_start)
                raise
            self._end = offset + _HEADER.size + length
            end = self._end
        return Record(offset, end, kind, timestamp, b"")

    def sync(self, upto: int) -> None:
        """Block until every byte before ``upto`` is on stable storage."""
        if not self._fsync:
            return
        with self._sync_cond:
            while self._durable < upto:
                if self._syncing:
                    self._sync_cond.wait()
                    continue
                self._syncing = True
                self._sync_cond.release()
                try:
                    target = self._fsync_current()
                finally:
                    self._sync_cond.acquire()
                    self._syncing = False
                    self._sync_cond.notify_all()
                self._durable = max(self._durable, target)

    def _fsync_current(self) -> int:
        """fsync the file being appended to; return the offset now durable.

        The descriptor is duplicated under the append lock, so a concurrent
        rotation cannot close it under us; rotation itself fsyncs the file it
        leaves, so everything before the current file is already durable.
        """
        with self._append_lock:
            target = self._end
            fd = os.dup(self._fd)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return target

    def replay(self, start: int = 0) -> Iterator[Record]:
        """Yield every record at or after ``start`` (an offset this log produced)."""
        with self._append_lock:
            starts = list(self._starts)
            end = self._end
        for i, file_start in enumerate(starts):
            file_end = starts[i + 1] if i + 1 < len(starts) else end
            if file_end <= start:
                continue
            yield from self._read_file(file_start, max(start, file_start), file_end)

    def truncate_before(self, offset: int) -> int:
        """Delete whole files that hold only records before ``offset``; return bytes freed."""
        freed = 0
        with self._append_lock:
            while len(self._starts) > 1 and self._starts[1] <= offset:
                start = self._starts.pop(0)
                path = self._path(start)
                freed += path.stat().st_size
                path.unlink()
        if freed:
            fsync_dir(self._dir)
        return freed

    def close(self) -> None:
        with self._append_lock:
            if self._fd >= 0:
                if self._fsync:
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1

    # --- internals --------------------------------------------------------

    def _path(self, start: int) -> Path:
        return self._dir / f"{start:020d}{_SUFFIX}"

    def _create_file(self, start: int) -> None:
        fd = os.open(self._path(start), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.close(fd)
        fsync_dir(self._dir)

    def _rotate(self) -> None:
        if self._fsync:
            os.fsync(self._fd)
        os.close(self._fd)
        start = self._end
        self._create_file(start)
        self._starts.append(start)
        self._fd = os.open(self._path(start), os.O_WRONLY | os.O_APPEND)
        self._file_start = start

    def _recover(self) -> list[int]:
        starts = sorted(int(p.name[: -len(_SUFFIX)]) for p in self._dir.glob(f"*{_SUFFIX}"))
        kept: list[int] = []
        for i, start in enumerate(starts):
            path = self._path(start)
            valid = self._valid_length(path)
            size = path.stat().st_size
            expected_next = starts[i + 1] if i + 1 < len(starts) else None
            kept.append(start)
            if valid < size:
                log.warning(
                    "WAL %s: invalid record at offset %d; keeping the valid prefix "
                    "(%d of %d bytes) and dropping %d later file(s)",
                    path,
                    start + valid,
                    valid,
                    size,
                    len(starts) - i - 1,
                )
                with open(path, "r+b") as fh:
                    fh.truncate(valid)
                    fh.flush()
                    os.fsync(fh.fileno())
                for later in starts[i + 1 :]:
                    self._path(later).unlink()
                fsync_dir(self._dir)
                break
            if expected_next is not None and start + size != expected_next:
                log.warning("WAL %s: gap before next file; dropping later files", path)
                for later in starts[i + 1 :]:
                    self._path(later).unlink()
                fsync_dir(self._dir)
                break
        return kept

    @staticmethod
    def _valid_length(path: Path) -> int:
        """Length of the longest prefix of ``path`` made of whole, checksummed records."""
        valid = 0
        with open(path, "rb") as fh:
            while True:
                header = fh.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    return valid
                length, crc = _HEADER.unpack(header)
                if length < _BODY_PREFIX.size or length > MAX_RECORD_BYTES:
                    return valid
                body = fh.read(length)
                if len(body) < length or zlib.crc32(body) != crc:
                    return valid
                valid += _HEADER.size + length

    def _read_file(self, file_start: int, start: int, end: int) -> Iterator[Record]:
        with open(self._path(file_start), "rb") as fh:
            fh.seek(start - file_start)
            pos = start
            while pos < end:
                length, crc = _HEADER.unpack(fh.read(_HEADER.size))
                body = fh.read(length)
                if len(body) < length or zlib.crc32(body) != crc:
                    raise WALCorruptedError(f"WAL record at offset {pos} failed its checksum")
                kind, timestamp = _BODY_PREFIX.unpack_from(body)
                rec_end = pos + _HEADER.size + length
                yield Record(pos, rec_end, kind, timestamp, body[_BODY_PREFIX.size :])
                pos = rec_end


def _write_all(fd: int, parts: list[Buffer]) -> None:
    total = sum(memoryview(p).nbytes for p in parts)
    written = os.writev(fd, parts)
    if written == total:
        return
    # Short writes are rare (signals, full disks); finish byte-exactly.
    data = b"".join(bytes(p) for p in parts)[written:]
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
