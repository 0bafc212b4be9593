"""``/partitions/...``, ``/indexes/...`` and ``/aliases/...``."""

from __future__ import annotations

from typing import Any

from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.rest.body import OBJECT, STRINGS, Key
from sluice.rest.gateway import Call, Gateway, RestFailure
from sluice.rest.registry import endpoint, ok
from sluice.rest.routes_collections import index_extra_params, kv_pairs, row_count

DB = Key("dbName")
COLLECTION = Key("collectionName", required=True)
PARTITION = Key("partitionName", required=True)

_INDEX_STATES = {v: k for k, v in common_pb2.IndexState.items()}

# --- partitions ---------------------------------------------------------------------


@endpoint("/partitions/list", "CollectionNameReq", DB, COLLECTION, Key("partitionNames", STRINGS))
def list_partitions(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.ShowPartitionsRequest(
        db_name=call.db, collection_name=req["collectionName"]
    )
    return ok(list(gw.call("ShowPartitions", request, call.ctx).partition_names))


@endpoint("/partitions/has", "PartitionReq", DB, COLLECTION, PARTITION)
def has_partition(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.HasPartitionRequest(
        db_name=call.db, collection_name=req["collectionName"], partition_name=req["partitionName"]
    )
    return ok({"has": bool(gw.call("HasPartition", request, call.ctx).value)})


@endpoint("/partitions/get_stats", "PartitionReq", DB, COLLECTION, PARTITION)
def partition_stats(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.GetPartitionStatisticsRequest(
        db_name=call.db, collection_name=req["collectionName"], partition_name=req["partitionName"]
    )
    return row_count(gw.call("GetPartitionStatistics", request, call.ctx).stats)


@endpoint("/partitions/create", "PartitionReq", DB, COLLECTION, PARTITION)
def create_partition(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.CreatePartitionRequest(
        db_name=call.db, collection_name=req["collectionName"], partition_name=req["partitionName"]
    )
    gw.call("CreatePartition", request, call.ctx)
    return ok()


@endpoint("/partitions/drop", "PartitionReq", DB, COLLECTION, PARTITION)
def drop_partition(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.DropPartitionRequest(
        db_name=call.db, collection_name=req["collectionName"], partition_name=req["partitionName"]
    )
    gw.call("DropPartition", request, call.ctx)
    return ok()


PARTITIONS = ("PartitionsReq", DB, COLLECTION, Key("partitionNames", STRINGS, True))


@endpoint("/partitions/load", *PARTITIONS)
def load_partitions(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.LoadPartitionsRequest(
        db_name=call.db,
        collection_name=req["collectionName"],
        partition_names=req["partitionNames"],
    )
    gw.call("LoadPartitions", request, call.ctx)
    return ok()


@endpoint("/partitions/release", *PARTITIONS)
def release_partitions(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.ReleasePartitionsRequest(
        db_name=call.db,
        collection_name=req["collectionName"],
        partition_names=req["partitionNames"],
    )
    gw.call("ReleasePartitions", request, call.ctx)
    return ok()


# --- indexes ------------------------------------------------------------------------


@endpoint("/indexes/list", "CollectionNameReq", DB, COLLECTION, Key("partitionNames", STRINGS))
def list_indexes(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.DescribeIndexRequest(
        db_name=call.db, collection_name=req["collectionName"]
    )
    response = gw.call_raw("DescribeIndex", request, call.ctx)
    if response.status.code == 700:  # no index yet: an empty list, as Milvus answers
        return ok([])
    if response.status.code:
        raise RestFailure(response.status.code, response.status.reason)
    return ok([d.index_name for d in response.index_descriptions])


INDEX = ("IndexReq", DB, COLLECTION, Key("indexName", required=True))


@endpoint("/indexes/describe", *INDEX)
def describe_index(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.DescribeIndexRequest(
        db_name=call.db, collection_name=req["collectionName"], index_name=req["indexName"]
    )
    infos = []
    for d in gw.call("DescribeIndex", request, call.ctx).index_descriptions:
        params = {kv.key: kv.value for kv in d.params}
        infos.append(
            {
                "indexName": d.index_name,
                "fieldName": d.field_name,
                "indexType": params.get("index_type", ""),
                "metricType": params.get("metric_type", ""),
                "totalRows": d.total_rows,
                "pendingRows": d.pending_index_rows,
                "indexedRows": d.indexed_rows,
                "indexState": _INDEX_STATES.get(d.state, ""),
                "failReason": d.index_state_fail_reason,
            }
        )
    return ok(infos)


@endpoint(
    "/indexes/create",
    "IndexParamReq",
    DB,
    COLLECTION,
    Key("indexParams", "[]httpserver.IndexParam", True),
)
def create_index(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    for param in req["indexParams"]:
        if not isinstance(param, dict) or not param.get("fieldName"):
            raise RestFailure(
                1802,
                "missing required parameters, error: Key: 'IndexParamReq.IndexParams[0].FieldName'"
                " Error:Field validation for 'FieldName' failed on the 'required' tag",
            )
        request = milvus_pb2.CreateIndexRequest(
            db_name=call.db,
            collection_name=req["collectionName"],
            field_name=param["fieldName"],
            index_name=param.get("indexName") or "",
            extra_params=index_extra_params(param),
        )
        gw.call("CreateIndex", request, call.ctx)
    return ok()


@endpoint("/indexes/drop", *INDEX)
def drop_index(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.DropIndexRequest(
        db_name=call.db, collection_name=req["collectionName"], index_name=req["indexName"]
    )
    gw.call("DropIndex", request, call.ctx)
    return ok()


@endpoint(
    "/indexes/alter_properties",
    "IndexReqWithProperties",
    DB,
    COLLECTION,
    Key("indexName", required=True),
    Key("properties", OBJECT),
)
def alter_index(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.AlterIndexRequest(
        db_name=call.db,
        collection_name=req["collectionName"],
        index_name=req["indexName"],
        extra_params=kv_pairs(req["properties"]),
    )
    gw.call("AlterIndex", request, call.ctx)
    return ok()


@endpoint(
    "/indexes/drop_properties",
    "DropIndexPropertiesReq",
    DB,
    COLLECTION,
    Key("indexName", required=True),
    Key("propertyKeys", STRINGS),
)
def drop_index_properties(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.AlterIndexRequest(
        db_name=call.db,
        collection_name=req["collectionName"],
        index_name=req["indexName"],
        delete_keys=req["propertyKeys"] or [],
    )
    gw.call("AlterIndex", request, call.ctx)
    return ok()


# --- aliases ------------------------------------------------------------------------


@endpoint("/aliases/list", "OptionalCollectionNameReq", DB, Key("collectionName"))
def list_aliases(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.ListAliasesRequest(
        db_name=call.db, collection_name=req["collectionName"] or ""
    )
    return ok(list(gw.call("ListAliases", request, call.ctx).aliases))


ALIAS = Key("aliasName", required=True)


@endpoint("/aliases/describe", "AliasReq", DB, ALIAS)
def describe_alias(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.DescribeAliasRequest(db_name=call.db, alias=req["aliasName"])
    resp = gw.call("DescribeAlias", request, call.ctx)
    return ok({"dbName": resp.db_name, "collectionName": resp.collection, "aliasName": resp.alias})


@endpoint("/aliases/create", "AliasCollectionReq", DB, COLLECTION, ALIAS)
def create_alias(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.CreateAliasRequest(
        db_name=call.db, collection_name=req["collectionName"], alias=req["aliasName"]
    )
    gw.call("CreateAlias", request, call.ctx)
    return ok()


@endpoint("/aliases/drop", "AliasReq", DB, ALIAS)
def drop_alias(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    gw.call(
        "DropAlias", milvus_pb2.DropAliasRequest(db_name=call.db, alias=req["aliasName"]), call.ctx
    )
    return ok()


@endpoint("/aliases/alter", "AliasCollectionReq", DB, COLLECTION, ALIAS)
def alter_alias(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.AlterAliasRequest(
        db_name=call.db, collection_name=req["collectionName"], alias=req["aliasName"]
    )
    gw.call("AlterAlias", request, call.ctx)
    return ok()
