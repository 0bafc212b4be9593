"""``schema.FunctionSchema`` and ``schema.FunctionScore`` <-> the engine's function types."""

from __future__ import annotations

from pymilvus.grpc_gen import common_pb2, schema_pb2

from sluice.api.convert_request import key_values
from sluice.engine import FunctionScore
from sluice.errors import RequestError
from sluice.schema import FunctionSchema, FunctionType


def function_from_proto(proto: schema_pb2.FunctionSchema) -> FunctionSchema:
    try:
        kind = FunctionType(proto.type)
    except ValueError:
        raise RequestError(f"unknown function type {proto.type}") from None
    return FunctionSchema(
        name=proto.name,
        type=kind,
        input_field_names=tuple(proto.input_field_names),
        output_field_names=tuple(proto.output_field_names),
        params=key_values(proto.params),
        description=proto.description,
    )


def function_to_proto(
    function: FunctionSchema, field_ids: dict[str, int]
) -> schema_pb2.FunctionSchema:
    return schema_pb2.FunctionSchema(
        name=function.name,
        type=int(function.type),
        description=function.description,
        input_field_names=list(function.input_field_names),
        input_field_ids=[field_ids.get(n, 0) for n in function.input_field_names],
        output_field_names=list(function.output_field_names),
        output_field_ids=[field_ids.get(n, 0) for n in function.output_field_names],
        params=[common_pb2.KeyValuePair(key=k, value=v) for k, v in function.params.items()],
    )


def function_score_from_proto(proto: schema_pb2.FunctionScore) -> FunctionScore | None:
    """``None`` when the request carries no rerank functions."""
    if not proto.functions:
        return None
    return FunctionScore(
        tuple(function_from_proto(f) for f in proto.functions), key_values(proto.params)
    )
