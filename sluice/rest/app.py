"""The HTTP application: Milvus's RESTful API v2, ``/healthz`` and ``/metrics``.

Every ``POST /v2/vectordb/<category>/<action>`` request is

1. authenticated once when authorization is on (HTTP Basic, or
   ``Authorization: Bearer user:password``): a missing or wrong credential is
   HTTP 401 with code 1800, as Milvus answers;
2. bound to its Go request struct (:mod:`sluice.rest.body`), refusals with
   codes 1801/1802;
3. handed to its handler in a worker thread (handlers call the gRPC servicer,
   which may block on a WAL fsync or a flush), with the database from the body's
   ``dbName``, else the ``DB-Name`` header, else ``default``;
4. answered with ``{"code": 0, "data": ...}``, or ``{"code": N, "message": ...}``
   and HTTP 200 for Milvus errors (401/403 for refused credentials/privileges).

Admin routes (``/v2/sluice/...``: backup) are Sluice's own and need root when
authorization is on.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sluice import telemetry
from sluice.api.logsafe import escape_control
from sluice.api.metrics import CONTENT_TYPE, render
from sluice.engine import DEFAULT_DB
from sluice.errors import AuthenticationFailed, RestNeedAuthenticate, SluiceError
from sluice.rest import (
    routes_access,
    routes_collections,
    routes_databases,
    routes_entities,
    routes_jobs,
    routes_schema,
)
from sluice.rest.gateway import (
    DEFAULT_TIMEOUT,
    TIMEOUT_HEADER,
    Call,
    Gateway,
    RestContext,
    RestFailure,
    credentials_header,
)
from sluice.rest.registry import ROUTES, Endpoint

log = logging.getLogger("sluice.rest")

#: Modules whose import registers endpoints (kept referenced so linters keep the imports).
_ROUTE_MODULES = (
    routes_access,
    routes_collections,
    routes_databases,
    routes_entities,
    routes_jobs,
    routes_schema,
)
PREFIX = "/v2/vectordb"
_DB_HEADER = "db-name"
_INT64_HEADER = "accept-type-allow-int64"


class JsonAnswer(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def _failure(code: int, message: str, status: int = 200) -> JsonAnswer:
    return JsonAnswer({"code": code, "message": message}, status_code=status)


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if user and password else None


def build_app(
    gateway: Gateway,
    registry: CollectorRegistry,
    max_body_bytes: int,
    admin_routes: list[Route] | None = None,
) -> Starlette:
    access = gateway.gate.access

    async def vectordb(request: Request) -> Response:
        started = time.perf_counter()
        path = request.url.path
        response = await _vectordb(request, path[len(PREFIX) :])
        telemetry.HTTP_LATENCY.observe(
            (path if path[len(PREFIX) :] in ROUTES else "unknown", str(response.status_code)),
            time.perf_counter() - started,
        )
        return response

    async def _vectordb(request: Request, path: str) -> Response:
        endpoint = ROUTES.get(path)
        if endpoint is None:
            return PlainTextResponse("404 page not found", status_code=404)
        authorization = credentials_header(
            request.headers.get("authorization", ""), _basic(request)
        )
        if access is not None:
            try:
                access.authenticate(authorization or None)
            except AuthenticationFailed:
                err = RestNeedAuthenticate()
                return _failure(err.code, err.message, 401)
        raw = await request.body()
        if len(raw) > max_body_bytes:
            return _failure(
                1801, f"request body too large: {len(raw)} > {max_body_bytes} bytes", 413
            )
        return await run_in_threadpool(_answer, endpoint, raw, request.headers, authorization)

    def _answer(endpoint: Endpoint, raw: bytes, headers: Any, authorization: str) -> Response:
        try:
            body = endpoint.struct.bind(raw)
            db = body.get("dbName") or headers.get(_DB_HEADER) or DEFAULT_DB
            try:
                timeout = float(headers.get(TIMEOUT_HEADER, DEFAULT_TIMEOUT))
            except ValueError:
                timeout = DEFAULT_TIMEOUT
            metadata = {"dbname": db}
            if authorization:
                metadata["authorization"] = authorization
            int64 = headers.get(_INT64_HEADER, "true").lower() not in ("false", "0")
            call = Call(RestContext(metadata, timeout), db, int64)
            return JsonAnswer(endpoint.handler(gateway, body, call))
        except RestFailure as failure:
            return _failure(failure.code, failure.message, failure.http_status)
        except SluiceError as err:
            return _failure(err.code, err.message)
        except Exception as exc:
            log.exception("REST %s crashed", escape_control(endpoint.struct.name))
            return _failure(65535, f"unexpected error: {exc}")

    async def healthz(request: Request) -> Response:
        if "application/json" in request.headers.get("accept", ""):
            return JsonAnswer({"state": "OK", "detail": [{"name": "standalone", "code": 1}]})
        return PlainTextResponse("OK")

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(render, registry)
        return Response(body, media_type=CONTENT_TYPE)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route(PREFIX + "/{path:path}", vectordb, methods=["POST"]),
        *(admin_routes or []),
    ]
    return Starlette(routes=routes)
