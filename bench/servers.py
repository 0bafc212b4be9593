"""Sluice, milvus-lite, the null server and the FAISS floor as child processes on loopback ports.

Each server gets its own temporary folder (data and log) that is removed after the run.
Servers run in their own session, so a Ctrl-C in the terminal reaches only the harness,
which then stops every server it started: SIGTERM first, so Sluice and milvus-lite close
their data folders cleanly, then SIGKILL after a grace period.  The stop callbacks are
registered the moment each process exists, so a failure while starting the second server
still stops the first.

Sluice binds port 0 and reports the port through ``--ready-file`` (no race).  The null
server and ``serve_lite.py`` need a port number up front; they get one the kernel just
handed out, which leaves a tiny window in which another process could take it.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from pymilvus import MilvusClient

BENCH_DIR = Path(__file__).resolve().parent
LOOPBACK = "127.0.0.1"
STOP_GRACE_S = 30.0

Log = Callable[[str], None]


class ServerStartError(RuntimeError):
    """A server exited, or did not answer, before the start-up deadline."""


@dataclass
class Server:
    """One running endpoint; ``port`` stays ``None`` until Sluice has written its ready file."""

    name: str
    process: subprocess.Popen[bytes]
    folder: Path
    port: int | None = None
    ready_file: Path | None = None
    startup_s: float | None = None
    log_shown: bool = False  # its log tail is already in an error message

    @property
    def uri(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{self.name} has not reported its port yet")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def server_argv(
    name: str,
    folder: Path,
    port: int | None,
    shared_dir: Path,
    sluice_args: Sequence[str],
    floor_args: Sequence[str] = (),
) -> list[str]:
    """The command line that serves ``name``; every server uses this very interpreter."""
    data = str(folder / "data")
    if name == "sluice":
        serve = [sys.executable, "-m", "sluice", "serve", "--data", data, "--log-level", "WARNING"]
        listen = ["--host", LOOPBACK, "--port", "0", "--ready-file", str(folder / "port")]
        return [*serve, *listen, *sluice_args]
    if name == "lite":
        serve = [sys.executable, str(shared_dir / "serve_lite.py"), "--data-dir", data]
        return [*serve, "--host", LOOPBACK, "--port", str(port)]
    if name == "null":
        return [sys.executable, str(shared_dir / "null_server.py"), str(port)]
    if name == "floor":
        floor = [sys.executable, str(BENCH_DIR / "floor_server.py"), str(port)]
        return [*floor, "--shared-dir", str(shared_dir), *floor_args]
    raise ValueError(f"unknown server {name!r}")


def launch(
    name: str,
    workdir: Path,
    shared_dir: Path,
    sluice_args: Sequence[str],
    floor_args: Sequence[str] = (),
) -> Server:
    """Start ``name`` in its own session with output going to its log file."""
    folder = workdir / name
    folder.mkdir(parents=True)
    port = None if name == "sluice" else free_port()
    argv = server_argv(name, folder, port, shared_dir, sluice_args, floor_args)
    with open(folder / "server.log", "wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ready_file = folder / "port" if name == "sluice" else None
    return Server(name=name, process=process, folder=folder, port=port, ready_file=ready_file)


def read_ready_file(path: Path) -> int | None:
    """The port Sluice wrote, or ``None`` while the file is missing or half-written."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def connect(uri: str, timeout: float | None = None) -> MilvusClient:
    """A client whose ``close()`` really closes its channel.

    pymilvus shares one channel per address and keeps it open after ``close()``; an idle
    channel then keeps sending keepalive pings, which gRPC servers answer with GOAWAY
    "too_many_pings" (log noise in the middle of a measurement).
    """
    return MilvusClient(uri=uri, timeout=timeout, dedicated=True)


def answers(uri: str, address: str) -> bool:
    """True once the port accepts a gRPC connection and pymilvus can connect through it.

    Raises ``ServerStartError`` when the port is open but pymilvus fails: that will not
    improve by waiting.
    """
    with grpc.insecure_channel(address) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=0.5)
        except grpc.FutureTimeoutError:
            return False
    try:
        client = connect(uri, timeout=10.0)
    except Exception as exc:  # a listening port that is not a Milvus endpoint will not get better
        raise ServerStartError(f"{uri} accepts connections but pymilvus fails: {exc}") from exc
    client.close()
    return True


def wait_ready(server: Server, started: float, deadline: float) -> None:
    """Block until ``server`` answers; raise with its log tail if it dies or the deadline passes."""
    while True:
        code = server.process.poll()
        if code is not None:
            server.log_shown = True
            raise ServerStartError(f"{server.name} exited with code {code}:\n{server.log_tail()}")
        if server.port is None and server.ready_file is not None:
            server.port = read_ready_file(server.ready_file)
        if server.port is not None and answers(server.uri, f"{LOOPBACK}:{server.port}"):
            server.startup_s = round(time.monotonic() - started, 2)
            return
        if time.monotonic() > deadline:
            raise ServerStartError(f"{server.name} did not answer in time:\n{server.log_tail()}")
        time.sleep(0.1)


def stop(server: Server, log: Log) -> None:
    """SIGTERM, wait for a clean exit, SIGKILL if it does not come; only this process id."""
    process = server.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            log(f"{server.name} (pid {process.pid}) ignored SIGTERM; killing it")
            process.kill()
            process.wait()
    if process.returncode not in (0, -signal.SIGTERM) and not server.log_shown:
        log(f"{server.name} exited with code {process.returncode}:\n{server.log_tail()}")


@contextlib.contextmanager
def running(
    names: Sequence[str],
    shared_dir: Path,
    sluice_args: Sequence[str],
    startup_timeout_s: float,
    log: Log,
    floor_args: Sequence[str] = (),
) -> Iterator[dict[str, Server]]:
    """Start every server in ``names``, wait until all answer, and stop them all on exit."""
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sluice-bench-")))
        servers: dict[str, Server] = {}
        started = time.monotonic()
        for name in names:
            server = launch(name, workdir, shared_dir, sluice_args, floor_args)
            stack.callback(stop, server, log)
            servers[name] = server
        deadline = started + startup_timeout_s
        for server in servers.values():
            wait_ready(server, started, deadline)
            log(f"{server.name} answers on {server.uri} (pid {server.process.pid})")
        yield servers
