"""The on-disk form of one segment's vector index.

Dense FAISS indexes (format 3) put the FAISS bytes first and a trailer
last, so the file itself can be memory-mapped by FAISS
(``IO_FLAG_MMAP_IFC`` maps from the start of a file and ignores what
follows the index)::

    ...  faiss.serialize_index output
    f64  max_norm_sq       the augmentation norm when bit 0 of flags is set, else 0
    u8   payload kind      0 dense FAISS
    u8   flags             bit 0: IP HNSW stored in L2 space (see sluice.index.building)
    u8   version           3
    b"SLIX"                magic, the file's last four bytes

Every other payload (and dense indexes written before format 3) starts
with a header instead (little-endian)::

    b"SLIX"                magic
    u8   version           2 (1: a dense FAISS index, read as before)
    u8   payload kind      0 dense FAISS, 1 binary, 2 sparse, 3 row-mapped
    u8   flags             bit 0: IP HNSW stored in L2 space (see sluice.index.building)
    f64  max_norm_sq       the augmentation norm when bit 0 is set, else 0
    ...  payload

Payloads: dense is ``faiss.serialize_index`` output; binary and sparse are
a sequence of ``.npy`` arrays (``numpy.save``, no pickles); row-mapped is
``u64 rows``, the validity bitmap (``ceil(rows / 8)`` bytes, little bit
order) and then a whole inner index in this same format (see
:mod:`sluice.index.rows`).

The bytes are produced whole in memory (about the index's ``memory_bytes``)
and written by the storage layer, which owns atomicity and checksums.
Reading copies the payload into the index's structures once.
"""

from __future__ import annotations

import io
import struct
from typing import Any, Final

import faiss as _faiss_typed
import numpy as np

from sluice.errors import StorageError

#: FAISS's bundled stubs lack ``serialize_index``/``deserialize_index``.
faiss: Any = _faiss_typed

#: The first bytes of every index file that does not start with FAISS's own.
INDEX_MAGIC: Final = b"SLIX"
_VERSION: Final = 2
_HEADER_V1: Final = struct.Struct("<4sBBd")
_HEADER: Final = struct.Struct("<4sBBBd")
_TRAILER_VERSION: Final = 3
_TRAILER: Final = struct.Struct("<dBBB4s")
_ROWS: Final = struct.Struct("<Q")
_FLAG_MIPS: Final = 1

DENSE: Final = 0
BINARY: Final = 1
SPARSE: Final = 2
ROW_MAPPED: Final = 3


def pack_index(index: Any, max_norm_sq: float | None) -> bytes:
    """FAISS payload plus trailer (format 3) for a dense ``index``."""
    flags = 0 if max_norm_sq is None else _FLAG_MIPS
    trailer = _TRAILER.pack(float(max_norm_sq or 0.0), DENSE, flags, _TRAILER_VERSION, INDEX_MAGIC)
    return faiss.serialize_index(index).tobytes() + trailer


def read_trailer(tail: bytes) -> tuple[int, float | None] | None:
    """``(payload kind, augmentation norm or None)`` from a file's last bytes, if format 3."""
    if len(tail) < _TRAILER.size or tail[-4:] != INDEX_MAGIC:
        return None
    norm, kind, flags, version, _ = _TRAILER.unpack(tail[-_TRAILER.size :])
    if version != _TRAILER_VERSION:
        raise StorageError(f"index data has format version {version}, expected {_TRAILER_VERSION}")
    return kind, (float(norm) if flags & _FLAG_MIPS else None)


#: Bytes :func:`read_trailer` needs from the end of a file.
TRAILER_BYTES: Final = _TRAILER.size


def pack_arrays(kind: int, arrays: list[np.ndarray]) -> bytes:
    """Header plus a sequence of arrays (binary and sparse indexes)."""
    buffer = io.BytesIO()
    for array in arrays:
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return _header(kind, None) + buffer.getvalue()


def pack_row_mapped(valid: np.ndarray, inner: bytes) -> bytes:
    """Header, validity bitmap over the segment's rows, then the inner index's bytes."""
    bits = np.packbits(np.asarray(valid, dtype=bool), bitorder="little")
    return _header(ROW_MAPPED, None) + _ROWS.pack(int(valid.shape[0])) + bits.tobytes() + inner


def read_header(data: bytes) -> tuple[int, float | None, memoryview]:
    """``(payload kind, augmentation norm or None, payload)`` of serialised index bytes."""
    view = memoryview(data)
    if bytes(view[:4]) != INDEX_MAGIC:
        trailer = read_trailer(bytes(view[-_TRAILER.size :]))
        if trailer is None:
            raise StorageError(
                "index data is corrupt: it has neither the Sluice index header nor its trailer"
            )
        kind, norm = trailer
        return kind, norm, view[: len(view) - _TRAILER.size]
    if len(view) < _HEADER_V1.size:
        raise StorageError("index data does not start with the Sluice index header")
    version = view[4]
    if version == 1:
        _, _, flags, norm = _HEADER_V1.unpack(view[: _HEADER_V1.size])
        return DENSE, (float(norm) if flags & _FLAG_MIPS else None), view[_HEADER_V1.size :]
    if version != _VERSION or len(view) < _HEADER.size:
        raise StorageError(f"index data has format version {version}, expected {_VERSION}")
    _, _, kind, flags, norm = _HEADER.unpack(view[: _HEADER.size])
    return kind, (float(norm) if flags & _FLAG_MIPS else None), view[_HEADER.size :]


def unpack_index(data: bytes) -> tuple[Any, float | None]:
    """The dense FAISS index and its augmentation norm (None unless IP HNSW)."""
    kind, norm, payload = read_header(data)
    if kind != DENSE:
        raise StorageError(f"index data holds payload kind {kind}, not a dense FAISS index")
    return deserialize_dense(payload), norm


def deserialize_dense(payload: memoryview) -> Any:
    try:
        return faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
    except RuntimeError as err:
        raise StorageError(f"index data is corrupt: {err}") from err


def unpack_arrays(payload: memoryview, count: int) -> list[np.ndarray]:
    """The ``count`` arrays :func:`pack_arrays` wrote."""
    buffer = io.BytesIO(bytes(payload))
    try:
        return [np.load(buffer, allow_pickle=False) for _ in range(count)]
    except (ValueError, EOFError, OSError) as err:
        raise StorageError(f"index data is corrupt: {err}") from err


def unpack_row_mapped(payload: memoryview) -> tuple[np.ndarray, bytes]:
    """The validity mask and the inner index's bytes of a row-mapped payload."""
    if len(payload) < _ROWS.size:
        raise StorageError("index data is corrupt: truncated row map")
    (rows,) = _ROWS.unpack(payload[: _ROWS.size])
    nbytes = (rows + 7) // 8
    end = _ROWS.size + nbytes
    if len(payload) < end:
        raise StorageError("index data is corrupt: truncated row map")
    bits = np.frombuffer(payload[_ROWS.size : end], dtype=np.uint8)
    valid = np.unpackbits(bits, count=rows, bitorder="little").astype(bool)
    return valid, bytes(payload[end:])


def _header(kind: int, max_norm_sq: float | None) -> bytes:
    flags = _FLAG_MIPS if max_norm_sq is not None else 0
    return _HEADER.pack(INDEX_MAGIC, _VERSION, kind, flags, max_norm_sq or 0.0)
