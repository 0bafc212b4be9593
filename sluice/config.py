"""Settings for an engine and its server, with Milvus's defaults where Milvus has one.

Every knob is a field of a frozen dataclass so a running engine cannot be
reconfigured behind its back.  ``Settings.from_toml`` reads the same names
from a TOML file (``sluice serve --config sluice.toml``); see
``docs/configuration.md`` for what each one costs.
"""

from __future__ import annotations

import dataclasses
import enum
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


class WalSync(enum.StrEnum):
    """When an acknowledged write is on stable storage.

    ``fsync`` (default): every insert/delete returns only after its WAL
    records are fsynced; concurrent writers share one fsync (group commit).
    ``none``: records reach the OS page cache only; a machine crash (not a
    process crash) can lose acknowledged writes.  Use for bulk loads you can
    repeat.
    """

    FSYNC = "fsync"
    NONE = "none"


@dataclass(frozen=True)
class SegmentSettings:
    """When growing segments seal and when their buffers reach storage.

    Memory cost: every unpersisted row is held once in memory and once in the
    WAL; ``sync_buffer_bytes`` bounds how much of a growing segment is only in
    the WAL, which bounds recovery replay and the work left for a Flush.
    """

    #: Seal a growing segment at this size (Milvus: maxSize 1024 MB x sealProportion 0.12).
    max_bytes: int = 128 * MiB
    #: Seal a growing segment idle this long (Milvus: dataCoord.segment.maxIdleTime)...
    idle_seconds: float = 600.0
    #: ...if it holds at least this much (Milvus: minSizeFromIdleToSealed).
    idle_min_bytes: int = 16 * MiB
    #: Persist a growing segment's buffered rows as a binlog at this size
    #: (Milvus: dataNode.segment.insertBufSize).
    sync_buffer_bytes: int = 16 * MiB
    #: Persist buffered rows older than this even if the buffer is small
    #: (Milvus: dataNode.segment.syncPeriod).
    sync_period_seconds: float = 600.0


@dataclass(frozen=True)
class FlushSettings:
    """Flush behaviour as seen by clients."""

    #: GetFlushState waits up to this long for a pending flush before answering
    #: ``false``.  pymilvus sleeps 0.5 s after a ``false``, so a short wait on the
    #: server saves a client most of that sleep without ever costing it time.
    state_wait_ms: int = 400
    #: Per-collection Flush rate in requests/s, like Milvus's
    #: ``quotaAndLimits.flushRate.collection.max`` (0.1 there).  ``None`` turns
    #: limiting off, which is Sluice's default.
    collection_rate: float | None = None


@dataclass(frozen=True)
class ObjectStoreSettings:
    """``[object_store]``: segment files, delta logs and index files on S3-compatible storage."""

    #: ``s3://BUCKET/PREFIX``.
    uri: str
    #: ``http://host:port`` of a self-hosted server (MinIO, SeaweedFS...); AWS when absent.
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"
    #: Bound on every request; an unreachable server fails calls after it.
    timeout_seconds: float = 10.0

    def validate(self) -> None:
        bucket = self.uri[len("s3://") :].split("/", 1)[0] if self.uri.startswith("s3://") else ""
        if not bucket:
            raise ValueError(f"[object_store] uri must be s3://BUCKET/PREFIX, not {self.uri!r}")
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(
                f"[object_store] endpoint must start with http:// or https://, not {self.endpoint!r}"
            )
        if (self.access_key is None) != (self.secret_key is None):
            raise ValueError("[object_store] access_key and secret_key go together")


@dataclass(frozen=True)
class MetaSettings:
    """``[meta]``: the catalog, manifests, timestamp window and ID block in etcd."""

    etcd_endpoints: tuple[str, ...]
    #: Every key of this deployment lives under this prefix (Milvus: etcd.rootPath).
    root: str = "/sluice"
    #: The writer lease; a standby takes over at most this long after the writer dies.
    lease_ttl_seconds: int = 5
    timeout_seconds: float = 5.0

    def validate(self) -> None:
        if not self.etcd_endpoints or not all(
            isinstance(e, str) and e for e in self.etcd_endpoints
        ):
            raise ValueError('[meta] etcd_endpoints must be a list like ["127.0.0.1:2379"]')
        if not self.root.startswith("/") or self.root.rstrip("/") == "":
            raise ValueError(
                f"[meta] root must be an absolute key prefix like /sluice, not {self.root!r}"
            )
        if self.lease_ttl_seconds < 2:
            raise ValueError("[meta] lease_ttl_seconds must be at least 2")


@dataclass(frozen=True)
class WalSettings:
    """``[wal]``: one NATS JetStream stream per channel instead of local WAL files."""

    nats_url: str
    stream_prefix: str = "sluice"
    #: JetStream replicas of each stream (a clustered NATS deployment).
    replicas: int = 1
    timeout_seconds: float = 5.0

    @property
    def servers(self) -> list[str]:
        return [u.strip() for u in self.nats_url.split(",") if u.strip()]

    def validate(self) -> None:
        if not self.servers or not all(u.startswith(("nats://", "tls://")) for u in self.servers):
            raise ValueError(f"[wal] nats_url must be nats://HOST:PORT, not {self.nats_url!r}")
        if not self.stream_prefix.replace("-", "").replace("_", "").isalnum():
            raise ValueError(
                f"[wal] stream_prefix may hold only letters, digits, '-' and '_', "
                f"not {self.stream_prefix!r}"
            )


#: Table name -> settings class for the remote backends.
_REMOTE_TABLES: dict[str, type[Any]] = {
    "object_store": ObjectStoreSettings,
    "meta": MetaSettings,
    "wal": WalSettings,
}
ENV_PREFIX = "SLUICE_"


def env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``SLUICE_<TABLE>_<KEY>`` variables as tables (``SLUICE_META_ETCD_ENDPOINTS=a:1,b:2``)."""
    tables: dict[str, dict[str, Any]] = {}
    for table, cls in _REMOTE_TABLES.items():
        for fld in dataclasses.fields(cls):
            value = environ.get(f"{ENV_PREFIX}{table}_{fld.name}".upper())
            if value is None:
                continue
            tables.setdefault(table, {})[fld.name] = (
                value.split(",") if fld.name == "etcd_endpoints" else value
            )
    return tables


def _remote_table(name: str, raw: Any) -> Any:
    cls = _REMOTE_TABLES[name]
    if not isinstance(raw, Mapping):
        raise ValueError(f"[{name}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValueError(f"unknown setting [{name}] {unknown[0]}")
    missing = [n for n, f in fields.items() if f.default is dataclasses.MISSING and n not in raw]
    if missing:
        raise ValueError(f"[{name}] {missing[0]} is required")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        default = fields[key].default
        try:
            if key == "etcd_endpoints":
                if isinstance(value, str) or not isinstance(value, list | tuple):
                    raise TypeError
                value = tuple(value)
            elif isinstance(default, bool) or default is None or isinstance(default, str):
                if not isinstance(value, str):
                    raise TypeError
            elif isinstance(default, int):
                value = int(value)
            elif isinstance(default, float):
                value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"[{name}] {key} has the wrong type: {value!r}") from None
        values[key] = value
    settings = cls(**values)
    settings.validate()
    return settings


@dataclass(frozen=True)
class Settings:
    """Everything an engine needs to open a data folder."""

    data_dir: Path
    wal_sync: WalSync = WalSync.FSYNC
    #: Start a new WAL file past this size; files before a checkpoint are deleted.
    wal_file_bytes: int = 64 * MiB
    segments: SegmentSettings = field(default_factory=SegmentSettings)
    flush: FlushSettings = field(default_factory=FlushSettings)
    #: Threads persisting segments in the background.
    flusher_threads: int = 1
    #: Seconds between background checks for idle/stale segments.
    tick_seconds: float = 1.0
    #: Prefix of channel names (Milvus: msgChannel.chanNamePrefix.cluster).
    cluster_prefix: str = "by-dev"
    #: Number of physical channels vchannels are spread over (Milvus: rootCoord.dmlChannelNum).
    dml_channels: int = 16
    #: Remote backends; ``None`` keeps that state in the data folder.
    object_store: ObjectStoreSettings | None = None
    meta: MetaSettings | None = None
    wal: WalSettings | None = None

    @property
    def stateless(self) -> bool:
        """All state in services: the data folder is only a cache and another node can take over."""
        return None not in (self.object_store, self.meta, self.wal)

    @classmethod
    def from_toml(
        cls, path: Path, *, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        raw = tomllib.loads(Path(path).read_text())
        return cls.from_mapping(raw, environ=environ, **overrides)

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any], *, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        """Settings from a TOML-shaped mapping; ``environ``'s ``SLUICE_*`` variables win."""
        values: dict[str, Any] = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
        for table, keys in env_overrides(environ or {}).items():
            values[table] = {**(values.get(table) or {}), **keys}
        for table in _REMOTE_TABLES:
            if values.get(table) is not None and not isinstance(
                values[table], ObjectStoreSettings | MetaSettings | WalSettings
            ):
                values[table] = _remote_table(table, values[table])
        if "data_dir" not in values:
            raise ValueError("data_dir is required")
        values["data_dir"] = Path(values["data_dir"])
        if "wal_sync" in values:
            values["wal_sync"] = WalSync(values["wal_sync"])
        if isinstance(values.get("segments"), dict):
            values["segments"] = SegmentSettings(**values["segments"])
        if isinstance(values.get("flush"), dict):
            values["flush"] = FlushSettings(**values["flush"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}")
        return cls(**values)
