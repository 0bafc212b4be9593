"""How many OpenMP threads FAISS may use for a call.

FAISS parallelises a search over its queries and an index build over its
vectors.  A single query gains nothing from a thread team and, when several
Python threads search at once (FAISS releases the GIL, so they do run in
parallel), a team per call oversubscribes the cores.  So:

* searches with fewer than ``batch_min_queries`` queries (default 8) run on
  one OpenMP thread; the caller's own threads supply the parallelism;
* larger batches and index builds use ``max_threads`` (default: every core
  FAISS sees at import, e.g. 2 on a 2-core machine, where batched HNSW search
  measured about 1.8x faster than with one thread).

OpenMP threads that finish a parallel region spin for a while before they
sleep (libgomp's default ``OMP_WAIT_POLICY``).  On a 2-core machine that also
serves queries, a spinning team steals the core its partner needs, and every
barrier waits for a descheduled thread: with other work running, training an
IVF_FLAT index on 20k x 64 rows took 1.1 s on two threads against 0.09 s on
one.  With passive waiting it took 0.13 s.  So importing :mod:`sluice.index`
sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment says otherwise (it
only takes effect when set before FAISS is first imported).

A single query over a large flat segment is a memory scan that one core
cannot saturate, and a single query over many segments is one index probe
after another: :func:`scan_blocks` runs such work as one block per core (rows
of a scan, or segments), the caller's thread taking the first and a small
shared pool the others (FAISS releases the GIL, so the blocks run at once).
Work inside a block never fans out again.

OpenMP's thread count is per OS thread, so setting it from one Python thread
never changes another's.  The last value set is remembered per thread, making
the common case (same count as last call) free.  Code outside this package
that calls ``faiss.omp_set_num_threads`` directly should call
:func:`forget_thread_setting` afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import faiss


@dataclass(frozen=True)
class ThreadSettings:
    """``max_threads`` for builds and big batches; below ``batch_min_queries``, one thread."""

    max_threads: int
    batch_min_queries: int


_settings = ThreadSettings(max_threads=max(1, faiss.omp_get_max_threads()), batch_min_queries=8)
_local = threading.local()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()

_T = TypeVar("_T")


def configure_threads(
    *, max_threads: int | None = None, batch_min_queries: int | None = None
) -> ThreadSettings:
    """Change the process-wide policy; returns the settings now in force."""
    global _settings
    _settings = ThreadSettings(
        max_threads=max(1, max_threads if max_threads is not None else _settings.max_threads),
        batch_min_queries=max(
            1,
            batch_min_queries if batch_min_queries is not None else _settings.batch_min_queries,
        ),
    )
    return _settings


def thread_settings() -> ThreadSettings:
    return _settings


def use_threads_for_queries(nq: int) -> None:
    """Set this thread's OpenMP count for a search of ``nq`` queries."""
    settings = _settings
    _apply(1 if nq < settings.batch_min_queries else settings.max_threads)


def use_build_threads() -> None:
    """Set this thread's OpenMP count for training and adding vectors."""
    _apply(_settings.max_threads)


def forget_thread_setting() -> None:
    """Drop this thread's remembered count so the next call sets it again."""
    _local.count = None


def _apply(count: int) -> None:
    if getattr(_local, "count", None) != count:
        faiss.omp_set_num_threads(count)
        _local.count = count


def scan_blocks(run: Callable[[int, int], _T], total: int, min_block: int) -> Sequence[_T]:
    """``run(start, stop)`` over ``[0, total)`` cut into one block per core, at once.

    Blocks are never smaller than ``min_block`` rows, so a small scan stays one
    call in the caller's thread.  Each block runs with one OpenMP thread.
    """
    parts = max(1, min(_settings.max_threads, total // max(min_block, 1)))
    if parts == 1 or getattr(_local, "in_block", False):
        # A block's own scans (a segment search inside a fan-out over segments) stay in
        # its thread: the pool's threads are the other blocks, waiting on them could hang.
        use_threads_for_queries(1)
        return [run(0, total)]
    edges = [total * i // parts for i in range(parts + 1)]
    pool = _scan_pool()
    futures: list[Future[_T]] = [
        pool.submit(_one_thread, run, edges[i], edges[i + 1]) for i in range(1, parts)
    ]
    first = _one_thread(run, edges[0], edges[1])
    return [first, *(future.result() for future in futures)]


def _one_thread(run: Callable[[int, int], _T], start: int, stop: int) -> _T:
    use_threads_for_queries(1)
    _local.in_block = True
    try:
        return run(start, stop)
    finally:
        _local.in_block = False


def _scan_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, _settings.max_threads - 1), thread_name_prefix="sluice-scan"
            )
        return _pool
