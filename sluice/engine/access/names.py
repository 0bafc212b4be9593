"""Milvus's rules for user, role, privilege, group and database names, with its wording.

The checks walk the UTF-8 bytes of a name, as Milvus's Go code does, and
reproduce its messages byte for byte, including two formatting slips of the
Go source (a byte printed with ``%s`` and a string printed with ``%d``):
clients and test suites compare the text, so the text is the contract.
"""

from __future__ import annotations

from sluice.errors import (
    DatabaseInvalidName,
    ParameterInvalid,
    PrivilegeGroupNameInvalid,
)

MAX_NAME_LENGTH = 255
MAX_USERNAME_LENGTH = 32
MIN_PASSWORD_LENGTH = 6
#: Milvus caps passwords at 72 bytes (the bcrypt limit) whatever the configuration says.
MAX_PASSWORD_LENGTH = 72


def _is_alpha(byte: int) -> bool:
    return 65 <= byte <= 90 or 97 <= byte <= 122


def _is_digit(byte: int) -> bool:
    return 48 <= byte <= 57


def validate_username(name: str) -> None:
    """``ValidateUsername``: a letter, then letters, digits and underscores, at most 32 bytes."""
    name = name.strip()
    raw = name.encode()
    if not raw:
        raise ParameterInvalid.msg("username must be not empty")
    if len(raw) > MAX_USERNAME_LENGTH:
        raise ParameterInvalid.msg(
            f"invalid username {name} with length {len(raw)}, the length of username must be "
            f"less than %!d(string={MAX_USERNAME_LENGTH})"
        )
    if not _is_alpha(raw[0]):
        raise ParameterInvalid.msg(
            f"invalid user name {name}, the first character must be a letter, but got {chr(raw[0])}"
        )
    for byte in raw[1:]:
        if byte != 95 and not _is_alpha(byte) and not _is_digit(byte):
            raise ParameterInvalid.msg(
                f"invalid user name {name}, username must contain only numbers, letters and "
                f"underscores, but got %!s(uint8={byte})"
            )


def validate_password(password: bytes) -> None:
    """``ValidatePassword``: 6 to 72 bytes."""
    n = len(password)
    if not MIN_PASSWORD_LENGTH <= n <= MAX_PASSWORD_LENGTH:
        raise ParameterInvalid(
            f"invalid password length: invalid parameter"
            f"[{n} out of range {MIN_PASSWORD_LENGTH} <= value <= {MAX_PASSWORD_LENGTH}]"
        )


def validate_name(entity: str, name_type: str) -> None:
    """``validateName``: role names, object types and names, privilege names."""
    entity = entity.strip()
    raw = entity.encode()
    if not raw:
        raise ParameterInvalid(
            f"{name_type} should be not empty: invalid parameter[expected=not empty][actual=]"
        )
    if len(raw) > MAX_NAME_LENGTH:
        raise ParameterInvalid(
            f"the length of {name_type} must be not greater than limit: invalid parameter"
            f"[{len(raw)} out of range 0 <= value <= {MAX_NAME_LENGTH}]"
        )
    if raw[0] != 95 and not _is_alpha(raw[0]):
        raise ParameterInvalid(
            f"the first character of {name_type} must be an underscore or letter: "
            f"invalid parameter[expected=95][actual={raw[0]}]"
        )
    for i, byte in enumerate(raw[1:], start=1):
        if byte not in (95, 36) and not _is_alpha(byte) and not _is_digit(byte):
            raise ParameterInvalid.msg(
                f"{name_type} can only contain numbers, letters, dollars and underscores, "
                f"found {chr(byte)} at {i}"
            )


def validate_role_name(name: str) -> None:
    validate_name(name, "role name")


def validate_object_name(name: str) -> None:
    if name != "*":
        validate_name(name, "object name")


def validate_collection_name(name: str) -> None:
    """``ValidateCollectionName`` of the grant API (``*`` allowed)."""
    if name != "*":
        validate_name(name, "collection name")


def validate_object_type(name: str) -> None:
    validate_name(name, "ObjectType")


def validate_privilege(name: str) -> None:
    if name != "*":
        validate_name(name, "Privilege")


def validate_privilege_group_name(name: str) -> None:
    """``ValidatePrivilegeGroupName``."""
    raw = name.encode()
    if not raw:
        raise PrivilegeGroupNameInvalid.wrap_text("privilege group name should not be empty")
    if len(raw) > MAX_NAME_LENGTH:
        raise PrivilegeGroupNameInvalid.wrap_text(
            f"the length of a privilege group name {name} must be less than "
            f"{MAX_NAME_LENGTH} characters"
        )
    if raw[0] != 95 and not _is_alpha(raw[0]):
        raise PrivilegeGroupNameInvalid.wrap_text(
            f"the first character of a privilege group name {name} must be an underscore or letter"
        )
    for byte in raw[1:]:
        if byte != 95 and not _is_alpha(byte) and not _is_digit(byte):
            raise ParameterInvalid.msg(
                f"privilege group name {name} can only contain numbers, letters and underscores"
            )


def validate_database_name(name: str) -> None:
    """``ValidateDatabaseName``: code 802, ``<why>: invalid database name[database=<name>]``."""
    raw = name.encode()
    why: str | None = None
    if not raw:
        why = "database name couldn't be empty"
    elif len(raw) > MAX_NAME_LENGTH:
        why = f"the length of a database name must be less than {MAX_NAME_LENGTH} characters"
    elif raw[0] != 95 and not _is_alpha(raw[0]):
        why = "the first character of a database name must be an underscore or letter"
    elif any(b != 95 and not _is_alpha(b) and not _is_digit(b) for b in raw[1:]):
        why = "database name can only contain numbers, letters and underscores"
    if why is not None:
        raise DatabaseInvalidName.wrap(why, database=name)
