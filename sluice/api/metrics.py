"""Prometheus metrics of a running server, assembled when ``/metrics`` is scraped.

Nothing here runs on a request's path: handlers and the engine add to the
plain counters of :mod:`sluice.telemetry`, and :class:`SluiceCollector`
turns those, plus a walk over the engine's collections
(:func:`sluice.engine.engine_stats`), into metric families at scrape time.
The registry is Sluice's own (not ``prometheus_client``'s global one), so
importing Sluice into another program adds nothing to that program's metrics.

Families (all prefixed ``sluice_``):

* ``rpc_requests_total`` / ``rpc_latency_seconds`` by ``method`` and Milvus
  status ``code`` (REST requests run the same handlers and count here too);
  ``http_requests_total`` / ``http_latency_seconds`` by ``path`` and HTTP ``status``;
* ``rows_inserted_total``, ``rows_deleted_total``, ``rows_imported_total``;
* ``wal_fsync_seconds`` and ``wal_group_commit_records`` (records per fsync);
* ``flush_segment_seconds`` (a segment's final sync), ``index_build_seconds``;
* ``collections``, ``segments{state}``, ``rows_in_memory``, ``memory_segment_bytes``,
  ``segment_file_bytes``, ``search_plan_cache_entries``, ``filter_mask_cache_entries``;
* ``process_*`` from prometheus_client's process collector (RSS, CPU, open files).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sluice import telemetry
from sluice.engine import Engine, engine_stats, resident_memory_bytes

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _buckets(snapshot: telemetry.HistogramSnapshot) -> list[tuple[str, float]]:
    pairs = [
        (repr(float(b)), float(c))
        for b, c in zip(snapshot.buckets, snapshot.cumulative[:-1], strict=True)
    ]
    pairs.append(("+Inf", float(snapshot.count)))
    return pairs


def _histogram(name: str, doc: str, snapshot: telemetry.HistogramSnapshot) -> Metric:
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], _buckets(snapshot), snapshot.total)
    return family


def _labeled(
    name: str, doc: str, labels: list[str], source: telemetry.LabeledHistograms
) -> tuple[Metric, Metric]:
    counts = CounterMetricFamily(f"{name}_requests", f"{doc}: requests", labels=labels)
    latency = HistogramMetricFamily(f"{name}_latency_seconds", f"{doc}: latency", labels=labels)
    for values, snapshot in sorted(source.items()):
        counts.add_metric(list(values), float(snapshot.count))
        latency.add_metric(list(values), _buckets(snapshot), snapshot.total)
    return counts, latency


class SluiceCollector(Collector):
    """Reads :mod:`sluice.telemetry` and the engine when the registry is collected."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        yield from _labeled(
            "sluice_rpc",
            "Milvus RPCs by method and status code",
            ["method", "code"],
            telemetry.RPC_LATENCY,
        )
        yield from _labeled(
            "sluice_http",
            "HTTP requests by path and status",
            ["path", "status"],
            telemetry.HTTP_LATENCY,
        )
        for name, counter, doc in (
            ("sluice_rows_inserted", telemetry.ROWS_INSERTED, "Rows inserted or upserted"),
            ("sluice_rows_deleted", telemetry.ROWS_DELETED, "Primary keys deleted"),
            ("sluice_rows_imported", telemetry.ROWS_IMPORTED, "Rows written by bulk import"),
        ):
            yield CounterMetricFamily(name, doc, value=counter.value)
        yield _histogram(
            "sluice_wal_fsync_seconds", "WAL fsync latency", telemetry.WAL_FSYNC_SECONDS.snapshot()
        )
        yield _histogram(
            "sluice_wal_group_commit_records",
            "WAL records made durable by one fsync (group commit size)",
            telemetry.WAL_GROUP_RECORDS.snapshot(),
        )
        yield _histogram(
            "sluice_flush_segment_seconds",
            "Final sync of a sealed segment to segment files",
            telemetry.FLUSH_SECONDS.snapshot(),
        )
        yield _histogram(
            "sluice_index_build_seconds",
            "Building one vector index for one segment",
            telemetry.INDEX_BUILD_SECONDS.snapshot(),
        )
        yield from self._engine_families()

    def _engine_families(self) -> Iterator[Metric]:
        stats = engine_stats(self._engine)
        yield GaugeMetricFamily("sluice_collections", "Collections", value=len(stats.collections))
        segments = GaugeMetricFamily("sluice_segments", "Data segments by state", labels=["state"])
        for state, count in sorted(stats.segments_by_state.items()):
            segments.add_metric([state], count)
        yield segments
        yield GaugeMetricFamily(
            "sluice_delete_segments",
            "Level-0 (delete log) segments",
            value=sum(c.delete_segments for c in stats.collections),
        )
        yield GaugeMetricFamily(
            "sluice_rows_in_memory",
            "Rows held in memory, deleted rows included",
            value=sum(c.rows for c in stats.collections),
        )
        yield GaugeMetricFamily(
            "sluice_memory_segment_bytes",
            "Bytes of segment data in memory",
            value=stats.memory_bytes,
        )
        yield GaugeMetricFamily(
            "sluice_segment_file_bytes",
            "Bytes of binlogs and delta logs on storage",
            value=sum(c.file_bytes for c in stats.collections),
        )
        yield GaugeMetricFamily(
            "sluice_search_plan_cache_entries",
            "Prepared search plans kept",
            value=stats.search_plans,
        )
        yield GaugeMetricFamily(
            "sluice_filter_mask_cache_entries",
            "Filter row masks cached on segment snapshots",
            value=stats.filter_masks,
        )
        yield GaugeMetricFamily(
            "sluice_resident_memory_bytes", "Resident set size", value=resident_memory_bytes()
        )


def metrics_registry(engine: Engine) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SluiceCollector(engine))
    ProcessCollector(namespace="sluice", registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of everything in ``registry``."""
    return generate_latest(registry)
