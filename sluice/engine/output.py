"""Which columns a query or search returns, resolved the way Milvus's proxy does.

``translateOutputFields``: ``*`` means every field (vectors included) plus
the dynamic field; a schema field name means that field; ``$meta`` means the
whole dynamic field; ``struct[sub]`` means an array-of-structs field with
only the named sub-fields in each struct (unless the whole field is asked for
too); any other name is a key inside the dynamic field when the collection
has one, and an error (``field <name> not exist``) when it does not.  Query
results always carry the primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa

from sluice.errors import RequestError
from sluice.schema import DYNAMIC_FIELD, CollectionSchema, FieldSchema, FunctionType
from sluice.types import Context, type_info
from sluice.types.structs import project

COUNT_STAR = "count(*)"


@dataclass(frozen=True)
class OutputSpec:
    """Static fields to return (schema order) and what of ``$meta`` to return."""

    fields: tuple[str, ...]
    #: ``None``: no dynamic data; ``()``: the whole ``$meta``; else only these keys.
    dynamic_keys: tuple[str, ...] | None
    #: Array-of-structs fields asked for only through ``struct[sub]``: the sub-fields kept.
    struct_subs: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """Stored columns that must be read to produce the output."""
        if self.dynamic_keys is None:
            return self.fields
        return (*self.fields, DYNAMIC_FIELD)

    @property
    def names(self) -> tuple[str, ...]:
        """What the response's ``output_fields`` lists."""
        if self.dynamic_keys is None:
            return self.fields
        if not self.dynamic_keys:
            return (*self.fields, DYNAMIC_FIELD)
        return (*self.fields, *self.dynamic_keys)


def is_count(output_fields: Sequence[str]) -> bool:
    return len(output_fields) == 1 and output_fields[0].strip().lower() == COUNT_STAR


def resolve_output(
    schema: CollectionSchema, output_fields: Sequence[str], *, with_primary: bool
) -> OutputSpec:
    wanted: set[str] = set()
    whole: set[str] = set()
    subs: dict[str, list[str]] = {}
    dynamic_keys: list[str] = []
    whole_meta = False
    has_dynamic = schema.dynamic_field is not None
    hidden = raw_data_hidden(schema)
    for raw in output_fields:
        name = raw.strip()
        if not name:
            continue
        if name == "*":
            wanted.update(f.name for f in schema.user_fields if f.name not in hidden)
            whole.update(wanted)
            whole_meta = whole_meta or has_dynamic
        elif name == DYNAMIC_FIELD and has_dynamic:
            whole_meta = True
        elif name in hidden:
            raise RequestError(f"not allowed to retrieve raw data of field {name}")
        elif schema.get(name) is not None and not name.startswith("$"):
            wanted.add(name)
            whole.add(name)
        elif (member := schema.struct_member(name)) is not None:
            wanted.add(member[0].name)
            subs.setdefault(member[0].name, [])
            if member[1].name not in subs[member[0].name]:
                subs[member[0].name].append(member[1].name)
        elif has_dynamic and name.lower() != "count(*)":
            if name not in dynamic_keys:
                dynamic_keys.append(name)
        else:
            raise RequestError(f"field {name} not exist")
    if with_primary:
        wanted.add(schema.primary.name)
    fields = tuple(f.name for f in schema.user_fields if f.name in wanted)
    struct_subs = tuple((name, tuple(kept)) for name, kept in subs.items() if name not in whole)
    if whole_meta:
        return OutputSpec(fields, (), struct_subs)
    if dynamic_keys:
        return OutputSpec(fields, tuple(dynamic_keys), struct_subs)
    return OutputSpec(fields, None, struct_subs)


def narrow_outputs(table: pa.Table, schema: CollectionSchema, output: OutputSpec) -> pa.Table:
    """``$meta`` cut to the keys asked for, and structs to the sub-fields asked for."""
    if output.dynamic_keys and DYNAMIC_FIELD in table.column_names:
        idx = table.column_names.index(DYNAMIC_FIELD)
        projected = project_dynamic(table.column(DYNAMIC_FIELD), output.dynamic_keys)
        table = table.set_column(idx, DYNAMIC_FIELD, projected)
    for name, kept in output.struct_subs:
        fld = schema.get(name)
        if fld is None or name not in table.column_names:
            continue
        idx = table.column_names.index(name)
        table = table.set_column(idx, name, project(fld, table.column(idx), kept))
    return table


def raw_data_hidden(schema: CollectionSchema) -> frozenset[str]:
    """Fields no client reads (Milvus's ``CanRetrieveRawFieldData``): BM25 outputs.

    ``*`` leaves them out; naming one is refused.
    """
    return frozenset(
        name
        for function in schema.functions
        if function.type == FunctionType.BM25
        for name in function.output_field_names
    )


def project_dynamic(column: pa.ChunkedArray | pa.Array, keys: tuple[str, ...]) -> pa.Array:
    """Keep only ``keys`` of each ``$meta`` object (rows of a result, so few)."""
    values = column.to_pylist()
    out: list[bytes | None] = []
    for raw in values:
        if raw is None:
            out.append(None)
            continue
        obj = orjson.loads(raw)
        out.append(orjson.dumps({k: obj[k] for k in keys if k in obj}))
    return pa.array(out, type=pa.binary())


def round_scores(scores: np.ndarray, decimals: int) -> np.ndarray:
    return scores if decimals < 0 else np.round(scores, decimals)


def present_column(
    fld: FieldSchema, column: pa.ChunkedArray | pa.Array, context: Context
) -> pa.ChunkedArray | pa.Array:
    """A stored column as Milvus shows it to clients (ISO timestamps, WKT geometry)."""
    present = type_info(fld.dtype).present
    if present is None:
        return column
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return present(fld, column, context)


def present_table(schema: CollectionSchema, table: pa.Table, context: Context) -> pa.Table:
    """Every column of a result table as Milvus shows it."""
    for index, name in enumerate(table.column_names):
        fld = schema.get(name)
        if fld is None or type_info(fld.dtype).present is None:
            continue
        table = table.set_column(index, name, present_column(fld, table.column(index), context))
    return table
