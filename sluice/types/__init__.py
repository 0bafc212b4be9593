"""Data types as one table: what every layer needs to know about a field's type.

    info = type_info(field.dtype)     # TypeInfo: storage, checks, filter kind...
    arrow_type(field)                 # the Arrow type its values are stored in

Shared by every layer, like :mod:`sluice.schema`: this package imports only
:mod:`sluice.schema`, :mod:`sluice.errors` and third-party libraries (never
protobuf; the API and the remote client keep their own codec tables).
"""

from sluice.types.info import UTC, Context, FilterKind, Storage, TypeInfo
from sluice.types.registry import (
    REGISTRY,
    SUPPORTED_TYPES,
    arrow_field,
    arrow_schema,
    arrow_type,
    type_info,
)

__all__ = [
    "REGISTRY",
    "SUPPORTED_TYPES",
    "UTC",
    "Context",
    "FilterKind",
    "Storage",
    "TypeInfo",
    "arrow_field",
    "arrow_schema",
    "arrow_type",
    "type_info",
]
