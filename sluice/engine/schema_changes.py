"""Changing a live collection: its properties, a field's parameters, a new field.

* **AlterCollection / DropCollectionProperties** set or remove properties.
  Sluice acts on ``collection.ttl.seconds`` (see :mod:`sluice.engine.ttl`)
  and ``partitionkey.isolation``; ``mmap.enabled`` and the other keys are
  stored and shown as given, with Milvus's checks (mmap changes need the
  collection released).
* **AlterCollectionField** changes ``max_length`` (VARCHAR) or field-level
  ``mmap.enabled``.
* **AddCollectionField** appends a nullable field (optionally with a default
  value), which may be the collection's clustering key if it has none yet.
  Rows stored before read it as its default, or null: every segment takes
  the new column at once (under the channel locks, before the new schema is
  published, so no reader sees the schema without the column), and rows
  written before the change - in binlogs or the WAL - get it when they are
  read back after a restart.

Each change is one catalog commit; the search plans of the collection are
made again afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import replace

from sluice.engine.collection_ddl import check_isolation_property
from sluice.engine.core import EngineCore
from sluice.engine.placement import LEGACY_FIELD_MMAP_KEY, MMAP_KEY
from sluice.engine.schema_rules import CLUSTERING_KEY_TYPES, MAX_VARCHAR, check_field
from sluice.engine.ttl import validate_ttl
from sluice.errors import CollectionLoaded, ParameterInvalid, RequestError
from sluice.schema import DYNAMIC_FIELD, TS_COLUMN, DataType, FieldSchema

log = logging.getLogger(__name__)

#: Field parameters AlterCollectionField may set (``allowedAlterProps``) and drop.
_FIELD_ALTERABLE = frozenset({"max_length", MMAP_KEY, "max_capacity", "field.description"})
_FIELD_DROPPABLE = frozenset({MMAP_KEY})
#: Names a user field may not take (Milvus's ``RowID``, ``Timestamp``, ``$meta``, Sluice's ``$ts``).
_SYSTEM_FIELDS = frozenset({"RowID", "Timestamp", DYNAMIC_FIELD, TS_COLUMN})


def _field_key(key: str) -> str:
    """Milvus accepts the older ``mmap_enabled`` spelling for field parameters."""
    return MMAP_KEY if key == LEGACY_FIELD_MMAP_KEY else key


class SchemaChanges(EngineCore):
    def alter_collection(
        self, db: str, name: str, properties: Mapping[str, str], delete_keys: Iterable[str] = ()
    ) -> None:
        """Set ``properties`` or remove ``delete_keys`` (not both, as Milvus requires)."""
        collection = self.get(db, name)
        keys = list(delete_keys)
        if properties and keys:
            raise ParameterInvalid.msg("cannot provide both DeleteKeys and ExtraParams")
        if not properties and not keys:
            raise ParameterInvalid.msg("no properties or delete keys provided")
        meta = collection.meta
        loaded = meta.any_loaded
        if MMAP_KEY in properties and loaded:
            raise CollectionLoaded(
                "can not alter mmap properties if collection loaded: "
                f"{CollectionLoaded.base_message}[collection={meta.name}]"
            )
        if MMAP_KEY in keys and loaded:
            raise CollectionLoaded(
                "can not delete mmap properties if collection loaded: "
                f"{CollectionLoaded.base_message}[collection={meta.name}]"
            )
        validate_ttl(properties)
        check_isolation_property(meta.name, meta.schema, properties)
        with self.catalog.lock:
            meta = collection.meta
            changed = {k: v for k, v in meta.properties.items() if k not in keys}
            changed.update(properties)
            if changed == meta.properties:
                return
            self._publish(meta.evolve(properties=changed, updated_ts=self.ctx.tso.allocate()))
            collection.index_epoch += 1

    def alter_collection_field(
        self,
        db: str,
        name: str,
        field_name: str,
        properties: Mapping[str, str],
        delete_keys: Iterable[str] = (),
    ) -> None:
        """AlterCollectionField: ``max_length``, field-level ``mmap.enabled``, description."""
        collection = self.get(db, name)
        meta = collection.meta
        props = {_field_key(k): v for k, v in properties.items()}
        drops = [_field_key(k) for k in delete_keys]
        for key in props:
            if key not in _FIELD_ALTERABLE:
                raise ParameterInvalid.msg(f"{key} does not allow update in collection field param")
        for key in drops:
            if key not in _FIELD_DROPPABLE:
                raise ParameterInvalid.msg(
                    f"{key} is not allowed to drop in collection field param"
                )
        if (MMAP_KEY in props or MMAP_KEY in drops) and meta.any_loaded:
            action = "alter" if MMAP_KEY in props else "drop"
            raise CollectionLoaded(
                f"can not {action} collection field properties if collection loaded: "
                f"{CollectionLoaded.base_message}[collection={meta.name}]"
            )
        field = meta.schema.get(field_name)
        if field is None or field.is_dynamic:
            raise ParameterInvalid.msg(f"field {field_name} does not exist in collection")
        changed = _altered_field(field, props, drops)
        with self.catalog.lock:
            meta = collection.meta
            fields = tuple(changed if f.name == field_name else f for f in meta.schema.fields)
            schema = replace(meta.schema, fields=fields)
            self._publish(meta.evolve(schema=schema, updated_ts=self.ctx.tso.allocate()))
            collection.index_epoch += 1

    def add_collection_field(self, db: str, name: str, field: FieldSchema) -> None:
        """AddCollectionField: a nullable field appended to a live collection."""
        collection = self.get(db, name)
        max_fields = self.settings.quota.max_field_num
        _check_new_field(collection.meta.schema.fields, field, max_fields)
        with self.catalog.lock:
            meta = collection.meta
            _check_new_field(meta.schema.fields, field, max_fields)
            field_id = meta.schema.max_field_id + 1
            schema = replace(
                meta.schema, fields=(*meta.schema.fields, replace(field, field_id=field_id))
            )
            with ExitStack() as stack:
                for channel in collection.channels:
                    stack.enter_context(channel.lock)
                collection.adopt_schema_locked(schema)
                self._publish(meta.evolve(schema=schema, updated_ts=self.ctx.tso.allocate()))
        log.info("added field %s to %s.%s", field.name, db, meta.name)


def _altered_field(
    field: FieldSchema, props: Mapping[str, str], drops: Iterable[str]
) -> FieldSchema:
    params = {k: v for k, v in field.type_params.items() if k not in drops}
    max_length = field.max_length
    description = field.description
    for key, value in props.items():
        if key == "max_length":
            if field.dtype != DataType.VARCHAR:
                raise ParameterInvalid.msg(" can not modify the maxlength for non-string types")
            try:
                max_length = int(value)
            except ValueError:
                raise ParameterInvalid.msg(
                    "max_length should be an integer, but got string"
                ) from None
            if max_length > MAX_VARCHAR:
                raise ParameterInvalid.msg(
                    f"{value} exceeds the maximum allowed value {MAX_VARCHAR}"
                )
            if max_length <= 0:
                raise ParameterInvalid.msg(
                    f"the maximum length specified for the field({field.name}) should be in "
                    f"(0, {MAX_VARCHAR}], but got {max_length} instead"
                )
            params["max_length"] = str(max_length)
        elif key == "max_capacity":
            raise ParameterInvalid.msg(" can not modify the maxcapacity for non-array types")
        elif key == "field.description":
            description = value
        else:
            params[key] = value
    return replace(field, max_length=max_length, description=description, type_params=params)


def _check_new_field(
    existing: tuple[FieldSchema, ...], field: FieldSchema, max_fields: int
) -> None:
    """``validateAddFieldRequest`` and the nullable rule, with Milvus's wording."""
    user_fields = [f for f in existing if not f.is_dynamic]
    if len(user_fields) >= max_fields:
        raise ParameterInvalid.msg(
            f"The number of fields has reached the maximum value {max_fields}"
        )
    if any(f.name == field.name for f in user_fields):
        raise ParameterInvalid.msg(f"duplicated field name {field.name}")
    if field.dtype == DataType.NONE:
        raise ParameterInvalid.expected(
            "valid field", f"field data type: {field.dtype.milvus_name} is not supported"
        )
    if field.name in _SYSTEM_FIELDS:
        raise ParameterInvalid.msg(f"not support to add system field, field name = {field.name}")
    if field.is_primary:
        raise ParameterInvalid.msg(f"not support to add pk field, field name = {field.name}")
    if field.auto_id:
        raise ParameterInvalid.msg(
            f"only primary field can speficy AutoID with true, field name = {field.name}"
        )
    if field.is_partition_key:
        raise ParameterInvalid.msg(
            f"not support to add partition key field, field name  = {field.name}"
        )
    if field.is_clustering_key:
        if field.dtype not in CLUSTERING_KEY_TYPES:
            raise ParameterInvalid.msg(
                f"clustering key field {field.name} has unsupported data type "
                f"{field.dtype.milvus_name}"
            )
        if any(f.is_clustering_key for f in existing):
            raise ParameterInvalid.msg(
                f"already has another clustering key field, field name: {field.name}"
            )
    if not field.nullable:
        raise ParameterInvalid.msg(
            f"added field must be nullable, please check it, field name = {field.name}"
        )
    if field.dtype.is_vector:
        raise RequestError(
            f"vector type not support null, type:{field.dtype.milvus_name}, fieldName:{field.name}"
        )
    check_field(field, "")
