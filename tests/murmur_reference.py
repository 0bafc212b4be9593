"""MurmurHash3_x86_32 written from its definition, to check the product's hashing against.

Tests compute expected shards and partitions with this function, never with
the product's vectorised implementation.
"""

from __future__ import annotations

import struct

MASK = 0xFFFFFFFF


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3_x86_32, straight from its reference definition (one byte string)."""

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & MASK

    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed
    blocks = len(data) // 4
    for i in range(blocks):
        (k,) = struct.unpack_from("<I", data, 4 * i)
        k = (k * c1) & MASK
        k = rotl(k, 15)
        k = (k * c2) & MASK
        h ^= k
        h = rotl(h, 13)
        h = (h * 5 + 0xE6546B64) & MASK
    tail = data[4 * blocks :]
    k = 0
    if len(tail) >= 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if tail:
        k ^= tail[0]
        k = (k * c1) & MASK
        k = rotl(k, 15)
        k = (k * c2) & MASK
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK
    h ^= h >> 16
    return h
