"""Partition-key routing equals Milvus's: MurmurHash3 / CRC-32 of the key, modulo the partitions.

The expected partitions are computed independently of the product: a
MurmurHash3 (x86, 32-bit, seed 0) written from the algorithm's definition
(``tests/murmur_reference.py``) over the key's 8 little-endian bytes (Milvus's
``typeutil.Hash32Int64``), and ``zlib.crc32`` of the first 100 UTF-8 bytes
(``HashString2Uint32``).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pyarrow as pa
import pytest

from sluice.engine.catalog import CollectionMeta, PartitionMeta
from sluice.engine.partition_keys import (
    hash_keys,
    key_partition_names,
    pruned_partitions,
    route_rows,
    validate_partition_key,
)
from sluice.errors import ParameterInvalid, RequestError
from sluice.query import compile_filter
from sluice.schema import CollectionSchema, ConsistencyLevel, DataType, FieldSchema
from tests.murmur_reference import murmur3_32


def test_reference_murmur3_matches_published_vectors() -> None:
    # Published test vectors of MurmurHash3_x86_32 (seed 0): the reference itself is right.
    assert murmur3_32(b"") == 0
    assert murmur3_32(b"hello") == 0x248BFA47
    assert murmur3_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723


INT_KEYS = [0, 1, -1, 7, 42, 1000, 2**31, -(2**40), 2**63 - 1, -(2**63), 123456789012345]
STRING_KEYS = ["", "a", "tenant_a", "中文", "x" * 99, "y" * 150, "emoji 😀"]


@pytest.mark.parametrize("key", INT_KEYS)
def test_int64_keys_hash_like_milvus(key: int) -> None:
    expected = murmur3_32(struct.pack("<q", key))
    assert int(hash_keys(np.array([key], dtype=np.int64))[0]) == expected


@pytest.mark.parametrize("key", STRING_KEYS)
def test_varchar_keys_hash_like_milvus(key: str) -> None:
    expected = zlib.crc32(key.encode()[:100])
    assert int(hash_keys(np.array([key], dtype=object))[0]) == expected


def _meta(key_type: DataType, partitions: int) -> CollectionMeta:
    key = FieldSchema("k", key_type, is_partition_key=True, max_length=256)
    schema = CollectionSchema(
        "c",
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            key,
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=2),
        ),
    )
    # Partitions listed out of order: routing must follow the index in the name.
    names = key_partition_names(partitions)[::-1]
    parts = {n: PartitionMeta(1000 + int(n.rsplit("_", 1)[1]), n, 1, 1) for n in names}
    return CollectionMeta(
        1, "default", "c", schema, 1, [], [], parts, ConsistencyLevel.BOUNDED, 1, 1
    )


@pytest.mark.parametrize("partitions", [1, 16, 64])
def test_rows_go_to_the_partition_milvus_picks(partitions: int) -> None:
    meta = _meta(DataType.INT64, partitions)
    routed = route_rows(meta, pa.array(INT_KEYS, type=pa.int64()))
    expected = [1000 + murmur3_32(struct.pack("<q", k)) % partitions for k in INT_KEYS]
    assert routed.tolist() == expected


def test_string_rows_go_to_the_partition_milvus_picks() -> None:
    meta = _meta(DataType.VARCHAR, 16)
    routed = route_rows(meta, pa.array(STRING_KEYS))
    expected = [1000 + zlib.crc32(k.encode()[:100]) % 16 for k in STRING_KEYS]
    assert routed.tolist() == expected


def test_filters_on_the_key_prune_to_the_partitions_they_can_match() -> None:
    meta = _meta(DataType.INT64, 16)

    def pruned(expr: str) -> frozenset[int] | None:
        return pruned_partitions(meta, compile_filter(expr, meta.schema))

    def home(key: int) -> int:
        return 1000 + murmur3_32(struct.pack("<q", key)) % 16

    assert pruned("k == 7") == {home(7)}
    assert pruned("k in [7, 42]") == {home(7), home(42)}
    assert pruned("k == 7 and id > 3") == {home(7)}
    assert pruned("k == 7 or k == 42") == {home(7), home(42)}
    assert pruned("k in [7, 42] and k == 7") == {home(7)}
    # Anything that does not pin the key reads every partition.
    assert pruned("k == 7 or id > 3") is None
    assert pruned("k > 7") is None
    assert pruned("id == 7") is None


def test_partition_key_rules() -> None:
    meta = _meta(DataType.INT64, 16)
    assert validate_partition_key(meta.schema, 0) == 16
    assert validate_partition_key(meta.schema, 1024) == 1024
    with pytest.raises(ParameterInvalid, match=r"partition number \(1025\) exceeds max"):
        validate_partition_key(meta.schema, 1025)
    plain = CollectionSchema("c", (FieldSchema("id", DataType.INT64, is_primary=True),))
    assert validate_partition_key(plain, 0) == 0
    with pytest.raises(RequestError, match="num_partitions should only be specified"):
        validate_partition_key(plain, 4)
