"""Privilege RPCs: grant and revoke (both APIs), list grants, privilege groups, RBAC backup."""

from __future__ import annotations

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.base import metadata, rpc
from sluice.api.rpc_users import AccessRpcBase, acting_user
from sluice.api.status import SUCCESS
from sluice.engine import DEFAULT_DB, Grant, RbacBackup, UserBackup
from sluice.errors import RequestError

_GRANT = milvus_pb2.OperatePrivilegeType.Grant
_REVOKE = milvus_pb2.OperatePrivilegeType.Revoke


def _is_grant(kind: int) -> bool:
    if kind not in (_GRANT, _REVOKE):
        raise RequestError(
            f"invalid operate privilege type, current type: {kind}, valid value: [Grant, Revoke]"
        )
    return kind == _GRANT


def grant_message(grant: Grant) -> milvus_pb2.GrantEntity:
    return milvus_pb2.GrantEntity(
        role=milvus_pb2.RoleEntity(name=grant.role),
        object=milvus_pb2.ObjectEntity(name=grant.object_type),
        object_name=grant.object_name,
        db_name=grant.db,
        grantor=milvus_pb2.GrantorEntity(
            user=milvus_pb2.UserEntity(name=grant.grantor),
            privilege=milvus_pb2.PrivilegeEntity(name=grant.privilege),
        ),
    )


class GrantRpcs(AccessRpcBase):
    @rpc
    def OperatePrivilege(
        self, request: milvus_pb2.OperatePrivilegeRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        entity = request.entity
        if not request.HasField("entity"):
            raise RequestError("the entity in the request is nil")
        self.access.operate_privilege(
            role=entity.role.name,
            object_type=entity.object.name,
            object_name=entity.object_name,
            db=entity.db_name,
            privilege=entity.grantor.privilege.name,
            grantor=acting_user(),
            grant=_is_grant(request.type),
        )
        return SUCCESS

    @rpc
    def OperatePrivilegeV2(
        self, request: milvus_pb2.OperatePrivilegeV2Request, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.access.operate_privilege_v2(
            role=request.role.name,
            privilege=request.grantor.privilege.name,
            db=request.db_name or metadata(context, "dbname") or DEFAULT_DB,
            collection=request.collection_name,
            grantor=acting_user(),
            grant=_is_grant(request.type),
        )
        return SUCCESS

    @rpc
    def SelectGrant(
        self, request: milvus_pb2.SelectGrantRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.SelectGrantResponse:
        entity = request.entity
        if not request.HasField("entity"):
            raise RequestError("the grant entity in the request is nil")
        grants = self.access.select_grants(
            entity.role.name,
            entity.object.name if entity.HasField("object") else None,
            entity.object_name or None,
            entity.db_name,
        )
        return milvus_pb2.SelectGrantResponse(
            status=SUCCESS, entities=[grant_message(g) for g in grants]
        )

    @rpc
    def CreatePrivilegeGroup(
        self, request: milvus_pb2.CreatePrivilegeGroupRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.access.create_privilege_group(request.group_name)
        return SUCCESS

    @rpc
    def DropPrivilegeGroup(
        self, request: milvus_pb2.DropPrivilegeGroupRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.access.drop_privilege_group(request.group_name)
        return SUCCESS

    @rpc
    def ListPrivilegeGroups(
        self, request: milvus_pb2.ListPrivilegeGroupsRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.ListPrivilegeGroupsResponse:
        groups = [
            milvus_pb2.PrivilegeGroupInfo(
                group_name=name,
                privileges=[milvus_pb2.PrivilegeEntity(name=p) for p in privileges],
            )
            for name, privileges in self.access.list_privilege_groups()
        ]
        return milvus_pb2.ListPrivilegeGroupsResponse(status=SUCCESS, privilege_groups=groups)

    @rpc
    def OperatePrivilegeGroup(
        self, request: milvus_pb2.OperatePrivilegeGroupRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        kinds = milvus_pb2.OperatePrivilegeGroupType
        if request.type not in (kinds.AddPrivilegesToGroup, kinds.RemovePrivilegesFromGroup):
            raise RequestError(f"unsupported operate type: {request.type}")
        self.access.operate_privilege_group(
            request.group_name,
            [p.name for p in request.privileges],
            request.type == kinds.AddPrivilegesToGroup,
        )
        return SUCCESS

    @rpc
    def BackupRBAC(
        self, request: milvus_pb2.BackupRBACMetaRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.BackupRBACMetaResponse:
        backup = self.access.backup()
        meta = milvus_pb2.RBACMeta(
            users=[
                milvus_pb2.UserInfo(
                    user=u.name,
                    password=u.password_hash,
                    roles=[milvus_pb2.RoleEntity(name=r) for r in u.roles],
                )
                for u in backup.users
            ],
            roles=[milvus_pb2.RoleEntity(name=r) for r in backup.roles],
            grants=[grant_message(g) for g in backup.grants],
            privilege_groups=[
                milvus_pb2.PrivilegeGroupInfo(
                    group_name=name, privileges=[milvus_pb2.PrivilegeEntity(name=p) for p in privs]
                )
                for name, privs in backup.groups
            ],
        )
        return milvus_pb2.BackupRBACMetaResponse(status=SUCCESS, RBAC_meta=meta)

    @rpc
    def RestoreRBAC(
        self, request: milvus_pb2.RestoreRBACMetaRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        meta = request.RBAC_meta
        backup = RbacBackup(
            users=tuple(
                UserBackup(u.user, u.password, tuple(r.name for r in u.roles)) for u in meta.users
            ),
            roles=tuple(r.name for r in meta.roles),
            grants=tuple(
                Grant(
                    g.role.name,
                    g.object.name,
                    g.object_name,
                    g.db_name or DEFAULT_DB,
                    g.grantor.privilege.name,
                    g.grantor.user.name,
                )
                for g in meta.grants
            ),
            groups=tuple(
                (g.group_name, tuple(p.name for p in g.privileges)) for g in meta.privilege_groups
            ),
        )
        self.access.restore(backup)
        return SUCCESS
