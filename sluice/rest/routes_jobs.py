"""``/jobs/import/...``: create, list, describe and get_progress of bulk import jobs.

Milvus's REST layer calls ImportV2, ListImports and GetImportProgress, which
are proxy calls outside MilvusService; their privileges are checked on the
``*AuthPlaceholder`` messages (Import on the collection, ListImport and
GetImportProgress globally), then the jobs are read the way those calls
report them (job IDs as strings, progress 0-100, one ``details`` entry per
batch).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymilvus.grpc_gen import milvus_pb2

from sluice.engine import ImportJob, import_job, list_import_jobs, submit_import
from sluice.errors import ParameterInvalid
from sluice.rest.body import STR_MAP, STRING_LISTS, Key
from sluice.rest.gateway import Call, Gateway
from sluice.rest.registry import endpoint, ok


def _engine(gw: Gateway) -> Any:
    return gw.servicer.engine


@endpoint(
    "/jobs/import/create",
    "ImportReq",
    Key("dbName"),
    Key("collectionName", required=True),
    Key("partitionName"),
    Key("files", STRING_LISTS, True),
    Key("options", STR_MAP),
)
def create_job(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    placeholder = milvus_pb2.ImportAuthPlaceholder(
        db_name=call.db,
        collection_name=req["collectionName"],
        partition_name=req["partitionName"] or "",
    )
    gw.admit("ImportAuthPlaceholder", placeholder, call.ctx)
    job_id = submit_import(
        _engine(gw),
        call.db,
        req["collectionName"],
        req["partitionName"] or "",
        req["files"],
        req["options"] or {},
    )
    return ok({"jobId": str(job_id)})


@endpoint("/jobs/import/list", "OptionalCollectionNameReq", Key("dbName"), Key("collectionName"))
def list_jobs(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    placeholder = milvus_pb2.ListImportsAuthPlaceholder(
        db_name=call.db, collection_name=req["collectionName"] or ""
    )
    gw.admit("ListImportsAuthPlaceholder", placeholder, call.ctx)
    records = []
    for job in list_import_jobs(_engine(gw), call.db, req["collectionName"] or ""):
        record: dict[str, Any] = {
            "jobId": str(job.job_id),
            "collectionName": job.collection_name,
            "state": job.state,
            "progress": job.progress,
        }
        if job.reason:
            record["reason"] = job.reason
        records.append(record)
    return ok({"records": records})


def _time(ms: int) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _progress(job: ImportJob) -> dict[str, Any]:
    data: dict[str, Any] = {
        "jobId": str(job.job_id),
        "collectionName": job.collection_name,
        "completeTime": _time(job.completed_ms),
        "state": job.state,
        "progress": job.progress,
        "importedRows": job.imported_rows,
        "totalRows": job.total_rows,
    }
    if job.reason:
        data["reason"] = job.reason
    sizes = iter(job.file_sizes)
    details = []
    for batch in job.files:
        size = sum(next(sizes, 0) for _ in batch)
        detail: dict[str, Any] = {
            "fileName": ",".join(batch),
            "fileSize": size,
            "progress": job.progress,
            "completeTime": _time(job.completed_ms),
            "state": job.state,
            "importedRows": job.imported_rows if len(job.files) == 1 else 0,
            "totalRows": job.total_rows if len(job.files) == 1 else 0,
        }
        if job.reason:
            detail["reason"] = job.reason
        details.append(detail)
    data["fileSize"] = sum(job.file_sizes)
    data["details"] = details
    return data


def describe_job(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    gw.admit(
        "GetImportProgressAuthPlaceholder",
        milvus_pb2.GetImportProgressAuthPlaceholder(db_name=call.db),
        call.ctx,
    )
    try:
        job_id = int(req["jobId"])
    except ValueError:
        raise ParameterInvalid.msg(f"parse job id failed: {req['jobId']}") from None
    return ok(_progress(import_job(_engine(gw), job_id)))


JOB = ("JobIDReq", Key("jobId", required=True, go_name="JobID"))
endpoint("/jobs/import/describe", *JOB)(describe_job)
endpoint("/jobs/import/get_progress", *JOB)(describe_job)
