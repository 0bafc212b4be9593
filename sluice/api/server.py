"""Running Sluice as a gRPC server, with a clean shutdown on SIGTERM/SIGINT.

Start-up reads the ``[security]``, ``[quota]`` and ``[grpc]`` settings: with
authorization on (the default for any address but loopback) every RPC must
carry valid credentials and the privilege its object needs; ``tls_mode`` 1
and 2 serve TLS and mutual TLS through gRPC's own credentials; quotas and
message-size limits apply to every request.  Certificates and keys are
loaded and checked before the port opens, so a bad file stops start-up
with a message naming the setting.

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

import ipaddress
import logging
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc
from pymilvus.grpc_gen import milvus_pb2_grpc

from sluice import telemetry
from sluice.api.access import AccessInterceptor, Gate
from sluice.api.servicer import SluiceServicer
from sluice.config import SecuritySettings, TlsMode
from sluice.engine import Engine, QuotaLimiter

log = logging.getLogger(__name__)


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


class HttpFrontend(Protocol):
    """What the gRPC server needs of the HTTP side (``sluice.rest`` provides it)."""

    port: int

    def stop(self) -> None: ...


#: Builds the HTTP side from the servicer and the gate (``None``: no HTTP).
HttpFactory = Callable[[SluiceServicer, Gate], HttpFrontend]


@dataclass
class RunningServer:
    server: grpc.Server
    engine: Engine
    port: int
    http: HttpFrontend | None = None

    def stop(self, grace: float = 10.0) -> None:
        if self.http is not None:
            self.http.stop()
        self.server.stop(grace).wait()
        self.engine.close()


def is_loopback(host: str) -> bool:
    """Whether ``host`` reaches only this machine (an unknown name counts as not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def authorization_enabled(security: SecuritySettings, host: str) -> bool:
    if security.authorization_enabled is not None:
        return security.authorization_enabled
    return not is_loopback(host)


def server_credentials(security: SecuritySettings) -> grpc.ServerCredentials | None:
    """gRPC TLS credentials for ``tls_mode`` 1 or 2, after checking the files load."""
    if security.tls_mode == TlsMode.OFF:
        return None
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.load_cert_chain(security.server_pem_path, security.server_key_path)
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(
            "security.server_pem_path / security.server_key_path: cannot load the certificate "
            f"and key ({exc})"
        ) from None
    key = Path(security.server_key_path).read_bytes()
    chain = Path(security.server_pem_path).read_bytes()
    if security.tls_mode == TlsMode.ONE_WAY:
        return grpc.ssl_server_credentials([(key, chain)])
    try:
        probe.load_verify_locations(security.ca_pem_path)
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"security.ca_pem_path: cannot load the CA bundle ({exc})") from None
    ca = Path(security.ca_pem_path).read_bytes()
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=ca, require_client_auth=True
    )


def start(
    engine: Engine,
    host: str,
    port: int,
    workers: int = 16,
    *,
    http: HttpFactory | None = None,
) -> RunningServer:
    logging.getLogger("grpc._common").addFilter(_UnparsableRequests())
    settings = engine.settings
    telemetry.RPC_LATENCY.enabled = telemetry.HTTP_LATENCY.enabled = settings.http.metrics
    credentials = server_credentials(settings.security)
    auth = authorization_enabled(settings.security, host)
    gate = Gate(engine.access if auth else None, QuotaLimiter(settings.quota))
    interceptors = []
    if gate.active:
        interceptors.append(AccessInterceptor(gate))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sluice-rpc"),
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", settings.grpc.server_max_recv_size),
            ("grpc.max_send_message_length", settings.grpc.server_max_send_size),
            ("grpc.so_reuseport", 0),
            # pymilvus pings every 10 s even while idle; gRPC's default server policy
            # (one ping per 5 minutes) answers that with GOAWAY "too_many_pings" and
            # drops idle clients.  Milvus's proxy allows pings every 5 s, idle included.
            ("grpc.http2.min_ping_interval_without_data_ms", 5000),
            ("grpc.keepalive_permit_without_calls", 1),
        ],
    )
    servicer = SluiceServicer(engine)
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(servicer, server)
    address = f"{host}:{port}"
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise PortUnavailable(f"cannot listen on {host}:{port} (address in use or not available)")
    frontend = http(servicer, gate) if http is not None else None
    server.start()
    log.info(
        "Sluice serving the Milvus API on %s:%d (authorization %s, TLS mode %d)",
        host,
        bound,
        "on" if auth else "off",
        settings.security.tls_mode,
    )
    if frontend is not None:
        log.info(
            "HTTP on %s:%d: RESTful API v2 (/v2/vectordb), /metrics, /healthz",
            host,
            frontend.port,
        )
    access = gate.access
    if access is not None and access.has_password("root", b"Milvus"):
        log.warning("user root still has the default password; change it with UpdateCredential")
    if not auth and not is_loopback(host):
        log.warning(
            "authorization is off on %s: anyone who can reach the port has full access", host
        )
    return RunningServer(server, engine, bound, frontend)


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
    open_engine: Callable[[], Engine],
    host: str,
    port: int,
    *,
    ready_file: str | None = None,
    http: HttpFactory | None = None,
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
        running = start(engine, host, port, http=http)
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
