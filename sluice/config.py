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


# --- [security], [quota], [grpc]: who may connect, how much, how big -------------
#
# Each section is its own frozen dataclass with Milvus's names; every key can
# also come from the environment as ``SLUICE_<SECTION>_<KEY>`` (which wins over
# the TOML file), and every value is checked when the settings are built, with
# a message that names the key.


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

    #: Milvus: common.security.authorizationEnabled.  ``None`` (the default)
    #: turns it on unless the server listens only on a loopback address.
    authorization_enabled: bool | None = None
    #: Password of ``root`` when the access store is first created
    #: (Milvus: common.security.defaultRootPassword).  Later changes need UpdateCredential.
    default_root_password: str = "Milvus"
    #: 0: plain TCP; 1: TLS; 2: mutual TLS (Milvus: common.security.tlsMode).
    tls_mode: int = 0
    #: PEM certificate chain the server presents (Milvus: tls.serverPemPath).
    server_pem_path: str = ""
    #: PEM private key of that certificate (Milvus: tls.serverKeyPath).
    server_key_path: str = ""
    #: PEM CA bundle that client certificates must chain to in mode 2 (Milvus: tls.caPemPath).
    ca_pem_path: str = ""

    def __post_init__(self) -> None:
        _check_type("security", "authorization_enabled", self.authorization_enabled, (bool,), True)
        _check_type("security", "default_root_password", self.default_root_password, (str,))
        _check_type("security", "tls_mode", self.tls_mode, (int,))
        for key in ("server_pem_path", "server_key_path", "ca_pem_path"):
            _check_type("security", key, getattr(self, key), (str,))
        if not 6 <= len(self.default_root_password.encode()) <= 72:
            raise ValueError(
                "security.default_root_password must be 6 to 72 bytes long "
                f"(got {len(self.default_root_password.encode())})"
            )
        if self.tls_mode not in (0, 1, 2):
            raise ValueError(f"security.tls_mode must be 0, 1 or 2, got {self.tls_mode}")
        needed = ["server_pem_path", "server_key_path"] if self.tls_mode else []
        if self.tls_mode == TlsMode.MUTUAL:
            needed.append("ca_pem_path")
        for key in needed:
            value = getattr(self, key)
            if not value:
                raise ValueError(
                    f"security.{key} is required when security.tls_mode is {self.tls_mode}"
                )
            if not Path(value).is_file():
                raise ValueError(f"security.{key}: no such file: {value}")


@dataclass(frozen=True)
class QuotaSettings:
    """Milvus's ``quotaAndLimits`` rate limits (off by default) and object-count limits.

    Rates are per second for the whole server, ``-1`` meaning unlimited, as in
    Milvus.  A refused request gets code 8 (legacy ``RateLimit``), which SDKs
    retry with back-off; a rate of 0 refuses with code 9 (quota exceeded).
    """

    #: Milvus: quotaAndLimits.ddl.enabled (collection, partition and index DDL).
    ddl_enabled: bool = False
    #: CreateCollection/DropCollection/LoadCollection/ReleaseCollection per second.
    ddl_collection_rate: float = -1
    #: Partition DDL per second (Milvus: ddl.partitionRate).
    ddl_partition_rate: float = -1
    #: CreateIndex/DropIndex per second (Milvus: quotaAndLimits.indexRate.max).
    ddl_index_rate: float = -1
    #: Milvus: quotaAndLimits.dml.enabled.
    dml_enabled: bool = False
    #: Insert MB per second (Milvus: dml.insertRate.max), measured as request bytes.
    dml_insert_rate: float = -1
    #: Upsert MB per second (Milvus: dml.upsertRate.max).
    dml_upsert_rate: float = -1
    #: Delete MB per second (Milvus: dml.deleteRate.max).
    dml_delete_rate: float = -1
    #: Milvus: quotaAndLimits.dql.enabled.
    dql_enabled: bool = False
    #: Query vectors searched per second (Milvus: dql.searchRate.max).
    dql_search_rate: float = -1
    #: Queries per second (Milvus: dql.queryRate.max).
    dql_query_rate: float = -1
    #: Collections in all databases (Milvus: quotaAndLimits.limits.maxCollectionNum).
    max_collection_num: int = 65536
    #: Fields per collection (Milvus: proxy.maxFieldNum).
    max_field_num: int = 64
    #: Users including root (Milvus: proxy.maxUserNum).
    max_user_num: int = 100
    #: Roles including admin and public (Milvus: proxy.maxRoleNum).
    max_role_num: int = 10

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name.endswith("_enabled"):
                _check_type("quota", item.name, value, (bool,))
            elif item.name.endswith("_rate"):
                _check_type("quota", item.name, value, (int, float))
                if value < 0 and value != -1:
                    raise ValueError(
                        f"quota.{item.name} must be -1 (unlimited) or >= 0, got {value}"
                    )
            else:
                _check_type("quota", item.name, value, (int,))
                if value < 1:
                    raise ValueError(f"quota.{item.name} must be at least 1, got {value}")


@dataclass(frozen=True)
class GrpcSettings:
    """gRPC message limits (Milvus: proxy.grpc.serverMaxRecvSize / serverMaxSendSize).

    A larger request or response is refused by gRPC itself with
    ``RESOURCE_EXHAUSTED``, which SDKs do not retry.  Memory cost: one request
    of this size may be held at once per worker thread.
    """

    server_max_recv_size: int = 512 * MiB
    server_max_send_size: int = 512 * MiB

    def __post_init__(self) -> None:
        for key in ("server_max_recv_size", "server_max_send_size"):
            value = getattr(self, key)
            _check_type("grpc", key, value, (int,))
            if not 1 <= value <= 2**31 - 1:
                raise ValueError(f"grpc.{key} must be between 1 and 2147483647 bytes, got {value}")


def _check_type(
    section: str, key: str, value: Any, types: tuple[type, ...], optional: bool = False
) -> None:
    if value is None and optional:
        return
    # bool is an int in Python; a number key must not accept true/false.
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        wanted = " or ".join(t.__name__ for t in types)
        raise ValueError(f"{section}.{key} must be {wanted}, got {value!r}")


def _parse_env(section: str, key: str, text: str, kind: Any) -> Any:
    """An environment string as the type the section's field declares."""
    if "bool" in str(kind):
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        if lowered in ("", "auto") and "None" in str(kind):
            return None
        raise ValueError(f"{_env_name(section, key)}: {text!r} is not true or false")
    if "float" in str(kind) or "int" in str(kind):
        try:
            number = float(text) if "float" in str(kind) else int(text)
        except ValueError:
            raise ValueError(f"{_env_name(section, key)}: {text!r} is not a number") from None
        return number
    return text


def _env_name(section: str, key: str) -> str:
    return f"SLUICE_{section.upper()}_{key.upper()}"


def section_from_mapping(
    cls: Any, section: str, raw: Any, environ: Mapping[str, str] | None
) -> Any:
    """Build one section from its TOML table, the environment winning key by key."""
    if isinstance(raw, cls):
        values = dataclasses.asdict(raw)
    elif isinstance(raw, dict):
        values = dict(raw)
    else:
        raise ValueError(f"[{section}] must be a table, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(f'{section}.{k}' for k in unknown)}")
    for key, item in fields.items():
        text = (environ or {}).get(_env_name(section, key))
        if text is not None:
            values[key] = _parse_env(section, key, text, item.type)
    return cls(**values)


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
    security: SecuritySettings = field(default_factory=SecuritySettings)
    quota: QuotaSettings = field(default_factory=QuotaSettings)
    grpc: GrpcSettings = field(default_factory=GrpcSettings)

    @classmethod
    def from_toml(
        cls, path: Path, *, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        raw = tomllib.loads(Path(path).read_text())
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
        for name, section_cls in (
            ("security", SecuritySettings),
            ("quota", QuotaSettings),
            ("grpc", GrpcSettings),
        ):
            values[name] = section_from_mapping(section_cls, name, values.get(name, {}), environ)
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
