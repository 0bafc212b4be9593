"""Searching a BM25 output field: text queries in, scores over the live corpus out.

A query text is analysed as the field's documents were and becomes a row of
term frequencies (:func:`sluice.engine.bm25_function.query_matrix`).  Its
weights need the statistics of exactly the documents the search can see, so
they are taken from the search's own snapshot (deleted, expired and newer
rows excluded; see :mod:`sluice.engine.bm25_stats`) and handed to every
segment's posting lists in ``SearchParams.bm25``: scores then equal the BM25
formula over the live corpus, whichever segments hold it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import scipy.sparse as sp

from sluice.engine.bm25_function import query_matrix
from sluice.engine.bm25_stats import CorpusStatistics
from sluice.engine.collection import Collection, Snapshot
from sluice.engine.columns import SegmentView
from sluice.engine.functions import QueryTexts
from sluice.engine.search import SearchPlan
from sluice.schema import CollectionSchema

if TYPE_CHECKING:
    from sluice.engine.prepared_search import PreparedSearch

#: Search parameter naming the analyzer of a multi-analyzer field a query uses.
ANALYZER_NAME = "analyzer_name"

_CORPORA: weakref.WeakKeyDictionary[Collection, CorpusStatistics] = weakref.WeakKeyDictionary()
_CORPORA_LOCK = threading.Lock()


def bm25_queries(schema: CollectionSchema, prepared: PreparedSearch, vectors: Any) -> Any:
    """Text queries as term-frequency rows; sparse rows sent as vectors pass as they are."""
    if not isinstance(vectors, QueryTexts):
        return vectors
    params: Mapping[str, Any] = prepared.request.search_params or {}
    inner = params.get("params")
    name = params.get(ANALYZER_NAME)
    if name is None and isinstance(inner, Mapping):
        name = inner.get(ANALYZER_NAME)
    return query_matrix(schema, prepared.field, vectors.texts, None if name is None else str(name))


def with_corpus_statistics(
    collection: Collection, snapshot: Snapshot, plan: SearchPlan
) -> SearchPlan:
    """``plan`` with the BM25 statistics of the documents ``snapshot`` shows."""
    stats = corpus_of(collection).of_snapshot(snapshot, plan.field, _rows)
    return replace(plan, params=replace(plan.params, bm25=stats))


def corpus_of(collection: Collection) -> CorpusStatistics:
    with _CORPORA_LOCK:
        found = _CORPORA.get(collection)
        if found is None:
            found = _CORPORA[collection] = CorpusStatistics()
        return found


def _rows(view: SegmentView, field: str) -> sp.csr_matrix:
    data = view.search_data(field)
    assert isinstance(data, sp.csr_matrix)
    return data
