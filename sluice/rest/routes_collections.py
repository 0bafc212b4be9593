"""``/collections/...``, ``/collections/fields/...`` and ``/databases/...``.

Each handler builds the request Milvus's ``handler_v2.go`` builds and shapes
the answer as it does (``describe`` gathers DescribeCollection, GetLoadState,
DescribeIndex and ListAliases; ``create`` without a schema is the quick path
with an index and a load).
"""

from __future__ import annotations

from typing import Any

import orjson
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

from sluice.errors import ParameterInvalid, RestMissingRequiredParameters, Unimplemented
from sluice.rest.body import BOOL, INT, OBJECT, STRINGS, Key
from sluice.rest.gateway import Call, Gateway, RestFailure
from sluice.rest.registry import endpoint, ok
from sluice.rest.rows import type_name

DB = Key("dbName")
COLLECTION = Key("collectionName", required=True)
PARTITIONS = Key("partitionNames", STRINGS)

_LOAD_STATES = {v: k for k, v in common_pb2.LoadState.items()}
_LEVELS = dict(common_pb2.ConsistencyLevel.items())
_DATA_TYPES = frozenset(name for name, _ in schema_pb2.DataType.items())
_FUNCTION_TYPES = frozenset(name for name, _ in schema_pb2.FunctionType.items())


def kv_pairs(values: dict[str, Any] | None) -> list[common_pb2.KeyValuePair]:
    """``{key: value}`` as Milvus's handlers pass it on (``fmt.Sprintf("%v", value)``)."""
    return [common_pb2.KeyValuePair(key=k, value=go_text(v)) for k, v in (values or {}).items()]


def go_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def kv_json(pairs: Any) -> list[dict[str, str]]:
    return [{"key": kv.key, "value": kv.value} for kv in pairs]


@endpoint("/collections/list", "DatabaseReq", DB)
def list_collections(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    resp = gw.call("ShowCollections", milvus_pb2.ShowCollectionsRequest(db_name=call.db), call.ctx)
    return ok(list(resp.collection_names))


@endpoint("/collections/has", "CollectionNameReq", DB, COLLECTION, PARTITIONS)
def has_collection(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.HasCollectionRequest(
        db_name=call.db, collection_name=req["collectionName"]
    )
    return ok({"has": bool(gw.call("HasCollection", request, call.ctx).value)})


def describe_schema(gw: Gateway, call: Call, name: str) -> milvus_pb2.DescribeCollectionResponse:
    request = milvus_pb2.DescribeCollectionRequest(db_name=call.db, collection_name=name)
    response: milvus_pb2.DescribeCollectionResponse = gw.call(
        "DescribeCollection", request, call.ctx
    )
    return response


def field_json(fld: schema_pb2.FieldSchema) -> dict[str, Any]:
    """``printFieldDetail`` for the v2 API."""
    out: dict[str, Any] = {
        "name": fld.name,
        "primaryKey": fld.is_primary_key,
        "partitionKey": fld.is_partition_key,
        "clusteringKey": fld.is_clustering_key,
        "autoId": fld.autoID,
        "description": fld.description,
        "nullable": fld.nullable,
        "type": type_name(fld.data_type),
        "id": fld.fieldID,
    }
    if fld.HasField("default_value"):
        kind = fld.default_value.WhichOneof("data")
        out["defaultValue"] = {kind: getattr(fld.default_value, kind)} if kind else {}
    if fld.is_function_output:
        out["isFunctionOutput"] = True
    if fld.type_params:
        out["params"] = kv_json(fld.type_params)
    if fld.data_type == schema_pb2.DataType.Array:
        out["elementType"] = type_name(fld.element_type)
    return out


def _index_metric(params: Any) -> str:
    return next((kv.value for kv in params if kv.key == "metric_type"), "COSINE")


@endpoint("/collections/describe", "CollectionNameReq", DB, COLLECTION, PARTITIONS)
def describe_collection(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    name = req["collectionName"]
    coll = describe_schema(gw, call, name)
    schema = coll.schema
    messages = ""
    try:
        state = gw.call(
            "GetLoadState",
            milvus_pb2.GetLoadStateRequest(db_name=call.db, collection_name=name),
            call.ctx,
        )
        load = _LOAD_STATES.get(state.state, "")
    except RestFailure as err:
        load, messages = "", messages + err.message + ";"
    vector = next((f.name for f in schema.fields if f.data_type in _VECTOR_TYPES), "")
    indexes: list[dict[str, Any]] = []
    try:
        described = gw.call(
            "DescribeIndex",
            milvus_pb2.DescribeIndexRequest(
                db_name=call.db, collection_name=name, field_name=vector
            ),
            call.ctx,
        )
        indexes = [
            {
                "indexName": d.index_name,
                "fieldName": d.field_name,
                "metricType": _index_metric(d.params),
            }
            for d in described.index_descriptions
        ]
    except RestFailure as err:
        messages += err.message + ";"
    aliases: list[str] = []
    try:
        listed = gw.call(
            "ListAliases",
            milvus_pb2.ListAliasesRequest(db_name=call.db, collection_name=name),
            call.ctx,
        )
        aliases = list(listed.aliases)
    except RestFailure as err:
        messages += err.message + "."
    primary = next((f for f in schema.fields if f.is_primary_key), None)
    data = {
        "collectionName": coll.collection_name,
        "collectionID": coll.collectionID,
        "description": schema.description,
        "autoId": bool(primary.autoID) if primary is not None else False,
        "fields": [field_json(f) for f in schema.fields if f.name != "$meta"],
        "functions": [
            {
                "name": fn.name,
                "description": fn.description,
                "type": int(fn.type),
                "id": fn.id,
                "inputFieldNames": list(fn.input_field_names),
                "outputFieldNames": list(fn.output_field_names),
                "params": kv_json(fn.params),
            }
            for fn in schema.functions
        ],
        "aliases": aliases,
        "indexes": indexes,
        "load": load,
        "shardsNum": coll.shards_num,
        "partitionsNum": coll.num_partitions,
        "consistencyLevel": common_pb2.ConsistencyLevel.Name(coll.consistency_level),
        "enableDynamicField": schema.enable_dynamic_field,
        "properties": kv_json(coll.properties),
    }
    return {"code": 0, "data": data, "message": messages}


_VECTOR_TYPES = {
    schema_pb2.DataType.FloatVector,
    schema_pb2.DataType.BinaryVector,
    schema_pb2.DataType.Float16Vector,
    schema_pb2.DataType.BFloat16Vector,
    schema_pb2.DataType.SparseFloatVector,
    schema_pb2.DataType.Int8Vector,
}


def row_count(stats: Any) -> dict[str, Any]:
    """``wrapperReturnRowCount``: the ``row_count`` stat as a number."""
    value = next((kv.value for kv in stats if kv.key == "row_count"), "0")
    try:
        return ok({"rowCount": int(value)})
    except ValueError:
        return ok({"rowCount": value})


@endpoint("/collections/get_stats", "CollectionNameReq", DB, COLLECTION, PARTITIONS)
def collection_stats(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.GetCollectionStatisticsRequest(
        db_name=call.db, collection_name=req["collectionName"]
    )
    return row_count(gw.call("GetCollectionStatistics", request, call.ctx).stats)


@endpoint("/collections/get_load_state", "CollectionNameReq", DB, COLLECTION, PARTITIONS)
def load_state(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    name = req["collectionName"]
    request = milvus_pb2.GetLoadStateRequest(db_name=call.db, collection_name=name)
    state = gw.call("GetLoadState", request, call.ctx).state
    if state == common_pb2.LoadState.LoadStateNotExist:
        raise RestFailure(100, f"collection not found[collection={name}]")
    if state == common_pb2.LoadState.LoadStateNotLoad:
        return ok({"loadState": _LOAD_STATES[state]})
    message = ""
    try:
        progress = gw.call(
            "GetLoadingProgress",
            milvus_pb2.GetLoadingProgressRequest(
                db_name=call.db,
                collection_name=name,
                partition_names=req["partitionNames"] or [],
            ),
            call.ctx,
        ).progress
    except RestFailure as err:
        progress, message = -1, err.message + "."
    loaded = "LoadStateLoaded" if progress >= 100 else "LoadStateLoading"
    return {"code": 0, "data": {"loadState": loaded, "loadProgress": progress}, "message": message}


def _schema_fields(raw_schema: dict[str, Any]) -> schema_pb2.CollectionSchema:
    """The ``schema`` object of a create request, as ``createCollection`` converts it."""
    for struct in raw_schema.get("structArrayFields") or []:
        name = struct.get("name", "") if isinstance(struct, dict) else ""
        raise Unimplemented(
            f"{Unimplemented.base_message}: the array of structs field {name} cannot be "
            "declared through the RESTful API of Sluice; create the collection over gRPC"
        )
    collection = schema_pb2.CollectionSchema(
        autoID=bool(raw_schema.get("autoID", False)),
        enable_dynamic_field=bool(raw_schema.get("enableDynamicField", False)),
    )
    outputs: list[str] = []
    for fn in raw_schema.get("functions") or []:
        kind = fn.get("type", "")
        if kind not in _FUNCTION_TYPES:
            raise ParameterInvalid.expected(
                "FunctionType", kind, "function data type is invalid(case sensitive)"
            )
        collection.functions.append(
            schema_pb2.FunctionSchema(
                name=fn.get("name", ""),
                description=fn.get("description", ""),
                type=schema_pb2.FunctionType.Value(kind),
                input_field_names=fn.get("inputFieldNames") or [],
                output_field_names=fn.get("outputFieldNames") or [],
                params=kv_pairs(fn.get("params")),
            )
        )
        outputs.extend(fn.get("outputFieldNames") or [])
    for raw in raw_schema.get("fields") or []:
        kind = raw.get("dataType", "")
        if kind not in _DATA_TYPES:
            raise ParameterInvalid(
                f"{ParameterInvalid.base_message}, data type {kind} is invalid(case sensitive)."
            )
        fld = schema_pb2.FieldSchema(
            name=raw.get("fieldName", ""),
            is_primary_key=bool(raw.get("isPrimary", False)),
            is_partition_key=bool(raw.get("isPartitionKey", False)),
            is_clustering_key=bool(raw.get("isClusteringKey", False)),
            data_type=schema_pb2.DataType.Value(kind),
            nullable=bool(raw.get("nullable", False)),
        )
        if kind == "Array":
            element = raw.get("elementDataType", "")
            if element not in _DATA_TYPES:
                raise ParameterInvalid(
                    f"{ParameterInvalid.base_message}, element data type {element} is "
                    "invalid(case sensitive)."
                )
            fld.element_type = schema_pb2.DataType.Value(element)
        if fld.is_primary_key:
            fld.autoID = collection.autoID
        _default_value(fld, raw.get("defaultValue"))
        for key, value in (raw.get("elementTypeParams") or {}).items():
            text = value if isinstance(value, str) else _json_text(value)
            fld.type_params.append(common_pb2.KeyValuePair(key=key, value=text))
        fld.is_function_output = fld.name in outputs
        collection.fields.append(fld)
    return collection


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _default_value(fld: schema_pb2.FieldSchema, value: Any) -> None:
    if value is None:
        return
    dt = schema_pb2.DataType
    kind = fld.data_type
    if kind == dt.Bool and isinstance(value, bool):
        fld.default_value.bool_data = value
    elif kind in (dt.Int8, dt.Int16, dt.Int32) and _number(value):
        fld.default_value.int_data = int(value)
    elif kind == dt.Int64 and _number(value):
        fld.default_value.long_data = int(value)
    elif kind == dt.Float and _number(value):
        fld.default_value.float_data = float(value)
    elif kind == dt.Double and _number(value):
        fld.default_value.double_data = float(value)
    elif kind in (dt.VarChar, dt.String) and isinstance(value, str):
        fld.default_value.string_data = value
    else:
        expected = {dt.Bool: "bool", dt.VarChar: "string", dt.String: "string"}.get(kind, "number")
        raise ParameterInvalid.expected(expected, value, "Wrong defaultValue type")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def index_extra_params(param: dict[str, Any]) -> list[common_pb2.KeyValuePair]:
    """``convertToExtraParams``: index type, metric type and the params as JSON."""
    pairs: list[common_pb2.KeyValuePair] = []
    params = param.get("params") or {}
    index_type = param.get("indexType") or ""
    if index_type:
        pairs.append(common_pb2.KeyValuePair(key="index_type", value=index_type))
    elif "index_type" in params:
        pairs.append(common_pb2.KeyValuePair(key="index_type", value=go_text(params["index_type"])))
    if param.get("metricType"):
        pairs.append(common_pb2.KeyValuePair(key="metric_type", value=param["metricType"]))
    if params:
        pairs.append(common_pb2.KeyValuePair(key="params", value=_json_text(params)))
    return pairs


@endpoint(
    "/collections/create",
    "CollectionReq",
    DB,
    COLLECTION,
    Key("dimension", INT),
    Key("idType"),
    Key("autoID", BOOL),
    Key("metricType"),
    Key("primaryFieldName"),
    Key("vectorFieldName"),
    Key("schema", OBJECT),
    Key("indexParams", "[]httpserver.IndexParam"),
    Key("params", OBJECT),
    Key("description"),
)
def create_collection(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    name = req["collectionName"]
    params = req["params"] or {}
    raw_schema = req["schema"] or {}
    quick = not raw_schema.get("fields")
    if quick:
        schema, vector_field = _quick_schema(req, params)
    else:
        schema = _schema_fields(raw_schema)
        vector_field = ""
    schema.name = name
    schema.description = req["description"] or ""
    request = milvus_pb2.CreateCollectionRequest(
        db_name=call.db,
        collection_name=name,
        schema=schema.SerializeToString(),
        shards_num=_int_param(params, "shardsNum", 1),
    )
    level = params.get("consistencyLevel")
    if level is not None:
        if level not in _LEVELS:
            raise ParameterInvalid.expected(
                "Strong, Session, Bounded, Eventually, Customized",
                level,
                "consistencyLevel can only be [Strong, Session, Bounded, Eventually, Customized], "
                "default: Bounded",
            )
        request.consistency_level = _LEVELS[level]
    else:
        request.consistency_level = common_pb2.ConsistencyLevel.Bounded
    if any(f.is_partition_key for f in schema.fields):
        request.num_partitions = _int_param(params, "partitionsNum", 64)
    for key, prop in (
        ("ttlSeconds", "collection.ttl.seconds"),
        ("partitionKeyIsolation", "partitionkey.isolation"),
    ):
        if key in params:
            request.properties.append(common_pb2.KeyValuePair(key=prop, value=go_text(params[key])))
    gw.call("CreateCollection", request, call.ctx)
    if quick:
        index = milvus_pb2.CreateIndexRequest(
            db_name=call.db,
            collection_name=name,
            field_name=vector_field,
            index_name=vector_field,
            extra_params=[
                common_pb2.KeyValuePair(key="metric_type", value=req["metricType"] or "COSINE")
            ],
        )
        gw.call("CreateIndex", index, call.ctx)
    else:
        index_params = req["indexParams"] or []
        if not index_params:
            return ok()
        names = {f.name for f in schema.fields}
        for param in index_params:
            if param.get("fieldName") not in names:
                raise RestMissingRequiredParameters.because(
                    f"`{param.get('fieldName')}` hasn't defined in schema"
                )
            gw.call(
                "CreateIndex",
                milvus_pb2.CreateIndexRequest(
                    db_name=call.db,
                    collection_name=name,
                    field_name=param["fieldName"],
                    index_name=param.get("indexName") or "",
                    extra_params=index_extra_params(param),
                ),
                call.ctx,
            )
    gw.call(
        "LoadCollection",
        milvus_pb2.LoadCollectionRequest(db_name=call.db, collection_name=name),
        call.ctx,
    )
    return ok()


def _int_param(params: dict[str, Any], key: str, default: int) -> int:
    try:
        return int(go_text(params[key])) if key in params else default
    except ValueError:
        return default


def _quick_schema(
    req: dict[str, Any], params: dict[str, Any]
) -> tuple[schema_pb2.CollectionSchema, str]:
    if not req["dimension"]:
        raise ParameterInvalid.expected(
            "collectionName & dimension",
            "collectionName",
            "dimension is required for quickly create collection(default metric type: COSINE)",
        )
    id_type = req["idType"] or ""
    pk = schema_pb2.FieldSchema(
        fieldID=100,
        name=req["primaryFieldName"] or "id",
        is_primary_key=True,
        data_type=schema_pb2.DataType.Int64,
        autoID=bool(req["autoID"]),
    )
    if id_type in ("VarChar", "Varchar"):
        pk.data_type = schema_pb2.DataType.VarChar
        pk.type_params.append(
            common_pb2.KeyValuePair(key="max_length", value=go_text(params.get("max_length")))
        )
    elif id_type not in ("", "Int64", "int64"):
        raise ParameterInvalid.expected(
            "Int64, Varchar", id_type, "idType can only be [Int64, VarChar], default: Int64"
        )
    vector_name = req["vectorFieldName"] or "vector"
    vector = schema_pb2.FieldSchema(
        fieldID=101,
        name=vector_name,
        data_type=schema_pb2.DataType.FloatVector,
        type_params=[common_pb2.KeyValuePair(key="dim", value=str(req["dimension"]))],
    )
    dynamic = params.get("enableDynamicField", True)
    if not isinstance(dynamic, bool):
        text = go_text(dynamic).lower()
        if text not in ("true", "false", "1", "0", "t", "f"):
            raise RestFailure(
                65535,
                f'parse enableDynamicField fail, err:strconv.ParseBool: parsing "{text}": invalid syntax',
            )
        dynamic = text in ("true", "1", "t")
    schema = schema_pb2.CollectionSchema(fields=[pk, vector], enable_dynamic_field=dynamic)
    return schema, vector_name


def _simple(path: str, rpc: str, make: Any) -> None:
    """Register an endpoint that calls one status-only RPC and answers ``{}``."""

    @endpoint(path, "CollectionNameReq", DB, COLLECTION, PARTITIONS)
    def handler(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
        gw.call(rpc, make(call.db, req["collectionName"]), call.ctx)
        return ok()


_simple(
    "/collections/drop",
    "DropCollection",
    lambda db, name: milvus_pb2.DropCollectionRequest(db_name=db, collection_name=name),
)
_simple(
    "/collections/load",
    "LoadCollection",
    lambda db, name: milvus_pb2.LoadCollectionRequest(db_name=db, collection_name=name),
)
_simple(
    "/collections/refresh_load",
    "LoadCollection",
    lambda db, name: milvus_pb2.LoadCollectionRequest(
        db_name=db, collection_name=name, refresh=True
    ),
)
_simple(
    "/collections/release",
    "ReleaseCollection",
    lambda db, name: milvus_pb2.ReleaseCollectionRequest(db_name=db, collection_name=name),
)


@endpoint(
    "/collections/rename",
    "RenameCollectionReq",
    DB,
    COLLECTION,
    Key("newCollectionName", required=True),
    Key("newDbName"),
)
def rename_collection(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.RenameCollectionRequest(
        db_name=call.db,
        oldName=req["collectionName"],
        newName=req["newCollectionName"],
        newDBName=req["newDbName"] or call.db,
    )
    gw.call("RenameCollection", request, call.ctx)
    return ok()


@endpoint(
    "/collections/alter_properties",
    "CollectionReqWithProperties",
    DB,
    COLLECTION,
    Key("properties", OBJECT),
)
def alter_properties(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.AlterCollectionRequest(
        db_name=call.db,
        collection_name=req["collectionName"],
        properties=kv_pairs(req["properties"]),
    )
    gw.call("AlterCollection", request, call.ctx)
    return ok()


@endpoint(
    "/collections/drop_properties",
    "DropCollectionPropertiesReq",
    DB,
    COLLECTION,
    Key("propertyKeys", STRINGS),
)
def drop_properties(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.AlterCollectionRequest(
        db_name=call.db,
        collection_name=req["collectionName"],
        delete_keys=req["propertyKeys"] or [],
    )
    gw.call("AlterCollection", request, call.ctx)
    return ok()


@endpoint(
    "/collections/fields/alter_properties",
    "CollectionFieldReqWithParams",
    DB,
    COLLECTION,
    Key("fieldName", required=True),
    Key("fieldParams", OBJECT),
)
def alter_field(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.AlterCollectionFieldRequest(
        db_name=call.db,
        collection_name=req["collectionName"],
        field_name=req["fieldName"],
        properties=kv_pairs(req["fieldParams"]),
    )
    gw.call("AlterCollectionField", request, call.ctx)
    return ok()
