"""Reading bulk-import files into columns, in the formats pymilvus's bulk writers write.

``LocalBulkWriter``/``RemoteBulkWriter`` produce, per batch:

* **Parquet** ``<n>.parquet``: one column per field; vectors as ``list<float>``
  (or ``list<uint8>`` for binary vectors), JSON and ``$meta`` as JSON text;
* **JSON** ``<n>.json``: ``{"rows": [{...}, ...]}`` (a bare list of rows is also
  accepted, as Milvus accepts it); keys outside the schema go to ``$meta``;
* **NumPy** a folder of ``<field>.npy`` files, one per field (a batch is the list
  of those files);
* **CSV** ``<n>.csv``: a header of field names; vectors, JSON and arrays as JSON
  text; an empty cell (``nullkey``) is null.

Each batch becomes a list of :class:`~sluice.engine.ingest.Column` exactly as an
insert's columns, so :func:`~sluice.engine.ingest.prepare_rows` checks imported
values with the insert rules (types, lengths, dimensions, NaN, JSON).  File-level
problems (missing file, unknown column, wrong dimension) raise
:class:`ImportFailed` naming the file.

Files are read through ``pyarrow.fs``: a local path, or a URI (``s3://bucket/key``,
``file:///...``) that pyarrow resolves with its usual credentials.  A relative
path is taken relative to the data folder.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from sluice.engine.ingest import Column
from sluice.errors import ImportFailed
from sluice.schema import DYNAMIC_FIELD, CollectionSchema, DataType, FieldSchema

FORMATS = {".parquet": "parquet", ".json": "json", ".npy": "numpy", ".csv": "csv"}


@dataclass(frozen=True)
class SourceFile:
    """One file of a batch, resolved to a filesystem and a path on it."""

    name: str
    filesystem: pafs.FileSystem
    path: str

    def size(self) -> int:
        info = self.filesystem.get_file_info(self.path)
        if info.type != pafs.FileType.File:
            raise ImportFailed.at(self.name, "no such file")
        return int(info.size or 0)

    def read(self) -> bytes:
        with self.filesystem.open_input_stream(self.path) as src:
            return bytes(src.read())


def resolve(name: str, data_dir: Path) -> SourceFile:
    """A path as given in an import request: a URI, an absolute path, or one under ``data_dir``."""
    if "://" in name:
        try:
            filesystem, path = pafs.FileSystem.from_uri(name)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ImportFailed.at(name, f"cannot open: {exc}") from None
        return SourceFile(name, filesystem, path)
    local = Path(name)
    if not local.is_absolute():
        local = data_dir / local
    return SourceFile(name, pafs.LocalFileSystem(), str(local.resolve()))


def batch_format(files: Sequence[str]) -> str:
    """The format of one batch (all its files share it; NumPy batches are several files)."""
    kinds = {FORMATS.get(Path(f.split("?")[0]).suffix.lower()) for f in files}
    if None in kinds:
        bad = next(f for f in files if Path(f).suffix.lower() not in FORMATS)
        raise ImportFailed.at(bad, "unsupported file type; expected .parquet, .json, .npy or .csv")
    if len(kinds) != 1:
        raise ImportFailed(f"{ImportFailed.base_message}: a batch mixes file types {files}")
    kind = kinds.pop()
    assert kind is not None
    if kind != "numpy" and len(files) != 1:
        raise ImportFailed(
            f"{ImportFailed.base_message}: a {kind} batch must be exactly one file, got {len(files)}"
        )
    return kind


def read_batch(
    schema: CollectionSchema, sources: Sequence[SourceFile], kind: str, options: dict[str, str]
) -> tuple[list[Column], int]:
    """The columns of one batch and its row count."""
    if kind == "parquet":
        return _parquet(schema, sources[0])
    if kind == "json":
        return _json(schema, sources[0])
    if kind == "csv":
        return _csv(schema, sources[0], options)
    return _numpy(schema, sources)


def _importable(schema: CollectionSchema) -> list[FieldSchema]:
    return [f for f in schema.fields if not f.is_dynamic]


def _check_names(schema: CollectionSchema, source: SourceFile, names: Sequence[str]) -> None:
    known = {f.name for f in schema.fields if not f.is_dynamic}
    for name in names:
        if name in known:
            continue
        if name == DYNAMIC_FIELD and schema.dynamic_field is not None:
            continue
        why = f"field '{name}' is not in the collection schema"
        if name == DYNAMIC_FIELD:
            why = "dynamic field '$meta' given but the collection has no dynamic field"
        raise ImportFailed.at(source.name, why)
    primary = schema.primary
    if primary.auto_id and primary.name in names:
        raise ImportFailed.at(
            source.name,
            f"the primary key '{primary.name}' is auto-generated, no need to provide",
        )


def _vector_column(fld: FieldSchema, values: pa.Array, source: SourceFile) -> Column:
    """A ``list<float>`` column as the fixed-size list an insert carries (dimension checked)."""
    assert fld.dim is not None
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_fixed_size_list(values.type):
        values = values.cast(pa.list_(pa.float32()))
    if not (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)):
        raise ImportFailed.at(
            source.name, f"field '{fld.name}' must hold lists of floats, not {values.type}"
        )
    if values.null_count:
        raise ImportFailed.at(source.name, f"field '{fld.name}' holds null vectors")
    lengths = pc.list_value_length(values)
    if len(values) and (pc.min(lengths).as_py() != fld.dim or pc.max(lengths).as_py() != fld.dim):
        bad = int(pc.index(pc.not_equal(lengths, fld.dim), True).as_py())
        raise ImportFailed.at(
            source.name,
            f"the dim ({lengths[bad].as_py()}) of field '{fld.name}' at row {bad} is not equal "
            f"to schema dim ({fld.dim})",
        )
    flat = values.flatten().cast(pa.float32())
    return Column(
        fld.name, fld.dtype, pa.FixedSizeListArray.from_arrays(flat, fld.dim), dim=fld.dim
    )


def _table_columns(
    schema: CollectionSchema, table: pa.Table, source: SourceFile
) -> tuple[list[Column], int]:
    _check_names(schema, source, table.column_names)
    columns = []
    for fld in _importable(schema):
        if fld.name not in table.column_names:
            continue
        values = table.column(fld.name).combine_chunks()
        if fld.dtype == DataType.FLOAT_VECTOR:
            columns.append(_vector_column(fld, values, source))
        else:
            columns.append(Column(fld.name, fld.dtype, values))
    if DYNAMIC_FIELD in table.column_names:
        meta = table.column(DYNAMIC_FIELD).combine_chunks()
        columns.append(Column(DYNAMIC_FIELD, DataType.JSON, meta, is_dynamic=True))
    return columns, table.num_rows


def _parquet(schema: CollectionSchema, source: SourceFile) -> tuple[list[Column], int]:
    try:
        table = pq.read_table(source.path, filesystem=source.filesystem)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImportFailed.at(source.name, f"not a readable Parquet file: {exc}") from None
    return _table_columns(schema, table, source)


def _json(schema: CollectionSchema, source: SourceFile) -> tuple[list[Column], int]:
    try:
        doc = orjson.loads(source.read())
    except orjson.JSONDecodeError as exc:
        raise ImportFailed.at(source.name, f"not valid JSON: {exc}") from None
    rows = doc.get("rows") if isinstance(doc, dict) else doc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ImportFailed.at(
            source.name, 'expected {"rows": [{...}, ...]} or a list of row objects'
        )
    return _row_columns(schema, rows, source), len(rows)


def _row_columns(
    schema: CollectionSchema, rows: list[dict[str, Any]], source: SourceFile
) -> list[Column]:
    fields = _importable(schema)
    known = {f.name for f in fields}
    primary = schema.primary
    if primary.auto_id and any(primary.name in r for r in rows):
        raise ImportFailed.at(
            source.name, f"the primary key '{primary.name}' is auto-generated, no need to provide"
        )
    columns = []
    for fld in fields:
        if fld.is_primary and fld.auto_id:
            continue
        present = [r.get(fld.name) for r in rows]
        if all(v is None for v in present) and (fld.nullable or fld.default_value is not None):
            continue
        if fld.dtype == DataType.FLOAT_VECTOR:
            values = pa.array(present, type=pa.list_(pa.float32()))
            columns.append(_vector_column(fld, values, source))
        elif fld.dtype == DataType.JSON:
            docs = [None if v is None else orjson.dumps(v) for v in present]
            columns.append(Column(fld.name, fld.dtype, pa.array(docs, type=pa.binary())))
        else:
            try:
                values = pa.array(present)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ImportFailed.at(
                    source.name, f"field '{fld.name}' holds values of mixed types: {exc}"
                ) from None
            columns.append(Column(fld.name, fld.dtype, values))
    extras = [{k: v for k, v in r.items() if k not in known and k != DYNAMIC_FIELD} for r in rows]
    if any(extras) or any(DYNAMIC_FIELD in r for r in rows):
        if schema.dynamic_field is None:
            name = next((k for e in extras for k in e), DYNAMIC_FIELD)
            raise ImportFailed.at(source.name, f"field '{name}' is not in the collection schema")
        docs = []
        for row, extra in zip(rows, extras, strict=True):
            meta = row.get(DYNAMIC_FIELD)
            merged = {**(meta if isinstance(meta, dict) else {}), **extra}
            docs.append(orjson.dumps(merged))
        columns.append(
            Column(DYNAMIC_FIELD, DataType.JSON, pa.array(docs, type=pa.binary()), is_dynamic=True)
        )
    return columns


def _csv(
    schema: CollectionSchema, source: SourceFile, options: dict[str, str]
) -> tuple[list[Column], int]:
    sep = options.get("sep", ",")
    nullkey = options.get("nullkey", "")
    by_name = {f.name: f for f in schema.fields}
    text_types = {}
    for fld in schema.fields:
        if fld.dtype in (DataType.FLOAT_VECTOR, DataType.JSON, DataType.VARCHAR) or fld.is_dynamic:
            text_types[fld.name] = pa.string()
    text_types[DYNAMIC_FIELD] = pa.string()
    try:
        table = pacsv.read_csv(
            io.BytesIO(source.read()),
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(
                column_types=text_types,
                null_values=[nullkey],
                strings_can_be_null=True,
                true_values=["true", "True", "TRUE", "1"],
                false_values=["false", "False", "FALSE", "0"],
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImportFailed.at(source.name, f"not a readable CSV file: {exc}") from None
    _check_names(schema, source, table.column_names)
    arrays = []
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        target = by_name.get(name)
        if target is not None and target.dtype == DataType.FLOAT_VECTOR:
            column = _json_lists(column, source, name)
        arrays.append(column)
    return _table_columns(schema, pa.Table.from_arrays(arrays, names=table.column_names), source)


def _json_lists(column: pa.Array, source: SourceFile, name: str) -> pa.Array:
    """``"[0.1, 0.2]"`` cells as ``list<float>`` (one JSON parse for the whole column)."""
    if column.null_count:
        raise ImportFailed.at(source.name, f"field '{name}' holds null vectors")
    try:
        parsed = orjson.loads(b"[" + b",".join(s.encode() for s in column.to_pylist()) + b"]")
        return pa.array(parsed, type=pa.list_(pa.float32()))
    except (orjson.JSONDecodeError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ImportFailed.at(
            source.name, f"field '{name}' is not a list of floats: {exc}"
        ) from None


def _numpy(schema: CollectionSchema, sources: Sequence[SourceFile]) -> tuple[list[Column], int]:
    by_name = {f.name: f for f in schema.fields}
    columns: list[Column] = []
    counts: dict[str, int] = {}
    names = [Path(s.path).stem for s in sources]
    _check_names(schema, sources[0], names)
    for source, name in zip(sources, names, strict=True):
        try:
            array = np.load(io.BytesIO(source.read()), allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ImportFailed.at(source.name, f"not a readable .npy file: {exc}") from None
        fld = by_name[name]
        counts[source.name] = len(array)
        if fld.dtype == DataType.FLOAT_VECTOR:
            if array.ndim != 2 or array.shape[1] != fld.dim:
                raise ImportFailed.at(
                    source.name,
                    f"the shape {array.shape} of field '{name}' does not match dim {fld.dim}",
                )
            flat = pa.array(np.ascontiguousarray(array, dtype=np.float32).ravel())
            columns.append(
                Column(name, fld.dtype, pa.FixedSizeListArray.from_arrays(flat, fld.dim), fld.dim)
            )
        elif array.dtype.kind == "U":
            values = pa.array(array.tolist(), type=pa.string())
            columns.append(Column(name, fld.dtype, values, is_dynamic=fld.is_dynamic))
        else:
            columns.append(Column(name, fld.dtype, pa.array(array), is_dynamic=fld.is_dynamic))
    if len(set(counts.values())) > 1:
        raise ImportFailed(
            f"{ImportFailed.base_message}: the files of a NumPy batch hold different row "
            f"counts: {counts}"
        )
    return columns, next(iter(counts.values()), 0)
