"""A metadata store held in memory: for reading an old folder layout without changing it."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping


class MemoryMetaStore:
    """:class:`~sluice.storage.meta_store.MetaStore` in a dict (not durable)."""

    def __init__(self, values: Mapping[str, bytes] | None = None) -> None:
        self._lock = threading.Lock()
        self._values = dict(values or {})

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._values.get(key)

    def scan(self, prefix: str) -> dict[str, bytes]:
        with self._lock:
            return dict(sorted((k, v) for k, v in self._values.items() if k.startswith(prefix)))

    def commit(self, puts: Mapping[str, bytes], deletes: Iterable[str] = ()) -> None:
        with self._lock:
            for key in deletes:
                self._values.pop(key, None)
            self._values.update(puts)

    def close(self) -> None:
        pass
