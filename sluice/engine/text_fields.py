"""Analyzed VARCHAR fields: ``enable_analyzer``, ``analyzer_params`` and ``enable_match``.

Checked at CreateCollection as Milvus's proxy checks them (``validateAnalyzer``):
a field that enables match, or feeds a BM25 function, must enable its
analyzer; ``multi_analyzer_params`` serve BM25 only, never match, and exclude
``analyzer_params``; the analyzer itself must build.  The type parameters
are stored and described exactly as the client sent them.
"""

from __future__ import annotations

from sluice.errors import RequestError
from sluice.schema import CollectionSchema, DataType, FieldSchema, FunctionType
from sluice.text import Analyzer, analyzer_for, parse_multi_analyzer_params

ENABLE_ANALYZER = "enable_analyzer"
ENABLE_MATCH = "enable_match"
ANALYZER_PARAMS = "analyzer_params"
MULTI_ANALYZER_PARAMS = "multi_analyzer_params"


def match_fields(schema: CollectionSchema) -> tuple[FieldSchema, ...]:
    """VARCHAR fields with ``enable_match``: the ones that get a token index."""
    return tuple(
        f for f in schema.fields if f.dtype == DataType.VARCHAR and f.type_flag(ENABLE_MATCH)
    )


def field_analyzer(field: FieldSchema) -> Analyzer:
    """The (cached) analyzer of an analyzed field: its ``analyzer_params``, else standard."""
    return analyzer_for(field.type_params.get(ANALYZER_PARAMS) or None)


def validate_text_fields(schema: CollectionSchema) -> None:
    bm25_inputs = {
        name
        for function in schema.functions
        if function.type == FunctionType.BM25
        for name in function.input_field_names
    }
    varchar = {f.name: f.dtype == DataType.VARCHAR for f in schema.fields}
    for field in schema.fields:
        if field.dtype != DataType.VARCHAR:
            continue
        match = field.type_flag(ENABLE_MATCH)
        analyzed = field.type_flag(ENABLE_ANALYZER)
        if (match or field.name in bm25_inputs) and not analyzed:
            raise RequestError(
                f"field {field.name} is set to enable match or bm25 function but not enable "
                "analyzer"
            )
        if not analyzed:
            continue
        params = field.type_params
        if MULTI_ANALYZER_PARAMS in params:
            if match:
                raise RequestError(
                    "multi analyzer now only support for bm25, but now field "
                    f"{field.name} enable match"
                )
            if ANALYZER_PARAMS in params:
                raise RequestError(
                    f"field {field.name} analyzer params should be none if has multi analyzer "
                    "params"
                )
            parse_multi_analyzer_params(params[MULTI_ANALYZER_PARAMS], schema.name, varchar)
        else:
            field_analyzer(field)
