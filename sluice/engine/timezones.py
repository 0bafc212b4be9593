"""Which time zone a collection reads naive timestamps in and shows TIMESTAMPTZ values in.

Milvus resolves it from the most specific setting present: a request's
``timezone`` parameter, else the collection's ``timezone`` property, else
the database's, else UTC.  Zone names are IANA names (``Asia/Shanghai``).
"""

from __future__ import annotations

from collections.abc import Mapping

from sluice.engine.catalog import Catalog, CollectionMeta
from sluice.errors import ParameterInvalid
from sluice.types.temporal import DEFAULT_TIMEZONE, valid_timezone

TIMEZONE_KEY = "timezone"


def check_timezone(name: str) -> str:
    """``name`` if it is a known zone, else Milvus's invalid-parameter refusal."""
    if not valid_timezone(name):
        raise ParameterInvalid.msg(f"unknown time zone {name}")
    return name


def zone_from(properties: Mapping[str, str]) -> str | None:
    value = properties.get(TIMEZONE_KEY)
    return value or None


def collection_timezone(catalog: Catalog, meta: CollectionMeta, requested: str = "") -> str:
    """The zone a request on ``meta`` uses (``requested``: the request's own parameter)."""
    if requested:
        return check_timezone(requested)
    own = zone_from(meta.properties)
    if own:
        return own
    database = catalog.databases.get(meta.db)
    if database is not None:
        inherited = zone_from(database.properties)
        if inherited:
            return inherited
    return DEFAULT_TIMEZONE


def creation_timezone(catalog: Catalog, db: str, properties: Mapping[str, str]) -> str:
    """The zone a new collection's defaults are read in (its own ``timezone``, checked)."""
    own = zone_from(properties)
    if own is not None:
        return check_timezone(own)
    database = catalog.databases.get(db)
    inherited = zone_from(database.properties) if database is not None else None
    return inherited or DEFAULT_TIMEZONE
