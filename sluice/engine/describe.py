"""Read-only descriptions of engine objects, for the API and the clients.

Callers outside the engine never hold a live collection: they get a frozen
:class:`CollectionInfo` copied from the catalog at the moment they asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sluice.engine.catalog import CollectionMeta
from sluice.schema import CollectionSchema, ConsistencyLevel


@dataclass(frozen=True)
class CollectionInfo:
    """What DescribeCollection and friends report about one collection."""

    id: int
    db: str
    name: str
    schema: CollectionSchema
    shards_num: int
    vchannels: tuple[str, ...]
    pchannels: tuple[str, ...]
    #: Partition name -> partition ID, in creation order.
    partitions: Mapping[str, int]
    consistency_level: ConsistencyLevel
    created_ts: int
    created_utc_ms: int
    properties: Mapping[str, str]
    #: Whether any partition is loaded (reads are served).
    loaded: bool
    #: Aliases that resolve to this collection, in creation order.
    aliases: tuple[str, ...] = ()
    #: The database's ID (DescribeCollection's ``db_id``).
    db_id: int = 0
    #: The last DDL change (DescribeCollection's ``update_timestamp``).
    updated_ts: int = 0

    @classmethod
    def of(cls, meta: CollectionMeta, db_id: int = 0) -> CollectionInfo:
        return cls(
            id=meta.id,
            db=meta.db,
            name=meta.name,
            schema=meta.schema,
            shards_num=meta.shards_num,
            vchannels=tuple(meta.vchannels),
            pchannels=tuple(meta.pchannels),
            partitions={name: p.id for name, p in meta.partitions.items()},
            consistency_level=meta.consistency_level,
            created_ts=meta.created_ts,
            created_utc_ms=meta.created_utc_ms,
            properties=dict(meta.properties),
            loaded=meta.any_loaded,
            aliases=tuple(meta.aliases),
            db_id=db_id,
            updated_ts=meta.updated_ts or meta.created_ts,
        )
