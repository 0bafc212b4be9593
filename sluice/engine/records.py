"""What the engine writes into a channel's WAL, and how it reads it back.

Every change to a channel is a record, appended under the channel lock so a
channel's records are in timestamp order:

- ``INSERT``: the rows (Arrow IPC stream, user columns only; every row of the
  record carries the record's timestamp) and the growing segment they went to.
- ``DELETE``: the primary keys deleted at the record's timestamp, and the
  partition the delete is scoped to (schema metadata ``partition``; absent
  in records written before deletes had a scope, which meant every partition).
- ``SEAL``: segments that stopped accepting rows (size or idle policy).
- ``FLUSH``: a manual flush barrier at ``flush_ts``; it seals every growing
  segment of the channel.

Replaying these from a checkpoint rebuilds exactly the in-memory state that
was not yet persisted in segment files.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import orjson
import pyarrow as pa

_INSERT_HEADER = struct.Struct("<QQI")


class RecordKind(enum.IntEnum):
    INSERT = 1
    DELETE = 2
    SEAL = 3
    FLUSH = 4


def encode_batch(batch: pa.RecordBatch | pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write(batch)
    return sink.getvalue()


def decode_table(payload: bytes | memoryview | pa.Buffer) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()


_PARTITION_KEY = b"partition"


def encode_delete(keys: object, partition_id: int) -> pa.Buffer:
    """A DELETE payload: the keys, scoped to ``partition_id`` (-1: every partition)."""
    table = pa.table({"pk": pa.array(keys)})
    table = table.replace_schema_metadata({_PARTITION_KEY: str(partition_id).encode()})
    return encode_batch(table)


@dataclass(frozen=True)
class DeleteRecord:
    keys: pa.Array
    partition_id: int


def decode_delete(payload: bytes | memoryview | pa.Buffer, default_partition: int) -> DeleteRecord:
    table = decode_table(payload)
    metadata = table.schema.metadata or {}
    raw = metadata.get(_PARTITION_KEY)
    partition_id = int(raw) if raw is not None else default_partition
    return DeleteRecord(table.column("pk").combine_chunks(), partition_id)


def insert_header(segment_id: int, partition_id: int, num_rows: int) -> bytes:
    return _INSERT_HEADER.pack(segment_id, partition_id, num_rows)


@dataclass(frozen=True)
class InsertRecord:
    segment_id: int
    partition_id: int
    num_rows: int
    rows: pa.Table


def decode_insert(payload: bytes) -> InsertRecord:
    seg, part, n = _INSERT_HEADER.unpack_from(payload)
    rows = decode_table(memoryview(payload)[_INSERT_HEADER.size :])
    return InsertRecord(seg, part, n, rows)


def encode_json(value: object) -> bytes:
    return orjson.dumps(value)


def decode_json(payload: bytes) -> dict[str, object]:
    value = orjson.loads(payload)
    assert isinstance(value, dict)
    return value
