"""Running Sluice as a gRPC server, with a clean shutdown on SIGTERM/SIGINT.

Shutdown order: stop accepting new RPCs and give in-flight ones a grace
period (``grpc.Server.stop(grace)``), then close the engine, which cancels
index builds at their next checkpoint, joins every background thread,
persists everything buffered and releases the data folder.  The next start
replays nothing that was persisted.

Signals: the handlers are installed before the engine opens, so a Ctrl-C
during a long recovery still ends in a clean close.  A second SIGINT or
SIGTERM while shutting down is logged and otherwise ignored: cutting the
shutdown short is what let the interpreter tear down while FAISS threads were
still running, which crashed the process after "shutdown complete".  If a
native call still cannot be joined after the engine is closed (data is safe
by then), the process leaves with ``os._exit`` instead of finalising around
running native code.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass

import grpc
from pymilvus.grpc_gen import milvus_pb2_grpc

from sluice.api.servicer import SluiceServicer
from sluice.engine import Engine

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 512 * 1024 * 1024


class _UnparsableRequests(logging.Filter):
    """Log a request whose bytes are not valid protobuf as one warning, not a traceback.

    gRPC refuses such a request itself (status INTERNAL, as Milvus's Go server
    does) and logs the parser's exception; any client can trigger that, so it
    must not read like a server fault.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Exception deserializing"):
            reason = record.exc_info[1] if record.exc_info else None
            record.msg = "refused a request that is not valid protobuf: %r"
            record.args = (str(reason),)
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.WARNING
            record.levelname = "WARNING"
        return True


class PortUnavailable(OSError):
    """The address could not be bound (in use, not local, or not allowed)."""


@dataclass
class RunningServer:
    server: grpc.Server
    engine: Engine
    port: int

    def stop(self, grace: float = 10.0) -> None:
        self.server.stop(grace).wait()
        self.engine.close()


def start(engine: Engine, host: str, port: int, workers: int = 16) -> RunningServer:
    logging.getLogger("grpc._common").addFilter(_UnparsableRequests())
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sluice-rpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(SluiceServicer(engine), server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise PortUnavailable(f"cannot listen on {host}:{port} (address in use or not available)")
    server.start()
    log.info("Sluice serving the Milvus API on %s:%d", host, bound)
    return RunningServer(server, engine, bound)


def check_port_free(host: str, port: int) -> None:
    """Fail fast, before the data folder is opened, when ``host:port`` cannot be bound."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    try:
        with socket.create_server(address[:2], family=family):
            pass
    except OSError as exc:
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def serve_forever(
    open_engine: Callable[[], Engine], host: str, port: int, *, ready_file: str | None = None
) -> None:
    """Open the engine, serve until SIGTERM or SIGINT, then shut down cleanly."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.info("received %s again; the shutdown already in progress continues", name)
            return
        log.info("received %s, shutting down", name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    check_port_free(host, port)
    engine = open_engine()
    try:
        running = start(engine, host, port)
    except BaseException:
        engine.close()
        raise
    if ready_file:
        with open(ready_file, "w") as fh:
            fh.write(str(running.port))
    print(f"Sluice listening on {host}:{running.port}", flush=True)
    stop.wait()
    running.stop()
    log.info("shutdown complete")
    if not engine.threads_stopped:
        log.warning("a native call did not return in time; leaving without finalisation")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
