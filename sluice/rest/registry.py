"""The table of ``/v2/vectordb/...`` endpoints: path -> request struct and handler.

Handlers take the gateway, the bound body and the :class:`Call`, and return
the whole JSON answer (``{"code": 0, "data": ...}``); refusals raise
:class:`~sluice.rest.gateway.RestFailure` or a :class:`~sluice.errors.SluiceError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sluice.rest.body import Key, Struct
from sluice.rest.gateway import Call, Gateway

Handler = Callable[[Gateway, dict[str, Any], Call], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    struct: Struct
    handler: Handler


ROUTES: dict[str, Endpoint] = {}


def endpoint(path: str, struct: str, *keys: Key) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``POST /v2/vectordb<path>`` with its Go request struct."""

    def register(handler: Handler) -> Handler:
        ROUTES[path] = Endpoint(Struct(struct, keys), handler)
        return handler

    return register


def ok(data: Any = None, **extra: Any) -> dict[str, Any]:
    """Milvus's success answer (``data`` defaults to ``{}``, as ``wrapperReturnDefault``)."""
    return {"code": 0, "data": {} if data is None else data, **extra}
