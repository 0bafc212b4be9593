"""Field flags survive the catalog's JSON: what is saved loads back the same.

Catalogs written before a flag existed load with the flag off.
"""

from __future__ import annotations

import json

from sluice.engine.catalog import field_from_dict, field_to_dict, schema_from_dict, schema_to_dict
from sluice.schema import CollectionSchema, DataType, FieldSchema, with_field_ids


def _schema() -> CollectionSchema:
    fields = with_field_ids(
        [
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("tenant", DataType.INT64, is_partition_key=True, is_clustering_key=True),
            FieldSchema("title", DataType.VARCHAR, max_length=16),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=4),
            FieldSchema(
                "chunks",
                DataType.ARRAY_OF_STRUCT,
                max_capacity=4,
                struct_fields=(
                    FieldSchema("text", DataType.VARCHAR, max_length=8, is_clustering_key=True),
                ),
            ),
        ]
    )
    return CollectionSchema("c", fields)


def test_clustering_key_round_trips_through_catalog_json() -> None:
    schema = _schema()
    stored = json.loads(json.dumps(schema_to_dict(schema)))
    loaded = schema_from_dict(stored)
    assert loaded == schema
    assert loaded.clustering_key is not None and loaded.clustering_key.name == "tenant"
    assert [f.is_clustering_key for f in loaded.fields] == [False, True, False, False, False]
    chunks = loaded.get("chunks")
    assert chunks is not None and chunks.struct_fields[0].is_clustering_key


def test_catalog_without_the_flag_loads_it_as_false() -> None:
    raw = field_to_dict(FieldSchema("tenant", DataType.INT64, field_id=101, is_clustering_key=True))
    assert raw["is_clustering_key"] is True
    del raw["is_clustering_key"]
    old = field_from_dict(raw)
    assert old.is_clustering_key is False
    assert old == FieldSchema("tenant", DataType.INT64, field_id=101)
