"""Flush handles that wait like the Go SDK's ``FlushTask.Await``.

``Client.flush`` returns as soon as the server has sealed the segments; the
data is durable (in segment files) only once ``GetFlushState`` says so
(as Milvus's data coordinator answers it).  These classes hold what the Flush
response said and poll for that moment:

- the first poll happens ``interval`` after the wait starts, never
  immediately (Go starts a timer first), and there is always at least one
  poll, so ``wait(timeout=0)`` still asks the server once;
- a poll that fails (an RPC error or a failed status, e.g. the collection was
  dropped meanwhile) raises at once: there is no retry inside a wait;
- a timeout is only declared after a poll said "not yet", so a flush that
  finishes just before the deadline is never reported as timed out;
- cancelling (a :class:`threading.Event`) interrupts the sleep between polls,
  not a poll in flight.

A task knows nothing about gRPC or the engine: each client hands it a
``poll(budget)`` function that performs one check and returns ``flushed``.
``budget`` is how long that check may block (seconds left before the
caller's deadline, ``None`` when there is none), so a server that holds
``GetFlushState`` open for a moment cannot make a wait overrun its timeout.
"""

from __future__ import annotations

import abc
import asyncio
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from sluice.client.errors import FlushCancelledError, FlushTimeoutError

#: The Go SDK's fixed check interval.
DEFAULT_INTERVAL = 0.2

#: One flush-state check: ``budget`` seconds it may block -> ``flushed``.
Poll = Callable[[float | None], bool]


@dataclass(frozen=True)
class Checkpoint:
    """A channel position (``msg.MsgPosition``) reported by Flush.

    ``msg_id`` is opaque to clients; Sluice sends the WAL offset as 8
    little-endian bytes, as Milvus does for RocksMQ/Kafka.  ``timestamp`` is a
    hybrid TSO (``physical_ms << 18 | logical``).
    """

    channel_name: str
    msg_id: bytes
    timestamp: int


class _PollingTask(abc.ABC):
    """The Await loop, shared by collection and cluster-wide flushes."""

    def __init__(self, poll: Poll) -> None:
        self._poll = poll

    @abc.abstractmethod
    def _timeout_error(self) -> Exception: ...

    @abc.abstractmethod
    def _cancelled_error(self) -> Exception: ...

    def done(self) -> bool:
        """One state check, answered without waiting (raises on an error status)."""
        return self._poll(0.0)

    def wait(
        self,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        """Block until persisted; raise FlushTimeoutError / FlushCancelledError otherwise."""
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            delay = interval if deadline is None else min(interval, deadline - time.monotonic())
            if cancel is not None:
                if cancel.wait(max(0.0, delay)):
                    raise self._cancelled_error()
            elif delay > 0:
                time.sleep(delay)
            if self._poll(_budget(deadline)):
                return
            if cancel is not None and cancel.is_set():
                raise self._cancelled_error()
            if deadline is not None and time.monotonic() >= deadline:
                raise self._timeout_error()

    async def wait_async(
        self, timeout: float | None = None, interval: float = DEFAULT_INTERVAL
    ) -> None:
        """:meth:`wait` for asyncio: sleeps with ``asyncio.sleep``, polls in a worker thread.

        Cancelling the awaiting asyncio task cancels the wait (the poll in
        flight finishes in its thread; its answer is dropped).
        """
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            delay = interval if deadline is None else min(interval, deadline - time.monotonic())
            await asyncio.sleep(max(0.0, delay))
            if await asyncio.to_thread(self._poll, _budget(deadline)):
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise self._timeout_error()

    def __await__(self) -> Generator[Any, None, None]:
        """``await task`` is ``await task.wait_async()`` with no timeout."""
        return self.wait_async().__await__()


def _budget(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class FlushTask(_PollingTask):
    """What one collection's Flush returned, plus a way to wait for it (Go ``FlushTask``).

    ``segment_ids`` were sealed by this flush and are what ``GetFlushState``
    waits for; ``flushed_segment_ids`` were already persisted before it.
    ``checkpoints`` is the whole ``channel_cps`` map of the response (one entry
    per vchannel, read before sealing).  ``seal_time`` is ``flush_ts`` in Unix
    seconds (the response's ``coll_seal_times``, which the Go SDK drops).
    """

    def __init__(
        self,
        *,
        collection_name: str,
        segment_ids: list[int],
        flushed_segment_ids: list[int],
        flush_ts: int,
        checkpoints: dict[str, Checkpoint],
        seal_time: int,
        poll: Poll,
    ) -> None:
        super().__init__(poll)
        self.collection_name = collection_name
        self.segment_ids = segment_ids
        self.flushed_segment_ids = flushed_segment_ids
        self.flush_ts = flush_ts
        self.checkpoints = checkpoints
        self.seal_time = seal_time

    def get_flush_stats(self) -> tuple[list[int], list[int], int, dict[str, Checkpoint]]:
        """``(segment_ids, flushed_segment_ids, flush_ts, checkpoints)``, as Go's GetFlushStats."""
        return self.segment_ids, self.flushed_segment_ids, self.flush_ts, self.checkpoints

    def _timeout_error(self) -> Exception:
        return FlushTimeoutError.for_flush(self.collection_name, self.flush_ts)

    def _cancelled_error(self) -> Exception:
        return FlushCancelledError.for_flush(self.collection_name, self.flush_ts)

    def __repr__(self) -> str:
        return (
            f"FlushTask(collection_name={self.collection_name!r}, segment_ids={self.segment_ids}, "
            f"flushed_segment_ids={self.flushed_segment_ids}, flush_ts={self.flush_ts})"
        )


class FlushAllTask(_PollingTask):
    """A cluster-wide flush: waits until every vchannel's checkpoint reaches ``flush_all_ts``.

    Polls ``GetFlushAllState`` with the (deprecated but universally served)
    ``flush_all_ts``, as pymilvus does.
    """

    def __init__(self, *, flush_all_ts: int, pchannels: list[str], poll: Poll) -> None:
        super().__init__(poll)
        self.flush_all_ts = flush_all_ts
        self.pchannels = pchannels

    def _timeout_error(self) -> Exception:
        return FlushTimeoutError.for_flush_all(self.flush_all_ts)

    def _cancelled_error(self) -> Exception:
        return FlushCancelledError.for_flush_all(self.flush_all_ts)

    def __repr__(self) -> str:
        return f"FlushAllTask(flush_all_ts={self.flush_all_ts}, pchannels={self.pchannels})"
