"""Virtual channels (shards): a WAL, the segments fed from it, and a checkpoint.

Every change to a channel goes through :attr:`Channel.lock`: a timestamp is
allocated, the record is appended to the WAL and applied to memory while the
lock is held, so records are in timestamp order within a channel and a flush
barrier cannot interleave with a half-applied insert.  Waiting for the fsync
happens after the lock is released, so concurrent writers share syncs.

The *checkpoint* is the position recovery replays from: the oldest WAL record
whose effect is not yet in segment files, or the end of the log when nothing
is pending.  Its timestamp says "everything before this time is persisted",
which is what ``GetFlushState`` compares with a flush timestamp.  The
*persisted* checkpoint is the one last written to the manifest; that is the
one clients are told about.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from sluice.engine.deletes import ALL_PARTITIONS
from sluice.engine.manifest import ChannelState
from sluice.engine.segment import Segment, SegmentLevel, SegmentState
from sluice.storage.log_store import ChannelLog


@dataclass(frozen=True)
class Position:
    """Milvus ``MsgPosition``: a vchannel, a WAL offset and a hybrid timestamp."""

    channel: str
    offset: int
    timestamp: int

    @property
    def msg_id(self) -> bytes:
        """The offset as 8 little-endian bytes, like RocksMQ/Kafka message IDs in Milvus."""
        return self.offset.to_bytes(8, "little")


@dataclass(frozen=True)
class PendingDelete:
    """Deleted primary keys from one WAL record, not yet in a delta log."""

    offset: int
    end: int
    timestamp: int
    pks: np.ndarray
    #: The partition the delete is scoped to (``ALL_PARTITIONS``: every partition).
    partition_id: int = ALL_PARTITIONS


def vchannel_name(prefix: str, pchannel_index: int, collection_id: int, shard: int) -> str:
    """``<prefix>-rootcoord-dml_<i>_<collectionID>v<shard>``, as Milvus names them."""
    return f"{pchannel_name(prefix, pchannel_index)}_{collection_id}v{shard}"


def pchannel_name(prefix: str, pchannel_index: int) -> str:
    return f"{prefix}-rootcoord-dml_{pchannel_index}"


def pchannel_of(vchannel: str) -> str:
    """``ToPhysicalChannel``: strip everything from the last underscore."""
    return vchannel.rsplit("_", 1)[0]


class Channel:
    def __init__(self, name: str, shard: int, wal: ChannelLog, state: ChannelState) -> None:
        self.name = name
        self.shard = shard
        self.wal = wal
        self.lock = threading.Lock()
        #: Serialises persistence work on this channel (one flusher at a time).
        self.persist_lock = threading.Lock()
        self.segments: dict[int, Segment] = {}
        self.growing: dict[int, Segment] = {}
        self.pending_deletes: deque[PendingDelete] = deque()
        self.deletes_synced_end = state.deletes_synced_end
        #: When the oldest pending delete arrived (``None``: none pending).
        self.deletes_since: float | None = None
        #: End offset and timestamp of the last record applied to memory.
        self.tick_end = state.checkpoint_offset
        self.tick_ts = state.checkpoint_ts
        self.persisted = Position(name, state.checkpoint_offset, state.checkpoint_ts)

    # --- segments -------------------------------------------------------------

    def add_segment(self, segment: Segment) -> None:
        self.segments[segment.id] = segment
        if segment.state == SegmentState.GROWING:
            self.growing[segment.partition_id] = segment

    def seal(self, segment: Segment) -> None:
        """Stop a growing segment from taking rows (caller holds the lock)."""
        if segment.state == SegmentState.GROWING:
            segment.state = SegmentState.SEALED
            self.growing.pop(segment.partition_id, None)

    def data_segments(self) -> Iterator[Segment]:
        return (s for s in self.segments.values() if s.level != SegmentLevel.L0)

    def add_pending_delete(self, pending: PendingDelete) -> None:
        if not self.pending_deletes:
            self.deletes_since = time.monotonic()
        self.pending_deletes.append(pending)

    def advance_tick(self, end: int, timestamp: int) -> None:
        self.tick_end = max(self.tick_end, end)
        self.tick_ts = max(self.tick_ts, timestamp)

    # --- checkpoints ------------------------------------------------------------

    def current_checkpoint(self) -> Position:
        """Where replay would have to start if we crashed now (caller holds the lock)."""
        oldest_offset: int | None = None
        oldest_ts = 0
        for segment in self.segments.values():
            first = segment.first_pending
            if first is not None and (oldest_offset is None or first.offset < oldest_offset):
                oldest_offset, oldest_ts = first.offset, first.timestamp
        if self.pending_deletes:
            first_delete = self.pending_deletes[0]
            if oldest_offset is None or first_delete.offset < oldest_offset:
                oldest_offset, oldest_ts = first_delete.offset, first_delete.timestamp
        if oldest_offset is None:
            return Position(self.name, self.tick_end, self.tick_ts)
        return Position(self.name, oldest_offset, oldest_ts)

    def state(self, checkpoint: Position) -> ChannelState:
        return ChannelState(
            checkpoint_offset=checkpoint.offset,
            checkpoint_ts=checkpoint.timestamp,
            deletes_synced_end=self.deletes_synced_end,
        )
