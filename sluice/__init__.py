"""Sluice: a Milvus-compatible vector database.

    import sluice
    db = sluice.connect("./data")                 # embedded, in this process
    db = sluice.connect("http://127.0.0.1:19530")  # a Sluice (or Milvus) server

The client names below load on first access, so ``import sluice.engine``
(or the server) does not import the client, and ``import sluice`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sluice.client import (
        Checkpoint,
        Client,
        EmbeddedClient,
        FlushAllTask,
        FlushCancelledError,
        FlushTask,
        FlushTimeoutError,
        IndexParam,
        PersistentSegment,
        RemoteClient,
        connect,
    )

__version__ = "0.1.0"

__all__ = [
    "Checkpoint",
    "Client",
    "EmbeddedClient",
    "FlushAllTask",
    "FlushCancelledError",
    "FlushTask",
    "FlushTimeoutError",
    "IndexParam",
    "PersistentSegment",
    "RemoteClient",
    "__version__",
    "connect",
]

_CLIENT_NAMES = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        return getattr(importlib.import_module("sluice.client"), name)
    raise AttributeError(f"module 'sluice' has no attribute {name!r}")
