"""Errors only a client raises, and the lookup from a Milvus ``code`` back to a Sluice class.

The server turns every :class:`~sluice.errors.SluiceError` into a
``common.Status`` whose ``code`` is the class's ``code`` attribute
(``sluice.api.status``).  A remote client has to undo that, so that
``except CollectionNotFound`` works whether the engine runs in this process or
behind gRPC.  The lookup is *derived* from :mod:`sluice.errors` (never a second
hand-written table), so a new error class there is picked up here with no edit.

Several classes share a code (``ServiceNotReady`` and ``DataDirLockedError``
are both 1; ``RequestError`` inherits 65535).  The first class in
:mod:`sluice.errors` that introduces a code owns it; 65535 with the server's
``is_input_error`` flag maps to :class:`~sluice.errors.RequestError`, the
class the engine uses for Milvus's uncoded input errors.
"""

from __future__ import annotations

import functools

from sluice import errors as core
from sluice.errors import RequestError, SluiceError

#: Milvus's code for errors without a dedicated one (``merr`` "unexpected error").
UNEXPECTED_CODE = SluiceError.code


class FlushTimeoutError(SluiceError):
    """A flush was not persisted within the caller's timeout.

    Code 1 and the wording follow pymilvus (``wait for flush timeout,
    collection: X, flush_ts: Y``) so log searches and retry rules written for
    pymilvus keep working.  The flush itself continues on the server.
    """

    code = 1
    base_message = "wait for flush timeout"

    @classmethod
    def for_flush(cls, collection: str, flush_ts: int) -> FlushTimeoutError:
        return cls(f"{cls.base_message}, collection: {collection}, flush_ts: {flush_ts}")

    @classmethod
    def for_flush_all(cls, flush_all_ts: int) -> FlushTimeoutError:
        return cls(f"wait for flush all timeout, flush_all_ts: {flush_all_ts}")


class FlushCancelledError(SluiceError):
    """The caller's cancel event stopped a wait (Go's ``context.Canceled``); the flush goes on."""

    code = 1
    base_message = "wait for flush cancelled"

    @classmethod
    def for_flush(cls, collection: str, flush_ts: int) -> FlushCancelledError:
        return cls(f"{cls.base_message}, collection: {collection}, flush_ts: {flush_ts}")

    @classmethod
    def for_flush_all(cls, flush_all_ts: int) -> FlushCancelledError:
        return cls(f"wait for flush all cancelled, flush_all_ts: {flush_all_ts}")


@functools.cache
def classes_by_code() -> dict[int, type[SluiceError]]:
    """``code`` -> the :mod:`sluice.errors` class that introduced it (definition order)."""
    table: dict[int, type[SluiceError]] = {}
    for value in vars(core).values():
        if not (isinstance(value, type) and issubclass(value, SluiceError)):
            continue
        parent_codes = {getattr(base, "code", None) for base in value.__bases__}
        if value is SluiceError or value.code not in parent_codes:
            table.setdefault(value.code, value)
    return table


def error_from_status(code: int, message: str, *, input_error: bool = False) -> SluiceError:
    """The exception the engine would have raised for a failed ``common.Status``."""
    if code == UNEXPECTED_CODE and input_error:
        return RequestError(message)
    cls = classes_by_code().get(code, SluiceError)
    err = cls(message)
    if cls is SluiceError and code != UNEXPECTED_CODE:
        # A code Sluice does not know (a newer Milvus): keep it visible to the caller.
        err.code = code  # type: ignore[misc]
    return err
