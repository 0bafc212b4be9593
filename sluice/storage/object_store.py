"""Where segment files, delta logs and index files live: a local folder or S3.

Both are a :class:`~sluice.storage.segment_files.SegmentFiles` over a
``pyarrow.fs`` filesystem; only the filesystem differs.  For S3-compatible
servers (MinIO, SeaweedFS, Ceph...) the endpoint is given explicitly and
addressing is path-style (``http://host:port/bucket/key``), which
self-hosted servers expect; ``http://`` endpoints are allowed for loopback
and private networks.

The bucket is created when it does not exist, as Milvus does with its own
bucket.  Every S3 call is bounded by ``timeout`` seconds (plus one retry):
an unreachable server surfaces as
:class:`~sluice.errors.StorageUnavailable` naming S3 and the endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow.fs as pafs

from sluice.errors import StorageError, StorageUnavailable
from sluice.storage.segment_files import SegmentFiles


@dataclass(frozen=True)
class S3Location:
    """``s3://BUCKET/PREFIX`` on a server, with the credentials to reach it."""

    bucket: str
    prefix: str
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"

    @classmethod
    def parse(cls, uri: str, **options: str | None) -> S3Location:
        if not uri.startswith("s3://"):
            raise ValueError(f"an S3 location starts with s3://, not {uri!r}")
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"{uri!r} names no bucket")
        region = options.pop("region", None) or "us-east-1"
        return cls(bucket, prefix.strip("/"), region=region, **options)

    @property
    def root(self) -> str:
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    @property
    def where(self) -> str:
        return self.endpoint or f"s3://{self.bucket} ({self.region})"

    def filesystem(self, timeout: float = 10.0) -> pafs.S3FileSystem:
        scheme = "https"
        override = None
        if self.endpoint:
            scheme, sep, host = self.endpoint.partition("://")
            if not sep:
                scheme, host = "https", self.endpoint
            override = host.rstrip("/")
        return pafs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            anonymous=not (self.access_key or self.secret_key),
            region=self.region,
            endpoint_override=override,
            scheme=scheme,
            force_virtual_addressing=False,
            allow_bucket_creation=True,
            connect_timeout=min(timeout, 3.0),
            request_timeout=timeout,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=2),
        )


def open_s3(location: S3Location, *, timeout: float = 10.0) -> SegmentFiles:
    """Segment files under ``location``; creates the bucket if missing."""
    filesystem = location.filesystem(timeout)
    try:
        if filesystem.get_file_info(location.bucket).type == pafs.FileType.NotFound:
            filesystem.create_dir(location.bucket)
    except OSError as exc:
        raise StorageUnavailable.for_service(
            "S3", location.where, f"cannot open bucket {location.bucket!r}: {exc}"
        ) from exc
    return SegmentFiles(filesystem, location.root, service=f"S3 at {location.where}")


def open_object_store(uri: str, **s3_options: str | None) -> SegmentFiles:
    """A local folder (a path or ``file://``) or ``s3://BUCKET/PREFIX`` with ``s3_options``."""
    if uri.startswith("s3://"):
        return open_s3(S3Location.parse(uri, **s3_options))
    if "://" in uri and not uri.startswith("file://"):
        raise StorageError(f"unsupported object store {uri!r}: use a folder or s3://BUCKET/PREFIX")
    return SegmentFiles.for_uri(uri)
