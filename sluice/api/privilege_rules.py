"""Which privilege each RPC needs, read from the Milvus protobuf itself.

Every request message of ``milvus.proto`` that Milvus guards carries the
``common.privilege_ext_obj`` option: the object type, the privilege (enum
spelling) and the number of the field that names the object (or, for Flush,
the repeated field naming several).  Sluice reads those options from the
descriptors pymilvus ships, so the table is Milvus's own and cannot drift
from the wire format.  RPCs without the option (Connect, GetVersion,
HasCollection, ShowCollections, ListDatabases, ...) need only a valid login.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.base import SERVICE

_EXTENSION = common_pb2.privilege_ext_obj
_ANY = "*"


@dataclass(frozen=True)
class PrivilegeRule:
    object_type: str
    #: The enum spelling Milvus prints in denials, e.g. ``PrivilegeSearch``.
    enum_name: str
    #: The API spelling grants use, e.g. ``Search``.
    privilege: str
    name_field: int
    names_field: int

    def object_names(self, request: Message) -> list[str]:
        """``funcutil.GetObjectName(s)``: the object(s) the request acts on."""
        if self.name_field > 0:
            return [_field_text(request, self.name_field)]
        if self.names_field > 0:
            field = request.DESCRIPTOR.fields_by_number[self.names_field]
            return [str(v) for v in getattr(request, field.name)]
        return [_ANY]


def _field_text(request: Message, number: int) -> str:
    field = request.DESCRIPTOR.fields_by_number.get(number)
    if field is None:
        return ""
    value = getattr(request, field.name)
    if isinstance(value, Message):
        # A user entity (SelectUser): the object is the user's name.
        return str(getattr(value, "name", ""))
    return str(value)


def _guarded() -> list[tuple[str, Any]]:
    """Each RPC with its request type, plus the placeholders REST checks imports with.

    Milvus's REST import endpoints call ImportV2/GetImportProgress/ListImports,
    which are not MilvusService RPCs; their privileges ride on the
    ``*AuthPlaceholder`` messages, checked under the message's own name.
    """
    pairs = [(method.name, method.input_type) for method in SERVICE.methods]
    for name, message in milvus_pb2.DESCRIPTOR.message_types_by_name.items():
        if name.endswith("AuthPlaceholder"):
            pairs.append((name, message))
    return pairs


def _rules() -> dict[str, PrivilegeRule]:
    rules: dict[str, PrivilegeRule] = {}
    for name, message in _guarded():
        options = message.GetOptions()
        if not options.HasExtension(_EXTENSION):
            continue
        ext = options.Extensions[_EXTENSION]
        enum_name = common_pb2.ObjectPrivilege.Name(ext.object_privilege)
        privilege = enum_name.removeprefix("PrivilegeGroup").removeprefix("Privilege")
        rules[name] = PrivilegeRule(
            object_type=common_pb2.ObjectType.Name(ext.object_type),
            enum_name=enum_name,
            privilege=privilege,
            name_field=ext.object_name_index,
            names_field=ext.object_name_indexs,
        )
    return rules


#: RPC name -> the privilege it needs.
RULES = _rules()
