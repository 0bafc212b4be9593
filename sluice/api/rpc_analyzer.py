"""RunAnalyzer: tokens of texts, by given ``analyzer_params`` or by a field's analyzer.

Milvus runs the analyzer named by ``analyzer_params`` (empty: the standard
analyzer), or, with ``collection_name`` and ``field_name``, the analyzer of
that field (``analyzer_params`` type param, or one of its
``multi_analyzer_params`` analyzers chosen per text by ``analyzer_names``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from pymilvus.grpc_gen import milvus_pb2

from sluice.api.base import db_name, rpc
from sluice.api.status import SUCCESS
from sluice.engine import Engine
from sluice.errors import ParameterInvalid, RequestError
from sluice.text import (
    AnalyzedToken,
    Analyzer,
    analyzer_for,
    parse_multi_analyzer_params,
    run_analyzer,
)


class AnalyzerRpcs:
    engine: Engine

    @rpc
    def RunAnalyzer(
        self, request: milvus_pb2.RunAnalyzerRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.RunAnalyzerResponse:
        texts = _texts(request.placeholder)
        if not texts:
            return milvus_pb2.RunAnalyzerResponse(status=SUCCESS)
        if request.collection_name:
            analyzers = self._field_analyzers(
                db_name(request.db_name, context),
                request.collection_name,
                request.field_name,
                list(request.analyzer_names),
                len(texts),
            )
        else:
            analyzers = [analyzer_for(request.analyzer_params)]
        results = run_analyzer(analyzers, texts, request.with_detail, request.with_hash)
        return milvus_pb2.RunAnalyzerResponse(
            status=SUCCESS,
            results=[milvus_pb2.AnalyzerResult(tokens=_tokens(r)) for r in results],
        )

    def _field_analyzers(
        self, db: str, collection: str, field_name: str, names: list[str], count: int
    ) -> list[Analyzer]:
        params, varchar_fields, field_id = field_analyzer_params(
            self.engine, db, collection, field_name
        )
        if "multi_analyzer_params" in params:
            multi = parse_multi_analyzer_params(
                params["multi_analyzer_params"], collection, varchar_fields
            )
            if not names:
                raise RequestError("analyzer names must be set for multi analyzer")
            if len(names) == 1:
                names = names * count
            if len(names) != count:
                raise RequestError(
                    "multi analyzer input text and analyzer name must have same length"
                )
            return [multi.resolve(n) for n in names]
        if params.get("enable_analyzer", "").lower() != "true":
            raise RequestError(
                f"analyzer runner for field {field_id} not exist, now only support run "
                "analyzer by field if field was bm25 input field"
            )
        return [analyzer_for(params.get("analyzer_params", ""))]


def field_analyzer_params(
    engine: Engine, db: str, collection: str, field_name: str
) -> tuple[Mapping[str, str], dict[str, bool], int]:
    """A field's type params, the collection's fields (name -> is VARCHAR) and the field's ID.

    The one place RunAnalyzer reads a collection's schema.
    """
    from sluice.schema import DataType

    schema = engine.describe(db, collection).schema
    field = schema.get(field_name)
    if field is None:
        raise RequestError(f"field {field_name} not exist")
    varchar = {f.name: f.dtype == DataType.VARCHAR for f in schema.fields}
    return field.type_params, varchar, field.field_id


def _texts(placeholder: Sequence[bytes]) -> list[str]:
    texts = []
    for raw in placeholder:
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ParameterInvalid.msg("string data must be utf8 format") from None
    return texts


def _tokens(tokens: list[AnalyzedToken]) -> list[milvus_pb2.AnalyzerToken]:
    return [
        milvus_pb2.AnalyzerToken(
            token=t.token,
            start_offset=t.start_offset,
            end_offset=t.end_offset,
            position=t.position,
            position_length=t.position_length,
            hash=t.hash,
        )
        for t in tokens
    ]
