"""Running Sluice as a gRPC server, with a clean shutdown on SIGTERM/SIGINT.

Shutdown order: stop accepting new RPCs and give in-flight ones a grace
period (``grpc.Server.stop(grace)``), then close the engine, which persists
everything buffered and releases the data folder.  The next start replays
nothing that was persisted.
"""

from __future__ import annotations

import logging
import signal
import threading
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
            # pymilvus pings every 10 s even while idle; gRPC's default server policy
            # (one ping per 5 minutes) answers that with GOAWAY "too_many_pings" and
            # drops idle clients.  Milvus's proxy allows pings every 5 s, idle included.
            ("grpc.http2.min_ping_interval_without_data_ms", 5000),
            ("grpc.keepalive_permit_without_calls", 1),
        ],
    )
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(SluiceServicer(engine), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    server.start()
    log.info("Sluice serving the Milvus API on %s:%d", host, bound)
    return RunningServer(server, engine, bound)


def serve_forever(engine: Engine, host: str, port: int, *, ready_file: str | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then shut down cleanly."""
    running = start(engine, host, port)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if ready_file:
        with open(ready_file, "w") as fh:
            fh.write(str(running.port))
    print(f"Sluice listening on {host}:{running.port}", flush=True)
    stop.wait()
    running.stop()
    log.info("shutdown complete")
