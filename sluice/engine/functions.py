"""Collection functions: checked at CreateCollection, run at insert and for text queries.

A function computes an output field from input fields, so clients never
send the output: Sluice computes it before the insert is validated, and
refuses an insert that carries it.  Sluice runs:

* ``TEXT_EMBEDDING`` with the ``openai`` provider: any OpenAI-compatible
  embeddings service (:mod:`sluice.engine.embedding`), reached at the
  function's ``url`` param, else ``[functions] openai_url``; its key is the
  ``api_key`` param, the ``credential`` param's named key, ``[functions]
  openai_api_key``, or ``MILVUS_OPENAI_API_KEY``, in that order.  Text
  queries on the output field are embedded the same way.
* ``BM25``: an analysed VARCHAR's term frequencies as a sparse row
  (:mod:`sluice.engine.bm25_function`); text queries on the output field
  are analysed the same way and weighted by the live corpus's statistics.

Every other function type, and every other embedding provider, is refused
by name at CreateCollection: a collection never silently loses a function.
Shape checks and wording follow Milvus's proxy (``validateFunction``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sluice.config import FunctionSettings
from sluice.engine.bm25_function import as_csr, document_rows, input_analyzer
from sluice.engine.embedding import OpenAIEmbedder
from sluice.engine.ingest import Column
from sluice.errors import ParameterInvalid, RequestError, Unimplemented
from sluice.schema import CollectionSchema, DataType, FieldSchema, FunctionSchema, FunctionType
from sluice.text import MultiAnalyzer
from sluice.types.sparse import rows_from_csr

#: Providers Milvus 2.6 knows; Sluice calls the OpenAI-compatible one.
MILVUS_PROVIDERS = (
    "openai",
    "azure_openai",
    "dashscope",
    "bedrock",
    "vertexai",
    "voyageai",
    "cohere",
    "siliconflow",
    "tei",
    "zilliz",
    "gemini",
)
SERVED_TYPES = (FunctionType.BM25, FunctionType.TEXT_EMBEDDING)
API_KEY_ENV = "MILVUS_OPENAI_API_KEY"


@dataclass(frozen=True)
class QueryTexts:
    """A search's queries given as texts, for a field a function computes."""

    texts: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)


def output_fields(schema: CollectionSchema) -> frozenset[str]:
    return frozenset(n for f in schema.functions for n in f.output_field_names)


def validate_functions(schema: CollectionSchema) -> None:
    """Milvus's ``validateFunction``: names, fields and types (no service is called)."""
    names: set[str] = set()
    outputs: set[str] = set()
    for function in schema.functions:
        if function.type not in SERVED_TYPES:
            raise Unimplemented(
                f"{Unimplemented.base_message}: function {function.name} of type "
                f"{function.type.milvus_name} is not supported by Sluice"
            )
        if not function.name:
            raise RequestError("function name cannot be empty")
        if function.name in names:
            raise RequestError(f"duplicate function name: {function.name}")
        names.add(function.name)
        inputs = [_input_field(schema, function, n) for n in function.input_field_names]
        for name in function.output_field_names:
            _check_output(schema, function, name)
            if name in outputs:
                raise RequestError(
                    f"duplicate function output field: function {function.name}, field {name}"
                )
            outputs.add(name)
        results = [schema.get(n) for n in function.output_field_names]
        if function.type == FunctionType.BM25:
            _check_bm25(inputs, [r for r in results if r is not None])
        else:
            _check_embedding(function, inputs, [r for r in results if r is not None])


def check_services(schema: CollectionSchema, settings: FunctionSettings) -> None:
    """Call each embedding function once, as Milvus does at creation: reachable, right dimension."""
    for function in schema.functions:
        if function.type == FunctionType.TEXT_EMBEDDING:
            embedder_for(schema, function, settings).embed(["check"])


def embedder_for(
    schema: CollectionSchema, function: FunctionSchema, settings: FunctionSettings
) -> OpenAIEmbedder:
    params = {k.lower(): v for k, v in function.params.items()}
    provider = params.get("provider", "")
    if provider not in MILVUS_PROVIDERS:
        raise RequestError(
            f"unsupported text embedding service provider: [{provider}] , list of supported "
            f"[{', '.join(MILVUS_PROVIDERS)}]"
        )
    if provider != "openai":
        raise Unimplemented(
            f"{Unimplemented.base_message}: text embedding provider [{provider}] is not "
            "supported by Sluice, which calls OpenAI-compatible services (provider openai)"
        )
    output = schema.get(function.output_field_names[0])
    assert output is not None and output.dim is not None
    dimensions = _dimensions(params.get("dim"), output)
    url = params.get("url") or settings.openai_url
    if not url.startswith(("http://", "https://")):
        raise ParameterInvalid.msg(f"embedding url {url} is not a valid http/https link")
    return OpenAIEmbedder(
        url=url,
        api_key=_api_key(params, settings),
        model=params.get("model_name", ""),
        dim=output.dim,
        dimensions=dimensions,
        user=params.get("user", ""),
        timeout=settings.timeout_seconds,
    )


def with_outputs(
    schema: CollectionSchema,
    settings: FunctionSettings,
    columns: Sequence[Column],
    num_rows: int,
) -> list[Column]:
    """The client's columns plus every function's output (which the client must not send)."""
    if not schema.functions:
        return list(columns)
    computed = output_fields(schema)
    for column in columns:
        if not column.is_dynamic and column.name in computed:
            raise ParameterInvalid.msg(
                f"Attempt to insert an unexpected function output field `{column.name}` to "
                "collection"
            )
    by_name = {c.name: c for c in columns if not c.is_dynamic}
    out = list(columns)
    for function in schema.functions:
        source = by_name.get(function.input_field_names[0])
        if source is None:
            continue  # the missing input field is reported by the insert's own checks
        if function.type == FunctionType.TEXT_EMBEDDING:
            out.append(_embedded(schema, function, settings, source, num_rows))
        elif function.type == FunctionType.BM25:
            out.append(_bm25_rows(schema, function, source, by_name, num_rows))
    return out


def embed_queries(
    schema: CollectionSchema, settings: FunctionSettings, field: FieldSchema, queries: QueryTexts
) -> np.ndarray:
    """Text queries on an embedding function's output field, as vectors."""
    function = _function_for_output(schema, field)
    if function is None or function.type != FunctionType.TEXT_EMBEDDING:
        raise ParameterInvalid.msg(
            f"the field {field.name} is not the output of a text embedding function: search it "
            "with vectors"
        )
    if any(not t for t in queries.texts):
        raise RequestError(
            "there is an empty string in the queries, TextEmbedding function does not support "
            "empty text"
        )
    return embedder_for(schema, function, settings).embed(queries.texts)


def _function_for_output(schema: CollectionSchema, field: FieldSchema) -> FunctionSchema | None:
    return next((f for f in schema.functions if field.name in f.output_field_names), None)


def _embedded(
    schema: CollectionSchema,
    function: FunctionSchema,
    settings: FunctionSettings,
    source: Column,
    num_rows: int,
) -> Column:
    values = source.values
    if len(values) != num_rows or not pa.types.is_string(values.type):
        return source  # wrong length or type: the insert's own checks say so
    texts = values.to_pylist()
    if values.null_count or any(t == "" for t in texts):
        raise RequestError(
            "there is an empty string in the input data, TextEmbedding function does not "
            "support empty text"
        )
    embedder = embedder_for(schema, function, settings)
    vectors = embedder.embed(texts)
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    name = function.output_field_names[0]
    array = pa.FixedSizeListArray.from_arrays(flat, embedder.dim)
    return Column(name, DataType.FLOAT_VECTOR, array, dim=embedder.dim)


def _bm25_rows(
    schema: CollectionSchema,
    function: FunctionSchema,
    source: Column,
    by_name: Mapping[str, Column],
    num_rows: int,
) -> Column:
    """The BM25 output column: each text's term frequencies under its field's analyzer."""
    values = source.values
    if len(values) != num_rows or not pa.types.is_string(values.type):
        return source  # wrong length or type: the insert's own checks say so
    analyzer = input_analyzer(schema, function)
    names = None
    if isinstance(analyzer, MultiAnalyzer):
        chooser = by_name.get(analyzer.by_field)
        names = chooser.values.to_pylist() if chooser is not None else None
    rows = document_rows(analyzer, values.to_pylist(), names)
    name = function.output_field_names[0]
    return Column(name, DataType.SPARSE_FLOAT_VECTOR, rows_from_csr(as_csr(rows)))


def _input_field(schema: CollectionSchema, function: FunctionSchema, name: str) -> FieldSchema:
    found = schema.get(name)
    if found is None or found.is_dynamic:
        raise RequestError(f"function input field not found: {name}")
    if found.nullable:
        raise RequestError(
            f"function input field cannot be nullable: function {function.name}, field {name}"
        )
    return found


def _check_output(schema: CollectionSchema, function: FunctionSchema, name: str) -> None:
    found = schema.get(name)
    if found is None or found.is_dynamic:
        raise RequestError(f"function output field not found: {name}")
    where = f"function {function.name}, field {name}"
    if found.is_primary:
        raise RequestError(f"function output field cannot be primary key: {where}")
    if found.is_partition_key:
        raise RequestError(
            f"function output field cannot be partition key or clustering key: {where}"
        )
    if found.nullable:
        raise RequestError(f"function output field cannot be nullable: {where}")


def _check_bm25(inputs: list[FieldSchema], outputs: list[FieldSchema]) -> None:
    if len(inputs) != 1 or inputs[0].dtype != DataType.VARCHAR:
        got = inputs[0].dtype.name if inputs else "None"
        raise RequestError(
            f"BM25 function input field must be a VARCHAR field, got {len(inputs)} field with "
            f"type {got}"
        )
    if not inputs[0].type_flag("enable_analyzer"):
        raise RequestError("BM25 function input field must set enable_analyzer to true")
    if len(outputs) != 1:
        raise RequestError(f"BM25 function only need 1 output field, but got {len(outputs)}")
    if outputs[0].dtype != DataType.SPARSE_FLOAT_VECTOR:
        raise RequestError(
            "BM25 function output field must be a SparseFloatVector field, but got "
            f"{outputs[0].dtype.name}"
        )


def _check_embedding(
    function: FunctionSchema, inputs: list[FieldSchema], outputs: list[FieldSchema]
) -> None:
    if len(function.output_field_names) != 1:
        raise RequestError(
            "text function should only have one output field, but now is "
            f"{len(function.output_field_names)}"
        )
    if len(outputs) != 1 or outputs[0].dtype != DataType.FLOAT_VECTOR:
        raise RequestError("TextEmbedding function output field must be a FloatVector field")
    if len(inputs) != 1 or inputs[0].dtype != DataType.VARCHAR:
        raise RequestError("TextEmbedding function input field must be a VARCHAR/TEXT field")
    params = {k.lower(): v for k, v in function.params.items()}
    _dimensions(params.get("dim"), outputs[0])


def _dimensions(text: str | None, output: FieldSchema) -> int:
    if text is None:
        return 0
    try:
        dim = int(text)
    except ValueError:
        raise RequestError(
            f"dimension [{text}] provided in Function params is not a valid int"
        ) from None
    if dim != 0 and dim != output.dim:
        raise RequestError(
            f"Function output field:[{output.name}]'s dimension [{output.dim}] does not match "
            f"the dimension [{dim}] provided in Function params."
        )
    return dim


def _api_key(params: Mapping[str, str], settings: FunctionSettings) -> str:
    if params.get("api_key"):
        return params["api_key"]
    name = params.get("credential")
    if name:
        key = settings.credential(name)
        if key is None:
            raise RequestError(f"credential {name} not found")
        return key
    key = settings.openai_api_key or os.environ.get(API_KEY_ENV, "")
    if not key:
        raise ParameterInvalid.msg(
            "missing credentials config or configure the "
            f"{API_KEY_ENV} environment variable in the Milvus service"
        )
    return key
