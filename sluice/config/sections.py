"""The sections of a data folder's settings: WAL, segments, flush, security, quotas, gRPC."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from sluice.config.checks import ConfigError, MiB, check_fields, limits


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


@dataclass(frozen=True)
class SegmentSettings:
    """When growing segments seal and when their buffers reach storage.

    Memory cost: every unpersisted row is held once in memory and once in the
    WAL; ``sync_buffer_bytes`` bounds how much of a growing segment is only in
    the WAL, which bounds recovery replay and the work left for a Flush.
    """

    SECTION: ClassVar[str] = "segments"

    #: Seal a growing segment at this size (Milvus: maxSize 1024 MB x sealProportion 0.12).
    max_bytes: int = field(default=128 * MiB, metadata=limits(minimum=1))
    #: Seal a growing segment idle this long (Milvus: dataCoord.segment.maxIdleTime)...
    idle_seconds: float = field(default=600.0, metadata=limits(above=0))
    #: ...if it holds at least this much (Milvus: minSizeFromIdleToSealed).
    idle_min_bytes: int = field(default=16 * MiB, metadata=limits(minimum=0))
    #: Persist a growing segment's buffered rows as a binlog at this size
    #: (Milvus: dataNode.segment.insertBufSize).
    sync_buffer_bytes: int = field(default=16 * MiB, metadata=limits(minimum=1))
    #: Persist buffered rows older than this even if the buffer is small
    #: (Milvus: dataNode.segment.syncPeriod).
    sync_period_seconds: float = field(default=600.0, metadata=limits(above=0))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class CompactionSettings:
    """Background mix compaction (see ``sluice/engine/compaction.py``).

    A collection's ``collection.autocompaction.enabled`` property overrides
    ``auto`` for that collection; ManualCompaction runs either way.
    """

    SECTION: ClassVar[str] = "compaction"

    #: Compact in the background (Milvus: dataCoord.enableAutoCompaction).
    auto: bool = True
    #: Seconds between background looks at every collection's segments.
    interval_seconds: float = field(default=60.0, metadata=limits(above=0))
    #: A shard with no write for this long is quiet: its small segments are packed
    #: into full ones; a busy shard's are merged by size tier only.
    quiet_seconds: float = field(default=10.0, metadata=limits(minimum=0))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class MmapSettings:
    """Server defaults for memory-mapping sealed segments (Milvus: ``queryNode.mmap.*``).

    A collection's ``mmap.enabled`` property overrides these for its fields
    and indexes; a field's or an index's own ``mmap.enabled`` overrides the
    collection's.  Mapped data lives in files under ``dir`` (default: the
    data folder's ``mmap``), rebuilt from the segment files on every start,
    and stays in the OS page cache instead of the process's own memory.
    """

    SECTION: ClassVar[str] = "mmap"

    #: Raw vectors of sealed segments (Milvus: queryNode.mmap.vectorField).
    vector_field: bool = False
    #: Vector index files of sealed segments (Milvus: queryNode.mmap.vectorIndex).
    vector_index: bool = False
    #: Raw scalar columns of sealed segments (Milvus: queryNode.mmap.scalarField).
    scalar_field: bool = False
    #: Where mapped files live (Milvus: queryNode.mmap.mmapDirPath); empty: ``<data>/mmap``.
    dir: str = ""

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class FlushSettings:
    """Flush behaviour as seen by clients."""

    SECTION: ClassVar[str] = "flush"

    #: GetFlushState waits up to this long for a pending flush before answering
    #: ``false``, and DescribeIndex/GetIndexState for running index builds before
    #: answering "in progress".  pymilvus sleeps 0.5 s after either, so a short wait
    #: on the server saves a client most of that sleep without ever costing it time.
    state_wait_ms: int = field(default=400, metadata=limits(minimum=0))
    #: Per-collection Flush rate in requests/s, like Milvus's
    #: ``quotaAndLimits.flushRate.collection.max`` (0.1 there).  ``None`` turns
    #: limiting off, which is Sluice's default; 0 refuses every flush.
    collection_rate: float | None = field(default=None, metadata=limits(minimum=0))

    def __post_init__(self) -> None:
        check_fields(self)


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
    tls_mode: int = field(default=0, metadata=limits(minimum=0, maximum=2))
    #: PEM certificate chain the server presents (Milvus: tls.serverPemPath).
    server_pem_path: str = ""
    #: PEM private key of that certificate (Milvus: tls.serverKeyPath).
    server_key_path: str = ""
    #: PEM CA bundle that client certificates must chain to in mode 2 (Milvus: tls.caPemPath).
    ca_pem_path: str = ""

    def __post_init__(self) -> None:
        check_fields(self)
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
_RATE = limits(minimum=-1)


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
    max_collection_num: int = field(default=65536, metadata=limits(minimum=1))
    #: Fields per collection (Milvus: proxy.maxFieldNum).
    max_field_num: int = field(default=64, metadata=limits(minimum=1))
    #: Users including root (Milvus: proxy.maxUserNum).
    max_user_num: int = field(default=100, metadata=limits(minimum=1))
    #: Roles including admin and public (Milvus: proxy.maxRoleNum).
    max_role_num: int = field(default=10, metadata=limits(minimum=1))

    def __post_init__(self) -> None:
        check_fields(self)
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
        default=512 * MiB, metadata=limits(minimum=1, maximum=2**31 - 1)
    )
    server_max_send_size: int = field(
        default=512 * MiB, metadata=limits(minimum=1, maximum=2**31 - 1)
    )

    def __post_init__(self) -> None:
        check_fields(self)


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
    port: int = field(default=9091, metadata=limits(minimum=0, maximum=65535))
    #: Record per-RPC and per-path counts and latencies for ``/metrics`` (a lock and an
    #: addition per request); engine gauges are read at scrape time either way.
    metrics: bool = True
    #: Largest request body accepted, in bytes; a larger one is refused with HTTP 413.
    max_body_bytes: int = field(default=64 * MiB, metadata=limits(minimum=1))

    def __post_init__(self) -> None:
        check_fields(self)
