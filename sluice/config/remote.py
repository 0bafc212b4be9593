"""Settings of the remote backends: S3 object storage, etcd metadata, a NATS JetStream WAL.

Each table is optional: absent, that state stays in the local data folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from sluice.config.checks import ConfigError, check_fields, limits


@dataclass(frozen=True)
class ObjectStoreSettings:
    """``[object_store]``: segment files, delta logs and index files on S3-compatible storage.

    Cost: every segment file write is an upload and every load a download
    (each bounded by ``timeout_seconds``); flushes finish only once uploads do.
    """

    SECTION: ClassVar[str] = "object_store"

    #: ``s3://BUCKET/PREFIX``.
    uri: str
    #: ``http://host:port`` of a self-hosted server (MinIO, SeaweedFS...); AWS when absent.
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"
    #: Bound on every request; an unreachable server fails calls after it.
    timeout_seconds: float = field(default=10.0, metadata=limits(above=0))

    def __post_init__(self) -> None:
        check_fields(self)
        bucket = self.uri[len("s3://") :].split("/", 1)[0] if self.uri.startswith("s3://") else ""
        if not bucket:
            raise ConfigError(
                f"setting object_store.uri must be s3://BUCKET/PREFIX, got {self.uri!r}"
            )
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                "setting object_store.endpoint must start with http:// or https://, "
                f"got {self.endpoint!r}"
            )
        if (self.access_key is None) != (self.secret_key is None):
            raise ConfigError(
                "settings object_store.access_key and object_store.secret_key go together"
            )


@dataclass(frozen=True)
class MetaSettings:
    """``[meta]``: the catalog, manifests, timestamp window and ID block in etcd.

    Cost: one etcd transaction per metadata commit (a round trip); the writer
    lease is renewed every third of its TTL.
    """

    SECTION: ClassVar[str] = "meta"

    etcd_endpoints: tuple[str, ...]
    #: Every key of this deployment lives under this prefix (Milvus: etcd.rootPath).
    root: str = "/sluice"
    #: The writer lease; a standby takes over at most this long after the writer dies.
    lease_ttl_seconds: int = field(default=5, metadata=limits(minimum=2))
    timeout_seconds: float = field(default=5.0, metadata=limits(above=0))

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.etcd_endpoints or not all(self.etcd_endpoints):
            raise ConfigError('setting meta.etcd_endpoints must be a list like ["127.0.0.1:2379"]')
        if not self.root.startswith("/") or self.root.rstrip("/") == "":
            raise ConfigError(
                f"setting meta.root must be an absolute key prefix like /sluice, got {self.root!r}"
            )


@dataclass(frozen=True)
class WalSettings:
    """``[wal]``: one NATS JetStream stream per channel instead of local WAL files.

    Cost: an acknowledged write waits for JetStream's publish acknowledgement
    (one round trip shared by concurrent writers) instead of a local fsync.
    """

    SECTION: ClassVar[str] = "wal"

    nats_url: str
    stream_prefix: str = "sluice"
    #: JetStream replicas of each stream (a clustered NATS deployment).
    replicas: int = field(default=1, metadata=limits(minimum=1))
    timeout_seconds: float = field(default=5.0, metadata=limits(above=0))

    @property
    def servers(self) -> list[str]:
        return [u.strip() for u in self.nats_url.split(",") if u.strip()]

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.servers or not all(u.startswith(("nats://", "tls://")) for u in self.servers):
            raise ConfigError(
                f"setting wal.nats_url must be nats://HOST:PORT, got {self.nats_url!r}"
            )
        if not self.stream_prefix.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(
                "setting wal.stream_prefix may hold only letters, digits, '-' and '_', "
                f"got {self.stream_prefix!r}"
            )
