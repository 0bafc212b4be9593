"""Milvus's rules for the names of collections, aliases, partitions and databases.

Milvus's proxy checks a name before it looks anything up, so a malformed
name is reported as malformed ("Invalid collection name: 12-s. ...") rather
than as missing.  Every engine entry point that takes a name runs the same
check, with Milvus's limit (``proxy.maxNameLength``, 255 bytes) and wording:

* collection names and aliases (``validateCollectionNameOrAlias``): code 1100,
  ``Invalid collection <name|alias>: <x>. <reason>: invalid parameter``;
* partition names (``validatePartitionTag``): plain errors (code 65535),
  ``Invalid partition name: <x>. <Reason>.``; surrounding spaces are trimmed
  first;
* database names (``ValidateDatabaseName``): code 802,
  ``<reason>: invalid database name[database=<x>]``.

Lengths are counted in bytes, as Go's ``len`` counts them.  Field names are
checked with the schema (:mod:`sluice.engine.schema_rules`).
"""

from __future__ import annotations

import re

from sluice.errors import DatabaseInvalidName, ParameterInvalid, RequestError

MAX_NAME_LENGTH = 255
#: A well-formed name (ASCII, so its length in bytes is its length): the common case, checked fast.
_WELL_FORMED = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}\Z")


def _is_alpha(char: str) -> bool:
    return ("a" <= char <= "z") or ("A" <= char <= "Z")


def _is_name_char(char: str) -> bool:
    return char == "_" or _is_alpha(char) or "0" <= char <= "9"


def _problem(name: str, entity: str) -> str | None:
    """Why ``name`` breaks the common rule, in the words Milvus uses for ``entity``."""
    if len(name.encode()) > MAX_NAME_LENGTH:
        return f"the length of a {entity} must be less than {MAX_NAME_LENGTH} characters"
    if not (name[0] == "_" or _is_alpha(name[0])):
        return f"the first character of a {entity} must be an underscore or letter"
    if not all(_is_name_char(c) for c in name[1:]):
        return f"{entity} can only contain numbers, letters and underscores"
    return None


def _check_collection_entity(name: str, kind: str) -> None:
    if _WELL_FORMED.match(name):
        return
    if not name:
        raise ParameterInvalid.msg(f"collection {kind} should not be empty")
    reason = _problem(name, f"collection {kind}")
    if reason is not None:
        raise ParameterInvalid.msg(f"Invalid collection {kind}: {name}. {reason}")


def validate_collection_name(name: str) -> None:
    """``validateCollectionName``."""
    _check_collection_entity(name, "name")


def validate_alias(alias: str) -> None:
    """``ValidateCollectionAlias``."""
    _check_collection_entity(alias, "alias")


def validate_partition_name(name: str) -> str:
    """``validatePartitionTag`` (strict); returns the name with surrounding spaces trimmed."""
    trimmed = name.strip()
    prefix = f"Invalid partition name: {trimmed}. "
    if not trimmed:
        raise RequestError(prefix + "Partition name should not be empty.")
    if len(trimmed.encode()) > MAX_NAME_LENGTH:
        raise RequestError(
            prefix + f"The length of a partition name must be less than {MAX_NAME_LENGTH} "
            "characters."
        )
    if not (trimmed[0] == "_" or _is_alpha(trimmed[0])):
        raise RequestError(
            prefix + "The first character of a partition name must be an underscore or letter."
        )
    if not all(_is_name_char(c) for c in trimmed[1:]):
        raise RequestError(
            prefix + "Partition name can only contain numbers, letters and underscores."
        )
    return trimmed


def validate_database_name(name: str) -> None:
    """``ValidateDatabaseName``: code 802, the reason then ``invalid database name[database=x]``."""
    if not name:
        raise DatabaseInvalidName.named(name, "database name couldn't be empty")
    reason = _problem(name, "database name")
    if reason is not None:
        raise DatabaseInvalidName.named(name, reason)
