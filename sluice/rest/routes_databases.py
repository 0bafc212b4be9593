"""``/databases/...``, and ``/collections/flush|compact|get_compaction_state``."""

from __future__ import annotations

from typing import Any

from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.rest.body import BOOL, OBJECT, Key
from sluice.rest.gateway import Call, Gateway
from sluice.rest.registry import endpoint, ok
from sluice.rest.routes_collections import COLLECTION, DB, describe_schema, kv_json, kv_pairs

# --- databases ---------------------------------------------------------------------


REQUIRED_DB = Key("dbName", required=True)


@endpoint("/databases/create", "DatabaseReqWithProperties", REQUIRED_DB, Key("properties", OBJECT))
def create_database(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.CreateDatabaseRequest(
        db_name=call.db, properties=kv_pairs(req["properties"])
    )
    gw.call("CreateDatabase", request, call.ctx)
    return ok()


@endpoint("/databases/drop", "DatabaseReqRequiredName", REQUIRED_DB)
def drop_database(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    gw.call("DropDatabase", milvus_pb2.DropDatabaseRequest(db_name=call.db), call.ctx)
    return ok()


@endpoint("/databases/list", "EmptyReq")
def list_databases(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    resp = gw.call("ListDatabases", milvus_pb2.ListDatabasesRequest(), call.ctx)
    return ok(list(resp.db_names))


@endpoint("/databases/describe", "DatabaseReqRequiredName", REQUIRED_DB)
def describe_database(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    resp = gw.call(
        "DescribeDatabase", milvus_pb2.DescribeDatabaseRequest(db_name=call.db), call.ctx
    )
    return ok({"dbName": resp.db_name, "dbID": resp.dbID, "properties": kv_json(resp.properties)})


@endpoint("/databases/alter", "DatabaseReqWithProperties", REQUIRED_DB, Key("properties", OBJECT))
def alter_database(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.AlterDatabaseRequest(
        db_name=call.db, properties=kv_pairs(req["properties"])
    )
    gw.call("AlterDatabase", request, call.ctx)
    return ok()


@endpoint("/collections/flush", "FlushReq", DB, COLLECTION)
def flush_collection(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.FlushRequest(db_name=call.db, collection_names=[req["collectionName"]])
    gw.call("Flush", request, call.ctx)
    return ok()


@endpoint("/collections/compact", "CompactReq", DB, COLLECTION, Key("isClustering", BOOL))
def compact(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    described = describe_schema(gw, call, req["collectionName"])
    request = milvus_pb2.ManualCompactionRequest(
        collectionID=described.collectionID,
        majorCompaction=bool(req["isClustering"]),
        collection_name=req["collectionName"],
        db_name=call.db,
    )
    response = gw.call("ManualCompaction", request, call.ctx)
    return ok({"jobID": response.compactionID})


@endpoint("/collections/get_compaction_state", "GetCompactionStateReq", Key("jobID", "int64"))
def compaction_state(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.GetCompactionStateRequest(compactionID=req["jobID"] or 0)
    response = gw.call("GetCompactionState", request, call.ctx)
    return ok(
        {
            "state": common_pb2.CompactionState.Name(response.state),
            "executingPlanNo": response.executingPlanNo,
            "timeoutPlanNo": response.timeoutPlanNo,
            "completedPlanNo": response.completedPlanNo,
            "failedPlanNo": response.failedPlanNo,
        }
    )
