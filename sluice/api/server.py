"""Running Sluice as a gRPC server, with a clean shutdown on SIGTERM/SIGINT.

Start-up reads the ``[security]``, ``[quota]`` and ``[grpc]`` settings: with
authorization on (the default for any address but loopback) every RPC must
carry valid credentials and the privilege its object needs; ``tls_mode`` 1
and 2 serve TLS and mutual TLS through gRPC's own credentials; quotas and
message-size limits apply to every request.  Certificates and keys are
loaded and checked before the port opens, so a bad file stops start-up
with a message naming the setting.

Shutdown order: stop accepting new RPCs and give in-flight ones a grace
period (``grpc.Server.stop(grace)``), then close the engine, which persists
everything buffered and releases the data folder.  The next start replays
nothing that was persisted.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import ssl
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from pymilvus.grpc_gen import milvus_pb2_grpc

from sluice.api.access import AccessInterceptor
from sluice.api.servicer import SluiceServicer
from sluice.config import SecuritySettings, TlsMode
from sluice.engine.engine import Engine
from sluice.engine.ratelimit import QuotaLimiter

log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    server: grpc.Server
    engine: Engine
    port: int

    def stop(self, grace: float = 10.0) -> None:
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


def start(engine: Engine, host: str, port: int, workers: int = 16) -> RunningServer:
    settings = engine.settings
    credentials = server_credentials(settings.security)
    auth = authorization_enabled(settings.security, host)
    access = engine.access if auth else None
    quota = QuotaLimiter(settings.quota)
    interceptors = []
    if access is not None or quota.enabled:
        interceptors.append(AccessInterceptor(access, quota))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sluice-rpc"),
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", settings.grpc.server_max_recv_size),
            ("grpc.max_send_message_length", settings.grpc.server_max_send_size),
            ("grpc.so_reuseport", 0),
        ],
    )
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(SluiceServicer(engine), server)
    address = f"{host}:{port}"
    if credentials is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, credentials)
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    server.start()
    log.info(
        "Sluice serving the Milvus API on %s:%d (authorization %s, TLS mode %d)",
        host,
        bound,
        "on" if auth else "off",
        settings.security.tls_mode,
    )
    if access is not None and access.has_password("root", b"Milvus"):
        log.warning("user root still has the default password; change it with UpdateCredential")
    if not auth and not is_loopback(host):
        log.warning(
            "authorization is off on %s: anyone who can reach the port has full access", host
        )
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
