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


def go_float(value: float) -> str:
    """A float as Go's ``%v`` prints it (shortest digits; ``1.048576e+06`` from 1e6 up)."""
    if value == 0:
        return "0"
    text = repr(float(value))
    mantissa, _, exponent = f"{float(value):e}".partition("e")
    exp = int(exponent)
    if -4 <= exp < 6:
        return text[:-2] if text.endswith(".0") else text
    digits = repr(float(value) / 10**exp) if abs(exp) < 300 else mantissa
    digits = digits[:-2] if digits.endswith(".0") else digits
    return f"{digits}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"


class SluiceError(Exception):
    """Base of every error Sluice reports; ``message`` is what a client sees in ``Status.reason``.

    Milvus builds it as ``<wrap message>: <base message><[key=value]...>``; so do the subclasses.
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
    """Bad input Milvus reports with ``fmt.Errorf``, not a coded error: code 65535, bare text."""

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
        return cls(
            "request is rejected by grpc RateLimiter middleware, please retry later: "
            f"{cls.base_message}{_fields(rate=go_float(rate))}"
        )


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


# --- authentication and privileges ------------------------------------------


class PrivilegeNotAuthenticated(SluiceError):
    code = 1400
    base_message = "not authenticated"
    input_error = True


class PrivilegeNotPermitted(SluiceError):
    code = 1401
    base_message = "privilege not permitted"
    input_error = True


class PrivilegeGroupNameInvalid(SluiceError):
    code = 1402
    base_message = "invalid privilege group name"
    input_error = True

    @classmethod
    def wrap_text(cls, text: str) -> Self:
        """``merr.WrapErrPrivilegeGroupNameInvalid``: ``<text>: invalid privilege group name``."""
        return cls(f"{text}: {cls.base_message}")


class TransportRefusal(SluiceError):
    """A refusal Milvus sends as a gRPC status, not as a ``common.Status``.

    Milvus's authentication and privilege interceptors answer before any
    handler runs, with ``UNAUTHENTICATED`` or ``PERMISSION_DENIED``; SDKs do
    not retry those codes (they retry the in-band ones), so Sluice keeps them
    at the transport level too.  ``grpc_status`` names the
    ``grpc.StatusCode`` member.
    """

    grpc_status: ClassVar[str] = "UNKNOWN"


class AuthenticationFailed(TransportRefusal):
    grpc_status = "UNAUTHENTICATED"
    base_message = "auth check failure, please check username and password are correct"


class PermissionDenied(TransportRefusal):
    grpc_status = "PERMISSION_DENIED"
    base_message = "permission deny"

    @classmethod
    def for_privilege(cls, privilege: str, user: str, db: str) -> Self:
        """The proxy's denial, ``privilege`` in its enum spelling (``PrivilegeSearch``)."""
        return cls(f"{privilege}: permission deny to {user} in the `{db}` database")


# --- the RESTful API's own refusals (Milvus's "high-level restful api" codes) ----


class RestError(SluiceError):
    """Errors Milvus's REST layer raises itself, before or around the RPC it calls.

    Their text is ``<base message>, error: <reason>`` (Milvus joins them with
    a plain ``+``, not the ``merr`` wrapping other errors use).
    """

    input_error = True

    @classmethod
    def because(cls, reason: str) -> Self:
        return cls(f"{cls.base_message}, error: {reason}")


class RestNeedAuthenticate(RestError):
    code = 1800
    base_message = "user hasn't authenticated"


class RestIncorrectParameterFormat(RestError):
    code = 1801
    base_message = "can only accept json format request"


class RestMissingRequiredParameters(RestError):
    code = 1802
    base_message = "missing required parameters"


class RestInvalidInsertData(RestError):
    code = 1804
    base_message = "fail to deal the insert data"


class RestInvalidSearchResult(RestError):
    code = 1805
    base_message = "fail to parse search result"


class RestCheckPrimaryKey(RestError):
    code = 1806
    base_message = "please check the primary key and its' type can only in [int, string]"


class RestRateLimited(RestError):
    code = 1807
    base_message = "request is rejected by limiter"
    retriable = True
    input_error = False


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


class CollectionLoaded(SluiceError):
    code = 104
    base_message = "collection already loaded"


class IllegalSchema(SluiceError):
    code = 105
    base_message = "illegal collection schema"
    input_error = True


class VectorClusteringKeyNotAllowed(SluiceError):
    code = 107
    base_message = "vector clustering key not allowed"
    input_error = True


class PartitionNotFound(SluiceError):
    code = 200
    base_message = "partition not found"
    input_error = True

    @classmethod
    def named(cls, partition: str) -> Self:
        return cls(f"{cls.base_message}{_fields(partition=partition)}")


class PartitionNotLoaded(SluiceError):
    code = 201
    base_message = "partition not loaded"


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


class DatabaseLimitExceeded(SluiceError):
    code = 801
    base_message = "exceeded the limit number of database"


class DatabaseInvalidName(SluiceError):
    code = 802
    base_message = "invalid database name"
    input_error = True

    @classmethod
    def named(cls, db: str, why: str) -> Self:
        """``merr.WrapErrDatabaseNameInvalid``: ``<why>: invalid database name[database=<db>]``."""
        return cls(f"{why}: {cls.base_message}{_fields(database=db)}")


# --- aliases -------------------------------------------------------------------


class AliasNotFound(SluiceError):
    code = 1600
    base_message = "alias not found"
    input_error = True

    @classmethod
    def named(cls, db: str, alias: str) -> Self:
        return cls(f"{cls.base_message}{_fields(database=db, alias=alias)}")


class AliasNameConflict(SluiceError):
    """An alias that is a collection's name, or a collection name that is an alias."""

    code = 1601
    base_message = "alias and collection name conflict"
    input_error = True

    @classmethod
    def named(cls, db: str, alias: str) -> Self:
        return cls(f"{cls.base_message}{_fields(database=db, alias=alias)}")


class AliasAlreadyExists(SluiceError):
    code = 1602
    base_message = "alias already exist"
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


class ImportFailed(SluiceError):
    """A bulk import that cannot proceed (Milvus's ``ErrImportFailed``); the job fails with it."""

    code = 2100
    base_message = "importing data failed"
    input_error = True

    @classmethod
    def at(cls, path: str, reason: str) -> Self:
        return cls(f"{cls.base_message}: file {path}: {reason}")


class BackupError(SluiceError):
    """A backup, restore or export that cannot proceed as asked (an operator's error)."""

    base_message = "backup failed"


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
    """The data folder refused a write (full, read-only, failing); the message names the file
    and the system's reason (``IO failed: cannot write ...: [Errno 28] ...``) for the operator.
    """

    @classmethod
    def from_os_error(cls, exc: OSError, path: object = None) -> Self:
        where = path if path is not None else exc.filename
        reason = f"[Errno {exc.errno}] {exc.strerror}" if exc.strerror else str(exc)
        target = f" {where}" if where is not None else ""
        return cls(f"{cls.base_message}: cannot write{target}: {' '.join(reason.split())}")


class WALCorruptedError(StorageError):
    """A WAL is damaged in a way that is not a torn tail, or misses records a checkpoint needs."""


class SegmentFileCorruptedError(StorageError):
    """A segment file a manifest names is missing, unreadable, or fails its recorded checksum."""


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


class StorageUnavailable(StorageError):
    """A storage service (etcd, NATS JetStream, S3) refused or did not answer in time.

    The message names the service and its endpoint.  Milvus answers requests
    it cannot serve for the same reason with ``service unavailable`` (code 2);
    the request may be retried once the service is back.
    """

    code = ServiceUnavailable.code
    base_message = ServiceUnavailable.base_message
    retriable = True

    @classmethod
    def for_service(cls, service: str, endpoint: str, why: str) -> Self:
        return cls(f"{cls.base_message}: {service} at {endpoint}: {why}")


class WriterFencedError(StorageError):
    """This node lost the writer lease: another node may be writing, so it never writes
    again; only a restart (which waits for the lease) makes it a writer once more.
    """

    code = ServiceNotReady.code
    base_message = "this node is not the writer: its lease is lost or held by another node"


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
