"""Partition-key collections: Milvus's routing of rows to partitions, and pruning reads.

A collection whose schema marks an INT64 or VARCHAR field ``is_partition_key``
gets ``num_partitions`` partitions named ``_default_0`` .. ``_default_{n-1}``
at creation (Milvus's default is 16, its maximum ``rootCoord.maxPartitionNum``,
1024).  A row goes to partition ``hash(key) % n`` where the hash is Milvus's
``typeutil.Hash32Int64`` (32-bit MurmurHash3 of the key's 8 little-endian
bytes) for INT64 and ``HashString2Uint32`` (CRC-32 of the first 100 bytes)
for VARCHAR, and partition ``i`` is the one whose name ends in ``_i``
(``RearrangePartitionsForPartitionKey``) - so a key lands in the partition
Milvus would put it in.

Reads prune: a filter that pins the key with ``==`` or ``in`` can only match
rows in the partitions those values hash to, so only those are read.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sluice.engine.catalog import CollectionMeta
from sluice.engine.routing import hash_strings, murmur3_int64
from sluice.errors import ParameterInvalid, RequestError
from sluice.query import BoundExpr, field_terms
from sluice.schema import DEFAULT_PARTITION, CollectionSchema, DataType, FieldSchema

#: ``common.DefaultPartitionsWithPartitionKey``.
DEFAULT_KEY_PARTITIONS = 16
#: ``rootCoord.maxPartitionNum``: partitions per collection, and key partitions at most.
MAX_PARTITIONS = 1024
#: The ``partitionkey.isolation`` collection property.
ISOLATION_PROPERTY = "partitionkey.isolation"


def partition_key_field(schema: CollectionSchema) -> FieldSchema | None:
    for field in schema.fields:
        if field.is_partition_key:
            return field
    return None


def key_partition_names(count: int) -> list[str]:
    """``_default_0`` .. ``_default_{count-1}``, as Milvus's root coordinator names them."""
    return [f"{DEFAULT_PARTITION}_{i}" for i in range(count)]


def validate_partition_key(schema: CollectionSchema, num_partitions: int) -> int:
    """Milvus's ``validatePartitionKey``: the number of partitions the collection gets.

    Returns 0 for a collection without a partition key (it gets ``_default``).
    """
    keys = [f for f in schema.fields if f.is_partition_key]
    if len(keys) > 1:
        raise RequestError(
            f"there are more than one partition key, field name = {keys[0].name}, {keys[1].name}"
        )
    if not keys:
        if num_partitions != 0:
            raise RequestError(
                "num_partitions should only be specified with partition key field enabled"
            )
        return 0
    key = keys[0]
    if key.is_primary:
        raise RequestError("the partition key field must not be primary field")
    if key.nullable:
        raise ParameterInvalid.msg("partition key field not support nullable")
    if key.dtype not in (DataType.INT64, DataType.VARCHAR):
        raise RequestError("the data type of partition key should be Int64 or VarChar")
    if num_partitions < 0:
        raise RequestError(
            "the specified partitions should be greater than 0 if partition key is used"
        )
    if num_partitions > MAX_PARTITIONS:
        raise ParameterInvalid.msg(
            f"partition number ({num_partitions}) exceeds max configuration ({MAX_PARTITIONS})"
        )
    return num_partitions or DEFAULT_KEY_PARTITIONS


def hash_keys(values: np.ndarray) -> np.ndarray:
    """Milvus's partition hash of each key (uint32): MurmurHash3 for ints, CRC-32 for strings."""
    if values.dtype.kind in "iu":
        return murmur3_int64(values.astype(np.int64, copy=False))
    return hash_strings(values)


def route_rows(meta: CollectionMeta, key_column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The partition ID of every row, from its partition-key value."""
    ids = np.asarray(meta.key_partition_order, dtype=np.int64)
    values = key_column.to_numpy(zero_copy_only=False)
    slots = hash_keys(values) % np.uint32(len(ids))
    return ids[slots.astype(np.int64)]


def pruned_partitions(meta: CollectionMeta, bound: BoundExpr | None) -> frozenset[int] | None:
    """The partitions a filter can match rows in, when it pins the partition key (else ``None``)."""
    key = partition_key_field(meta.schema)
    if key is None or bound is None:
        return None
    terms = field_terms(bound, key.name)
    if terms is None:
        return None
    order = meta.key_partition_order
    if not terms:
        return frozenset()
    dtype = np.int64 if key.dtype == DataType.INT64 else object
    values = np.asarray(terms, dtype=dtype)
    slots = (hash_keys(values) % np.uint32(len(order))).tolist()
    return frozenset(order[slot] for slot in slots)
