"""Serving the HTTP application with uvicorn on a thread of the gRPC server's process.

One process serves gRPC on its port and HTTP on ``[http] port``: the REST
handlers call the same servicer object (and so the same engine) the gRPC
server uses.  uvicorn runs its event loop on a daemon thread; signals stay
with the main thread, which stops this server before closing the engine.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette

from sluice.api.access import Gate
from sluice.api.metrics import metrics_registry
from sluice.api.servicer import SluiceServicer
from sluice.config import HttpSettings
from sluice.rest.gateway import Gateway

log = logging.getLogger(__name__)


class HttpServer:
    """A uvicorn server on its own thread, started on an already-bound socket."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        # proto IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only
        # when it sees it, and without it every response waits on the client's delayed ACK.
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self._socket.bind((host.strip("[]"), port))
        except OSError:
            self._socket.close()
            raise
        self._socket.listen(128)
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="sluice-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


def http_frontend(
    settings: HttpSettings, host: str
) -> Callable[[SluiceServicer, Gate], HttpServer]:
    """The factory :func:`sluice.api.server.start` calls once the servicer exists."""

    def make(servicer: SluiceServicer, gate: Gate) -> HttpServer:
        from sluice.rest.admin import admin_routes
        from sluice.rest.app import build_app

        registry = metrics_registry(servicer.engine)
        gateway = Gateway(servicer, gate)
        app = build_app(gateway, registry, settings.max_body_bytes, admin_routes(gateway))
        server = HttpServer(app, host, settings.port)
        server.start()
        return server

    return make
