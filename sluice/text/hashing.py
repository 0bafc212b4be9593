"""Milvus's token hash: the term ID of BM25 vectors and RunAnalyzer's ``hash``.

Milvus hashes a token with ``typeutil.HashString2LessUint32``: CRC-32 (IEEE)
of the token's first 100 UTF-8 bytes, modulo ``2**32 - 1``.  The BM25
function and RunAnalyzer's ``with_hash`` use this same function, so a sparse
vector Sluice computes has the term IDs Milvus would give it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

#: Go slices the token's bytes (not its characters) at this length before hashing.
HASHED_PREFIX_BYTES = 100
_MODULUS = 0xFFFFFFFF


def token_hash(token: str) -> int:
    """The uint32 term ID Milvus gives ``token``."""
    return zlib.crc32(token.encode("utf-8")[:HASHED_PREFIX_BYTES]) % _MODULUS


def token_hashes(tokens: Iterable[str]) -> npt.NDArray[np.uint32]:
    """:func:`token_hash` of each token, as a uint32 array."""
    crc = zlib.crc32
    return np.fromiter(
        (crc(t.encode("utf-8")[:HASHED_PREFIX_BYTES]) % _MODULUS for t in tokens),
        dtype=np.uint32,
    )
