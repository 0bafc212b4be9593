"""User and role RPCs: credentials, roles and the binding of users to roles.

Passwords arrive base64-encoded, as pymilvus and the other SDKs send them;
they are decoded here and hashed by the engine's access control.
"""

from __future__ import annotations

import base64
import binascii

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.access import current_user
from sluice.api.base import rpc
from sluice.api.status import SUCCESS
from sluice.engine import AccessControl, Engine, validate_username
from sluice.errors import RequestError

_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def decode_password(text: str, what: str) -> bytes:
    """Go's ``base64.StdEncoding.DecodeString``, with its error wording on failure."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = text.encode()
        bad = next((i for i, b in enumerate(raw) if b not in _B64), None)
        if bad is None:
            bad = len(raw) - len(raw) % 4 if len(raw) % 4 else max(len(raw) - 1, 0)
        raise RequestError(f"{what}: illegal base64 data at input byte {bad}") from None


class AccessRpcBase:
    engine: Engine

    @property
    def access(self) -> AccessControl:
        return self.engine.access


class UserRpcs(AccessRpcBase):
    @rpc
    def CreateCredential(
        self, request: milvus_pb2.CreateCredentialRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        validate_username(request.username)
        password = decode_password(request.password, "decode password fail")
        self.access.create_user(request.username, password)
        return SUCCESS

    @rpc
    def UpdateCredential(
        self, request: milvus_pb2.UpdateCredentialRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        old = decode_password(request.oldPassword, "decode old password failed")
        new = decode_password(request.newPassword, "decode password failed")
        self.access.update_password(request.username, old, new)
        return SUCCESS

    @rpc
    def DeleteCredential(
        self, request: milvus_pb2.DeleteCredentialRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.access.delete_user(request.username)
        return SUCCESS

    @rpc
    def ListCredUsers(
        self, request: milvus_pb2.ListCredUsersRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.ListCredUsersResponse:
        return milvus_pb2.ListCredUsersResponse(status=SUCCESS, usernames=self.access.list_users())

    @rpc
    def CreateRole(
        self, request: milvus_pb2.CreateRoleRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.access.create_role(request.entity.name)
        return SUCCESS

    @rpc
    def DropRole(
        self, request: milvus_pb2.DropRoleRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.access.drop_role(request.role_name, request.force_drop)
        return SUCCESS

    @rpc
    def OperateUserRole(
        self, request: milvus_pb2.OperateUserRoleRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        add = request.type == milvus_pb2.OperateUserRoleType.AddUserToRole
        if request.type not in (
            milvus_pb2.OperateUserRoleType.AddUserToRole,
            milvus_pb2.OperateUserRoleType.RemoveUserFromRole,
        ):
            raise RequestError("invalid operate user role type")
        self.access.operate_user_role(request.username, request.role_name, add)
        return SUCCESS

    @rpc
    def SelectRole(
        self, request: milvus_pb2.SelectRoleRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.SelectRoleResponse:
        name = request.role.name if request.HasField("role") else None
        results = [
            milvus_pb2.RoleResult(
                role=milvus_pb2.RoleEntity(name=role),
                users=[milvus_pb2.UserEntity(name=u) for u in users]
                if request.include_user_info
                else [],
            )
            for role, users in self.access.select_roles(name)
        ]
        return milvus_pb2.SelectRoleResponse(status=SUCCESS, results=results)

    @rpc
    def SelectUser(
        self, request: milvus_pb2.SelectUserRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.SelectUserResponse:
        name = request.user.name if request.HasField("user") else None
        results = [
            milvus_pb2.UserResult(
                user=milvus_pb2.UserEntity(name=user),
                roles=[milvus_pb2.RoleEntity(name=r) for r in roles]
                if request.include_role_info
                else [],
            )
            for user, roles in self.access.select_users(name)
        ]
        return milvus_pb2.SelectUserResponse(status=SUCCESS, results=results)


def acting_user() -> str:
    """Who a grant is recorded as coming from: the caller, or root without authorization."""
    return current_user() or "root"
