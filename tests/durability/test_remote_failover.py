"""Failover between two Sluice nodes on etcd + NATS JetStream + S3.

Node A writes under load and is killed (SIGKILL); standby B, started against
the same services, takes the writer lease and recovers from the services
alone. Every row A acknowledged is on B; A restarted is only a standby and
cannot write; a writer that stalls past its lease is fenced out.
"""

from __future__ import annotations

import os
import signal
import time
import tomllib
from pathlib import Path

import pytest
from pymilvus import MilvusClient

from tests import services
from tests.durability.remote_support import (
    Writer,
    deployment_config,
    node,
    rows,
    stored_ids,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def config(
    tmp_path: Path,
    etcd_service: services.EtcdService,
    nats_service: services.NatsService,
    s3_service: services.SeaweedService,
) -> Path:
    return deployment_config(tmp_path, etcd_service, nats_service, s3_service)


def _wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_standby_takes_over_with_every_acknowledged_row(tmp_path: Path, config: Path) -> None:
    a = node(tmp_path / "a", config).start()
    b = node(tmp_path / "b", config).start(wait=False)
    try:
        assert _wait_for(lambda: "is a standby" in b.log(), 30), b.log()
        assert not b.is_ready()
        setup = MilvusClient(a.uri)
        setup.create_collection("docs", dimension=8, num_shards=2)
        setup.insert("docs", rows(range(0, 500)))
        setup.flush("docs")  # some rows in S3 segments, the rest only in JetStream
        setup.close()
        writer = Writer(a.uri, "docs", start=1_000)
        writer.start()
        assert writer.some_acked.wait(60)
        a.kill()
        acked = set(range(500)) | set(writer.finish())
        b.wait_ready(60)
        assert acked <= stored_ids(b.uri, "docs")
        client = MilvusClient(b.uri)
        client.insert("docs", rows(range(100_000, 100_010)))
        assert len(client.query("docs", filter="id >= 100000", output_fields=["id"])) == 10
        client.close()
        a.start(wait=False)  # A comes back: only a standby now
        assert _wait_for(lambda: a.log().count("is a standby") >= 1, 30), a.log()
        time.sleep(1)
        assert not a.is_ready()
        with pytest.raises(Exception):  # noqa: B017 - nothing listens on A: any refusal will do
            MilvusClient(a.uri, timeout=2).insert("docs", rows(range(200_000, 200_001)))
    finally:
        a.kill()
        b.kill()


def test_a_writer_stalled_past_its_lease_is_fenced(tmp_path: Path, config: Path) -> None:
    a = node(tmp_path / "a", config).start()
    b = node(tmp_path / "b", config).start(wait=False)
    try:
        client = MilvusClient(a.uri)
        client.create_collection("docs", dimension=8)
        client.insert("docs", rows(range(10)))
        assert a.proc is not None
        a.proc.send_signal(signal.SIGSTOP)  # a long GC pause, a frozen VM...
        b.wait_ready(60)
        on_b = MilvusClient(b.uri)
        on_b.insert("docs", rows(range(10, 20)))
        a.proc.send_signal(signal.SIGCONT)
        with pytest.raises(Exception):  # noqa: B017 - refused by the fence or the exited process
            client.insert("docs", rows(range(1_000, 1_001)), timeout=10)
        assert _wait_for(lambda: a.proc is not None and a.proc.poll() is not None, 30)
        assert a.proc is not None and a.proc.returncode == 75
        assert "lost the writer lease" in a.log()
        assert stored_ids(b.uri, "docs") == set(range(20))
        on_b.close()
        client.close()
    finally:
        if a.proc is not None and a.proc.poll() is None:
            os.kill(a.proc.pid, signal.SIGCONT)
        a.kill()
        b.kill()


def test_flush_checkpoints_are_jetstream_sequences(
    tmp_path: Path, config: Path, nats_service: services.NatsService
) -> None:
    import sluice
    from sluice.storage.nats_log import NatsLogStore

    server = node(tmp_path / "n", config).start()
    try:
        db = sluice.connect(server.uri)
        db.create_collection("docs", dimension=8)
        db.insert("docs", rows(range(3)))
        db.flush("docs").wait(timeout=30)
        db.insert("docs", rows(range(3, 6)))
        task = db.flush("docs")
        task.wait(timeout=30)
        (checkpoint,) = task.get_flush_stats()[3].values()
        db.close()
        position = int.from_bytes(checkpoint.msg_id, "little")
        prefix = tomllib.loads(config.read_text())["wal"]["stream_prefix"]
        logs = NatsLogStore([nats_service.url], prefix)
        try:
            log = logs.open(checkpoint.channel_name)
            # A sequence of the channel's stream: past the first flush's records, and
            # everything before it is persisted, so the stream was purged up to it at least.
            assert 1 < position < log.end_offset
            assert log.first_offset >= position
            log.close()
        finally:
            logs.close()
    finally:
        server.kill()
