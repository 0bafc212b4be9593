"""Hybrid timestamps (``physical_ms << 18 | logical``) that never go backwards.

Milvus orders every write and read with these.  The oracle persists a
*window end*: a physical time not yet handed out.  On start it resumes from
``max(now, saved window end)`` (metadata-store key ``tso``), so timestamps stay
strictly increasing across restarts even if the wall clock stepped back.  The window is renewed
``WINDOW_MS`` ahead of use, so the file is rewritten about every three seconds
of activity, not per timestamp.

Writes and reads use the clock differently:

* :meth:`TimestampOracle.allocate` (inserts, deletes, flushes, DDL) may renew
  the window when it has run out, and fails with
  :class:`~sluice.errors.StorageWriteError` when the folder refuses the write;
  a timestamp past the saved window end is never handed out.
* :meth:`TimestampOracle.read_timestamp` (query, search, get, count,
  iterators) never touches the disk and never waits for it.  When the window
  has run out it stays at the window's last millisecond: every acknowledged
  write is older than that (writes cannot pass the window without renewing
  it), so the read still sees them all, and a later write gets a larger
  timestamp.  With a full or read-only disk, reads keep working while writes
  fail.

:meth:`TimestampOracle.renew_ahead` renews the window before it runs out
when the clock is in use; the engine's ticker calls it, so writers rarely
wait for the disk either.  Persisting the window is :meth:`_persist_window`
and nothing else.
"""

from __future__ import annotations

import threading
import time

import orjson

from sluice.errors import StorageWriteError
from sluice.storage.meta_store import MetaStore

LOGICAL_BITS = 18
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1
WINDOW_MS = 3000
#: ``renew_ahead`` renews once less than this much of the window is left.
RENEW_AHEAD_MS = WINDOW_MS // 3


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
        #: Guards the clock; never held while the disk is written.
        self._lock = threading.Lock()
        #: Serialises window renewals (the only disk writes).
        self._renew_lock = threading.Lock()
        raw = store.get(self.KEY)
        saved = int(orjson.loads(raw)["window_end_ms"]) if raw is not None else 0
        self._physical = max(now_ms(), saved)
        self._logical = 0
        self._window_end = 0
        #: Whether the clock was used since the window was last renewed.
        self._used = False
        end = self._physical + WINDOW_MS
        self._persist_window(end)
        self._window_end = end

    def allocate(self, count: int = 1) -> int:
        """Reserve ``count`` consecutive timestamps for a write; return the last one."""
        while True:
            with self._lock:
                physical, logical = self._advance(count)
                if physical < self._window_end:
                    self._physical, self._logical = physical, logical
                    self._used = True
                    return compose(physical, logical)
                wanted = physical + WINDOW_MS
            self._extend_window(wanted)

    def read_timestamp(self) -> int:
        """A timestamp for a read: never older than any write's, never written to disk."""
        with self._lock:
            self._used = True
            physical, logical = self._advance(1)
            cap = self._window_end - 1
            if physical > cap:
                if self._physical < cap:
                    physical, logical = cap, 0
                else:
                    physical, logical = cap, min(self._logical + 1, LOGICAL_MASK)
            self._physical, self._logical = physical, logical
            return compose(physical, logical)

    def last(self) -> int:
        """The most recent timestamp handed out (without allocating)."""
        with self._lock:
            return compose(self._physical, self._logical)

    def renew_ahead(self) -> bool:
        """Renew the window if the clock is in use and little of it is left; return whether it did.

        Raises :class:`~sluice.errors.StorageWriteError` if the disk refuses.
        """
        with self._lock:
            now = max(now_ms(), self._physical)
            if not self._used or self._window_end - now > RENEW_AHEAD_MS:
                return False
            wanted = now + WINDOW_MS
        self._extend_window(wanted)
        return True

    def _advance(self, count: int) -> tuple[int, int]:
        """The (physical, logical) pair ``count`` timestamps on; caller holds the lock."""
        physical, logical = self._physical, self._logical
        now = now_ms()
        if now > physical:
            physical, logical = now, 0
        if logical + count > LOGICAL_MASK:
            physical, logical = physical + 1, 0
        return physical, logical + count

    def _extend_window(self, end: int) -> None:
        with self._renew_lock:
            with self._lock:
                if self._window_end >= end:
                    return
            self._persist_window(end)
            with self._lock:
                self._window_end = max(self._window_end, end)
                self._used = False

    def _persist_window(self, end: int) -> None:
        """Save the window end; a failed save must not let timestamps pass the old bound."""
        try:
            self._store.commit({self.KEY: orjson.dumps({"window_end_ms": end})})
        except OSError as exc:
            raise StorageWriteError.from_os_error(exc) from exc
