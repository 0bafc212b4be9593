"""Hand memory freed by a large load back to the operating system.

Loading a segment reads its files into buffers (Arrow's allocator) and
converts them (numpy, through ``malloc``); once the segment is placed those
buffers are garbage.  Both allocators keep freed pages for reuse, which
would leave a memory-mapped collection's loading cost in the process's
anonymous memory for good: Arrow's pool is asked to release them, and glibc
to trim its heaps (``malloc_trim``; a no-op elsewhere).

glibc also gives each thread that allocates its own arena, and memory freed
into the arena of a thread that has finished (start-up loads segments on a
small pool) was measured to stay resident: a memory-mapped 61 MB collection
restarted at 0.75-0.9x its size in anonymous memory instead of 0.2x.  A
server process therefore caps glibc at two arenas
(:func:`limit_malloc_arenas`, the ``MALLOC_ARENA_MAX=2`` that Python servers
commonly run with); an embedded engine leaves its host's allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

import pyarrow as pa

#: glibc's ``mallopt`` parameter for the arena cap.
_M_ARENA_MAX = -8
SERVER_MALLOC_ARENAS = 2


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def limit_malloc_arenas(count: int = SERVER_MALLOC_ARENAS) -> None:
    """Cap glibc's malloc arenas (call before threads start; a no-op without glibc)."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is not None:
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        mallopt(_M_ARENA_MAX, count)


def release_freed_memory() -> None:
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
