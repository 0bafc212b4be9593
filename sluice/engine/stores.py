"""Where an engine keeps its state: metadata, channel logs and segment files.

The engine reaches storage only through these three interfaces
(:class:`~sluice.storage.meta_store.MetaStore`,
:class:`~sluice.storage.log_store.LogStore` and
:class:`~sluice.storage.segment_files.SegmentFiles`); :func:`open_stores`
chooses their implementations from the settings.  The default is one local
data folder::

    meta/        metadata store (journal + snapshot)
    wal/<vchannel>/   one write-ahead log per shard
    segments/    Parquet binlogs, delta logs and index files

Folders written before the metadata store existed kept metadata as JSON
files (``catalog.json``, ``tso.json``, ``ids.json``,
``collections/<id>/manifest.json``); :func:`import_legacy_metadata` moves them
into the store in one commit and only then deletes them, so a crash in
between imports them again.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import orjson

from sluice.config import Settings, WalSync
from sluice.storage.local_log import LocalLogStore
from sluice.storage.local_meta import LocalMetaStore
from sluice.storage.log_store import LogStore
from sluice.storage.meta_store import MetaStore
from sluice.storage.segment_files import SegmentFiles

log = logging.getLogger(__name__)


@dataclass
class Stores:
    meta: MetaStore
    logs: LogStore
    files: SegmentFiles

    def close(self) -> None:
        self.meta.close()


def open_stores(settings: Settings) -> Stores:
    """The stores ``settings`` ask for (today: the local data folder)."""
    data = settings.data_dir
    fsync = settings.wal_sync == WalSync.FSYNC
    meta = LocalMetaStore(data / "meta", fsync=fsync)
    import_legacy_metadata(data, meta)
    logs = LocalLogStore(
        data / "wal",
        fsync=fsync,
        file_bytes=settings.wal_file_bytes,
        recovery=settings.wal_recovery,
    )
    files = SegmentFiles.for_uri(str(data / "segments"))
    return Stores(meta, logs, files)


def legacy_metadata(data: Path) -> dict[str, bytes] | None:
    """The keys an older folder layout's JSON metadata files hold (``None``: not that layout)."""
    catalog = data / "catalog.json"
    if not catalog.exists():
        return None
    puts: dict[str, bytes] = {}
    raw = orjson.loads(catalog.read_bytes())
    for name, db in raw["databases"].items():
        record = {"id": db["id"], "name": name, "created_ts": db["created_ts"], "properties": {}}
        puts[f"catalog/database/{name}"] = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    for collection in raw["collections"]:
        key = f"catalog/collection/{collection['id']}"
        puts[key] = orjson.dumps(collection, option=orjson.OPT_SORT_KEYS)
        manifest = data / "collections" / str(collection["id"]) / "manifest.json"
        if manifest.exists():
            puts[f"collection/{collection['id']}/manifest"] = manifest.read_bytes()
    for name, key in (("tso.json", "tso"), ("ids.json", "ids")):
        path = data / name
        if path.exists():
            puts[key] = path.read_bytes()
    return puts


def import_legacy_metadata(data: Path, meta: MetaStore) -> None:
    """Move JSON metadata files of an older folder layout into ``meta`` (once)."""
    puts = legacy_metadata(data)
    if puts is None:
        return
    meta.commit(puts)
    for name in ("tso.json", "ids.json"):
        (data / name).unlink(missing_ok=True)
    shutil.rmtree(data / "collections", ignore_errors=True)
    (data / "catalog.json").unlink()
    log.info("moved metadata of %s into the metadata store", data)
