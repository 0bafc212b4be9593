"""BM25 corpus statistics of exactly the rows a search can see.

Milvus weights a BM25 query by statistics it accumulates per collection and
corrects for deleted rows only at compaction.  Sluice derives them, per
search, from the snapshot itself: each segment's statistics (computed once
per sealed segment; for a growing one, extended by the rows appended since
the last search) minus the statistics of its rows the snapshot hides
(deleted, expired, or written after the read timestamp).  So the scores
always follow the BM25 formula over the live corpus, after deletes, flushes
and restarts alike.  Every loaded partition counts, whichever partitions a
search names, as in Milvus (its statistics are per collection).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from sluice.engine.collection import Snapshot
from sluice.engine.columns import SegmentView
from sluice.engine.reader import visible
from sluice.index import Bm25Stats

CsrOf = Callable[[SegmentView, str], sp.csr_matrix]
#: Merged statistics kept per collection (one per recently searched state and field).
MERGED_KEPT = 8


class CorpusStatistics:
    """A collection's per-segment BM25 statistics, by (segment, field)."""

    def __init__(self) -> None:
        #: (segment id, field) -> (rows covered, statistics of those rows).
        self._covered: dict[tuple[int, str], tuple[int, Bm25Stats]] = {}
        #: Merged statistics of recent snapshots, by what decides them (see ``of_snapshot``).
        self._merged: dict[tuple[object, ...], Bm25Stats] = {}
        self._lock = threading.Lock()

    def of_snapshot(self, snapshot: Snapshot, field: str, csr_of: CsrOf) -> Bm25Stats:
        """The statistics of the rows ``snapshot`` shows.

        They depend only on each segment's rows and which of them are
        hidden, so consecutive searches over an unchanged collection reuse
        one merge (read timestamps differ, the visible rows do not).
        """
        shown_by_view = []
        key: list[object] = [field]
        for view in snapshot.segments:
            shown = visible(view, snapshot)
            hidden = None if shown is None or shown.all() else np.flatnonzero(~shown)
            shown_by_view.append(hidden)
            key.append(
                (view.segment_id, view.num_rows, None if hidden is None else hidden.tobytes())
            )
        whole_key = tuple(key)
        with self._lock:
            found = self._merged.get(whole_key)
        if found is not None:
            return found
        parts = []
        for view, hidden in zip(snapshot.segments, shown_by_view, strict=True):
            full = self._segment(view, field, csr_of)
            if hidden is not None:
                full = subtract(full, Bm25Stats.of_documents(csr_of(view, field)[hidden]))
            parts.append(full)
        merged = Bm25Stats.merge(parts)
        with self._lock:
            if len(self._merged) >= MERGED_KEPT:
                self._merged.pop(next(iter(self._merged)))
            self._merged[whole_key] = merged
        return merged

    def forget(self, segment_id: int) -> None:
        with self._lock:
            for key in [k for k in self._covered if k[0] == segment_id]:
                del self._covered[key]

    def _segment(self, view: SegmentView, field: str, csr_of: CsrOf) -> Bm25Stats:
        key = (view.segment_id, field)
        with self._lock:
            covered, stats = self._covered.get(key, (0, None))
        if stats is not None and covered == view.num_rows:
            return stats
        rows = csr_of(view, field)
        if stats is not None and covered < view.num_rows:
            # A growing segment only gains rows: count the new ones.
            stats = Bm25Stats.merge([stats, Bm25Stats.of_documents(rows[covered:])])
        else:
            stats = Bm25Stats.of_documents(rows)
        with self._lock:
            self._covered[key] = (view.num_rows, stats)
        return stats


def subtract(whole: Bm25Stats, part: Bm25Stats) -> Bm25Stats:
    """The statistics of ``whole`` without the rows ``part`` counts (a subset of them)."""
    at = np.searchsorted(whole.terms, part.terms)
    freq = whole.doc_freq.copy()
    np.subtract.at(freq, at, part.doc_freq)
    keep = freq > 0
    return Bm25Stats(
        doc_count=whole.doc_count - part.doc_count,
        total_length=whole.total_length - part.total_length,
        terms=whole.terms[keep],
        doc_freq=freq[keep],
    )
