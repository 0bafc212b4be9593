"""The metadata store: small, durable key/value state committed atomically.

Everything Sluice must remember besides rows and logs lives here: the catalog
(databases, collections, aliases), per-collection segment manifests, the
timestamp oracle's window and the ID allocator's block.  The engine speaks
only to :class:`MetaStore`; which implementation backs it is configuration.

Contract (every implementation; ``tests/storage/test_meta_store_contract.py``
runs one suite over all of them):

* keys are ``/``-separated text, values are bytes;
* :meth:`MetaStore.commit` applies its puts and deletes all together or not
  at all, and is durable when it returns: a crash at any moment leaves either
  the state before the commit or the state after it;
* reads see every commit that returned before them;
* :meth:`MetaStore.scan` returns every key under a prefix, in key order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable


@runtime_checkable
class MetaStore(Protocol):
    """Durable key/value metadata with atomic multi-key commits."""

    def get(self, key: str) -> bytes | None:
        """The value of ``key``, or ``None`` when it does not exist."""
        ...

    def scan(self, prefix: str) -> dict[str, bytes]:
        """Every key starting with ``prefix`` and its value, in key order."""
        ...

    def commit(self, puts: Mapping[str, bytes], deletes: Iterable[str] = ()) -> None:
        """Apply ``puts`` and ``deletes`` atomically and durably (deleting a missing key is fine)."""
        ...

    def close(self) -> None:
        """Release files or connections; the store is unusable afterwards."""
        ...
