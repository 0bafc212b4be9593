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
    mmap/        memory-mapped copies of sealed segments (a cache; ``[mmap] dir``)

Each of the three may live in a service instead (``[meta]`` etcd, ``[wal]``
NATS JetStream, ``[object_store]`` S3).  With etcd, the node first takes the
writer lease (:class:`~sluice.storage.etcd_lease.WriterLease`): a second node
on the same deployment waits here as a standby until the writer's lease
lapses, and every metadata commit and WAL acknowledgement is fenced by it.

Folders written before the metadata store existed kept metadata as JSON
files (``catalog.json``, ``tso.json``, ``ids.json``,
``collections/<id>/manifest.json``); :func:`import_legacy_metadata` moves them
into the store in one commit and only then deletes them, so a crash in
between imports them again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from sluice.config import MetaSettings, Settings, WalSync
from sluice.engine.catalog import Catalog
from sluice.storage.local_log import LocalLogStore
from sluice.storage.local_meta import LocalMetaStore
from sluice.storage.log_store import LogStore
from sluice.storage.mapped_files import MappedFiles
from sluice.storage.meta_store import MetaStore
from sluice.storage.segment_files import SegmentFiles

if TYPE_CHECKING:
    # The remote backends (and the gRPC runtime the etcd client brings) load
    # only when configured, so an embedded program on a local folder stays lean.
    from sluice.storage.etcd_lease import WriterLease
    from sluice.storage.etcd_meta import EtcdConnection, EtcdMetaStore

log = logging.getLogger(__name__)


@dataclass
class Stores:
    meta: MetaStore
    logs: LogStore
    files: SegmentFiles
    #: Local files sealed segments are memory-mapped from (a cache, emptied at start).
    mapped: MappedFiles
    #: The writer lease when the metadata lives in etcd.
    lease: WriterLease | None = None
    etcd: EtcdConnection | None = None

    def close(self) -> None:
        close_logs = getattr(self.logs, "close", None)
        if close_logs is not None:
            close_logs()
        self.meta.close()
        if self.lease is not None:
            self.lease.release()
        if self.etcd is not None:
            self.etcd.close()


def open_stores(settings: Settings, *, on_standby: Callable[[], None] | None = None) -> Stores:
    """The stores ``settings`` ask for; with etcd, block until this node is the writer."""
    data = settings.data_dir
    fsync = settings.wal_sync == WalSync.FSYNC
    lease = None
    etcd = None
    meta: MetaStore
    logs: LogStore
    try:
        if settings.meta is not None:
            etcd, lease, meta = _open_etcd(settings.meta, on_standby)
        else:
            meta = LocalMetaStore(data / "meta", fsync=fsync)
            import_legacy_metadata(data, meta)
        if settings.wal is not None:
            from sluice.storage.nats_log import NatsLogStore

            wal = settings.wal
            logs = NatsLogStore(
                wal.servers,
                wal.stream_prefix,
                timeout=wal.timeout_seconds,
                replicas=wal.replicas,
                fence=lease.check if lease is not None else None,
            )
        else:
            logs = LocalLogStore(
                data / "wal",
                fsync=fsync,
                file_bytes=settings.wal_file_bytes,
                recovery=settings.wal_recovery,
            )
        if settings.object_store is not None:
            from sluice.storage.object_store import S3Location, open_s3

            conf = settings.object_store
            location = S3Location.parse(
                conf.uri,
                endpoint=conf.endpoint,
                access_key=conf.access_key,
                secret_key=conf.secret_key,
                region=conf.region,
            )
            files = open_s3(location, timeout=conf.timeout_seconds)
        else:
            files = SegmentFiles.for_uri(str(data / "segments"))
        mapped = MappedFiles(Path(settings.mmap.dir) if settings.mmap.dir else data / "mmap")
        mapped.reset()
    except BaseException:
        if lease is not None:
            lease.release()
        if etcd is not None:
            etcd.close()
        raise
    return Stores(meta, logs, files, mapped, lease, etcd)


def _open_etcd(
    conf: MetaSettings, on_standby: Callable[[], None] | None
) -> tuple[EtcdConnection, WriterLease, EtcdMetaStore]:
    from sluice.storage.etcd_lease import WriterLease
    from sluice.storage.etcd_meta import EtcdConnection, EtcdMetaStore

    root = conf.root.rstrip("/")
    etcd = EtcdConnection(conf.etcd_endpoints, timeout=conf.timeout_seconds)
    node = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    lease = WriterLease(etcd, f"{root}/writer", node, ttl=conf.lease_ttl_seconds)

    def standby() -> None:
        log.warning(
            "node %s is a standby: %s holds the writer lease; waiting to take over",
            node,
            _holder(lease),
        )
        if on_standby is not None:
            on_standby()

    guard = lease.acquire(on_wait=standby)
    meta = EtcdMetaStore(etcd, f"{root}/meta", guard=guard)
    swept = meta.sweep_blobs()
    if swept:
        log.info("removed %d metadata blob(s) a crash left behind", swept)
    return etcd, lease, meta


def _holder(lease: WriterLease) -> str:
    with contextlib.suppress(Exception):
        return lease.holder() or "nobody"
    return "another node"


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


def remove_orphans(catalog: Catalog, stores: Stores) -> None:
    """Delete what a crash left between a catalog commit and the cleanup that follows it.

    A collection is committed to the catalog only after its storage exists and
    forgotten before its storage is deleted, so anything not named by the
    catalog at start-up belongs to no collection.
    """
    known = {str(m.id) for m in catalog.collections.values()}
    channels = {ch for m in catalog.collections.values() for ch in m.vchannels}
    stale = [k for k in stores.meta.scan("collection/") if k.split("/", 2)[1] not in known]
    if stale:
        stores.meta.commit({}, stale)
    for channel in stores.logs.channels():
        if channel not in channels:
            stores.logs.drop(channel)
    for kind in ("insert_log", "delta_log", "index_files"):
        for name in stores.files.list_dirs(kind):
            if name not in known:
                stores.files.delete_dir(f"{kind}/{name}")
