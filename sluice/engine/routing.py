"""Which shard a row goes to: Milvus's primary-key hash, vectorised.

Milvus hashes INT64 keys with 32-bit MurmurHash3 of their 8 little-endian
bytes (``typeutil.Hash32Int64``) and VARCHAR keys with CRC-32 of their first
100 bytes (``HashString2Uint32``), then takes the hash modulo the shard
count.  Using the same function keeps a row on the shard Milvus would pick.
"""

from __future__ import annotations

import zlib

import numpy as np

_C1 = np.uint32(0xCC9E2D51)
_C2 = np.uint32(0x1B873593)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def murmur3_int64(keys: np.ndarray) -> np.ndarray:
    """MurmurHash3 (x86, 32-bit, seed 0) of each int64's 8 little-endian bytes."""
    words = np.ascontiguousarray(keys, dtype="<i8").view("<u4").reshape(-1, 2)
    h = np.zeros(len(words), dtype=np.uint32)
    with np.errstate(over="ignore"):
        for i in range(2):
            k = words[:, i].astype(np.uint32) * _C1
            k = _rotl(k, 15) * _C2
            h ^= k
            h = _rotl(h, 13) * np.uint32(5) + np.uint32(0xE6546B64)
        h ^= np.uint32(8)
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
    return h


def hash_strings(keys: np.ndarray) -> np.ndarray:
    return np.fromiter(
        (zlib.crc32(str(k).encode()[:100]) for k in keys), dtype=np.uint32, count=len(keys)
    )


def shard_of(keys: np.ndarray, shards: int) -> np.ndarray:
    """Shard index for every key."""
    if shards == 1:
        return np.zeros(len(keys), dtype=np.int64)
    hashes = murmur3_int64(keys) if keys.dtype.kind in "iu" else hash_strings(keys)
    return (hashes % np.uint32(shards)).astype(np.int64)
