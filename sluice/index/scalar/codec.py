"""The serialised form of a scalar index: one self-describing byte string.

Layout: the 8-byte magic ``SLSCIDX2``, a little-endian ``uint32`` CRC-32 of
everything after it, a ``uint32`` header length, a UTF-8 JSON header, then the
raw buffers the header points into.
The header names the index class and encodes its :meth:`state` value by
value: NumPy arrays become buffers (dtype and shape in the header), string
arrays and lists of ``bytes`` become one blob plus ``int64`` end offsets,
nested indexes (a JSON path index's inner indexes) nest, and plain scalars
stay in the JSON.  Loading reads buffers with ``np.frombuffer`` (no copy of
numeric arrays) after checking the CRC and every offset against the payload,
so a truncated, foreign or bit-flipped file fails with :class:`CorruptIndex`
instead of becoming an index that answers wrongly.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any, Final

import numpy as np

from sluice.index.scalar.base import ScalarIndex
from sluice.index.scalar.bitmap import BitmapIndex
from sluice.index.scalar.json_index import JsonPathIndex
from sluice.index.scalar.ngram import NgramIndex
from sluice.index.scalar.rtree import RTreeIndex
from sluice.index.scalar.sorted_index import InvertedIndex, SortIndex, TrieIndex

MAGIC: Final = b"SLSCIDX2"
_PREFIX: Final = struct.Struct("<II")
_CLASSES: Final[dict[str, type[ScalarIndex]]] = {
    cls.__name__: cls
    for cls in (
        SortIndex,
        InvertedIndex,
        TrieIndex,
        BitmapIndex,
        NgramIndex,
        RTreeIndex,
        JsonPathIndex,
    )
}


class CorruptIndex(ValueError):
    """The bytes are not a scalar index this code wrote."""


class _Writer:
    def __init__(self) -> None:
        self.buffers: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> list[int]:
        entry = [self.size, len(data)]
        self.buffers.append(data)
        self.size += len(data)
        return entry

    def blobs(self, items: list[bytes]) -> dict[str, Any]:
        ends = np.cumsum([len(b) for b in items], dtype=np.int64)
        return {"blob": self.add(b"".join(items)), "ends": self.add(ends.tobytes())}

    def value(self, value: Any) -> Any:
        if isinstance(value, ScalarIndex):
            return {"index": self.index(value)}
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                encoded = [str(v).encode("utf-8") for v in value.tolist()]
                return {"strings": self.blobs(encoded)}
            array = np.ascontiguousarray(value)
            return {
                "array": self.add(array.tobytes()),
                "dtype": array.dtype.str,
                "shape": list(array.shape),
            }
        if isinstance(value, dict):
            return {"dict": {str(k): self.value(v) for k, v in value.items()}}
        if isinstance(value, list) and value and all(isinstance(v, bytes) for v in value):
            return {"bytes": self.blobs(value)}
        if isinstance(value, np.generic):
            return {"plain": value.item()}
        return {"plain": value}

    def index(self, index: ScalarIndex) -> dict[str, Any]:
        return {"class": type(index).__name__, "state": self.value(index.state())}


def to_bytes(index: ScalarIndex) -> bytes:
    """Serialise ``index`` (see the module docstring for the layout)."""
    writer = _Writer()
    header = json.dumps(writer.index(index), separators=(",", ":")).encode("utf-8")
    body = [struct.pack("<I", len(header)), header, *writer.buffers]
    crc = 0
    for part in body:
        crc = zlib.crc32(part, crc)
    return b"".join([MAGIC, struct.pack("<I", crc), *body])


class _Reader:
    def __init__(self, payload: memoryview) -> None:
        self.payload = payload

    def raw(self, entry: Any) -> memoryview:
        try:
            offset, size = int(entry[0]), int(entry[1])
        except (TypeError, ValueError, IndexError) as err:
            raise CorruptIndex(f"bad buffer reference {entry!r}") from err
        if offset < 0 or size < 0 or offset + size > len(self.payload):
            raise CorruptIndex(f"buffer [{offset}, {offset + size}) is outside the payload")
        return self.payload[offset : offset + size]

    def blobs(self, spec: dict[str, Any]) -> list[bytes]:
        blob = bytes(self.raw(spec["blob"]))
        ends = np.frombuffer(self.raw(spec["ends"]), dtype=np.int64)
        if len(ends) and (ends[-1] != len(blob) or np.any(np.diff(ends) < 0)):
            raise CorruptIndex("blob offsets do not match the blob")
        starts = np.concatenate([[0], ends])[:-1].astype(np.int64)
        return [blob[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]

    def value(self, spec: Any) -> Any:
        if not isinstance(spec, dict) or len(spec) == 0:
            raise CorruptIndex(f"bad value {spec!r}")
        if "index" in spec:
            return self.index(spec["index"])
        if "array" in spec:
            try:
                dtype = np.dtype(spec["dtype"])
                array = np.frombuffer(self.raw(spec["array"]), dtype=dtype)
                if not array.flags.aligned:
                    # Buffers sit at any byte offset of the file; numpy copies an unaligned
                    # array on every searchsorted/take, so pay that copy once, here.
                    array = array.copy()
                return array.reshape(spec["shape"])
            except (TypeError, ValueError) as err:
                raise CorruptIndex(str(err)) from err
        if "strings" in spec:
            items = [b.decode("utf-8") for b in self.blobs(spec["strings"])]
            return np.asarray(items, dtype=object)
        if "bytes" in spec:
            return self.blobs(spec["bytes"])
        if "dict" in spec:
            return {k: self.value(v) for k, v in spec["dict"].items()}
        if "plain" in spec:
            return spec["plain"]
        raise CorruptIndex(f"bad value {spec!r}")

    def index(self, spec: Any) -> ScalarIndex:
        name = spec.get("class") if isinstance(spec, dict) else None
        cls = _CLASSES.get(name) if isinstance(name, str) else None
        if cls is None:
            raise CorruptIndex(f"unknown index class in {spec!r:.80}")
        try:
            return cls.from_state(self.value(spec["state"]))
        except (KeyError, TypeError) as err:
            raise CorruptIndex(f"incomplete {cls.__name__} state: {err}") from err


def from_bytes(data: bytes | memoryview) -> ScalarIndex:
    """The index :func:`to_bytes` wrote."""
    view = memoryview(data)
    start = len(MAGIC) + _PREFIX.size
    if len(view) < start or bytes(view[: len(MAGIC)]) != MAGIC:
        raise CorruptIndex("not a Sluice scalar index")
    crc, length = _PREFIX.unpack(view[len(MAGIC) : start])
    if zlib.crc32(view[len(MAGIC) + 4 :]) != crc:
        raise CorruptIndex("the checksum does not match the data")
    if start + length > len(view):
        raise CorruptIndex("the header runs past the end of the data")
    try:
        header = json.loads(bytes(view[start : start + length]))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptIndex(f"unreadable header: {err}") from err
    return _Reader(view[start + length :]).index(header)
