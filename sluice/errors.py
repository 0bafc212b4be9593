"""Sluice's error hierarchy and its one mapping to Milvus status codes.

Every failure a client can see is a :class:`SluiceError` subclass.  Each class
carries the Milvus ``merr`` code (``code`` in ``common.Status``), whether the
error is retriable, and the legacy ``error_code`` that older SDKs and the Go
SDK's rate-limit interceptor still read.  Messages follow Milvus's own format
(``collection not found[database=default][collection=foo]``) because clients
and test suites match on the text.

Nothing here imports gRPC or protobuf: the API layer turns these into
``common.Status`` messages (``sluice.api.status``) and the embedded client
raises them directly.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self


class LegacyCode:
    """Values of the deprecated ``common.ErrorCode`` enum that Sluice emits."""

    SUCCESS = 0
    UNEXPECTED_ERROR = 1
    COLLECTION_NOT_EXISTS = 4
    ILLEGAL_ARGUMENT = 5
    META_FAILED = 15
    INDEX_NOT_EXIST = 25
    SEGMENT_NOT_FOUND = 47
    FORCE_DENY = 48
    RATE_LIMIT = 49
    NOT_READY_SERVE = 56


def _fields(**values: Any) -> str:
    return "".join(f"[{key}={value}]" for key, value in values.items())


class SluiceError(Exception):
    """Base of every error Sluice reports.

    ``message`` is the full text a client sees in ``Status.reason``.  Milvus
    builds it as ``<wrap message>: <base message><[key=value]...>``; the
    subclasses below do the same so the wording matches the reference server.
    """

    code: ClassVar[int] = 65535
    base_message: ClassVar[str] = "unexpected error"
    retriable: ClassVar[bool] = False
    #: Milvus tags caller mistakes with ``extra_info["is_input_error"]``.
    input_error: ClassVar[bool] = False

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.base_message
        super().__init__(self.message)

    @classmethod
    def wrap(cls, context: str, **fields: Any) -> Self:
        """``context: base[k=v]...``: the shape of ``errors.Wrap(merr.WrapErrX(...), context)``."""
        return cls(f"{context}: {cls.base_message}{_fields(**fields)}")

    @classmethod
    def with_fields(cls, **fields: Any) -> Self:
        """``base[k=v]...``: the shape of ``merr.WrapErrX(...)`` without extra context."""
        return cls(f"{cls.base_message}{_fields(**fields)}")

    @property
    def legacy_code(self) -> int:
        return legacy_code_for(self.code)


class RequestError(SluiceError):
    """Bad input that Milvus reports as a plain error (code 65535, ``UnexpectedError``).

    Many of Milvus's checks (schema rules, result windows, top-k) build their
    error with ``fmt.Errorf`` rather than a coded one; clients see code 65535
    and the bare message, so Sluice does the same.
    """

    input_error = True


# --- service ---------------------------------------------------------------


class ServiceNotReady(SluiceError):
    code = 1
    base_message = "service not ready"
    retriable = True


class IndexBuildCancelled(ServiceNotReady):
    """An index build stopped at a checkpoint because the engine is closing."""

    base_message = "index build cancelled: Sluice is stopping"


class ServiceUnavailable(SluiceError):
    code = 2
    base_message = "service unavailable"
    retriable = True


class ServiceInternal(SluiceError):
    code = 5
    base_message = "service internal error"


class RateLimited(SluiceError):
    code = 8
    base_message = "rate limit exceeded"
    retriable = True

    @classmethod
    def for_rate(cls, rate: float) -> Self:
        err = cls(
            "request is rejected by grpc RateLimiter middleware, please retry later: "
            f"{cls.base_message}{_fields(rate=rate)}"
        )
        return err


class QuotaExceeded(SluiceError):
    code = 9
    base_message = "quota exceeded"


class Unimplemented(SluiceError):
    """An RPC Sluice does not serve (yet); never answered with an empty success."""

    code = 10
    base_message = "service unimplemented"

    @classmethod
    def for_rpc(cls, rpc: str) -> Self:
        return cls(f"{cls.base_message}: {rpc} is not supported by Sluice")


# --- collections, partitions, databases -------------------------------------


class CollectionNotFound(SluiceError):
    code = 100
    base_message = "collection not found"
    input_error = True

    @classmethod
    def named(cls, db: str, collection: str | int) -> Self:
        return cls(f"{cls.base_message}{_fields(database=db, collection=collection)}")


class CollectionNotLoaded(SluiceError):
    code = 101
    base_message = "collection not loaded"

    @classmethod
    def named(cls, collection: str | int) -> Self:
        return cls(f"{cls.base_message}{_fields(collection=collection)}")


class CollectionLimitExceeded(SluiceError):
    code = 102
    base_message = "exceeded the limit number of collections"


class IllegalSchema(SluiceError):
    code = 105
    base_message = "illegal collection schema"
    input_error = True


class PartitionNotFound(SluiceError):
    code = 200
    base_message = "partition not found"
    input_error = True

    @classmethod
    def named(cls, partition: str) -> Self:
        return cls(f"{cls.base_message}{_fields(partition=partition)}")


class IndexNotFound(SluiceError):
    code = 700
    base_message = "index not found"

    @classmethod
    def named(cls, index_name: str) -> Self:
        return cls(f"{cls.base_message}{_fields(indexName=index_name)}")


class IndexNotSupported(SluiceError):
    code = 701
    base_message = "index type not supported"
    input_error = True


class IndexDuplicate(SluiceError):
    code = 702
    base_message = "index duplicates"
    input_error = True


class DatabaseNotFound(SluiceError):
    code = 800
    base_message = "database not found"
    input_error = True

    @classmethod
    def named(cls, db: str) -> Self:
        return cls(f"{cls.base_message}{_fields(database=db)}")


class DatabaseInvalidName(SluiceError):
    code = 802
    base_message = "invalid database name"
    input_error = True


# --- parameters and fields ---------------------------------------------------


class ParameterInvalid(SluiceError):
    code = 1100
    base_message = "invalid parameter"
    input_error = True

    @classmethod
    def msg(cls, text: str) -> Self:
        """``merr.WrapErrParameterInvalidMsg``: ``<text>: invalid parameter``."""
        return cls(f"{text}: {cls.base_message}")

    @classmethod
    def expected(cls, expected: Any, actual: Any, context: str | None = None) -> Self:
        """``merr.WrapErrParameterInvalid(expected, actual, context)``."""
        body = f"{cls.base_message}{_fields(expected=expected, actual=actual)}"
        return cls(f"{context}: {body}" if context else body)


class DataMismatch(ParameterInvalid):
    """Insert data that does not fit the collection schema."""


class ParameterMissing(SluiceError):
    code = 1101
    base_message = "missing parameter"
    input_error = True


class ParameterTooLarge(SluiceError):
    code = 1102
    base_message = "parameter too large"
    input_error = True


class FieldNotFound(SluiceError):
    code = 1700
    base_message = "field not found"
    input_error = True


class FieldNameInvalid(SluiceError):
    code = 1701
    base_message = "field name invalid"
    input_error = True

    @classmethod
    def named(cls, field_name: str, why: str) -> Self:
        return cls(f"{why}: {cls.base_message}{_fields(field=field_name)}")


class SegcoreError(SluiceError):
    """Errors Milvus's search engine (segcore) raises, e.g. a query vector of the wrong size."""

    code = 2000
    base_message = "segcore error"


class OperationNotSupported(SluiceError):
    code = 3000
    base_message = "unsupported operation"


class InvalidJSONData(SluiceError):
    """A JSON value that does not parse, refused at insert (Milvus's ``WrapErrIoFailedReason``).

    Milvus reports it with the IO-failed code, ``IO failed: <parser's reason>``.
    """

    code = 1001
    base_message = "IO failed"
    input_error = True

    @classmethod
    def because(cls, reason: str) -> Self:
        return cls(f"{cls.base_message}: {reason}")


# --- expressions ---------------------------------------------------------------


class ExpressionError(ParameterInvalid):
    """A filter expression that does not parse or does not type-check.

    Milvus reports these as ``failed to create query plan: cannot parse
    expression: <expr>, error: <why>`` with the invalid-parameter code.
    """

    @classmethod
    def for_expr(cls, expr: str, why: str) -> Self:
        return cls(f"cannot parse expression: {expr}, error: {why}")


# --- storage and process-level errors (never mapped to a client's mistake) -----


class StorageError(SluiceError):
    code = 1001
    base_message = "IO failed"


class StorageWriteError(StorageError):
    """The data folder refused a write: full, read-only, or failing.

    The message names the file and the system's reason (``IO failed: cannot
    write /data/tso.json.tmp: [Errno 28] No space left on device``), because an
    operator has to act on it.
    """

    @classmethod
    def from_os_error(cls, exc: OSError, path: object = None) -> Self:
        where = path if path is not None else exc.filename
        reason = f"[Errno {exc.errno}] {exc.strerror}" if exc.strerror else str(exc)
        target = f" {where}" if where is not None else ""
        return cls(f"{cls.base_message}: cannot write{target}: {' '.join(reason.split())}")


class WALCorruptedError(StorageError):
    """A WAL is damaged in a way that is not a torn tail, or misses records a checkpoint needs."""


class MetaCorruptedError(StorageError):
    """The metadata store's snapshot or journal is damaged somewhere other than a torn tail."""


class GeometryInvalid(SluiceError):
    """WKT or WKB that does not parse: Milvus reports it as an IO failure (code 1001)."""

    code = 1001
    base_message = "IO failed"
    input_error = True

    @classmethod
    def reason(cls, why: str) -> Self:
        """``merr.WrapErrIoFailedReason``: ``<why>: IO failed``."""
        return cls(f"{why}: {cls.base_message}")


class DataDirLockedError(SluiceError):
    """Another process holds the data folder."""

    code = 1
    base_message = "data folder is locked by another process"


#: ``merr.oldCode``: the legacy ``error_code`` Milvus fills for each ``code``.
_LEGACY: dict[int, int] = {
    ServiceNotReady.code: LegacyCode.NOT_READY_SERVE,
    CollectionNotFound.code: LegacyCode.COLLECTION_NOT_EXISTS,
    ParameterInvalid.code: LegacyCode.ILLEGAL_ARGUMENT,
    PartitionNotFound.code: LegacyCode.META_FAILED,
    RateLimited.code: LegacyCode.RATE_LIMIT,
    QuotaExceeded.code: LegacyCode.FORCE_DENY,
    IndexNotFound.code: LegacyCode.INDEX_NOT_EXIST,
    600: LegacyCode.SEGMENT_NOT_FOUND,
}


def legacy_code_for(code: int) -> int:
    """The deprecated ``ErrorCode`` for a Milvus ``code`` (``UnexpectedError`` by default)."""
    if code == 0:
        return LegacyCode.SUCCESS
    return _LEGACY.get(code, LegacyCode.UNEXPECTED_ERROR)
