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

The authenticated user is available to handlers through :func:`current_user`
(``None`` when authorization is off).  With authorization and quotas both
off the interceptor is not installed at all, so it costs nothing.
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


def request_db(request: Message, context: grpc.ServicerContext) -> str:
    """The database a privilege is checked in: the request's, else the ``dbname`` header."""
    db = getattr(request, "db_name", "") if hasattr(request, "db_name") else ""
    return str(db) or metadata(context, "dbname") or DEFAULT_DB


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


class AccessInterceptor(grpc.ServerInterceptor):
    def __init__(self, access: AccessControl | None, quota: QuotaLimiter | None) -> None:
        self._access = access
        self._quota = quota if quota is not None and quota.enabled else None
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
        access = self._access
        quota = self._quota
        rule = RULES.get(name)

        def unary(request: Message, context: grpc.ServicerContext) -> Any:
            user = None
            if access is not None:
                user = self._login(context)
                if rule is not None and user != ROOT_USER:
                    self._authorize(access, user, name, rule, request, context)
            if quota is not None:
                cost = quota_cost(name, request)
                if cost is not None:
                    try:
                        quota.admit(*cost)
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
        if self._access is None:
            return handler

        def guard(behaviour: Callable[..., Any] | None) -> Callable[..., Any] | None:
            if behaviour is None:
                return None

            def guarded(request: Any, context: grpc.ServicerContext) -> Any:
                self._login(context)
                return behaviour(request, context)

            return guarded

        return handler._replace(
            unary_stream=guard(handler.unary_stream),
            stream_unary=guard(handler.stream_unary),
            stream_stream=guard(handler.stream_stream),
        )

    def _login(self, context: grpc.ServicerContext) -> str:
        assert self._access is not None
        try:
            return self._access.authenticate(metadata(context, "authorization") or None)
        except AuthenticationFailed as err:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, err.message)
            raise  # abort raises; this keeps type checkers informed

    def _authorize(
        self,
        access: AccessControl,
        user: str,
        name: str,
        rule: PrivilegeRule,
        request: Message,
        context: grpc.ServicerContext,
    ) -> None:
        if name == "SelectGrant" and request.entity.role.name in access.roles_of(user):
            return  # users may list the grants of their own roles
        db = request_db(request, context)
        if access.allowed(user, rule.object_type, rule.object_names(request), db, rule.privilege):
            return
        denial = PermissionDenied.for_privilege(rule.enum_name, user, db)
        log.info("%s denied to %s in database %r", name, user, db)
        context.abort(grpc.StatusCode.PERMISSION_DENIED, denial.message)
