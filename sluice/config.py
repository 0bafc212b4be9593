"""Settings for an engine and its server, with Milvus's defaults where Milvus has one.

Every knob is a field of a frozen dataclass so a running engine cannot be
reconfigured behind its back.  ``Settings.from_toml`` reads the same names
from a TOML file (``sluice serve --config sluice.toml``); see
``docs/configuration.md`` for what each one costs.

Every key of a section can also come from the environment as
``SLUICE_<SECTION>_<KEY>`` (``SLUICE_SECURITY_TLS_MODE=1``), which wins over
the file: secrets and per-deployment values need not live in it.

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
from collections.abc import Mapping
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


# --- [security], [quota], [grpc]: who may connect, how much, how big -------------


class TlsMode(enum.IntEnum):
    """Milvus's ``tls.mode`` / ``common.security.tlsMode``."""

    OFF = 0
    #: The server proves who it is; clients need only the CA (or the server's cert).
    ONE_WAY = 1
    #: Clients must present a certificate signed by ``ca_pem_path`` as well.
    MUTUAL = 2


@dataclass(frozen=True)
class SecuritySettings:
    """Authentication, authorization and TLS for the gRPC server (never the embedded engine).

    Cost: with authorization on, a request's credentials are checked with
    argon2 once per distinct credential (then cached); privilege checks are
    dictionary lookups.  TLS costs a handshake per connection and encryption
    per byte.
    """

    SECTION: ClassVar[str] = "security"

    #: Milvus: common.security.authorizationEnabled.  ``None`` (the default)
    #: turns it on unless the server listens only on a loopback address.
    authorization_enabled: bool | None = None
    #: Password of ``root`` when the access store is first created
    #: (Milvus: common.security.defaultRootPassword).  Later changes need UpdateCredential.
    default_root_password: str = "Milvus"
    #: 0: plain TCP; 1: TLS; 2: mutual TLS (Milvus: common.security.tlsMode).
    tls_mode: int = field(default=0, metadata=_limits(minimum=0, maximum=2))
    #: PEM certificate chain the server presents (Milvus: tls.serverPemPath).
    server_pem_path: str = ""
    #: PEM private key of that certificate (Milvus: tls.serverKeyPath).
    server_key_path: str = ""
    #: PEM CA bundle that client certificates must chain to in mode 2 (Milvus: tls.caPemPath).
    ca_pem_path: str = ""

    def __post_init__(self) -> None:
        _check_fields(self)
        size = len(self.default_root_password.encode())
        if not 6 <= size <= 72:
            raise ConfigError(
                f"setting security.default_root_password must be 6 to 72 bytes long (got {size})"
            )
        needed = ["server_pem_path", "server_key_path"] if self.tls_mode else []
        if self.tls_mode == TlsMode.MUTUAL:
            needed.append("ca_pem_path")
        for key in needed:
            value = getattr(self, key)
            if not value:
                raise ConfigError(
                    f"setting security.{key} is required when security.tls_mode is {self.tls_mode}"
                )
            if not Path(value).is_file():
                raise ConfigError(f"setting security.{key}: no such file: {value}")


#: A rate in units per second, -1 meaning unlimited (Milvus's convention).
_RATE = _limits(minimum=-1)


@dataclass(frozen=True)
class QuotaSettings:
    """Milvus's ``quotaAndLimits`` rate limits (off by default) and object-count limits.

    Rates are per second for the whole server, ``-1`` meaning unlimited, as in
    Milvus.  A refused request gets code 8 (legacy ``RateLimit``), which SDKs
    retry with back-off; a rate of 0 refuses with code 9 (quota exceeded).
    """

    SECTION: ClassVar[str] = "quota"

    #: Milvus: quotaAndLimits.ddl.enabled (collection, partition and index DDL).
    ddl_enabled: bool = False
    #: CreateCollection/DropCollection/LoadCollection/ReleaseCollection per second.
    ddl_collection_rate: float = field(default=-1, metadata=_RATE)
    #: Partition DDL per second (Milvus: ddl.partitionRate).
    ddl_partition_rate: float = field(default=-1, metadata=_RATE)
    #: CreateIndex/DropIndex per second (Milvus: quotaAndLimits.indexRate.max).
    ddl_index_rate: float = field(default=-1, metadata=_RATE)
    #: Milvus: quotaAndLimits.dml.enabled.
    dml_enabled: bool = False
    #: Insert MB per second (Milvus: dml.insertRate.max), measured as request bytes.
    dml_insert_rate: float = field(default=-1, metadata=_RATE)
    #: Upsert MB per second (Milvus: dml.upsertRate.max).
    dml_upsert_rate: float = field(default=-1, metadata=_RATE)
    #: Delete MB per second (Milvus: dml.deleteRate.max).
    dml_delete_rate: float = field(default=-1, metadata=_RATE)
    #: Milvus: quotaAndLimits.dql.enabled.
    dql_enabled: bool = False
    #: Query vectors searched per second (Milvus: dql.searchRate.max).
    dql_search_rate: float = field(default=-1, metadata=_RATE)
    #: Queries per second (Milvus: dql.queryRate.max).
    dql_query_rate: float = field(default=-1, metadata=_RATE)
    #: Collections in all databases (Milvus: quotaAndLimits.limits.maxCollectionNum).
    max_collection_num: int = field(default=65536, metadata=_limits(minimum=1))
    #: Fields per collection (Milvus: proxy.maxFieldNum).
    max_field_num: int = field(default=64, metadata=_limits(minimum=1))
    #: Users including root (Milvus: proxy.maxUserNum).
    max_user_num: int = field(default=100, metadata=_limits(minimum=1))
    #: Roles including admin and public (Milvus: proxy.maxRoleNum).
    max_role_num: int = field(default=10, metadata=_limits(minimum=1))

    def __post_init__(self) -> None:
        _check_fields(self)
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name.endswith("_rate") and -1 < value < 0:
                raise ConfigError(
                    f"setting quota.{item.name} must be -1 (unlimited) or >= 0, got {value}"
                )


@dataclass(frozen=True)
class GrpcSettings:
    """gRPC message limits (Milvus: proxy.grpc.serverMaxRecvSize / serverMaxSendSize).

    A larger request or response is refused by gRPC itself with
    ``RESOURCE_EXHAUSTED``, which SDKs do not retry.  Memory cost: one request
    of this size may be held at once per worker thread.
    """

    SECTION: ClassVar[str] = "grpc"

    server_max_recv_size: int = field(
        default=512 * MiB, metadata=_limits(minimum=1, maximum=2**31 - 1)
    )
    server_max_send_size: int = field(
        default=512 * MiB, metadata=_limits(minimum=1, maximum=2**31 - 1)
    )

    def __post_init__(self) -> None:
        _check_fields(self)


@dataclass(frozen=True)
class HttpSettings:
    """The HTTP port: Milvus's RESTful API v2, ``/metrics`` and ``/healthz``.

    Milvus serves ``/healthz`` and ``/metrics`` on 9091 and answers REST on
    19530 too; Sluice keeps 19530 for gRPC alone and serves everything HTTP
    here.  Cost: one thread running an event loop; REST requests run the
    gRPC handlers in a worker thread each.
    """

    SECTION: ClassVar[str] = "http"

    #: Serve HTTP at all (Milvus: proxy.http.enabled).
    enabled: bool = True
    #: Port on the gRPC server's host; 0 picks a free one (Milvus: common.metricsPort 9091).
    port: int = field(default=9091, metadata=_limits(minimum=0, maximum=65535))
    #: Record per-RPC and per-path counts and latencies for ``/metrics`` (a lock and an
    #: addition per request); engine gauges are read at scrape time either way.
    metrics: bool = True
    #: Largest request body accepted, in bytes; a larger one is refused with HTTP 413.
    max_body_bytes: int = field(default=64 * MiB, metadata=_limits(minimum=1))

    def __post_init__(self) -> None:
        _check_fields(self)


def _env_name(section: str, key: str) -> str:
    return f"SLUICE_{section.upper()}_{key.upper()}"


def _parse_env(name: str, text: str, hint: Any) -> Any:
    """An environment string as the type a field declares."""
    allowed = _alternatives(hint)
    stripped = text.strip()
    if type(None) in allowed and stripped.lower() in ("", "auto", "none"):
        return None
    if bool in allowed:
        lowered = stripped.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{name}: {text!r} is not true or false")
    if int in allowed or float in allowed:
        try:
            return int(stripped) if int in allowed else float(stripped)
        except ValueError:
            try:
                return float(stripped)
            except ValueError:
                raise ConfigError(f"{name}: {text!r} is not a number") from None
    return text


def _with_environment(
    cls: type[Any], values: dict[str, Any], environ: Mapping[str, str]
) -> dict[str, Any]:
    """``values`` with every ``SLUICE_<SECTION>_<KEY>`` of ``cls``'s sections applied."""
    hints = typing.get_type_hints(cls)
    out = dict(values)
    for fld in dataclasses.fields(cls):
        kind = hints[fld.name]
        if not (isinstance(kind, type) and dataclasses.is_dataclass(kind)):
            continue
        section: str = kind.SECTION  # type: ignore[attr-defined]
        table = out.get(fld.name, {})
        if dataclasses.is_dataclass(table) and not isinstance(table, type):
            table = dataclasses.asdict(table)
        if not isinstance(table, dict):
            continue  # refused with its key by the table check
        table = dict(table)
        section_hints = typing.get_type_hints(kind)
        for item in dataclasses.fields(kind):
            name = _env_name(section, item.name)
            if name in environ:
                table[item.name] = _parse_env(name, environ[name], section_hints[item.name])
        if table:
            out[fld.name] = table
    return out


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
    security: SecuritySettings = field(default_factory=SecuritySettings)
    quota: QuotaSettings = field(default_factory=QuotaSettings)
    grpc: GrpcSettings = field(default_factory=GrpcSettings)
    http: HttpSettings = field(default_factory=HttpSettings)

    def __post_init__(self) -> None:
        _check_fields(self)
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
            values = _with_environment(cls, values, environ)
        if "data_dir" not in values:
            raise ConfigError("setting data_dir is required")
        settings = _from_raw(cls, values, "")
        assert isinstance(settings, Settings)
        return settings
