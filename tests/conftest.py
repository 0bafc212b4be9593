"""Shared fixtures: real Sluice server processes on free loopback ports.

``SluiceProcess`` runs ``python -m sluice serve`` exactly as a user would and
exposes what the durability tests need: a clean stop (SIGTERM), a crash
(SIGKILL) and a restart on the same data folder.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import remote_backends, services

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Starts tried with fresh ports when one was taken between picking and binding it.
PORT_ATTEMPTS = 3


class PortTaken(RuntimeError):
    """The server could not listen: a port picked as free was taken meanwhile."""


class SluiceProcess:
    """A Sluice server subprocess bound to one data folder."""

    def __init__(
        self,
        data_dir: Path,
        *,
        env: dict[str, str] | None = None,
        config: Path | None = None,
        log_level: str = "INFO",
        extra_args: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.http_port = free_port()
        self.env = {**os.environ, **(env or {})}
        self.config = config
        self.log_level = log_level
        #: More ``sluice serve`` options (``--wal-recovery truncate``...).
        self.extra_args = list(extra_args or [])
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.server.log"

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def http_uri(self) -> str:
        """The HTTP port: RESTful API v2, /metrics, /healthz."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ready_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.ready"

    def is_ready(self) -> bool:
        ready = self.ready_path
        return ready.exists() and bool(ready.read_text().strip())

    def start(self, timeout: float = 30.0, *, wait: bool = True) -> SluiceProcess:
        """Start the server; with ``wait=False`` return at once (a standby waits for the lease).

        The ports were free when picked; another process may take one before the
        server binds it, so a refusal to listen picks fresh ports and tries again.
        """
        for attempt in range(PORT_ATTEMPTS):
            try:
                return self._start(timeout, wait=wait)
            except PortTaken:
                if attempt == PORT_ATTEMPTS - 1:
                    raise
                self.port, self.http_port = free_port(), free_port()
        raise AssertionError("unreachable")

    def _start(self, timeout: float, *, wait: bool) -> SluiceProcess:
        ready = self.ready_path
        ready.unlink(missing_ok=True)
        # A storage delay needs the test-side wrapper (product code has no delay knob).
        launcher = (
            [str(ROOT / "tests" / "slow_storage.py")]
            if self.env.get("SLUICE_TEST_STORAGE_DELAY")
            else ["-m", "sluice"]
        )
        args = [
            sys.executable,
            *launcher,
            "serve",
            "--data",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http-port",
            str(self.http_port),
            "--ready-file",
            str(ready),
            "--log-level",
            self.log_level,
        ]
        config = remote_backends.config_for(self.data_dir, self.config)
        if config is not None:
            args += ["--config", str(config)]
        args += self.extra_args
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT
        )
        log.close()
        if not wait:
            return self
        return self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> SluiceProcess:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_ready():
                return self
            if self.proc.poll() is not None:
                text = self.log()
                last = text.strip().splitlines()[-1] if text.strip() else ""
                if "cannot listen on" in last:
                    raise PortTaken(text)
                raise RuntimeError(f"sluice exited with {self.proc.returncode}:\n{text}")
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"sluice did not become ready in {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the clean shutdown path."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: a crash with no chance to clean up."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def restart(self) -> SluiceProcess:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def sluice_server(tmp_path: Path) -> Iterator[SluiceProcess]:
    server = SluiceProcess(tmp_path / "data").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def milvus(sluice_server: SluiceProcess) -> Iterator[object]:
    from pymilvus import MilvusClient

    client = MilvusClient(sluice_server.uri)
    try:
        yield client
    finally:
        client.close()


# --- remote storage services (etcd, NATS JetStream, SeaweedFS S3), one of each per session ---


@pytest.fixture(scope="session", autouse=True)
def _remote_backends_for_servers(
    request: pytest.FixtureRequest,
) -> Iterator[None]:
    """With SLUICE_TEST_BACKENDS=remote every SluiceProcess runs on etcd + NATS + S3."""
    if not remote_backends.requested():
        yield
        return
    remote_backends.activate(
        request.getfixturevalue("etcd_service"),
        request.getfixturevalue("nats_service"),
        request.getfixturevalue("s3_service"),
    )
    try:
        yield
    finally:
        remote_backends.deactivate()


@pytest.fixture(scope="session")
def etcd_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.EtcdService]:
    service = services.EtcdService(tmp_path_factory.mktemp("etcd"))
    services.started(service)
    try:
        yield service
    finally:
        service.kill()


@pytest.fixture(scope="session")
def nats_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.NatsService]:
    service = services.NatsService(tmp_path_factory.mktemp("nats"))
    services.started(service)
    try:
        yield service
    finally:
        service.kill()


@pytest.fixture(scope="session")
def s3_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.SeaweedService]:
    service = services.SeaweedService(tmp_path_factory.mktemp("seaweedfs"))
    services.started(service)
    try:
        yield service
    finally:
        service.kill()
