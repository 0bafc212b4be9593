"""The privilege catalogue: Milvus 2.6's privilege names, object types and groups.

Names here are the API spelling (``Search``); Milvus's metastore and its
denial messages use the enum spelling (``PrivilegeSearch``,
``PrivilegeGroupCollectionReadOnly``), which :func:`enum_name` produces.

Three kinds of name can be granted:

* a single privilege, which belongs to one object type (``Collection``,
  ``Global`` or ``User``) and, for the newer grant API, one level
  (cluster, database or collection);
* a built-in privilege group (``CollectionReadOnly`` ... ``ClusterAdmin``, and
  the older ``ReadOnly``/``ReadWrite``/``Admin``), with fixed members;
* a custom privilege group, whose members are kept in the access store.

``All`` and ``*`` are special: ``All`` grants everything in the grant's
database, ``*`` matches any privilege of the grant's object.
"""

from __future__ import annotations

COLLECTION = "Collection"
GLOBAL = "Global"
USER = "User"
OBJECT_TYPES = (COLLECTION, GLOBAL, USER)

ANY = "*"
ALL = "All"

CLUSTER_LEVEL = "Cluster"
DATABASE_LEVEL = "Database"
COLLECTION_LEVEL = "Collection"

_COLLECTION_READ_ONLY = (
    "Query",
    "Search",
    "IndexDetail",
    "GetFlushState",
    "GetLoadState",
    "GetLoadingProgress",
    "HasPartition",
    "ShowPartitions",
    "DescribeCollection",
    "DescribeAlias",
    "GetStatistics",
    "ListAliases",
)
_COLLECTION_READ_WRITE = (
    *_COLLECTION_READ_ONLY,
    "Load",
    "Release",
    "Insert",
    "Delete",
    "Upsert",
    "Import",
    "Flush",
    "Compaction",
    "LoadBalance",
    "CreateIndex",
    "DropIndex",
    "CreatePartition",
    "DropPartition",
)
_COLLECTION_ADMIN = (*_COLLECTION_READ_WRITE, "CreateAlias", "DropAlias")
_DATABASE_READ_ONLY = ("ShowCollections", "DescribeDatabase")
_DATABASE_READ_WRITE = (*_DATABASE_READ_ONLY, "AlterDatabase")
_DATABASE_ADMIN = (*_DATABASE_READ_WRITE, "CreateCollection", "DropCollection")
_CLUSTER_READ_ONLY = (
    "ListDatabases",
    "SelectOwnership",
    "SelectUser",
    "DescribeResourceGroup",
    "ListResourceGroups",
    "ListPrivilegeGroups",
)
_CLUSTER_READ_WRITE = (
    *_CLUSTER_READ_ONLY,
    "FlushAll",
    "TransferNode",
    "TransferReplica",
    "UpdateResourceGroups",
)
_CLUSTER_ADMIN = (
    *_CLUSTER_READ_WRITE,
    "BackupRBAC",
    "RestoreRBAC",
    "CreateDatabase",
    "DropDatabase",
    "CreateOwnership",
    "DropOwnership",
    "ManageOwnership",
    "CreateResourceGroup",
    "DropResourceGroup",
    "UpdateUser",
    "RenameCollection",
    "CreatePrivilegeGroup",
    "DropPrivilegeGroup",
    "OperatePrivilegeGroup",
)

#: The nine groups ListPrivilegeGroups reports besides the custom ones, in Milvus's order.
BUILTIN_GROUPS: dict[str, tuple[str, ...]] = {
    "ClusterReadOnly": _CLUSTER_READ_ONLY,
    "ClusterReadWrite": _CLUSTER_READ_WRITE,
    "ClusterAdmin": _CLUSTER_ADMIN,
    "DatabaseReadOnly": _DATABASE_READ_ONLY,
    "DatabaseReadWrite": _DATABASE_READ_WRITE,
    "DatabaseAdmin": _DATABASE_ADMIN,
    "CollectionReadOnly": _COLLECTION_READ_ONLY,
    "CollectionReadWrite": _COLLECTION_READ_WRITE,
    "CollectionAdmin": _COLLECTION_ADMIN,
}

_LEGACY_READ_ONLY = frozenset(
    (*_COLLECTION_READ_ONLY, "ShowCollections", "ListDatabases", "DescribeDatabase")
)
_LEGACY_READ_WRITE = frozenset(
    (
        *_LEGACY_READ_ONLY,
        *_COLLECTION_READ_WRITE,
        "CreateCollection",
        "DropCollection",
        "RenameCollection",
        "CreateAlias",
        "DropAlias",
    )
)
_LEGACY_ADMIN = frozenset(
    (
        *_LEGACY_READ_WRITE,
        "CreateOwnership",
        "DropOwnership",
        "SelectOwnership",
        "ManageOwnership",
        "SelectUser",
        "UpdateUser",
        "BackupRBAC",
        "RestoreRBAC",
        "CreateResourceGroup",
        "UpdateResourceGroups",
        "DropResourceGroup",
        "DescribeResourceGroup",
        "ListResourceGroups",
        "TransferReplica",
        "TransferNode",
        "CreateDatabase",
        "DropDatabase",
        "AlterDatabase",
    )
)
#: The 2.4 groups, matched at check time rather than expanded (as Milvus's casbin matcher does).
LEGACY_GROUPS: dict[str, frozenset[str]] = {
    "ReadOnly": _LEGACY_READ_ONLY,
    "ReadWrite": _LEGACY_READ_WRITE,
    "Admin": _LEGACY_ADMIN,
}

#: Which object each privilege (and built-in group name) is granted on, for the first grant API.
OBJECT_PRIVILEGES: dict[str, tuple[str, ...]] = {
    COLLECTION: (
        "Load",
        "Release",
        "Compaction",
        "Insert",
        "Delete",
        "Upsert",
        "GetStatistics",
        "CreateIndex",
        "IndexDetail",
        "DropIndex",
        "Search",
        "Flush",
        "Query",
        "LoadBalance",
        "Import",
        "GetLoadingProgress",
        "GetLoadState",
        "CreatePartition",
        "DropPartition",
        "ShowPartitions",
        "HasPartition",
        "GetFlushState",
        "ReadOnly",
        "ReadWrite",
    ),
    GLOBAL: (
        ALL,
        "CreateCollection",
        "DropCollection",
        "DescribeCollection",
        "ShowCollections",
        "RenameCollection",
        "CreateOwnership",
        "DropOwnership",
        "SelectOwnership",
        "ManageOwnership",
        "BackupRBAC",
        "RestoreRBAC",
        "CreateResourceGroup",
        "UpdateResourceGroups",
        "DropResourceGroup",
        "DescribeResourceGroup",
        "ListResourceGroups",
        "TransferReplica",
        "TransferNode",
        "FlushAll",
        "CreateDatabase",
        "DropDatabase",
        "ListDatabases",
        "AlterDatabase",
        "DescribeDatabase",
        "CreateAlias",
        "DropAlias",
        "DescribeAlias",
        "ListAliases",
        "Admin",
        "CreatePrivilegeGroup",
        "DropPrivilegeGroup",
        "ListPrivilegeGroups",
        "OperatePrivilegeGroup",
        *BUILTIN_GROUPS,
    ),
    USER: ("UpdateUser", "SelectUser"),
}

#: Privileges of the enum that no object table lists; Milvus treats them as Global.
_OTHER_PRIVILEGES = (
    "GetImportProgress",
    "ListImport",
    "AddCollectionField",
    "AddFileResource",
    "RemoveFileResource",
    "ListFileResources",
    "UpdateReplicateConfiguration",
    "CreateSnapshot",
    "DropSnapshot",
    "DescribeSnapshot",
    "ListSnapshots",
    "RestoreSnapshot",
    "AlterCollectionSchema",
    "GetReplicateConfiguration",
    "RefreshExternalCollection",
    "PinSnapshotData",
    "UnpinSnapshotData",
    "RestoreExternalSnapshot",
    "ExportSnapshot",
)

#: Granting the key also grants these (Milvus's proxy issues the extra grants itself).
RELATED_PRIVILEGES: dict[str, tuple[str, ...]] = {
    "Load": ("GetLoadState", "GetLoadingProgress"),
    "Flush": ("GetFlushState",),
}

_GROUP_NAMES = frozenset((*BUILTIN_GROUPS, *LEGACY_GROUPS))
DEFINED_NAMES = frozenset(
    (*(p for privs in OBJECT_PRIVILEGES.values() for p in privs), *_OTHER_PRIVILEGES)
)


def enum_name(name: str) -> str:
    """The ``commonpb.ObjectPrivilege`` spelling of an API name."""
    if name in _GROUP_NAMES:
        return f"PrivilegeGroup{name}"
    return f"Privilege{name}"


def is_defined(name: str) -> bool:
    """A built-in privilege or built-in group (``util.IsPrivilegeNameDefined``)."""
    return name in DEFINED_NAMES


def object_type_of(name: str) -> str:
    """``util.GetObjectType``: the object a privilege is granted on, Global by default."""
    for object_type, names in OBJECT_PRIVILEGES.items():
        if name in names:
            return object_type
    return GLOBAL


def level_of(name: str) -> str:
    """``util.GetPrivilegeLevel``: cluster, database, collection, or "" for none."""
    if name in _CLUSTER_ADMIN:
        return CLUSTER_LEVEL
    if name in _DATABASE_ADMIN:
        return DATABASE_LEVEL
    if name in _COLLECTION_ADMIN:
        return COLLECTION_LEVEL
    return ""
