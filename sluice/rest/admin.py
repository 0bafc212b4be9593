"""Sluice's own admin endpoints, for ``sluice backup|export|stats --uri``.

``POST /v2/sluice/backup {"path": DIR}`` writes a backup on the server's
machine (the engine is in this process, so the backup is consistent while
it keeps serving), ``POST /v2/sluice/export {"collectionName", "dbName",
"path"}`` writes a Parquet export, ``POST /v2/sluice/stats {}`` reports
collections, segments, sizes and index state.  Answers use the REST API's
shape (``{"code": 0, "data": ...}``).  With authorization on, only ``root``
may call them (they read every collection and write files on the server).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sluice.engine import DEFAULT_DB, ROOT_USER, backup, engine_stats, export_collection
from sluice.errors import AuthenticationFailed, BackupError, RestNeedAuthenticate, SluiceError
from sluice.rest.gateway import Gateway, credentials_header

PREFIX = "/v2/sluice"


def _answer(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def stats_json(engine: Any) -> dict[str, Any]:
    stats = engine_stats(engine)
    return {
        "collections": [dataclasses.asdict(c) for c in stats.collections],
        "segmentsByState": stats.segments_by_state,
        "memoryBytes": stats.memory_bytes,
        "searchPlans": stats.search_plans,
        "filterMasks": stats.filter_masks,
    }


def admin_routes(gateway: Gateway) -> list[Route]:
    engine = gateway.servicer.engine
    access = gateway.gate.access

    def guarded(work: Callable[[dict[str, Any]], Any]) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            if access is not None:
                header = credentials_header(request.headers.get("authorization", ""), None)
                try:
                    user = access.authenticate(header or None)
                except AuthenticationFailed:
                    err = RestNeedAuthenticate()
                    return _answer({"code": err.code, "message": err.message}, 401)
                if user != ROOT_USER:
                    return _answer({"code": 65535, "message": "only root may do this"}, 403)
            raw = await request.body()
            try:
                body = orjson.loads(raw) if raw.strip() else {}
            except orjson.JSONDecodeError as exc:
                return _answer({"code": 1801, "message": f"not JSON: {exc}"})
            try:
                data = await run_in_threadpool(work, body if isinstance(body, dict) else {})
            except SluiceError as err:
                return _answer({"code": err.code, "message": err.message})
            except OSError as exc:
                return _answer({"code": 1001, "message": f"IO failed: {exc}"})
            return _answer({"code": 0, "data": data})

        return handle

    def path_of(body: dict[str, Any]) -> Path:
        path = body.get("path")
        if not isinstance(path, str) or not path:
            raise BackupError('"path" is required: a folder or file on the server')
        return Path(path)

    def do_backup(body: dict[str, Any]) -> Any:
        return dataclasses.asdict(backup(engine, path_of(body)))

    def do_export(body: dict[str, Any]) -> Any:
        rows = export_collection(
            engine,
            str(body.get("dbName") or DEFAULT_DB),
            str(body.get("collectionName", "")),
            path_of(body),
        )
        return {"rows": rows, "path": str(body.get("path", ""))}

    return [
        Route(f"{PREFIX}/backup", guarded(do_backup), methods=["POST"]),
        Route(f"{PREFIX}/export", guarded(do_export), methods=["POST"]),
        Route(f"{PREFIX}/stats", guarded(lambda body: stats_json(engine)), methods=["POST"]),
    ]
