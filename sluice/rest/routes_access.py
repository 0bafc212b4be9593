"""``/users/...``, ``/roles/...`` and ``/privilege_groups/...``.

Passwords arrive in clear text in the JSON body and are base64-encoded
before the RPC, as Milvus's handlers do (the RPCs expect what the SDKs send).
"""

from __future__ import annotations

import base64
from typing import Any

from pymilvus.grpc_gen import milvus_pb2

from sluice.rest.body import STRINGS, Key
from sluice.rest.gateway import Call, Gateway
from sluice.rest.registry import endpoint, ok

USER = Key("userName", required=True)
ROLE = Key("roleName", required=True)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@endpoint("/users/list", "DatabaseReq", Key("dbName"))
def list_users(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    resp = gw.call("ListCredUsers", milvus_pb2.ListCredUsersRequest(), call.ctx)
    return ok(list(resp.usernames))


@endpoint("/users/describe", "UserReq", USER)
def describe_user(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    name = req["userName"]
    request = milvus_pb2.SelectUserRequest(
        user=milvus_pb2.UserEntity(name=name), include_role_info=True
    )
    resp = gw.call("SelectUser", request, call.ctx)
    roles = [r.name for result in resp.results if result.user.name == name for r in result.roles]
    return ok(roles)


@endpoint("/users/create", "PasswordReq", USER, Key("password", required=True))
def create_user(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.CreateCredentialRequest(
        username=req["userName"], password=_b64(req["password"])
    )
    gw.call("CreateCredential", request, call.ctx)
    return ok()


@endpoint(
    "/users/update_password",
    "NewPasswordReq",
    USER,
    Key("password", required=True),
    Key("newPassword", required=True),
)
def update_password(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.UpdateCredentialRequest(
        username=req["userName"],
        oldPassword=_b64(req["password"]),
        newPassword=_b64(req["newPassword"]),
    )
    gw.call("UpdateCredential", request, call.ctx)
    return ok()


@endpoint("/users/drop", "UserReq", USER)
def drop_user(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    gw.call(
        "DeleteCredential", milvus_pb2.DeleteCredentialRequest(username=req["userName"]), call.ctx
    )
    return ok()


def _user_role(gw: Gateway, req: dict[str, Any], call: Call, kind: int) -> dict[str, Any]:
    request = milvus_pb2.OperateUserRoleRequest(
        username=req["userName"], role_name=req["roleName"], type=kind
    )
    gw.call("OperateUserRole", request, call.ctx)
    return ok()


@endpoint("/users/grant_role", "UserRoleReq", USER, ROLE)
def grant_role(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    return _user_role(gw, req, call, milvus_pb2.OperateUserRoleType.AddUserToRole)


@endpoint("/users/revoke_role", "UserRoleReq", USER, ROLE)
def revoke_role(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    return _user_role(gw, req, call, milvus_pb2.OperateUserRoleType.RemoveUserFromRole)


@endpoint("/roles/list", "DatabaseReq", Key("dbName"))
def list_roles(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    resp = gw.call("SelectRole", milvus_pb2.SelectRoleRequest(), call.ctx)
    return ok([r.role.name for r in resp.results])


@endpoint("/roles/describe", "RoleReq", Key("dbName"), ROLE)
def describe_role(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.SelectGrantRequest(
        entity=milvus_pb2.GrantEntity(
            role=milvus_pb2.RoleEntity(name=req["roleName"]), db_name=call.db
        )
    )
    grants = gw.call("SelectGrant", request, call.ctx).entities
    return ok(
        [
            {
                "objectType": g.object.name,
                "objectName": g.object_name,
                "privilege": g.grantor.privilege.name,
                "dbName": g.db_name,
                "grantor": g.grantor.user.name,
            }
            for g in grants
        ]
    )


@endpoint("/roles/create", "RoleReq", Key("dbName"), ROLE)
def create_role(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.CreateRoleRequest(entity=milvus_pb2.RoleEntity(name=req["roleName"]))
    gw.call("CreateRole", request, call.ctx)
    return ok()


@endpoint("/roles/drop", "RoleReq", Key("dbName"), ROLE)
def drop_role(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    gw.call("DropRole", milvus_pb2.DropRoleRequest(role_name=req["roleName"]), call.ctx)
    return ok()


GRANT = (
    "GrantReq",
    ROLE,
    Key("objectType", required=True),
    Key("objectName", required=True),
    Key("privilege", required=True),
    Key("dbName"),
)


def _grant(gw: Gateway, req: dict[str, Any], call: Call, kind: int) -> dict[str, Any]:
    request = milvus_pb2.OperatePrivilegeRequest(
        entity=milvus_pb2.GrantEntity(
            role=milvus_pb2.RoleEntity(name=req["roleName"]),
            object=milvus_pb2.ObjectEntity(name=req["objectType"]),
            object_name=req["objectName"],
            db_name=call.db,
            grantor=milvus_pb2.GrantorEntity(
                privilege=milvus_pb2.PrivilegeEntity(name=req["privilege"])
            ),
        ),
        type=kind,
    )
    gw.call("OperatePrivilege", request, call.ctx)
    return ok()


@endpoint("/roles/grant_privilege", *GRANT)
def grant_privilege(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    return _grant(gw, req, call, milvus_pb2.OperatePrivilegeType.Grant)


@endpoint("/roles/revoke_privilege", *GRANT)
def revoke_privilege(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    return _grant(gw, req, call, milvus_pb2.OperatePrivilegeType.Revoke)


GRANT_V2 = (
    "GrantV2Req",
    ROLE,
    Key("dbName"),
    Key("collectionName"),
    Key("privilege", required=True),
)


def _grant_v2(gw: Gateway, req: dict[str, Any], call: Call, kind: int) -> dict[str, Any]:
    request = milvus_pb2.OperatePrivilegeV2Request(
        role=milvus_pb2.RoleEntity(name=req["roleName"]),
        grantor=milvus_pb2.GrantorEntity(
            privilege=milvus_pb2.PrivilegeEntity(name=req["privilege"])
        ),
        type=kind,
        db_name=req["dbName"] or "",
        collection_name=req["collectionName"] or "",
    )
    gw.call("OperatePrivilegeV2", request, call.ctx)
    return ok()


@endpoint("/roles/grant_privilege_v2", *GRANT_V2)
def grant_privilege_v2(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    return _grant_v2(gw, req, call, milvus_pb2.OperatePrivilegeType.Grant)


@endpoint("/roles/revoke_privilege_v2", *GRANT_V2)
def revoke_privilege_v2(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    return _grant_v2(gw, req, call, milvus_pb2.OperatePrivilegeType.Revoke)


GROUP = ("PrivilegeGroupReq", Key("privilegeGroupName", required=True), Key("privileges", STRINGS))


@endpoint("/privilege_groups/create", *GROUP)
def create_group(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.CreatePrivilegeGroupRequest(group_name=req["privilegeGroupName"])
    gw.call("CreatePrivilegeGroup", request, call.ctx)
    return ok()


@endpoint("/privilege_groups/drop", *GROUP)
def drop_group(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    request = milvus_pb2.DropPrivilegeGroupRequest(group_name=req["privilegeGroupName"])
    gw.call("DropPrivilegeGroup", request, call.ctx)
    return ok()


@endpoint("/privilege_groups/list", "DatabaseReq", Key("dbName"))
def list_groups(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    resp = gw.call("ListPrivilegeGroups", milvus_pb2.ListPrivilegeGroupsRequest(), call.ctx)
    groups = [
        {
            "privilegeGroupName": g.group_name,
            "privileges": ",".join(p.name for p in g.privileges),
        }
        for g in resp.privilege_groups
    ]
    return ok({"privilegeGroups": groups})


def _operate_group(gw: Gateway, req: dict[str, Any], call: Call, kind: int) -> dict[str, Any]:
    request = milvus_pb2.OperatePrivilegeGroupRequest(
        group_name=req["privilegeGroupName"],
        privileges=[milvus_pb2.PrivilegeEntity(name=p) for p in req["privileges"] or []],
        type=kind,
    )
    gw.call("OperatePrivilegeGroup", request, call.ctx)
    return ok()


@endpoint("/privilege_groups/add_privileges_to_group", *GROUP)
def add_to_group(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    return _operate_group(gw, req, call, milvus_pb2.OperatePrivilegeGroupType.AddPrivilegesToGroup)


@endpoint("/privilege_groups/remove_privileges_from_group", *GROUP)
def remove_from_group(gw: Gateway, req: dict[str, Any], call: Call) -> dict[str, Any]:
    return _operate_group(
        gw, req, call, milvus_pb2.OperatePrivilegeGroupType.RemovePrivilegesFromGroup
    )
