"""The engine's data operations: Insert, Upsert, Delete, Query and Search."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from sluice.engine import data, prepared_search
from sluice.engine.core import EngineCore
from sluice.engine.functions import QueryTexts
from sluice.engine.hybrid_search import HybridSearchRequest, Queries, hybrid_search
from sluice.engine.ingest import Column
from sluice.engine.timezones import collection_timezone
from sluice.types import Context


class DataOps(EngineCore):
    def insert(
        self, db: str, name: str, partition: str | None, columns: Sequence[Column], num_rows: int
    ) -> data.InsertResult:
        collection = self.get(db, name, check_name=True)
        context = Context(self.timezone(db, name))
        return data.insert(collection, partition, columns, num_rows, context=context)

    def upsert(
        self,
        db: str,
        name: str,
        partition: str | None,
        columns: Sequence[Column],
        num_rows: int,
        *,
        partial: bool = False,
    ) -> data.InsertResult:
        """Replace rows by key; with ``partial``, fields not sent keep their stored values."""
        collection = self.get(db, name, check_name=True)
        context = Context(self.timezone(db, name))
        return data.upsert(collection, partition, columns, num_rows, partial, context)

    def delete(
        self, db: str, name: str, partition: str | None, expr: str, params: Mapping[str, Any] | None
    ) -> data.DeleteResult:
        return data.delete(self.get(db, name, check_name=True), partition, expr, params)

    def query(
        self,
        db: str,
        name: str,
        expr: str,
        output_fields: Sequence[str],
        *,
        limit: int | None = None,
        offset: int = 0,
        params: Mapping[str, Any] | None = None,
        read_ts: int | None = None,
        ignore_growing: bool = False,
        partition_names: Sequence[str] = (),
        timezone: str = "",
        order_by: str = "",
    ) -> data.QueryResult:
        """``timezone``: this query's zone; ``order_by``: ``order_by_fields`` (``a:asc,b:desc``)."""
        collection = self.get(db, name, check_name=True)
        zone = collection_timezone(self.catalog, collection.meta, timezone)
        return data.query(
            collection,
            expr,
            params,
            output_fields,
            limit,
            offset,
            read_ts,
            ignore_growing=ignore_growing,
            partition_names=partition_names,
            context=Context(zone),
            order_by=order_by,
        )

    def search(
        self,
        db: str,
        name: str,
        request: prepared_search.SearchRequest,
        vectors: prepared_search.Queries | QueryTexts,
        read_ts: int | None = None,
    ) -> prepared_search.SearchResult:
        context = Context(self.timezone(db, name, request.timezone))
        return prepared_search.search(self.get(db, name), request, vectors, read_ts, context)

    def vectors_of_keys(self, db: str, name: str, field: str | None, keys: Sequence[Any]) -> Any:
        """Stored vectors of primary keys, for a search by ``ids``."""
        return data.vectors_of_keys(self.get(db, name), field, keys)

    def search_by_key(
        self,
        db: str,
        name: str,
        key: Hashable,
        request: Callable[[], prepared_search.SearchRequest],
        vectors: prepared_search.Queries | QueryTexts,
        iterator_ts: int | None = None,
    ) -> prepared_search.SearchResult:
        """``search``, planning the request once per ``key`` (a hashable form of its shape).

        ``request`` is called only when there is no current plan for ``key``.
        A search iterator's page reads at ``iterator_ts`` (its first page's).
        """
        plan = prepared_search.cached_plan(self.get(db, name), key, request)
        read_ts = iterator_ts if plan.request.iterator else None
        context = Context(self.timezone(db, name, plan.request.timezone))
        return prepared_search.run_search(plan, vectors, read_ts, context)

    def hybrid_search(
        self, db: str, name: str, req: HybridSearchRequest, vectors: Sequence[Queries]
    ) -> prepared_search.SearchResult:
        """HybridSearch: ``vectors[i]`` are the queries of ``req.searches[i]``."""
        return hybrid_search(self.get(db, name), req, vectors)
