"""A per-channel write-ahead log: append-only, checksummed, group-committed.

Layout: a directory of files named by the global byte offset of their first
record (``00000000000000000000.wal``, ``00000000000067108912.wal``...).  A
record's *offset* is its global position, so offsets grow for ever and make
stable message IDs (Milvus ``MsgPosition.msgID`` is the 8-byte little-endian
offset).  Records never span files.  The record format and the folder scan
live in :mod:`sluice.storage.wal_scan`.

Record format (little-endian)::

    u32 body_length | u32 crc32(body) | body = u8 kind | u64 timestamp | payload

Durability: ``append`` hands the bytes to the kernel; ``sync(end)`` returns
once everything up to ``end`` is fsynced.  Concurrent writers share fsyncs:
the first waiter becomes the leader and syncs everything written so far, the
others wait for it (group commit).  A file is fsynced before the log rotates
away from it, and the directory is fsynced when a file is created.

Recovery cuts only a torn tail.  Opening the log scans every file first,
changing nothing.  An incomplete or damaged last record of the newest file,
with nothing valid after it, is what a crash mid-append leaves; its records
were never acknowledged (acknowledgement waits for ``sync``), so the file is
truncated there.  Anything else (a bad record followed by valid ones, a bad
record in an older file, a gap between files) is corruption: with the default
``WalRecovery.STRICT`` opening raises :class:`~sluice.errors.WALCorruptedError`
naming the file and offset and leaves every file as it was.  Only
``WalRecovery.TRUNCATE``, an operator's explicit choice, cuts the log at the
first bad record, deletes the later files and logs what it dropped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice import telemetry
from sluice.config import WalRecovery
from sluice.errors import WALCorruptedError
from sluice.storage.atomic import fsync_dir
from sluice.storage.wal_scan import (
    BODY_PREFIX,
    HEADER,
    HEADER_BYTES,
    MAX_RECORD_BYTES,
    LogDamage,
    file_name,
    scan_log,
)

log = logging.getLogger(__name__)

#: Anything exporting the buffer protocol (bytes, memoryview, pyarrow.Buffer).
Buffer = Any

_HEADER = HEADER
_BODY_PREFIX = BODY_PREFIX

__all__ = ["HEADER_BYTES", "MAX_RECORD_BYTES", "Record", "WriteAheadLog"]


@dataclass(frozen=True, slots=True)
class Record:
    offset: int
    end: int
    kind: int
    timestamp: int
    payload: bytes


class WriteAheadLog:
    """One channel's log.  Thread-safe."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync: bool = True,
        file_bytes: int = 64 << 20,
        recovery: WalRecovery = WalRecovery.STRICT,
        start_offset: int = 0,
    ) -> None:
        """Open (and recover) the log in ``directory``, creating it if needed.

        ``start_offset`` is where a log with no file yet begins: a log re-created
        after its records were all persisted must keep offsets growing.
        """
        self._dir = directory
        self._fsync = fsync
        self._file_bytes = file_bytes
        self._append_lock = threading.Lock()
        self._sync_cond = threading.Condition()
        self._syncing = False
        self._durable = 0
        #: Records appended so far, and how many of them the last fsync covered.
        self._appended = 0
        self._synced_records = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._starts = self._recover(recovery)
        if not self._starts:
            self._starts = [start_offset]
            self._create_file(start_offset)
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

    def where(self, offset: int) -> str:
        """The file that holds ``offset`` (or would), for messages an operator acts on."""
        with self._append_lock:
            starts = list(self._starts)
        holder = starts[0]
        for start in starts:
            if start <= offset:
                holder = start
        return str(self._path(holder))

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
            self._appended += 1
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
            records = self._appended
            fd = os.dup(self._fd)
        started = time.perf_counter()
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        telemetry.WAL_FSYNC_SECONDS.observe(time.perf_counter() - started)
        telemetry.WAL_GROUP_RECORDS.observe(records - self._synced_records)
        self._synced_records = records
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
        return self._dir / file_name(start)

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

    def _recover(self, recovery: WalRecovery) -> list[int]:
        """Scan the folder, then cut a torn tail; corruption raises unless told to truncate."""
        scan = scan_log(self._dir)
        for stranger in scan.strangers:
            log.warning("WAL %s: ignoring a file that is not a log file", stranger)
        starts = [f.start for f in scan.files]
        damage = scan.corruption
        if damage is not None:
            if recovery != WalRecovery.TRUNCATE:
                raise WALCorruptedError(
                    f"{damage.describe()}; {damage.bytes_after} bytes of log follow it. "
                    "Nothing was changed: run `sluice check` on the data folder, restore the "
                    "file, or start with --wal-recovery truncate to cut the log there and lose "
                    "every record after it"
                )
            return self._cut_at(starts, damage)
        if scan.torn_tail is not None:
            last, valid = scan.torn_tail
            log.warning(
                "WAL %s: cut an incomplete last record at offset %d (%d bytes an interrupted "
                "append left; never acknowledged)",
                last.path,
                last.start + valid,
                last.size - valid,
            )
            self._truncate_file(last.path, valid)
        return starts

    def _cut_at(self, starts: list[int], damage: LogDamage) -> list[int]:
        """Truncate the log at ``damage`` and delete every later file (an operator's choice)."""
        damaged = damage.file_start
        kept = [s for s in starts if s <= damaged]
        dropped = [s for s in starts if s > damaged]
        path = self._path(damaged)
        self._truncate_file(path, damage.offset - damaged)
        for start in dropped:
            self._path(start).unlink()
        fsync_dir(self._dir)
        log.warning(
            "WAL %s: %s; --wal-recovery truncate cut the log at offset %d, dropping %d bytes "
            "of records (%d later file(s) deleted)",
            path,
            damage.reason,
            damage.offset,
            damage.bytes_after,
            len(dropped),
        )
        return kept

    @staticmethod
    def _truncate_file(path: Path, length: int) -> None:
        with open(path, "r+b") as fh:
            fh.truncate(length)
            fh.flush()
            os.fsync(fh.fileno())

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
