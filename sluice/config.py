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

    @classmethod
    def from_toml(cls, path: Path, **overrides: Any) -> Settings:
        raw = tomllib.loads(Path(path).read_text())
        return cls.from_mapping(raw, **overrides)

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], **overrides: Any) -> Settings:
        values: dict[str, Any] = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
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
