"""RunAnalyzer: protobuf in and out; the analysis itself is the engine's."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from pymilvus.grpc_gen import milvus_pb2

from sluice.api.base import db_name, rpc
from sluice.api.status import SUCCESS
from sluice.engine import AnalyzedToken, Engine
from sluice.errors import ParameterInvalid


class AnalyzerRpcs:
    engine: Engine

    @rpc
    def RunAnalyzer(
        self, request: milvus_pb2.RunAnalyzerRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.RunAnalyzerResponse:
        texts = _texts(request.placeholder)
        if not texts:
            return milvus_pb2.RunAnalyzerResponse(status=SUCCESS)
        results = self.engine.run_analyzer(
            db_name(request.db_name, context),
            request.collection_name,
            request.field_name,
            request.analyzer_params,
            list(request.analyzer_names),
            texts,
            with_detail=request.with_detail,
            with_hash=request.with_hash,
        )
        return milvus_pb2.RunAnalyzerResponse(
            status=SUCCESS,
            results=[milvus_pb2.AnalyzerResult(tokens=_tokens(r)) for r in results],
        )


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
