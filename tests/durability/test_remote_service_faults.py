"""A node on etcd + NATS JetStream + S3 while each service is killed (SIGKILL) and restarted.

While a service a request needs is down the request fails promptly with
Milvus's "service unavailable" naming the service, never hangs, and works
again once the service is back; a node crash afterwards loses nothing that
was acknowledged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymilvus import MilvusClient, MilvusException

from tests import services
from tests.durability.remote_support import deployment_config, node, rows, stored_ids

pytestmark = pytest.mark.slow


@pytest.fixture
def own(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A private etcd, NATS and SeaweedFS, so killing them disturbs no other test."""
    started: dict[str, Any] = {}
    try:
        started["etcd"] = services.started(services.EtcdService(tmp_path / "etcd"))
        started["nats"] = services.started(services.NatsService(tmp_path / "nats"))
        started["s3"] = services.started(services.SeaweedService(tmp_path / "s3"))
        yield started
    finally:
        for service in started.values():
            service.kill()


def _retry(call: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except MilvusException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def _refused_promptly(call: Callable[[], Any], service: str) -> MilvusException:
    started = time.monotonic()
    with pytest.raises(MilvusException) as failure:
        call()
    assert time.monotonic() - started < 30  # a bounded failure, never a hang
    assert failure.value.code == 2, failure.value
    assert f"service unavailable: {service} at" in failure.value.message
    return failure.value


def test_nats_outage(tmp_path: Path, own: dict[str, Any]) -> None:
    config = deployment_config(tmp_path, own["etcd"], own["nats"], own["s3"])
    server = node(tmp_path / "n", config).start()
    try:
        client = MilvusClient(server.uri)
        client.create_collection("docs", dimension=8)
        client.insert("docs", rows(range(100)))
        own["nats"].kill()
        _refused_promptly(lambda: client.insert("docs", rows(range(100, 110))), "NATS JetStream")
        own["nats"].start()
        _retry(lambda: client.insert("docs", rows(range(200, 300))))
        client.close()
        live = stored_ids(server.uri, "docs")
        server.kill()
        server.start(60)
        found = stored_ids(server.uri, "docs")
        assert set(range(100)) | set(range(200, 300)) <= found
        # The refused insert's fate was unknown to its client; the node and the log agree on it.
        assert found == live
        assert found & set(range(100, 110)) in (set(), set(range(100, 110)))
    finally:
        server.kill()


def test_etcd_outage(tmp_path: Path, own: dict[str, Any]) -> None:
    config = deployment_config(tmp_path, own["etcd"], own["nats"], own["s3"])
    server = node(tmp_path / "n", config).start()
    try:
        client = MilvusClient(server.uri)
        client.create_collection("docs", dimension=8)
        client.insert("docs", rows(range(100)))
        own["etcd"].kill()
        _refused_promptly(lambda: client.create_collection("other", dimension=8), "etcd")
        # Without etcd the lease cannot be renewed: the node stops being the writer.
        assert server.proc is not None
        server.proc.wait(30)
        assert server.proc.returncode == 75
        assert "lost the writer lease" in server.log()
        client.close()
        own["etcd"].start()
        server.proc = None
        server.start(60)
        assert stored_ids(server.uri, "docs") == set(range(100))
        again = MilvusClient(server.uri)
        again.insert("docs", rows(range(100, 150)))
        again.close()
        server.kill()
        server.start(60)
        assert stored_ids(server.uri, "docs") == set(range(150))
    finally:
        server.kill()


def test_s3_outage(tmp_path: Path, own: dict[str, Any]) -> None:
    config = deployment_config(tmp_path, own["etcd"], own["nats"], own["s3"])
    server = node(tmp_path / "n", config).start()
    try:
        client = MilvusClient(server.uri)
        client.create_collection("docs", dimension=8)
        client.insert("docs", rows(range(100)))
        client.flush("docs")
        own["s3"].kill()
        client.insert("docs", rows(range(100, 200)))  # inserts need only NATS and etcd
        own["s3"].start()
        _retry(lambda: client.flush("docs", timeout=30))
        client.insert("docs", rows(range(200, 250)))
        client.close()
        server.kill()
        server.start(60)
        assert stored_ids(server.uri, "docs") == set(range(250))
    finally:
        server.kill()
