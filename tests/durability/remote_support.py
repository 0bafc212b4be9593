"""Shared pieces of the remote-backend durability tests: a deployment and a writer under load."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import numpy as np
from pymilvus import MilvusClient

from tests import remote_backends, services
from tests.conftest import SluiceProcess

DIM = 8


def deployment_config(
    folder: Path,
    etcd: services.EtcdService,
    nats: services.NatsService,
    s3: services.SeaweedService,
    *,
    lease_ttl: int = 3,
) -> Path:
    """A config for a fresh deployment (its own etcd root, streams and S3 prefix)."""
    name = f"d{uuid.uuid4().hex[:10]}"
    tables = remote_backends.deployment_tables(etcd, nats, s3, name, lease_ttl=lease_ttl)
    folder.mkdir(parents=True, exist_ok=True)
    return remote_backends.write_config(folder / f"{name}.toml", tables)


def node(folder: Path, config: Path) -> SluiceProcess:
    folder.mkdir(parents=True, exist_ok=True)
    return SluiceProcess(folder / "data", config=config)


def rows(ids: range) -> list[dict[str, object]]:
    return [{"id": i, "vector": np.sin(np.arange(DIM) + i * 0.01).tolist()} for i in ids]


class Writer(threading.Thread):
    """Inserts batches of fresh ids until stopped or a request fails; remembers the acknowledged."""

    def __init__(self, uri: str, collection: str, *, start: int = 0, batch: int = 50) -> None:
        super().__init__(daemon=True)
        self.client = MilvusClient(uri, timeout=10)
        self.collection = collection
        self.next = start
        self.batch = batch
        self.acked: list[int] = []
        self.error: BaseException | None = None
        self.stop_flag = threading.Event()
        self.some_acked = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop_flag.is_set():
                ids = range(self.next, self.next + self.batch)
                self.next += self.batch
                self.client.insert(self.collection, rows(ids), timeout=10)
                self.acked.extend(ids)
                if len(self.acked) >= 10 * self.batch:
                    self.some_acked.set()
        except Exception as exc:  # the node died or refused: stop writing
            self.error = exc
        finally:
            self.some_acked.set()

    def finish(self) -> list[int]:
        self.stop_flag.set()
        self.join(60)
        self.client.close()
        return self.acked


def stored_ids(uri: str, collection: str) -> set[int]:
    """Every id in ``collection`` (queried in id ranges: one query returns at most 16384 rows)."""
    client = MilvusClient(uri, timeout=30)
    try:
        client.load_collection(collection)
        total = client.query(collection, filter="", output_fields=["count(*)"])[0]["count(*)"]
        found: set[int] = set()
        low, step = 0, 10_000
        while len(found) < total and low < 10_000_000:
            page = client.query(
                collection, filter=f"id >= {low} and id < {low + step}", output_fields=["id"]
            )
            found.update(int(r["id"]) for r in page)
            low += step
        return found
    finally:
        client.close()
