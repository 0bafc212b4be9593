"""Flush, GetFlushState, FlushAll and GetFlushAllState, as Milvus defines them.

Flush, as Milvus's proxy and data coordinator perform it:

1. take every channel lock of every named collection, in the global lock
   order, and allocate one ``flush_ts`` while holding them;
2. per channel: read the persisted checkpoint (before sealing), seal every
   growing segment and append a FLUSH record at ``flush_ts`` (later inserts
   open new segments);
3. release the locks, fsync the FLUSH records, queue the channels for the
   persister and answer.  Persistence continues in the background.

``flushed`` (GetFlushState) is true when every listed segment is Flushing,
Flushed or gone and every channel's *persisted* checkpoint has reached
``flush_ts``.  The server may wait a moment for that before answering false
(``FlushSettings.state_wait_ms``), never past the client's deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from sluice.engine.channel import Channel, Position, pchannel_of
from sluice.engine.collection import Collection
from sluice.engine.tso import physical_ms


@dataclass(frozen=True)
class CollectionFlush:
    name: str
    sealed: list[int]
    flushed: list[int]
    seal_time: int
    flush_ts: int


@dataclass(frozen=True)
class FlushResult:
    db: str
    collections: dict[str, CollectionFlush]
    #: Last collection wins for a shared channel name, as in Milvus.
    checkpoints: dict[str, Position]


def flush_collections(
    db: str, named: Sequence[tuple[str, Collection]], tso_allocate: Callable[[], int]
) -> FlushResult:
    """Run the barrier for ``named`` collections with one flush timestamp."""
    channels = sorted(
        ((c.id, ch.shard, ch) for _, c in named for ch in c.channels), key=lambda t: t[:2]
    )
    results: dict[str, CollectionFlush] = {}
    checkpoints: dict[str, Position] = {}
    to_sync: list[tuple[Channel, int]] = []
    with ExitStack() as stack:
        for _, _, channel in channels:
            stack.enter_context(channel.lock)
        flush_ts = tso_allocate()
        for name, collection in named:
            sealed, ends = collection.flush_barrier_locked(flush_ts)
            to_sync.extend(ends)
            results[name] = CollectionFlush(
                name=name,
                sealed=sealed.sealed,
                flushed=sealed.flushed,
                seal_time=physical_ms(flush_ts) // 1000,
                flush_ts=flush_ts,
            )
            for channel_name, (offset, ts) in sealed.checkpoints.items():
                checkpoints[channel_name] = Position(channel_name, offset, ts)
    for channel, end in to_sync:
        channel.wal.sync(end)
    for _, collection in named:
        for channel in collection.channels:
            collection.ctx.request_persist(collection, channel, True)
    return FlushResult(db, results, checkpoints)


def collections_holding(
    collections: Sequence[Collection], segment_ids: Sequence[int]
) -> list[Collection]:
    """The collections that hold any of ``segment_ids`` (GetFlushState without a name)."""
    return [c for c in collections if any(c.find_segment(s) is not None for s in segment_ids)]


def wait_until(
    collections: Sequence[Collection], check: Callable[[], bool], seconds: float
) -> bool:
    """``check()``, re-evaluated after each manifest commit for up to ``seconds``.

    ``check`` may raise (a persistence failure): the error is the answer.
    """
    deadline = time.monotonic() + max(0.0, seconds)
    if check():
        return True
    if not collections:
        return check()
    cond = collections[0].persisted if len(collections) == 1 else None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return check()
        if cond is not None:
            with cond:
                if check():
                    return True
                cond.wait(remaining)
        else:
            time.sleep(min(0.05, remaining))
        if check():
            return True


def flush_all_reached(
    collections: Sequence[Collection], flush_all_ts: int, per_pchannel: dict[str, int]
) -> bool:
    """GetFlushAllState: every vchannel's persisted checkpoint at or past its target."""
    for collection in collections:
        for channel in collection.channels:
            target = per_pchannel.get(pchannel_of(channel.name), flush_all_ts)
            if channel.persisted.timestamp < target:
                return False
    return True
