"""Reading a write-ahead log folder without changing it: its files, its records, its damage.

The record format and file naming are defined here, so that the log itself
(:mod:`sluice.storage.wal`) and ``sluice check`` judge a folder the same way.

Files are named by the global offset of their first record
(``00000000000000000000.wal``) and are contiguous: a file's start plus its size
is the next file's start.  A record is ``u32 body_length | u32 crc32(body) |
body`` with ``body = u8 kind | u64 timestamp | payload``.

:func:`scan_log` classifies what it finds:

* a **torn tail**: the first invalid record is in the last file and nothing
  valid follows it.  That is what a crash in the middle of an append leaves
  (possibly followed by zeros the filesystem allocated); the records in it were
  never acknowledged, because acknowledgement waits for the fsync.  It may be
  cut automatically.
* **corruption**: an invalid record followed by a valid one, an invalid record
  in any file but the last (the log fsyncs a file before it moves to the next,
  so an older file can never hold a torn append), or a gap or overlap between
  files.  Cutting there would drop acknowledged records, so it is reported and
  left alone.

Telling the two apart needs a look past the first invalid record: a damaged
length field can make a record look as if it ran past the end of the file.
The scan therefore searches the rest of the last file for any well-formed
record (a plausible length and a matching checksum); finding one means the
damage is not a tail.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HEADER = struct.Struct("<II")
BODY_PREFIX = struct.Struct("<BQ")
HEADER_BYTES = HEADER.size + BODY_PREFIX.size
SUFFIX = ".wal"
#: No single record may exceed this; a larger length field means corruption.
MAX_RECORD_BYTES = 1 << 31
_NAME_DIGITS = 20
#: Candidate positions examined per numpy pass when searching past damage.
_SEARCH_CHUNK = 1 << 20


def file_name(start: int) -> str:
    return f"{start:0{_NAME_DIGITS}d}{SUFFIX}"


@dataclass(frozen=True)
class LogFile:
    start: int
    path: Path
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class LogDamage:
    """Something wrong in a log folder, located by file and global offset."""

    path: Path
    #: Global offset of the first record of ``path``.
    file_start: int
    offset: int
    reason: str
    #: Bytes of log from ``offset`` to the end of the last file (what a cut there drops).
    bytes_after: int

    def describe(self) -> str:
        return f"WAL {self.path}: {self.reason} at offset {self.offset}"


@dataclass
class LogScan:
    """What :func:`scan_log` found; nothing on disk was changed to find it."""

    files: list[LogFile] = field(default_factory=list)
    #: Names ending in ``.wal`` that are not log files (ignored by the log).
    strangers: list[Path] = field(default_factory=list)
    #: The first damage that is not a torn tail, if any.
    corruption: LogDamage | None = None
    #: A cuttable incomplete last record: (last file, length of its valid prefix).
    torn_tail: tuple[LogFile, int] | None = None

    @property
    def first_offset(self) -> int | None:
        return self.files[0].start if self.files else None

    @property
    def end_offset(self) -> int | None:
        """Where the log ends once a torn tail is cut."""
        if not self.files:
            return None
        if self.torn_tail is not None:
            last, valid = self.torn_tail
            return last.start + valid
        return self.files[-1].end


def list_log_files(directory: Path) -> tuple[list[LogFile], list[Path]]:
    """The log files of ``directory`` in offset order, and any ``*.wal`` that is not one."""
    files: list[LogFile] = []
    strangers: list[Path] = []
    if not directory.is_dir():
        return files, strangers
    for path in directory.glob(f"*{SUFFIX}"):
        stem = path.name[: -len(SUFFIX)]
        if len(stem) == _NAME_DIGITS and stem.isdigit() and path.is_file():
            files.append(LogFile(int(stem), path, path.stat().st_size))
        else:
            strangers.append(path)
    files.sort(key=lambda f: f.start)
    return files, sorted(strangers)


def scan_log(directory: Path) -> LogScan:
    """Validate every record and the continuity of every file of the log in ``directory``."""
    files, strangers = list_log_files(directory)
    scan = LogScan(files=files, strangers=strangers)
    total_end = files[-1].end if files else 0
    for i, log_file in enumerate(files):
        is_last = i == len(files) - 1
        with open(log_file.path, "rb") as fh:
            data = fh.read()
        valid, reason = valid_prefix(data)
        if valid < len(data):
            bad = log_file.start + valid
            damage = LogDamage(log_file.path, log_file.start, bad, reason, total_end - bad)
            if is_last and next_valid_record(data, valid) is None:
                scan.torn_tail = (log_file, valid)
            elif is_last:
                scan.corruption = _followed(damage)
            else:
                scan.corruption = LogDamage(
                    log_file.path,
                    log_file.start,
                    bad,
                    f"{reason} in a file that is not the newest",
                    total_end - bad,
                )
            return scan
        if not is_last and log_file.end != files[i + 1].start:
            nxt = files[i + 1]
            what = "missing log" if log_file.end < nxt.start else "overlapping log"
            scan.corruption = LogDamage(
                log_file.path,
                log_file.start,
                log_file.end,
                f"{what} between this file's end ({log_file.end}) and the next file "
                f"{nxt.path.name} (starting at {nxt.start})",
                total_end - log_file.end,
            )
            return scan
    return scan


def _followed(damage: LogDamage) -> LogDamage:
    return LogDamage(
        damage.path,
        damage.file_start,
        damage.offset,
        f"{damage.reason}, followed by valid records",
        damage.bytes_after,
    )


def valid_prefix(data: bytes) -> tuple[int, str]:
    """Length of the longest prefix of ``data`` made of whole, checksummed records, and why it stops."""
    view = memoryview(data)
    pos = 0
    size = len(data)
    while pos < size:
        if size - pos < HEADER.size:
            return pos, "incomplete record header"
        length, crc = HEADER.unpack_from(view, pos)
        if length < BODY_PREFIX.size or length > MAX_RECORD_BYTES:
            return pos, f"impossible record length {length}"
        end = pos + HEADER.size + length
        if end > size:
            return pos, "incomplete record"
        if zlib.crc32(view[pos + HEADER.size : end]) != crc:
            return pos, "record checksum mismatch"
        pos = end
    return pos, ""


def next_valid_record(data: bytes, after: int) -> int | None:
    """Position of the first well-formed record that starts after ``after``, or ``None``.

    Candidate positions are those whose length field is plausible (a body of at
    least the fixed prefix that ends inside ``data``); only those have their
    checksum computed, found a megabyte of positions at a time with numpy.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    size = len(data)
    view = memoryview(data)
    start = after + 1
    last = size - HEADER_BYTES  # the last position where a minimal record could start
    while start <= last:
        stop = min(start + _SEARCH_CHUNK, last + 1)
        lengths = (
            raw[start:stop].astype(np.uint64)
            | raw[start + 1 : stop + 1].astype(np.uint64) << np.uint64(8)
            | raw[start + 2 : stop + 2].astype(np.uint64) << np.uint64(16)
            | raw[start + 3 : stop + 3].astype(np.uint64) << np.uint64(24)
        )
        positions = np.arange(start, stop, dtype=np.uint64)
        plausible = (lengths >= BODY_PREFIX.size) & (
            positions + np.uint64(HEADER.size) + lengths <= np.uint64(size)
        )
        for pos in np.flatnonzero(plausible) + start:
            length, crc = HEADER.unpack_from(view, int(pos))
            body = view[int(pos) + HEADER.size : int(pos) + HEADER.size + length]
            if zlib.crc32(body) == crc:
                return int(pos)
        start = stop
    return None
