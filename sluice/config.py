"""Settings for an engine and its server, with Milvus's defaults where Milvus has one.

Every knob is a field of a frozen dataclass so a running engine cannot be
reconfigured behind its back.  ``Settings.from_toml`` reads the same names
from a TOML file (``sluice serve --config sluice.toml``); see
``docs/configuration.md`` for what each one costs.

Settings are checked when they are made, whether from a file or in code: a
value of the wrong type or out of range, or a key nobody reads, is refused
with a :class:`ConfigError` naming the key (``segments.max_bytes``), so a
mistyped setting stops start-up instead of being ignored or breaking a
background thread later.  The checks come from each field's type and its
``_limits`` metadata, so a new section is a new dataclass and nothing more.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

MiB = 1024 * 1024


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the key.

    A ``ValueError`` rather than a :class:`~sluice.errors.SluiceError`: settings
    are shared by every layer and import nothing of Sluice, and this error only
    ever reaches an operator at start-up, never a client.
    """


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


class WalRecovery(enum.StrEnum):
    """What start-up does with a damaged write-ahead log.

    ``strict`` (default): only a torn tail (an incomplete last record, left by a
    crash mid-append and never acknowledged) is cut; any other damage stops
    start-up with an error naming the file and offset, and no file is changed.
    ``truncate``: the operator accepts losing data: the log is cut at the first
    bad record (later files deleted, a missing stretch skipped) and every loss
    is logged.  Meant for one start after ``sluice check`` reported damage that
    cannot be repaired from a backup.
    """

    STRICT = "strict"
    TRUNCATE = "truncate"


def _limits(
    *, minimum: float | None = None, above: float | None = None, maximum: float | None = None
) -> dict[str, float | None]:
    """Field metadata: ``minimum`` <= value, ``above`` < value, value <= ``maximum``."""
    return {"minimum": minimum, "above": above, "maximum": maximum}


def _check_fields(settings: Any) -> None:
    """Refuse a dataclass of settings whose values have the wrong type or are out of range."""
    hints = typing.get_type_hints(type(settings))
    section = type(settings).SECTION
    for fld in dataclasses.fields(settings):
        key = f"{section}.{fld.name}" if section else fld.name
        value = getattr(settings, fld.name)
        _check_type(key, value, hints[fld.name])
        _check_range(key, value, fld.metadata)


def _check_type(key: str, value: Any, hint: Any) -> None:
    allowed = _alternatives(hint)
    if value is None and type(None) in allowed:
        return
    for kind in allowed:
        if kind is type(None):
            continue
        if kind is bool and isinstance(value, bool):
            return
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"setting {key} must be a finite number, got {value!r}")
            return
        if kind in (str, Path) and isinstance(value, kind):
            return
        if isinstance(kind, type) and dataclasses.is_dataclass(kind) and isinstance(value, kind):
            return
        if isinstance(kind, type) and issubclass(kind, enum.Enum) and isinstance(value, kind):
            return
    raise ConfigError(f"setting {key} must be {_describe(allowed)}, got {value!r}")


def _check_range(key: str, value: Any, meta: typing.Mapping[str, Any]) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    minimum, above, maximum = meta.get("minimum"), meta.get("above"), meta.get("maximum")
    if minimum is not None and value < minimum:
        raise ConfigError(f"setting {key} must be at least {minimum}, got {value!r}")
    if above is not None and value <= above:
        raise ConfigError(f"setting {key} must be greater than {above}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"setting {key} must be at most {maximum}, got {value!r}")


def _alternatives(hint: Any) -> tuple[Any, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def _describe(allowed: tuple[Any, ...]) -> str:
    words = []
    for kind in allowed:
        if kind is type(None):
            continue
        if kind is bool:
            words.append("true or false")
        elif kind is int:
            words.append("an integer")
        elif kind is float:
            words.append("a number")
        elif kind in (str, Path):
            words.append("a string")
        elif isinstance(kind, type) and issubclass(kind, enum.Enum):
            words.append("one of " + ", ".join(repr(m.value) for m in kind))
        elif isinstance(kind, type) and dataclasses.is_dataclass(kind):
            words.append("a table")
    return " or ".join(words)


def _from_raw(cls: type[Any], raw: Any, key: str) -> Any:
    """Build settings dataclass ``cls`` from a TOML table, refusing unknown keys."""
    if not isinstance(raw, dict):
        raise ConfigError(f"setting {key} must be a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        names = ", ".join(f"{key}.{u}" if key else u for u in unknown)
        raise ConfigError(f"unknown setting(s): {names}")
    values = {}
    for name, value in raw.items():
        values[name] = _convert(f"{key}.{name}" if key else name, value, hints[name])
    return cls(**values)


def _convert(key: str, value: Any, hint: Any) -> Any:
    """TOML's spelling of a value (a string for an enum or a path, a table) as the field's type."""
    for kind in _alternatives(hint):
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            return value if isinstance(value, kind) else _from_raw(kind, value, key)
        if isinstance(kind, type) and issubclass(kind, enum.Enum) and isinstance(value, str):
            try:
                return kind(value)
            except ValueError:
                choices = ", ".join(repr(m.value) for m in kind)
                raise ConfigError(
                    f"setting {key} must be one of {choices}, got {value!r}"
                ) from None
        if kind is Path and isinstance(value, str):
            return Path(value)
    return value


@dataclass(frozen=True)
class SegmentSettings:
    """When growing segments seal and when their buffers reach storage.

    Memory cost: every unpersisted row is held once in memory and once in the
    WAL; ``sync_buffer_bytes`` bounds how much of a growing segment is only in
    the WAL, which bounds recovery replay and the work left for a Flush.
    """

    SECTION: ClassVar[str] = "segments"

    #: Seal a growing segment at this size (Milvus: maxSize 1024 MB x sealProportion 0.12).
    max_bytes: int = field(default=128 * MiB, metadata=_limits(minimum=1))
    #: Seal a growing segment idle this long (Milvus: dataCoord.segment.maxIdleTime)...
    idle_seconds: float = field(default=600.0, metadata=_limits(above=0))
    #: ...if it holds at least this much (Milvus: minSizeFromIdleToSealed).
    idle_min_bytes: int = field(default=16 * MiB, metadata=_limits(minimum=0))
    #: Persist a growing segment's buffered rows as a binlog at this size
    #: (Milvus: dataNode.segment.insertBufSize).
    sync_buffer_bytes: int = field(default=16 * MiB, metadata=_limits(minimum=1))
    #: Persist buffered rows older than this even if the buffer is small
    #: (Milvus: dataNode.segment.syncPeriod).
    sync_period_seconds: float = field(default=600.0, metadata=_limits(above=0))

    def __post_init__(self) -> None:
        _check_fields(self)


@dataclass(frozen=True)
class FlushSettings:
    """Flush behaviour as seen by clients."""

    SECTION: ClassVar[str] = "flush"

    #: GetFlushState waits up to this long for a pending flush before answering
    #: ``false``.  pymilvus sleeps 0.5 s after a ``false``, so a short wait on the
    #: server saves a client most of that sleep without ever costing it time.
    state_wait_ms: int = field(default=400, metadata=_limits(minimum=0))
    #: Per-collection Flush rate in requests/s, like Milvus's
    #: ``quotaAndLimits.flushRate.collection.max`` (0.1 there).  ``None`` turns
    #: limiting off, which is Sluice's default; 0 refuses every flush.
    collection_rate: float | None = field(default=None, metadata=_limits(minimum=0))

    def __post_init__(self) -> None:
        _check_fields(self)


@dataclass(frozen=True)
class Settings:
    """Everything an engine needs to open a data folder."""

    SECTION: ClassVar[str] = ""

    data_dir: Path
    wal_sync: WalSync = WalSync.FSYNC
    #: What start-up does with a damaged WAL (see :class:`WalRecovery`).
    wal_recovery: WalRecovery = WalRecovery.STRICT
    #: Start a new WAL file past this size; files before a checkpoint are deleted.
    wal_file_bytes: int = field(default=64 * MiB, metadata=_limits(minimum=1))
    segments: SegmentSettings = field(default_factory=SegmentSettings)
    flush: FlushSettings = field(default_factory=FlushSettings)
    #: Threads persisting segments in the background.
    flusher_threads: int = field(default=1, metadata=_limits(minimum=1, maximum=64))
    #: Seconds between background checks for idle/stale segments.
    tick_seconds: float = field(default=1.0, metadata=_limits(above=0))
    #: Prefix of channel names (Milvus: msgChannel.chanNamePrefix.cluster).
    cluster_prefix: str = "by-dev"
    #: Number of physical channels vchannels are spread over (Milvus: rootCoord.dmlChannelNum).
    dml_channels: int = field(default=16, metadata=_limits(minimum=1))

    def __post_init__(self) -> None:
        _check_fields(self)
        if not self.cluster_prefix:
            raise ConfigError("setting cluster_prefix must not be empty")

    @classmethod
    def from_toml(cls, path: Path, **overrides: Any) -> Settings:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc}") from None
        return cls.from_mapping(raw, **overrides)

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], **overrides: Any) -> Settings:
        values: dict[str, Any] = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
        if "data_dir" not in values:
            raise ConfigError("setting data_dir is required")
        settings = _from_raw(cls, values, "")
        assert isinstance(settings, Settings)
        return settings
