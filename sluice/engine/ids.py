"""A persistent allocator for collection, partition, segment, index and row IDs.

Milvus IDs are large int64s drawn from one global allocator; so are ours.
The allocator persists (metadata-store key ``ids``) the end of a reserved block before handing out any ID
inside it, so an ID is never reused after a crash (a crash only skips the
unused rest of a block).  A fresh data folder starts at a timestamp-derived
value, which gives IDs the magnitude Milvus users are used to
(``4.5e17``-ish) without any risk of collision with an earlier folder.
"""

from __future__ import annotations

import threading

import orjson

from sluice.storage.meta_store import MetaStore

BLOCK = 1 << 20


class IdAllocator:
    KEY = "ids"

    def __init__(self, store: MetaStore, first_id: int) -> None:
        self._store = store
        self._lock = threading.Lock()
        raw = store.get(self.KEY)
        if raw is not None:
            self._next = int(orjson.loads(raw)["reserved_end"])
        else:
            self._next = first_id
        self._reserved_end = self._next
        self._reserve(BLOCK)

    def allocate(self, count: int = 1) -> int:
        """Reserve ``count`` consecutive IDs; return the first."""
        with self._lock:
            if self._next + count > self._reserved_end:
                self._reserve(max(BLOCK, count))
            first = self._next
            self._next += count
            return first

    def _reserve(self, size: int) -> None:
        end = self._next + size
        # Persist first: if the write fails, nothing in the new block was handed out.
        self._store.commit({self.KEY: orjson.dumps({"reserved_end": end})})
        self._reserved_end = end
