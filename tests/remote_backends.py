"""Configuration for Sluice servers on remote backends (etcd, NATS JetStream, S3).

``deployment_tables`` builds the ``[object_store]``, ``[meta]`` and ``[wal]``
tables for one deployment: every key, stream and object of it lives under a
name of its own, so many deployments share one set of test services.

``SLUICE_TEST_BACKENDS=remote`` runs every ``SluiceProcess`` of the suite on
the session's services (the existing end-to-end tests included): its config
gains the three tables, named after its data folder so a restart on the same
folder finds the same deployment.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from tests import services

ENV = "SLUICE_TEST_BACKENDS"
_active: tuple[services.EtcdService, services.NatsService, services.SeaweedService] | None = None


def requested() -> bool:
    return os.environ.get(ENV, "local").lower() == "remote"


def activate(
    etcd: services.EtcdService, nats: services.NatsService, s3: services.SeaweedService
) -> None:
    global _active
    _active = (etcd, nats, s3)


def deactivate() -> None:
    global _active
    _active = None


def deployment_tables(
    etcd: services.EtcdService,
    nats: services.NatsService,
    s3: services.SeaweedService,
    deployment: str,
    *,
    lease_ttl: int = 3,
) -> dict[str, dict[str, Any]]:
    return {
        "object_store": {
            "uri": f"s3://{s3.bucket}/{deployment}",
            "endpoint": s3.endpoint,
            "access_key": services.S3_ACCESS_KEY,
            "secret_key": services.S3_SECRET_KEY,
            "region": services.S3_REGION,
        },
        "meta": {
            "etcd_endpoints": [etcd.endpoint],
            "root": f"/{deployment}",
            "lease_ttl_seconds": lease_ttl,
        },
        "wal": {"nats_url": nats.url, "stream_prefix": deployment},
    }


def to_toml(tables: dict[str, dict[str, Any]]) -> str:
    """Tables of strings, numbers and string lists as TOML (JSON literals are valid TOML there)."""
    lines = []
    for name, values in tables.items():
        lines.append(f"\n[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def write_config(path: Path, tables: dict[str, dict[str, Any]], base: Path | None = None) -> Path:
    path.write_text((base.read_text() if base is not None else "") + to_toml(tables))
    return path


def config_for(data_dir: Path, config: Path | None) -> Path | None:
    """The config a test server runs with: ``config``, plus remote tables when switched on."""
    if _active is None:
        return config
    deployment = "d" + hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:12]
    tables = deployment_tables(*_active, deployment)
    return write_config(data_dir.parent / f"{data_dir.name}.remote.toml", tables, config)
