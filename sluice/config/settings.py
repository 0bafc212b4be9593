"""``Settings``: everything an engine needs to open a data folder, built from TOML or code."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sluice.config.checks import ConfigError, MiB, check_fields, from_raw, limits, with_environment
from sluice.config.functions import FunctionSettings
from sluice.config.remote import MetaSettings, ObjectStoreSettings, WalSettings
from sluice.config.sections import (
    CompactionSettings,
    FlushSettings,
    GrpcSettings,
    HttpSettings,
    MmapSettings,
    QuotaSettings,
    SecuritySettings,
    SegmentSettings,
    WalRecovery,
    WalSync,
)


@dataclass(frozen=True)
class Settings:
    """Everything an engine needs to open a data folder."""

    SECTION: ClassVar[str] = ""

    data_dir: Path
    wal_sync: WalSync = WalSync.FSYNC
    #: What start-up does with a damaged WAL (see :class:`WalRecovery`).
    wal_recovery: WalRecovery = WalRecovery.STRICT
    #: Start a new WAL file past this size; files before a checkpoint are deleted.
    wal_file_bytes: int = field(default=64 * MiB, metadata=limits(minimum=1))
    segments: SegmentSettings = field(default_factory=SegmentSettings)
    compaction: CompactionSettings = field(default_factory=CompactionSettings)
    flush: FlushSettings = field(default_factory=FlushSettings)
    mmap: MmapSettings = field(default_factory=MmapSettings)
    #: Threads persisting segments in the background.
    flusher_threads: int = field(default=1, metadata=limits(minimum=1, maximum=64))
    #: Seconds between background checks for idle/stale segments.
    tick_seconds: float = field(default=1.0, metadata=limits(above=0))
    #: Prefix of channel names (Milvus: msgChannel.chanNamePrefix.cluster).
    cluster_prefix: str = "by-dev"
    #: Number of physical channels vchannels are spread over (Milvus: rootCoord.dmlChannelNum).
    dml_channels: int = field(default=16, metadata=limits(minimum=1))
    security: SecuritySettings = field(default_factory=SecuritySettings)
    quota: QuotaSettings = field(default_factory=QuotaSettings)
    grpc: GrpcSettings = field(default_factory=GrpcSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    functions: FunctionSettings = field(default_factory=FunctionSettings)
    #: Remote backends; ``None`` keeps that state in the data folder.
    object_store: ObjectStoreSettings | None = None
    meta: MetaSettings | None = None
    wal: WalSettings | None = None

    @property
    def stateless(self) -> bool:
        """All state in services: the data folder is only a cache and another node can take over."""
        return None not in (self.object_store, self.meta, self.wal)

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.cluster_prefix:
            raise ConfigError("setting cluster_prefix must not be empty")

    @classmethod
    def from_toml(
        cls, path: Path, *, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc}") from None
        return cls.from_mapping(raw, environ=environ, **overrides)

    @classmethod
    def from_mapping(
        cls,
        raw: dict[str, Any],
        *,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Settings from a mapping; ``environ`` (``SLUICE_SECTION_KEY``) overrides sections."""
        values: dict[str, Any] = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
        if environ:
            values = with_environment(cls, values, environ)
        if "data_dir" not in values:
            raise ConfigError("setting data_dir is required")
        settings = from_raw(cls, values, "")
        assert isinstance(settings, Settings)
        return settings
