"""``/entities/...``: insert, upsert, delete, get, query, search, hybrid_search."""

from __future__ import annotations

from typing import Any

import orjson
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

from sluice.errors import (
    ParameterInvalid,
    RestCheckPrimaryKey,
    RestIncorrectParameterFormat,
)
from sluice.rest.body import ANY, BOOL, INT, LIST, OBJECT, OBJECTS, STRINGS, Key
from sluice.rest.gateway import Call, Gateway, RestFailure
from sluice.rest.registry import endpoint, ok
from sluice.rest.routes_collections import describe_schema, go_text
from sluice.rest.rows import columns_from_rows, placeholder_group, rows_from_columns

DB = Key("dbName")
COLLECTION = Key("collectionName", required=True)
_LEVELS = dict(common_pb2.ConsistencyLevel.items())


def template_values(params: dict[str, Any] | None) -> dict[str, schema_pb2.TemplateValue]:
    """``exprParams`` as expression template values (``generateExpressionTemplate``)."""
    return {name: _template(value) for name, value in (params or {}).items()}


def _template(value: Any) -> schema_pb2.TemplateValue:
    out = schema_pb2.TemplateValue()
    if isinstance(value, bool):
        out.bool_val = value
    elif isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        out.int64_val = int(value)
    elif isinstance(value, float):
        out.float_val = value
    elif isinstance(value, str):
        out.string_val = value
    elif isinstance(value, list) and value:
        out.array_val.CopyFrom(_template_array(value))
    else:
        raise ParameterInvalid.msg(f"unexpected expression template value {value!r}")
    return out


def _template_array(values: list[Any]) -> schema_pb2.TemplateArrayValue:
    kinds = {_kind(v) for v in values}
    out = schema_pb2.TemplateArrayValue()
    kind = kinds.pop() if len(kinds) == 1 else "json"
    if kind == "bool":
        out.bool_data.data.extend(values)
    elif kind == "int":
        out.long_data.data.extend(int(v) for v in values)
    elif kind == "float":
        out.double_data.data.extend(float(v) for v in values)
    elif kind == "str":
        out.string_data.data.extend(values)
    elif kind == "array":
        out.array_data.data.extend(_template_array(v) for v in values)
    else:
        out.json_data.data.extend(orjson.dumps(v) for v in values)
    return out


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list) and value:
        return "array"
    return "json"


def _mutation(kind: str, resp: milvus_pb2.MutationResult, call: Call) -> dict[str, Any]:
    count = resp.insert_cnt if kind == "insert" else resp.upsert_cnt
    which = resp.IDs.WhichOneof("id_field")
    if which == "int_id":
        ids: list[Any] = list(resp.IDs.int_id.data)
        if not call.int64_as_number:
            ids = [str(v) for v in ids]
    elif which == "str_id":
        ids = list(resp.IDs.str_id.data)
    else:
        raise RestCheckPrimaryKey.because("unsupported primary key data type")
    return ok({f"{kind}Count": count, f"{kind}Ids": ids}, cost=0)


def _write(gw: Gateway, req: dict[str, Any], call: Call, rpc: str) -> milvus_pb2.MutationResult:
    schema = describe_schema(gw, call, req["collectionName"]).schema
    data = req["data"] or []
    columns = columns_from_rows(schema, data, inserting=rpc == "Insert")
    cls = milvus_pb2.InsertRequest if rpc == "Insert" else milvus_pb2.UpsertRequest
    request = cls(
        db_name=call.db,
        collection_name=req["collectionName"],
        partition_name=req["partitionName"] or "",
        fields_data=columns,
        num_rows=len(data),
    )
    response: milvus_pb2.MutationResult = gw.call(rpc, request, call.ctx)
    return response


DATA_REQ = ("CollectionDataReq", DB, COLLECTION, Key("partitionName"), Key("data", OBJECTS, True))


@endpoint("/entities/insert", *DATA_REQ)
def insert(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    return _mutation("insert", _write(gw, req, call, "Insert"), call)


@endpoint("/entities/upsert", *DATA_REQ)
def upsert(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    return _mutation("upsert", _write(gw, req, call, "Upsert"), call)


def primary_key_filter(schema: schema_pb2.CollectionSchema, ids: Any) -> str:
    """``checkGetPrimaryKey``: ``<pk> in [...]`` for the ``id`` value(s) of a request."""
    primary = next((f for f in schema.fields if f.is_primary_key), None)
    if primary is None:
        raise RestCheckPrimaryKey.because(f"collection: {schema.name} has no primary field")
    values = ids if isinstance(ids, list) else [ids]
    if primary.data_type == schema_pb2.DataType.Int64:
        parts = []
        for v in values:
            try:
                parts.append(str(int(v)) if not isinstance(v, bool) else _bad(v))
            except (TypeError, ValueError):
                raise RestCheckPrimaryKey.because(
                    f'unable to cast "{v}" of type {type(v).__name__} to int64'
                ) from None
        text = ",".join(parts)
    else:
        text = ",".join(f'"{v}"' for v in values if isinstance(v, str))
    return f"{primary.name} in [{text}]"


def _bad(value: Any) -> str:
    raise ValueError(value)


@endpoint(
    "/entities/delete",
    "CollectionFilterReq",
    DB,
    COLLECTION,
    Key("partitionName"),
    Key("filter", required=True),
    Key("exprParams", OBJECT),
)
def delete(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    schema = describe_schema(gw, call, req["collectionName"]).schema
    expr = req["filter"]
    if not expr:
        expr = primary_key_filter(schema, req["__raw__"].get("id"))
    request = milvus_pb2.DeleteRequest(
        db_name=call.db,
        collection_name=req["collectionName"],
        partition_name=req["partitionName"] or "",
        expr=expr,
        expr_template_values=template_values(req["exprParams"]),
    )
    response = gw.call("Delete", request, call.ctx)
    return ok({"deleteCount": response.delete_cnt})


def _query_answer(resp: milvus_pb2.QueryResults, call: Call) -> dict[str, Any]:
    rows = rows_from_columns(
        resp.fields_data, list(resp.output_fields), int64_as_number=call.int64_as_number
    )
    return ok(rows, cost=0)


@endpoint(
    "/entities/get",
    "CollectionIDReq",
    DB,
    COLLECTION,
    Key("partitionName"),
    Key("partitionNames", STRINGS),
    Key("outputFields", STRINGS, default=["*"]),
    Key("id", ANY, True, go_name="ID"),
)
def get(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    schema = describe_schema(gw, call, req["collectionName"]).schema
    request = milvus_pb2.QueryRequest(
        db_name=call.db,
        collection_name=req["collectionName"],
        output_fields=req["outputFields"],
        partition_names=req["partitionNames"] or [],
        expr=primary_key_filter(schema, req["id"]),
        use_default_consistency=True,
    )
    return _query_answer(gw.call("Query", request, call.ctx), call)


@endpoint(
    "/entities/query",
    "QueryReqV2",
    DB,
    COLLECTION,
    Key("partitionNames", STRINGS),
    Key("outputFields", STRINGS, default=["*"]),
    Key("filter"),
    Key("limit", INT, default=100),
    Key("offset", INT, default=0),
    Key("exprParams", OBJECT),
)
def query(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    outputs = req["outputFields"]
    request = milvus_pb2.QueryRequest(
        db_name=call.db,
        collection_name=req["collectionName"],
        expr=req["filter"] or "",
        output_fields=outputs,
        partition_names=req["partitionNames"] or [],
        use_default_consistency=True,
        expr_template_values=template_values(req["exprParams"]),
    )
    if req["offset"] > 0:
        request.query_params.append(common_pb2.KeyValuePair(key="offset", value=str(req["offset"])))
    counting = len(outputs) == 1 and outputs[0].strip().lower() == "count(*)"
    if req["limit"] > 0 and not counting:
        request.query_params.append(common_pb2.KeyValuePair(key="limit", value=str(req["limit"])))
    return _query_answer(gw.call("Query", request, call.ctx), call)


def search_params(raw: Any) -> list[common_pb2.KeyValuePair]:
    """``generateSearchParams``: every key both flat and folded into ``params`` (JSON)."""
    given = raw if isinstance(raw, dict) else {}
    nested = given.get("params")
    if nested is not None and not isinstance(nested, dict):
        raise ParameterInvalid.msg("searchParams.params must be a dict")
    folded = dict(nested or {})
    for key, value in given.items():
        if key == "params":
            continue
        if key in folded and folded[key] != value:
            raise ParameterInvalid.msg(
                f"ambiguous parameter: {key}, in search_param: {value}, "
                f"in search_param.params: {folded[key]}"
            )
        folded.setdefault(key, value)
    pairs = [common_pb2.KeyValuePair(key="params", value=orjson.dumps(folded).decode())]
    for key, value in given.items():
        if key != "params":
            name = "ignore_growing" if key == "ignoreGrowing" else key
            pairs.append(common_pb2.KeyValuePair(key=name, value=go_text(value)))
    pairs.append(common_pb2.KeyValuePair(key="round_decimal", value="-1"))
    return pairs


def consistency(level: str | None) -> tuple[int, bool]:
    if not level:
        return common_pb2.ConsistencyLevel.Bounded, True
    if level not in _LEVELS:
        raise RestFailure(
            1100,
            "consistencyLevel can only be [Strong, Session, Bounded, Eventually, Customized], "
            f"default: Bounded, err:parameter:'{level}' is incorrect, please check it: "
            "invalid parameter",
        )
    return _LEVELS[level], False


def _search_answer(resp: milvus_pb2.SearchResults, call: Call) -> dict[str, Any]:
    results = resp.results
    if results.top_k == 0:
        return ok([], cost=0)
    rows = rows_from_columns(
        results.fields_data,
        list(results.output_fields),
        ids=results.ids,
        scores=results.scores,
        int64_as_number=call.int64_as_number,
    )
    return ok(rows, cost=0)


def _placeholders(schema: schema_pb2.CollectionSchema, anns: str, data: Any) -> bytes:
    try:
        return placeholder_group(schema, anns, data)
    except RestIncorrectParameterFormat:
        raise
    except (TypeError, ValueError) as exc:
        raise RestIncorrectParameterFormat.because(str(exc)) from None


@endpoint(
    "/entities/search",
    "SearchReqV2",
    DB,
    COLLECTION,
    Key("data", LIST, True),
    Key("annsField"),
    Key("partitionNames", STRINGS),
    Key("filter"),
    Key("groupingField"),
    Key("groupSize", INT, default=0),
    Key("strictGroupSize", BOOL, default=False),
    Key("limit", INT, default=100),
    Key("offset", INT, default=0),
    Key("outputFields", STRINGS),
    Key("searchParams", OBJECT),
    Key("consistencyLevel"),
    Key("exprParams", OBJECT),
)
def search(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    level, default_level = consistency(req["consistencyLevel"])
    schema = describe_schema(gw, call, req["collectionName"]).schema
    params = search_params(req["searchParams"])
    params.append(common_pb2.KeyValuePair(key="topk", value=str(req["limit"])))
    params.append(common_pb2.KeyValuePair(key="offset", value=str(req["offset"])))
    if req["groupingField"]:
        params.append(common_pb2.KeyValuePair(key="group_by_field", value=req["groupingField"]))
        if req["groupSize"] > 0:
            params.append(common_pb2.KeyValuePair(key="group_size", value=str(req["groupSize"])))
            params.append(
                common_pb2.KeyValuePair(
                    key="strict_group_size", value=go_text(req["strictGroupSize"])
                )
            )
    params.append(common_pb2.KeyValuePair(key="anns_field", value=req["annsField"] or ""))
    request = milvus_pb2.SearchRequest(
        db_name=call.db,
        collection_name=req["collectionName"],
        dsl=req["filter"] or "",
        dsl_type=common_pb2.DslType.BoolExprV1,
        output_fields=req["outputFields"] or [],
        partition_names=req["partitionNames"] or [],
        search_params=params,
        placeholder_group=_placeholders(schema, req["annsField"] or "", req["data"]),
        consistency_level=level,
        use_default_consistency=default_level,
        expr_template_values=template_values(req["exprParams"]),
    )
    return _search_answer(gw.call("Search", request, call.ctx), call)


HYBRID = (
    DB,
    COLLECTION,
    Key("partitionNames", STRINGS),
    Key("search", "[]httpserver.SubSearchReq"),
    Key("rerank", OBJECT),
    Key("limit", INT, default=100),
    Key("groupingField"),
    Key("groupSize", INT, default=0),
    Key("strictGroupSize", BOOL, default=False),
    Key("outputFields", STRINGS),
    Key("consistencyLevel"),
)


def hybrid_search(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    level, default_level = consistency(req["consistencyLevel"])
    schema = describe_schema(gw, call, req["collectionName"]).schema
    request = milvus_pb2.HybridSearchRequest(
        db_name=call.db,
        collection_name=req["collectionName"],
        partition_names=req["partitionNames"] or [],
        output_fields=req["outputFields"] or [],
        consistency_level=level,
        use_default_consistency=default_level,
    )
    for sub in req["search"] or []:
        if not isinstance(sub, dict) or sub.get("data") is None:
            raise RestFailure(
                1802,
                "missing required parameters, error: Key: 'HybridSearchReq.Search[0].Data' "
                "Error:Field validation for 'Data' failed on the 'required' tag",
            )
        params = search_params(sub.get("params"))
        params.append(common_pb2.KeyValuePair(key="topk", value=str(sub.get("limit", 0))))
        params.append(common_pb2.KeyValuePair(key="offset", value=str(sub.get("offset", 0))))
        params.append(common_pb2.KeyValuePair(key="anns_field", value=sub.get("annsField", "")))
        request.requests.append(
            milvus_pb2.SearchRequest(
                db_name=call.db,
                collection_name=req["collectionName"],
                dsl=sub.get("filter", ""),
                dsl_type=common_pb2.DslType.BoolExprV1,
                placeholder_group=_placeholders(schema, sub.get("annsField", ""), sub["data"]),
                output_fields=req["outputFields"] or [],
                partition_names=req["partitionNames"] or [],
                search_params=params,
                expr_template_values=template_values(sub.get("exprParams")),
            )
        )
    rerank = req["rerank"] or {}
    request.rank_params.extend(
        [
            common_pb2.KeyValuePair(key="strategy", value=str(rerank.get("strategy", ""))),
            common_pb2.KeyValuePair(
                key="params", value=orjson.dumps(rerank.get("params")).decode()
            ),
            common_pb2.KeyValuePair(key="limit", value=str(req["limit"])),
            common_pb2.KeyValuePair(key="round_decimal", value="-1"),
        ]
    )
    if req["groupingField"]:
        request.rank_params.append(
            common_pb2.KeyValuePair(key="group_by_field", value=req["groupingField"])
        )
        if req["groupSize"] > 0:
            request.rank_params.append(
                common_pb2.KeyValuePair(key="group_size", value=str(req["groupSize"]))
            )
            request.rank_params.append(
                common_pb2.KeyValuePair(
                    key="strict_group_size", value=go_text(req["strictGroupSize"])
                )
            )
    return _search_answer(gw.call("HybridSearch", request, call.ctx), call)


endpoint("/entities/hybrid_search", "HybridSearchReq", *HYBRID)(hybrid_search)
endpoint("/entities/advanced_search", "HybridSearchReq", *HYBRID)(hybrid_search)
