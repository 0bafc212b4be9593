"""Sluice's Python client: one interface for an in-process engine and for a server.

    import sluice
    with sluice.connect("./data") as db:                  # embedded
        ...
    with sluice.connect("http://127.0.0.1:19530") as db:  # remote
        ...

:class:`Client` is the interface; :class:`EmbeddedClient` and
:class:`RemoteClient` implement it and are imported lazily (the first pulls
in the engine, the second gRPC and pymilvus), so importing this package
costs neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sluice.client.base import Client, IndexParam, PersistentSegment
from sluice.client.connection import connect
from sluice.client.errors import FlushCancelledError, FlushTimeoutError
from sluice.client.flush_task import Checkpoint, FlushAllTask, FlushTask

if TYPE_CHECKING:
    from sluice.client.embedded import EmbeddedClient
    from sluice.client.remote import RemoteClient

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
    "connect",
]

_LAZY = {
    "EmbeddedClient": "sluice.client.embedded",
    "RemoteClient": "sluice.client.remote",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
