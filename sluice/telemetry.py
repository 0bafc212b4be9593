"""Counters and latency histograms every layer may update, read at scrape time.

Hot paths (an RPC, a WAL fsync, an insert) only add to plain numbers here;
nothing is formatted or exported until someone asks.  The server's metrics
endpoint (``sluice.api.metrics``) turns these into Prometheus families when
``/metrics`` is scraped, so a process nobody scrapes pays a lock and an
addition per event and nothing more.

Shared by every layer like ``sluice.errors``: it imports nothing of Sluice and
no exporter library, so the storage layer can record WAL fsyncs without
knowing Prometheus exists.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from dataclasses import dataclass

#: Seconds: from 50 µs (a warm search) to 60 s (an index build).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

#: Records per group commit (one fsync shared by this many appends).
GROUP_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class HistogramSnapshot:
    """Cumulative bucket counts (Prometheus convention: ``le`` bounds), sum and count."""

    buckets: tuple[float, ...]
    cumulative: tuple[int, ...]
    total: float
    count: int


class Histogram:
    """A fixed-bucket histogram; :meth:`observe` costs a bisect and a lock."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        slot = bisect.bisect_left(self.buckets, value)
        with self._lock:
            self._counts[slot] += 1
            self._sum += value

    def snapshot(self) -> HistogramSnapshot:
        with self._lock:
            counts = list(self._counts)
            total = self._sum
        cumulative = []
        running = 0
        for count in counts:
            running += count
            cumulative.append(running)
        return HistogramSnapshot(self.buckets, tuple(cumulative), total, running)


class Counter:
    """A monotonically growing count."""

    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    def inc(self, amount: int = 1) -> None:
        with self._lock:
            self._value += amount

    @property
    def value(self) -> int:
        return self._value


class LabeledHistograms:
    """One histogram per label tuple (an RPC name and a status code), made on first use."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self._buckets = tuple(buckets)
        self._children: dict[tuple[str, ...], Histogram] = {}
        self._lock = threading.Lock()
        #: ``[http] metrics = false`` turns recording off (to measure what it costs).
        self.enabled = True

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        if not self.enabled:
            return
        child = self._children.get(labels)
        if child is None:
            with self._lock:
                child = self._children.setdefault(labels, Histogram(self._buckets))
        child.observe(value)

    def items(self) -> list[tuple[tuple[str, ...], HistogramSnapshot]]:
        with self._lock:
            children = list(self._children.items())
        return [(labels, child.snapshot()) for labels, child in children]


#: gRPC (and REST, which runs the same handlers) requests by method and Milvus status code.
RPC_LATENCY = LabeledHistograms()
#: REST requests by path and HTTP status.
HTTP_LATENCY = LabeledHistograms()

ROWS_INSERTED = Counter()
ROWS_DELETED = Counter()
ROWS_IMPORTED = Counter()
WAL_FSYNC_SECONDS = Histogram()
WAL_GROUP_RECORDS = Histogram(GROUP_BUCKETS)
#: A segment's final sync (Sealed -> Flushed), one observation per segment.
FLUSH_SECONDS = Histogram()
INDEX_BUILD_SECONDS = Histogram()
