"""Hand memory freed by a large load back to the operating system.

Loading a segment reads its files into buffers (Arrow's allocator) and
converts them (numpy, through ``malloc``); once the segment is placed those
buffers are garbage.  Both allocators keep freed pages for reuse, which
would leave a memory-mapped collection's loading cost in the process's
anonymous memory for good: Arrow's pool is asked to release them, and glibc
to trim its heaps (``malloc_trim``; a no-op elsewhere).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

import pyarrow as pa


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory() -> None:
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
