"""The RPC privilege table read from Milvus's proto options, checked against the catalogue."""

from __future__ import annotations

from pymilvus.grpc_gen import milvus_pb2

from sluice.api.privilege_rules import RULES
from sluice.engine.access import privileges


def test_rules_come_from_the_proto() -> None:
    search = RULES["Search"]
    assert (search.object_type, search.privilege, search.enum_name) == (
        "Collection",
        "Search",
        "PrivilegeSearch",
    )
    assert RULES["CreateCollection"].object_type == "Global"
    assert RULES["UpdateCredential"].object_type == "User"
    for unguarded in ("Connect", "GetVersion", "CheckHealth", "HasCollection", "ShowCollections"):
        assert unguarded not in RULES


def test_object_names_are_read_from_the_named_fields() -> None:
    search = milvus_pb2.SearchRequest(collection_name="docs")
    assert RULES["Search"].object_names(search) == ["docs"]
    flush = milvus_pb2.FlushRequest(collection_names=["a", "b"])
    assert RULES["Flush"].object_names(flush) == ["a", "b"]
    user = milvus_pb2.SelectUserRequest(user=milvus_pb2.UserEntity(name="alice"))
    assert RULES["SelectUser"].object_names(user) == ["alice"]
    assert RULES["CreateCollection"].object_names(milvus_pb2.CreateCollectionRequest()) == ["*"]


def test_every_guarded_privilege_is_in_the_catalogue() -> None:
    unknown = {r.privilege for r in RULES.values() if not privileges.is_defined(r.privilege)}
    assert not unknown
    for rule in RULES.values():
        if rule.privilege in privileges.OBJECT_PRIVILEGES["Collection"]:
            assert rule.object_type == "Collection", rule


def test_rest_import_placeholders_carry_milvus_privileges() -> None:
    placeholder = milvus_pb2.ImportAuthPlaceholder(collection_name="docs")
    rule = RULES["ImportAuthPlaceholder"]
    assert (rule.object_type, rule.privilege) == ("Collection", "Import")
    assert rule.object_names(placeholder) == ["docs"]
    assert RULES["ListImportsAuthPlaceholder"].privilege == "ListImport"
    assert RULES["GetImportProgressAuthPlaceholder"].privilege == "GetImportProgress"
