"""Backups at one timestamp, restore into an empty folder, and export to Parquet.

A **backup** is a data folder of its own, consistent at one timestamp
(``backup_ts``), taken while the engine keeps serving:

1. every collection is flushed (FlushAll) and the backup waits until the flush
   is persisted: every row acknowledged before ``backup_ts`` is in a segment file;
2. for each collection it keeps the Flushed data segments created at or before
   ``backup_ts`` (a segment sealed by that flush holds only older rows; later
   ones hold only newer rows) and writes the deletes made at or before
   ``backup_ts`` as one delta log;
3. the segment and index files are hard-linked into the backup (files are
   immutable; a copy where a link is impossible), and the metadata (catalog,
   the manifests of step 2, timestamp window, ID block, users and grants) is
   committed to the backup's own metadata store, last, with ``backup.json``.

No WAL is needed: the manifests' checkpoints sit at ``backup_ts`` with empty
logs.  **Restore** hard-links (or copies) a backup into an empty folder, which
is then an ordinary data folder to serve.  A backup without ``backup.json``
is incomplete and refused.

**Export** writes the rows a collection shows at one timestamp as one Parquet
file in the layout pymilvus's bulk writers use (vectors as ``list<float>``,
JSON and ``$meta`` as text), so an export can be imported again.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from sluice.engine import reader
from sluice.engine.deletes import ALL_PARTITIONS
from sluice.engine.manifest import ChannelState, Manifest
from sluice.engine.output import resolve_output
from sluice.engine.persist import delta_log_path
from sluice.engine.residency import evict_unserved
from sluice.engine.segment import SegmentLevel, SegmentState
from sluice.errors import BackupError, StorageWriteError
from sluice.schema import DataType
from sluice.storage.atomic import write_atomic
from sluice.storage.local_meta import LocalMetaStore

if TYPE_CHECKING:
    from sluice.engine.collection import Collection
    from sluice.engine.engine import Engine

BACKUP_FILE = "backup.json"
SEGMENTS = "segments"
#: Metadata copied as it is (everything but manifests, which are rewritten).
_COPIED_PREFIXES = ("catalog/", "tso", "ids", "access")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BackupSummary:
    path: str
    backup_ts: int
    collections: int
    segments: int
    files: int
    bytes: int
    rows: int


def _no_progress(done: int, total: int) -> None:
    """Default progress callback: report nothing."""


def backup(engine: Engine, dest: Path, progress: Progress = _no_progress) -> BackupSummary:
    """Write a consistent backup of every collection to the empty folder ``dest``."""
    _require_empty(dest, "backup")
    flush = engine.flush_all()
    deadline = time.monotonic() + 600
    while not engine.flush_all_state(flush.flush_all_ts, {}, 1.0):
        if time.monotonic() > deadline:
            raise BackupError(f"{BackupError.base_message}: the flush did not finish in 600 s")
    backup_ts = flush.flush_all_ts
    ctx = engine.ctx
    source_root = engine.settings.data_dir / SEGMENTS
    puts: dict[str, bytes] = {}
    for prefix in _COPIED_PREFIXES:
        puts.update(ctx.meta.scan(prefix))
    links: list[str] = []
    rows = segments = 0
    dest.mkdir(parents=True, exist_ok=True)
    for collection in list(engine.collections.values()):
        if collection.dropped:
            continue
        manifest, files, kept_rows = _collection_manifest(collection, backup_ts, dest)
        puts[Manifest.key(collection.id)] = manifest.encode()
        links.extend(files)
        rows += kept_rows
        segments += len(manifest.segments)
    total_bytes = 0
    for done, rel in enumerate(links, 1):
        total_bytes += _link(source_root / rel, dest / SEGMENTS / rel)
        progress(done, len(links))
    store = LocalMetaStore(dest / "meta", fsync=True)
    try:
        store.commit(puts)
    finally:
        store.close()
    summary = BackupSummary(
        str(dest), backup_ts, len(engine.collections), segments, len(links), total_bytes, rows
    )
    # Written last: a folder without it is an interrupted backup, and restore refuses it.
    write_atomic(dest / BACKUP_FILE, orjson.dumps(summary.__dict__, option=orjson.OPT_INDENT_2))
    return summary


def _collection_manifest(
    collection: Collection, backup_ts: int, dest: Path
) -> tuple[Manifest, list[str], int]:
    """The backup's manifest for one collection, the files it names, and its row count."""
    manifest = Manifest()
    files: list[str] = []
    rows = 0
    for channel in collection.channels:
        with channel.lock:
            chosen = [
                s
                for s in channel.segments.values()
                if s.level != SegmentLevel.L0
                and s.state == SegmentState.FLUSHED
                and s.created_ts <= backup_ts
            ]
            entries = [s.to_dict() for s in chosen]
        for segment, entry in zip(chosen, entries, strict=True):
            files.extend(b.path for b in segment.binlogs)
            files.extend(segment.index_files.values())
            rows += segment.synced_rows
            entry["synced_end"] = 0
        manifest.segments.extend(entries)
        manifest.channels[channel.name] = ChannelState(0, backup_ts, 0)
    deletes = collection.deletes.snapshot(backup_ts)
    scopes = [(ALL_PARTITIONS, deletes.everywhere), *deletes.by_partition.items()]
    for partition_id, tombstones in scopes:
        if len(tombstones.keys) == 0:
            continue
        segment_id = collection.ctx.ids.allocate()
        rel = delta_log_path(collection.id, partition_id, segment_id, collection.ctx.ids.allocate())
        target = dest / SEGMENTS / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.table({"pk": pa.array(tombstones.keys), "ts": pa.array(tombstones.latest)}), target
        )
        manifest.segments.append(
            {
                "id": segment_id,
                "partition": partition_id,
                "channel": collection.channels[0].name,
                "level": int(SegmentLevel.L0),
                "state": int(SegmentState.FLUSHED),
                "created_ts": backup_ts,
                "binlogs": [
                    {"path": rel, "rows": len(tombstones.keys), "bytes": target.stat().st_size}
                ],
                "synced_rows": 0,
                "synced_end": 0,
                "index_files": {},
            }
        )
    return manifest, files, rows


def _link(source: Path, target: Path) -> int:
    """Hard-link ``source`` at ``target`` (copy across filesystems); return its size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise BackupError(
            f"{BackupError.base_message}: {source} disappeared (its collection was dropped "
            "during the backup?)"
        ) from None
    except OSError:
        try:
            shutil.copy2(source, target)
        except OSError as exc:
            raise StorageWriteError.from_os_error(exc, target) from None
    return target.stat().st_size


def _require_empty(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{what} target {path} must be an empty folder or not exist")


def restore(source: Path, dest: Path, progress: Progress = _no_progress) -> dict[str, Any]:
    """Make ``dest`` (empty or missing) a data folder holding the backup at ``source``."""
    marker = source / BACKUP_FILE
    if not marker.is_file():
        raise BackupError(
            f"restore failed: {source} is not a complete Sluice backup (no {BACKUP_FILE})"
        )
    _require_empty(dest, "restore")
    summary: dict[str, Any] = orjson.loads(marker.read_bytes())
    files = [p for p in sorted(source.rglob("*")) if p.is_file() and p.name != BACKUP_FILE]
    dest.mkdir(parents=True, exist_ok=True)
    for done, path in enumerate(files, 1):
        _link(path, dest / path.relative_to(source))
        progress(done, len(files))
    return summary


def export_collection(
    engine: Engine, db: str, name: str, out: Path, progress: Progress = _no_progress
) -> int:
    """Write the rows ``db.name`` shows now to ``out`` as Parquet; return the row count."""
    collection = engine.get(db, name)
    read_ts = collection.ctx.tso.read_timestamp()
    snapshot = collection.snapshot(read_ts)
    schema = collection.schema
    output = resolve_output(schema, ["*"], with_primary=True)
    table = reader.query(snapshot, schema, reader.CompiledFilter(), output, None, 0)
    evict_unserved(collection.ctx, collection)  # released segments read for the export
    progress(1, 2)
    columns: dict[str, pa.Array] = {}
    for fld in schema.fields:
        if fld.name not in table.column_names:
            continue
        column = table.column(fld.name)
        if fld.dtype == DataType.FLOAT_VECTOR:
            column = column.cast(pa.list_(pa.float32()))
        elif fld.dtype == DataType.JSON:
            column = column.cast(pa.string())
        columns[fld.name] = column
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), out)
    progress(2, 2)
    return int(table.num_rows)
