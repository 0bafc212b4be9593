"""The database engine: catalog, timestamps, channels, segments, flush, reads.

This module is the engine's one public surface: the gRPC API and the
embedded client import from here and nowhere deeper, and never hold live
engine objects (a :class:`CollectionInfo` is a frozen copy).  The engine
itself never imports the API or the clients.
"""

from sluice.engine.access import ROOT_USER, AccessControl, Grant, RbacBackup, UserBackup
from sluice.engine.access.names import validate_username
from sluice.engine.aliases import AliasInfo
from sluice.engine.backup import BackupSummary, backup, export_collection, restore
from sluice.engine.catalog import DEFAULT_DB
from sluice.engine.compaction_ops import CompactionInfo
from sluice.engine.data import DeleteResult, InsertResult, QueryResult
from sluice.engine.databases import DatabaseInfo
from sluice.engine.describe import CollectionInfo
from sluice.engine.engine import Engine
from sluice.engine.flush import CollectionFlush, FlushResult
from sluice.engine.flush_ops import FlushAllResult, LoadedSegment, SegmentInfo
from sluice.engine.functions import QueryTexts
from sluice.engine.hybrid_search import HybridSearchRequest
from sluice.engine.import_jobs import ImportJob, import_job, list_import_jobs, submit_import
from sluice.engine.indexes import IndexInfo
from sluice.engine.ingest import Column
from sluice.engine.output import COUNT_STAR, OutputSpec
from sluice.engine.partition_keys import DEFAULT_KEY_PARTITIONS, MAX_PARTITIONS
from sluice.engine.partitions import LoadState, PartitionInfo
from sluice.engine.prepared_search import SearchRequest, SearchResult
from sluice.engine.ratelimit import QuotaLimiter
from sluice.engine.rerank import FunctionScore
from sluice.engine.search import SearchHits
from sluice.engine.segment import SegmentLevel, SegmentState
from sluice.engine.stats import CollectionStats, EngineStats, engine_stats, resident_memory_bytes
from sluice.engine.struct_search import EmbeddingLists
from sluice.text import AnalyzedToken

__all__ = [
    "COUNT_STAR",
    "DEFAULT_DB",
    "DEFAULT_KEY_PARTITIONS",
    "MAX_PARTITIONS",
    "ROOT_USER",
    "AccessControl",
    "AliasInfo",
    "AnalyzedToken",
    "BackupSummary",
    "CollectionFlush",
    "CollectionInfo",
    "CollectionStats",
    "Column",
    "CompactionInfo",
    "DatabaseInfo",
    "DeleteResult",
    "EmbeddingLists",
    "Engine",
    "EngineStats",
    "FlushAllResult",
    "FlushResult",
    "FunctionScore",
    "Grant",
    "HybridSearchRequest",
    "ImportJob",
    "IndexInfo",
    "InsertResult",
    "LoadState",
    "LoadedSegment",
    "OutputSpec",
    "PartitionInfo",
    "QueryResult",
    "QueryTexts",
    "QuotaLimiter",
    "RbacBackup",
    "SearchHits",
    "SearchRequest",
    "SearchResult",
    "SegmentInfo",
    "SegmentLevel",
    "SegmentState",
    "UserBackup",
    "backup",
    "engine_stats",
    "export_collection",
    "import_job",
    "list_import_jobs",
    "resident_memory_bytes",
    "restore",
    "submit_import",
    "validate_username",
]
