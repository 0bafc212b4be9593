"""RunAnalyzer: tokens of texts, by given ``analyzer_params`` or by a field's analyzer.

Milvus runs the analyzer named by ``analyzer_params`` (empty: the standard
analyzer), or, with a collection and a field, the analyzer of that field
(its ``analyzer_params`` type param, or one of its ``multi_analyzer_params``
analyzers chosen per text by ``analyzer_names``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sluice.errors import RequestError
from sluice.schema import CollectionSchema, DataType
from sluice.text import (
    AnalyzedToken,
    Analyzer,
    analyzer_for,
    parse_multi_analyzer_params,
    run_analyzer,
)


def analyze(
    texts: Sequence[str],
    *,
    analyzer_params: str,
    with_detail: bool,
    with_hash: bool,
) -> list[list[AnalyzedToken]]:
    """Tokens of each text by the analyzer ``analyzer_params`` describes."""
    return run_analyzer([analyzer_for(analyzer_params)], list(texts), with_detail, with_hash)


def analyze_by_field(
    schema: CollectionSchema,
    field_name: str,
    names: Sequence[str],
    texts: Sequence[str],
    *,
    with_detail: bool,
    with_hash: bool,
) -> list[list[AnalyzedToken]]:
    """Tokens of each text by the analyzer of ``field_name`` (per-text names for multi-analyzers)."""
    analyzers = _field_analyzers(schema, field_name, list(names), len(texts))
    return run_analyzer(analyzers, list(texts), with_detail, with_hash)


def _field_analyzers(
    schema: CollectionSchema, field_name: str, names: list[str], count: int
) -> list[Analyzer]:
    field = schema.get(field_name)
    if field is None:
        raise RequestError(f"field {field_name} not exist")
    params = field.type_params
    if "multi_analyzer_params" in params:
        varchar = {f.name: f.dtype == DataType.VARCHAR for f in schema.fields}
        multi = parse_multi_analyzer_params(params["multi_analyzer_params"], schema.name, varchar)
        if not names:
            raise RequestError("analyzer names must be set for multi analyzer")
        if len(names) == 1:
            names = names * count
        if len(names) != count:
            raise RequestError("multi analyzer input text and analyzer name must have same length")
        return [multi.resolve(n) for n in names]
    if params.get("enable_analyzer", "").lower() != "true":
        raise RequestError(
            f"analyzer runner for field {field.field_id} not exist, now only support run "
            "analyzer by field if field was bm25 input field"
        )
    return [analyzer_for(params.get("analyzer_params", ""))]
