"""BM25 functions: analysed texts in, term-frequency sparse rows out.

A BM25 function's output row for a text is Milvus's: each distinct token's
hash (``sluice.text.token_hash``) mapped to its count.  A query text becomes
the same kind of row; the index weights it by the corpus statistics at
search time (:mod:`sluice.engine.bm25_stats`).  The input field's analyzer is
its ``analyzer_params`` (else standard), or, with ``multi_analyzer_params``,
the analyzer its ``by_field`` value names for each row; a query names its
analyzer with the search param ``analyzer_name`` (default: ``default``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from sluice.engine.text_fields import MULTI_ANALYZER_PARAMS, field_analyzer
from sluice.errors import ParameterInvalid, RequestError
from sluice.schema import CollectionSchema, DataType, FieldSchema, FunctionSchema, FunctionType
from sluice.text import (
    Analyzer,
    MultiAnalyzer,
    SparseRows,
    parse_multi_analyzer_params,
    term_frequency_rows,
)

#: Sparse rows have 2**32 - 1 columns (token hashes are uint32).
COLUMNS = 2**32 - 1


def bm25_function_for(schema: CollectionSchema, output: FieldSchema) -> FunctionSchema | None:
    return next(
        (
            f
            for f in schema.functions
            if f.type == FunctionType.BM25 and output.name in f.output_field_names
        ),
        None,
    )


def input_analyzer(schema: CollectionSchema, function: FunctionSchema) -> Analyzer | MultiAnalyzer:
    field = schema.get(function.input_field_names[0])
    assert field is not None
    multi = field.type_params.get(MULTI_ANALYZER_PARAMS)
    if multi is None:
        return field_analyzer(field)
    varchar = {f.name: f.dtype == DataType.VARCHAR for f in schema.fields}
    return parse_multi_analyzer_params(multi, schema.name, varchar)


def document_rows(
    analyzer: Analyzer | MultiAnalyzer,
    texts: Sequence[str | None],
    names: Sequence[str | None] | None = None,
) -> SparseRows:
    """The BM25 output rows of ``texts`` (a null text: an empty row)."""
    plain = [t or "" for t in texts]
    if isinstance(analyzer, MultiAnalyzer):
        chosen = [n or "" for n in (names or [""] * len(plain))]
        return term_frequency_rows(analyzer.token_lists(plain, chosen))
    return term_frequency_rows(analyzer.token_lists(plain))


def query_matrix(
    schema: CollectionSchema,
    output: FieldSchema,
    texts: Sequence[str],
    analyzer_name: str | None = None,
) -> sp.csr_matrix:
    """Text queries on a BM25 output field as term-frequency rows (one per query)."""
    function = bm25_function_for(schema, output)
    if function is None:
        raise ParameterInvalid.msg(
            f"the field {output.name} is not the output of a BM25 function: search it with vectors"
        )
    analyzer = input_analyzer(schema, function)
    if isinstance(analyzer, MultiAnalyzer):
        name = analyzer_name or "default"
        rows = term_frequency_rows([analyzer.resolve(name).tokens(t) for t in texts])
    else:
        rows = document_rows(analyzer, texts)
    return as_csr(rows)


def as_csr(rows: SparseRows) -> sp.csr_matrix:
    matrix = sp.csr_matrix(
        (rows.values, rows.indices.astype(np.int64), rows.indptr),
        shape=(rows.num_rows, COLUMNS),
    )
    # Term-frequency rows hold each term once, in ascending order: scipy need not check.
    matrix.has_canonical_format = True
    return matrix


#: Build parameters Milvus fills in for a BM25 output field's index when absent.
BM25_INDEX_DEFAULTS = {"bm25_k1": "1.2", "bm25_b": "0.75", "bm25_avgdl": "100"}
BM25_METRIC = "BM25"


def is_bm25_output(schema: CollectionSchema, field: FieldSchema) -> bool:
    return (
        field.dtype == DataType.SPARSE_FLOAT_VECTOR and bm25_function_for(schema, field) is not None
    )


def bm25_index_params(params: Mapping[str, str]) -> dict[str, str]:
    """Milvus's ``FillFunctionOutputIndexParams``: BM25 defaults, and the metric must be BM25."""
    filled = dict(params)
    for key, value in BM25_INDEX_DEFAULTS.items():
        filled.setdefault(key, value)
    metric = filled.get("metric_type", "")
    if not metric:
        filled["metric_type"] = BM25_METRIC
    elif metric != BM25_METRIC:
        # Milvus's suite expects a plain error (code 65535) here.
        raise RequestError(
            f"index metric type of BM25 function output field must be BM25, got {metric}"
        )
    return filled
