"""Hybrid timestamps (``physical_ms << 18 | logical``) that never go backwards.

Milvus orders every write and read with these.  The oracle persists a
*window end*: a physical time not yet handed out.  On start it resumes from
``max(now, saved window end)`` (the metadata-store key ``tso``), so timestamps stay strictly increasing across
restarts even if the wall clock stepped back.  The window is renewed
``WINDOW_MS`` ahead of use, so the file is rewritten about every three
seconds of activity, not per timestamp.
"""

from __future__ import annotations

import threading
import time

import orjson

from sluice.storage.meta_store import MetaStore

LOGICAL_BITS = 18
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1
WINDOW_MS = 3000


def compose(physical_ms: int, logical: int = 0) -> int:
    return (physical_ms << LOGICAL_BITS) | logical


def physical_ms(ts: int) -> int:
    return ts >> LOGICAL_BITS


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class TimestampOracle:
    KEY = "tso"

    def __init__(self, store: MetaStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        raw = store.get(self.KEY)
        saved = int(orjson.loads(raw)["window_end_ms"]) if raw is not None else 0
        self._physical = max(now_ms(), saved)
        self._logical = 0
        self._window_end = 0
        self._renew(self._physical)

    def allocate(self, count: int = 1) -> int:
        """Reserve ``count`` consecutive timestamps; return the last one."""
        with self._lock:
            now = now_ms()
            if now > self._physical:
                self._physical = now
                self._logical = 0
            if self._logical + count > LOGICAL_MASK:
                self._physical += 1
                self._logical = 0
            self._logical += count
            if self._physical >= self._window_end:
                self._renew(self._physical)
            return compose(self._physical, self._logical)

    def last(self) -> int:
        """The most recent timestamp handed out (without allocating)."""
        with self._lock:
            return compose(self._physical, self._logical)

    def _renew(self, physical: int) -> None:
        end = physical + WINDOW_MS
        # Persist first: a failed write must not let later timestamps pass the saved bound.
        self._store.commit({self.KEY: orjson.dumps({"window_end_ms": end})})
        self._window_end = end
