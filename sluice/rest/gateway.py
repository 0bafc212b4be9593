"""Calling the gRPC servicer in process, as Milvus's REST handlers call its proxy.

A REST handler builds the protobuf request Milvus's own handler builds and
hands it to :meth:`Gateway.call`, which

1. runs the gate every gRPC request passes (:class:`sluice.api.access.Gate`:
   login, privilege, quota) with the REST request's credentials;
2. calls the servicer method directly with a :class:`RestContext` standing in
   for gRPC's (it carries the ``authorization`` and ``dbname`` headers and a
   deadline);
3. turns a non-zero status into a :class:`RestFailure` with Milvus's code and
   reason, which the app answers as ``{"code": ..., "message": ...}`` with
   HTTP 200, as Milvus's REST layer does.

So REST inherits every validation, error wording and feature of the gRPC
API, including RPCs Sluice answers "not supported".
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from sluice.api.access import Gate, run_as
from sluice.api.base import status_field
from sluice.api.servicer import SluiceServicer
from sluice.errors import (
    AuthenticationFailed,
    PermissionDenied,
    RestNeedAuthenticate,
    RestRateLimited,
    SluiceError,
)

#: Milvus's REST timeout header (seconds) and its default.
TIMEOUT_HEADER = "request-timeout"
DEFAULT_TIMEOUT = 30.0


class RestFailure(Exception):
    """A refusal answered as Milvus's REST layer answers it: a code, a message, an HTTP status."""

    def __init__(self, code: int, message: str, http_status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status

    @classmethod
    def of(cls, err: SluiceError, http_status: int = 200) -> RestFailure:
        return cls(err.code, err.message, http_status)


class AbortedCall(Exception):
    """A handler asked its context to abort (only Dummy-like RPCs do)."""

    def __init__(self, code: Any, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class RestContext:
    """What the servicer's handlers read from a gRPC context, filled from an HTTP request."""

    def __init__(self, metadata: dict[str, str], timeout: float) -> None:
        self._metadata = tuple(metadata.items())
        self._deadline = time.monotonic() + timeout

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def time_remaining(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    def abort(self, code: Any, details: str) -> None:
        raise AbortedCall(code, details)


def credentials_header(authorization: str, basic: tuple[str, str] | None) -> str:
    """The gRPC ``authorization`` metadata for REST credentials.

    Milvus's REST layer takes HTTP Basic credentials, or ``Bearer user:password``
    (or an API key) in the ``Authorization`` header; the SDKs send
    ``base64(user:password)`` over gRPC, which is what the gate reads.
    """
    if basic is not None:
        user, password = basic
        return base64.b64encode(f"{user}:{password}".encode()).decode()
    token = authorization.removeprefix("Bearer ")
    if not token:
        return ""
    return base64.b64encode(token.encode()).decode()


class Gateway:
    """The servicer plus the gate, for REST handlers."""

    def __init__(self, servicer: SluiceServicer, gate: Gate) -> None:
        self.servicer = servicer
        self.gate = gate

    def call(self, method: str, request: Message, ctx: RestContext) -> Any:
        """Run RPC ``method`` as a gRPC client would; raise :class:`RestFailure` on a failure."""
        response = self.call_raw(method, request, ctx)
        field = status_field(method)
        status = response if field is None and hasattr(response, "code") else None
        if field is not None:
            status = getattr(response, field)
        if status is not None and (status.code != 0 or status.error_code != 0):
            code = status.code or 65535
            raise RestFailure(code, status.reason)
        return response

    def call_raw(self, method: str, request: Message, ctx: RestContext) -> Any:
        """Run RPC ``method`` and return its response whatever its status."""
        user = self.admit(method, request, ctx)
        handler: Callable[[Message, RestContext], Any] = getattr(self.servicer, method)
        try:
            return run_as(user, lambda: handler(request, ctx))
        except AbortedCall as aborted:
            raise RestFailure(65535, aborted.details) from None

    def admit(self, method: str, request: Message, ctx: RestContext) -> str | None:
        """The gate's verdict, in REST's terms (401, 403, or a limiter refusal)."""
        if not self.gate.active:
            return None
        headers = dict(ctx.invocation_metadata())
        try:
            return self.gate.admit(method, request, lambda key: headers.get(key, ""))
        except AuthenticationFailed:
            raise RestFailure.of(RestNeedAuthenticate(), 401) from None
        except PermissionDenied as err:
            # Milvus's privilege interceptor fails with a gRPC status error, which its
            # REST layer prints whole, with the catch-all code.
            raise RestFailure(
                65535, f"rpc error: code = PermissionDenied desc = {err.message}", 403
            ) from None
        except SluiceError as err:
            raise RestFailure.of(RestRateLimited.because(err.message)) from None


class Call:
    """One REST request as a handler sees it: its context, database and output options."""

    __slots__ = ("ctx", "db", "int64_as_number")

    def __init__(self, ctx: RestContext, db: str, int64_as_number: bool) -> None:
        self.ctx = ctx
        self.db = db
        self.int64_as_number = int64_as_number
