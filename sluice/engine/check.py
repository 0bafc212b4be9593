"""``sluice check DIR``: verify a data folder without changing it.

What is checked, in the order start-up would meet it:

1. the metadata store (``meta/``: its snapshot and journal checksums) and the
   catalog, timestamp window and ID block in it parse (a folder still in the
   older JSON-file layout is read from those files);
2. per collection, its manifest parses; every segment file it names exists,
   reads back as Parquet and holds the number of rows the manifest says; every
   index file it names loads as the index its declaration describes;
3. per channel, its write-ahead log: every record's checksum, the continuity
   of its files, and that it still holds every record from the channel's
   checkpoint on.  A torn tail (an incomplete last record) is reported as a
   note, not a problem: start-up cuts it, and it was never acknowledged.

Nothing is written: files are only opened for reading, the folder lock is
probed with a shared ``flock`` on the existing ``LOCK`` file (a running
server holds it exclusively, and a folder in use is refused rather than read
half-written).  Each problem is one line naming the file, so the output can
be compared with a backup or fed to a script.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow.fs as pafs

from sluice.engine.catalog import Catalog, CollectionMeta
from sluice.engine.ids import IdAllocator
from sluice.engine.index_builds import decode_index
from sluice.engine.indexes import parse_declared
from sluice.engine.manifest import ChannelState, Manifest
from sluice.engine.segment import Binlog, SegmentLevel
from sluice.engine.stores import legacy_metadata
from sluice.engine.tso import TimestampOracle
from sluice.errors import DataDirLockedError
from sluice.storage.local_meta import LocalMetaStore
from sluice.storage.memory_meta import MemoryMetaStore
from sluice.storage.meta_store import MetaStore
from sluice.storage.segment_files import SegmentFiles
from sluice.storage.wal_scan import LogScan, scan_log


@dataclass
class CheckReport:
    """Problems (the folder is damaged) and notes (worth knowing, harmless)."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    collections: int = 0
    segment_files: int = 0
    index_files: int = 0
    wal_files: int = 0

    @property
    def clean(self) -> bool:
        return not self.problems

    def lines(self) -> Iterator[str]:
        for problem in self.problems:
            yield f"problem: {problem}"
        for note in self.notes:
            yield f"note: {note}"
        verdict = "no problems" if self.clean else f"{len(self.problems)} problem(s)"
        yield (
            f"checked {self.collections} collection(s), {self.segment_files} segment file(s), "
            f"{self.index_files} index file(s), {self.wal_files} WAL file(s): {verdict}"
        )


def check_data_folder(data_dir: Path) -> CheckReport:
    """Verify ``data_dir``; raises :class:`DataDirLockedError` if a process is using it."""
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder {data_dir} does not exist")
    _refuse_if_in_use(data_dir)
    report = CheckReport()
    store = _open_metadata(data_dir, report)
    if store is None:
        return report
    for key in (TimestampOracle.KEY, IdAllocator.KEY):
        _check_json(store, key, report)
    try:
        catalog = Catalog(store)
    except Exception as exc:
        report.problems.append(f"metadata: the catalog cannot be read: {_why(exc)}")
        return report
    segments_root = data_dir / "segments"
    files = SegmentFiles(pafs.LocalFileSystem(), str(segments_root.resolve()))
    for meta in catalog.collections.values():
        report.collections += 1
        _check_collection(data_dir, store, meta, files, report)
    return report


def _open_metadata(data_dir: Path, report: CheckReport) -> MetaStore | None:
    """The folder's metadata, read without changing a byte (``None``: unreadable)."""
    legacy = legacy_metadata(data_dir)
    if legacy is not None:
        report.notes.append(
            f"{data_dir} keeps metadata in JSON files (an older layout); the next start "
            "moves them into the metadata store"
        )
        return MemoryMetaStore(legacy)
    folder = data_dir / "meta"
    if not folder.exists():
        if any(data_dir.iterdir()):
            report.notes.append(f"{folder} does not exist: the folder holds no collection")
        return MemoryMetaStore()
    try:
        store = LocalMetaStore(folder, read_only=True)
    except Exception as exc:
        report.problems.append(f"{folder}: cannot be read: {_why(exc)}")
        return None
    if store.torn_tail_bytes:
        report.notes.append(
            f"{folder / 'journal'}: incomplete last commit ({store.torn_tail_bytes} bytes, "
            "never acknowledged; start-up cuts it)"
        )
    return store


def _refuse_if_in_use(data_dir: Path) -> None:
    lock = data_dir / "LOCK"
    if not lock.exists():
        return
    fd = os.open(lock, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise DataDirLockedError(
                f"data folder {data_dir} is in use by another process (pid {holder}); "
                "stop it before checking"
            ) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _check_json(store: MetaStore, key: str, report: CheckReport) -> None:
    raw = store.get(key)
    if raw is None:
        return
    try:
        orjson.loads(raw)
    except Exception as exc:
        report.problems.append(f"metadata key {key}: cannot be read: {_why(exc)}")


def _check_collection(
    data_dir: Path, store: MetaStore, meta: CollectionMeta, files: SegmentFiles, report: CheckReport
) -> None:
    label = f"collection {meta.name} (id {meta.id})"
    manifest_path = f"metadata key {Manifest.key(meta.id)}"
    try:
        manifest = Manifest.load(store, meta.id)
    except Exception as exc:
        report.problems.append(f"{manifest_path}: cannot be read: {_why(exc)}")
        manifest = Manifest()
    declared = {i.index_id: i for i in meta.indexes}
    for raw in manifest.segments:
        try:
            _check_segment(meta, raw, declared, files, report)
        except (KeyError, TypeError, ValueError) as exc:
            report.problems.append(f"{manifest_path}: malformed segment entry: {_why(exc)}")
    initial = ChannelState(checkpoint_ts=meta.created_ts)
    for name in meta.vchannels:
        state = manifest.channels.get(name, initial)
        _check_wal(data_dir / "wal" / name, name, state, report)
    if not meta.vchannels:
        report.problems.append(f"{label}: has no channels")


def _check_segment(
    meta: CollectionMeta,
    raw: dict[str, Any],
    declared: dict[int, Any],
    files: SegmentFiles,
    report: CheckReport,
) -> None:
    segment_id = int(raw["id"])
    for binlog in (Binlog.from_dict(b) for b in raw["binlogs"]):
        report.segment_files += 1
        try:
            table = files.read_table(binlog.path, binlog.expected)
        except Exception as exc:
            report.problems.append(
                f"segments/{binlog.path} (segment {segment_id}): cannot be read: {_why(exc)}"
            )
            continue
        if table.num_rows != binlog.rows:
            report.problems.append(
                f"segments/{binlog.path} (segment {segment_id}): holds {table.num_rows} rows, "
                f"the manifest says {binlog.rows}"
            )
    if int(raw["level"]) == SegmentLevel.L0:
        return
    for index_id, rel in raw.get("index_files", {}).items():
        report.index_files += 1
        index = declared.get(int(index_id))
        if index is None:
            report.notes.append(
                f"segments/{rel}: index {index_id} is no longer declared (removed at start-up)"
            )
            continue
        try:
            decode_index(parse_declared(meta.schema, index), files.read_bytes(rel))
        except Exception as exc:
            report.problems.append(
                f"segments/{rel} (segment {segment_id}, index {index.index_name}): cannot be "
                f"loaded: {_why(exc)}"
            )


def _check_wal(directory: Path, channel: str, state: ChannelState, report: CheckReport) -> None:
    try:
        scan = scan_log(directory)
    except OSError as exc:
        report.problems.append(f"WAL {directory}: cannot be read: {_why(exc)}")
        return
    report.wal_files += len(scan.files)
    for stranger in scan.strangers:
        report.notes.append(f"WAL {stranger}: not a log file (ignored)")
    if scan.corruption is not None:
        report.problems.append(scan.corruption.describe())
    elif scan.torn_tail is not None:
        last, valid = scan.torn_tail
        report.notes.append(
            f"WAL {last.path}: incomplete last record at offset {last.start + valid} "
            f"({last.size - valid} bytes, never acknowledged; start-up cuts it)"
        )
    _check_coverage(directory, channel, state, scan, report)


def _check_coverage(
    directory: Path, channel: str, state: ChannelState, scan: LogScan, report: CheckReport
) -> None:
    needed = state.checkpoint_offset
    first, end = scan.first_offset, scan.end_offset
    if first is None:
        if needed > 0:
            report.problems.append(
                f"WAL {directory}: no log file, but channel {channel}'s checkpoint needs records "
                f"from offset {needed}"
            )
        return
    if first > needed:
        report.problems.append(
            f"WAL {scan.files[0].path}: the log starts at offset {first}, after channel "
            f"{channel}'s checkpoint at offset {needed} (the file holding it is missing)"
        )
    elif end is not None and end < needed and scan.corruption is None:
        report.problems.append(
            f"WAL {scan.files[-1].path}: the log ends at offset {end}, before channel "
            f"{channel}'s checkpoint at offset {needed} (its newest files are missing)"
        )


def _why(exc: BaseException) -> str:
    """An exception as one line (file names and parser messages can hold newlines)."""
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
