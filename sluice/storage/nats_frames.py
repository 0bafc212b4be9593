"""How WAL records travel as JetStream messages: names, frames and chunks.

Channel names become one NATS subject token and part of a stream name by
:func:`encode_channel`: letters, digits and ``-`` stay, ``_`` doubles, any
other byte becomes ``_`` and two hex digits, so every name maps back.

A record becomes one or more messages (a server refuses messages over its
``max_payload``, 1 MiB by default).  Every message starts with a frame header
(little-endian)::

    u8 frame_type | u8 kind | u64 timestamp | u32 chunk_index | u32 chunk_count | data

``frame_type`` is :data:`RECORD` (a chunk of a record); replay skips messages of
any other type, so later formats can add some.

A record's offset is its first message's stream sequence number and its end
the sequence after its last message.  Replay reassembles chunks and keeps only
whole records: chunks of a record whose later chunks never reached the stream
(the writer died half-way through a large record) are skipped.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator

from sluice.storage.wal import Record

RECORD = 1
HEADER = struct.Struct("<BBQII")
_PLAIN = re.compile(rb"[A-Za-z0-9-]")


def encode_channel(channel: str) -> str:
    """A channel name as one NATS subject token / stream-name part (reversible)."""
    out = []
    for byte in channel.encode():
        char = bytes([byte])
        if _PLAIN.match(char):
            out.append(char.decode())
        elif char == b"_":
            out.append("__")
        else:
            out.append(f"_{byte:02x}")
    return "".join(out)


def decode_channel(token: str) -> str | None:
    out = bytearray()
    i = 0
    while i < len(token):
        if token[i] != "_":
            out += token[i].encode()
            i += 1
        elif token[i + 1 : i + 2] == "_":
            out += b"_"
            i += 2
        else:
            try:
                out.append(int(token[i + 1 : i + 3], 16))
            except ValueError:
                return None
            i += 3
    return out.decode(errors="strict")


def record_frames(kind: int, timestamp: int, data: bytes, chunk_bytes: int) -> list[bytes]:
    """The messages of one record (at least one, even for an empty payload)."""
    count = max(1, -(-len(data) // chunk_bytes))
    view = memoryview(data)
    return [
        HEADER.pack(RECORD, kind, timestamp, i, count)
        + view[i * chunk_bytes : (i + 1) * chunk_bytes]
        for i in range(count)
    ]


def frame_count(data_length: int, chunk_bytes: int) -> int:
    return max(1, -(-data_length // chunk_bytes))


def assemble(messages: Iterable[tuple[int, bytes]]) -> Iterator[Record]:
    """Whole records from ``(sequence, message)`` pairs in stream order."""
    parts: list[bytes] = []
    start = kind = timestamp = count = 0
    expected_seq = 0
    for seq, message in messages:
        if len(message) < HEADER.size:
            parts = []
            continue
        frame_type, f_kind, f_ts, index, f_count = HEADER.unpack_from(message)
        if frame_type != RECORD:
            parts = []
            continue
        if index == 0:
            parts = []
            start, kind, timestamp, count = seq, f_kind, f_ts, f_count
        elif not parts or index != len(parts) or seq != expected_seq:
            parts = []
            continue
        parts.append(message[HEADER.size :])
        expected_seq = seq + 1
        if len(parts) == count:
            yield Record(start, seq + 1, kind, timestamp, b"".join(parts))
            parts = []
