"""The on-disk form of one segment's vector index.

Layout (little-endian)::

    b"SLIX"                magic
    u8   version           1
    u8   flags             bit 0: IP HNSW stored in L2 space (see sluice.index.building)
    f64  max_norm_sq       the augmentation norm when bit 0 is set, else 0
    ...  faiss.serialize_index output

The bytes are produced whole in memory (about the index's ``memory_bytes``)
and written by the storage layer, which owns atomicity and checksums.  Reading
copies the payload into FAISS's structures once.
"""

from __future__ import annotations

import struct
from typing import Any, Final

import faiss as _faiss_typed
import numpy as np

from sluice.errors import StorageError

#: FAISS's bundled stubs lack ``serialize_index``/``deserialize_index``.
faiss: Any = _faiss_typed

_MAGIC: Final = b"SLIX"
_VERSION: Final = 1
_HEADER: Final = struct.Struct("<4sBBd")
_FLAG_MIPS: Final = 1


def pack_index(index: Any, max_norm_sq: float | None) -> bytes:
    """Header plus FAISS payload for ``index``."""
    flags = _FLAG_MIPS if max_norm_sq is not None else 0
    header = _HEADER.pack(_MAGIC, _VERSION, flags, max_norm_sq or 0.0)
    return header + faiss.serialize_index(index).tobytes()


def unpack_index(data: bytes) -> tuple[Any, float | None]:
    """The FAISS index and its augmentation norm (None unless IP HNSW)."""
    view = memoryview(data)
    if len(view) < _HEADER.size:
        raise StorageError("index data does not start with the Sluice index header")
    magic, version, flags, max_norm_sq = _HEADER.unpack(view[: _HEADER.size])
    if magic != _MAGIC:
        raise StorageError("index data does not start with the Sluice index header")
    if version != _VERSION:
        raise StorageError(f"index data has format version {version}, expected {_VERSION}")
    try:
        payload = np.frombuffer(view[_HEADER.size :], dtype=np.uint8)
        index = faiss.deserialize_index(payload)
    except RuntimeError as err:
        raise StorageError(f"index data is corrupt: {err}") from err
    return index, (float(max_norm_sq) if flags & _FLAG_MIPS else None)
