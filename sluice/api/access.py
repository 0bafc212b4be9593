"""The gRPC gate every request passes: login, privilege check, rate quota.

:class:`AccessInterceptor` wraps each unary handler once (per method) so
that, before the handler runs, it

1. authenticates the ``authorization`` metadata (base64 ``user:password``,
   as pymilvus sends it) and refuses with gRPC ``UNAUTHENTICATED`` and
   Milvus's wording when it is missing or wrong;
2. checks the privilege the RPC needs (``sluice.api.privilege_rules``) for
   the object the request names, in the request's database, and refuses
   with ``PERMISSION_DENIED`` and Milvus's denial text;
3. charges the request against the DML/DQL/DDL quotas and answers a refused
   request in-band with code 8, as Milvus's rate-limit interceptor does.

The checks themselves live in :class:`Gate`, which the REST layer calls too
(it runs the same handlers in process), so the privilege table and the
refusals exist once.  The authenticated user is available to handlers
through :func:`current_user` (``None`` when authorization is off).  With
authorization and quotas both off the interceptor is not installed at all,
so it costs nothing.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import Message

from sluice.api.base import error_response, metadata
from sluice.api.privilege_rules import RULES, PrivilegeRule
from sluice.engine import DEFAULT_DB, ROOT_USER, AccessControl, QuotaLimiter
from sluice.errors import AuthenticationFailed, PermissionDenied, SluiceError

log = logging.getLogger(__name__)

_CURRENT_USER: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "sluice_current_user", default=None
)


def current_user() -> str | None:
    """The user the running RPC authenticated as, or ``None`` without authorization."""
    return _CURRENT_USER.get()


def request_db(request: Message, header: Callable[[str], str]) -> str:
    """The database a privilege is checked in: the request's, else the ``dbname`` header."""
    db = getattr(request, "db_name", "") if hasattr(request, "db_name") else ""
    return str(db) or header("dbname") or DEFAULT_DB


_COLLECTION_DDL = {"CreateCollection", "DropCollection", "LoadCollection", "ReleaseCollection"}
_PARTITION_DDL = {"CreatePartition", "DropPartition", "LoadPartitions", "ReleasePartitions"}
_INDEX_DDL = {"CreateIndex", "DropIndex"}


def quota_cost(method: str, request: Any) -> tuple[str, float] | None:
    """The quota kind an RPC draws on and what it costs (Milvus's ``getRequestInfo``)."""
    if method in ("Insert", "Upsert", "Delete"):
        return method.lower(), float(request.ByteSize())
    if method == "Search":
        return "search", float(max(request.nq, 1))
    if method == "HybridSearch":
        return "search", float(sum(max(r.nq, 1) for r in request.requests) or 1)
    if method == "Query":
        return "query", 1.0
    if method in _COLLECTION_DDL:
        return "ddl_collection", 1.0
    if method in _PARTITION_DDL:
        return "ddl_partition", 1.0
    if method in _INDEX_DDL:
        return "ddl_index", 1.0
    return None


class Gate:
    """The checks every request passes before its handler, whatever carried it.

    Shared by the gRPC interceptor and the REST layer (which runs the same
    handlers in process), so both refuse the same requests with the same
    words.  ``header(name)`` reads a request header (gRPC metadata, or the
    REST layer's equivalents).
    """

    def __init__(self, access: AccessControl | None, quota: QuotaLimiter | None) -> None:
        self.access = access
        self.quota = quota if quota is not None and quota.enabled else None

    @property
    def active(self) -> bool:
        return self.access is not None or self.quota is not None

    def admit(self, name: str, request: Message, header: Callable[[str], str]) -> str | None:
        """The user the request runs as (``None`` without authorization), or a refusal.

        Raises :class:`AuthenticationFailed` or :class:`PermissionDenied`
        (transport-level refusals) and the quota's :class:`SluiceError`
        (answered in-band).
        """
        user = None
        access = self.access
        if access is not None:
            user = access.authenticate(header("authorization") or None)
            rule = RULES.get(name)
            if rule is not None and user != ROOT_USER:
                self._authorize(access, user, name, rule, request, header)
        if self.quota is not None:
            cost = quota_cost(name, request)
            if cost is not None:
                self.quota.admit(*cost)
        return user

    @staticmethod
    def _authorize(
        access: AccessControl,
        user: str,
        name: str,
        rule: PrivilegeRule,
        request: Message,
        header: Callable[[str], str],
    ) -> None:
        if name == "SelectGrant" and request.entity.role.name in access.roles_of(user):
            return  # users may list the grants of their own roles
        db = request_db(request, header)
        if access.allowed(user, rule.object_type, rule.object_names(request), db, rule.privilege):
            return
        log.info("%s denied to %s in database %r", name, user, db)
        raise PermissionDenied.for_privilege(rule.enum_name, user, db)


def run_as(user: str | None, call: Callable[[], Any]) -> Any:
    """Run ``call`` with :func:`current_user` answering ``user``."""
    token = _CURRENT_USER.set(user)
    try:
        return call()
    finally:
        _CURRENT_USER.reset(token)


class AccessInterceptor(grpc.ServerInterceptor):
    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            wrapped = self._wrap(method.rsplit("/", 1)[-1], handler)
            self._wrapped[method] = wrapped
        return wrapped

    def _wrap(self, name: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if handler.unary_unary is None:
            return self._wrap_stream(handler)
        inner = handler.unary_unary
        gate = self._gate

        def unary(request: Message, context: grpc.ServicerContext) -> Any:
            try:
                user = gate.admit(name, request, lambda key: metadata(context, key))
            except AuthenticationFailed as err:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, err.message)
                raise  # abort raises; this keeps type checkers informed
            except PermissionDenied as err:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, err.message)
                raise
            except SluiceError as err:
                return error_response(name, err)
            token = _CURRENT_USER.set(user)
            try:
                return inner(request, context)
            finally:
                _CURRENT_USER.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap_stream(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """Streaming RPCs (none served yet) still require a login."""
        access = self._gate.access
        if access is None:
            return handler

        def guard(behaviour: Callable[..., Any] | None) -> Callable[..., Any] | None:
            if behaviour is None:
                return None

            def guarded(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    access.authenticate(metadata(context, "authorization") or None)
                except AuthenticationFailed as err:
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, err.message)
                    raise
                return behaviour(request, context)

            return guarded

        return handler._replace(
            unary_stream=guard(handler.unary_stream),
            stream_unary=guard(handler.stream_unary),
            stream_stream=guard(handler.stream_stream),
        )
