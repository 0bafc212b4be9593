"""Operations RPCs: GetMetrics, GetComponentStates, and bulk import (Import, GetImportState,
ListImportTasks).

GetMetrics answers ``{"metric_type": "system_info"}`` with Milvus's
``SystemTopology`` JSON (``nodes_info[].infos`` with ``hardware_infos``,
``system_info``, ``type``...), which Attu and birdwatcher read; Sluice is one
standalone node, reported as the proxy with the coordinators and workers it
stands in for connected to it.  Other metric types are refused with
Milvus's wording.

Import is Milvus's v1 call on top of the v2 jobs (:mod:`sluice.engine.import_jobs`):
one job per request, its ID the one "task" in the response.  NumPy files form
one batch (a folder of ``<field>.npy``); any other file is a batch of its own.
"""

from __future__ import annotations

import os
import platform
import time
from datetime import UTC, datetime

import grpc
import orjson
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice import __version__
from sluice.api.base import db_name, rpc
from sluice.api.status import SUCCESS
from sluice.engine import (
    Engine,
    ImportJob,
    engine_stats,
    import_job,
    list_import_jobs,
    resident_memory_bytes,
    submit_import,
)
from sluice.errors import RequestError

#: Milvus's ``ImportState`` for each job state (the v1 view of a v2 job).
_V1_STATES = {
    "Pending": common_pb2.ImportState.ImportPending,
    "PreImporting": common_pb2.ImportState.ImportStarted,
    "Importing": common_pb2.ImportState.ImportStarted,
    "Completed": common_pb2.ImportState.ImportCompleted,
    "Failed": common_pb2.ImportState.ImportFailed,
}
_STARTED = time.time()
_NODE_ID = 1
#: The roles one Sluice process plays in a Milvus deployment.
_ROLES = ("proxy", "rootcoord", "datacoord", "querycoord", "datanode", "querynode")


def file_batches(files: list[str]) -> list[list[str]]:
    """Milvus v1 Import: NumPy files together as one batch, every other file alone."""
    files = [f for f in files if f]
    if files and all(f.lower().endswith(".npy") for f in files):
        return [files]
    return [[f] for f in files]


def import_state(job: ImportJob) -> milvus_pb2.GetImportStateResponse:
    infos = {
        "failed_reason": job.reason,
        "progress_percent": str(job.progress),
        "files": ",".join(f for batch in job.files for f in batch),
        "collection": job.collection_name,
        "partition": job.partition,
    }
    return milvus_pb2.GetImportStateResponse(
        status=SUCCESS,
        state=_V1_STATES[job.state],
        row_count=job.imported_rows,
        infos=[common_pb2.KeyValuePair(key=k, value=v) for k, v in infos.items()],
        id=job.job_id,
        collection_id=job.collection_id,
        segment_ids=job.segment_ids,
        create_ts=job.created_ms // 1000,
    )


def _time_text(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S.%f %z")


def system_info(engine: Engine) -> bytes:
    """Milvus's ``SystemTopology`` for one standalone node."""
    stats = engine_stats(engine)
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        pages = 0
    disk = os.statvfs(engine.settings.data_dir)
    hardware = {
        "ip": platform.node(),
        "cpu_core_count": cores,
        "cpu_core_usage": round(min(100.0, 100.0 * load / cores), 2),
        "memory": pages,
        "memory_usage": resident_memory_bytes(),
        "disk": disk.f_blocks * disk.f_frsize,
        "disk_usage": (disk.f_blocks - disk.f_bavail) * disk.f_frsize,
    }
    deploy = {
        "system_version": f"sluice-{__version__}",
        "deploy_mode": "STANDALONE",
        "build_version": __version__,
        "build_time": "",
        "used_go_version": f"python {platform.python_version()}",
    }
    nodes = []
    for index, role in enumerate(_ROLES):
        infos = {
            "has_error": False,
            "error_reason": "",
            "name": f"{role}{_NODE_ID}",
            "hardware_infos": hardware,
            "system_info": deploy,
            "created_time": _time_text(_STARTED),
            "updated_time": _time_text(time.time()),
            "type": role,
            "id": _NODE_ID,
        }
        if role == "querynode":
            infos["quota_metrics"] = {"rows": sum(c.rows for c in stats.collections)}
        node = {"identifier": _NODE_ID, "connected": [], "infos": infos}
        if index == 0:
            node["connected"] = [
                {"connected_identifier": _NODE_ID, "type": "forward", "target_type": other}
                for other in _ROLES[1:]
            ]
        nodes.append(node)
    return orjson.dumps({"nodes_info": nodes})


class OpsRpcs:
    engine: Engine

    @rpc
    def GetMetrics(
        self, request: milvus_pb2.GetMetricsRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetMetricsResponse:
        try:
            asked = orjson.loads(request.request or b"{}")
            metric = asked.get("metric_type") if isinstance(asked, dict) else None
        except orjson.JSONDecodeError:
            metric = None
        if not isinstance(metric, str):
            raise RequestError("failed to parse metric type")
        if metric != "system_info":
            raise RequestError("sorry, but this metric type is not implemented")
        return milvus_pb2.GetMetricsResponse(
            status=SUCCESS,
            response=system_info(self.engine).decode(),
            component_name=f"proxy{_NODE_ID}",
        )

    @rpc
    def GetComponentStates(
        self, request: milvus_pb2.GetComponentStatesRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.ComponentStates:
        healthy = common_pb2.StateCode.Healthy
        return milvus_pb2.ComponentStates(
            status=SUCCESS,
            state=milvus_pb2.ComponentInfo(nodeID=_NODE_ID, role="proxy", state_code=healthy),
            subcomponent_states=[
                milvus_pb2.ComponentInfo(nodeID=_NODE_ID, role=role, state_code=healthy)
                for role in _ROLES[1:]
            ],
        )

    @rpc
    def Import(
        self, request: milvus_pb2.ImportRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.ImportResponse:
        db = db_name(request.db_name, context)
        job_id = submit_import(
            self.engine,
            db,
            request.collection_name,
            request.partition_name,
            file_batches(list(request.files)),
            {kv.key: kv.value for kv in request.options},
        )
        return milvus_pb2.ImportResponse(status=SUCCESS, tasks=[job_id])

    @rpc
    def GetImportState(
        self, request: milvus_pb2.GetImportStateRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetImportStateResponse:
        return import_state(import_job(self.engine, request.task))

    @rpc
    def ListImportTasks(
        self, request: milvus_pb2.ListImportTasksRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.ListImportTasksResponse:
        db = db_name(request.db_name, context)
        jobs = list_import_jobs(self.engine, db, request.collection_name, request.limit)
        return milvus_pb2.ListImportTasksResponse(
            status=SUCCESS, tasks=[import_state(job) for job in jobs]
        )
