"""Who may do what: users and passwords, roles, grants and privilege groups.

The package is the engine's half of Milvus's security model; the gRPC layer
(``sluice.api.access``) authenticates each request and asks
:meth:`AccessControl.allowed` before any handler runs.
"""

from sluice.engine.access.control import ROOT_USER, AccessControl
from sluice.engine.access.grants import RbacBackup, UserBackup
from sluice.engine.access.state import AccessStore, Grant, MetaStoreAccessStore

__all__ = [
    "ROOT_USER",
    "AccessControl",
    "AccessStore",
    "Grant",
    "MetaStoreAccessStore",
    "RbacBackup",
    "UserBackup",
]
