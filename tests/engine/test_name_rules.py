"""Milvus's name rules: what each kind of name may be, and the exact refusal."""

from __future__ import annotations

import pytest

from sluice.engine.names import (
    validate_alias,
    validate_collection_name,
    validate_database_name,
    validate_partition_name,
)
from sluice.errors import DatabaseInvalidName, ParameterInvalid, RequestError


@pytest.mark.parametrize("name", ["a", "_", "A1_b", "x" * 255, "_0"])
def test_good_collection_names_pass(name: str) -> None:
    validate_collection_name(name)
    validate_alias(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("12-s", "the first character of a collection name must be an underscore or letter"),
        ("12 s", "the first character of a collection name must be an underscore or letter"),
        ("中文", "the first character of a collection name must be an underscore or letter"),
        ("a-b", "collection name can only contain numbers, letters and underscores"),
        ("ab中", "collection name can only contain numbers, letters and underscores"),
        ("x" * 256, "the length of a collection name must be less than 255 characters"),
        # 86 characters, 258 bytes: Milvus counts bytes.
        ("a" + "中" * 85, "the length of a collection name must be less than 255 characters"),
    ],
)
def test_bad_collection_names(name: str, reason: str) -> None:
    with pytest.raises(ParameterInvalid) as info:
        validate_collection_name(name)
    assert info.value.message == f"Invalid collection name: {name}. {reason}: invalid parameter"
    assert info.value.code == 1100


def test_empty_names() -> None:
    with pytest.raises(ParameterInvalid, match=r"^collection name should not be empty: invalid"):
        validate_collection_name("")
    with pytest.raises(ParameterInvalid, match=r"^collection alias should not be empty: invalid"):
        validate_alias("")
    with pytest.raises(RequestError) as info:
        validate_partition_name("  ")
    assert info.value.message == "Invalid partition name: . Partition name should not be empty."
    with pytest.raises(DatabaseInvalidName) as db_info:
        validate_database_name("")
    assert db_info.value.message == (
        "database name couldn't be empty: invalid database name[database=]"
    )


def test_alias_wording_names_the_alias() -> None:
    with pytest.raises(ParameterInvalid) as info:
        validate_alias("1a")
    assert info.value.message == (
        "Invalid collection alias: 1a. the first character of a collection alias must be an "
        "underscore or letter: invalid parameter"
    )


def test_partition_names_are_trimmed_then_checked() -> None:
    assert validate_partition_name("  p1 ") == "p1"
    with pytest.raises(RequestError) as info:
        validate_partition_name("(mn)")
    assert info.value.message == (
        "Invalid partition name: (mn). The first character of a partition name must be an "
        "underscore or letter."
    )
    assert info.value.code == 65535
    with pytest.raises(RequestError, match="Partition name can only contain numbers"):
        validate_partition_name("a b")


def test_database_names() -> None:
    validate_database_name("db_1")
    with pytest.raises(DatabaseInvalidName) as info:
        validate_database_name("%$#")
    assert info.value.message == (
        "the first character of a database name must be an underscore or letter: invalid "
        "database name[database=%$#]"
    )
    assert info.value.code == 802
